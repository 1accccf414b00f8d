/**
 * The verifier policy document: validated once at start, hashed exactly as
 * `manatee policy` hashes it, and its attribute condition planned once.
 */
import { createHash } from "node:crypto";
import { validateBudgets } from "./budget";
import { CelScalar, celEnv, isCelError, mapType, parse, plan } from "@bufbuild/cel";
// Type only: erased at compile time, so the function zip never needs lib/.
// The document's types, consortium fields included, are lib/policy's: one definition of the contract.
import type {
  VerifierApproval,
  VerifierJobApproval,
  VerifierParty,
  VerifierPolicyDocument,
  VerifierProvisioningDestination,
  VerifierReleaseSettings,
} from "../../lib/policy/document";
import type { PartyApprovalsJwk } from "../../lib/policy/model";
import { describe, isObject } from "./describe";
import { checkApprovalParty, checkParties } from "./party-document";
import { approvalGpuProblem } from "./gpu";
import { checkProvisioningDestinations } from "./destination";

export type { PartyApprovalsJwk, VerifierApproval, VerifierJobApproval, VerifierParty, VerifierPolicyDocument, VerifierProvisioningDestination, VerifierReleaseSettings };

export const CONFIDENTIAL_SPACE_ISSUER = "https://confidentialcomputing.googleapis.com";
export const SUPPORTED_POLICY_VERSION = 1;
/** Google's limit on a workload identity provider's attribute condition. */
const ATTRIBUTE_CONDITION_MAX_LENGTH = 4096;
/** Confidential Space rejects custom audiences longer than this. */
const AUDIENCE_MAX_BYTES = 512;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
/** Confidential Space's key_id: lowercase hex SHA-256 of the DER public key. */
const KEY_ID = /^[0-9a-f]{64}$/;
/** The one signature algorithm of an approver key (Cloud KMS EC_SIGN_P256_SHA256). */
export const JOB_SIGNATURE_ALGORITHM = "ECDSA_P256_SHA256";
/** GCS bucket names: 3-63 characters (222 with dots), lowercase, digits, `-`, `_`, `.`. */
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
/** As the job service's launch.instancePrefix: `<prefix>-<uuid>` stays within GCE's 63 characters. */
const INSTANCE_PREFIX = /^[a-z][-a-z0-9]{0,25}$/;

function isBucketName(b: unknown): boolean {
  return typeof b === "string" && BUCKET.test(b) && (b.includes(".") || b.length <= 63) && !b.includes("..");
}

/** A policy the verifier refuses to run with. The message names the field and the fix. */
export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PolicyError";
  }
}

/**
 * JSON with object keys sorted at every level. Re-implemented (not imported from lib/)
 * so the zip stays self-contained; a test pins it to lib/policy/document.ts's hash.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The hash `manatee policy` prints and the deploy construct pins. */
export function policySha256(document: VerifierPolicyDocument): string {
  return sha256Hex(canonicalJson(document));
}

/** A planned attribute condition: true only when the expression yields boolean true. */
export type PlannedCondition = (claims: unknown) => { ok: true; value: boolean } | { ok: false; error: string };

const CEL_ENV = celEnv({ variables: { assertion: mapType(CelScalar.STRING, CelScalar.DYN) } });

/** Parse and plan the CEL string once; evaluation per request is a plain function call. */
export function planAttributeCondition(condition: string, field = "attributeCondition"): PlannedCondition {
  let program: (ctx: { assertion: Map<string, never> }) => unknown;
  try {
    program = plan(CEL_ENV, parse(condition));
  } catch (err) {
    throw new PolicyError(
      `policy.${field} does not compile as CEL (${errorMessage(err)}). ` +
        "Regenerate the document with `npx manatee policy` instead of editing it by hand."
    );
  }
  return (claims) => {
    try {
      const result = program({ assertion: toCel(claims) as Map<string, never> });
      if (isCelError(result)) return { ok: false, error: result.message };
      return { ok: true, value: result === true };
    } catch (err) {
      return { ok: false, error: errorMessage(err) };
    }
  };
}

/**
 * Claims as CEL values: objects become maps, arrays lists, JSON numbers doubles (as in
 * Google's STS, which sees claims through google.protobuf.Struct). Maps, not plain
 * objects, so no claim name can make the engine treat a map as a protobuf message.
 */
export function toCel(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(toCel);
  const object = value as Record<string, unknown>;
  const map = new Map<string, unknown>();
  // Object.keys, not entries: no [key, value] pair per claim (per request, on the event loop).
  for (const k of Object.keys(object)) map.set(k, toCel(object[k]));
  return map;
}

/** Whether `/v1/verify` requires a nonce: the document's `requireNonce`, true when absent. */
export function requiresNonce(document: VerifierPolicyDocument): boolean {
  return document.requireNonce ?? true;
}

/** Validate a parsed policy document; throws PolicyError naming the first bad field. */
export function validatePolicyDocument(raw: unknown): VerifierPolicyDocument {
  return preparePolicy(raw).document;
}

/** A validated policy with everything planned: what the verifier needs, done once. */
export interface PreparedPolicy {
  readonly document: VerifierPolicyDocument;
  readonly sha256: string;
  /** The room's attribute condition. */
  readonly condition: PlannedCondition;
  /** The planned condition of each `jobApprovals` entry, in the same order. */
  readonly jobConditions: readonly PlannedCondition[];
}

/** Validate, hash and plan a policy document: everything the verifier needs, done once. */
export function preparePolicy(raw: unknown): PreparedPolicy {
  const fix = "Regenerate it with `npx manatee policy` from the clean-room config.";
  const fail = (field: string, problem: string): never => {
    throw new PolicyError(`policy.${field}: ${problem}. ${fix}`);
  };
  if (!isObject(raw)) throw new PolicyError(`policy: expected a JSON object, got ${describe(raw)}. ${fix}`);

  const known = [
    "version",
    "cleanRoom",
    "project",
    "issuer",
    "audience",
    "attributeCondition",
    "teeServiceAccount",
    "allowDebug",
    "requireNonce",
    "datasets",
    "approvals",
    "jobApprovals",
    "release",
    "parties",
    "budgets",
  ];
  for (const key of Object.keys(raw)) {
    // A field this verifier does not understand could be a rule it would silently skip.
    if (!known.includes(key)) fail(key, `unknown field (this verifier understands ${known.join(", ")})`);
  }
  if (raw.version !== SUPPORTED_POLICY_VERSION) {
    fail("version", `expected ${SUPPORTED_POLICY_VERSION}, got ${describe(raw.version)}`);
  }
  for (const field of ["cleanRoom", "project", "audience", "attributeCondition", "teeServiceAccount"]) {
    if (typeof raw[field] !== "string" || raw[field] === "") fail(field, `expected a non-empty string, got ${describe(raw[field])}`);
  }
  if (raw.issuer !== CONFIDENTIAL_SPACE_ISSUER) {
    fail("issuer", `expected exactly ${JSON.stringify(CONFIDENTIAL_SPACE_ISSUER)}, got ${describe(raw.issuer)}`);
  }
  if (Buffer.byteLength(raw.audience as string) > AUDIENCE_MAX_BYTES) {
    fail("audience", `is longer than the ${AUDIENCE_MAX_BYTES} bytes Confidential Space allows for a custom audience`);
  }
  if ((raw.attributeCondition as string).length > ATTRIBUTE_CONDITION_MAX_LENGTH) {
    fail("attributeCondition", `is longer than Google's ${ATTRIBUTE_CONDITION_MAX_LENGTH}-character limit`);
  }
  if (!(raw.teeServiceAccount as string).includes("@")) fail("teeServiceAccount", "expected a service account email");
  if (typeof raw.allowDebug !== "boolean") fail("allowDebug", `expected a boolean, got ${describe(raw.allowDebug)}`);
  // Absent in documents older than the field: the secure default (requireNonce below).
  if (raw.requireNonce !== undefined && typeof raw.requireNonce !== "boolean") {
    fail("requireNonce", `expected a boolean, got ${describe(raw.requireNonce)}`);
  }

  if (!Array.isArray(raw.datasets) || raw.datasets.length === 0) fail("datasets", "expected a non-empty array of dataset names");
  const datasets = raw.datasets as unknown[];
  datasets.forEach((d, i) => {
    if (typeof d !== "string" || d === "") fail(`datasets[${i}]`, `expected a non-empty string, got ${describe(d)}`);
    if (datasets.indexOf(d) !== i) fail(`datasets[${i}]`, `duplicate dataset ${JSON.stringify(d)}`);
  });

  const parties = checkParties(raw, datasets as string[], fail);

  if (!Array.isArray(raw.approvals)) fail("approvals", `expected an array, got ${describe(raw.approvals)}`);
  (raw.approvals as unknown[]).forEach((a, i) => {
    const at = `approvals[${i}]`;
    if (!isObject(a)) return fail(at, `expected an object, got ${describe(a)}`);
    for (const key of Object.keys(a)) {
      if (!["imageDigest", "datasets", "purpose", "approvedBy", "expires", "notAfter", "party", "spend", "gpu"].includes(key)) fail(`${at}.${key}`, "unknown field");
    }
    const gpuProblem = approvalGpuProblem(a.gpu);
    if (gpuProblem) fail(`${at}.gpu`, gpuProblem);
    if (typeof a.imageDigest !== "string" || !DIGEST.test(a.imageDigest)) {
      fail(`${at}.imageDigest`, `expected sha256:<64 lowercase hex>, got ${describe(a.imageDigest)}`);
    }
    if (!Array.isArray(a.datasets) || a.datasets.length === 0) fail(`${at}.datasets`, "expected a non-empty array of dataset names");
    (a.datasets as unknown[]).forEach((d, j) => {
      if (typeof d !== "string" || !datasets.includes(d)) {
        fail(`${at}.datasets[${j}]`, `${describe(d)} is not a dataset of the policy (known: ${datasets.join(", ")})`);
      }
    });
    checkApprovalParty(a, at, parties, fail);
    for (const field of ["purpose", "approvedBy"]) {
      if (typeof a[field] !== "string") fail(`${at}.${field}`, `expected a string, got ${describe(a[field])}`);
    }
    if (a.expires !== undefined && (typeof a.expires !== "string" || !ISO_DATE.test(a.expires))) {
      fail(`${at}.expires`, `expected an ISO date (YYYY-MM-DD), got ${describe(a.expires)}`);
    }
    if (a.notAfter !== undefined) {
      if (typeof a.notAfter !== "string" || !RFC3339_UTC.test(a.notAfter) || !Number.isFinite(Date.parse(a.notAfter))) {
        fail(`${at}.notAfter`, `expected an RFC 3339 UTC instant (e.g. 2027-02-01T00:00:00Z), got ${describe(a.notAfter)}`);
      }
    } else if (a.expires !== undefined) {
      // The verifier enforces notAfter; an expiry it cannot enforce must not pass silently.
      fail(`${at}.notAfter`, "is missing although expires is set");
    }
  });

  const jobConditions: PlannedCondition[] = [];
  if (raw.jobApprovals !== undefined) {
    if (!Array.isArray(raw.jobApprovals)) fail("jobApprovals", `expected an array, got ${describe(raw.jobApprovals)}`);
    const seenDatasets = new Map<string, number>();
    const seenKeys = new Map<string, number>();
    (raw.jobApprovals as unknown[]).forEach((j, i) => {
      const at = `jobApprovals[${i}]`;
      if (!isObject(j)) return fail(at, `expected an object, got ${describe(j)}`);
      for (const key of Object.keys(j)) {
        if (!["dataset", "keyId", "signatureAlgorithm", "attributeCondition"].includes(key)) fail(`${at}.${key}`, "unknown field");
      }
      if (typeof j.dataset !== "string" || !datasets.includes(j.dataset)) {
        fail(`${at}.dataset`, `${describe(j.dataset)} is not a dataset of the policy (known: ${datasets.join(", ")})`);
      }
      // One approver key per dataset (docs/job-path.md); a second entry would be a second way in.
      const dataset = j.dataset as string;
      if (seenDatasets.has(dataset)) fail(`${at}.dataset`, `${JSON.stringify(dataset)} already has an entry (jobApprovals[${seenDatasets.get(dataset)}])`);
      seenDatasets.set(dataset, i);
      if (typeof j.keyId !== "string" || !KEY_ID.test(j.keyId)) {
        fail(`${at}.keyId`, `expected 64 lowercase hex (SHA-256 of the approver key's DER public key), got ${describe(j.keyId)}`);
      }
      // A key shared by two datasets would let one owner's signature open the other's data.
      const keyId = j.keyId as string;
      if (seenKeys.has(keyId)) fail(`${at}.keyId`, `is also the key of jobApprovals[${seenKeys.get(keyId)}]; each dataset needs its own approver key`);
      seenKeys.set(keyId, i);
      if (j.signatureAlgorithm !== JOB_SIGNATURE_ALGORITHM) {
        fail(`${at}.signatureAlgorithm`, `expected ${JSON.stringify(JOB_SIGNATURE_ALGORITHM)}, got ${describe(j.signatureAlgorithm)}`);
      }
      if (typeof j.attributeCondition !== "string" || j.attributeCondition === "") {
        fail(`${at}.attributeCondition`, `expected a non-empty string, got ${describe(j.attributeCondition)}`);
      }
      if ((j.attributeCondition as string).length > ATTRIBUTE_CONDITION_MAX_LENGTH) {
        fail(`${at}.attributeCondition`, `is longer than Google's ${ATTRIBUTE_CONDITION_MAX_LENGTH}-character limit`);
      }
      const planned = planAttributeCondition(j.attributeCondition as string, `${at}.attributeCondition`);
      const vacuousJob = planned({});
      if (vacuousJob.ok && vacuousJob.value) fail(`${at}.attributeCondition`, "is true for a token with no claims at all, so it constrains nothing");
      jobConditions.push(planned);
    });
  }

  if (raw.release !== undefined) {
    const r = raw.release;
    if (!isObject(r)) return fail("release", `expected an object, got ${describe(r)}`);
    for (const key of Object.keys(r)) {
      if (!["quarantineBucket", "releaseBucket", "instancePrefix", "provisioning"].includes(key)) fail(`release.${key}`, "unknown field");
    }
    for (const field of ["quarantineBucket", "releaseBucket"]) {
      if (!isBucketName(r[field])) fail(`release.${field}`, `expected a Cloud Storage bucket name, got ${describe(r[field])}`);
    }
    // Releasing into the bucket the TEE writes would "release" by copying an object onto itself.
    if (r.quarantineBucket === r.releaseBucket) fail("release.releaseBucket", "must differ from release.quarantineBucket");
    if (typeof r.instancePrefix !== "string" || !INSTANCE_PREFIX.test(r.instancePrefix)) {
      fail("release.instancePrefix", `expected 1-26 lowercase letters, digits or '-' starting with a letter, got ${describe(r.instancePrefix)}`);
    }
    checkProvisioningDestinations(r, datasets as string[], isBucketName, (d) => typeof d === "string" && DIGEST.test(d), fail);
  }

  validateBudgets(raw, datasets, fail);

  const document = raw as unknown as VerifierPolicyDocument;
  const condition = planAttributeCondition(document.attributeCondition);
  const vacuous = condition({});
  if (vacuous.ok && vacuous.value) {
    throw new PolicyError(`policy.attributeCondition: is true for a token with no claims at all, so it constrains nothing. ${fix}`);
  }
  return { document, sha256: policySha256(document), condition, jobConditions };
}

/** Parse the JSON text of a policy document and validate it; optionally pin its hash. */
export function parsePolicyDocument(
  text: string,
  source: string,
  expectedSha256?: string
): { document: VerifierPolicyDocument; sha256: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new PolicyError(`${source}: not valid JSON. Write it with \`npx manatee policy > FILE\`.`);
  }
  const document = validatePolicyDocument(raw);
  const sha256 = policySha256(document);
  if (expectedSha256 !== undefined && sha256 !== expectedSha256.toLowerCase()) {
    throw new PolicyError(
      `${source}: sha256 of the canonical policy is ${sha256}, but VERIFIER_POLICY_SHA256 pins ${expectedSha256}. ` +
        "Refusing to start with a policy other than the deployed one; redeploy the verifier or fix the pin."
    );
  }
  return { document, sha256 };
}

/** A standing approval of one dataset, as the decision looks it up. */
export interface ApprovalGrant {
  readonly dataset: string;
  readonly approval: VerifierApproval;
  readonly notAfterMs?: number;
}

/** The approvals of the policy by image digest, one entry per dataset; only those `counts` accepts. */
export function approvalsIndex(document: VerifierPolicyDocument, counts: (a: VerifierApproval) => boolean = () => true): Map<string, ApprovalGrant[]> {
  const byDigest = new Map<string, ApprovalGrant[]>();
  for (const approval of document.approvals) {
    if (!counts(approval)) continue;
    const list = byDigest.get(approval.imageDigest) ?? [];
    for (const dataset of approval.datasets) {
      list.push({ dataset, approval, notAfterMs: approval.notAfter !== undefined ? Date.parse(approval.notAfter) : undefined });
    }
    byDigest.set(approval.imageDigest, list);
  }
  return byDigest;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
