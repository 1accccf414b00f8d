/**
 * The AttestationVerifier's props: ingress, function, receipt-key, CMEK and audit options.
 *
 * Why its own file: the props are the construct's public input surface, read by users and the
 * settings validation (settings.ts) alike; kept apart from the construct so neither file has to
 * carry the other.
 */
import { ITerraformDependable, TerraformProvider } from "cdktf";
import { CleanRoomPolicy } from "../../policy/model";
import type { OutputRelease } from "../data-plane/output-release";

/** How the verifier's endpoint may be reached (Cloud Functions `ingress_settings`). */
export const VerifierIngress = {
  /** Only from VPC networks of the project (or its Shared VPC / VPC-SC perimeter). */
  INTERNAL_ONLY: "ALLOW_INTERNAL_ONLY",
  /** Internal traffic plus an external Application Load Balancer in front of it. */
  INTERNAL_AND_GCLB: "ALLOW_INTERNAL_AND_GCLB",
  /** From the internet (IAM still required). Needs `acknowledgeInternetIngress: true`. */
  ALL: "ALLOW_ALL",
} as const;
export type VerifierIngress = (typeof VerifierIngress)[keyof typeof VerifierIngress];

/** Protection level of the receipt-signing key. */
export type ReceiptKeyProtection = "HSM" | "SOFTWARE";

/** Function settings. */
export interface VerifierFunctionOptions {
  /**
   * Upper bound on concurrent instances: caps cost and the rate at which a caller can
   * spend KMS signing operations.
   * @default 5
   */
  readonly maxInstances?: number;
  /**
   * Memory per instance (`<n>Mi` or `<n>Gi`). A release holds its objects in memory between
   * hash and copy (up to 128 MiB), hence more with the output release.
   * @default "512Mi" when the policy has release settings, else "256Mi"
   */
  readonly memory?: string;
  /**
   * Request timeout in seconds (1-3600). A decision is a JWKS fetch plus one KMS sign; a release
   * also reads and writes every object, and a release cut short spends its token.
   * @default 300 when the policy has release settings, else 30
   */
  readonly timeoutSeconds?: number;
  /**
   * Cloud Functions runtime.
   * @default "nodejs22"
   */
  readonly runtime?: string;
  /**
   * Email of an existing service account Cloud Build uses to build the function; you grant it
   * what the build needs (read the source object, push to the image repository, write logs).
   * @default a build service account of its own (`<room>-verifier-build`) with exactly those roles
   */
  readonly buildServiceAccount?: string;
}

/** The receipt-signing key. */
export interface ReceiptKeyOptions {
  /**
   * An existing key ring (`projects/P/locations/L/keyRings/R`) to create the key in. Its
   * location must lie in the residency set.
   * @default a new key ring `<room>-verifier` in `region`
   */
  readonly keyRing?: string;
  /**
   * `HSM` keeps the receipt key, the root of trust auditors verify against, in a FIPS
   * 140-2 Level 3 module; `SOFTWARE` is for throwaway rooms.
   * @default "HSM"
   */
  readonly protectionLevel?: ReceiptKeyProtection;
  /**
   * How long a destroyed key version stays recoverable (`<seconds>s`, 1 to 120 days).
   * @default "2592000s" (30 days)
   */
  readonly destroyScheduledDuration?: string;
  /**
   * The key version the function signs with. Rotation: create version N+1 and set this
   * to N+1. The verifier's JWKS serves the current key only, so keep the JWKS of every
   * version with the audit records (receipts name their key by `kid`); never destroy an
   * old version while its receipts must stay verifiable.
   * @default 1
   */
  readonly version?: number;
  /**
   * Refuse `terraform destroy` of the key (a destroyed key invalidates every receipt).
   * @default true
   */
  readonly preventDestroy?: boolean;
}

/** A CMEK key for the verifier's buckets (same shape as storage's `BucketEncryptionKey`). */
export interface VerifierEncryptionKey {
  /** `projects/P/locations/L/keyRings/R/cryptoKeys/K`, with L = the verifier's region. */
  readonly cryptoKeyId: string;
  /** Key location, when `cryptoKeyId` is a token. @default parsed from cryptoKeyId */
  readonly location?: string;
  /**
   * The grant that lets the Cloud Storage service agent use the key
   * (`roles/cloudkms.cryptoKeyEncrypterDecrypter`); the buckets wait for it, since creating
   * a bucket with a key the agent cannot use fails.
   * @default none: the grant must already exist
   */
  readonly serviceAgentGrant?: ITerraformDependable;
}

/** Where the verifier's decisions are kept. */
export interface VerifierAuditOptions {
  /**
   * Name of an existing audit bucket to route decisions into instead of creating one.
   * @default a new bucket `<project>-<room>-verifier-audit`
   */
  readonly existingBucketName?: string;
  /**
   * Days each decision record is kept undeletable (retention policy).
   * @default 400 (a year of records, plus time to finish the annual audit)
   */
  readonly retentionDays?: number;
  /**
   * Lock the retention policy, so nobody (project owners included) can delete or shorten the
   * trail of decisions and once-only markers. Irreversible: the bucket cannot be deleted and the
   * period only raised until every object has aged out. `false` only for throwaway test rooms;
   * the guardrails then warn.
   * @default the policy's `audit.lockRetention` (true unless the room file says otherwise)
   */
  readonly lockRetention?: boolean;
}

export interface AttestationVerifierProps {
  /** The clean-room policy the verifier enforces. */
  readonly policy: CleanRoomPolicy;
  /**
   * Region of the function, its buckets and key ring. Must lie in the residency set.
   * @default policy.locations.verifier, else policy.region
   */
  readonly region?: string;
  /**
   * Directory holding the assembled function bundle (`index.js`, `package.json`,
   * `node_modules/`).
   * @default the package's `attestation-verifier/build`
   */
  readonly sourceDir?: string;
  /**
   * Who may reach the endpoint at the network level.
   * @default VerifierIngress.INTERNAL_ONLY
   */
  readonly ingress?: VerifierIngress;
  /**
   * Required with `VerifierIngress.ALL`: the endpoint is then reachable from the
   * internet (callers still need `roles/run.invoker`).
   * @default false
   */
  readonly acknowledgeInternetIngress?: boolean;
  /**
   * The job service's Google service account (`serviceAccount:…`), which submits release
   * tokens. May be a token such as `ServiceAccount.member`.
   * @default no job service invoker
   */
  readonly jobServiceMember?: string;
  /**
   * Invokers besides the job service and `policy.researchers`. Never `allUsers` or
   * `allAuthenticatedUsers`.
   * @default []
   */
  readonly invokers?: readonly string[];
  /** @default see VerifierFunctionOptions */
  readonly function?: VerifierFunctionOptions;
  /**
   * The room's quarantine and release buckets (`OutputRelease`). Required when the policy has a
   * job path (`policy.jobs`), whose document carries `release`: the verifier is granted read on
   * quarantine and create-only on release (`OutputRelease.grantVerifier`). Refused otherwise.
   * @default none (only for policies without `jobs`)
   */
  readonly outputRelease?: OutputRelease;
  /** @default see ReceiptKeyOptions */
  readonly receiptKey?: ReceiptKeyOptions;
  /** @default see VerifierAuditOptions */
  readonly audit?: VerifierAuditOptions;
  /**
   * Publish the receipt JWKS as `jwks.json` in a dedicated public bucket, so relying parties fetch
   * it without credentials (the function itself is internal and IAM-gated). The verifier writes it
   * when an instance starts (a deploy starts one; a key rotation deploys a new revision), keeping
   * the keys of earlier versions so old receipts still verify. `false`: no public bucket;
   * `jwksUrl` is then the function's `/v1/jwks`, reachable only by invokers inside the network.
   * @default true
   */
  readonly publicJwks?: boolean;
  /**
   * CMEK for the buckets this construct creates, in `region`. The room's guardrails
   * (MCR-GCS2) require one on the audit bucket; `StorageEncryptionKey` satisfies this.
   * @default Google-managed encryption
   */
  readonly encryptionKey?: VerifierEncryptionKey;
  /**
   * Resources to create first, typically `CleanRoomApis.dependables`: the service account,
   * key ring, buckets, function and sink wait for them (everything else waits for those).
   * @default []
   */
  readonly dependsOn?: ITerraformDependable[];
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}
