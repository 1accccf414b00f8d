/**
 * The JupyterHub construct's props and the option types they are made of (exposure, single-user
 * egress and resources, Helm settings, the wait for the OAuth Secret). Types only plus the Helm
 * defaults, so the construct, the values builder and the validation share one definition.
 */
import { ITerraformDependable, TerraformProvider } from "cdktf";
import { JupyterHubAuthenticator } from "./authenticator";
import type { CleanRoomIdentity } from "../../../internal/common";

/** How researchers reach the hub. */
export type JupyterHubExposure =
  /** `proxy-public` is a ClusterIP Service: `kubectl port-forward`, or an Ingress/Gateway with TLS or IAP added by the platform team. */
  | { readonly type: "cluster-ip" }
  /** A GKE internal passthrough load balancer in the VPC (plain HTTP inside the VPC: pair with VPN/IAP). */
  | { readonly type: "internal-load-balancer"; readonly sourceRanges?: readonly string[] }
  /** TLS terminated by JupyterHub's proxy, on an external (default) or internal load balancer. */
  | {
      readonly type: "https";
      readonly hosts: readonly string[];
      readonly tls:
        | { readonly type: "letsencrypt"; readonly contactEmail: string }
        /** An existing `kubernetes.io/tls` Secret in the release namespace. */
        | { readonly type: "secret"; readonly secretName: string };
      /** @default "external" */
      readonly loadBalancer?: "external" | "internal";
      /** @default [] (anyone) */
      readonly sourceRanges?: readonly string[];
    };

/** Where single-user pods may connect besides the hub, DNS, the metadata server and the job service API. */
export type SingleUserEgress =
  /** z2jh's default: any public address (PyPI for `pip install`, Google APIs for stage-1 data). */
  | "internet"
  /**
   * Google APIs through Private Google Access VIPs only (private.googleapis.com and
   * restricted.googleapis.com). Needs DNS for *.googleapis.com pointing at those ranges.
   */
  | "private-google-access";

export interface SingleUserResources {
  /** @default "1G" (z2jh default) */
  readonly memoryGuarantee?: string;
  /** @default - none */
  readonly memoryLimit?: string;
  /** CPU cores. @default - none */
  readonly cpuGuarantee?: number;
  /** CPU cores. @default - none */
  readonly cpuLimit?: number;
}

/** How the Helm release is applied. */
export interface JupyterHubHelmOptions {
  /**
   * Seconds Helm waits for the hub and proxy to be ready (60-3600). The first install pulls the
   * hub image on fresh nodes; a slow registry or autoscaling node pool may need more.
   * @default 600
   */
  readonly timeoutSeconds?: number;
  /**
   * Roll back a failed install or upgrade instead of leaving a half-configured hub. Turn it off to
   * debug a failing first install (the failed pods stay for `kubectl describe`).
   * @default true
   */
  readonly atomic?: boolean;
}

export const DEFAULT_JUPYTERHUB_HELM = { timeoutSeconds: 600, atomic: true } as const;

/**
 * Wait, before the Helm release, until the OAuth client Secret exists. The secret's value never
 * enters Terraform: the check asks the API server for the Secret's metadata only
 * (`PartialObjectMetadata`), with the deploying identity's ADC token, from the deploying machine.
 */
export interface WaitForClientSecret {
  /** `https://<API server>`: the cluster's DNS endpoint (or IP endpoint with `clusterCaCertificate`). */
  readonly apiServer: string;
  /** PEM of the cluster CA, for an IP endpoint. @default - the system trust store (DNS endpoint) */
  readonly clusterCaCertificate?: string;
  /** How long to wait for the Secret to be created. @default 900 */
  readonly timeoutSeconds?: number;
  /** Resources to wait for first (the namespace). @default [] */
  readonly dependsOn?: ITerraformDependable[];
}

export interface JupyterHubProps {
  /**
   * The room: the ManaTEE contract (service account, image names) derives from its name and
   * project. Required unless the deprecated `roomName` + `project` are given.
   * @default - the deprecated props
   */
  readonly room?: CleanRoomIdentity;
  /** @deprecated use `room`. @default - room.name */
  readonly roomName?: string;
  /** @deprecated use `room`. @default - room.project */
  readonly project?: string;
  /** Release namespace; must hold the `jupyter-k8s-pod-sa` service account (JobService creates it). @default "manatee" */
  readonly namespace?: string;
  /** @default "jupyterhub" */
  readonly releaseName?: string;
  /** Let Helm create the namespace (when no JobService does). @default false */
  readonly createNamespace?: boolean;
  /** How users sign in. Required: there is no default, so never the dummy one by accident. */
  readonly authenticator: JupyterHubAuthenticator;
  /**
   * Who may sign in: the name the identity provider returns (e-mail for Google, login for
   * GitHub, `usernameClaim` for generic OAuth; compared lower-cased) → the clean-room username
   * (`RESEARCHER_USERNAME_PATTERN`). Usernames must be unique.
   * @default {} (only dummy rooms and GitHub organizations may leave it empty)
   */
  readonly researchers?: Readonly<Record<string, string>>;
  /** Clean-room usernames with hub admin rights (they still cannot open others' servers). @default [] */
  readonly adminUsers?: readonly string[];
  /** Allow the dummy authenticator. @default false */
  readonly nonProduction?: boolean;
  /** @default { type: "cluster-ip" } */
  readonly exposure?: JupyterHubExposure;
  /**
   * Repository holding a JupyterLab image named `manatee-jupyterlab-singleuser`, when it is not
   * the deploy-built one, e.g. `us-central1-docker.pkg.dev/my-project/dcr-room-images`.
   * @default - required unless `singleUserImage` is given (CleanRoomWorkloads gives the deploy-built image)
   */
  readonly serviceImagesRegistry?: string;
  /** @default "latest" */
  readonly imageTag?: string;
  /**
   * Full single-user image reference, pinned by an immutable tag or a digest (the deploy-built
   * `ContainerImageBuild.imageReference` in `CleanRoomWorkloads`).
   * @default `${serviceImagesRegistry}/manatee-jupyterlab-singleuser:${imageTag}`
   */
  readonly singleUserImage?: string;
  /** Namespace of the job service API. @default namespace */
  readonly jobServiceNamespace?: string;
  /** Home volume size per user. @default "20Gi" */
  readonly storageCapacity?: string;
  /**
   * Offer JupyterLab terminals. Hygiene, not a boundary: notebooks can run shell commands too.
   * @default false
   */
  readonly terminals?: boolean;
  /** @default "internet" */
  readonly egress?: SingleUserEgress;
  /** @default { memoryGuarantee: "1G" } */
  readonly singleUserResources?: SingleUserResources;
  /** Resources to create first (namespace, Kubernetes service accounts, the OAuth Secret). @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** Helm's timeout and rollback. @default DEFAULT_JUPYTERHUB_HELM */
  readonly helm?: JupyterHubHelmOptions;
  /**
   * Make the release wait for the out-of-band OAuth client Secret (needs `curl` and `gcloud` where
   * Terraform runs). @default - no wait: the Secret must exist before the apply
   */
  readonly waitForClientSecret?: WaitForClientSecret;
  /** @default the default Helm provider */
  readonly provider?: TerraformProvider;
}
