/**
 * Start-up: the policy document is validated and hashed exactly as `manatee policy` hashes
 * it, the configuration comes from the environment (file, or GCS pinned by sha256), and
 * every bad setting stops the start with a message naming the variable and the fix.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileVerifierPolicy } from "../../lib/policy/document";
import { EXAMPLE_DIGEST_A, examplePolicy } from "../../test/util";
import { verifierFromEnv } from "../src/config";
import { canonicalJson, planAttributeCondition, policySha256, toCel, validatePolicyDocument } from "../src/policy";
import { ecThumbprint } from "../src/signers";
import { examplePolicyDocument, serve, TestServer } from "./helpers";

const compiled = examplePolicyDocument();
const doc = compiled.document;
const dir = mkdtempSync(join(tmpdir(), "verifier-config-"));
const policyFile = join(dir, "policy.json");
writeFileSync(policyFile, `${JSON.stringify(doc, null, 2)}\n`);
const quiet = { overrides: { log: () => undefined, prefetchJwks: false } };

describe("given policies compiled by lib/policy", () => {
  it.each([
    ["the example clean room", examplePolicy()],
    ["a debug-allowing room", examplePolicy({ tee: { hardware: ["GCP_AMD_SEV", "GCP_INTEL_TDX"], allowDebug: true } })],
    [
      "a room with non-ASCII approval text",
      examplePolicy({
        approvals: [
          {
            imageDigest: EXAMPLE_DIGEST_A,
            datasets: ["claims"],
            purpose: "Étude des sinistres — «Île-de-France» 📊",
            approvedBy: "propriétaire@example.org",
          },
        ],
      }),
    ],
  ])("when %s is hashed by the verifier, then it equals compileVerifierPolicy's sha256", (_name, policy) => {
    const c = compileVerifierPolicy(policy);
    const roundTripped = JSON.parse(JSON.stringify(c.document, null, 2));
    expect(canonicalJson(roundTripped)).toBe(c.json);
    expect(policySha256(validatePolicyDocument(roundTripped))).toBe(c.sha256);
  });
});

describe("given claims as the attribute condition sees them", () => {
  const claims = JSON.parse('{"a":{"b":[{"c":1}],"e":[]},"__proto__":{"polluted":true},"n":11129,"s":null}');

  it("then objects are maps at every depth, arrays lists, and a claim named __proto__ is only data", () => {
    const cel = toCel(claims) as Map<string, unknown>;
    expect([...cel.keys()]).toEqual(["a", "__proto__", "n", "s"]);
    const a = cel.get("a") as Map<string, unknown>;
    expect(a.get("b")).toEqual([new Map([["c", 1]])]);
    expect(a.get("e")).toEqual([]);
    expect(cel.get("__proto__")).toEqual(new Map([["polluted", true]]));
    expect(cel.get("s")).toBeNull();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("when a condition reads nested maps, lists, numbers and the __proto__ claim, then CEL sees exactly the claims", () => {
    const condition = planAttributeCondition(
      "assertion.a.b[0].c == 1.0 && size(assertion.a.e) == 0 && assertion['__proto__'].polluted && assertion.n == 11129.0"
    );
    expect(condition(claims)).toEqual({ ok: true, value: true });
    expect(planAttributeCondition("assertion.a.b[0].c == 2.0")(claims)).toEqual({ ok: true, value: false });
    expect(planAttributeCondition("assertion.missing.x == 'y'")(claims)).toMatchObject({ ok: false });
  });
});

describe("given a policy document that is not what `manatee policy` writes", () => {
  const approval0 = doc.approvals[0];
  it.each<[string, unknown, string]>([
    ["not an object", [doc], "policy: expected a JSON object, got an array."],
    [
      "an unknown field",
      { ...doc, requireNonces: true },
      "policy.requireNonces: unknown field (this verifier understands version, cleanRoom, project, issuer, audience, attributeCondition, teeServiceAccount, allowDebug, requireNonce, datasets, approvals, jobApprovals, release, parties, budgets).",
    ],
    [
      "requireNonce as a string",
      { ...doc, requireNonce: "false" },
      'policy.requireNonce: expected a boolean, got "false".',
    ],
    [
      "another issuer",
      { ...doc, issuer: "https://confidentialcomputing.googleapis.com/" },
      'policy.issuer: expected exactly "https://confidentialcomputing.googleapis.com", got "https://confidentialcomputing.googleapis.com/".',
    ],
    ["an empty audience", { ...doc, audience: "" }, 'policy.audience: expected a non-empty string, got "".'],
    [
      "a condition that is not CEL",
      { ...doc, attributeCondition: "assertion.swname ==" },
      "policy.attributeCondition does not compile as CEL",
    ],
    [
      "a condition that constrains nothing",
      { ...doc, attributeCondition: "true || assertion.x" },
      "policy.attributeCondition: is true for a token with no claims at all, so it constrains nothing.",
    ],
    ["a duplicate dataset", { ...doc, datasets: ["insurance", "insurance"] }, 'policy.datasets[1]: duplicate dataset "insurance".'],
    [
      "an approval for an unknown dataset",
      { ...doc, approvals: [{ ...approval0, datasets: ["payroll"] }] },
      'policy.approvals[0].datasets[0]: "payroll" is not a dataset of the policy (known: insurance, claims).',
    ],
    [
      "an upper-case digest",
      { ...doc, approvals: [{ ...approval0, imageDigest: approval0.imageDigest.toUpperCase() }] },
      "policy.approvals[0].imageDigest: expected sha256:<64 lowercase hex>",
    ],
    [
      "an expiry without notAfter",
      { ...doc, approvals: [{ ...approval0, notAfter: undefined }] },
      "policy.approvals[0].notAfter: is missing although expires is set.",
    ],
    [
      "a local-time notAfter",
      { ...doc, approvals: [{ ...approval0, notAfter: "2027-02-01T00:00:00+01:00" }] },
      'policy.approvals[0].notAfter: expected an RFC 3339 UTC instant (e.g. 2027-02-01T00:00:00Z), got "2027-02-01T00:00:00+01:00".',
    ],
  ])("when it has %s, then validation names the field", (_name, raw, message) => {
    expect(() => validatePolicyDocument(JSON.parse(JSON.stringify(raw)))).toThrow(message);
  });
});

describe("given a policy with per-job approvals and release settings", () => {
  const keyA = "a".repeat(64);
  const keyB = "b".repeat(64);
  const cond = (key: string) => `assertion.swname == 'CONFIDENTIAL_SPACE' && 'ECDSA_P256_SHA256:${key}' in assertion.submods.container.image_signatures.map(s, s.signature_algorithm + ':' + s.key_id)`;
  const job0 = { dataset: "insurance", keyId: keyA, signatureAlgorithm: "ECDSA_P256_SHA256", attributeCondition: cond(keyA) };
  const release = { quarantineBucket: "acme-quarantine", releaseBucket: "acme-release", instancePrefix: "manatee-job" };
  const withJobs = { ...doc, jobApprovals: [job0, { ...job0, dataset: "claims", keyId: keyB, attributeCondition: cond(keyB) }], release };

  it("when it is valid, then it is accepted and hashed over its new fields", () => {
    const validated = validatePolicyDocument(JSON.parse(JSON.stringify(withJobs)));
    expect(validated.jobApprovals).toHaveLength(2);
    expect(policySha256(validated)).not.toBe(compiled.sha256);
  });

  it("when the fields are absent (or undefined), then the document keeps its exact hash", () => {
    // A document written before these fields existed: the example without them.
    const { jobApprovals: _j, release: _r, ...before } = doc;
    expect(policySha256({ ...before, jobApprovals: undefined, release: undefined })).toBe(policySha256(before as typeof doc));
    expect(canonicalJson({ ...before, jobApprovals: undefined, release: undefined })).toBe(canonicalJson(before));
    expect(canonicalJson(before)).not.toContain('"release":');
  });

  it.each<[string, unknown, string]>([
    ["jobApprovals that is not an array", { ...withJobs, jobApprovals: {} }, "policy.jobApprovals: expected an array, got an object."],
    [
      "a job approval for an unknown dataset",
      { ...withJobs, jobApprovals: [{ ...job0, dataset: "payroll" }] },
      'policy.jobApprovals[0].dataset: "payroll" is not a dataset of the policy (known: insurance, claims).',
    ],
    ["an unknown job approval field", { ...withJobs, jobApprovals: [{ ...job0, expires: "2027-01-01" }] }, "policy.jobApprovals[0].expires: unknown field."],
    ["an upper-case key id", { ...withJobs, jobApprovals: [{ ...job0, keyId: keyA.toUpperCase() }] }, "policy.jobApprovals[0].keyId: expected 64 lowercase hex"],
    ["a short key id", { ...withJobs, jobApprovals: [{ ...job0, keyId: "ab" }] }, "policy.jobApprovals[0].keyId: expected 64 lowercase hex"],
    [
      "another algorithm",
      { ...withJobs, jobApprovals: [{ ...job0, signatureAlgorithm: "RSASSA_PSS_SHA256" }] },
      'policy.jobApprovals[0].signatureAlgorithm: expected "ECDSA_P256_SHA256", got "RSASSA_PSS_SHA256".',
    ],
    [
      "a condition over Google's limit",
      { ...withJobs, jobApprovals: [{ ...job0, attributeCondition: `${cond(keyA)} && ${"true && ".repeat(600)}true` }] },
      "policy.jobApprovals[0].attributeCondition: is longer than Google's 4096-character limit.",
    ],
    [
      "a condition that is not CEL",
      { ...withJobs, jobApprovals: [{ ...job0, attributeCondition: "assertion.swname ==" }] },
      "policy.jobApprovals[0].attributeCondition does not compile as CEL",
    ],
    [
      "a condition that constrains nothing",
      { ...withJobs, jobApprovals: [{ ...job0, attributeCondition: "true" }] },
      "policy.jobApprovals[0].attributeCondition: is true for a token with no claims at all",
    ],
    [
      "two entries for one dataset",
      { ...withJobs, jobApprovals: [job0, { ...job0, keyId: keyB }] },
      'policy.jobApprovals[1].dataset: "insurance" already has an entry (jobApprovals[0]).',
    ],
    [
      "one key for two datasets",
      { ...withJobs, jobApprovals: [job0, { ...job0, dataset: "claims" }] },
      "policy.jobApprovals[1].keyId: is also the key of jobApprovals[0]; each dataset needs its own approver key.",
    ],
    ["release that is not an object", { ...withJobs, release: "acme-release" }, 'policy.release: expected an object, got "acme-release".'],
    ["an unknown release field", { ...withJobs, release: { ...release, ttl: 3 } }, "policy.release.ttl: unknown field."],
    [
      "a bucket name with a slash",
      { ...withJobs, release: { ...release, releaseBucket: "acme/release" } },
      'policy.release.releaseBucket: expected a Cloud Storage bucket name, got "acme/release".',
    ],
    ["an upper-case bucket", { ...withJobs, release: { ...release, quarantineBucket: "Acme" } }, "policy.release.quarantineBucket: expected a Cloud Storage bucket name"],
    ["one bucket for both", { ...withJobs, release: { ...release, releaseBucket: "acme-quarantine" } }, "policy.release.releaseBucket: must differ from release.quarantineBucket."],
    [
      "an instance prefix starting with a digit",
      { ...withJobs, release: { ...release, instancePrefix: "1job" } },
      "policy.release.instancePrefix: expected 1-26 lowercase letters",
    ],
    ["a 27-character instance prefix", { ...withJobs, release: { ...release, instancePrefix: `j${"x".repeat(26)}` } }, "policy.release.instancePrefix"],
  ])("when it has %s, then validation names the field", (_name, raw, message) => {
    expect(() => validatePolicyDocument(JSON.parse(JSON.stringify(raw)))).toThrow(message);
  });
});

describe("given the environment of the local server", () => {
  it("when VERIFIER_POLICY_FILE and a PKCS#8 key file are set, then receipts are signed with that key", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const keyFile = join(dir, "receipt-key.pem");
    writeFileSync(keyFile, privateKey.export({ format: "pem", type: "pkcs8" }));
    const v = await verifierFromEnv(
      { VERIFIER_POLICY_FILE: policyFile, VERIFIER_SIGNING_KEY_FILE: keyFile, VERIFIER_POLICY_SHA256: compiled.sha256 },
      quiet
    );
    expect(v.policySha256).toBe(compiled.sha256);
    expect(v.receiptJwks.keys[0].kid).toBe(
      ecThumbprint(privateKey.export({ format: "jwk" }) as { kty: string; crv: string; x: string; y: string })
    );
  });

  it("when the key file holds a private JWK, then it is accepted too", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const keyFile = join(dir, "receipt-key.jwk.json");
    writeFileSync(keyFile, JSON.stringify(privateKey.export({ format: "jwk" })));
    const v = await verifierFromEnv({ VERIFIER_POLICY_FILE: policyFile, VERIFIER_SIGNING_KEY_FILE: keyFile }, quiet);
    expect(v.receiptJwks.keys[0].x).toBe((privateKey.export({ format: "jwk" }) as { x: string }).x);
  });

  it.each<[string, Record<string, string>, string]>([
    [
      "no policy",
      {},
      "No policy: set VERIFIER_POLICY_FILE (the JSON printed by `npx manatee policy`) or VERIFIER_POLICY_URI + VERIFIER_POLICY_SHA256.",
    ],
    [
      "a typo in a variable name",
      { VERIFIER_POLICY_FLIE: "x" },
      "VERIFIER_POLICY_FLIE: unknown setting(s). The verifier reads VERIFIER_POLICY_FILE,",
    ],
    [
      "both policy sources",
      { VERIFIER_POLICY_FILE: "a", VERIFIER_POLICY_URI: "gs://b/o" },
      "VERIFIER_POLICY_FILE and VERIFIER_POLICY_URI are both set; set exactly one.",
    ],
    [
      "a pin that is not a sha256",
      { VERIFIER_POLICY_FILE: "a", VERIFIER_POLICY_SHA256: "abc" },
      'VERIFIER_POLICY_SHA256: expected 64 hex characters (as printed by `npx manatee policy`), got "abc".',
    ],
    [
      "a missing file",
      { VERIFIER_POLICY_FILE: join(dir, "nope.json") },
      `VERIFIER_POLICY_FILE (${join(dir, "nope.json")}): cannot read it`,
    ],
    [
      "a pin of another policy",
      { VERIFIER_POLICY_FILE: policyFile, VERIFIER_POLICY_SHA256: "0".repeat(64) },
      `VERIFIER_POLICY_FILE (${policyFile}): sha256 of the canonical policy is ${
        compiled.sha256
      }, but VERIFIER_POLICY_SHA256 pins ${"0".repeat(
        64
      )}. Refusing to start with a policy other than the deployed one; redeploy the verifier or fix the pin.`,
    ],
    [
      "a GCS policy without a pin",
      { VERIFIER_POLICY_URI: "gs://bucket/policy.json", VERIFIER_AUDIT_BUCKET: "audit-bucket" },
      "VERIFIER_POLICY_SHA256 is required with VERIFIER_POLICY_URI: the verifier only runs the policy that was deployed.",
    ],
    [
      "a GCS policy without the audit bucket (replays could reach another instance)",
      { VERIFIER_POLICY_URI: "gs://bucket/policy.json", VERIFIER_POLICY_SHA256: compiled.sha256, VERIFIER_AUDIT_BUCKET: "" },
      "VERIFIER_AUDIT_BUCKET is required with VERIFIER_POLICY_URI: without the shared audit bucket a replayed token could be allowed by another instance.",
    ],
    [
      "an audit directory without its bucket",
      { VERIFIER_POLICY_FILE: policyFile, VERIFIER_AUDIT_DIR: dir },
      "VERIFIER_AUDIT_DIR is set without VERIFIER_AUDIT_BUCKET; name the bucket its directory holds.",
    ],
    [
      "an audit bucket given as a URL",
      { VERIFIER_POLICY_FILE: policyFile, VERIFIER_AUDIT_BUCKET: "gs://audit" },
      'VERIFIER_AUDIT_BUCKET: expected a bucket name (not a gs:// URL), got "gs://audit".',
    ],
    [
      "a URI that is not gs://",
      { VERIFIER_POLICY_URI: "https://bucket/policy.json", VERIFIER_POLICY_SHA256: compiled.sha256, VERIFIER_AUDIT_BUCKET: "audit-bucket" },
      "VERIFIER_POLICY_URI (https://bucket/policy.json): not of the form gs://BUCKET/OBJECT.",
    ],
    [
      "two receipt keys",
      { VERIFIER_POLICY_FILE: policyFile, VERIFIER_SIGNING_KEY_FILE: "k", VERIFIER_KMS_KEY_VERSION: "v" },
      "VERIFIER_KMS_KEY_VERSION and VERIFIER_SIGNING_KEY_FILE are both set; set exactly one.",
    ],
    [
      "a key file that is not a key",
      { VERIFIER_POLICY_FILE: policyFile, VERIFIER_SIGNING_KEY_FILE: policyFile },
      `VERIFIER_SIGNING_KEY_FILE (${policyFile}): not a private key. Expected a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") or a private EC JWK (with "d").`,
    ],
    [
      "no receipt key outside local development",
      { VERIFIER_POLICY_FILE: policyFile },
      "No receipt key: set VERIFIER_KMS_KEY_VERSION (Cloud KMS, EC_SIGN_P256_SHA256) or VERIFIER_SIGNING_KEY_FILE.",
    ],
  ])("when it has %s, then the start fails with a message naming the variable", async (_name, env, message) => {
    await expect(verifierFromEnv(env, quiet)).rejects.toThrow(message);
  });

  it("when the receipt key is RSA, then it is refused: receipts are ES256", async () => {
    const keyFile = join(dir, "rsa.pem");
    writeFileSync(keyFile, generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ format: "pem", type: "pkcs8" }));
    await expect(verifierFromEnv({ VERIFIER_POLICY_FILE: policyFile, VERIFIER_SIGNING_KEY_FILE: keyFile }, quiet)).rejects.toThrow(
      `VERIFIER_SIGNING_KEY_FILE (${keyFile}): expected an EC P-256 key for ES256 receipts, got rsa.`
    );
  });
});

describe("given the policy delivered as a GCS object (the cloud deployment)", () => {
  let metadata: TestServer;
  let storage: TestServer;
  let served = compiled.json;
  const seen: { url?: string; auth?: string } = {};

  beforeAll(async () => {
    metadata = await serve((req, res) => {
      res.setHeader("metadata-flavor", "Google");
      res.end(
        JSON.stringify({ access_token: req.headers["metadata-flavor"] === "Google" ? "ya29.policy-reader" : "wrong", expires_in: 3599 })
      );
    });
    storage = await serve((req, res) => {
      seen.url = req.url;
      seen.auth = req.headers.authorization;
      res.end(served);
    });
  });

  afterAll(async () => {
    await Promise.all([metadata.close(), storage.close()]);
  });

  const env = () => ({
    VERIFIER_POLICY_URI: "gs://acme-clean-room-verifier/policies/insurance-study.json",
    VERIFIER_POLICY_SHA256: compiled.sha256,
    VERIFIER_METADATA_URL: metadata.url,
    VERIFIER_STORAGE_URL: storage.url,
    VERIFIER_AUDIT_BUCKET: "acme-clean-room-insurance-study-verifier-audit",
  });

  it("when the object matches the pinned sha256, then the verifier starts with it, fetched with a metadata-server token", async () => {
    served = compiled.json;
    const v = await verifierFromEnv(env(), { ...quiet, allowEphemeralKey: true });
    expect(v.policySha256).toBe(compiled.sha256);
    expect(v.replayStore).toBe(`Cloud Storage ${storage.url}, bucket acme-clean-room-insurance-study-verifier-audit, replay/<token sha256>`);
    expect(seen).toEqual({
      url: "/storage/v1/b/acme-clean-room-verifier/o/policies%2Finsurance-study.json?alt=media",
      auth: "Bearer ya29.policy-reader",
    });
  });

  it("when the object was changed after deployment, then the verifier refuses to start", async () => {
    const tampered = { ...doc, approvals: [...doc.approvals, { ...doc.approvals[1], imageDigest: `sha256:${"cd".repeat(32)}` }] };
    served = JSON.stringify(tampered);
    await expect(verifierFromEnv(env(), { ...quiet, allowEphemeralKey: true })).rejects.toThrow(
      `VERIFIER_POLICY_URI (gs://acme-clean-room-verifier/policies/insurance-study.json): sha256 of the canonical policy is ${policySha256(
        tampered
      )}, but VERIFIER_POLICY_SHA256 pins ${compiled.sha256}.`
    );
  });

  it("when the object is not JSON, then it says so without quoting it", async () => {
    served = "<html>not found</html>";
    await expect(verifierFromEnv(env(), { ...quiet, allowEphemeralKey: true })).rejects.toThrow(
      "VERIFIER_POLICY_URI (gs://acme-clean-room-verifier/policies/insurance-study.json): not valid JSON. Write it with `npx manatee policy > FILE`."
    );
  });
});
