/**
 * Replay-proof decisions on real signed tokens: a nonce is required unless the policy turns it
 * off, and each token is decided once, also across verifier instances that share one audit
 * store (the create-only marker replay/<sha256(token)>).
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditRecord } from "../src/audit";
import { verifierFromEnv } from "../src/config";
import { ObjectStore, localObjectStore } from "../src/object-store";
import { generatedSigner } from "../src/signers";
import { createVerifier, Verifier, VerifierOptions } from "../src/verifier";
import { REASONS } from "../src/reasons";
import { noApproverKeys } from "../../test/policy/job-fixtures";
import { NOW_MS, RsaKey, examplePolicyDocument, jwksServer, rsaKey, signToken, tokenClaims } from "./helpers";

const doc = examplePolicyDocument(noApproverKeys()).document;
const NONCE = "a3f1c0de9b7e4d2a8c6f5e4d3c2b1a09";
const AUDIT_BUCKET = "acme-clean-room-insurance-study-verifier-audit";
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

let cs: RsaKey;
let jwks: Awaited<ReturnType<typeof jwksServer>>;
let issued = 0;
const logs: AuditRecord[] = [];

beforeAll(async () => {
  cs = await rsaKey("cs-key-1");
  jwks = await jwksServer([cs.jwk]);
});
afterAll(() => jwks.close());

function verifier(options: Partial<VerifierOptions> = {}): Verifier {
  return createVerifier({ policy: doc, signer: generatedSigner(), jwks: { url: jwks.url }, clock: () => NOW_MS, log: (r) => logs.push(r), ...options });
}

/** A token of its own: eat_nonce carries NONCE and one value no other token has. */
const freshToken = () => signToken(tokenClaims(doc, NOW_MS, { eat_nonce: [NONCE, `token-${++issued}`] }), cs);

async function ask(v: Verifier, body: Record<string, unknown>) {
  const res = await v.handler({ method: "POST", path: "/v1/verify", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: JSON.parse(res.body) as { decision?: string; reasons?: { code: string }[]; receipt?: string; error?: { code: string } } };
}
const codes = (r: { body: { reasons?: { code: string }[] } }) => (r.body.reasons ?? []).map((x) => x.code);
const receiptClaims = (receipt: string) => JSON.parse(Buffer.from(receipt.split(".")[1], "base64url").toString());

describe("given the nonce rule", () => {
  it("when the room leaves requireNonce at its default, then the document says true and a request without nonce is denied", async () => {
    expect(doc.requireNonce).toBe(true);
    const res = await ask(verifier(), { token: await freshToken(), dataset: "insurance" });
    expect(res.body).toEqual({ decision: "deny", reasons: [{ code: "nonce_required", message: REASONS.nonce_required }] });
  });

  it("when the room file turns it off (verifier.requireNonce: false), then the same request is allowed and the receipt's nonce is null", async () => {
    const room = noApproverKeys();
    const relaxed = examplePolicyDocument({ ...room, verifier: { ...room.verifier, requireNonce: false } }).document;
    expect(relaxed.requireNonce).toBe(false);
    const res = await ask(verifier({ policy: relaxed }), { token: await freshToken(), dataset: "insurance" });
    expect(res.body.decision).toBe("allow");
    expect(receiptClaims(res.body.receipt!).nonce).toBeNull();
  });

  it("when a document predates the field (no requireNonce), then the nonce is required all the same", async () => {
    const { requireNonce: _dropped, ...older } = doc;
    const res = await ask(verifier({ policy: older }), { token: await freshToken(), dataset: "insurance" });
    expect(codes(res)).toEqual(["nonce_required"]);
  });

  it("when the request names a nonce the token carries, then the receipt and the audit record name it", async () => {
    const res = await ask(verifier(), { token: await freshToken(), dataset: "insurance", nonce: NONCE });
    expect(receiptClaims(res.body.receipt!).nonce).toBe(NONCE);
    expect(logs.at(-1)).toMatchObject({ decision: "allow", nonce: NONCE });
  });
});

describe("given one verifier", () => {
  it("when the same token is decided twice, then the first is allowed and the second denied token_replayed, without a receipt", async () => {
    const v = verifier();
    const token = await freshToken();
    expect((await ask(v, { token, dataset: "insurance", nonce: NONCE })).body.decision).toBe("allow");
    const again = await ask(v, { token, dataset: "insurance", nonce: NONCE });
    expect(again.body).toEqual({ decision: "deny", reasons: [{ code: "token_replayed", message: REASONS.token_replayed }] });
    expect(logs.at(-1)).toMatchObject({ decision: "deny", reasons: ["token_replayed"], token_sha256: sha256(token), nonce: NONCE });
  });

  it("when a token was denied, then it left no marker: the corrected request with it is still decided", async () => {
    const v = verifier();
    const token = await freshToken();
    expect(codes(await ask(v, { token, dataset: "claims", nonce: NONCE }))).toEqual(["image_not_approved_for_dataset"]);
    expect((await ask(v, { token, dataset: "insurance", nonce: NONCE })).body.decision).toBe("allow");
  });

  it("when the store cannot create the marker, then no receipt leaves (503 storage_unavailable) and the error is on the audit trail", async () => {
    const broken: ObjectStore = {
      read: async () => undefined,
      write: async () => undefined,
      createIfAbsent: async () => {
        throw new Error("Cloud Storage: create-only upload answered 503");
      },
    };
    const res = await ask(verifier({ replayStore: { store: broken, bucket: AUDIT_BUCKET } }), { token: await freshToken(), dataset: "insurance", nonce: NONCE });
    expect(res.status).toBe(503);
    expect(res.body.error?.code).toBe("storage_unavailable");
    expect(res.body).not.toHaveProperty("receipt");
    expect(logs.at(-1)).toMatchObject({ severity: "ERROR", decision: "error", reasons: ["storage_unavailable"] });
  });
});

describe("given two verifier instances sharing one audit bucket", () => {
  const dir = mkdtempSync(join(tmpdir(), "verifier-replay-"));
  const shared = () => verifier({ replayStore: { store: localObjectStore(dir), bucket: AUDIT_BUCKET } });

  it("when a token allowed by one is replayed to the other, then the other denies it token_replayed", async () => {
    const [a, b] = [shared(), shared()];
    const token = await freshToken();
    const first = await ask(a, { token, dataset: "insurance", nonce: NONCE });
    expect(first.body.decision).toBe("allow");
    expect(codes(await ask(b, { token, dataset: "insurance", nonce: NONCE }))).toEqual(["token_replayed"]);
    // The marker is the bucket's object replay/<sha256(token)>, naming the receipt it was decided with.
    const marker = JSON.parse(readFileSync(join(dir, AUDIT_BUCKET, "replay", sha256(token)), "utf8"));
    expect(marker).toMatchObject({ decision: "allow", token_sha256: sha256(token), receipt_jti: receiptClaims(first.body.receipt!).jti, nonce: NONCE });
  });

  it("when both receive the same token at once, then exactly one allows", async () => {
    const token = await freshToken();
    const answers = await Promise.all([shared(), shared(), shared()].map((v) => ask(v, { token, dataset: "insurance", nonce: NONCE })));
    expect(answers.map((a) => a.body.decision).sort()).toEqual(["allow", "deny", "deny"]);
    expect(answers.filter((a) => a.body.decision === "deny").flatMap(codes)).toEqual(["token_replayed", "token_replayed"]);
  });

  it("when both are configured from the environment (VERIFIER_AUDIT_BUCKET + VERIFIER_AUDIT_DIR), then the replay is caught across them", async () => {
    const work = mkdtempSync(join(tmpdir(), "verifier-replay-env-"));
    const policyFile = join(work, "policy.json");
    writeFileSync(policyFile, JSON.stringify(doc));
    const keyFile = join(work, "receipt.pem");
    writeFileSync(keyFile, generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ format: "pem", type: "pkcs8" }));
    const env = { VERIFIER_POLICY_FILE: policyFile, VERIFIER_SIGNING_KEY_FILE: keyFile, VERIFIER_JWKS_URL: jwks.url, VERIFIER_AUDIT_BUCKET: AUDIT_BUCKET, VERIFIER_AUDIT_DIR: work };
    const quiet = { overrides: { clock: () => NOW_MS, log: () => undefined } };
    const [a, b] = await Promise.all([verifierFromEnv(env, quiet), verifierFromEnv(env, quiet)]);
    const token = await freshToken();
    expect((await ask(a, { token, dataset: "insurance", nonce: NONCE })).body.decision).toBe("allow");
    expect(codes(await ask(b, { token, dataset: "insurance", nonce: NONCE }))).toEqual(["token_replayed"]);
    expect(existsSync(join(work, AUDIT_BUCKET, "replay", sha256(token)))).toBe(true);
  });
});
