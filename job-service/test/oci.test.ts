import { execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtempSync, mkdirSync, readdirSync, writeFileSync, chmodSync, symlinkSync } from "node:fs";
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { createLayer, readTar, sha256Digest, MediaType, DigestMismatchError, RegistryNotFoundError, jsonBytes, parseDigestReference } from "../src/oci";
import { LocalRegistry } from "../src/local-registry";
import { RemoteRegistry, serveRegistry } from "../src/registry-http";

const tmp = () => mkdtempSync(join(tmpdir(), "oci-test-"));

describe("createLayer", () => {
  const entries = [
    { path: "workspace/b.py", mode: 0o644, type: "file" as const, content: Buffer.from("print('b')\n") },
    { path: "workspace", mode: 0o755, type: "dir" as const },
    { path: "workspace/a.sh", mode: 0o755, type: "file" as const, content: Buffer.from("#!/bin/sh\n") },
  ];

  it("gives the same bytes for the same entries in any order, with digests that hash the bytes", () => {
    const a = createLayer(entries);
    const b = createLayer([...entries].reverse());
    expect(Buffer.from(a.tarGz).equals(Buffer.from(b.tarGz))).toBe(true);
    expect(a.digest).toBe(sha256Digest(a.tarGz));
    expect(a.diffId).toBe(sha256Digest(gunzipSync(a.tarGz)));
    expect(a.size).toBe(a.tarGz.length);
    // gzip header: mtime (bytes 4-7) is zero.
    expect([...a.tarGz.subarray(4, 8)]).toEqual([0, 0, 0, 0]);
  });

  it("writes a sorted ustar archive with uid/gid 0, mtime 0 and no user names, which GNU tar reads", () => {
    const layer = createLayer(entries);
    const tar = gunzipSync(layer.tarGz);
    const read = readTar(tar);
    expect(read.map((e) => [e.path, e.type, e.mode])).toEqual([
      ["workspace/", "dir", 0o755],
      ["workspace/a.sh", "file", 0o755],
      ["workspace/b.py", "file", 0o644],
    ]);
    expect(read[2].content.toString()).toBe("print('b')\n");
    const dir = tmp();
    writeFileSync(join(dir, "l.tar"), tar);
    const listing = execFileSync("tar", ["--numeric-owner", "--full-time", "-tvf", join(dir, "l.tar")], { encoding: "utf8" });
    for (const line of listing.trim().split("\n")) expect(line).toMatch(/^[-d]rw[-x]r-[-x]r-[-x] 0\/0 +\d+ 1970-01-01 00:00:00 workspace/);
    expect(tar.subarray(265, 265 + 64).every((b) => b === 0)).toBe(true); // uname + gname empty
  });

  it("round-trips long paths through PAX and ustar prefix, as GNU tar sees them", () => {
    const deep = `workspace/${"d".repeat(120)}/${"f".repeat(90)}.txt`;
    const huge = `workspace/${"x".repeat(180)}.txt`;
    const layer = createLayer([
      { path: deep, mode: 0o644, type: "file", content: Buffer.from("1") },
      { path: huge, mode: 0o644, type: "file", content: Buffer.from("2") },
    ]);
    const tar = gunzipSync(layer.tarGz);
    expect(readTar(tar).map((e) => e.path)).toEqual([deep, huge]);
    const dir = tmp();
    writeFileSync(join(dir, "l.tar"), tar);
    expect(execFileSync("tar", ["-tf", join(dir, "l.tar")], { encoding: "utf8" }).trim().split("\n")).toEqual([deep, huge]);
  });

  it("refuses unsafe entries by name", () => {
    expect(() => createLayer([{ path: "/etc/passwd", mode: 0o644, type: "file" }])).toThrow(/\/etc\/passwd.*relative path/);
    expect(() => createLayer([{ path: "workspace/../etc", mode: 0o644, type: "file" }])).toThrow(/'\.\.'/);
    expect(() => createLayer([{ path: "workspace/x", mode: 0o4755, type: "file" }])).toThrow(/workspace\/x: mode 4755.*setuid/);
    expect(() => createLayer([{ path: "a", mode: 0o644, type: "file" }, { path: "a", mode: 0o644, type: "file" }])).toThrow(/a: listed twice/);
  });
});

describe("readTar", () => {
  it("reads GNU tar's own archives: links, setuid bits, long names", () => {
    const dir = tmp();
    const root = join(dir, "root");
    mkdirSync(join(root, "workspace", "sub"), { recursive: true });
    writeFileSync(join(root, "workspace", "sub", "s"), "setuid");
    chmodSync(join(root, "workspace", "sub", "s"), 0o4755);
    symlinkSync("/etc/passwd", join(root, "workspace", "link"));
    const long = "n".repeat(150);
    writeFileSync(join(root, "workspace", long), "long");
    const out = join(dir, "gnu.tar");
    execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", root, "-cf", out, "workspace"]);
    const entries = readTar(require("node:fs").readFileSync(out));
    const byPath = Object.fromEntries(entries.map((e) => [e.path, e]));
    expect(byPath["workspace/link"]).toMatchObject({ type: "symlink", linkname: "/etc/passwd" });
    expect(byPath["workspace/sub/s"].mode & 0o4000).toBe(0o4000);
    expect(byPath[`workspace/${long}`].content.toString()).toBe("long");
  });

  it("refuses a corrupted header", () => {
    const tar = gunzipSync(createLayer([{ path: "a", mode: 0o644, type: "file", content: Buffer.from("x") }]).tarGz);
    tar[0] ^= 1;
    expect(() => readTar(tar)).toThrow(/bad checksum/);
  });
});

describe("parseDigestReference", () => {
  it("accepts repo@sha256 and names the fix otherwise", () => {
    const d = sha256Digest(Buffer.from("x"));
    expect(parseDigestReference(`r.example/p/base@${d}`)).toEqual({ repo: "r.example/p/base", digest: d });
    expect(() => parseDigestReference("r.example/p/base:latest")).toThrow(/by digest, never by tag/);
  });
});

describe("LocalRegistry", () => {
  it("stores blobs and manifests by digest, tags them, and refuses bytes changed on disk", async () => {
    const dir = tmp();
    const reg = new LocalRegistry(dir);
    const blob = Buffer.from("hello");
    const digest = await reg.putBlob("room/jobs", blob);
    expect(digest).toBe(sha256Digest(blob));
    expect(Buffer.from(await reg.getBlob("room/jobs", digest)).toString()).toBe("hello");
    const manifest = jsonBytes({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest, size: 5 }, layers: [] });
    const md = await reg.putManifest("room/jobs", "latest", manifest, MediaType.ociManifest);
    expect((await reg.getManifest("room/jobs", "latest"))?.digest).toBe(md);
    expect((await reg.getManifest("room/jobs", md))?.mediaType).toBe(MediaType.ociManifest);
    expect(await reg.getManifest("room/other", md)).toBeUndefined();
    expect(await reg.listTags("room/jobs")).toEqual(["latest"]);
    await expect(reg.getBlob("room/jobs", sha256Digest(Buffer.from("nope")))).rejects.toBeInstanceOf(RegistryNotFoundError);

    const blobFile = join(dir, "blobs", "sha256", digest.slice(7));
    await fs.writeFile(blobFile, "HELLO");
    await expect(reg.getBlob("room/jobs", digest)).rejects.toThrow(DigestMismatchError);
  });

  it("refuses bad tags and repository names with the expected shape", async () => {
    const reg = new LocalRegistry(tmp());
    await expect(reg.getManifest("room/jobs", "../x")).rejects.toThrow(/tag "\.\.\/x"/);
    await expect(reg.putBlob("Room/Jobs", Buffer.from("x"))).rejects.toThrow(/lowercase path components/);
  });
});

describe("RemoteRegistry against serveRegistry(LocalRegistry) on 127.0.0.1", () => {
  let server: Server;
  let baseUrl: string;
  let local: LocalRegistry;
  let tamper = false;

  beforeAll(async () => {
    local = new LocalRegistry(tmp());
    const listener = serveRegistry(local);
    server = createServer((req, res) => {
      if (tamper && req.method === "GET" && /\/blobs\/sha256:/.test(req.url ?? "")) {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.end("not what you asked for");
        return;
      }
      listener(req, res);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address() as { port: number };
    baseUrl = `http://127.0.0.1:${addr.port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  afterEach(() => (tamper = false));

  it("round-trips blobs, manifests and tags over the wire, with the host in the repository name", async () => {
    const host = new URL(baseUrl).host;
    const tokens: string[] = [];
    const remote = new RemoteRegistry({ baseUrl, token: async () => (tokens.push("t"), "tok") });
    const repo = `${host}/p/room-jobs/job-1`;
    const layer = createLayer([{ path: "workspace/a", mode: 0o644, type: "file", content: Buffer.from("a") }]);
    const ld = await remote.putBlob(repo, layer.tarGz);
    expect(ld).toBe(layer.digest);
    expect(await local.hasBlob("p/room-jobs/job-1", ld)).toBe(true);
    expect(await remote.putBlob(repo, layer.tarGz)).toBe(ld); // already there: HEAD, no upload
    const config = jsonBytes({ rootfs: { type: "layers", diff_ids: [layer.diffId] } });
    const cd = await remote.putBlob(repo, config);
    const manifest = jsonBytes({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: cd, size: config.length },
      layers: [{ mediaType: MediaType.ociLayerGzip, digest: ld, size: layer.size }],
    });
    const md = await remote.putManifest(repo, "latest", manifest, MediaType.ociManifest);
    const got = await remote.getManifest(repo, "latest");
    expect(got).toMatchObject({ digest: md, mediaType: MediaType.ociManifest });
    expect(Buffer.from(got!.bytes).equals(Buffer.from(manifest))).toBe(true);
    expect(Buffer.from(await remote.getBlob(repo, ld)).equals(Buffer.from(layer.tarGz))).toBe(true);
    expect(await remote.listTags(repo)).toEqual(["latest"]);
    expect(await remote.getManifest(repo, "missing")).toBeUndefined();
    await expect(remote.getBlob(repo, sha256Digest(Buffer.from("none")))).rejects.toBeInstanceOf(RegistryNotFoundError);
    expect(tokens.length).toBeGreaterThan(0);
  });

  it("refuses a blob whose bytes do not match the digest, and a repository on another host", async () => {
    const remote = new RemoteRegistry({ baseUrl });
    const d = await remote.putBlob("p/r", Buffer.from("real"));
    tamper = true;
    await expect(remote.getBlob("p/r", d)).rejects.toThrow(/hashes to sha256:.*not sha256:.*refusing/);
    expect(() => remote.path("europe-west4-docker.pkg.dev/p/r")).toThrow(/use a client for that host/);
  });

  it("the server refuses an upload whose body does not match its digest", async () => {
    const start = await fetch(`${baseUrl}/v2/p/r/blobs/uploads/`, { method: "POST" });
    expect(start.status).toBe(202);
    const loc = new URL(start.headers.get("location")!, baseUrl);
    loc.searchParams.set("digest", sha256Digest(Buffer.from("claimed")));
    const put = await fetch(loc, { method: "PUT", body: "actual" });
    expect(put.status).toBe(400);
    expect(((await put.json()) as { errors: { code: string }[] }).errors[0].code).toBe("DIGEST_INVALID");
    expect(readdirSync(join(local.dir, "blobs", "sha256"))).not.toContain(sha256Digest(Buffer.from("actual")).slice(7));
  });

  it("refuses plain http to anything but loopback", () => {
    expect(() => new RemoteRegistry({ baseUrl: "http://registry.example" })).toThrow(/expected https/);
  });
});
