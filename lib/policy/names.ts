/**
 * Resource naming within Google's limits. A name that is too long keeps a readable
 * prefix and ends in a short hash of the full name, so two long names that share a
 * prefix stay distinct (never a plain truncation into a collision).
 */
import { createHash } from "node:crypto";
import { InvalidPropsError } from "../errors";

export interface NameRule {
  readonly min: number;
  readonly max: number;
  /** The full pattern a valid name matches. */
  readonly pattern: RegExp;
  /** Where the limit is documented. */
  readonly source: string;
}

/** Google's documented limits for each kind of name this library generates. */
export const NAME_RULES = {
  // A table: entries alike in shape on purpose, each with its own limits and the page that documents them.
  // https://cloud.google.com/iam/docs/service-accounts-create#creating (account ID: 6-30 chars)
  serviceAccountId: {
    min: 6,
    max: 30,
    pattern: /^[a-z]([-a-z0-9]*[a-z0-9])$/,
    source: "IAM service account ID: 6-30 lowercase letters, digits, hyphens",
  },
  // https://cloud.google.com/iam/docs/workload-identity-federation (pool/provider IDs: 4-32 chars, no gcp- prefix)
  workloadIdentityPoolId: {
    min: 4,
    max: 32,
    pattern: /^(?!gcp-)[a-z0-9]([-a-z0-9]*[a-z0-9])$/,
    source: "Workload identity pool ID: 4-32 lowercase letters, digits, hyphens; not gcp-",
  },
  workloadIdentityProviderId: {
    min: 4,
    max: 32,
    pattern: /^(?!gcp-)[a-z0-9]([-a-z0-9]*[a-z0-9])$/,
    source: "Workload identity pool provider ID: 4-32 chars",
  },
  // https://cloud.google.com/storage/docs/buckets#naming (3-63 chars without dots)
  bucket: {
    min: 3,
    max: 63,
    pattern: /^[a-z0-9][-_a-z0-9]*[a-z0-9]$/,
    source: "Cloud Storage bucket name: 3-63 chars, lowercase letters, digits, -, _",
  },
  // https://cloud.google.com/kms/docs/create-key-ring (1-63 chars [a-zA-Z0-9_-])
  keyRing: { min: 1, max: 63, pattern: /^[a-zA-Z0-9_-]+$/, source: "Cloud KMS key ring: 1-63 chars" },
  cryptoKey: { min: 1, max: 63, pattern: /^[a-zA-Z0-9_-]+$/, source: "Cloud KMS key: 1-63 chars" },
  // https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters (name: 1-40 chars)
  gkeCluster: {
    min: 1,
    max: 40,
    pattern: /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
    source: "GKE cluster name: 1-40 chars, starts with a letter",
  },
  gkeNodePool: {
    min: 1,
    max: 40,
    pattern: /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
    source: "GKE node pool name: 1-40 chars",
  },
  // https://cloud.google.com/sql/docs/mysql/create-instance (instance ID: up to 98 chars incl. project; we keep 63)
  sqlInstance: {
    min: 1,
    max: 63,
    pattern: /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
    source: "Cloud SQL instance ID: lowercase letters, digits, hyphens; starts with a letter",
  },
  // https://cloud.google.com/firestore/docs/reference/rest/v1/projects.databases/create (databaseId: 4-63
  // characters of [a-z0-9-], first a letter, last a letter or digit, not UUID-like)
  firestoreDatabaseId: {
    min: 4,
    max: 63,
    pattern: /^(?![0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$)[a-z][-a-z0-9]*[a-z0-9]$/,
    source: "Firestore database ID: 4-63 lowercase letters, digits, -; starts with a letter, ends with a letter or digit; not UUID-like",
  },
  // https://cloud.google.com/firestore/quotas#collections_documents_and_fields (collection IDs: at most
  // 1,500 bytes, no '/', not '.' or '..', not __.*__)
  firestoreCollectionId: {
    min: 1,
    max: 1500,
    pattern: /^(?!\.\.?$)(?!__.*__$)[^/]+$/,
    source: "Firestore collection ID: up to 1,500 bytes, no '/', not '.' or '..', not __.*__",
  },
  // RFC 1035 label, used by Compute Engine resources (networks, routers, templates, firewalls)
  computeName: {
    min: 1,
    max: 63,
    pattern: /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
    source: "Compute Engine resource name: RFC 1035, 1-63 chars",
  },
  // https://cloud.google.com/artifact-registry/docs/repositories/create-repos (repository ID: up to 63 chars)
  artifactRepository: {
    min: 1,
    max: 63,
    pattern: /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
    source: "Artifact Registry repository ID: 1-63 chars",
  },
  // https://cloud.google.com/functions/docs/reference/rest/v2/projects.locations.functions (63 chars)
  cloudFunction: {
    min: 1,
    max: 63,
    pattern: /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
    source: "Cloud Functions gen2 name: 1-63 chars",
  },
  // https://cloud.google.com/resource-manager/docs/labels-overview (values: up to 63 chars)
  labelValue: {
    min: 0,
    max: 63,
    pattern: /^[-_a-z0-9]*$/,
    source: "Label value: up to 63 lowercase letters, digits, -, _",
  },
  // https://cloud.google.com/resource-manager/docs/labels-overview (keys: 1-63 chars, start with a lowercase letter)
  labelKey: {
    min: 1,
    max: 63,
    pattern: /^[a-z][-_a-z0-9]*$/,
    source: "Label key: 1-63 lowercase letters, digits, -, _; starts with a letter",
  },
  // https://cloud.google.com/iam/quotas (Limits: "ID of a custom role: 64 bytes"); REST: [a-zA-Z0-9_.]{3,64}
  customRoleId: {
    min: 3,
    max: 64,
    pattern: /^[a-zA-Z0-9_.]+$/,
    source: "IAM custom role ID: 3-64 letters, digits, _ and .",
  },
  // https://cloud.google.com/iam/docs/service-accounts-create (display name: at most 100 characters)
  serviceAccountDisplayName: {
    min: 0,
    max: 100,
    pattern: /^[^\r\n]*$/,
    source: "Service account display name: up to 100 characters",
  },
  // https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools (displayName: up to 32 characters)
  workloadIdentityDisplayName: {
    min: 0,
    max: 32,
    pattern: /^[^\r\n]*$/,
    source: "Workload identity pool / provider display name: up to 32 characters",
  },
  // https://cloud.google.com/logging/docs/reference/v2/rest/v2/projects.sinks (sink name: 100 chars, A-Z a-z 0-9 _ - .)
  logSink: {
    min: 1,
    max: 100,
    pattern: /^[A-Za-z0-9_.-]+$/,
    source: "Cloud Logging sink name: up to 100 letters, digits, _, - and .",
  },
  // google_compute_instance_template.name_prefix: longer than 37 characters gets a collision-prone short suffix
  instanceTemplatePrefix: {
    min: 1,
    max: 37,
    pattern: /^[a-z][-a-z0-9]*$/,
    source: "Instance template name_prefix: up to 37 characters (the provider appends a 26-character suffix)",
  },
  // Helm release names are DNS-1123 labels of at most 53 characters (helm/pkg/chartutil)
  helmRelease: {
    min: 1,
    max: 53,
    pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    source: "Helm release name: 1-53 lowercase letters, digits, -",
  },
  // Kubernetes label values: up to 63 characters, alphanumeric at both ends
  kubernetesLabelValue: {
    min: 0,
    max: 63,
    pattern: /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/,
    source: "Kubernetes label value: up to 63 characters [A-Za-z0-9-_.], alphanumeric at both ends",
  },
  // Kubernetes DNS-1123 label (namespaces, service names)
  kubernetesName: {
    min: 1,
    max: 63,
    pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    source: "Kubernetes DNS-1123 label: 1-63 chars",
  },
} satisfies Record<string, NameRule>;

export type NameKind = keyof typeof NAME_RULES;

const HASH_LEN = 6;

/** Short, stable hash of a string (hex). */
export function shortHash(value: string, length = HASH_LEN): string {
  return createHash("sha256").update(value).digest("hex").slice(0, length);
}

/**
 * Fit `name` into `max` characters: unchanged when it fits, otherwise a readable
 * prefix, '-', and a hash of the whole name. Deterministic.
 */
export function fitName(name: string, max: number): string {
  if (name.length <= max) return name;
  const hash = shortHash(name);
  const prefix = name.slice(0, max - hash.length - 1).replace(/[-_.]+$/, "");
  return `${prefix}-${hash}`;
}

/**
 * A name of `kind` built from `parts` joined by '-', shortened to fit the rule.
 * Throws when the result still breaks the rule (e.g. bad characters).
 */
export function resourceName(kind: NameKind, ...parts: string[]): string {
  const rule: NameRule = NAME_RULES[kind];
  const name = fitName(parts.filter((p) => p.length > 0).join("-"), rule.max);
  if (name.length < rule.min || !rule.pattern.test(name)) {
    throw new InvalidPropsError(
      `Generated ${kind} name "${name}" does not satisfy Google's rule (${rule.source}). ` +
        `Change the clean room or dataset name so that it only uses lowercase letters, digits and '-'.`,
    );
  }
  return name;
}

/**
 * The `ENV` value the ManaTEE images use in the names they hard-code
 * (`dcr-ENV-cvm-sa`, `dcr-ENV-hub`, `dcr-ENV-user-images`, `dcr-ENV-network`, ...).
 * `dcr-ENV-cvm-sa` must be a 30-char service account ID, so ENV has at most 19 chars.
 */
export function manateeEnv(roomName: string): string {
  return fitName(roomName, 19);
}

/** Network tag the ManaTEE reconciler puts on Confidential Space VMs (confidential_space.go). */
export const MANATEE_TEE_NETWORK_TAG = "tee-instance";

/**
 * Every name the ManaTEE runtime images hard-code, in one place
 * (reference/manatee-runtime.md §10.4). Our constructs must create exactly these.
 */
export function manateeContract(roomName: string, project: string) {
  const env = manateeEnv(roomName);
  return {
    env,
    /** Bucket for build contexts and job outputs (app/api/.../storage.go). */
    hubBucket: `dcr-${env}-hub`,
    /** Artifact Registry repo for the executor base and per-job images (registry.go). */
    userImagesRepository: `dcr-${env}-user-images`,
    /** Its location: `us-docker.pkg.dev` is hard-coded in registry.go. */
    userImagesLocation: "us",
    /** VPC of the room (ManaTEE's confidential_space.go name). */
    network: `dcr-${env}-network`,
    /** Subnet of the GKE cluster (stage 1), served by Cloud NAT. ManaTEE also put its TEEs here; this library does not. */
    subnetwork: `dcr-${env}-subnetwork`,
    /**
     * Subnet of the Confidential Space job VMs (stage 2): Private Google Access only, no Cloud NAT,
     * no external IPs. The instance template the job service launches from names it.
     */
    teeSubnetwork: `dcr-${env}-tee-subnetwork`,
    /** Network tag the reconciler puts on every Confidential Space VM (confidential_space.go); the firewall keys on it. */
    teeNetworkTag: MANATEE_TEE_NETWORK_TAG,
    /** Service account attached to every Confidential Space VM (confidential_space.go). */
    teeServiceAccountId: `dcr-${env}-cvm-sa`,
    teeServiceAccountEmail: `dcr-${env}-cvm-sa@${project}.iam.gserviceaccount.com`,
    /** Kubernetes SA the reconciler's Kaniko and mock-TEE jobs run as (kaniko.go). */
    jobServiceKsa: "dcr-k8s-pod-sa",
    /** Kubernetes SA of the JupyterLab single-user pods. */
    jupyterKsa: "jupyter-k8s-pod-sa",
    /** Secret the API and reconciler read MySQL settings from (deployment templates). */
    mysqlSecret: "mysql-secret",
    /** Role the reconciler's service account needs for Kaniko jobs. */
    jobServiceRole: "dcr-pod-role",
    /** OIDC provider ID ManaTEE's data SDK hard-codes (tutorials/code/sdk/data.py). */
    wifProviderId: "attestation-verifier",
    /** Image names pushed by `bazel run //:push_all_images`. */
    images: {
      api: "manatee-api",
      reconciler: "manatee-reconciler",
      jupyterlab: "manatee-jupyterlab-singleuser",
      executorBase: "manatee-executor-base",
    },
    /** What the images hard-code besides resource names (reference/manatee-runtime.md §3.3, §3.4, §4.3, §6). */
    runtime: {
      /** The API listens here and answers `GET /health` (app/api/main.go, router.go). */
      apiPort: 8080,
      apiHealthPath: "/health",
      /** Keys of `mysqlSecret` the API and reconciler read. */
      mysqlSecretKeys: { username: "mysql-username", password: "mysql-password", database: "mysql-database" },
      /** Environment the API and reconciler read (db/init.go, storage.go, registry.go, reconciler.go, confidential_space.go). */
      serviceEnv: {
        mysqlUsername: "MYSQL_USERNAME",
        mysqlPassword: "MYSQL_PASSWORD",
        mysqlDatabase: "MYSQL_DATABASE",
        mysqlHost: "MYSQL_HOST",
        mysqlPort: "MYSQL_PORT",
        env: "ENV",
        projectId: "PROJECT_ID",
        region: "REGION",
        zone: "ZONE",
        debug: "DEBUG",
        storageType: "STORAGE_TYPE",
        registryType: "REGISTRY_TYPE",
        teeBackend: "TEE_BACKEND",
      },
      /** The JupyterLab extension finds the API through this variable (handlers.py). */
      apiHostEnv: "DATA_CLEAN_ROOM_HOST",
      /** Single-user variables with this prefix reach the TEE as `tee-env-*` (handlers.py, confidential_space.go). */
      extraEnvPrefix: "MANATEE_EXTRA_ENV_",
      /** The data SDK reads the execution stage (1 or 2) from this variable (tutorials/code/sdk/data.py). */
      stageEnv: "EXECUTION_STAGE",
    },
  } as const;
}
export type ManateeContract = ReturnType<typeof manateeContract>;

/** Purposes of the per-dataset buckets. */
export type DatasetBucketPurpose = "stage1" | "stage2";

/**
 * The names of the clean room's data-plane resources, derived from the policy alone so
 * the constructs, the access report and the guardrails name the same things.
 */
export function dataPlaneNames(policy: { name: string; project: string }): DataPlaneNames {
  const key = `${policy.name}\n${policy.project}`;
  let names = dataPlaneNamesCache.get(key);
  if (!names) dataPlaneNamesCache.set(key, (names = Object.freeze(computeDataPlaneNames(policy))));
  return names;
}

// Every key, bucket and repository of a room asks for its names: computed once per room.
const dataPlaneNamesCache = new Map<string, DataPlaneNames>();
/**
 * The names of a room's data-plane resources, derived from the policy alone (`dataPlaneNames`).
 * @useDeclaredType
 */
export type DataPlaneNames = ReturnType<typeof computeDataPlaneNames>;

function computeDataPlaneNames(policy: { name: string; project: string }) {
  const room = policy.name;
  return {
    /** Workload identity pool of the room's Confidential Space workloads. */
    poolId: resourceName("workloadIdentityPoolId", room, "tee"),
    providerId: manateeContract(room, policy.project).wifProviderId,
    /** Key ring of the attestation-bound dataset keys. */
    datasetKeyRing: resourceName("keyRing", room, "datasets"),
    /** Key ring of the CMEK storage key, kept apart from the dataset keys. */
    storageKeyRing: resourceName("keyRing", room, "storage"),
    storageKey: resourceName("cryptoKey", room, "storage"),
    datasetKey: (dataset: string) => resourceName("cryptoKey", dataset),
    /** Bucket names are global: the project id makes them unique. */
    datasetBucket: (dataset: string, purpose: DatasetBucketPurpose) =>
      resourceName("bucket", policy.project, room, dataset, purpose === "stage1" ? "s1" : "s2"),
    /**
     * Per-dataset reader service account (impersonation mode). A dataset with more approved
     * images than one allow policy takes has several readers (iam-limits.ts): the first keeps
     * the plain name, reader n >= 2 is `…-rd<n>`.
     */
    readerServiceAccountId: (dataset: string, reader = 1) =>
      resourceName("serviceAccountId", room, dataset, reader === 1 ? "rd" : `rd${reader}`),
    /**
     * Per-dataset pool of per-job approvals (docs/job-path.md): signatures cannot be mapped to
     * attributes, so each dataset's signer lives in its own pool's condition.
     */
    jobPoolId: (dataset: string) => resourceName("workloadIdentityPoolId", room, dataset, "jobs"),
    /** Provider of each job pool: ManaTEE's SDK hard-codes the id, as for the room's pool. */
    jobProviderId: manateeContract(room, policy.project).wifProviderId,
    /** The dataset owners' approver key (ASYMMETRIC_SIGN), on the dataset key ring. */
    approverKey: (dataset: string) => resourceName("cryptoKey", dataset, "approver"),
    /** Artifact Registry repository the owners push cosign signatures to (`tee-signed-image-repos`). */
    signatureRepositoryId: (dataset: string) => resourceName("artifactRepository", room, dataset, "approvals"),
    /**
     * Project custom roles of ManaTEE's SDK (custom role ids take no '-'): `projects.get` alone (the
     * SDK reads the project number), and bucket get + object get/list for stage-1 readers.
     */
    projectReaderRoleId: resourceName("customRoleId", `manatee_${room.replace(/-/g, "_")}_project_get`),
    stage1ReaderRoleId: resourceName("customRoleId", `manatee_${room.replace(/-/g, "_")}_stage1_reader`),
    bucketMetadataRoleId: resourceName("customRoleId", `manatee_${room.replace(/-/g, "_")}_bucket_get`),
  };
}

/** `<region>-docker.pkg.dev/<project>/<repository>`: a regional Docker repository's path. */
export function dockerRepositoryPath(region: string, project: string, repositoryId: string): string {
  return `${region}-docker.pkg.dev/${project}/${repositoryId}`;
}

/** Package name of the deploy-built executor base in the executor-bases repository. */
export const EXECUTOR_BASE_IMAGE = "executor-base";

/**
 * Repositories and bucket of the job path as the data owners' commands (`manatee jobs`) name them,
 * from the policy alone: the room's executor-bases and user-images repositories (`ImageRegistry`,
 * both in the room's region unless the deploy overrides their location) and the job service's
 * workspace bucket (the hub bucket), where review records live under `reviews/`.
 */
export function jobPathNames(policy: { name: string; project: string; region: string }) {
  const c = manateeContract(policy.name, policy.project);
  const executorBasesRepositoryId = resourceName("artifactRepository", "dcr", c.env, "executor-bases");
  const userImagesRepositoryId = c.userImagesRepository;
  return {
    executorBasesRepositoryId,
    userImagesRepositoryId,
    /** `<region>-docker.pkg.dev/<project>/<repository>` of each, with the default (room region) location. */
    executorBasesRepository: dockerRepositoryPath(policy.region, policy.project, executorBasesRepositoryId),
    /** Where the deploy-built executor base is read (`<executorBasesRepository>/executor-base`). */
    executorBaseImageRepository: `${dockerRepositoryPath(policy.region, policy.project, executorBasesRepositoryId)}/${EXECUTOR_BASE_IMAGE}`,
    userImagesRepository: dockerRepositoryPath(policy.region, policy.project, userImagesRepositoryId),
    /** The job service's workspace bucket. */
    hubBucket: c.hubBucket,
    /** Object prefix of the review records (job-service/src/reconcile.ts `reviewObjectName`). */
    reviewPrefix: "reviews/",
  };
}

/** Names of the platform's Google identities, derived from the policy alone. */
export function platformNames(policy: { name: string; project: string }) {
  const c = manateeContract(policy.name, policy.project);
  const saEmail = (id: string) => `${id}@${policy.project}.iam.gserviceaccount.com`;
  const jobServiceSaId = resourceName("serviceAccountId", "dcr", c.env, "pod-sa");
  const jupyterSaId = resourceName("serviceAccountId", "jupyter", c.env, "pod-sa");
  const verifierSaId = resourceName("serviceAccountId", policy.name, "verifier");
  return {
    /** Google SA of the ManaTEE API, reconciler and Kaniko builds (ManaTEE: dcr-ENV-pod-sa). */
    jobServiceSaId,
    jobServiceSaEmail: saEmail(jobServiceSaId),
    /** Google SA of the JupyterLab single-user pods (ManaTEE: jupyter-ENV-pod-sa). */
    jupyterSaId,
    jupyterSaEmail: saEmail(jupyterSaId),
    /** Google SA of the attestation verifier function. */
    verifierSaId,
    verifierSaEmail: saEmail(verifierSaId),
    teeSaEmail: c.teeServiceAccountEmail,
  };
}

/** Job VMs are `<prefix>-<uuid v4>` (36 characters): a prefix of at most 26 keeps them within GCE's 63. */
export const JOB_INSTANCE_PREFIX_PATTERN = /^[a-z][-a-z0-9]{0,25}$/;

/**
 * The job VMs' name prefix, `<room>-job` (room names have at most 20 characters). The one
 * derivation every user shares: the verifier's `release.instancePrefix` (a token releases only
 * into `<prefix>-<job>`), the job service's VM names and its launcher condition.
 */
export function jobInstancePrefix(policy: { name: string }): string {
  const prefix = `${policy.name}-job`;
  if (!JOB_INSTANCE_PREFIX_PATTERN.test(prefix)) {
    throw new InvalidPropsError(
      `Job VM name prefix "${prefix}" (from the clean room name "${policy.name}") must be 1-26 lowercase letters, digits or '-', ` +
        `starting with a letter. Use a room name of 3-20 lowercase letters, digits or '-' that starts with a letter.`,
    );
  }
  return prefix;
}

/**
 * Names of the output release: the quarantine bucket the TEE writes create-only, the release
 * bucket the verifier copies approved results into, and the two custom roles that say exactly
 * what each writer may do there.
 */
export function outputReleaseNames(policy: { name: string; project: string }) {
  const room = policy.name;
  const roleBase = `manatee_${room.replace(/-/g, "_")}`;
  return {
    quarantineBucket: resourceName("bucket", policy.project, room, "quarantine"),
    releaseBucket: resourceName("bucket", policy.project, room, "release"),
    /** storage.objects.create only (the TEE on the quarantine bucket). */
    quarantineWriterRoleId: resourceName("customRoleId", `${roleBase}_quarantine_writer`),
    /** storage.objects.create, get, list; no delete (the verifier on the release bucket). */
    releaseWriterRoleId: resourceName("customRoleId", `${roleBase}_release_writer`),
  };
}
