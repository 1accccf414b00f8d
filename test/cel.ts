/**
 * Evaluate compiled CEL with a real engine (@bufbuild/cel) against real-shaped
 * Confidential Space token claims (reference/confidential-space.md §2, §6).
 */
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import type { CelInput } from "@bufbuild/cel";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";

/** JSON → CEL input: objects become Maps (CEL does not treat plain objects as maps), Dates timestamps. */
export function toCel(value: unknown): CelInput {
  if (value instanceof Date) return timestampFromDate(value);
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === "object") {
    return new Map(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toCel(v)]));
  }
  return value as CelInput;
}

export interface CelDecision {
  /** True only when the expression evaluated to exactly `true`. */
  readonly allowed: boolean;
  /** The raw result: a value, or the CEL error (e.g. a missing field). */
  readonly result: unknown;
}

const env = celEnv();
const plans = new Map<string, ReturnType<typeof plan>>();

/** Evaluate `expression` with `bindings`. Errors (a missing claim makes `in` raise) count as DENY, like Google STS. */
export function evaluateCel(expression: string, bindings: Record<string, unknown>): CelDecision {
  let program = plans.get(expression);
  if (!program) {
    program = plan(env, parse(expression));
    plans.set(expression, program);
  }
  const cel: Record<string, CelInput> = {};
  for (const [name, value] of Object.entries(bindings)) cel[name] = toCel(value);
  const result = program(cel);
  return { allowed: !isCelError(result) && result === true, result };
}

/** The workload identity provider's view: the token's claims bound as `assertion`. */
export function evaluateAttributeCondition(condition: string, claims: object): CelDecision {
  return evaluateCel(condition, { assertion: claims });
}

/** An IAM condition at a point in time: `request.time` bound as a CEL timestamp. */
export function evaluateIamCondition(expression: string, at: Date): CelDecision {
  return evaluateCel(expression, { request: { time: at } });
}

export interface TokenClaimsOptions {
  /** `submods.gce.project_id`. */
  readonly project: string;
  /** `google_service_accounts`: the VM's attached service account. */
  readonly serviceAccount: string;
  readonly imageDigest?: string;
  readonly hwmodel?: string;
}

/**
 * A production Confidential Space token on Intel TDX: the EIGENX fixture
 * (reference §6, "Real production token JSON structure") with `tdx` and
 * `google_service_accounts` at top level as DOC-CLAIMS documents, re-pointed at the
 * clean room's project and TEE service account.
 */
export function productionTdxClaims(opts: TokenClaimsOptions): Record<string, any> {
  const digest = opts.imageDigest ?? "sha256:1580f84f1585dbecd84479ae867b6d586de31a19bbc9e551f2fbc20f9df59ec9";
  const instance = "manatee-job-42";
  return {
    aud: "https://sts.googleapis.com",
    exp: 1757100915,
    iat: 1757097315,
    nbf: 1757097315,
    iss: "https://confidentialcomputing.googleapis.com",
    sub: `https://www.googleapis.com/compute/v1/projects/${opts.project}/zones/us-central1-a/instances/${instance}`,
    eat_profile: "https://cloud.google.com/confidential-computing/confidential-space/docs/reference/token-claims",
    secboot: true,
    oemid: 11129,
    hwmodel: opts.hwmodel ?? "GCP_INTEL_TDX",
    attester_tcb: ["INTEL"],
    swname: "CONFIDENTIAL_SPACE",
    swversion: ["250800"],
    dbgstat: "disabled-since-boot",
    submods: {
      confidential_space: { monitoring_enabled: { memory: false }, support_attributes: ["STABLE"] },
      container: {
        image_reference: `us-docker.pkg.dev/${opts.project}/dcr-user-images/job@${digest}`,
        image_digest: digest,
        restart_policy: "Never",
        image_id: "sha256:338bff3f9f38e9f0d2eb4772f07dcc77baac9b353b521c40344c04a62c003332",
        env: { HOSTNAME: instance, PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
        args: ["/usr/local/bin/entrypoint.sh"],
      },
      gce: {
        zone: "us-central1-a",
        project_id: opts.project,
        project_number: "889537417991",
        instance_name: instance,
        instance_id: "8114146583384593350",
      },
    },
    tdx: { gcp_attester_tcb_status: "UpToDate", gcp_attester_tcb_date: "2024-03-13T00:00:00Z" },
    google_service_accounts: [opts.serviceAccount],
  };
}

/**
 * The debug variant of the same token (reference §6): `dbgstat: enabled` and no
 * `support_attributes` key at all.
 */
export function debugTdxClaims(opts: TokenClaimsOptions): Record<string, any> {
  const claims = productionTdxClaims(opts);
  return {
    ...claims,
    dbgstat: "enabled",
    submods: { ...claims.submods, confidential_space: { monitoring_enabled: { memory: false } } },
  };
}

/** Deep copy with `patch` applied at a dotted path (`submods.gce.project_id`); `undefined` deletes. */
export function withClaim(claims: Record<string, any>, path: string, value: unknown): Record<string, any> {
  const copy = structuredClone(claims);
  const keys = path.split(".");
  let target = copy;
  for (const key of keys.slice(0, -1)) target = target[key];
  const last = keys[keys.length - 1];
  if (value === undefined) delete target[last];
  else target[last] = value;
  return copy;
}
