/**
 * The release's object store adapters: a local directory, and Cloud Storage's JSON API
 * against a fake GCS on 127.0.0.1 that honours ifGenerationMatch=0 as GCS does (412 when the
 * object exists); then the whole release wired from the environment (metadata-server token,
 * GCS store) as the Cloud Function runs it.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify } from "jose";
import { ConfigError, verifierFromEnv } from "../src/config";
import { ObjectStore, gcsObjectStore, localObjectStore } from "../src/object-store";
import { releaseManifest } from "../src/release";
import { examplePolicyDocument, jwksServer, rsaKey, serve, signToken, TestServer } from "./helpers";
import { JOB, QUARANTINE, RELEASE, approverKey, imageSignature, jobClaims, jobPathPolicy } from "./release-fixtures";

const sha256 = (b: string | Uint8Array) => createHash("sha256").update(b).digest("hex");
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString("utf8"));

/** A fake GCS JSON API: media download and upload, with ifGenerationMatch=0 enforced. */
async function fakeGcs(): Promise<TestServer & { objects: Map<string, { bytes: Buffer; contentType: string }>; fail: Set<string> }> {
  const objects = new Map<string, { bytes: Buffer; contentType: string }>();
  const fail = new Set<string>();
  let generation = 0;
  const s = await serve((req, res, body) => {
    const url = new URL(req.url ?? "/", "http://x");
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (req.headers.authorization !== "Bearer gcs-token") return json(401, { error: { code: 401, message: "no auth" } });
    const download = /^\/storage\/v1\/b\/([^/]+)\/o\/([^/]+)$/.exec(url.pathname);
    if (req.method === "GET" && download && url.searchParams.get("alt") === "media") {
      const key = `${decodeURIComponent(download[1])}/${decodeURIComponent(download[2])}`;
      if (fail.has(key)) return json(500, { error: { code: 500 } });
      const o = objects.get(key);
      if (!o) return json(404, { error: { code: 404, message: "No such object" } });
      res.writeHead(200, { "content-type": o.contentType });
      return res.end(o.bytes);
    }
    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    if (req.method === "POST" && upload && url.searchParams.get("uploadType") === "media") {
      const key = `${decodeURIComponent(upload[1])}/${url.searchParams.get("name")}`;
      if (fail.has(key)) return json(503, { error: { code: 503 } });
      // Checked and set in one synchronous step: the precondition is atomic, as in GCS.
      if (url.searchParams.get("ifGenerationMatch") === "0" && objects.has(key)) {
        return json(412, { error: { code: 412, message: "Precondition Failed" } });
      }
      objects.set(key, { bytes: body, contentType: String(req.headers["content-type"]) });
      return json(200, { name: url.searchParams.get("name"), generation: String(++generation) });
    }
    json(400, { error: { code: 400, message: `unexpected ${req.method} ${req.url}` } });
  });
  return Object.assign(s, { objects, fail });
}

describe("given the GCS object store against a fake GCS", () => {
  let gcs: Awaited<ReturnType<typeof fakeGcs>>;
  let store: ObjectStore;
  beforeAll(async () => {
    gcs = await fakeGcs();
    store = gcsObjectStore({ token: { token: async () => "gcs-token" }, storageBaseUrl: gcs.url });
  });
  afterAll(() => gcs.close());

  it("when an object is missing, then read answers undefined; when written, its bytes, with a name holding '/'", async () => {
    expect(await store.read("bkt", "job/a/b.csv")).toBeUndefined();
    await store.write("bkt", "job/a/b.csv", Buffer.from("x,y\n"), "application/octet-stream");

    expect(text(await store.read("bkt", "job/a/b.csv"))).toBe("x,y\n");
    expect(gcs.objects.get("bkt/job/a/b.csv")?.contentType).toBe("application/octet-stream");
  });

  it("when createIfAbsent runs twice, then the first creates and the second is told it exists, without overwriting", async () => {
    expect(await store.createIfAbsent("bkt", "releases/m1", Buffer.from("first"), "application/json")).toBe(true);
    expect(await store.createIfAbsent("bkt", "releases/m1", Buffer.from("second"), "application/json")).toBe(false);

    expect(text(await store.read("bkt", "releases/m1"))).toBe("first");
  });

  it("when eight createIfAbsent calls race, then exactly one wins", async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.createIfAbsent("bkt", "releases/race", Buffer.from(`${i}`), "application/json")));

    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it("when GCS answers an error, then every method throws (an outage is never read as 'absent' or 'exists')", async () => {
    gcs.fail.add("bkt/broken");
    await expect(store.read("bkt", "broken")).rejects.toThrow("answered 500");
    await expect(store.createIfAbsent("bkt", "broken", Buffer.from(""), "text/plain")).rejects.toThrow("answered 503");
    await expect(store.write("bkt", "broken", Buffer.from(""), "text/plain")).rejects.toThrow("answered 503");
  });

  it("when the token is wrong, then the 401 is an error", async () => {
    const bad = gcsObjectStore({ token: { token: async () => "other" }, storageBaseUrl: gcs.url });
    await expect(bad.read("bkt", "x")).rejects.toThrow("answered 401");
  });

  it.each(["../x", "/x", "a//b", "a/./b", "a\\b"])("when the name is %j, then the adapter refuses it before any request", async (name) => {
    const before = gcs.hits();
    await expect(store.read("bkt", name)).rejects.toThrow("not a plain relative name");
    expect(gcs.hits()).toBe(before);
  });
});

describe("given the local object store", () => {
  const dir = mkdtempSync(join(tmpdir(), "verifier-store-"));
  const store = localObjectStore(dir);

  it("when objects are written and created, then they are files <dir>/<bucket>/<name>", async () => {
    await store.write("bkt", "job/out.txt", Buffer.from("hello"), "text/plain");
    expect(text(await store.read("bkt", "job/out.txt"))).toBe("hello");
    expect(await store.read("bkt", "job/none.txt")).toBeUndefined();
    expect(await store.read("bkt", "job/out.txt/below")).toBeUndefined();
  });

  it("when eight createIfAbsent calls race, then exactly one wins (wx)", async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.createIfAbsent("bkt", "releases/race", Buffer.from(`${i}`), "application/json")));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it.each([
    ["bkt", "../../etc/passwd"],
    ["..", "x"],
    ["bkt/../other", "x"],
  ])("when bucket %j and name %j would leave the directory, then it is refused", async (bucket, name) => {
    await expect(store.write(bucket, name, Buffer.from("x"), "text/plain")).rejects.toThrow(/not a (plain relative name|bucket name)/);
  });
});

describe("given the verifier configured from the environment as the Cloud Function runs it", () => {
  let gcs: Awaited<ReturnType<typeof fakeGcs>>;
  let metadata: TestServer;
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  const dir = mkdtempSync(join(tmpdir(), "verifier-env-release-"));
  const keys = { insurance: approverKey(), claims: approverKey() };
  const doc = jobPathPolicy(keys);
  const policyFile = join(dir, "policy.json");
  writeFileSync(policyFile, JSON.stringify(doc));
  const plain = join(dir, "plain.json");
  // A room without the output release (a document from before it existed).
  const { release: _release, ...withoutRelease } = examplePolicyDocument().document;
  writeFileSync(plain, JSON.stringify(withoutRelease));
  const quiet = { allowEphemeralKey: true, overrides: { log: () => undefined } };

  beforeAll(async () => {
    gcs = await fakeGcs();
    metadata = await serve((req, res) => {
      if (req.headers["metadata-flavor"] !== "Google") {
        res.writeHead(403).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json", "metadata-flavor": "Google" });
      res.end(JSON.stringify({ access_token: "gcs-token", expires_in: 3599, token_type: "Bearer" }));
    });
  });
  afterAll(() => Promise.all([gcs.close(), metadata.close(), jwks?.close()]));

  it("when a signed job releases through GCS, then the objects and receipt land in the release bucket, with a metadata-server token", async () => {
    const cs = await rsaKey("cs-key-1");
    jwks = await jwksServer([cs.jwk]);
    const verifier = await verifierFromEnv(
      {
        VERIFIER_POLICY_FILE: policyFile,
        VERIFIER_JWKS_URL: jwks.url,
        VERIFIER_METADATA_URL: metadata.url,
        VERIFIER_STORAGE_URL: gcs.url,
      },
      quiet
    );
    expect(verifier.releaseStore).toBe(`Cloud Storage ${gcs.url}`);
    gcs.objects.set(`${QUARANTINE}/${JOB}/report.md`, { bytes: Buffer.from("# Report\n"), contentType: "text/markdown" });
    const objects = [{ name: "report.md", sha256: sha256("# Report\n") }];
    const token = await signToken(
      jobClaims(doc, { nowMs: Date.now(), nonce: sha256(releaseManifest(JOB, objects)), signatures: [imageSignature(keys.insurance)] }),
      cs
    );
    const post = () =>
      verifier.handler({
        method: "POST",
        path: "/v1/release",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token, job: JOB, datasets: ["insurance"], objects }),
      });

    const res = await post();

    expect(res.status).toBe(200);
    const body = JSON.parse(res.body);
    expect(body.decision).toBe("released");
    expect(gcs.objects.get(`${RELEASE}/${JOB}/report.md`)?.bytes.toString()).toBe("# Report\n");
    expect(gcs.objects.get(`${RELEASE}/${JOB}/receipt.jws`)?.bytes.toString()).toBe(body.receipt);
    expect(gcs.objects.has(`${RELEASE}/releases/${sha256(token)}`)).toBe(true);
    const { payload } = await jwtVerify(body.receipt, createLocalJWKSet(verifier.receiptJwks as never), { typ: "manatee-receipt+jwt" });
    expect(payload).toMatchObject({ job: JOB, objects, approvals: [{ dataset: "insurance", source: "signature", key_id: keys.insurance.keyId }] });

    const again = JSON.parse((await post()).body);
    expect(again.reasons.map((r: { code: string }) => r.code)).toEqual(["release_replayed"]);
  });

  it("when VERIFIER_RELEASE_DIR is set, then releases use that directory", async () => {
    const verifier = await verifierFromEnv(
      { VERIFIER_POLICY_FILE: policyFile, VERIFIER_RELEASE_DIR: join(dir, "buckets"), VERIFIER_JWKS_URL: "http://127.0.0.1:9/jwks" },
      { ...quiet, overrides: { ...quiet.overrides, prefetchJwks: false } }
    );
    expect(verifier.releaseStore).toBe(`local directory ${join(dir, "buckets")}`);
  });

  it("when VERIFIER_RELEASE_DIR is set but the policy has no release settings, then the start is refused", async () => {
    await expect(
      verifierFromEnv({ VERIFIER_POLICY_FILE: plain, VERIFIER_RELEASE_DIR: dir, VERIFIER_JWKS_URL: "http://127.0.0.1:9/jwks" }, quiet)
    ).rejects.toThrow(ConfigError);
  });

  it("when the policy has no release settings, then there is no store and the route says so", async () => {
    const verifier = await verifierFromEnv(
      { VERIFIER_POLICY_FILE: plain, VERIFIER_JWKS_URL: "http://127.0.0.1:9/jwks" },
      { ...quiet, overrides: { ...quiet.overrides, prefetchJwks: false } }
    );
    expect(verifier.releaseStore).toBeUndefined();
  });
});
