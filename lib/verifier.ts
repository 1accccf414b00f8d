/**
 * The attestation verifier: the clean room's policy decision point, deployed as a Cloud
 * Functions gen2 function beside its receipt-signing key, the policy it enforces, the IAM
 * that may call it and the bucket its decisions are audited into (DESIGN.md §4, §6).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as os from "node:os";
import { AssetType, ITerraformDependable, TerraformAsset, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { TreeFile, deterministicZip, readTree } from "./zip";
import { Cloudfunctions2Function } from "@cdktf/provider-google/lib/cloudfunctions2-function";
import { CloudRunV2ServiceIamMember } from "@cdktf/provider-google/lib/cloud-run-v2-service-iam-member";
import { KmsCryptoKey } from "@cdktf/provider-google/lib/kms-crypto-key";
import { KmsCryptoKeyIamMember } from "@cdktf/provider-google/lib/kms-crypto-key-iam-member";
import { KmsKeyRing } from "@cdktf/provider-google/lib/kms-key-ring";
import { LoggingProjectSink } from "@cdktf/provider-google/lib/logging-project-sink";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { StorageBucket } from "@cdktf/provider-google/lib/storage-bucket";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member";
import { StorageBucketObject } from "@cdktf/provider-google/lib/storage-bucket-object";
import { ArtifactRegistryRepository } from "@cdktf/provider-google/lib/artifact-registry-repository";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import {
  COMPONENT,
  PUBLIC_JWKS_USE,
  GrantOptions,
  cleanRoomLabels,
  conditionBlock,
  grantIdFor,
  requireGrantableMember,
  requireInResidency,
  toGrantOptions,
} from "./common";
import { IamCondition } from "./policy/members";
import { CompiledVerifierPolicy, canonicalJson, compileVerifierPolicy, verifierReleaseSettings } from "./policy/document";
import { CleanRoomPolicy, locationOf } from "./policy/model";
import { NAME_RULES, fitName, platformNames, resourceName } from "./policy/names";
import type { OutputRelease } from "./outputs";

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

/**
 * The function's runtime contract: the env it reads (attestation-verifier/src/config.ts).
 * Exported so tests and the CleanRoom outputs name the same variables.
 */
export const VERIFIER_ENV = {
  policyUri: "VERIFIER_POLICY_URI",
  policySha256: "VERIFIER_POLICY_SHA256",
  kmsKeyVersion: "VERIFIER_KMS_KEY_VERSION",
  publicJwksUri: "VERIFIER_PUBLIC_JWKS_URI",
} as const;

/** The object the verifier publishes its receipt JWKS to, in the public JWKS bucket. */
export const PUBLIC_JWKS_OBJECT = "jwks.json";

export { PUBLIC_JWKS_USE };

/** Command that assembles the deployable bundle (attestation-verifier/scripts/build.js). */
export const VERIFIER_BUILD_COMMAND = "node attestation-verifier/scripts/build.js";

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
   * Lock the retention policy. Irreversible: the bucket cannot be deleted and the
   * period only raised until every object has aged out.
   * @default false
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

const DEFAULTS = {
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

/** Component label of the function and its artifacts bucket (not data, not audit). */
const VERIFIER_COMPONENT = COMPONENT.verifier;
const POLICY_PREFIX = "policy-";
const SOURCE_PREFIX = "verifier-";
const DAY_SECONDS = 86_400;
const FORBIDDEN_MEMBERS = ["allUsers", "allAuthenticatedUsers"];
const MEMBER_PATTERN = /^(user|group|serviceAccount|domain|principal|principalSet):\S+$/;

/**
 * SHA-256 (hex) over the sorted (relative path, content) pairs of a directory tree, so
 * the hash depends on bytes and names only — not on readdir order, mtimes or the OS.
 */
export function directoryHash(dir: string): string {
  return treeHash(readTree(dir));
}

function treeHash(files: readonly TreeFile[]): string {
  const hash = createHash("sha256");
  // NUL-terminated path and length (no path contains NUL): no two trees give the same
  // stream. Same encoding as attestation-verifier/scripts/build.js prints.
  for (const f of files) hash.update(`${f.path}\0${f.content.length}\0`).update(f.content);
  return hash.digest("hex");
}

/**
 * The bundle's zip, reproducible byte for byte and cached by tree hash, so every synth on
 * every machine uploads the same object under the same content-addressed name.
 */
function bundleZip(sourceDir: string): { hash: string; zipPath: string } {
  const files = readTree(sourceDir);
  const hash = treeHash(files);
  const cacheDir = path.join(os.tmpdir(), "manatee-cdktf");
  const zipPath = path.join(cacheDir, `verifier-${hash}.zip`);
  if (!fs.existsSync(zipPath)) {
    fs.mkdirSync(cacheDir, { recursive: true });
    const partial = `${zipPath}.${process.pid}.partial`;
    fs.writeFileSync(partial, deterministicZip(files));
    fs.renameSync(partial, zipPath);
  }
  return { hash, zipPath };
}

/** `attestation-verifier/build` of the package this file belongs to (from lib/ or dist/lib/). */
function defaultSourceDir(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "attestation-verifier"))) {
      return path.join(dir, "attestation-verifier", "build");
    }
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(__dirname, "..", "attestation-verifier", "build");
    dir = parent;
  }
}

/** Terraform JSON would interpolate `${…}` and `%{…}` inside a literal: escape them. */
function terraformLiteral(value: string): string {
  return value.replace(/\$\{/g, () => "$${").replace(/%\{/g, () => "%%{");
}

function fail(prop: string, message: string): never {
  throw new Error(`AttestationVerifier: ${prop} ${message}`);
}

function requireMember(prop: string, member: string): void {
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
function resolveSettings(props: AttestationVerifierProps) {
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
  // cdktf zips assets through an unquoted shell command line.

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

/**
 * The attestation verifier function with everything it needs and nothing more: its own
 * service account, an asymmetric receipt-signing key, the compiled policy delivered as a
 * content-addressed object, invoker IAM on the underlying Cloud Run service, and a log
 * sink that keeps every decision in an audit bucket under a retention policy.
 */
export class AttestationVerifier extends Construct {
  /** The Cloud Functions gen2 function. */
  public readonly function: Cloudfunctions2Function;
  /** HTTPS endpoint (the underlying Cloud Run service's URI). */
  public readonly url: string;
  /**
   * Where relying parties fetch the receipts' public keys without credentials:
   * `https://storage.googleapis.com/<jwks bucket>/jwks.json` (or `<url>/v1/jwks` with `publicJwks: false`).
   */
  public readonly jwksUrl: string;
  /** Region of the function, its key ring and buckets. */
  public readonly location: string;
  /** The dedicated public bucket holding only `jwks.json` (absent with `publicJwks: false`). */
  public readonly jwksBucket?: StorageBucket;
  /** The service account that builds the function (absent when `function.buildServiceAccount` names one). */
  public readonly buildServiceAccount?: ServiceAccount;
  /** Where the build pushes the function's image (absent when `function.buildServiceAccount` names one). */
  public readonly imageRepository?: ArtifactRegistryRepository;
  /** The function's runtime identity. */
  public readonly serviceAccount: ServiceAccount;
  /** The key ring, when this construct created it. */
  public readonly receiptKeyRing?: KmsKeyRing;
  /** The receipt-signing key (EC P-256, asymmetric sign). */
  public readonly receiptKey: KmsCryptoKey;
  /** Full name of the key version the function signs with. */
  public readonly receiptKeyVersionName: string;
  /** Holds the function's source zip and its policy objects. */
  public readonly artifactsBucket: StorageBucket;
  public readonly sourceObject: StorageBucketObject;
  public readonly policyObject: StorageBucketObject;
  /** The compiled verifier policy (document, canonical JSON, sha256). */
  public readonly policy: CompiledVerifierPolicy;
  /** Hex SHA-256 of the delivered policy JSON. */
  public readonly policySha256: string;
  /** Deterministic hash of the source directory; names the source object. */
  public readonly assetHash: string;
  /** The audit bucket, when this construct created it. */
  public readonly auditBucket?: StorageBucket;
  /** Name of the bucket decisions are routed to (created or existing). */
  public readonly auditBucketName: string;
  /** Routes the function's decision records to the audit bucket. */
  public readonly auditSink: LoggingProjectSink;
  /** Quarantine and release bucket names from the policy document's `release`, when it has one. */
  public readonly quarantineBucketName?: string;
  public readonly releaseBucketName?: string;
  /** The verifier's grants on the release buckets (read quarantine, create-only on release). */
  public readonly releaseGrants: readonly StorageBucketIamMember[];

  private readonly provider?: TerraformProvider;
  private readonly project: string;
  private readonly region: string;

  constructor(scope: Construct, id: string, props: AttestationVerifierProps) {
    super(scope, id);
    const { policy, provider } = props;
    const project = policy.project;
    this.provider = provider;
    this.project = project;

    const { region, sourceDir, keyOpts, auditOpts, ...settings } = resolveSettings(props);
    this.region = region;
    this.location = region;

    // ---- names
    const room = policy.name;
    const names = {
      function: resourceName("cloudFunction", room, "verifier"),
      serviceAccountId: platformNames(policy).verifierSaId,
      keyRing: resourceName("keyRing", room, "verifier"),
      key: resourceName("cryptoKey", room, "receipts"),
      artifactsBucket: resourceName("bucket", project, room, "verifier"),
      auditBucket: resourceName("bucket", project, room, "verifier-audit"),
      sink: fitName(`${room}-verifier-decisions`, 100),
      jwksBucket: resourceName("bucket", project, room, "receipt-jwks"),
      buildSaId: resourceName("serviceAccountId", room, "verifier-build"),
      imageRepository: resourceName("artifactRepository", room, "verifier-images"),
    };
    const bucketLocation = Token.isUnresolved(region) ? region : region.toUpperCase();
    const encryption = props.encryptionKey ? { defaultKmsKeyName: props.encryptionKey.cryptoKeyId } : undefined;
    const after = props.dependsOn ?? [];
    const bucketDeps = [
      ...after,
      ...(props.encryptionKey?.serviceAgentGrant ? [props.encryptionKey.serviceAgentGrant] : []),
    ];
    const orUndefined = (deps: ITerraformDependable[]) => (deps.length > 0 ? deps : undefined);

    // ---- identity
    this.serviceAccount = new ServiceAccount(this, "sa", {
      provider,
      project,
      accountId: names.serviceAccountId,
      displayName: `Attestation verifier of clean room ${room}`,
      description: "Runtime identity of the attestation verifier: signs release receipts, reads its policy.",
      dependsOn: orUndefined(after),
    });

    // ---- receipt-signing key
    if (keyOpts.keyRing === undefined) {
      this.receiptKeyRing = new KmsKeyRing(this, "key-ring", {
        provider,
        project,
        name: names.keyRing,
        location: region,
        dependsOn: orUndefined(after),
      });
    }
    // No rotation_period: Cloud KMS rotates only symmetric keys. Rotate by adding a version
    // and moving receiptKey.version (see ReceiptKeyOptions.version).
    this.receiptKey = new KmsCryptoKey(this, "receipt-key", {
      provider,
      name: names.key,
      keyRing: keyOpts.keyRing ?? this.receiptKeyRing!.id,
      purpose: "ASYMMETRIC_SIGN",
      versionTemplate: { algorithm: "EC_SIGN_P256_SHA256", protectionLevel: settings.protectionLevel },
      destroyScheduledDuration: settings.destroyScheduledDuration,
      labels: cleanRoomLabels(room, COMPONENT.receiptKey),
      lifecycle: { preventDestroy: keyOpts.preventDestroy ?? true },
      dependsOn: orUndefined(after),
    });
    this.receiptKeyVersionName = `${this.receiptKey.id}/cryptoKeyVersions/${settings.keyVersion}`;
    // signerVerifier = useToSign + viewPublicKey (for the JWKS); on this key only.
    const signGrant = new KmsCryptoKeyIamMember(this, "sa-signs-receipts", {
      provider,
      cryptoKeyId: this.receiptKey.id,
      role: "roles/cloudkms.signerVerifier",
      member: this.serviceAccount.member,
    });

    // ---- artifacts: source zip and policy, content-addressed
    // No age-based lifecycle rule: it would delete the live zip and policy. Names are
    // content-addressed, so Terraform replaces (and deletes) the old objects itself.
    this.artifactsBucket = new StorageBucket(this, "artifacts", {
      provider,
      project,
      name: names.artifactsBucket,
      location: bucketLocation,
      storageClass: "STANDARD",
      uniformBucketLevelAccess: true,
      publicAccessPrevention: "enforced",
      forceDestroy: false,
      encryption,
      dependsOn: orUndefined(bucketDeps),
      labels: cleanRoomLabels(room, VERIFIER_COMPONENT),
    });

    const bundle = bundleZip(sourceDir);
    this.assetHash = bundle.hash;
    const asset = new TerraformAsset(this, "bundle", {
      path: bundle.zipPath,
      type: AssetType.FILE,
      assetHash: this.assetHash,
    });
    // create_before_destroy: the new object exists before the function moves to it, and
    // the old one is deleted only after the new revision serves.
    this.sourceObject = new StorageBucketObject(this, "source", {
      provider,
      bucket: this.artifactsBucket.name,
      name: `${SOURCE_PREFIX}${this.assetHash}.zip`,
      source: asset.path,
      contentType: "application/zip",
      lifecycle: { createBeforeDestroy: true },
    });

    this.policy = compileVerifierPolicy(policy);
    this.policySha256 = this.policy.sha256;
    this.policyObject = new StorageBucketObject(this, "policy", {
      provider,
      bucket: this.artifactsBucket.name,
      name: `${POLICY_PREFIX}${this.policy.sha256}.json`,
      content: terraformLiteral(this.policy.json),
      contentType: "application/json",
      lifecycle: { createBeforeDestroy: true },
    });
    // Bucket IAM is the finest grain under uniform access; the condition narrows it to
    // the policy objects (not the source zip). A prefix, not the exact object, so a new
    // policy needs no IAM change (and no propagation delay) before the new revision reads it.
    const policyGrant = new StorageBucketIamMember(this, "sa-reads-policy", {
      provider,
      bucket: this.artifactsBucket.name,
      role: "roles/storage.objectViewer",
      member: this.serviceAccount.member,
      condition: {
        title: "verifier-policy-objects",
        description: "The verifier reads its policy documents only",
        expression: `resource.name.startsWith("projects/_/buckets/${names.artifactsBucket}/objects/${POLICY_PREFIX}")`,
      },
    });

    // ---- output release: the document names the buckets; the function reads them from there
    // (config.ts needs no variable: with policy.release it uses Cloud Storage as its own account).
    this.quarantineBucketName = this.policy.document.release?.quarantineBucket;
    this.releaseBucketName = this.policy.document.release?.releaseBucket;
    this.releaseGrants = props.outputRelease ? props.outputRelease.grantVerifier(this.serviceAccount.member) : [];

    // ---- the build: its own identity with exactly what a Cloud Functions build needs
    // (cloud.google.com/functions/docs/securing/build-custom-sa): read the source object, push the
    // function's image to a repository of its own, write build logs. Not the project's default build
    // service account, whose roles new projects no longer grant (and orgs often disable).
    let buildServiceAccount = settings.buildServiceAccount;
    const buildGrants: ITerraformDependable[] = [];
    if (buildServiceAccount === undefined) {
      const buildSa = new ServiceAccount(this, "build-sa", {
        provider,
        project,
        accountId: names.buildSaId,
        displayName: `Verifier build of clean room ${room}`,
        description: "Cloud Build identity of the attestation verifier's function: reads its source, pushes its image, writes build logs.",
        dependsOn: orUndefined(after),
      });
      this.buildServiceAccount = buildSa;
      this.imageRepository = new ArtifactRegistryRepository(this, "images", {
        provider,
        project,
        location: region,
        repositoryId: names.imageRepository,
        format: "DOCKER",
        description: `Clean room ${room}: images of the attestation verifier function (built by Cloud Functions)`,
        labels: cleanRoomLabels(room, VERIFIER_COMPONENT),
        cleanupPolicies: [{ id: "keep-recent", action: "KEEP", mostRecentVersions: { keepCount: 5 } }],
        dependsOn: orUndefined(after),
      });
      buildGrants.push(
        new StorageBucketIamMember(this, "build-reads-source", {
          provider,
          bucket: this.artifactsBucket.name,
          role: "roles/storage.objectViewer",
          member: buildSa.member,
          condition: {
            title: "verifier-source-objects",
            description: "The verifier build reads its source zips only",
            expression: `resource.name.startsWith("projects/_/buckets/${names.artifactsBucket}/objects/${SOURCE_PREFIX}")`,
          },
        }),
        new ArtifactRegistryRepositoryIamMember(this, "build-pushes-image", {
          provider,
          project,
          location: region,
          repository: this.imageRepository.name,
          role: "roles/artifactregistry.writer",
          member: buildSa.member,
        }),
        // Cloud Logging has no finer grain than the project for writing log entries.
        new ProjectIamMember(this, "build-writes-logs", { provider, project, role: "roles/logging.logWriter", member: buildSa.member }),
      );
      buildServiceAccount = buildSa.id;
    }

    // ---- the public receipt JWKS: a dedicated bucket, public read, nothing else in it
    let jwksGrant: StorageBucketIamMember | undefined;
    if (props.publicJwks ?? true) {
      this.jwksBucket = new StorageBucket(this, "jwks", {
        provider,
        project,
        name: names.jwksBucket,
        location: bucketLocation,
        storageClass: "STANDARD",
        uniformBucketLevelAccess: true,
        // Not "enforced": this bucket's one purpose is public read (MCR-GCS2/MCR-IAM1 exception).
        publicAccessPrevention: "inherited",
        forceDestroy: true,
        versioning: { enabled: false },
        // Public keys only: no CMEK, nothing secret to protect; it holds no clean-room data.
        labels: { ...cleanRoomLabels(room, COMPONENT.receiptJwks), use: PUBLIC_JWKS_USE },
        dependsOn: orUndefined(after),
      });
      new StorageBucketIamMember(this, "jwks-public-read", {
        provider,
        bucket: this.jwksBucket.name,
        role: "roles/storage.objectViewer",
        member: "allUsers",
      });
      // Create and replace jwks.json (objectUser: get, create, delete), on that object only.
      jwksGrant = new StorageBucketIamMember(this, "sa-publishes-jwks", {
        provider,
        bucket: this.jwksBucket.name,
        role: "roles/storage.objectUser",
        member: this.serviceAccount.member,
        condition: {
          title: "verifier-receipt-jwks",
          description: "The verifier writes its receipt JWKS object only",
          expression: `resource.name == "projects/_/buckets/${names.jwksBucket}/objects/${PUBLIC_JWKS_OBJECT}"`,
        },
      });
    }

    // ---- the function
    // No roles/logging.logWriter: Cloud Run ships stdout/stderr to Cloud Logging itself;
    // the verifier writes its decision records to stdout as structured JSON.
    this.function = new Cloudfunctions2Function(this, "function", {
      provider,
      project,
      location: region,
      name: names.function,
      description: `Attestation verifier (policy decision point) of clean room ${room}`,
      labels: cleanRoomLabels(room, VERIFIER_COMPONENT),
      buildConfig: {
        runtime: settings.runtime,
        entryPoint: DEFAULTS.entryPoint,
        serviceAccount: buildServiceAccount,
        ...(this.imageRepository ? { dockerRepository: this.imageRepository.id } : {}),
        source: { storageSource: { bucket: this.artifactsBucket.name, object: this.sourceObject.name } },
      },
      serviceConfig: {
        serviceAccountEmail: this.serviceAccount.email,
        ingressSettings: settings.ingress,
        minInstanceCount: 0,
        maxInstanceCount: settings.maxInstances,
        availableMemory: settings.memory,
        timeoutSeconds: settings.timeoutSeconds,
        allTrafficOnLatestRevision: true,
        environmentVariables: {
          // References (not literals): the function waits for the policy object.
          [VERIFIER_ENV.policyUri]: `gs://${this.policyObject.bucket}/${this.policyObject.name}`,
          [VERIFIER_ENV.policySha256]: this.policy.sha256,
          [VERIFIER_ENV.kmsKeyVersion]: this.receiptKeyVersionName,
          ...(this.jwksBucket ? { [VERIFIER_ENV.publicJwksUri]: `gs://${names.jwksBucket}/${PUBLIC_JWKS_OBJECT}` } : {}),
        },
      },
      // The first revision starts (and loads its policy and key, publishes its JWKS) with its grants in place;
      // the build waits for its own.
      dependsOn: [...after, signGrant, policyGrant, ...this.releaseGrants, ...buildGrants, ...(jwksGrant ? [jwksGrant] : []), ...(this.jwksBucket ? [this.jwksBucket] : [])],
    });
    this.url = this.function.serviceConfig.uri;
    this.jwksUrl = this.jwksBucket
      ? `https://storage.googleapis.com/${names.jwksBucket}/${PUBLIC_JWKS_OBJECT}`
      : `${this.url}/v1/jwks`;

    // ---- invokers
    if (props.jobServiceMember !== undefined) this.grantInvoke(props.jobServiceMember, { id: "invoker-job-service" });
    for (const member of [...policy.researchers, ...(props.invokers ?? [])]) {
      // One binding, one resource: destroying a duplicate would revoke the other.
      if (member !== props.jobServiceMember) this.grantInvoke(member);
    }

    // ---- audit
    if (auditOpts.existingBucketName === undefined) {
      this.auditBucket = new StorageBucket(this, "audit", {
        provider,
        project,
        name: names.auditBucket,
        location: bucketLocation,
        storageClass: "STANDARD",
        uniformBucketLevelAccess: true,
        publicAccessPrevention: "enforced",
        forceDestroy: false,
        // Retention, not versioning: records can be neither deleted nor overwritten in time.
        retentionPolicy: {
          retentionPeriod: settings.retentionDays * DAY_SECONDS,
          isLocked: auditOpts.lockRetention ?? false,
        },
        encryption,
        dependsOn: orUndefined(bucketDeps),
        labels: cleanRoomLabels(room, COMPONENT.auditBucket),
      });
    }
    this.auditBucketName = this.auditBucket?.name ?? auditOpts.existingBucketName!;
    this.auditSink = new LoggingProjectSink(this, "audit-sink", {
      provider,
      project,
      name: names.sink,
      description: `Decision records of the attestation verifier of clean room ${room}`,
      destination: `storage.googleapis.com/${this.auditBucketName}`,
      filter: [
        `resource.type="cloud_run_revision"`,
        `resource.labels.service_name="${names.function}"`,
        `jsonPayload.decision:*`,
      ].join(" AND "),
      uniqueWriterIdentity: true,
      dependsOn: orUndefined(after),
    });
    new StorageBucketIamMember(this, "sink-writes-audit", {
      provider,
      bucket: this.auditBucketName,
      role: "roles/storage.objectCreator",
      member: this.auditSink.writerIdentity,
    });
  }

  /**
   * Allow `member` to call the verifier: `roles/run.invoker` on the function's Cloud Run
   * service. Gen2 functions authorize invocation with `run.routes.invoke` on that service
   * (cloud.google.com/functions/docs/securing/authenticating); `roles/cloudfunctions.invoker`
   * on the function does not let a caller through. Additive; one resource per member and
   * condition however often it is called.
   */
  public grantInvoke(member: string, options?: GrantOptions | IamCondition): CloudRunV2ServiceIamMember {
    const opts = toGrantOptions(options);
    const id = this.grantId("invoker", "grantInvoke(member)", member, opts);
    const existing = this.node.tryFindChild(id);
    if (existing instanceof CloudRunV2ServiceIamMember) return existing;
    return new CloudRunV2ServiceIamMember(this, id, {
      provider: this.provider,
      project: this.project,
      location: this.region,
      name: this.function.serviceConfig.service,
      role: "roles/run.invoker",
      member,
      condition: conditionBlock(opts.condition),
      dependsOn: opts.dependsOn,
    });
  }

  /** Allow `member` (e.g. auditors) to read the decision records. Additive. */
  public grantReadAudit(member: string, options?: GrantOptions | IamCondition): StorageBucketIamMember {
    const opts = toGrantOptions(options);
    const id = this.grantId("audit-reader", "grantReadAudit(member)", member, opts);
    const existing = this.node.tryFindChild(id);
    if (existing instanceof StorageBucketIamMember) return existing;
    return new StorageBucketIamMember(this, id, {
      provider: this.provider,
      bucket: this.auditBucketName,
      role: "roles/storage.objectViewer",
      member,
      condition: conditionBlock(opts.condition),
      dependsOn: opts.dependsOn,
    });
  }

  private grantId(prefix: string, field: string, member: string, opts: GrantOptions): string {
    requireMember(field, member);
    const id = opts.id ?? grantIdFor(prefix, member, opts.condition);
    // A token's placeholder text changes from run to run: it cannot name a resource.
    if (id === undefined) fail(field, "is a token; pass a stable construct id in options.id.");
    return id;
  }
}
