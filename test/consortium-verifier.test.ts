/**
 * End to end (issue 13): the shipped consortium (stacks/consortium.cleanroom.yaml, hospital-b in
 * its own file, its approvals signed by `manatee policy sign` with the TEST-ONLY key) compiled by
 * compileVerifierPolicy and decided by the real verifier on real signed Confidential Space
 * tokens (RSA, served by a local JWKS). Receipts are checked with jose against /v1/jwks.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CompactSign, createLocalJWKSet, generateKeyPair, jwtVerify } from "jose";
import { compileVerifierPolicy, partyApprovalsPayload } from "../lib/policy/document";
import { loadPolicyFile } from "../lib/policy/load";
import { CleanRoomPolicy } from "../lib/policy/model";
import { APPROVALS_TYP } from "../attestation-verifier/src/party-approvals";
import type { VerifierPolicyDocument } from "../attestation-verifier/src/policy";
import { RECEIPT_TYP } from "../attestation-verifier/src/receipt";
import { releaseManifest } from "../attestation-verifier/src/release";
import { generatedSigner } from "../attestation-verifier/src/signers";
import { Verifier, createVerifier } from "../attestation-verifier/src/verifier";
import { localObjectStore } from "../attestation-verifier/src/object-store";
import { NOW_MS, RsaKey, jwksServer, rsaKey, signToken } from "../attestation-verifier/test/helpers";
import { jobClaims } from "../attestation-verifier/test/release-fixtures";

type Body = { decision?: string; reasons?: { code: string; message: string }[]; receipt?: string };

/** Approved by hospital-a (scans) and hospital-b (outcomes, signed). */
const SHARED = "sha256:1580f84f1585dbecd84479ae867b6d586de31a19bbc9e551f2fbc20f9df59ec9";
/** Approved by hospital-a only (scans, pathology). */
const ONLY_A = "sha256:67682bda769fae1ccf5183192b8daf37b64cae99c6c3302650f6f8bf5f0f95df";
const NONCE = "a3f1c0de9b7e4d2a8c6f5e4d3c2b1a09";
const sha256 = (b: string) => createHash("sha256").update(b).digest("hex");

let cs: RsaKey;
let jwks: Awaited<ReturnType<typeof jwksServer>>;
let dir: string;

const shipped = (): CleanRoomPolicy => loadPolicyFile("stacks/consortium.cleanroom.yaml");
const documentOf = (policy: CleanRoomPolicy): VerifierPolicyDocument => compileVerifierPolicy(policy).document;

function verifierFor(doc: VerifierPolicyDocument): Verifier {
  return createVerifier({ policy: doc, signer: generatedSigner(), jwks: { url: jwks.url }, clock: () => NOW_MS, log: () => undefined, objectStore: localObjectStore(dir) });
}

/** The verifier's answer to POST `path`, with its receipt's payload checked against the verifier's own /v1/jwks. */
async function call(v: Verifier, path: string, body: unknown): Promise<Body & { receiptPayload?: Record<string, unknown> }> {
  const answer = JSON.parse((await v.handler({ method: "POST", path, headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).body) as Body;
  if (answer.receipt === undefined) return answer;
  const keys = createLocalJWKSet(JSON.parse((await v.handler({ method: "GET", path: "/v1/jwks", headers: {} })).body));
  const { payload } = await jwtVerify(answer.receipt, keys, { algorithms: ["ES256"], typ: RECEIPT_TYP, currentDate: new Date(NOW_MS) });
  return { ...answer, receiptPayload: payload };
}

/** A fresh job of the room (`<instancePrefix>-<uuid>`): its output in quarantine and its VM's token over the manifest. */
async function releaseRequest(doc: VerifierPolicyDocument, imageDigest: string, datasets: string[]) {
  const release = doc.release!;
  const job = `${sha256(`${Math.random()}`).slice(0, 8)}-3c1e-4d8a-9f6b-2a1e5d7c4b30`;
  const objects = [{ name: "result.csv", sha256: sha256(`result of ${job}`) }];
  mkdirSync(join(dir, release.quarantineBucket, job), { recursive: true });
  writeFileSync(join(dir, release.quarantineBucket, job, "result.csv"), `result of ${job}`);
  const claims = jobClaims(doc, { job, digest: imageDigest, nonce: sha256(releaseManifest(job, objects)), instanceName: `${release.instancePrefix}-${job}` });
  return { job, body: { token: await signToken(claims, cs), job, datasets, objects } };
}

const codes = (body: Body) => (body.reasons ?? []).map((r) => r.code);
const messageOf = (body: Body, code: string) => body.reasons?.find((r) => r.code === code)?.message ?? "";

beforeAll(async () => {
  cs = await rsaKey("cs-key-1");
  jwks = await jwksServer([cs.jwk]);
  dir = mkdtempSync(join(tmpdir(), "consortium-verifier-"));
});

afterAll(() => jwks.close());

describe("given the shipped consortium, compiled for the verifier", () => {
  test("then its document carries hospital-b's pinned key and the shipped signature, and no signature for hospital-a", () => {
    const parties = documentOf(shipped()).parties!;
    expect(parties.map((p) => [p.name, p.datasets, p.approvalsJws !== undefined])).toEqual([
      ["hospital-a", ["scans", "pathology"], false],
      ["hospital-b", ["outcomes"], true],
    ]);
  });

  test("when a job over both parties' datasets with the shared digest asks for a release, then it is released and the receipt lists both parties' approvals", async () => {
    const doc = documentOf(shipped());
    const v = verifierFor(doc);
    const { job, body } = await releaseRequest(doc, SHARED, ["scans", "outcomes"]);

    const res = await call(v, "/v1/release", body);

    expect({ decision: res.decision, reasons: codes(res) }).toEqual({ decision: "released", reasons: [] });
    expect(existsSync(join(dir, doc.release!.releaseBucket, job, "result.csv"))).toBe(true);
    expect(res.receiptPayload!.parties).toEqual([
      { name: "hospital-a", datasets: ["scans"], approval: { imageDigest: SHARED, purpose: "Survival model across both hospitals", approvedBy: "dpo@hospital-a.example", expires: "2027-06-30" } },
      { name: "hospital-b", datasets: ["outcomes"], approval: { imageDigest: SHARED, purpose: "Survival model across both hospitals", approvedBy: "dpo@hospital-b.example", expires: "2027-06-30" } },
    ]);
  });

  test("when the digest only hospital-a approved asks for hospital-b's dataset, then it is denied naming hospital-b; for hospital-a's dataset it is allowed", async () => {
    const doc = documentOf(shipped());
    const v = verifierFor(doc);
    const verify = async (dataset: string) => call(v, "/v1/verify", { token: await signToken(jobClaims(doc, { digest: ONLY_A, nonce: NONCE }), cs), dataset, nonce: NONCE });

    const outcomes = await verify("outcomes");
    const scans = await verify("scans");

    expect(outcomes.decision).toBe("deny");
    expect(codes(outcomes)).toContain("party_approval_missing");
    expect(messageOf(outcomes, "party_approval_missing")).toContain("hospital-b");
    expect(messageOf(outcomes, "party_approval_missing")).toContain("outcomes");
    expect(scans.decision).toBe("allow");
  });

  test("when a release over both parties runs the digest only hospital-a approved, then it is denied naming hospital-b and nothing is released", async () => {
    const doc = documentOf(shipped());
    const { job, body } = await releaseRequest(doc, ONLY_A, ["scans", "outcomes"]);

    const res = await call(verifierFor(doc), "/v1/release", body);

    expect(res.decision).toBe("deny");
    expect(messageOf(res, "party_approval_missing")).toContain("hospital-b");
    expect(existsSync(join(dir, doc.release!.releaseBucket, job))).toBe(false);
  });

  test("when hospital-b's approvalsSignature is replaced by one over the same payload signed with another key, then the release is denied party_approvals_unsigned", async () => {
    const policy = shipped();
    const other = (await generateKeyPair("ES256")).privateKey;
    const forged = await new CompactSign(new TextEncoder().encode(partyApprovalsPayload(policy, "hospital-b")))
      .setProtectedHeader({ alg: "ES256", typ: APPROVALS_TYP })
      .sign(other);
    const tampered: CleanRoomPolicy = { ...policy, parties: policy.parties!.map((p) => (p.name === "hospital-b" ? { ...p, approvalsSignature: forged } : p)) };
    const doc = documentOf(tampered);
    const { job, body } = await releaseRequest(doc, SHARED, ["scans", "outcomes"]);

    const res = await call(verifierFor(doc), "/v1/release", body);

    expect(res.decision).toBe("deny");
    expect(codes(res)).toContain("party_approvals_unsigned");
    expect(messageOf(res, "party_approvals_unsigned")).toContain("hospital-b");
    expect(existsSync(join(dir, doc.release!.releaseBucket, job))).toBe(false);
  });
});
