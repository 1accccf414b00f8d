import { createHash } from "node:crypto";
import { compileAttributeCondition } from "../../lib/policy/condition";
import { VERIFIER_POLICY_VERSION, canonicalJson, compileVerifierPolicy } from "../../lib/policy/document";
import { CleanRoomPolicy } from "../../lib/policy/model";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B, examplePolicy } from "../util";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** The same value with object keys inserted in reverse order, at every level. */
function reverseKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reverseKeys) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)])) as T;
  }
  return value;
}

describe("the verifier policy document", () => {
  const policy = examplePolicy();
  const compiled = compileVerifierPolicy(policy);

  test("given the example, then the document is versioned and carries the room, the audience and the TEE identity", () => {
    expect(compiled.document).toMatchObject({
      version: VERIFIER_POLICY_VERSION,
      cleanRoom: "insurance-study",
      project: "acme-clean-room",
      issuer: "https://confidentialcomputing.googleapis.com",
      audience: "https://verifier.acme-clean-room.example.org/release",
      teeServiceAccount: "dcr-insurance-study-cvm-sa@acme-clean-room.iam.gserviceaccount.com",
      allowDebug: false,
      datasets: ["insurance", "claims"],
    });
    expect(VERIFIER_POLICY_VERSION).toBe(1);
  });

  test("given the example, then it contains exactly the CEL string the workload identity provider gets", () => {
    expect(compiled.document.attributeCondition).toBe(compileAttributeCondition(policy));
  });

  test("given an expiring and a never-expiring approval, then notAfter is the first instant after the last day, and only where it expires", () => {
    expect(compiled.document.approvals).toEqual([
      {
        imageDigest: EXAMPLE_DIGEST_A,
        datasets: ["insurance"],
        purpose: "XGBoost regression of insurance charges",
        approvedBy: "owner@example.org",
        expires: "2027-01-31",
        notAfter: "2027-02-01T00:00:00Z",
      },
      {
        imageDigest: EXAMPLE_DIGEST_B,
        datasets: ["insurance", "claims"],
        purpose: "Descriptive statistics of claims by region",
        approvedBy: "owner@example.org",
      },
    ]);
    expect(Object.keys(compiled.document.approvals[1])).not.toContain("notAfter");
  });

  test("given the compiled document, then json is its canonical JSON and sha256 the hex SHA-256 of those bytes", () => {
    expect(compiled.json).toBe(canonicalJson(compiled.document));
    expect(compiled.sha256).toBe(sha256(canonicalJson(compiled.document)));
    expect(compiled.sha256).toMatch(/^[0-9a-f]{64}$/);
    // Canonical: sorted keys, no whitespace, round-trips.
    expect(compiled.json.startsWith('{"allowDebug":false,"approvals":[{"approvedBy":')).toBe(true);
    expect(canonicalJson(JSON.parse(compiled.json))).toBe(compiled.json);
  });

  test("given the same policy with keys in another order, then the bytes and the hash are the same", () => {
    const shuffled = reverseKeys(policy) as CleanRoomPolicy;
    expect(Object.keys(shuffled)[0]).not.toBe(Object.keys(policy)[0]);
    const again = compileVerifierPolicy(shuffled);
    expect(again.json).toBe(compiled.json);
    expect(again.sha256).toBe(compiled.sha256);
  });

  test("given canonicalJson, then nested keys are sorted, undefined fields dropped and arrays keep their order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 1], c: undefined, b: "x" } })).toBe('{"a":{"b":"x","d":[3,1]},"b":1}');
  });

  test.each<[string, (p: CleanRoomPolicy) => CleanRoomPolicy]>([
    ["an approval's expiry", (p) => ({ ...p, approvals: [{ ...p.approvals[0], expires: "2027-02-01" }, p.approvals[1]] })],
    ["an approval's datasets", (p) => ({ ...p, approvals: [p.approvals[0], { ...p.approvals[1], datasets: ["insurance"] }] })],
    ["an approval's digest", (p) => ({ ...p, approvals: [{ ...p.approvals[0], imageDigest: `sha256:${"0".repeat(64)}` }, p.approvals[1]] })],
    ["a revoked approval", (p) => ({ ...p, approvals: [p.approvals[1]] })],
    ["allowing debug", (p) => ({ ...p, tee: { ...p.tee, allowDebug: true } })],
    ["the audience", (p) => ({ ...p, verifier: { audience: "https://other.example.org/release" } })],
  ])("given a change to %s, then the hash changes", (_change, change) => {
    expect(compileVerifierPolicy(change(policy)).sha256).not.toBe(compiled.sha256);
  });
});
