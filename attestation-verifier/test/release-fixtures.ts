/**
 * Fixtures of the job path: the example room's policy with per-job approvals (one P-256
 * approver key per dataset, as Cloud KMS EC_SIGN_P256_SHA256 would hold) and release
 * settings, and the claims of a job VM whose image the launcher found signed.
 */
import { createHash, generateKeyPairSync, sign as nodeSign, KeyObject } from "node:crypto";
import type { VerifierPolicyDocument } from "../../lib/policy/document";
import { examplePolicyDocument, NOW_MS, tokenClaims } from "./helpers";

export const JOB = "0b9c7f52-3c1e-4d8a-9f6b-2a1e5d7c4b30";
export const OTHER_JOB = "7e4d2a8c-6f5e-4d3c-8b1a-09a3f1c0de9b";
export const INSTANCE_PREFIX = "manatee-job";
export const QUARANTINE = "acme-clean-room-quarantine";
export const RELEASE = "acme-clean-room-release";
/** A job image: approved by no standing approval, only by signatures. */
export const JOB_DIGEST = `sha256:${createHash("sha256").update("job image 0b9c7f52").digest("hex")}`;

export interface ApproverKey {
  readonly privateKey: KeyObject;
  /** Confidential Space's key_id: hex SHA-256 of the DER SubjectPublicKeyInfo. */
  readonly keyId: string;
}

export function approverKey(): ApproverKey {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const der = publicKey.export({ format: "der", type: "spki" });
  return { privateKey, keyId: createHash("sha256").update(der).digest("hex") };
}

/** The image_signatures entry the launcher puts in the token after verifying a cosign signature. */
export function imageSignature(key: ApproverKey, digest = JOB_DIGEST): Record<string, string> {
  const payload = JSON.stringify({
    critical: { identity: { "docker-reference": "" }, image: { "docker-manifest-digest": digest }, type: "cosign container image signature" },
    optional: null,
  });
  return {
    key_id: key.keyId,
    signature: nodeSign("sha256", Buffer.from(payload), key.privateKey).toString("base64"),
    signature_algorithm: "ECDSA_P256_SHA256",
  };
}

/** The dataset's job-approval provider condition, shaped as docs/job-path.md describes it. */
export function jobCondition(doc: VerifierPolicyDocument, keyId: string): string {
  return [
    "assertion.swname == 'CONFIDENTIAL_SPACE'",
    "'STABLE' in assertion.submods.confidential_space.support_attributes",
    "assertion.dbgstat == 'disabled-since-boot'",
    `assertion.submods.gce.project_id == '${doc.project}'`,
    `'${doc.teeServiceAccount}' in assertion.google_service_accounts`,
    "(!has(assertion.submods.container.cmd_override) || size(assertion.submods.container.cmd_override) == 0)",
    "(!has(assertion.submods.container.env_override) || size(assertion.submods.container.env_override) == 0)",
    "assertion.submods.container.restart_policy == 'Never'",
    `'ECDSA_P256_SHA256:${keyId}' in assertion.submods.container.image_signatures.map(sig, sig.signature_algorithm + ':' + sig.key_id)`,
  ].join(" && ");
}

/** The example room's policy plus jobApprovals for insurance (key A) and claims (key B), and release settings. */
export function jobPathPolicy(keys: { insurance: ApproverKey; claims: ApproverKey }): VerifierPolicyDocument {
  const base = examplePolicyDocument().document;
  return {
    ...base,
    jobApprovals: [
      { dataset: "insurance", keyId: keys.insurance.keyId, signatureAlgorithm: "ECDSA_P256_SHA256", attributeCondition: jobCondition(base, keys.insurance.keyId) },
      { dataset: "claims", keyId: keys.claims.keyId, signatureAlgorithm: "ECDSA_P256_SHA256", attributeCondition: jobCondition(base, keys.claims.keyId) },
    ],
    release: { quarantineBucket: QUARANTINE, releaseBucket: RELEASE, instancePrefix: INSTANCE_PREFIX },
  };
}

export interface JobClaimsOptions {
  readonly signatures?: readonly Record<string, string>[];
  readonly job?: string;
  readonly nonce?: string | string[];
  readonly digest?: string;
  readonly nowMs?: number;
  readonly debug?: boolean;
  readonly instanceName?: string;
}

/** A custom-audience token of the job VM `<prefix>-<job>` running the job image. */
export function jobClaims(doc: VerifierPolicyDocument, o: JobClaimsOptions = {}): Record<string, unknown> {
  const nowMs = o.nowMs ?? NOW_MS;
  const base = tokenClaims(doc, nowMs);
  const instance = o.instanceName ?? `${INSTANCE_PREFIX}-${o.job ?? JOB}`;
  const digest = o.digest ?? JOB_DIGEST;
  const submods = base.submods as Record<string, Record<string, unknown>>;
  const container: Record<string, unknown> = {
    ...submods.container,
    image_reference: `us-central1-docker.pkg.dev/${doc.project}/manatee-jobs/job-${o.job ?? JOB}@${digest}`,
    image_digest: digest,
    env: { HOSTNAME: instance, PYTHONPATH: "/workspace/.python" },
  };
  // Real tokens omit the key when the launcher found no signature.
  if (o.signatures && o.signatures.length > 0) container.image_signatures = o.signatures;
  const claims: Record<string, unknown> = {
    ...base,
    sub: `https://www.googleapis.com/compute/v1/projects/${doc.project}/zones/us-central1-a/instances/${instance}`,
    submods: {
      ...submods,
      confidential_space: o.debug ? { monitoring_enabled: { memory: false } } : submods.confidential_space,
      container,
      gce: { ...submods.gce, instance_name: instance },
    },
    ...(o.debug ? { dbgstat: "enabled" } : {}),
  };
  if (o.nonce === undefined) delete claims.eat_nonce;
  else claims.eat_nonce = o.nonce;
  return claims;
}
