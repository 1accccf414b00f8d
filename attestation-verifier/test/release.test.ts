/**
 * Per-job approvals and the output release, decided by the real verifier on real signed
 * tokens: RSA-signed Confidential Space tokens served by a local JWKS, P-256 approver keys
 * whose key ids the tokens' image_signatures carry, outputs in a local object store, and
 * receipts checked with jose against the verifier's own /v1/jwks.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, decodeJwt, jwtVerify } from "jose";
import { AuditRecord } from "../src/audit";
import { ObjectStore, localObjectStore } from "../src/object-store";
import { policySha256 } from "../src/policy";
import { RECEIPT_TYP } from "../src/receipt";
import { releaseManifest } from "../src/release";
import { generatedSigner } from "../src/signers";
import { Verifier, createVerifier } from "../src/verifier";
import { EXAMPLE_DIGEST_A } from "../../test/util";
import { NOW_MS, RsaKey, jwksServer, rsaKey, signToken } from "./helpers";
import {
  ApproverKey,
  INSTANCE_PREFIX,
  JOB,
  JOB_DIGEST,
  JobClaimsOptions,
  OTHER_JOB,
  QUARANTINE,
  RELEASE,
  approverKey,
  imageSignature,
  jobClaims,
  jobPathPolicy,
} from "./release-fixtures";

type Body = {
  decision?: string;
  reasons?: { code: string; message: string }[];
  receipt?: string;
  objects?: { name: string; sha256: string; bucket: string; object: string }[];
  error?: { code: string; message: string };
};

let cs: RsaKey;
let jwks: Awaited<ReturnType<typeof jwksServer>>;
let keys: { insurance: ApproverKey; claims: ApproverKey };
let doc: ReturnType<typeof jobPathPolicy>;
let dir: string;
let verifier: Verifier;
const logs: AuditRecord[] = [];
const tokens: string[] = [];

const sha256 = (b: string | Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Outputs as the TEE writes them: `<quarantine>/<job>/<name>`; returns the manifest entries. */
function quarantine(job: string, files: Record<string, string>): { name: string; sha256: string }[] {
  return Object.entries(files).map(([name, content]) => {
    const path = join(dir, QUARANTINE, job, ...name.split("/"));
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, content);
    return { name, sha256: sha256(content) };
  });
}

async function jobToken(o: JobClaimsOptions = {}): Promise<string> {
  const t = await signToken(jobClaims(doc, o), cs);
  tokens.push(t);
  return t;
}

/** A token over the manifest of `objects`, signed for `datasets`' keys unless told otherwise. */
async function releaseToken(job: string, objects: { name: string; sha256: string }[], o: JobClaimsOptions = {}): Promise<string> {
  return jobToken({ job, nonce: sha256(releaseManifest(job, objects)), signatures: [imageSignature(keys.insurance)], ...o });
}

async function call(v: Verifier, path: string, body: unknown) {
  const res = await v.handler({ method: "POST", path, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: JSON.parse(res.body) as Body };
}

const codes = (r: { body: Body }) => (r.body.reasons ?? []).map((x) => x.code);
const released = (job: string, name: string) => join(dir, RELEASE, job, ...name.split("/"));

async function receiptPayload(receipt: string) {
  const served = await verifier.handler({ method: "GET", path: "/v1/jwks", headers: {} });
  return jwtVerify(receipt, createLocalJWKSet(JSON.parse(served.body)), {
    algorithms: ["ES256"],
    typ: RECEIPT_TYP,
    issuer: doc.audience,
    currentDate: new Date(NOW_MS),
  });
}

beforeAll(async () => {
  cs = await rsaKey("cs-key-1");
  jwks = await jwksServer([cs.jwk]);
  keys = { insurance: approverKey(), claims: approverKey() };
  doc = jobPathPolicy(keys);
  dir = mkdtempSync(join(tmpdir(), "verifier-release-"));
  verifier = createVerifier({
    policy: doc,
    signer: generatedSigner(),
    jwks: { url: jwks.url },
    clock: () => NOW_MS,
    log: (r) => logs.push(r),
    objectStore: localObjectStore(dir),
  });
});

afterAll(() => jwks.close());

/** The output hash a /v1/verify request binds (the policy requires a nonce). */
const VERIFY_NONCE = "a3f1c0de9b7e4d2a8c6f5e4d3c2b1a09";

describe("given a job image signed by the insurance owner's approver key", () => {
  it("when its VM asks /v1/verify for insurance, then it is allowed and the receipt names the signature, not a standing approval", async () => {
    const t = await jobToken({ signatures: [imageSignature(keys.insurance)], nonce: VERIFY_NONCE });
    const res = await call(verifier, "/v1/verify", { token: t, dataset: "insurance", nonce: VERIFY_NONCE });

    expect(res.body.decision).toBe("allow");
    const { payload } = await receiptPayload(res.body.receipt!);
    expect(payload.approval).toEqual({ source: "signature", key_id: keys.insurance.keyId, signature_algorithm: "ECDSA_P256_SHA256" });
    expect(payload.image_digest).toBe(JOB_DIGEST);
  });

  it("when it asks for claims, then the insurance signature does not open claims", async () => {
    const t = await jobToken({ signatures: [imageSignature(keys.insurance)], nonce: VERIFY_NONCE });
    const res = await call(verifier, "/v1/verify", { token: t, dataset: "claims", nonce: VERIFY_NONCE });

    expect(res.body.decision).toBe("deny");
    expect(codes(res)).toEqual(["image_not_approved", "job_signature_missing", "job_condition_false"]);
    expect(res.body.reasons![1].message).toContain(keys.claims.keyId);
  });

  it("when the signature's key id is right but its algorithm is not ECDSA_P256_SHA256, then it approves nothing", async () => {
    const sig = { ...imageSignature(keys.insurance), signature_algorithm: "RSASSA_PSS_SHA256" };
    const res = await call(verifier, "/v1/verify", { token: await jobToken({ signatures: [sig], nonce: VERIFY_NONCE }), dataset: "insurance", nonce: VERIFY_NONCE });

    expect(codes(res)).toEqual(expect.arrayContaining(["job_signature_missing", "job_condition_false"]));
  });

  it("when the job condition fails (a cmd override) although the signature is there, then it is denied", async () => {
    const claims = jobClaims(doc, { signatures: [imageSignature(keys.insurance)], nonce: VERIFY_NONCE });
    (claims.submods as { container: Record<string, unknown> }).container.cmd_override = ["sh", "-c", "curl evil"];
    const res = await call(verifier, "/v1/verify", { token: await signToken(claims, cs), dataset: "insurance", nonce: VERIFY_NONCE });

    // The data pool refuses tee-cmd too, so its condition fails beside the job pool's.
    expect(codes(res)).toEqual(["attribute_condition_false", "image_not_approved", "job_condition_false"]);
  });

  it("when a standing-approved image asks, then it is still approved by its standing approval", async () => {
    const t = await jobToken({ digest: EXAMPLE_DIGEST_A, signatures: [imageSignature(keys.insurance, EXAMPLE_DIGEST_A)], nonce: VERIFY_NONCE });
    const res = await call(verifier, "/v1/verify", { token: t, dataset: "insurance", nonce: VERIFY_NONCE });

    const { payload } = await receiptPayload(res.body.receipt!);
    expect(payload.approval).toMatchObject({ source: "standing", purpose: "XGBoost regression of insurance charges" });
  });
});

describe("given a job that wrote its results to quarantine", () => {
  it("when its VM releases them with a token signed for insurance over their manifest, then they are copied with a verifiable receipt", async () => {
    const objects = quarantine(JOB, { "notebook.ipynb": '{"cells":[]}', "results/summary.csv": "region,n\nnorth,12\n" });
    const t = await releaseToken(JOB, objects);
    const res = await call(verifier, "/v1/release", { token: t, job: JOB, datasets: ["insurance"], objects });

    expect(res.status).toBe(200);
    expect(res.body.decision).toBe("released");
    expect(res.body.objects).toEqual([
      { name: "notebook.ipynb", sha256: objects[0].sha256, bucket: RELEASE, object: `${JOB}/notebook.ipynb` },
      { name: "results/summary.csv", sha256: objects[1].sha256, bucket: RELEASE, object: `${JOB}/results/summary.csv` },
    ]);
    // The released bytes are the quarantined bytes, and the receipt sits next to them.
    expect(readFileSync(released(JOB, "results/summary.csv"), "utf8")).toBe("region,n\nnorth,12\n");
    expect(readFileSync(released(JOB, "receipt.jws"), "ascii")).toBe(res.body.receipt);

    const { payload, protectedHeader } = await receiptPayload(res.body.receipt!);
    expect(protectedHeader).toMatchObject({ alg: "ES256", typ: RECEIPT_TYP });
    expect(payload).toEqual({
      iss: doc.audience,
      sub: `https://www.googleapis.com/compute/v1/projects/acme-clean-room/zones/us-central1-a/instances/${INSTANCE_PREFIX}-${JOB}`,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      iat: Math.floor(NOW_MS / 1000),
      release: true,
      clean_room: "insurance-study",
      job: JOB,
      datasets: ["insurance"],
      approvals: [{ dataset: "insurance", source: "signature", key_id: keys.insurance.keyId, signature_algorithm: "ECDSA_P256_SHA256" }],
      image_digest: JOB_DIGEST,
      image_reference: `us-central1-docker.pkg.dev/acme-clean-room/manatee-jobs/job-${JOB}@${JOB_DIGEST}`,
      objects: [
        { name: "notebook.ipynb", sha256: objects[0].sha256, bucket: RELEASE, object: `${JOB}/notebook.ipynb` },
        { name: "results/summary.csv", sha256: objects[1].sha256, bucket: RELEASE, object: `${JOB}/results/summary.csv` },
      ],
      release_bucket: RELEASE,
      nonce: sha256(releaseManifest(JOB, objects)),
      token_sha256: sha256(t),
      token_iat: Math.floor(NOW_MS / 1000) - 60,
      token_exp: Math.floor(NOW_MS / 1000) - 60 + 3600,
      policy_sha256: policySha256(doc),
      hwmodel: "GCP_INTEL_TDX",
      swversion: ["250800"],
    });
    expect(logs.at(-1)).toMatchObject({
      severity: "INFO",
      decision: "allow",
      operation: "release",
      job: JOB,
      datasets: ["insurance"],
      image_digest: JOB_DIGEST,
      token_sha256: sha256(t),
      receipt_jti: payload.jti,
      objects: payload.objects,
    });
  });

  it("when the same token is presented again, then it is a replay and nothing is written again", async () => {
    const objects = quarantine(OTHER_JOB, { "out.txt": "first" });
    const t = await releaseToken(OTHER_JOB, objects, { job: OTHER_JOB });
    const first = await call(verifier, "/v1/release", { token: t, job: OTHER_JOB, datasets: ["insurance"], objects });
    expect(first.body.decision).toBe("released");
    writeFileSync(released(OTHER_JOB, "receipt.jws"), "kept");

    const again = await call(verifier, "/v1/release", { token: t, job: OTHER_JOB, datasets: ["insurance"], objects });

    expect(again.body).toEqual({ decision: "deny", reasons: [expect.objectContaining({ code: "release_replayed" })] });
    expect(readFileSync(released(OTHER_JOB, "receipt.jws"), "utf8")).toBe("kept");
    expect(logs.at(-1)).toMatchObject({ decision: "deny", reasons: ["release_replayed"], operation: "release" });
  });

  it("when two requests with one token race, then exactly one releases", async () => {
    const job = "11111111-2222-4333-8444-555555555555";
    const objects = quarantine(job, { "a.bin": "a".repeat(10000), "b.bin": "b" });
    const t = await releaseToken(job, objects, { job });
    const results = await Promise.all(
      Array.from({ length: 4 }, () => call(verifier, "/v1/release", { token: t, job, datasets: ["insurance"], objects }))
    );

    expect(results.map((r) => r.body.decision).sort()).toEqual(["deny", "deny", "deny", "released"]);
    for (const r of results.filter((x) => x.body.decision === "deny")) expect(codes(r)).toEqual(["release_replayed"]);
  });
});

describe("given a release that must be refused", () => {
  const job = "22222222-3333-4444-8555-666666666666";
  let objects: { name: string; sha256: string }[];
  beforeAll(() => {
    objects = quarantine(job, { "result.json": '{"mean":42}' });
  });
  const nothingReleased = () => expect(existsSync(join(dir, RELEASE, job))).toBe(false);

  it("when the token is signed only by the claims owner's key but the job lists insurance, then it is denied", async () => {
    const t = await releaseToken(job, objects, { job, signatures: [imageSignature(keys.claims)] });
    const res = await call(verifier, "/v1/release", { token: t, job, datasets: ["insurance"], objects });

    expect(res.body.decision).toBe("deny");
    expect(codes(res)).toEqual(["image_not_approved", "job_signature_missing", "job_condition_false"]);
    nothingReleased();
  });

  it("when the job read two datasets and only one owner signed, then it is denied (every dataset must approve)", async () => {
    const t = await releaseToken(job, objects, { job });
    const res = await call(verifier, "/v1/release", { token: t, job, datasets: ["insurance", "claims"], objects });

    expect(codes(res)).toEqual(["image_not_approved", "job_signature_missing", "job_condition_false"]);
    expect(res.body.reasons![1].message).toContain("Dataset claims");
    nothingReleased();
  });

  it("when a quarantined object was changed after the token was issued, then the hash mismatch denies and nothing is released", async () => {
    const t = await releaseToken(job, objects, { job });
    writeFileSync(join(dir, QUARANTINE, job, "result.json"), '{"mean":43}');
    try {
      const res = await call(verifier, "/v1/release", { token: t, job, datasets: ["insurance"], objects });

      expect(res.body.decision).toBe("deny");
      expect(codes(res)).toEqual(["object_hash_mismatch"]);
      expect(res.body.reasons![0].message).toContain(sha256('{"mean":43}'));
      nothingReleased();
    } finally {
      writeFileSync(join(dir, QUARANTINE, job, "result.json"), '{"mean":42}');
    }
  });

  it("when the token's nonce covers a different manifest, then it is denied", async () => {
    const other = [{ name: "result.json", sha256: sha256("something else") }];
    const t = await releaseToken(job, other, { job });
    const res = await call(verifier, "/v1/release", { token: t, job, datasets: ["insurance"], objects });

    expect(codes(res)).toEqual(["manifest_nonce_mismatch"]);
    nothingReleased();
  });

  it("when the token carries the manifest hash among other nonces, then it is denied: the nonce must be exactly the manifest", async () => {
    const nonce = sha256(releaseManifest(job, objects));
    const t = await releaseToken(job, objects, { job, nonce: [nonce, "thisIsAcustomNonce"] });
    const res = await call(verifier, "/v1/release", { token: t, job, datasets: ["insurance"], objects });

    expect(codes(res)).toEqual(["manifest_nonce_mismatch"]);
  });

  it("when the nonce is a one-element array, then it counts as the manifest hash", async () => {
    const j = "33333333-4444-4555-8666-777777777777";
    const objs = quarantine(j, { "x.txt": "x" });
    const t = await releaseToken(j, objs, { job: j, nonce: [sha256(releaseManifest(j, objs))] });
    const res = await call(verifier, "/v1/release", { token: t, job: j, datasets: ["insurance"], objects: objs });

    expect(res.body.decision).toBe("released");
  });

  it("when the VM of another job presents a token for this job's outputs, then it is denied", async () => {
    const t = await releaseToken(job, objects, { job: OTHER_JOB, nonce: sha256(releaseManifest(job, objects)) });
    const res = await call(verifier, "/v1/release", { token: t, job, datasets: ["insurance"], objects });

    expect(codes(res)).toEqual(["instance_not_job"]);
    expect(res.body.reasons![0].message).toContain(`${INSTANCE_PREFIX}-${OTHER_JOB}`);
    nothingReleased();
  });

  it("when a listed object is not in quarantine, then it is denied and nothing is copied", async () => {
    const listed = [...objects, { name: "missing.csv", sha256: sha256("never written") }];
    const t = await releaseToken(job, listed, { job });
    const res = await call(verifier, "/v1/release", { token: t, job, datasets: ["insurance"], objects: listed });

    expect(codes(res)).toEqual(["object_missing"]);
    expect(res.body.reasons![0].message).toContain(`${QUARANTINE}/${job}/missing.csv`);
    nothingReleased();
  });

  it("when the token comes from a debug image, then it is denied", async () => {
    const t = await releaseToken(job, objects, { job, debug: true });
    const res = await call(verifier, "/v1/release", { token: t, job, datasets: ["insurance"], objects });

    expect(res.body.decision).toBe("deny");
    // The independent debug check, and both routes' conditions (they require a production image).
    expect(codes(res)).toEqual(["attribute_condition_false", "debug_image", "image_not_approved", "job_condition_false"]);
    nothingReleased();
  });

  it("when the token is signed by a key not in the JWKS, then it is denied before any storage is read", async () => {
    const rogue = await rsaKey("cs-key-1");
    const t = await signToken(jobClaims(doc, { job, nonce: sha256(releaseManifest(job, objects)), signatures: [imageSignature(keys.insurance)] }), rogue);
    const res = await call(verifier, "/v1/release", { token: t, job, datasets: ["insurance"], objects });

    expect(codes(res)).toEqual(["token_signature_invalid"]);
  });

  it("when the request names an unknown dataset, then it is denied", async () => {
    const t = await releaseToken(job, objects, { job });
    const res = await call(verifier, "/v1/release", { token: t, job, datasets: ["genomes"], objects });

    expect(codes(res)).toEqual(["dataset_unknown", "image_not_approved"]);
  });

  it("when the job's image has only a standing approval whose notAfter has passed at the verifier's clock, then it is denied, nothing is copied and the denial is audit-logged", async () => {
    const j = "66666666-7777-4888-8999-aaaaaaaaaaaa";
    const objs = quarantine(j, { "result.json": '{"mean":7}' });
    // The same standing approval, expired (notAfter is the first instant it no longer holds) or not.
    const standing = (expires: string, notAfter: string) => ({
      ...doc,
      approvals: [...doc.approvals, { imageDigest: JOB_DIGEST, datasets: ["insurance"], purpose: "Quarterly study", approvedBy: "data-owner@example.org", expires, notAfter }],
    });
    const verifierWith = (policy: ReturnType<typeof standing>, log: AuditRecord[]) =>
      createVerifier({ policy, signer: generatedSigner(), jwks: { url: jwks.url }, clock: () => NOW_MS, log: (r) => log.push(r), objectStore: localObjectStore(dir) });
    const expiredLogs: AuditRecord[] = [];
    const expired = verifierWith(standing("2026-05-31", "2026-06-01T00:00:00Z"), expiredLogs);
    expect(NOW_MS).toBeGreaterThan(Date.parse("2026-06-01T00:00:00Z"));
    // No signature: the standing approval is the only thing that could approve the image.
    const t = await releaseToken(j, objs, { job: j, signatures: [] });

    const res = await call(expired, "/v1/release", { token: t, job: j, datasets: ["insurance"], objects: objs });

    expect(res.body.decision).toBe("deny");
    expect(codes(res)).toContain("approval_expired");
    expect(res.body.reasons!.find((r) => r.code === "approval_expired")!.message).toContain("It held until 2026-06-01T00:00:00Z.");
    expect(res.body.receipt).toBeUndefined();
    expect(existsSync(join(dir, RELEASE, j))).toBe(false);
    expect(existsSync(join(dir, RELEASE, "releases", sha256(t)))).toBe(false); // the token is not spent
    expect(expiredLogs).toEqual([
      expect.objectContaining({ decision: "deny", operation: "release", job: j, image_digest: JOB_DIGEST, token_sha256: sha256(t), reasons: expect.arrayContaining(["approval_expired"]) }),
    ]);
    expect(JSON.stringify(expiredLogs)).not.toContain(t);

    // The control: the same approval one day later releases the same objects with the same token.
    const current = verifierWith(standing("2026-06-01", "2026-06-02T00:00:00Z"), []);
    const ok = await call(current, "/v1/release", { token: t, job: j, datasets: ["insurance"], objects: objs });
    expect(ok.body.decision).toBe("released");
    expect(decodeJwt(ok.body.receipt!)).toMatchObject({ approvals: [{ dataset: "insurance", source: "standing", not_after: "2026-06-02T00:00:00Z" }] });
  });

  it.each([
    ["a job that is not a uuid", { job: "../etc" }, "job:"],
    ["no datasets", { datasets: [] }, "datasets:"],
    ["a dataset listed twice", { datasets: ["insurance", "insurance"] }, "listed twice"],
    ["an object path that climbs out", { objects: [{ name: "../x", sha256: "0".repeat(64) }] }, "objects: name"],
    ["an absolute object path", { objects: [{ name: "/x", sha256: "0".repeat(64) }] }, "objects: name"],
    ["an object named like the receipt", { objects: [{ name: "receipt.jws", sha256: "0".repeat(64) }] }, "release receipt"],
    ["an upper-case hash", { objects: [{ name: "x", sha256: "A".repeat(64) }] }, "64 lowercase hex"],
    ["an object listed twice", { objects: [{ name: "x", sha256: "0".repeat(64) }, { name: "x", sha256: "1".repeat(64) }] }, "listed twice"],
    ["an object that is another's directory", { objects: [{ name: "x", sha256: "0".repeat(64) }, { name: "x/y", sha256: "1".repeat(64) }] }, "directory"],
    ["an object with an extra field", { objects: [{ name: "x", sha256: "0".repeat(64), size: 1 }] }, "unknown field"],
  ])("when the request has %s, then it is a 400 and is logged as rejected", async (_name, patch, message) => {
    const res = await call(verifier, "/v1/release", { token: "x.y.z", job, datasets: ["insurance"], objects, ...patch });

    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: "invalid_request", message: expect.stringContaining(message) });
    expect(logs.at(-1)).toMatchObject({ decision: "rejected", reasons: ["invalid_request"], token_sha256: sha256("x.y.z") });
  });

  it("when the body has a field of /v1/verify, then it is refused as unknown", async () => {
    const res = await call(verifier, "/v1/release", { token: "x", job, datasets: ["insurance"], objects, nonce: "n" });

    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe("unknown_field");
  });
});

describe("given a store that fails while copying", () => {
  it("when the second copy fails, then the answer is a 409 release_incomplete, the marker stays and the token cannot be replayed; a new token over the same manifest completes it", async () => {
    const inner = localObjectStore(dir);
    let creates = 0;
    const flaky: ObjectStore = {
      read: (b, n) => inner.read(b, n),
      // 1: the replay marker, 2: the first object, 3: the second object.
      createIfAbsent: async (b, n, bytes, t) => {
        if (++creates === 3) throw new Error("GCS answered 503");
        return inner.createIfAbsent(b, n, bytes, t);
      },
      write: (b, n, bytes, t) => inner.write(b, n, bytes, t),
    };
    const v = createVerifier({ policy: doc, signer: generatedSigner(), jwks: { url: jwks.url }, clock: () => NOW_MS, log: (r) => logs.push(r), objectStore: flaky });
    const job = "44444444-5555-4666-8777-888888888888";
    const objects = quarantine(job, { "1.txt": "one", "2.txt": "two" });
    const t = await releaseToken(job, objects, { job });

    const res = await call(v, "/v1/release", { token: t, job, datasets: ["insurance"], objects });

    expect(res.status).toBe(409);
    expect(res.body.error).toEqual({ code: "release_incomplete", message: expect.stringContaining("1 of 2") });
    expect(logs.at(-1)).toMatchObject({ severity: "ERROR", decision: "error", reasons: ["release_incomplete"], job });
    expect(existsSync(released(job, "receipt.jws"))).toBe(false);
    expect(existsSync(join(dir, RELEASE, "releases", sha256(t)))).toBe(true);

    const again = await call(v, "/v1/release", { token: t, job, datasets: ["insurance"], objects });
    expect(codes(again)).toEqual(["release_replayed"]);

    // The TEE asks for a new token over the same manifest: the object already copied is the
    // same bytes, so it counts; nothing is overwritten (the verifier holds no delete).
    const fresh = await releaseToken(job, objects, { job, nowMs: NOW_MS - 1000 });
    const done = await call(v, "/v1/release", { token: fresh, job, datasets: ["insurance"], objects });
    expect(done.status).toBe(200);
    expect(done.body.decision).toBe("released");
    expect(readFileSync(released(job, "2.txt"), "utf8")).toBe("two");
    expect(existsSync(released(job, "receipt.jws"))).toBe(true);

    // And once released, the job cannot be released again, even with the same results.
    const third = await call(v, "/v1/release", { token: await releaseToken(job, objects, { job, nowMs: NOW_MS - 2000 }), job, datasets: ["insurance"], objects });
    expect(third.status).toBe(409);
    expect(third.body.error?.code).toBe("release_incomplete");
  });

  it("when the store cannot be read, then the answer is a 503 storage_unavailable and the token is not spent", async () => {
    const down: ObjectStore = {
      read: async () => {
        throw new Error("connection refused");
      },
      createIfAbsent: async () => true,
      write: async () => undefined,
    };
    const v = createVerifier({ policy: doc, signer: generatedSigner(), jwks: { url: jwks.url }, clock: () => NOW_MS, log: (r) => logs.push(r), objectStore: down });
    const job = "55555555-6666-4777-8888-999999999999";
    const objects = [{ name: "x", sha256: sha256("x") }];
    const res = await call(v, "/v1/release", { token: await releaseToken(job, objects, { job }), job, datasets: ["insurance"], objects });

    expect(res.status).toBe(503);
    expect(res.body.error?.code).toBe("storage_unavailable");
    expect(logs.at(-1)).toMatchObject({ severity: "ERROR", reasons: ["storage_unavailable"] });
  });
});

describe("given a verifier that cannot release", () => {
  it.each([
    ["a policy without release settings", () => ({ policy: { ...doc, release: undefined }, objectStore: localObjectStore(dir) }), "no release settings"],
    ["no object store", () => ({ policy: doc }), "no object store"],
  ])("when %s gets a release request, then it answers 404 release_not_configured", async (_name, options, message) => {
    const v = createVerifier({ signer: generatedSigner(), jwks: { url: jwks.url }, log: () => undefined, prefetchJwks: false, ...options() });
    const res = await call(v, "/v1/release", { token: "x" });

    expect(res.status).toBe(404);
    expect(res.body.error).toEqual({ code: "release_not_configured", message: expect.stringContaining(message) });
  });
});

describe("given everything above was logged", () => {
  it("then no token ever appears in an audit record, and every refusal names its reason codes", () => {
    const text = JSON.stringify(logs);
    for (const t of tokens) expect(text).not.toContain(t);
    for (const r of logs.filter((l) => l.decision !== "allow")) expect(r.reasons.length).toBeGreaterThan(0);
  });

  it("then the receipt of a release decodes without the verifier (offline audit)", () => {
    const receipt = readFileSync(released(JOB, "receipt.jws"), "ascii");
    expect(decodeJwt(receipt)).toMatchObject({ job: JOB, release: true });
  });
});
