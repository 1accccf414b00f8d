/**
 * The room's own job service (job-service/): the REST API the JupyterLab extension calls, which
 * verifies the researcher at JupyterHub, builds the job image with Cloud Build, waits for the
 * data owners' approvals and launches the job VM from the room's instance template
 * (docs/job-path.md). It replaces ManaTEE's Go API and reconciler images.
 *
 * Two halves, one per stack:
 * - `JobServiceIdentity` (platform stack): the Google service accounts — the job service, the
 *   job builder and JupyterLab — with every grant scoped to the one bucket, repository, database,
 *   service account or VM name it is for. Build is not launch: the builder (which runs the
 *   researcher's `pip install`) has no compute permission and cannot act as the TEE account; the
 *   job service holds no approver key and cannot write a signature.
 * - `JobService` (workloads stack): namespace, Kubernetes service accounts bound to those Google
 *   accounts, the configuration (`JobServiceConfig` JSON), one Deployment, the `manatee` Service
 *   the extension calls, and NetworkPolicies.
 *
 * This file is the barrel; the code lives in lib/constructs/workloads/job-service/, one concept per file.
 */
export * from "./contract";
export * from "./image-reference";
export { jobInstancePrefix } from "./names";
export * from "./launcher-role";
export * from "./identities";
export * from "./config";
export * from "./workload";
