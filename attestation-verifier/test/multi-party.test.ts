/**
 * Consortium rooms, decided by the real verifier on real signed tokens (RSA Confidential Space
 * tokens served by a local JWKS): a document built by hand per docs/consortium-contract.md with
 * two parties, a digest both approved and a digest only hospital-a approved; hospital-b's
 * approvals signed with a P-256 key generated here. Receipts are checked with jose against the
 * verifier's own /v1/jwks.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CompactSign, JWK, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from "jose";
import type { CryptoKey } from "jose";
import { AuditRecord } from "../src/audit";
import { APPROVALS_TYP } from "../src/party-approvals";
import { PolicyError, VerifierApproval, VerifierPolicyDocument, canonicalJson, validatePolicyDocument } from "../src/policy";
import { RECEIPT_TYP } from "../src/receipt";
import { releaseManifest } from "../src/release";
import { generatedSigner } from "../src/signers";
import { Verifier, createVerifier } from "../src/verifier";
import { localObjectStore } from "../src/object-store";
import { NOW_MS, RsaKey, examplePolicyDocument, jwksServer, rsaKey, signToken } from "./helpers";
import { ApproverKey, INSTANCE_PREFIX, JOB, QUARANTINE, RELEASE, approverKey, imageSignature, jobClaims, jobCondition } from "./release-fixtures";

type Body = { decision?: string; reasons?: { code: string; message: string }[]; receipt?: string };

const digest = (label: string) => `sha256:${createHash("sha256").update(label).digest("hex")}`;
const sha256 = (b: string) => createHash("sha256").update(b).digest("hex");
/** Approved by both parties, each for its own dataset. */
const SHARED = digest("shared image");
/** Approved by hospital-a only. */
const ONLY_A = digest("hospital-a image");
const ROOM = "oncology";
const NONCE = "a3f1c0de9b7e4d2a8c6f5e4d3c2b1a09";

let cs: RsaKey;
let jwks: Awaited<ReturnType<typeof jwksServer>>;
let b: { privateKey: CryptoKey; jwk: JWK };
let dir: string;

const byA = (imageDigest: string, purpose: string): VerifierApproval => ({
  imageDigest,
  datasets: ["scans"],
  purpose,
  approvedBy: "dpo@hospital-a.example",
  party: "hospital-a",
});
const B_SHARED: VerifierApproval = {
  imageDigest: SHARED,
  datasets: ["labs"],
  purpose: "survival model",
  approvedBy: "dpo@hospital-b.example",
  expires: "2027-01-31",
  notAfter: "2027-02-01T00:00:00Z",
  party: "hospital-b",
};

/** Sign `{room, party, approvals}` as `manatee policy sign` does. */
async function signApprovals(payload: unknown, key = b.privateKey, typ = APPROVALS_TYP): Promise<string> {
  return new CompactSign(new TextEncoder().encode(canonicalJson(payload))).setProtectedHeader({ alg: "ES256", typ }).sign(key);
}

/** The consortium document; `jws` is hospital-b's approvalsJws (undefined: none). */
function consortium(jws: string | undefined, extra: { approvals?: VerifierApproval[]; jobKeyOfLabs?: ApproverKey } = {}): VerifierPolicyDocument {
  // The example room's operator facts (project, audience, condition), none of its datasets.
  const { jobApprovals: _, ...base } = examplePolicyDocument().document;
  const { kty, crv, x, y } = b.jwk;
  return {
    ...base,
    cleanRoom: ROOM,
    datasets: ["scans", "labs"],
    parties: [
      { name: "hospital-a", project: "hospital-a-cleanroom", datasets: ["scans"] },
      {
        name: "hospital-b",
        project: "hospital-b-cleanroom",
        datasets: ["labs"],
        approvalsKey: { kty: kty as "EC", crv: crv as "P-256", x: x!, y: y! },
        ...(jws !== undefined ? { approvalsJws: jws } : {}),
      },
    ],
    approvals: [byA(SHARED, "survival model"), B_SHARED, byA(ONLY_A, "scan QA"), ...(extra.approvals ?? [])],
    ...(extra.jobKeyOfLabs
      ? {
          jobApprovals: [
            { dataset: "labs", keyId: extra.jobKeyOfLabs.keyId, signatureAlgorithm: "ECDSA_P256_SHA256", attributeCondition: jobCondition(base, extra.jobKeyOfLabs.keyId) },
          ],
        }
      : {}),
    release: { quarantineBucket: QUARANTINE, releaseBucket: RELEASE, instancePrefix: INSTANCE_PREFIX },
  };
}

const validSignature = () => signApprovals({ room: ROOM, party: "hospital-b", approvals: [B_SHARED] });

function verifierFor(doc: VerifierPolicyDocument): Verifier {
  return createVerifier({ policy: doc, signer: generatedSigner(), jwks: { url: jwks.url }, clock: () => NOW_MS, log: () => undefined, objectStore: localObjectStore(dir) });
}

async function call(v: Verifier, path: string, body: unknown) {
  const res = await v.handler({ method: "POST", path, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return JSON.parse(res.body) as Body;
}

async function receiptOf(v: Verifier, receipt: string) {
  const served = await v.handler({ method: "GET", path: "/v1/jwks", headers: {} });
  const { payload } = await jwtVerify(receipt, createLocalJWKSet(JSON.parse(served.body)), { algorithms: ["ES256"], typ: RECEIPT_TYP, currentDate: new Date(NOW_MS) });
  return payload;
}

/** A fresh job: its output in quarantine and a token of its VM over the manifest, running `imageDigest`. */
async function releaseRequest(doc: VerifierPolicyDocument, imageDigest: string, datasets: string[], signatures: Record<string, string>[] = []) {
  const job = JOB.replace(/^.{8}/, createHash("sha256").update(`${Math.random()}`).digest("hex").slice(0, 8));
  const objects = [{ name: "result.csv", sha256: sha256(`result of ${job}`) }];
  mkdirSync(join(dir, QUARANTINE, job), { recursive: true });
  writeFileSync(join(dir, QUARANTINE, job, "result.csv"), `result of ${job}`);
  const token = await signToken(jobClaims(doc, { job, digest: imageDigest, nonce: sha256(releaseManifest(job, objects)), signatures }), cs);
  return { job, body: { token, job, datasets, objects } };
}

const verifyRequest = async (doc: VerifierPolicyDocument, imageDigest: string, dataset: string) => ({
  token: await signToken(jobClaims(doc, { digest: imageDigest, nonce: NONCE }), cs),
  dataset,
  nonce: NONCE,
});

const codes = (body: Body) => (body.reasons ?? []).map((r) => r.code);
const messageOf = (body: Body, code: string) => body.reasons?.find((r) => r.code === code)?.message ?? "";

beforeAll(async () => {
  cs = await rsaKey("cs-key-1");
  jwks = await jwksServer([cs.jwk]);
  const pair = await generateKeyPair("ES256", { extractable: true });
  b = { privateKey: pair.privateKey, jwk: await exportJWK(pair.publicKey) };
  dir = mkdtempSync(join(tmpdir(), "verifier-consortium-"));
});

afterAll(() => jwks.close());

describe("given a consortium whose parties both approved the shared digest and signed (hospital-b)", () => {
  it("when a job reading both parties' datasets asks for a release, then it is released and the receipt lists every party's approval", async () => {
    const doc = consortium(await validSignature());
    const v = verifierFor(doc);
    const { job, body } = await releaseRequest(doc, SHARED, ["scans", "labs"]);

    const res = await call(v, "/v1/release", body);

    expect(res.decision).toBe("released");
    expect(existsSync(join(dir, RELEASE, job, "result.csv"))).toBe(true);
    const receipt = await receiptOf(v, res.receipt!);
    expect(receipt.parties).toEqual([
      { name: "hospital-a", datasets: ["scans"], approval: { imageDigest: SHARED, purpose: "survival model", approvedBy: "dpo@hospital-a.example" } },
      {
        name: "hospital-b",
        datasets: ["labs"],
        approval: { imageDigest: SHARED, purpose: "survival model", approvedBy: "dpo@hospital-b.example", expires: "2027-01-31" },
      },
    ]);
  });

  it("when /v1/verify asks for one party's dataset, then the receipt names that party only", async () => {
    const doc = consortium(await validSignature());
    const v = verifierFor(doc);
    const res = await call(v, "/v1/verify", await verifyRequest(doc, SHARED, "labs"));

    expect(res.decision).toBe("allow");
    const receipt = await receiptOf(v, res.receipt!);
    expect((receipt.parties as { name: string }[]).map((p) => p.name)).toEqual(["hospital-b"]);
  });
});

describe("given a digest approved by hospital-a only", () => {
  it("when a job reading both parties' datasets asks for a release, then it is denied naming hospital-b and its dataset, and nothing is released", async () => {
    const doc = consortium(await validSignature());
    const { job, body } = await releaseRequest(doc, ONLY_A, ["scans", "labs"]);

    const res = await call(verifierFor(doc), "/v1/release", body);

    expect(res.decision).toBe("deny");
    expect(codes(res)).toContain("party_approval_missing");
    expect(messageOf(res, "party_approval_missing")).toContain("Party hospital-b gave no holding approval");
    expect(messageOf(res, "party_approval_missing")).toContain("dataset labs");
    expect(existsSync(join(dir, RELEASE, job))).toBe(false);
  });

  it("when /v1/verify asks for hospital-b's dataset, then hospital-a's approval does not cover it; for hospital-a's own dataset it is allowed", async () => {
    const doc = consortium(await validSignature());
    const v = verifierFor(doc);

    const labs = await call(v, "/v1/verify", await verifyRequest(doc, ONLY_A, "labs"));
    const scans = await call(v, "/v1/verify", await verifyRequest(doc, ONLY_A, "scans"));

    expect(labs.decision).toBe("deny");
    expect(codes(labs)).toEqual(expect.arrayContaining(["image_not_approved_for_dataset", "party_approval_missing"]));
    expect(scans.decision).toBe("allow");
  });

  it("when hospital-b signs the image with the labs approver key instead, then its signature is its approval, named in the receipt", async () => {
    const labsKey = approverKey();
    const doc = consortium(await validSignature(), { jobKeyOfLabs: labsKey });
    const v = verifierFor(doc);
    const { body } = await releaseRequest(doc, ONLY_A, ["scans", "labs"], [imageSignature(labsKey, ONLY_A)]);

    const res = await call(v, "/v1/release", body);

    expect(res.decision).toBe("released");
    const parties = (await receiptOf(v, res.receipt!)).parties as { name: string; approval: Record<string, string> }[];
    expect(parties.find((p) => p.name === "hospital-b")?.approval).toEqual({ imageDigest: ONLY_A, keyId: labsKey.keyId, signatureAlgorithm: "ECDSA_P256_SHA256" });
  });
});

describe("given hospital-b's approvals signature is not valid for this document", () => {
  const cases: [string, () => Promise<string | undefined>, string][] = [
    ["missing", async () => undefined, "approvalsJws"],
    ["signed by another key", async () => signApprovals({ room: ROOM, party: "hospital-b", approvals: [B_SHARED] }, (await generateKeyPair("ES256")).privateKey), "does not verify"],
    ["for another room", () => signApprovals({ room: "other-room", party: "hospital-b", approvals: [B_SHARED] }), 'room "other-room"'],
    ["for another party", () => signApprovals({ room: ROOM, party: "hospital-a", approvals: [B_SHARED] }), 'party "hospital-a"'],
    ["of another type", () => signApprovals({ room: ROOM, party: "hospital-b", approvals: [B_SHARED] }, b.privateKey, "JWT"), "typ"],
    ["over other approvals (the purpose was widened after signing)", () => signApprovals({ room: ROOM, party: "hospital-b", approvals: [{ ...B_SHARED, purpose: "narrow" }] }), "not among the approvals"],
  ];

  it.each(cases)("when it is %s, then a release over both parties is denied party_approvals_unsigned naming hospital-b", async (_, jws, why) => {
    const doc = consortium(await jws());
    const { body } = await releaseRequest(doc, SHARED, ["scans", "labs"]);

    const res = await call(verifierFor(doc), "/v1/release", body);

    expect(res.decision).toBe("deny");
    expect(codes(res)).toContain("party_approvals_unsigned");
    expect(messageOf(res, "party_approvals_unsigned")).toContain("Party hospital-b, dataset labs");
    expect(messageOf(res, "party_approvals_unsigned")).toContain(why);
  });

  it("when it does not verify, then the verifier still starts and logs one WARNING naming hospital-b", async () => {
    const logs: AuditRecord[] = [];
    const doc = consortium(await signApprovals({ room: "other-room", party: "hospital-b", approvals: [B_SHARED] }));
    const v = createVerifier({ policy: doc, signer: generatedSigner(), jwks: { url: jwks.url }, clock: () => NOW_MS, log: (r) => logs.push(r) });

    expect((await v.handler({ method: "GET", path: "/healthz", headers: {} })).status).toBe(200);
    await call(v, "/v1/verify", await verifyRequest(doc, SHARED, "scans"));
    const warnings = logs.filter((r) => r.reasons.includes("party_approvals_unsigned"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ severity: "WARNING", clean_room: ROOM });
    expect(warnings[0].message).toContain("party hospital-b: approvals void");
  });

  it("when it is missing, then hospital-a's own dataset is still decided on hospital-a's approval", async () => {
    const doc = consortium(undefined);
    const res = await call(verifierFor(doc), "/v1/verify", await verifyRequest(doc, SHARED, "scans"));
    expect(res.decision).toBe("allow");
  });

  it("when the operator adds an approval for hospital-b that hospital-b did not sign, then it does not count", async () => {
    const added: VerifierApproval = { ...B_SHARED, imageDigest: ONLY_A };
    const doc = consortium(await validSignature(), { approvals: [added] });
    const res = await call(verifierFor(doc), "/v1/verify", await verifyRequest(doc, ONLY_A, "labs"));

    expect(res.decision).toBe("deny");
    expect(codes(res)).toContain("party_approvals_unsigned");
  });
});

describe("given a consortium document that breaks the contract", () => {
  const tampered: [string, (d: Record<string, any>) => void, string][] = [
    ["an approval of hospital-a names hospital-b's dataset", (d) => (d.approvals[0].datasets = ["scans", "labs"]), 'approvals[0].datasets[1]: "labs" is held by party "hospital-b"'],
    ["an approval names no party but a party's dataset", (d) => delete d.approvals[0].party, "this approval names no party"],
    ["an approval names an unknown party", (d) => (d.approvals[0].party = "hospital-c"), "approvals[0].party"],
    ["two parties hold one dataset", (d) => (d.parties[1].datasets = ["labs", "scans"]), 'already held by party "hospital-a"'],
    ["a party shares the operator's project", (d) => (d.parties[0].project = d.project), "each party needs its own"],
    ["a party has an unknown field", (d) => (d.parties[0].owners = []), "parties[0].owners: unknown field"],
    ["the pinned key carries its private part", (d) => (d.parties[1].approvalsKey.d = "AAAA"), "parties[1].approvalsKey.d: is a private key"],
    ["a party without a key carries a signature", (d) => (d.parties[0].approvalsJws = "a.b.c"), "parties[0].approvalsJws: is set without approvalsKey"],
    ["approvals name a party without a parties section", (d) => delete d.parties, "approvals[0].party: is set, but the policy has no parties section"],
  ];

  it.each(tampered)("when %s, then the verifier refuses it naming the field", async (_, tamper, message) => {
    const doc = JSON.parse(JSON.stringify(consortium(await validSignature())));
    expect(() => validatePolicyDocument(doc)).not.toThrow();
    tamper(doc);
    expect(() => validatePolicyDocument(doc)).toThrow(PolicyError);
    expect(() => validatePolicyDocument(doc)).toThrow(message);
  });
});

describe("given a single-project room", () => {
  it("when a token is allowed, then the receipt has no parties key", async () => {
    const doc = examplePolicyDocument().document;
    const v = verifierFor(doc);
    const token = await signToken(jobClaims(doc, { digest: doc.approvals[0].imageDigest, nonce: NONCE }), cs);

    const res = await call(v, "/v1/verify", { token, dataset: doc.approvals[0].datasets[0], nonce: NONCE });

    expect(res.decision).toBe("allow");
    expect(await receiptOf(v, res.receipt!)).not.toHaveProperty("parties");
  });
});
