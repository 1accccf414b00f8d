/**
 * Validation of the AttestationVerifier's props and their defaults: every prop is checked
 * before any resource exists, and the construct receives the resolved settings.
 *
 * Why its own file: the checks (residency, release buckets, members, key, audit, CMEK, bundle)
 * are most of the verifier's rules; kept apart so the construct file reads as the resources only.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Token } from "cdktf";
import { requireGrantableMember, requireInResidency } from "../../internal/common";
import { canonicalJson, verifierReleaseSettings } from "../../policy/document";
import { locationOf } from "../../policy/model";
import { NAME_RULES } from "../../policy/names";
import { defaultSourceDir } from "./bundle";
import { VERIFIER_BUILD_COMMAND } from "./contract";
import { AttestationVerifierProps, VerifierIngress } from "./props";
import { InvalidPropsError } from "../../errors";

export const DEFAULTS = {
  maxInstances: 5,
  memory: "256Mi",
  timeoutSeconds: 30,
  releaseMemory: "512Mi",
  releaseTimeoutSeconds: 300,
  runtime: "nodejs22",
  entryPoint: "verify",
  destroyScheduledDuration: "2592000s",
  auditRetentionDays: 400,
} as const;

export const DAY_SECONDS = 86_400;
const FORBIDDEN_MEMBERS = ["allUsers", "allAuthenticatedUsers"];
const MEMBER_PATTERN = /^(user|group|serviceAccount|domain|principal|principalSet):\S+$/;

export function fail(prop: string, message: string): never {
  throw new InvalidPropsError(`AttestationVerifier: ${prop} ${message}`);
}

export function requireMember(prop: string, member: string): void {
  if (FORBIDDEN_MEMBERS.includes(member)) {
    fail(
      prop,
      `must not contain "${member}": the verifier is never public. ` +
        `Name the callers (user:, group:, serviceAccount:, domain:, principal:, principalSet:).`,
    );
  }
  // Also refuses a whole workload identity pool (the library-wide rule).
  requireGrantableMember(member, `AttestationVerifier: ${prop}`);
  if (!Token.isUnresolved(member) && !MEMBER_PATTERN.test(member)) {
    fail(
      prop,
      `has "${member}", which is not an IAM member. ` +
        `Use a prefix such as "user:", "group:" or "serviceAccount:" (e.g. "group:auditors@example.org").`,
    );
  }
}

function requireInteger(prop: string, value: number, min: number, max: number): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    fail(prop, `is ${value}; use a whole number from ${min} to ${max}.`);
  }
}

/** Validated props with defaults applied. Throws on the first invalid prop. */
export function resolveSettings(props: AttestationVerifierProps) {
  const { policy } = props;
  const region = props.region ?? locationOf(policy, "verifier");
  requireInResidency(region, policy.residency, props.region !== undefined ? "AttestationVerifier: region" : policy.locations?.verifier !== undefined ? "locations.verifier" : "region");
  const release = verifierReleaseSettings(policy);
  if (release && props.outputRelease === undefined) {
    fail(
      "outputRelease",
      `is required: the policy has a job path (policy.jobs), so the verifier's policy document names the release buckets ` +
        `"${release.quarantineBucket}" and "${release.releaseBucket}". Pass the room's OutputRelease (CleanRoom does) so the verifier may use them.`,
    );
  }
  if (!release && props.outputRelease !== undefined) {
    fail("outputRelease", `is set, but the policy has no "jobs" section, so its document has no release settings. Remove outputRelease or build the policy with normalizePolicy.`);
  }
  if (release && props.outputRelease && canonicalJson(props.outputRelease.settings) !== canonicalJson(release)) {
    fail(
      "outputRelease",
      `names ${canonicalJson(props.outputRelease.settings)}, but the policy document says ${canonicalJson(release)}. ` +
        `Create the OutputRelease from the same policy as the verifier.`,
    );
  }
  const fnOpts = props.function ?? {};
  const maxInstances = fnOpts.maxInstances ?? DEFAULTS.maxInstances;
  requireInteger("function.maxInstances", maxInstances, 1, 1000);
  const timeoutSeconds = fnOpts.timeoutSeconds ?? (release ? DEFAULTS.releaseTimeoutSeconds : DEFAULTS.timeoutSeconds);
  requireInteger("function.timeoutSeconds", timeoutSeconds, 1, 3600);
  const memory = fnOpts.memory ?? (release ? DEFAULTS.releaseMemory : DEFAULTS.memory);
  if (!Token.isUnresolved(memory) && !/^[1-9]\d*(Mi|Gi)$/.test(memory)) {
    fail("function.memory", `is "${memory}"; use mebibytes or gibibytes such as "256Mi" or "1Gi".`);
  }
  const runtime = fnOpts.runtime ?? DEFAULTS.runtime;
  if (!/^nodejs\d+$/.test(runtime)) {
    fail("function.runtime", `is "${runtime}"; the verifier is a Node.js bundle, use e.g. "nodejs22".`);
  }

  const buildSa = fnOpts.buildServiceAccount;
  if (buildSa !== undefined && !Token.isUnresolved(buildSa) && !/^[^@\s/]+@[^@\s/]+$/.test(buildSa)) {
    fail("function.buildServiceAccount", `is "${buildSa}"; give the service account's email.`);
  }
  // The API wants the resource name; the email alone is what users have at hand.
  const buildServiceAccount =
    buildSa === undefined ? undefined : `projects/${policy.project}/serviceAccounts/${buildSa}`;

  const ingress = props.ingress ?? VerifierIngress.INTERNAL_ONLY;
  if (!(Object.values(VerifierIngress) as string[]).includes(ingress)) {
    fail("ingress", `is "${ingress}"; use one of ${Object.values(VerifierIngress).join(", ")}.`);
  }
  if (ingress === VerifierIngress.ALL && props.acknowledgeInternetIngress !== true) {
    fail(
      "ingress",
      `is ALLOW_ALL, which exposes the verifier to the internet. Prefer INTERNAL_ONLY or ` +
        `INTERNAL_AND_GCLB (behind a load balancer); if you mean it, also set acknowledgeInternetIngress: true.`,
    );
  }

  if (props.jobServiceMember !== undefined) {
    requireMember("jobServiceMember", props.jobServiceMember);
    if (!Token.isUnresolved(props.jobServiceMember) && !props.jobServiceMember.startsWith("serviceAccount:")) {
      fail(
        "jobServiceMember",
        `is "${props.jobServiceMember}"; it must be the job service's Google service account, "serviceAccount:<email>".`,
      );
    }
  }
  for (const member of props.invokers ?? []) requireMember("invokers", member);
  for (const member of policy.researchers) requireMember("policy.researchers", member);

  const keyOpts = props.receiptKey ?? {};
  const protectionLevel = keyOpts.protectionLevel ?? "HSM";
  if (protectionLevel !== "HSM" && protectionLevel !== "SOFTWARE") {
    fail("receiptKey.protectionLevel", `is "${protectionLevel}"; use "HSM" or "SOFTWARE".`);
  }
  const destroyScheduledDuration = keyOpts.destroyScheduledDuration ?? DEFAULTS.destroyScheduledDuration;
  if (!Token.isUnresolved(destroyScheduledDuration)) {
    const m = /^(\d+)s$/.exec(destroyScheduledDuration);
    if (!m || Number(m[1]) < DAY_SECONDS || Number(m[1]) > 120 * DAY_SECONDS) {
      fail(
        "receiptKey.destroyScheduledDuration",
        `is "${destroyScheduledDuration}"; use seconds from "86400s" (1 day) to "10368000s" (120 days).`,
      );
    }
  }
  const keyVersion = keyOpts.version ?? 1;
  requireInteger("receiptKey.version", keyVersion, 1, Number.MAX_SAFE_INTEGER);
  if (keyOpts.keyRing !== undefined && !Token.isUnresolved(keyOpts.keyRing)) {
    const m = /^projects\/[^/]+\/locations\/([^/]+)\/keyRings\/[^/]+$/.exec(keyOpts.keyRing);
    if (!m)
      fail("receiptKey.keyRing", `is "${keyOpts.keyRing}"; use the key ring's id "projects/P/locations/L/keyRings/R".`);
    requireInResidency(m[1], policy.residency, "AttestationVerifier: receiptKey.keyRing location");
  }

  const auditOpts = props.audit ?? {};
  const retentionDays = auditOpts.retentionDays ?? DEFAULTS.auditRetentionDays;
  requireInteger("audit.retentionDays", retentionDays, 1, 36_500);
  if (auditOpts.existingBucketName !== undefined && !Token.isUnresolved(auditOpts.existingBucketName)) {
    if (!NAME_RULES.bucket.pattern.test(auditOpts.existingBucketName)) {
      fail(
        "audit.existingBucketName",
        `is "${auditOpts.existingBucketName}"; give the bucket's name, not a gs:// URL.`,
      );
    }
    if (auditOpts.retentionDays !== undefined || auditOpts.lockRetention !== undefined) {
      fail(
        "audit.retentionDays/lockRetention",
        `apply only to a bucket this construct creates; set retention on "${auditOpts.existingBucketName}" where it is declared.`,
      );
    }
  }

  const cmek = props.encryptionKey;
  if (cmek !== undefined) {
    let keyLocation = cmek.location;
    if (!Token.isUnresolved(cmek.cryptoKeyId)) {
      const m = /^projects\/[^/]+\/locations\/([^/]+)\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/.exec(cmek.cryptoKeyId);
      if (!m) {
        fail(
          "encryptionKey.cryptoKeyId",
          `is "${cmek.cryptoKeyId}"; use "projects/P/locations/L/keyRings/R/cryptoKeys/K".`,
        );
      }
      keyLocation ??= m[1];
    }
    if (keyLocation !== undefined && !Token.isUnresolved(keyLocation) && !Token.isUnresolved(region)) {
      if (keyLocation.toLowerCase() !== region.toLowerCase()) {
        fail(
          "encryptionKey",
          `is in "${keyLocation}" but the buckets are in "${region}"; Cloud Storage needs a CMEK in the bucket's location.`,
        );
      }
    }
  }

  const sourceDir = path.resolve(props.sourceDir ?? defaultSourceDir());
  if (!fs.existsSync(path.join(sourceDir, "index.js")) || !fs.existsSync(path.join(sourceDir, "package.json"))) {
    fail(
      "sourceDir",
      `"${sourceDir}" has no built verifier (index.js and package.json). ` +
        `Build it first: run \`${VERIFIER_BUILD_COMMAND}\` (npm run synth does this).`,
    );
  }
  return {
    region,
    sourceDir,
    maxInstances,
    timeoutSeconds,
    memory,
    runtime,
    buildServiceAccount,
    ingress,
    protectionLevel,
    destroyScheduledDuration,
    keyVersion,
    retentionDays,
    keyOpts,
    auditOpts,
  };
}
