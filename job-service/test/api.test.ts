import { randomBytes } from "node:crypto";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ApiCode, createJobApi } from "../src/api";
import { StaticTokenAuthenticator } from "../src/auth";
import type { JobServiceConfig } from "../src/config";
import { MemoryJobStore } from "../src/store";
import { FakeOutputs, MemoryBlobs, memoryAudit, notebook, rawTarball, sha256hex, testConfig, workspaceTarball } from "./helpers";

const ALICE = "token alice-0123456789abcdef";
const BOB = "bearer bob-0123456789abcdef";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

let base = "";
function send(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(base + path, { method, agent: false, headers: body !== undefined ? { "content-length": String(Buffer.byteLength(body)), ...headers } : headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : {} });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const json = (path: string, body: unknown, auth?: string) =>
  send("POST", path, JSON.stringify(body), { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) });

/** The multipart body the extension's handler posts: file (application/gzip), envs, creator, filename. */
function multipart(fields: { file?: Buffer; envs?: string; creator?: string; filename?: string }): { body: Buffer; type: string } {
  const boundary = "----manatee" + Math.random().toString(16).slice(2);
  const parts: Buffer[] = [];
  if (fields.file) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="workspace.tar.gz"\r\nContent-Type: application/gzip\r\n\r\n`), fields.file, Buffer.from("\r\n"));
  }
  for (const k of ["envs", "creator", "filename"] as const) {
    if (fields[k] !== undefined) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${fields[k]}\r\n`));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

async function submit(auth: string | undefined, file: Buffer, opts: { creator?: string; filename?: string; envs?: unknown; path?: string } = {}) {
  const { body, type } = multipart({
    file,
    envs: JSON.stringify(opts.envs ?? []),
    creator: opts.creator,
    filename: opts.filename ?? "analysis.ipynb",
  });
  return send("POST", opts.path ?? "/v1/job/submit/", body, { "content-type": type, ...(auth ? { authorization: auth } : {}) });
}

describe("job API over HTTP on 127.0.0.1", () => {
  let server: Server | undefined;
  let store: MemoryJobStore;
  let blobs: MemoryBlobs;
  let outputs: FakeOutputs;
  let audit: ReturnType<typeof memoryAudit>;
  let config: JobServiceConfig;
  let aliceWs: Buffer;

  async function stop() {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  async function start(cfg: JobServiceConfig = testConfig()) {
    await stop(); // tests that need another config restart the server
    config = cfg;
    store = new MemoryJobStore();
    blobs = new MemoryBlobs();
    outputs = new FakeOutputs();
    audit = memoryAudit();
    const auth = new StaticTokenAuthenticator({ "alice-0123456789abcdef": "alice", "bob-0123456789abcdef": "bob" });
    const s = createServer(createJobApi({ config, store, auth, blobs, outputs, audit }));
    server = s;
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  }
  beforeAll(async () => {
    aliceWs = await workspaceTarball("alice", { "analysis.ipynb": notebook({ datasets: ["insurance"], purpose: "claims", cells: ["!pip install pandas==2.2.2"] }), "util.py": "x=1\n" });
  });
  beforeEach(() => start());
  afterEach(() => stop());

  test("GET /health answers pong without credentials", async () => {
    const r = await send("GET", "/health");
    expect(r).toMatchObject({ status: 200, body: { message: "pong" } });
  });

  test("submit: 307 on the path without slash, then success on the slash path (as the extension re-posts)", async () => {
    const first = await submit(ALICE, aliceWs, { path: "/v1/job/submit", creator: "alice" });
    expect(first.status).toBe(307);
    expect(first.headers.location).toBe("/v1/job/submit/");
    expect(await store.list({}, 1, 10)).toMatchObject({ total: 0 });

    const r = await submit(ALICE, aliceWs, { path: first.headers.location as string, creator: "alice", envs: [{ key: "EPOCHS", value: "3" }] });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ code: 0, msg: "success" });
    const uuid = r.body.uuid as string;
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);

    const job = (await store.getByUuid(uuid))!;
    expect(job).toMatchObject({ id: 1, creator: "alice", notebook: "analysis.ipynb", status: 0, datasets: ["insurance"], purpose: "claims", envs: [{ key: "EPOCHS", value: "3" }] });
    const sha = sha256hex(aliceWs);
    expect(job.workspace).toMatchObject({ object: `workspaces/${sha}.tar.gz`, sha256: sha, size: aliceWs.length, dependencies: ["pandas==2.2.2"] });
    expect(job.workspace.files.map((f) => f.path).sort()).toEqual(["analysis.ipynb", "util.py"]);
    expect(Buffer.from((await blobs.get(job.workspace.object))!).equals(aliceWs)).toBe(true);
    expect(audit.records.find((a) => a.event === "submitted")).toMatchObject({ job: 1, uuid, creator: "alice" });
    expect(JSON.stringify(audit.records)).not.toContain("alice-0123456789abcdef");
  });

  test("two researchers' uploads never share an object name; same content is stored once", async () => {
    const bobWs = await workspaceTarball("bob", { "analysis.ipynb": notebook({ datasets: ["health"] }) });
    await submit(ALICE, aliceWs);
    await submit(BOB, bobWs);
    await submit(ALICE, aliceWs);
    const objects = (await store.list({}, 1, 10)).jobs.map((j) => j.workspace.object);
    expect(new Set(objects).size).toBe(2);
    expect(blobs.objects.size).toBe(2);
  });

  test("401 without or with a bad credential, on every /v1 route, saying nothing about jobs", async () => {
    await submit(ALICE, aliceWs);
    for (const path of ["/v1/job/query/", "/v1/job/delete/", "/v1/job/output/download/", "/v1/job/attestation/"]) {
      for (const auth of [undefined, "token wrong-0123456789abcdef", "alice-0123456789abcdef"]) {
        const r = await json(path, { id: 1, uuid: "x", page: 1, page_size: 10 }, auth);
        expect(r.status).toBe(401);
        expect(r.body.code).toBe(ApiCode.Unauthorized);
      }
    }
    const r = await submit(undefined, aliceWs);
    expect(r.status).toBe(401);
    expect((await store.list({}, 1, 10)).total).toBe(1);
  });

  test("the creator comes from the credential; a different body creator is refused", async () => {
    const r = await submit(ALICE, aliceWs, { creator: "bob" });
    expect(r.status).toBe(200);
    expect(r.body.code).not.toBe(0);
    expect(r.body.msg).toMatch(/creator comes from the credential/);
    const q = await json("/v1/job/query/", { page: 1, page_size: 10, creator: "bob" }, ALICE);
    expect(q.body.code).not.toBe(0);
    expect((await store.list({}, 1, 10)).total).toBe(0);
  });

  test("another researcher cannot list, download, attest or delete: answers like a missing job", async () => {
    const uuid = (await submit(ALICE, aliceWs)).body.uuid as string;
    outputs.releases.set(uuid, { objects: [{ name: `${uuid}/analysis.ipynb`, sha256: "x" }], receipt: "r", receiptObject: `${uuid}/receipt.json` });

    const bobList = await json("/v1/job/query/", { page: 1, page_size: 10 }, BOB);
    expect(bobList.body).toMatchObject({ code: 0, jobs: [], total: 0 });
    const aliceList = await json("/v1/job/query/", { page: 1, page_size: 10, creator: "alice" }, ALICE);
    expect(aliceList.body).toMatchObject({ code: 0, total: 1 });
    expect((aliceList.body.jobs as unknown[])[0]).toEqual({
      id: 1,
      uuid,
      creator: "alice",
      job_status: 0,
      jupyter_file_name: "analysis.ipynb",
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });

    const missing = await json("/v1/job/output/download/", { id: 99 }, BOB);
    for (const [path, body] of [
      ["/v1/job/output/download/", { id: 1 }],
      ["/v1/job/attestation/", { id: 1 }],
      ["/v1/job/delete/", { uuid }],
    ] as const) {
      const r = await json(path, body, BOB);
      expect(r.status).toBe(200);
      expect(r.body).toEqual(missing.body);
    }
    expect((await store.get(1))!.deleted).toBe(false);
    expect(outputs.urls).toEqual([]);
  });

  test("download and attestation: only released objects, the executed notebook first", async () => {
    const uuid = (await submit(ALICE, aliceWs)).body.uuid as string;
    const notYet = await json("/v1/job/output/download/", { id: 1, creator: "alice" }, ALICE);
    expect(notYet.body).toMatchObject({ code: ApiCode.NotReady, msg: "no released output yet" });
    expect((await json("/v1/job/attestation/", { id: "1" }, ALICE)).body.code).toBe(ApiCode.NotReady);

    outputs.releases.set(uuid, {
      objects: [
        { name: `${uuid}/metrics.json`, sha256: "a" },
        { name: `${uuid}/analysis.ipynb`, sha256: "b" },
      ],
      receipt: "sig",
      receiptObject: `${uuid}/receipt.json`,
    });
    const d = await json("/v1/job/output/download/", { id: 1 }, ALICE);
    expect(d.body).toEqual({ code: 0, msg: "success", signed_url: `https://storage.example/${uuid}/analysis.ipynb?sig=1`, filename: "out-1-analysis.ipynb" });
    const a = await json("/v1/job/attestation/", { id: 1 }, ALICE);
    expect(a.body).toEqual({ code: 0, msg: "success", signed_url: `https://storage.example/${uuid}/receipt.json?sig=1` });
    expect(outputs.urls.every((u) => u.ttl === 3600)).toBe(true);
  });

  test("delete: soft-deletes own job, then it is gone from list and download", async () => {
    const uuid = (await submit(ALICE, aliceWs)).body.uuid as string;
    expect((await json("/v1/job/delete", { uuid }, ALICE)).status).toBe(307);
    expect((await json("/v1/job/delete/", { uuid }, ALICE)).body).toEqual({ code: 0, msg: "success" });
    expect((await store.get(1))!.deleted).toBe(true);
    expect((await json("/v1/job/query/", { page: 1, page_size: 10 }, ALICE)).body.total).toBe(0);
    expect((await json("/v1/job/delete/", { uuid }, ALICE)).body.msg).toBe("job not found");
    expect(audit.records.some((r) => r.event === "deleted")).toBe(true);
  });

  test("per-researcher limit of jobs in progress, with a clear message; others unaffected", async () => {
    await start(testConfig({ limits: { maxJobsInProgressPerResearcher: 2, maxWorkspaceBytes: 1024 * 1024 } }));
    // concurrent submissions cannot both slip under the limit
    const rs = await Promise.all([submit(ALICE, aliceWs), submit(ALICE, aliceWs), submit(ALICE, aliceWs)]);
    expect(rs.filter((r) => r.body.code === 0)).toHaveLength(2);
    const refused = rs.find((r) => r.body.code !== 0)!;
    expect(refused.body).toMatchObject({ code: ApiCode.LimitReached });
    expect(refused.body.msg).toMatch(/2 jobs in progress; the room allows 2 \(limits\.maxJobsInProgressPerResearcher\)/);
    await store.update(1, 1, { status: 5 });
    expect((await submit(ALICE, aliceWs)).body.code).toBe(0);
    const bobWs = await workspaceTarball("bob", { "analysis.ipynb": notebook({ datasets: ["health"] }) });
    expect((await submit(BOB, bobWs)).body.code).toBe(0);
  });

  test("workspace over maxWorkspaceBytes is refused while streaming", async () => {
    await start(testConfig({ limits: { maxJobsInProgressPerResearcher: 3, maxWorkspaceBytes: 2000 } }));
    const big = await workspaceTarball("alice", { "analysis.ipynb": notebook({ datasets: ["insurance"] }), "noise.bin": randomBytes(4000) });
    expect(big.length).toBeGreaterThan(2000);
    const r = await submit(ALICE, big);
    expect(r.body).toMatchObject({ code: ApiCode.TooLarge });
    expect(r.body.msg).toMatch(/file: the workspace is over 2000 bytes \(limits\.maxWorkspaceBytes\)/);
    expect(blobs.objects.size).toBe(0);
  });

  test.each([
    ["symlink", [{ path: "alice-workspace/analysis.ipynb", content: notebook({ datasets: ["insurance"] }) }, { path: "alice-workspace/k", type: "SymbolicLink" as const, linkpath: "/etc/shadow" }], /symbolic link refused/],
    ["..", [{ path: "alice-workspace/analysis.ipynb", content: notebook({ datasets: ["insurance"] }) }, { path: "alice-workspace/../../root/.bashrc", content: "x" }], /'\.\.' refused/],
    ["setuid", [{ path: "alice-workspace/analysis.ipynb", content: notebook({ datasets: ["insurance"] }) }, { path: "alice-workspace/sh", mode: 0o4755, content: "x" }], /setuid\/setgid/],
  ])("malicious tarball (%s) is refused and nothing is stored", async (_n, entries, pattern) => {
    const r = await submit(ALICE, rawTarball(entries));
    expect(r.status).toBe(200);
    expect(r.body.code).toBe(ApiCode.BadRequest);
    expect(r.body.msg).toMatch(pattern);
    expect(blobs.objects.size).toBe(0);
    expect((await store.list({}, 1, 10)).total).toBe(0);
  });

  test("field validation: filename, envs, datasets", async () => {
    const cases: [Parameters<typeof submit>[2], RegExp][] = [
      [{ filename: "../x.ipynb" }, /filename: expected a notebook name/],
      [{ filename: "notes.txt" }, /filename: expected a notebook name/],
      [{ filename: "a".repeat(130) + ".ipynb" }, /under 128 characters/],
      [{ envs: [{ key: "lower", value: "x" }] }, /envs\[0\]\.key: expected an upper-case name/],
      [{ envs: [{ key: "A", value: 3 }] }, /envs\[0\]\.value \(A\): expected a string/],
      [{ envs: Array.from({ length: 51 }, (_, i) => ({ key: `K${i}`, value: "" })) }, /envs: 51 entries; at most 50/],
      [{ envs: { key: "A" } }, /envs: expected a list/],
    ];
    for (const [o, pattern] of cases) {
      const r = await submit(ALICE, aliceWs, o);
      expect(r.body.code).toBe(ApiCode.BadRequest);
      expect(r.body.msg).toMatch(pattern);
    }
    const noMeta = await workspaceTarball("alice", { "analysis.ipynb": notebook() });
    expect((await submit(ALICE, noMeta)).body.msg).toMatch(/datasets: name the datasets .* this room has insurance, health/);
    const viaEnv = await submit(ALICE, noMeta, { envs: [{ key: "DATASETS", value: "health, insurance" }] });
    expect(viaEnv.body.code).toBe(0);
    expect((await store.getByUuid(viaEnv.body.uuid as string))!.datasets).toEqual(["health", "insurance"]);
    expect((await submit(ALICE, noMeta, { envs: [{ key: "DATASETS", value: "payroll" }] })).body.msg).toMatch(/datasets: payroll not in this room; it has insurance, health/);
  });

  test("a room with one dataset uses it when the notebook names none", async () => {
    const cfg = testConfig();
    await start({ ...cfg, datasets: [cfg.datasets[0]] });
    const r = await submit(ALICE, await workspaceTarball("alice", { "analysis.ipynb": notebook() }));
    expect((await store.getByUuid(r.body.uuid as string))!.datasets).toEqual(["insurance"]);
  });

  test("bad input never crashes: malformed JSON, wrong content type, wrong method, unknown route, huge JSON", async () => {
    const bad = await send("POST", "/v1/job/query/", "{nope", { authorization: ALICE, "content-type": "application/json" });
    expect(bad).toMatchObject({ status: 200, body: { code: ApiCode.BadRequest } });
    expect(bad.body.msg).toMatch(/not valid JSON/);
    expect((await json("/v1/job/query/", [1, 2], ALICE)).body.msg).toMatch(/expected a JSON object/);
    expect((await json("/v1/job/query/", { page: 0 }, ALICE)).body.msg).toMatch(/page: expected an integer ≥ 1/);
    expect((await json("/v1/job/query/", { page: 1, page_size: 1000 }, ALICE)).body.msg).toMatch(/page_size: expected an integer from 1 to 100/);
    expect((await json("/v1/job/output/download/", { id: "1; drop" }, ALICE)).body.msg).toMatch(/id: expected the job's numeric id/);
    const notMultipart = await send("POST", "/v1/job/submit/", "x=1", { authorization: ALICE, "content-type": "application/x-www-form-urlencoded" });
    expect(notMultipart.body.msg).toMatch(/expected multipart\/form-data with fields file, envs, creator, filename/);
    const noFile = multipart({ filename: "analysis.ipynb", envs: "[]" });
    expect((await send("POST", "/v1/job/submit/", noFile.body, { authorization: ALICE, "content-type": noFile.type })).body.msg).toMatch(/file: missing/);
    expect((await send("GET", "/v1/job/query/", undefined, { authorization: ALICE })).status).toBe(405);
    expect((await send("GET", "/v2/x")).status).toBe(404);
    const huge = await json("/v1/job/query/", { page: 1, pad: "x".repeat(70_000) }, ALICE);
    expect(huge.body).toMatchObject({ code: ApiCode.TooLarge });
    expect((await send("GET", "/health")).status).toBe(200);
  });
});
