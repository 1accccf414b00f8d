/**
 * The receipt JWKS publisher: against a fake Cloud Storage JSON API on 127.0.0.1 (media download,
 * multipart upload), then wired from the environment as the Cloud Function runs it (metadata-server
 * token, VERIFIER_PUBLIC_JWKS_URI): the object holds the verifier's receipt key, rotation keeps the
 * earlier keys, an old revision never rewrites the list, and a failure is logged and retried.
 */
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifierFromEnv } from "../src/config";
import { JWKS_CACHE_SECONDS, gcsJwksTarget, jwksPublisher, publishReceiptJwks } from "../src/jwks-publisher";
import { generatedSigner } from "../src/signers";
import { examplePolicyDocument, serve, TestServer } from "./helpers";

type Stored = { bytes: Buffer; contentType?: string; cacheControl?: string };

async function fakeGcs(): Promise<TestServer & { objects: Map<string, Stored>; failWrites: { n: number }; uploads: () => number }> {
  const objects = new Map<string, Stored>();
  const failWrites = { n: 0 };
  let uploads = 0;
  const s = await serve((req, res, body) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.headers.authorization !== "Bearer gcs-token") return void res.writeHead(401).end();
    const download = /^\/storage\/v1\/b\/([^/]+)\/o\/([^/]+)$/.exec(url.pathname);
    if (req.method === "GET" && download && url.searchParams.get("alt") === "media") {
      const o = objects.get(`${download[1]}/${decodeURIComponent(download[2])}`);
      if (!o) return void res.writeHead(404).end("{}");
      return void res.writeHead(200, { "content-type": o.contentType ?? "application/octet-stream" }).end(o.bytes);
    }
    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    if (req.method === "POST" && upload && url.searchParams.get("uploadType") === "multipart") {
      uploads++;
      if (failWrites.n > 0) {
        failWrites.n--;
        return void res.writeHead(503).end("{}");
      }
      const boundary = /boundary=([^;]+)/.exec(String(req.headers["content-type"]))?.[1];
      const parts = body.toString("utf8").split(`--${boundary}`).slice(1, -1);
      const [metaPart, mediaPart] = parts.map((p) => p.slice(p.indexOf("\r\n\r\n") + 4).replace(/\r\n$/, ""));
      const meta = JSON.parse(metaPart) as { name: string; contentType?: string; cacheControl?: string };
      objects.set(`${upload[1]}/${meta.name}`, { bytes: Buffer.from(mediaPart, "utf8"), contentType: meta.contentType, cacheControl: meta.cacheControl });
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ name: meta.name }));
    }
    res.writeHead(400).end();
  });
  return Object.assign(s, { objects, failWrites, uploads: () => uploads });
}

const token = { token: async () => "gcs-token" };
const BUCKET = "acme-clean-room-insurance-study-receipt-jwks";
const keysOf = (o: Stored | undefined) => (JSON.parse(o!.bytes.toString("utf8")) as { keys: { kid: string }[] }).keys;

describe("given the receipt JWKS publisher and a fake Cloud Storage", () => {
  let gcs: Awaited<ReturnType<typeof fakeGcs>>;
  beforeEach(async () => {
    gcs = await fakeGcs();
  });
  afterEach(() => gcs.close());
  const target = () => gcsJwksTarget({ bucket: BUCKET, object: "jwks.json", token, storageBaseUrl: gcs.url });

  it("when nothing is published yet, then it writes the current key as a JWKS, short-cached JSON, with the service account's token", async () => {
    const key = generatedSigner().publicJwk;
    expect(await publishReceiptJwks(target(), key)).toEqual({ written: true, kids: [key.kid] });
    const stored = gcs.objects.get(`${BUCKET}/jwks.json`);
    expect(keysOf(stored)).toEqual([key]);
    expect(stored?.contentType).toBe("application/json");
    expect(stored?.cacheControl).toBe(`public, max-age=${JWKS_CACHE_SECONDS}`);
    expect(JSON.stringify(keysOf(stored))).not.toMatch(/"d"/);
  });

  it("when the key rotates, then the earlier key stays listed (old receipts still verify) and the new one is added last", async () => {
    const [v1, v2] = [generatedSigner().publicJwk, generatedSigner().publicJwk];
    await publishReceiptJwks(target(), v1);
    expect(await publishReceiptJwks(target(), v2)).toEqual({ written: true, kids: [v1.kid, v2.kid] });
    expect(keysOf(gcs.objects.get(`${BUCKET}/jwks.json`)).map((k) => k.kid)).toEqual([v1.kid, v2.kid]);
  });

  it("when an instance of the old revision starts after the rotation, then it does not write (the newer list stays)", async () => {
    const [v1, v2] = [generatedSigner().publicJwk, generatedSigner().publicJwk];
    await publishReceiptJwks(target(), v1);
    await publishReceiptJwks(target(), v2);
    const before = gcs.uploads();
    expect(await publishReceiptJwks(target(), v1)).toEqual({ written: false, kids: [v1.kid, v2.kid] });
    expect(gcs.uploads()).toBe(before);
  });

  it("when the object holds garbage or a private key, then only well-formed public receipt keys survive", async () => {
    const good = generatedSigner().publicJwk;
    const payload = { keys: [{ ...good, kid: "x".repeat(10), d: "secret" }, { kty: "RSA", n: "x", e: "AQAB" }, "nonsense"] };
    gcs.objects.set(`${BUCKET}/jwks.json`, { bytes: Buffer.from(JSON.stringify(payload)) });
    await publishReceiptJwks(target(), good);
    expect(keysOf(gcs.objects.get(`${BUCKET}/jwks.json`))).toEqual([good]);
  });

  it("when Cloud Storage fails, then the publisher logs an error instead of throwing, and a retry publishes", async () => {
    gcs.failWrites.n = 1;
    const lines: Record<string, unknown>[] = [];
    const key = generatedSigner().publicJwk;
    const publisher = jwksPublisher({ target: target(), key, log: (l) => lines.push(l), retryMs: 20 });
    await expect(publisher.publish()).resolves.toBeUndefined();
    expect(publisher.published).toBe(false);
    expect(lines[0]).toMatchObject({ severity: "ERROR" });
    expect(String(lines[0].message)).toMatch(/cannot publish the receipt JWKS to gs:\/\/.*\/jwks\.json: .*503/);
    expect(lines[0]).not.toHaveProperty("decision"); // not an audit record
    await new Promise((r) => setTimeout(r, 100));
    expect(publisher.published).toBe(true);
    expect(keysOf(gcs.objects.get(`${BUCKET}/jwks.json`))).toEqual([key]);
  });
});

describe("given the verifier started from the environment with VERIFIER_PUBLIC_JWKS_URI", () => {
  let gcs: Awaited<ReturnType<typeof fakeGcs>>;
  let metadata: TestServer;
  const dir = mkdtempSync(join(tmpdir(), "verifier-jwks-publish-"));
  const policyFile = join(dir, "policy.json");
  const { release: _release, ...plain } = examplePolicyDocument().document;
  writeFileSync(policyFile, JSON.stringify(plain));

  beforeAll(async () => {
    gcs = await fakeGcs();
    metadata = await serve((req, res) => {
      if (req.headers["metadata-flavor"] !== "Google") return void res.writeHead(403).end();
      res.writeHead(200, { "content-type": "application/json", "metadata-flavor": "Google" });
      res.end(JSON.stringify({ access_token: "gcs-token", expires_in: 3599, token_type: "Bearer" }));
    });
  });
  afterAll(() => Promise.all([gcs.close(), metadata.close()]));

  it("when it starts, then the public object holds exactly the key its receipts are signed with", async () => {
    const lines: Record<string, unknown>[] = [];
    const verifier = await verifierFromEnv(
      {
        VERIFIER_POLICY_FILE: policyFile,
        VERIFIER_METADATA_URL: metadata.url,
        VERIFIER_STORAGE_URL: gcs.url,
        VERIFIER_PUBLIC_JWKS_URI: `gs://${BUCKET}/jwks.json`,
      },
      { allowEphemeralKey: true, overrides: { log: () => undefined }, publishLog: (l) => lines.push(l) }
    );
    expect(keysOf(gcs.objects.get(`${BUCKET}/jwks.json`))).toEqual(verifier.receiptJwks.keys);
    expect(lines).toEqual([expect.objectContaining({ severity: "INFO", receipt_kids: [verifier.receiptJwks.keys[0].kid] })]);
  });

  it("when the URI is not gs://BUCKET/OBJECT, then the start fails naming the variable", async () => {
    await expect(
      verifierFromEnv({ VERIFIER_POLICY_FILE: policyFile, VERIFIER_PUBLIC_JWKS_URI: "https://example.org/jwks.json" }, { allowEphemeralKey: true })
    ).rejects.toThrow(/VERIFIER_PUBLIC_JWKS_URI/);
  });
});
