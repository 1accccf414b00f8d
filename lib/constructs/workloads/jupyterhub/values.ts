/**
 * The zero-to-jupyterhub (z2jh) values: the typed subset of the chart's schema this library
 * generates, and the pure functions that build each part (hub and authenticator config, proxy
 * exposure, single-user environment, NetworkPolicy, resources, image). No constructs here, so the
 * values can be reasoned about and tested against the chart schema on their own.
 */
import { Token } from "cdktf";
import { JOB_SERVICE_API_SELECTOR, JOB_SERVICE_PORT, parseImageReference, requireRegistryUrl } from "../job-service";
import { manateeContract } from "../../../policy/names";
import { JupyterHubAuthenticator, RESEARCHER_USERNAME_PATTERN } from "./authenticator";
import { JupyterHubExposure, JupyterHubProps, SingleUserEgress, SingleUserResources } from "./props";
import { InvalidPropsError } from "../../../errors";

/** The chart this construct's values are written and tested for (schema in test/fixtures/z2jh). */
export const Z2JH_CHART = {
  repository: "https://hub.jupyter.org/helm-chart/",
  chart: "jupyterhub",
  version: "4.4.0",
} as const;

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

export const METADATA_SERVER_IP = "169.254.169.254";
/** What the JupyterLab extension sends as `Authorization` (handlers.py), and the server's hub token. */
const USER_TOKEN_ENV = "USER_TOKEN";
const JUPYTERHUB_API_TOKEN_ENV = "JUPYTERHUB_API_TOKEN";
/** GKE Dataplane V2 serves Workload Identity from this address (GKE network policy docs). */
const GKE_METADATA_SERVER_CIDR = "169.254.169.252/32";
const GKE_METADATA_SERVER_PORT = 988;
/** private.googleapis.com and restricted.googleapis.com. */
const PRIVATE_GOOGLE_ACCESS_CIDRS = ["199.36.153.8/30", "199.36.153.4/30"];

export function hubValues(
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

export function proxyValues(exposure: JupyterHubExposure): Z2jhProxyValues {
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

export function singleUserEnv(
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

export function singleUserNetworkPolicy(egress: SingleUserEgress, apiNamespace: string | undefined): Z2jhNetworkPolicy {
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

export function singleUserResources(r: SingleUserResources = {}): Pick<Z2jhSingleUserValues, "memory" | "cpu"> {
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

export function singleUserImage(props: JupyterHubProps, imageName: string): { name: string; tag: string } {
  if (props.singleUserImage !== undefined) {
    if (Token.isUnresolved(props.singleUserImage)) {
      throw new InvalidPropsError(
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
    throw new InvalidPropsError(
      `JupyterHub needs "singleUserImage" (CleanRoomWorkloads passes the deploy-built image) or "serviceImagesRegistry".`,
    );
  }
  requireRegistryUrl(props.serviceImagesRegistry, `JupyterHub "serviceImagesRegistry"`);
  return { name: `${props.serviceImagesRegistry}/${imageName}`, tag: props.imageTag ?? "latest" };
}

export function normalizeResearchers(researchers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [identity, username] of Object.entries(researchers)) out[identity.toLowerCase()] = username;
  return out;
}
