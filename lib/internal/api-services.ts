/**
 * Which Google API each Terraform resource type (and data source) calls, so that it can wait
 * for that API's `google_project_service`. One table for the whole library: the dependency pass
 * (./api-dependencies.ts), the MCR-DEP1 guardrail and test/dependency-graph.test.ts all read it.
 *
 * Internal: not exported from lib/index.ts. No cdktf imports (`manatee check` uses it on JSON).
 *
 * A type is looked up exactly first, then by the longest `prefix*` entry. A type that matches
 * nothing is *unknown*: the guardrail warns on it and the dependency-graph test fails on it,
 * so a new resource type cannot slip through without someone deciding which API it needs.
 * An empty list means "calls no Google API through the project" (Kubernetes, Helm, Terraform's
 * own types, data sources computed locally).
 */

const CRM = "cloudresourcemanager.googleapis.com";
const IAM = "iam.googleapis.com";
const KMS = "cloudkms.googleapis.com";
const AR = "artifactregistry.googleapis.com";
const FIRESTORE = "firestore.googleapis.com";
const STORAGE = "storage.googleapis.com";
const CONTAINER = "container.googleapis.com";
const COMPUTE = "compute.googleapis.com";
const LOGGING = "logging.googleapis.com";
const MONITORING = "monitoring.googleapis.com";
const DNS = "dns.googleapis.com";
const RUN = "run.googleapis.com";
const CLOUDBUILD = "cloudbuild.googleapis.com";
const FUNCTIONS = "cloudfunctions.googleapis.com";
const SERVICENETWORKING = "servicenetworking.googleapis.com";
const ACM = "accesscontextmanager.googleapis.com";
const SQLADMIN = "sqladmin.googleapis.com";
const SECRETMANAGER = "secretmanager.googleapis.com";
const PUBSUB = "pubsub.googleapis.com";
const SCHEDULER = "cloudscheduler.googleapis.com";
const IAMCREDENTIALS = "iamcredentials.googleapis.com";

/** Terraform type (or `prefix*`) → the Google API services it needs enabled. */
export const API_SERVICES_BY_TYPE: Readonly<Record<string, readonly string[]>> = {
  // Service Usage itself is on before the first apply (lib/constructs/platform/apis.ts): enabling an API waits for nothing.
  google_project_service: [],
  // Project IAM goes through Resource Manager's get/setIamPolicy; custom roles are IAM's.
  google_project_iam_member: [CRM],
  google_project_iam_binding: [CRM],
  google_project_iam_policy: [CRM],
  google_project_iam_audit_config: [CRM],
  google_project_iam_custom_role: [IAM],
  google_project: [CRM],
  // Identities.
  "google_service_account*": [IAM],
  "google_iam_workload_identity_pool*": [IAM],
  google_service_account_access_token: [IAMCREDENTIALS],
  google_service_account_id_token: [IAMCREDENTIALS],
  // Computed by Terraform from its arguments, no API call.
  google_iam_policy: [],
  google_iam_role: [IAM],
  google_iam_testable_permissions: [IAM],
  // Where the deploying identity's token comes from: the provider's credentials, no API call.
  google_client_config: [],
  google_client_openid_userinfo: [],
  // Data services.
  "google_kms_*": [KMS],
  "google_artifact_registry_*": [AR],
  "google_firestore_*": [FIRESTORE],
  "google_storage_*": [STORAGE],
  "google_sql_*": [SQLADMIN],
  "google_secret_manager_*": [SECRETMANAGER],
  "google_pubsub_*": [PUBSUB],
  // Stage-1 provisioning schedules: the job publishes on a trigger topic.
  "google_cloud_scheduler_*": [SCHEDULER],
  // Compute, network, GKE. A GKE cluster writes system logs and metrics from its first node.
  "google_compute_*": [COMPUTE],
  "google_container_*": [CONTAINER],
  google_container_cluster: [CONTAINER, COMPUTE, LOGGING, MONITORING],
  google_container_node_pool: [CONTAINER, COMPUTE],
  google_service_networking_connection: [SERVICENETWORKING, COMPUTE],
  "google_dns_*": [DNS],
  "google_access_context_manager_*": [ACM],
  // Logs.
  "google_logging_*": [LOGGING],
  "google_monitoring_*": [MONITORING],
  // The verifier: gen2 functions build with Cloud Build into Artifact Registry from a source in Cloud Storage, and run on Cloud Run.
  google_cloudfunctions2_function: [FUNCTIONS, RUN, CLOUDBUILD, AR, STORAGE],
  "google_cloudfunctions2_function_iam_*": [FUNCTIONS],
  "google_cloud_run_*": [RUN],
  "google_cloudbuild_*": [CLOUDBUILD],
  // Not Google: the workloads stack's Kubernetes and Helm objects (they wait for the cluster through
  // the provider configuration and the stack dependency), Terraform's own types.
  "kubernetes_*": [],
  "helm_*": [],
  terraform_data: [],
  terraform_remote_state: [],
  "null_*": [],
  "random_*": [],
  "time_*": [],
  "local_*": [],
  "archive_*": [],
};

/**
 * The services `type` needs, or `undefined` when the table does not know the type. The same
 * table serves resources and data sources (Terraform names both the same way).
 */
export function apiServicesFor(type: string): readonly string[] | undefined {
  const exact = API_SERVICES_BY_TYPE[type];
  if (exact !== undefined && !type.endsWith("*")) return exact;
  let best: string | undefined;
  for (const key of Object.keys(API_SERVICES_BY_TYPE)) {
    if (!key.endsWith("*")) continue;
    const prefix = key.slice(0, -1);
    if (type.startsWith(prefix) && (best === undefined || prefix.length > best.length - 1)) best = key;
  }
  return best === undefined ? undefined : API_SERVICES_BY_TYPE[best];
}

/** A GKE Workload Identity member: `serviceAccount:PROJECT.svc.id.goog[ns/ksa]`. Google rejects it until the cluster exists. */
export const GKE_WORKLOAD_IDENTITY_MEMBER = /\.svc\.id\.goog\[/;

/** IAM resources (`*_iam_member`, `*_iam_binding`, `*_iam_policy`), whose principals must exist first. */
export function isIamType(type: string): boolean {
  return /_iam_(member|binding|policy)$/.test(type);
}
