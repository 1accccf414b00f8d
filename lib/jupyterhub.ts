/**
 * JupyterHub for the programming stage (stage 1): the zero-to-jupyterhub (z2jh) Helm chart,
 * pinned, with values generated as a typed object and passed to Helm as deterministic YAML.
 *
 * Secure by default, unlike the chart's and ManaTEE's defaults:
 * - a real authenticator is required; the dummy one only in a `nonProduction` room;
 * - no OAuth client secret in Terraform: the hub reads it from a Kubernetes Secret created
 *   out of band (`kubectl create secret generic …`);
 * - the proxy is a ClusterIP Service unless an internal load balancer or HTTPS is chosen;
 *   plain HTTP on a public load balancer is not offered;
 * - researchers are an explicit map from identity-provider name to a short username that is
 *   safe inside GCE instance and Docker image names;
 * - the JupyterLab extension authenticates to the room's job service with the server's own hub
 *   token (`USER_TOKEN = "token $(JUPYTERHUB_API_TOKEN)"`), which the job service verifies at the
 *   hub: the job's creator is the hub's answer, never a name from the request body.
 */
import { DataResource, ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { Release } from "@cdktf/provider-helm/lib/release";
import * as YAML from "yaml";
import {
  DEFAULT_JOB_SERVICE_NAMESPACE,
  GKE_METADATA_NODE_SELECTOR,
  JOB_SERVICE_API_SELECTOR,
  JOB_SERVICE_PORT,
  jobServiceApiUrl,
  parseImageReference,
  requireRegistryUrl,
} from "./job-service";
import { NAME_RULES, manateeContract } from "./policy/names";

/** The chart this construct's values are written and tested for (schema in test/fixtures/z2jh). */
export const Z2JH_CHART = {
  repository: "https://hub.jupyter.org/helm-chart/",
  chart: "jupyterhub",
  version: "4.4.0",
} as const;

/**
 * Usernames the job service can carry: ManaTEE names each job's image and Confidential Space VM
 * `<username>-<uuid v1>` (36 chars) and GCE names are at most 63 characters, lowercase, starting
 * with a letter. So: 1-26 characters of `[a-z0-9-]`, starting with a letter, not ending in '-'.
 */
export const RESEARCHER_USERNAME_PATTERN = "^[a-z](?:[a-z0-9-]{0,24}[a-z0-9])?$";
const USERNAME = new RegExp(RESEARCHER_USERNAME_PATTERN);

/** A key of an existing Kubernetes Secret in the release namespace. */
export interface SecretKeyRef {
  readonly secretName: string;
  /** @default "client-secret" */
  readonly key?: string;
}

interface OAuthClientOptions {
  readonly clientId: string;
  /**
   * The OAuth client secret, read from an existing Kubernetes Secret (never from Terraform):
   * `kubectl -n <namespace> create secret generic <secretName> --from-literal=client-secret=<secret>`.
   */
  readonly clientSecret: SecretKeyRef;
  /**
   * The OAuth redirect URI registered with the provider: `https://<host>/hub/oauth_callback`, or
   * `http://localhost:<port>/hub/oauth_callback` when the hub is reached with `kubectl port-forward`.
   */
  readonly callbackUrl: string;
}

/** Google sign-in (OpenID Connect). Usernames arrive as e-mail addresses. */
export interface GoogleAuthenticatorOptions extends OAuthClientOptions {
  readonly type: "google";
  /** Google Workspace / Cloud Identity domains whose accounts may sign in. */
  readonly hostedDomains: readonly string[];
}

/** GitHub sign-in. Usernames arrive as GitHub logins (lower-cased). */
export interface GitHubAuthenticatorOptions extends OAuthClientOptions {
  readonly type: "github";
  /**
   * Members of these organizations may sign in even when not listed in `researchers`; their
   * login must then already be a valid username.
   * @default []
   */
  readonly allowedOrganizations?: readonly string[];
}

/** Any OAuth 2.0 / OpenID Connect provider. */
export interface GenericOAuthAuthenticatorOptions extends OAuthClientOptions {
  readonly type: "generic-oauth";
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  readonly userdataUrl: string;
  /** Claim of the userdata response that names the user. @default "preferred_username" */
  readonly usernameClaim?: string;
  /** @default ["openid", "profile", "email"] */
  readonly scope?: readonly string[];
  /** Text of the login button. @default "Single sign-on" */
  readonly loginService?: string;
}

/**
 * JupyterHub's DummyAuthenticator: anyone can sign in under any name. Only for non-production
 * rooms (`nonProduction: true`) reached through `kubectl port-forward`.
 */
export interface DummyAuthenticatorOptions {
  readonly type: "dummy";
  readonly acknowledgeInsecure: true;
}

export type JupyterHubAuthenticator =
  | GoogleAuthenticatorOptions
  | GitHubAuthenticatorOptions
  | GenericOAuthAuthenticatorOptions
  | DummyAuthenticatorOptions;

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
  /** Clean room name and project: the ManaTEE contract (service account, image names) derives from them. */
  readonly roomName: string;
  readonly project: string;
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

/** A z2jh NetworkPolicy block (`hub.networkPolicy`, `singleuser.networkPolicy`). */
export interface Z2jhNetworkPolicy {
  readonly enabled: boolean;
  readonly egress?: readonly Record<string, unknown>[];
  readonly egressAllowRules?: Readonly<Record<
    "cloudMetadataServer" | "dnsPortsCloudMetadataServer" | "dnsPortsKubeSystemNamespace" | "dnsPortsPrivateIPs" | "nonPrivateIPs" | "privateIPs",
    boolean
  >>;
}

/** `hub`: traitlets config (`hub.config` is free-form in the schema) and the client-secret env. */
export interface Z2jhHubValues {
  readonly config: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly extraEnv?: Readonly<Record<string, unknown>>;
  readonly networkPolicy: Z2jhNetworkPolicy;
}

export interface Z2jhProxyValues {
  readonly service: {
    readonly type: "ClusterIP" | "LoadBalancer";
    readonly annotations?: Readonly<Record<string, string>>;
    readonly loadBalancerSourceRanges?: readonly string[];
    readonly disableHttpPort?: boolean;
  };
  readonly https: {
    readonly enabled: boolean;
    readonly type?: "letsencrypt" | "secret";
    readonly hosts?: readonly string[];
    readonly letsencrypt?: { readonly contactEmail: string };
    readonly secret?: { readonly name: string };
  };
}

export interface Z2jhSingleUserValues {
  readonly image: { readonly name: string; readonly tag: string; readonly pullPolicy: "Always" | "IfNotPresent" };
  /** null: keep the image's own command. */
  readonly cmd: null;
  readonly serviceAccountName: string;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly cloudMetadata: { readonly blockWithIptables: boolean; readonly ip: string };
  readonly extraEnv: Readonly<Record<string, string>>;
  readonly storage: { readonly type: "dynamic"; readonly capacity: string; readonly homeMountPath: string };
  readonly networkPolicy: Z2jhNetworkPolicy;
  readonly allowPrivilegeEscalation: boolean;
  readonly memory: { readonly guarantee: string; readonly limit?: string };
  readonly cpu?: { readonly guarantee?: number; readonly limit?: number };
}

/** The z2jh values this construct generates: a typed subset of the chart's schema, merged over the chart defaults by Helm. */
export interface JupyterHubValues {
  readonly hub: Z2jhHubValues;
  readonly proxy: Z2jhProxyValues;
  readonly singleuser: Z2jhSingleUserValues;
  readonly prePuller: { readonly hook: { readonly enabled: boolean }; readonly continuous: { readonly enabled: boolean } };
  readonly scheduling: { readonly userScheduler: { readonly enabled: boolean } };
  readonly cull: { readonly enabled: boolean; readonly timeout: number; readonly every: number };
  readonly debug: { readonly enabled: boolean };
}

const AUTHENTICATOR_CLASS = {
  google: { entryPoint: "google", configClass: "GoogleOAuthenticator" },
  github: { entryPoint: "github", configClass: "GitHubOAuthenticator" },
  "generic-oauth": { entryPoint: "generic-oauth", configClass: "GenericOAuthenticator" },
  dummy: { entryPoint: "dummy", configClass: "DummyAuthenticator" },
} as const;

const METADATA_SERVER_IP = "169.254.169.254";
/** What the JupyterLab extension sends as `Authorization` (handlers.py), and the server's hub token. */
const USER_TOKEN_ENV = "USER_TOKEN";
const JUPYTERHUB_API_TOKEN_ENV = "JUPYTERHUB_API_TOKEN";
/** GKE Dataplane V2 serves Workload Identity from this address (GKE network policy docs). */
const GKE_METADATA_SERVER_CIDR = "169.254.169.252/32";
const GKE_METADATA_SERVER_PORT = 988;
/** private.googleapis.com and restricted.googleapis.com. */
const PRIVATE_GOOGLE_ACCESS_CIDRS = ["199.36.153.8/30", "199.36.153.4/30"];

/** The z2jh Helm release for the programming stage, with its values exposed. */
export class JupyterHub extends Construct {
  public readonly release: Release;
  /** The wait for the OAuth client Secret, when `waitForClientSecret` is set. */
  public readonly clientSecretWait?: DataResource;
  /** The values passed to Helm (also in `valuesYaml`). */
  public readonly values: JupyterHubValues;
  /** The exact YAML document Helm receives: keys sorted, no line folding. */
  public readonly valuesYaml: string;
  public readonly namespace: string;
  /** Clean-room usernames allowed to sign in (sorted). */
  public readonly allowedUsers: readonly string[];

  constructor(scope: Construct, id: string, props: JupyterHubProps) {
    super(scope, id);
    const namespace = props.namespace ?? DEFAULT_JOB_SERVICE_NAMESPACE;
    this.namespace = namespace;
    const contract = manateeContract(props.roomName, props.project);
    validateJupyterHubProps(props);

    const researchers = normalizeResearchers(props.researchers ?? {});
    this.allowedUsers = [...new Set(Object.values(researchers))].sort();
    const image = singleUserImage(props, contract.images.jupyterlab);
    const apiNamespace = props.jobServiceNamespace ?? namespace;
    const apiUrl = jobServiceApiUrl(apiNamespace);

    this.values = {
      hub: hubValues(props, researchers, this.allowedUsers),
      proxy: proxyValues(props.exposure ?? { type: "cluster-ip" }),
      singleuser: {
        image: {
          name: image.name,
          tag: image.tag,
          // A moving tag must be re-pulled; a digest never changes.
          pullPolicy: image.tag === "latest" ? "Always" : "IfNotPresent",
        },
        // null keeps the image's own start-notebook (docker-stacks), which runs its before-notebook hooks.
        cmd: null,
        serviceAccountName: contract.jupyterKsa,
        nodeSelector: { ...GKE_METADATA_NODE_SELECTOR },
        // Workload Identity is served by the metadata server: z2jh's iptables block would cut it off.
        cloudMetadata: { blockWithIptables: false, ip: METADATA_SERVER_IP },
        extraEnv: singleUserEnv(contract, apiUrl, props.terminals ?? false),
        storage: {
          type: "dynamic",
          capacity: props.storageCapacity ?? "20Gi",
          homeMountPath: "/home/jovyan",
        },
        networkPolicy: singleUserNetworkPolicy(props.egress ?? "internet", apiNamespace !== namespace ? apiNamespace : undefined),
        allowPrivilegeEscalation: false,
        ...singleUserResources(props.singleUserResources),
      },
      // The hook would make every `terraform apply` wait for image pulls on all nodes.
      prePuller: { hook: { enabled: false }, continuous: { enabled: true } },
      // The user scheduler runs kube-scheduler with cluster-wide RBAC just to pack pods tighter.
      scheduling: { userScheduler: { enabled: false } },
      cull: { enabled: true, timeout: 3600, every: 600 },
      debug: { enabled: false },
    };
    this.valuesYaml = YAML.stringify(this.values, { sortMapEntries: true, lineWidth: 0 });

    const helm = { ...DEFAULT_JUPYTERHUB_HELM, ...props.helm };
    if (!Token.isUnresolved(helm.timeoutSeconds) && !(Number.isInteger(helm.timeoutSeconds) && helm.timeoutSeconds >= 60 && helm.timeoutSeconds <= 3600)) {
      throw new Error(`JupyterHub "helm.timeoutSeconds" ${helm.timeoutSeconds} is out of range. Use 60 to 3600 seconds.`);
    }
    const auth = props.authenticator;
    if (props.waitForClientSecret && auth.type !== "dummy") {
      this.clientSecretWait = clientSecretWait(this, props.waitForClientSecret, namespace, auth.clientSecret.secretName, auth.clientSecret.key ?? "client-secret");
    }

    this.release = new Release(this, "Release", {
      name: props.releaseName ?? "jupyterhub",
      namespace,
      createNamespace: props.createNamespace ?? false,
      repository: Z2JH_CHART.repository,
      chart: Z2JH_CHART.chart,
      version: Z2JH_CHART.version,
      values: [this.valuesYaml],
      description: `JupyterHub of clean room ${props.roomName} (manatee-cdktf)`,
      // Roll back a failed upgrade instead of leaving a half-configured hub (helm.atomic).
      atomic: helm.atomic,
      cleanupOnFail: true,
      timeout: helm.timeoutSeconds,
      maxHistory: 10,
      dependsOn: props.dependsOn || this.clientSecretWait ? [...(props.dependsOn ?? []), ...(this.clientSecretWait ? [this.clientSecretWait] : [])] : undefined,
      provider: props.provider,
    });
  }
}

/**
 * Why a wait and not a Secret resource: Terraform cannot create the Secret without holding its
 * value, and whatever it holds lands in state (the kubernetes provider's write-only `data_wo` needs
 * Terraform 1.11 ephemeral values, which cdktf 0.21 cannot declare), and a `kubernetes_secret_v1`
 * data source would read the value into state too. So the Secret stays out of band and the release
 * waits for it: without the wait, Helm would install a hub whose pod cannot start
 * (CreateContainerConfigError) and roll it back after its timeout. The check reads metadata only,
 * runs once per Secret name (triggers_replace), and prints the kubectl command while it waits.
 */
function clientSecretWait(scope: Construct, wait: WaitForClientSecret, namespace: string, secretName: string, key: string): DataResource {
  const timeout = wait.timeoutSeconds ?? 900;
  if (!Token.isUnresolved(timeout) && !(Number.isInteger(timeout) && timeout >= 0 && timeout <= 86_400)) {
    throw new Error(`JupyterHub "waitForClientSecret.timeoutSeconds" ${timeout} is out of range. Use 0 to 86400 seconds.`);
  }
  const command = [
    "set -u",
    'set --; if [ -n "$CA_PEM" ]; then ca=$(mktemp); printf "%s\n" "$CA_PEM" >"$ca"; set -- --cacert "$ca"; fi',
    'deadline=$(( $(date +%s) + WAIT_SECONDS ))',
    "while :; do",
    '  code=$(curl -s -o /dev/null -w "%{http_code}" "$@" -H "Authorization: Bearer $(gcloud auth application-default print-access-token)" ' +
      '-H "Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1" "$API_SERVER/api/v1/namespaces/$NAMESPACE/secrets/$SECRET_NAME") || code=000',
    '  [ "$code" = 200 ] && exit 0',
    '  if [ "$(date +%s)" -ge "$deadline" ]; then echo "JupyterHub: the OAuth client Secret $NAMESPACE/$SECRET_NAME does not exist (HTTP $code). Create it, then apply again: kubectl -n $NAMESPACE create secret generic $SECRET_NAME --from-literal=$KEY=<client secret>" >&2; exit 1; fi',
    '  echo "JupyterHub: waiting for the OAuth client Secret $NAMESPACE/$SECRET_NAME (HTTP $code): kubectl -n $NAMESPACE create secret generic $SECRET_NAME --from-literal=$KEY=<client secret>" >&2',
    "  sleep 10",
    "done",
  ].join("\n");
  return new DataResource(scope, "ClientSecretWait", {
    triggersReplace: { namespace, secretName },
    provisioners: [
      {
        type: "local-exec",
        interpreter: ["/bin/sh", "-c"],
        command,
        environment: {
          API_SERVER: wait.apiServer,
          CA_PEM: wait.clusterCaCertificate ?? "",
          NAMESPACE: namespace,
          SECRET_NAME: secretName,
          KEY: key,
          WAIT_SECONDS: String(timeout),
        },
      },
    ],
    dependsOn: wait.dependsOn,
  });
}

function hubValues(
  props: JupyterHubProps,
  researchers: Record<string, string>,
  allowedUsers: readonly string[],
): Z2jhHubValues {
  const auth = props.authenticator;
  const cls = AUTHENTICATOR_CLASS[auth.type];
  const authenticator: Record<string, unknown> = {
    // Rejects any other name at login, so no unsafe name ever reaches the job service.
    username_pattern: RESEARCHER_USERNAME_PATTERN,
    username_map: usernameMap(auth, researchers),
    allowed_users: [...allowedUsers],
    admin_users: [...(props.adminUsers ?? [])].sort(),
  };
  const config: Record<string, Record<string, unknown>> = {
    JupyterHub: {
      authenticator_class: cls.entryPoint,
      // Admins manage the hub; they do not open researchers' servers.
      admin_access: false,
      cookie_max_age_days: 1,
    },
    Authenticator: authenticator,
    KubeSpawner: {
      // Single-user pods use Workload Identity, never the Kubernetes API.
      automount_service_account_token: false,
    },
  };
  if (auth.type === "dummy") {
    // Anyone may sign in; only the username pattern still applies.
    if (allowedUsers.length === 0) authenticator.allow_all = true;
    return { config, networkPolicy: { enabled: true } };
  }
  authenticator.allow_all = false;
  const client: Record<string, unknown> = { client_id: auth.clientId, oauth_callback_url: auth.callbackUrl };
  if (auth.type === "google") {
    config[cls.configClass] = { ...client, hosted_domain: [...auth.hostedDomains], login_service: "Google" };
  } else if (auth.type === "github") {
    config[cls.configClass] = {
      ...client,
      ...(auth.allowedOrganizations?.length ? { allowed_organizations: [...auth.allowedOrganizations] } : {}),
    };
  } else {
    config[cls.configClass] = {
      ...client,
      authorize_url: auth.authorizeUrl,
      token_url: auth.tokenUrl,
      userdata_url: auth.userdataUrl,
      username_claim: auth.usernameClaim ?? "preferred_username",
      scope: [...(auth.scope ?? ["openid", "profile", "email"])],
      login_service: auth.loginService ?? "Single sign-on",
    };
  }
  return {
    config,
    // OAuthenticator reads client_secret from OAUTH_CLIENT_SECRET when it is not configured.
    extraEnv: {
      OAUTH_CLIENT_SECRET: {
        valueFrom: { secretKeyRef: { name: auth.clientSecret.secretName, key: auth.clientSecret.key ?? "client-secret" } },
      },
    },
    networkPolicy: { enabled: true },
  };
}

/**
 * `Authenticator.username_map` (applied after lower-casing). Google strips the domain from
 * e-mails when exactly one hosted domain is configured (older OAuthenticator releases), so the
 * local part is mapped too: both forms then land on the same clean-room username.
 */
function usernameMap(auth: JupyterHubAuthenticator, researchers: Record<string, string>): Record<string, string> {
  const map: Record<string, string> = {};
  for (const [identity, username] of Object.entries(researchers)) {
    if (identity !== username) map[identity] = username;
    if (auth.type === "google" && auth.hostedDomains.length === 1) {
      const [local, domain] = identity.split("@");
      if (domain === auth.hostedDomains[0].toLowerCase() && local !== username) map[local] = username;
    }
  }
  return map;
}

function proxyValues(exposure: JupyterHubExposure): Z2jhProxyValues {
  switch (exposure.type) {
    case "cluster-ip":
      return { service: { type: "ClusterIP" }, https: { enabled: false } };
    case "internal-load-balancer":
      return {
        service: {
          type: "LoadBalancer",
          annotations: { "networking.gke.io/load-balancer-type": "Internal" },
          loadBalancerSourceRanges: [...(exposure.sourceRanges ?? [])],
        },
        https: { enabled: false },
      };
    case "https": {
      const internal = exposure.loadBalancer === "internal";
      const tls = exposure.tls;
      return {
        service: {
          type: "LoadBalancer",
          ...(internal ? { annotations: { "networking.gke.io/load-balancer-type": "Internal" } } : {}),
          loadBalancerSourceRanges: [...(exposure.sourceRanges ?? [])],
          // Let's Encrypt needs port 80 for the HTTP-01 challenge (then redirects); a given certificate does not.
          disableHttpPort: tls.type === "secret",
        },
        https:
          tls.type === "letsencrypt"
            ? { enabled: true, type: "letsencrypt", hosts: [...exposure.hosts], letsencrypt: { contactEmail: tls.contactEmail } }
            : { enabled: true, type: "secret", hosts: [...exposure.hosts], secret: { name: tls.secretName } },
      };
    }
  }
}

function singleUserEnv(
  contract: ReturnType<typeof manateeContract>,
  apiUrl: string,
  terminals: boolean,
): Record<string, string> {
  const rt = contract.runtime;
  return {
    // The data SDK reads stage-1 data here. Stage 2 is set by the executor base itself: a launch-time
    // override (MANATEE_EXTRA_ENV_*) would be refused by the attestation condition.
    [rt.stageEnv]: "1",
    [rt.apiHostEnv]: apiUrl,
    // The extension sends this as its Authorization header; KubeSpawner orders env entries so the kubelet
    // expands $(JUPYTERHUB_API_TOKEN), the server's own hub token, which the job service verifies at the hub.
    [USER_TOKEN_ENV]: `token $(${JUPYTERHUB_API_TOKEN_ENV})`,
    ...(terminals ? {} : { NOTEBOOK_ARGS: "--ServerApp.terminals_enabled=False" }),
  };
}

function singleUserNetworkPolicy(egress: SingleUserEgress, apiNamespace: string | undefined): Z2jhNetworkPolicy {
  const rules: Record<string, unknown>[] = [
    // The job service (policies see the pod port, after the Service's translation); z2jh's default
    // egress admits no private address, so without this rule the extension could not submit.
    {
      to: [
        {
          podSelector: { matchLabels: { ...JOB_SERVICE_API_SELECTOR } },
          ...(apiNamespace ? { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": apiNamespace } } } : {}),
        },
      ],
      ports: [{ port: JOB_SERVICE_PORT, protocol: "TCP" }],
    },
    // Workload Identity on Dataplane V2 clusters.
    {
      to: [{ ipBlock: { cidr: GKE_METADATA_SERVER_CIDR } }],
      ports: [{ port: GKE_METADATA_SERVER_PORT, protocol: "TCP" }],
    },
  ];
  if (egress === "private-google-access") {
    rules.push({
      to: PRIVATE_GOOGLE_ACCESS_CIDRS.map((cidr) => ({ ipBlock: { cidr } })),
      ports: [{ port: 443, protocol: "TCP" }],
    });
  }
  return {
    enabled: true,
    egress: rules,
    egressAllowRules: {
      cloudMetadataServer: true,
      dnsPortsCloudMetadataServer: true,
      dnsPortsKubeSystemNamespace: true,
      dnsPortsPrivateIPs: true,
      nonPrivateIPs: egress === "internet",
      privateIPs: false,
    },
  };
}

function singleUserResources(r: SingleUserResources = {}): Pick<Z2jhSingleUserValues, "memory" | "cpu"> {
  return {
    memory: { guarantee: r.memoryGuarantee ?? "1G", ...(r.memoryLimit ? { limit: r.memoryLimit } : {}) },
    ...(r.cpuGuarantee !== undefined || r.cpuLimit !== undefined
      ? {
          cpu: {
            ...(r.cpuGuarantee !== undefined ? { guarantee: r.cpuGuarantee } : {}),
            ...(r.cpuLimit !== undefined ? { limit: r.cpuLimit } : {}),
          },
        }
      : {}),
  };
}

function singleUserImage(props: JupyterHubProps, imageName: string): { name: string; tag: string } {
  if (props.singleUserImage !== undefined) {
    if (Token.isUnresolved(props.singleUserImage)) {
      throw new Error(
        `JupyterHub "singleUserImage" must be a literal: the chart takes the image as separate name and tag. ` +
          `Pass a literal reference, or "serviceImagesRegistry" (may be a token) with "imageTag".`,
      );
    }
    const ref = parseImageReference(props.singleUserImage, `JupyterHub "singleUserImage"`);
    // z2jh joins name and tag with ':'; a reference with a digest pulls by digest whatever the tag says.
    if (ref.digest) return { name: ref.name, tag: `${ref.tag ?? "pinned"}@${ref.digest}` };
    return { name: ref.name, tag: ref.tag! };
  }
  if (props.serviceImagesRegistry === undefined) {
    throw new Error(
      `JupyterHub needs "singleUserImage" (CleanRoomWorkloads passes the deploy-built image) or "serviceImagesRegistry".`,
    );
  }
  requireRegistryUrl(props.serviceImagesRegistry, `JupyterHub "serviceImagesRegistry"`);
  return { name: `${props.serviceImagesRegistry}/${imageName}`, tag: props.imageTag ?? "latest" };
}

function normalizeResearchers(researchers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [identity, username] of Object.entries(researchers)) out[identity.toLowerCase()] = username;
  return out;
}

function validateJupyterHubProps(props: JupyterHubProps): void {
  const auth = props.authenticator;
  const exposure = props.exposure ?? { type: "cluster-ip" };
  const nonProduction = props.nonProduction ?? false;

  for (const [field, value] of [
    ["namespace", props.namespace],
    ["jobServiceNamespace", props.jobServiceNamespace],
    ["releaseName", props.releaseName],
  ] as const) {
    if (value === undefined || Token.isUnresolved(value)) continue;
    if (!NAME_RULES.kubernetesName.pattern.test(value) || value.length > NAME_RULES.kubernetesName.max) {
      throw new Error(`JupyterHub "${field}" "${value}" is not a valid Kubernetes name (${NAME_RULES.kubernetesName.source}).`);
    }
  }

  if (auth.type === "dummy") {
    if (!nonProduction) {
      throw new Error(
        `JupyterHub "authenticator": the dummy authenticator lets anyone sign in under any name. It is only allowed ` +
          `when "nonProduction" is true; configure a "google", "github" or "generic-oauth" authenticator for this room.`,
      );
    }
    if (auth.acknowledgeInsecure !== true) {
      throw new Error(`JupyterHub "authenticator": the dummy authenticator needs "acknowledgeInsecure: true".`);
    }
    if (exposure.type !== "cluster-ip") {
      throw new Error(
        `JupyterHub "exposure": with the dummy authenticator the hub must stay a ClusterIP service (reach it with ` +
          `kubectl port-forward); anyone who reaches a load balancer could sign in.`,
      );
    }
  } else {
    requireNonEmpty(auth.clientId, `JupyterHub "authenticator.clientId"`);
    requireNonEmpty(auth.clientSecret.secretName, `JupyterHub "authenticator.clientSecret.secretName"`);
    if (!Token.isUnresolved(auth.clientSecret.secretName) && !NAME_RULES.kubernetesName.pattern.test(auth.clientSecret.secretName)) {
      throw new Error(
        `JupyterHub "authenticator.clientSecret.secretName" "${auth.clientSecret.secretName}" is not a Kubernetes Secret name.`,
      );
    }
    const cb = auth.callbackUrl;
    if (!Token.isUnresolved(cb) && !/^(https:\/\/[^/\s]+|http:\/\/(localhost|127\.0\.0\.1)(:\d+)?)\/(.*\/)?hub\/oauth_callback$/.test(cb)) {
      throw new Error(
        `JupyterHub "authenticator.callbackUrl" "${cb}" must be https://<host>/hub/oauth_callback ` +
          `(or http://localhost:<port>/hub/oauth_callback when reached with kubectl port-forward).`,
      );
    }
    if (auth.type === "google") {
      if (auth.hostedDomains.length === 0) {
        throw new Error(
          `JupyterHub "authenticator.hostedDomains" is empty: any Google account could attempt to sign in. ` +
            `List your Workspace / Cloud Identity domain(s).`,
        );
      }
      for (const identity of Object.keys(props.researchers ?? {})) {
        const domain = identity.toLowerCase().split("@")[1];
        if (!domain || !auth.hostedDomains.map((d) => d.toLowerCase()).includes(domain)) {
          throw new Error(
            `JupyterHub "researchers" key "${identity}" is not an e-mail address in "authenticator.hostedDomains" ` +
              `[${auth.hostedDomains.join(", ")}]: Google sign-in returns e-mail addresses.`,
          );
        }
      }
    }
    if (auth.type === "generic-oauth") {
      for (const key of ["authorizeUrl", "tokenUrl", "userdataUrl"] as const) {
        const url = auth[key];
        if (!Token.isUnresolved(url) && !/^https:\/\/[^\s]+$/.test(url)) {
          throw new Error(`JupyterHub "authenticator.${key}" "${url}" must be an https:// URL.`);
        }
      }
    }
    const orgs = auth.type === "github" ? (auth.allowedOrganizations ?? []) : [];
    if (Object.keys(props.researchers ?? {}).length === 0 && orgs.length === 0) {
      throw new Error(
        `JupyterHub "researchers" is empty, so nobody could sign in. Map each researcher's identity to a username, ` +
          `e.g. { "alice@example.org": "alice" }.`,
      );
    }
  }

  const seen = new Map<string, string>();
  const identities = new Map<string, string>();
  for (const [identity, username] of Object.entries(props.researchers ?? {})) {
    const lower = identity.toLowerCase();
    const sameIdentity = identities.get(lower);
    if (sameIdentity !== undefined) {
      throw new Error(
        `JupyterHub "researchers" lists "${sameIdentity}" and "${identity}", the same identity once lower-cased (JupyterHub compares lower-cased names).`,
      );
    }
    identities.set(lower, identity);
    if (!USERNAME.test(username)) {
      throw new Error(
        `JupyterHub "researchers" maps "${identity}" to "${username}", which is not a safe username: ManaTEE names ` +
          `each job's image and VM "<username>-<uuid>", so use 1-26 lowercase letters, digits and '-', starting with a letter.`,
      );
    }
    const other = seen.get(username);
    if (other !== undefined) {
      throw new Error(
        `JupyterHub "researchers" maps both "${other}" and "${identity}" to "${username}": they would share one account and its jobs.`,
      );
    }
    seen.set(username, identity);
  }
  for (const admin of props.adminUsers ?? []) {
    if (!seen.has(admin)) {
      throw new Error(`JupyterHub "adminUsers" entry "${admin}" is not a username in "researchers".`);
    }
  }

  if (exposure.type === "https") {
    if (exposure.hosts.length === 0) throw new Error(`JupyterHub "exposure.hosts" is empty: name the host(s) the certificate is for.`);
    if (exposure.tls.type === "letsencrypt") {
      if (exposure.loadBalancer === "internal") {
        throw new Error(
          `JupyterHub "exposure": Let's Encrypt cannot validate a host behind an internal load balancer. ` +
            `Use tls: { type: "secret", secretName } with a certificate you provide.`,
        );
      }
      requireNonEmpty(exposure.tls.contactEmail, `JupyterHub "exposure.tls.contactEmail"`);
    } else {
      requireNonEmpty(exposure.tls.secretName, `JupyterHub "exposure.tls.secretName"`);
    }
  }
  if (props.imageTag !== undefined && !Token.isUnresolved(props.imageTag) && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(props.imageTag)) {
    throw new Error(`JupyterHub "imageTag" "${props.imageTag}" is not an image tag.`);
  }
  if (props.storageCapacity !== undefined && !/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$/.test(props.storageCapacity)) {
    throw new Error(`JupyterHub "storageCapacity" "${props.storageCapacity}" is not a Kubernetes quantity such as "20Gi".`);
  }
}

function requireNonEmpty(value: string, field: string): void {
  if (!Token.isUnresolved(value) && value.trim() === "") throw new Error(`${field} is empty.`);
}
