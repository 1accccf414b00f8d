/**
 * The rules' vocabulary: limits, the shapes of names and identifiers, and the fields each
 * section takes. The JSON schema encodes the same; test/policy/schema.test.ts keeps them in step.
 * The constructs that take the same settings import these instead of keeping copies.
 */
import { TRUST_FIELDS } from "../validate-trust";
import { JupyterHubAuthenticatorType, LOCATION_COMPONENTS, STAGE1_KINDS, TeeHardware } from "../model";

export const POLICY_LIMITS = {
  /** Job timeout bounds (minutes from launch): 10 minutes to a day. */
  minJobTimeoutMinutes: 10,
  maxJobTimeoutMinutes: 1440,
  /** Largest workspace the job service accepts (MiB); bigger belongs in a dataset, not a workspace. */
  maxWorkspaceMiB: 4096,
  maxJobsInProgressPerResearcher: 100,
  /** Longest retention the loader accepts: ten years. Longer is a typo more often than a need. */
  maxRetentionDays: 3650,
  /** Confidential Space caps a custom token audience at 512 bytes. */
  maxAudienceBytes: 512,
  maxDatasetNameLength: 30,
} as const;

export const ROOM_NAME = /^[a-z][a-z0-9-]{1,18}[a-z0-9]$/;
export const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
export const REGION = /^[a-z]+-[a-z]+[0-9]{1,2}$/;
export const ZONE = /^([a-z]+-[a-z]+[0-9]{1,2})-[a-z]$/;
/** Consortium party names: short, they go into pool ids and stack names (docs/consortium-contract.md). */
export const PARTY_NAME = /^[a-z][a-z0-9-]{0,11}$/;
export const DATASET_NAME = /^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$/;
export const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;
export const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
export const EMAIL = /^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/;
export const DOMAIN = /^([A-Za-z0-9-]+\.)+[A-Za-z]{2,}$/;
export const BUCKET = /^[a-z0-9][-_a-z0-9]{1,61}[a-z0-9]$/;
export const MACHINE_TYPE = /^([a-z][a-z0-9]*)-[a-z0-9-]+$/;
export const STATE_PREFIX = /^[^/\s](.*[^/\s])?$/;
export const FINGERPRINT = /^[0-9a-f]{64}$/;
/** `host/path@sha256:<64 hex>`: a pull reference pinned by digest. */
export const PINNED_IMAGE = /^[a-z0-9][-a-z0-9.]*(:[0-9]+)?(\/[a-z0-9][-a-z0-9._]*)+@(sha256:[0-9a-f]{64})$/;
export const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
/** An access policy's numeric id, as `accessPolicies/<id>` names it. */
export const ACCESS_POLICY_ID = /^[0-9]{1,20}$/;
/** An access level's short name (the part after `accessLevels/`). */
export const ACCESS_LEVEL_NAME = /^[A-Za-z][A-Za-z0-9_]{0,49}$/;

/**
 * JupyterHub usernames the job service can carry: ManaTEE names each job's image and
 * Confidential Space VM `<username>-<uuid v1>` (36 chars) within GCE's 63. The JupyterHub
 * construct takes it from here (RESEARCHER_USERNAME_PATTERN).
 */
export const JUPYTERHUB_USERNAME_PATTERN = "^[a-z](?:[a-z0-9-]{0,24}[a-z0-9])?$";
export const JUPYTERHUB_USERNAME = new RegExp(JUPYTERHUB_USERNAME_PATTERN);
/** As the JupyterHub construct checks it: https anywhere, plain http only to a port-forward on this machine. */
export const OAUTH_CALLBACK = /^(https:\/\/[^/\s]+|http:\/\/(localhost|127\.0\.0\.1)(:\d+)?)\/(.*\/)?hub\/oauth_callback$/;
/** Kubernetes ConfigMap/Secret data keys (IsConfigMapKey). */
export const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
export const K8S_QUANTITY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$/;
export const GITHUB_LOGIN = /^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}$/;
/** `org` or `org:team-slug`, as OAuthenticator's allowed_organizations takes them. */
export const GITHUB_ORGANIZATION = /^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}(:[A-Za-z0-9_.-]+)?$/;

/** Machine families that run Confidential Space, by the hardware they need (reference/confidential-space.md §4). */
export const TDX_FAMILIES = ["c3", "a3"] as const;
export const AMD_FAMILIES = ["n2d", "c2d", "c3d"] as const;
export const AMD_MODELS: readonly TeeHardware[] = ["GCP_AMD_SEV", "GCP_AMD_SEV_ES"];

export const FIELDS = {
  root: [
    "name", "project", "region", "zone", "residency", "tee", "verifier", "datasets", "approvals", "researchers", "backend",
    "jupyterhub", "cluster", "database", "jobs", "vpcServiceControls", "locations", "parties", ...TRUST_FIELDS.root,
  ],
  tee: ["hardware", "machineType", "allowDebug", "gpu"],
  verifier: ["audience", "requireNonce"],
  dataset: ["retentionDays", "stage1", "access", "owners", "approverKey", "budget", "provisioning"],
  approverKey: ["fingerprint"],
  party: ["project", "projectNumber", "datasets", "approvals", "approvalsKey", "approvalsSignature"],
  approvalsKey: ["jwk"],
  jwk: ["kty", "crv", "x", "y"],
  jobs: ["executorBases", "executorBase", "maxJobsInProgressPerResearcher", "timeoutMinutes", "allowEnvOverrides", "maxWorkspaceMiB"],
  approval: ["imageDigest", "datasets", "purpose", "approvedBy", "expires", "spend", "gpu", ...TRUST_FIELDS.approval],
  backend: ["bucket", "prefix"],
  jupyterhub: ["authenticator", "users", "admins", "exposure", "storageCapacity", "egress", "helm"],
  jupyterhubHelm: ["timeoutSeconds", "atomic"],
  cluster: ["authorizedNetworks", "publicEndpoint", "deletionProtection"],
  authorizedNetwork: ["cidr", "name"],
  database: ["deletionProtection"],
  vpcServiceControls: ["accessPolicy", "accessLevels"],
  locations: LOCATION_COMPONENTS,
} as const;

export const OAUTH_FIELDS = ["clientId", "clientSecret", "clientSecretKey", "callbackUrl"] as const;
/** Fields each authenticator type takes, besides `type`. */
export const AUTHENTICATOR_FIELDS: Record<JupyterHubAuthenticatorType, readonly string[]> = {
  google: [...OAUTH_FIELDS, "hostedDomains"],
  github: [...OAUTH_FIELDS, "allowedOrganizations"],
  "generic-oauth": [...OAUTH_FIELDS, "authorizeUrl", "tokenUrl", "userdataUrl", "usernameClaim"],
  dummy: ["acknowledgeInsecure"],
};

/** Parameters each stage-1 kind takes, besides `kind`. */
export const STAGE1_PARAMETERS: Record<(typeof STAGE1_KINDS)[number], readonly string[]> = {
  "dp-synthetic": ["mechanism", "epsilon", "delta"],
  sample: ["fraction"],
  none: [],
};
