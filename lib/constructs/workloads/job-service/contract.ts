/**
 * The contract shared by the job service (job-service/src), its image, its Kubernetes side and
 * JupyterHub: namespace, Service name, port and health path, pod labels, where the configuration
 * is mounted, the environment the container entry reads, and the build step images. Kept apart
 * from the constructs so JupyterHub and tests can use the names without the resources.
 */
import { JOB_SERVICE_ENV } from "../../../../job-service/src/env";

/** @default namespace of the job service and JupyterHub (ManaTEE deploys both into one). */
export const DEFAULT_JOB_SERVICE_NAMESPACE = "manatee";

/** Name of the ClusterIP Service in front of the job service: the extension's `DATA_CLEAN_ROOM_HOST` names it. */
export const JOB_SERVICE_API_SERVICE = "manatee";

/** The job service listens here and answers `GET /health` (job-service/src/main.ts). */
export const JOB_SERVICE_PORT = 8080;
export const JOB_SERVICE_HEALTH_PATH = "/health";

/** Pod labels that select the job service (and only it): JupyterHub's egress policy uses them. */
export const JOB_SERVICE_API_SELECTOR: Readonly<Record<string, string>> = {
  "app.kubernetes.io/name": "manatee",
  "app.kubernetes.io/component": "job-service",
};

/** Label z2jh (KubeSpawner) puts on every JupyterLab single-user pod. */
export const JUPYTERHUB_SINGLEUSER_POD_LABELS: Readonly<Record<string, string>> = {
  component: "singleuser-server",
};

/** z2jh's hub NetworkPolicy admits pods of the release namespace that carry this label. */
export const JUPYTERHUB_HUB_ACCESS_LABELS: Readonly<Record<string, string>> = {
  "hub.jupyter.org/network-access-hub": "true",
};

/** The hub's API inside the release namespace (z2jh's `hub` Service, port 8081). */
export const DEFAULT_HUB_API_URL = "http://hub:8081/hub/api";

/** Only nodes running the GKE metadata server give pods their Workload Identity. */
export const GKE_METADATA_NODE_SELECTOR: Readonly<Record<string, string>> = {
  "iam.gke.io/gke-metadata-server-enabled": "true",
};

/** Where the Deployment mounts the compiled `JobServiceConfig`. */
export const JOB_SERVICE_CONFIG_DIR = "/etc/manatee";
export const JOB_SERVICE_CONFIG_FILE = "job-service.json";

/**
 * The environment the container entry (job-service/src/main.ts) reads: the config file, and the
 * deployment's resources that are not part of the policy's `JobServiceConfig`. Defined once, in
 * job-service/src/env.ts (no imports), and shared with the service.
 */
export { JOB_SERVICE_ENV };

/**
 * The tools job builds run in Cloud Build, pinned by digest (never a moving tag).
 * `CleanRoomWorkloads` mirrors them into the room's executor-bases repository at deploy
 * (job-service/build-steps) and passes those copies' digests.
 */
export interface BuildStepImages {
  /** gcloud, bash and GNU tar: fetches and unpacks the workspace, packs the layer. */
  readonly gcloud: string;
  /** gcrane's debug image (with a shell): appends the workspace layer to the base by digest. */
  readonly crane: string;
}

/** The in-cluster URL of the job service (what the JupyterLab extension reads from `DATA_CLEAN_ROOM_HOST`). */
export function jobServiceApiUrl(namespace: string = DEFAULT_JOB_SERVICE_NAMESPACE): string {
  return `http://${JOB_SERVICE_API_SERVICE}.${namespace}.svc.cluster.local`;
}
