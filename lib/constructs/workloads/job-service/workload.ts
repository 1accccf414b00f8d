/**
 * Kubernetes half of the job path (workloads stack): `JobService`, the namespace, the Kubernetes
 * service accounts bound to the Google accounts of `JobServiceIdentity`, the configuration
 * (`JobServiceConfig` JSON) as a ConfigMap, one Deployment, the `manatee` Service the JupyterLab
 * extension calls, and NetworkPolicies.
 */
import { Fn, ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { ConfigMapV1 } from "@cdktf/provider-kubernetes/lib/config-map-v1";
import { DeploymentV1 } from "@cdktf/provider-kubernetes/lib/deployment-v1";
import { NamespaceV1 } from "@cdktf/provider-kubernetes/lib/namespace-v1";
import { NetworkPolicyV1 } from "@cdktf/provider-kubernetes/lib/network-policy-v1";
import { ServiceAccountV1 } from "@cdktf/provider-kubernetes/lib/service-account-v1";
import { ServiceV1 } from "@cdktf/provider-kubernetes/lib/service-v1";
import type { JobServiceConfig } from "../../../../job-service/src/config";
import { manateeContract } from "../../../policy/names";
import {
  BuildStepImages,
  DEFAULT_HUB_API_URL,
  DEFAULT_JOB_SERVICE_NAMESPACE,
  GKE_METADATA_NODE_SELECTOR,
  JOB_SERVICE_API_SELECTOR,
  JOB_SERVICE_API_SERVICE,
  JOB_SERVICE_CONFIG_DIR,
  JOB_SERVICE_CONFIG_FILE,
  JOB_SERVICE_ENV,
  JOB_SERVICE_HEALTH_PATH,
  JOB_SERVICE_PORT,
  JUPYTERHUB_HUB_ACCESS_LABELS,
  JUPYTERHUB_SINGLEUSER_POD_LABELS,
  jobServiceApiUrl,
} from "./contract";
import { parseImageReference } from "./image-reference";
import { requireKubernetesName } from "./names";
import { terraformText } from "../../../internal/literal-text";
import { InvalidPropsError, LimitExceededError } from "../../../errors";
import { CleanRoomIdentity, roomOf } from "../../../internal/common";

/** Container resources (Kubernetes quantities). */
export interface ContainerResources {
  readonly requests?: { readonly cpu?: string; readonly memory?: string };
  readonly limits?: { readonly cpu?: string; readonly memory?: string };
}

export interface JobServiceAccounts {
  /** Google SA e-mail of the job service (`JobServiceIdentity.jobServiceAccountEmail`). */
  readonly jobService: string;
  /** Google SA e-mail of JupyterLab (`JobServiceIdentity.jupyterServiceAccountEmail`). */
  readonly jupyter: string;
}

/** The deployment's Google resources the job service's adapters use (outside `JobServiceConfig`). */
export interface JobServiceGoogleResources {
  /** Firestore database id of the job records (`JobStateStore.databaseId`). */
  readonly firestoreDatabase: string;
  /** Workspace tarballs and review records (the hub bucket). */
  readonly workspaceBucket: string;
  /** E-mail of the account job builds run as (`JobServiceIdentity.builderServiceAccountEmail`). */
  readonly builderServiceAccount: string;
  /** Bucket of job build logs (`JobServiceIdentity.buildLogsBucket`). */
  readonly buildLogsBucket: string;
}

export interface JobServiceApiAccess {
  /** Namespace of the JupyterLab pods allowed to call the job service. @default the job service namespace */
  readonly clientNamespace?: string;
  /** Labels of the pods allowed to call it. @default JUPYTERHUB_SINGLEUSER_POD_LABELS */
  readonly clientPodLabels?: Readonly<Record<string, string>>;
}

export interface JobServiceProps {
  /**
   * The room (its name labels the objects; the ManaTEE contract derives from name and project).
   * Required unless the deprecated `roomName` + `project` are given.
   * @default - the deprecated props
   */
  readonly room?: CleanRoomIdentity;
  /** @deprecated use `room`. @default - room.name */
  readonly roomName?: string;
  /** @deprecated use `room`. @default - room.project */
  readonly project?: string;
  /** @default "manatee" */
  readonly namespace?: string;
  /** Create the namespace (with Pod Security Admission labels). @default true */
  readonly createNamespace?: boolean;
  readonly serviceAccounts: JobServiceAccounts;
  /**
   * The job service image, pinned by an immutable tag or a digest (the deploy-built
   * `ContainerImageBuild.imageReference`).
   */
  readonly image: string;
  /** The compiled configuration (`jobServiceConfigFor`); strings may be Terraform references. */
  readonly config: JobServiceConfig;
  readonly google: JobServiceGoogleResources;
  /** JupyterHub's API, where researchers' tokens are verified. @default DEFAULT_HUB_API_URL */
  readonly hubApiUrl?: string;
  /** Step images of job builds, pinned by digest (`CleanRoomWorkloads` passes its deploy-mirrored copies). */
  readonly buildStepImages: BuildStepImages;
  /** @default requests 100m CPU / 384Mi, limit 1Gi memory (a workspace upload is at most limits.maxWorkspaceBytes) */
  readonly resources?: ContainerResources;
  /** Size of the pod's `/tmp` (uploads spool there). @default "1Gi" */
  readonly tmpSize?: string;
  /** Who may call the job service. @default JupyterLab single-user pods of the same namespace */
  readonly apiAccess?: JobServiceApiAccess;
  /** Resources to create first (e.g. the Workload Identity bindings). @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** @default the default Kubernetes provider */
  readonly provider?: TerraformProvider;
}

/** `node` in the official Node images: the Dockerfile's USER. */
const NODE_UID = "1000";
const KUBE_DNS_PORT = "53";
/** GKE Dataplane V2 serves the metadata server (Workload Identity) here. */
const GKE_METADATA_SERVER = { cidr: "169.254.169.252/32", port: "988" };
const METADATA_SERVER = { cidr: "169.254.169.254/32", port: "80" };
const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"];

const DEFAULT_RESOURCES: ContainerResources = { requests: { cpu: "100m", memory: "384Mi" }, limits: { memory: "1Gi" } };

/** Kubernetes refuses a ConfigMap whose data (keys and values) exceeds 1 MiB. */
export const CONFIG_MAP_MAX_BYTES = 1024 * 1024;
/** Kept for the references the config holds (instance template, verifier URL, executor base), resolved at apply. */
const REFERENCE_ALLOWANCE_BYTES = 4096;

/** Fails the synth, not the first apply, when the room's configuration cannot be delivered. */
function assertFitsConfigMap(configJson: string, constructPath: string): void {
  const bytes = Buffer.byteLength(JOB_SERVICE_CONFIG_FILE) + Buffer.byteLength(configJson);
  if (bytes + REFERENCE_ALLOWANCE_BYTES <= CONFIG_MAP_MAX_BYTES) return;
  throw new LimitExceededError(
    `the job service's configuration is ${bytes} bytes; with ${REFERENCE_ALLOWANCE_BYTES} bytes kept for values known only at apply, ` +
      `it exceeds what a Kubernetes ConfigMap holds (${CONFIG_MAP_MAX_BYTES} bytes), so the first apply would fail.`,
    {
      constructPath,
      property: "config",
      fix: "Most of it is one entry per standing approval of each dataset: remove expired approvals, or split the datasets over two rooms.",
    },
  );
}

/**
 * The job service on GKE, hardened:
 * - namespace enforcing Pod Security `baseline` (JupyterHub's chart pods share it) and
 *   warning/auditing `restricted`, which the job service itself meets;
 * - Kubernetes SAs bound to the Google SAs through Workload Identity, no API token mounted;
 * - ConfigMap holding the `JobServiceConfig` JSON; the pod template carries its SHA-256, so a
 *   changed configuration (a new instance template, say) rolls the pod;
 * - one replica with the `Recreate` strategy (the launch loop runs once, never twice during a
 *   rollout), non-root, read-only root file system, no capabilities, RuntimeDefault seccomp,
 *   requests and limits, liveness and readiness on `/health`;
 * - the `manatee` Service (port 80 → 8080) the JupyterLab extension calls;
 * - the pod label z2jh's hub NetworkPolicy admits, so the job service can verify tokens at the hub;
 * - NetworkPolicies: only single-user pods may call it; it may reach only DNS, the metadata
 *   server, the hub's API and public addresses on 443 (Google APIs), never other private addresses.
 */
export class JobService extends Construct {
  public readonly namespace: string;
  /** Undefined when `createNamespace` is false. */
  public readonly namespaceResource?: NamespaceV1;
  public readonly jobServiceKsa: ServiceAccountV1;
  public readonly jupyterKsa: ServiceAccountV1;
  public readonly config: ConfigMapV1;
  /** The configuration JSON (strings may hold Terraform references), before Terraform escaping. */
  public readonly configJson: string;
  public readonly deployment: DeploymentV1;
  public readonly service: ServiceV1;
  public readonly ingressPolicy: NetworkPolicyV1;
  public readonly egressPolicy: NetworkPolicyV1;
  /** `http://manatee.<namespace>.svc.cluster.local` */
  public readonly apiUrl: string;
  public readonly image: string;

  constructor(scope: Construct, id: string, props: JobServiceProps) {
    super(scope, id);
    const { name: roomName, project } = roomOf(props, this.node.path);
    const { provider } = props;
    const contract = manateeContract(roomName, project);
    validateJobServiceProps(props, roomName);

    const namespaceName = props.namespace ?? DEFAULT_JOB_SERVICE_NAMESPACE;
    this.apiUrl = jobServiceApiUrl(namespaceName);
    this.image = props.image;
    const commonLabels = {
      "app.kubernetes.io/instance": roomName,
      "app.kubernetes.io/part-of": "manatee",
      "app.kubernetes.io/managed-by": "manatee-cdktf",
    };

    if (props.createNamespace ?? true) {
      this.namespaceResource = new NamespaceV1(this, "Namespace", {
        metadata: {
          name: namespaceName,
          labels: {
            ...commonLabels,
            // baseline, not restricted: JupyterHub's chart pods live here too.
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/warn-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/audit-version": "latest",
          },
        },
        dependsOn: props.dependsOn,
        provider,
      });
    }
    // Referencing the namespace resource orders everything after it.
    this.namespace = this.namespaceResource ? this.namespaceResource.metadata.name : namespaceName;
    const dependsOn = this.namespaceResource ? undefined : props.dependsOn;
    const meta = (name: string, labels: Record<string, string> = {}) => ({
      name,
      namespace: this.namespace,
      labels: { ...commonLabels, ...labels },
    });

    this.jobServiceKsa = new ServiceAccountV1(this, "JobServiceKsa", {
      metadata: { ...meta(contract.jobServiceKsa), annotations: { "iam.gke.io/gcp-service-account": props.serviceAccounts.jobService } },
      automountServiceAccountToken: false,
      dependsOn,
      provider,
    });
    this.jupyterKsa = new ServiceAccountV1(this, "JupyterKsa", {
      metadata: { ...meta(contract.jupyterKsa), annotations: { "iam.gke.io/gcp-service-account": props.serviceAccounts.jupyter } },
      automountServiceAccountToken: false,
      dependsOn,
      provider,
    });

    // Deterministic, compact text: the ConfigMap changes only when the configuration does, and its
    // size is what Kubernetes' 1 MiB ConfigMap limit sees. terraformText escapes template syntax.
    this.configJson = `${JSON.stringify(props.config)}\n`;
    assertFitsConfigMap(this.configJson, this.node.path);
    this.config = new ConfigMapV1(this, "Config", {
      metadata: meta("manatee-job-service-config"),
      data: { [JOB_SERVICE_CONFIG_FILE]: terraformText(this.configJson) },
      dependsOn,
      provider,
    });

    const labels = { ...JOB_SERVICE_API_SELECTOR, "app.kubernetes.io/instance": roomName };
    const env = JOB_SERVICE_ENV;
    const resources = k8sResources(props.resources ?? DEFAULT_RESOURCES);
    const stepImages = props.buildStepImages;
    this.deployment = new DeploymentV1(this, "Deployment", {
      metadata: meta("manatee-job-service", labels),
      spec: {
        replicas: "1",
        // Never two launch loops at once, not even during a rollout.
        strategy: { type: "Recreate" },
        revisionHistoryLimit: 5,
        selector: { matchLabels: labels },
        template: {
          metadata: {
            labels: { ...commonLabels, ...labels, ...JUPYTERHUB_HUB_ACCESS_LABELS },
            // Resolved at apply: a new template self link or digest changes the hash and rolls the pod.
            annotations: { "manatee.dev/config-sha256": Fn.sha256(Fn.lookup(this.config.data, JOB_SERVICE_CONFIG_FILE, "")) },
          },
          spec: {
            serviceAccountName: this.jobServiceKsa.metadata.name,
            // Google credentials come from Workload Identity; the job service never calls the Kubernetes API.
            automountServiceAccountToken: false,
            // No service discovery through environment variables: the service reads only its own.
            enableServiceLinks: false,
            nodeSelector: { ...GKE_METADATA_NODE_SELECTOR },
            terminationGracePeriodSeconds: 30,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: NODE_UID,
              runAsGroup: NODE_UID,
              seccompProfile: { type: "RuntimeDefault" },
            },
            container: [
              {
                name: "job-service",
                image: props.image,
                port: [{ name: "http", containerPort: JOB_SERVICE_PORT, protocol: "TCP" }],
                env: [
                  { name: env.configFile, value: `${JOB_SERVICE_CONFIG_DIR}/${JOB_SERVICE_CONFIG_FILE}` },
                  { name: env.port, value: String(JOB_SERVICE_PORT) },
                  { name: env.hubApiUrl, value: props.hubApiUrl ?? DEFAULT_HUB_API_URL },
                  { name: env.project, value: project },
                  { name: env.firestoreDatabase, value: props.google.firestoreDatabase },
                  { name: env.workspaceBucket, value: props.google.workspaceBucket },
                  { name: env.builderServiceAccount, value: props.google.builderServiceAccount },
                  { name: env.buildLogsBucket, value: props.google.buildLogsBucket },
                  { name: env.buildStepGcloud, value: stepImages.gcloud },
                  { name: env.buildStepCrane, value: stepImages.crane },
                  { name: "NODE_ENV", value: "production" },
                ],
                livenessProbe: {
                  httpGet: { path: JOB_SERVICE_HEALTH_PATH, port: "http" },
                  initialDelaySeconds: 10,
                  periodSeconds: 20,
                  timeoutSeconds: 5,
                  failureThreshold: 3,
                },
                readinessProbe: {
                  httpGet: { path: JOB_SERVICE_HEALTH_PATH, port: "http" },
                  periodSeconds: 10,
                  timeoutSeconds: 5,
                  failureThreshold: 3,
                },
                resources,
                securityContext: {
                  runAsNonRoot: true,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"] },
                },
                volumeMount: [
                  { name: "config", mountPath: JOB_SERVICE_CONFIG_DIR, readOnly: true },
                  { name: "tmp", mountPath: "/tmp" },
                ],
              },
            ],
            volume: [
              { name: "config", configMap: { name: this.config.metadata.name, defaultMode: "0444" } },
              { name: "tmp", emptyDir: { sizeLimit: props.tmpSize ?? "1Gi" } },
            ],
          },
        },
      },
      dependsOn,
      provider,
    });

    this.service = new ServiceV1(this, "Service", {
      metadata: meta(JOB_SERVICE_API_SERVICE, { "app.kubernetes.io/component": "job-service" }),
      spec: {
        type: "ClusterIP",
        selector: labels,
        port: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
      },
      dependsOn,
      provider,
    });

    const access = props.apiAccess ?? {};
    const clientNamespace = access.clientNamespace;
    this.ingressPolicy = new NetworkPolicyV1(this, "IngressPolicy", {
      metadata: meta("manatee-job-service-ingress"),
      spec: {
        podSelector: { matchLabels: labels },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              {
                podSelector: { matchLabels: { ...(access.clientPodLabels ?? JUPYTERHUB_SINGLEUSER_POD_LABELS) } },
                ...(clientNamespace && clientNamespace !== namespaceName
                  ? { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": clientNamespace } } }
                  : {}),
              },
            ],
            ports: [{ port: String(JOB_SERVICE_PORT), protocol: "TCP" }],
          },
        ],
      },
      dependsOn,
      provider,
    });
    this.egressPolicy = new NetworkPolicyV1(this, "EgressPolicy", {
      metadata: meta("manatee-job-service-egress"),
      spec: {
        podSelector: { matchLabels: labels },
        policyTypes: ["Egress"],
        egress: [
          // DNS (kube-dns, or NodeLocal DNSCache on a link-local address).
          { ports: [{ port: KUBE_DNS_PORT, protocol: "UDP" }, { port: KUBE_DNS_PORT, protocol: "TCP" }] },
          // Workload Identity: the GKE metadata server.
          { to: [{ ipBlock: { cidr: GKE_METADATA_SERVER.cidr } }], ports: [{ port: GKE_METADATA_SERVER.port, protocol: "TCP" }] },
          { to: [{ ipBlock: { cidr: METADATA_SERVER.cidr } }], ports: [{ port: METADATA_SERVER.port, protocol: "TCP" }] },
          // The hub's API: researchers' tokens are verified there.
          { to: [{ podSelector: { matchLabels: { component: "hub" } } }], ports: [{ port: "8081", protocol: "TCP" }] },
          // Google APIs and the verifier (public Google addresses or Private Google Access VIPs), never private addresses.
          { to: [{ ipBlock: { cidr: "0.0.0.0/0", except: PRIVATE_RANGES } }], ports: [{ port: "443", protocol: "TCP" }] },
        ],
      },
      dependsOn,
      provider,
    });
  }
}

type KubernetesResources = { requests?: Record<string, string>; limits?: Record<string, string> };

function k8sResources(r: ContainerResources): KubernetesResources {
  const defined = (q?: { readonly cpu?: string; readonly memory?: string }) =>
    q ? Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined) as [string, string][]) : undefined;
  const requests = defined(r.requests);
  const limits = defined(r.limits);
  return { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
}

function validateJobServiceProps(props: JobServiceProps, room: string): void {
  requireKubernetesName(props.namespace, `JobService "namespace"`);
  if (props.apiAccess?.clientNamespace !== undefined) {
    requireKubernetesName(props.apiAccess.clientNamespace, `JobService "apiAccess.clientNamespace"`);
  }
  if (!Token.isUnresolved(room) && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(room)) {
    throw new InvalidPropsError(`JobService "roomName" "${room}" cannot label Kubernetes objects. Use lowercase letters, digits and '-' (at most 63).`);
  }
  for (const [key, email] of Object.entries(props.serviceAccounts)) {
    if (!Token.isUnresolved(email) && !/^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9.:]+\.iam\.gserviceaccount\.com$/.test(email)) {
      throw new InvalidPropsError(
        `JobService "serviceAccounts.${key}" "${email}" is not a Google service account e-mail. ` +
          `Pass the e-mail from JobServiceIdentity (…@<project>.iam.gserviceaccount.com).`,
      );
    }
  }
  if (!Token.isUnresolved(props.image)) {
    const ref = parseImageReference(props.image, `JobService "image"`);
    if (ref.tag === "latest" && !ref.digest) {
      throw new InvalidPropsError(
        `JobService "image" "${props.image}" is tagged "latest", which moves. Use the deploy-built image ` +
          `(ContainerImageBuild.imageReference, an immutable content-hash tag) or a digest.`,
      );
    }
  }
  for (const [key, ref] of Object.entries(props.buildStepImages)) {
    if (!Token.isUnresolved(ref) && !parseImageReference(ref, `JobService "buildStepImages.${key}"`).digest) {
      throw new InvalidPropsError(`JobService "buildStepImages.${key}" "${ref}" is not pinned by digest. Use image@sha256:<digest>: job builds run it.`);
    }
  }
  const c = props.config;
  if (!c || c.version !== 1 || !c.launch || !c.images) {
    throw new InvalidPropsError(`JobService "config" is not a JobServiceConfig. Compile it with jobServiceConfigFor(policy, resources).`);
  }
  if (!Token.isUnresolved(c.launch.instanceTemplate) && !/^projects\/[^/]+\/(global|regions\/[^/]+)\/instanceTemplates\/[^/]+$/.test(c.launch.instanceTemplate)) {
    throw new InvalidPropsError(
      `JobService "config.launch.instanceTemplate" "${c.launch.instanceTemplate}" is not an instance template. ` +
        `Pass ConfidentialSpaceWorkload.instanceTemplateId: job VMs are only ever created from the room's template.`,
    );
  }
  for (const [key, value] of Object.entries(props.google)) {
    if (!Token.isUnresolved(value) && value.trim() === "") throw new InvalidPropsError(`JobService "google.${key}" is empty.`);
  }
  if (props.tmpSize !== undefined && !/^\d+(Ki|Mi|Gi)$/.test(props.tmpSize)) {
    throw new InvalidPropsError(`JobService "tmpSize" "${props.tmpSize}" is not a Kubernetes quantity such as "1Gi".`);
  }
}
