/** Deployment settings of the stage-1 JupyterHub: sign-in, exposure, egress. */

// ---- deployment settings: how the room is run, never what it allows (the verifier document ignores them)

/** How researchers sign in to JupyterHub. */
export const JUPYTERHUB_AUTHENTICATORS = ["google", "github", "generic-oauth", "dummy"] as const;
/**
 * How researchers sign in to JupyterHub.
 * @useDeclaredType
 */
export type JupyterHubAuthenticatorType = (typeof JUPYTERHUB_AUTHENTICATORS)[number];

/**
 * How the hub is reached. Never public from a config file: `cluster-ip` is reached with
 * `kubectl port-forward` (or an Ingress/IAP the platform team adds), `internal-load-balancer`
 * from inside the VPC.
 */
export const JUPYTERHUB_EXPOSURES = ["cluster-ip", "internal-load-balancer"] as const;
/**
 * How the hub is exposed (never on a public IP).
 * @useDeclaredType
 */
export type JupyterHubExposureType = (typeof JUPYTERHUB_EXPOSURES)[number];

/** Where single-user pods may connect besides the hub, DNS, the metadata server and the job service. */
export const JUPYTERHUB_EGRESS = ["internet", "private-google-access"] as const;
/**
 * Where single-user pods may connect besides the hub, DNS, the metadata server and the job service.
 * @useDeclaredType
 */
export type JupyterHubEgress = (typeof JUPYTERHUB_EGRESS)[number];

export const DEFAULT_CLIENT_SECRET_KEY = "client-secret";
export const DEFAULT_USERNAME_CLAIM = "preferred_username";

/** An OAuth client whose secret lives in a Kubernetes Secret created out of band (never in Terraform state). */
export interface OAuthClientSettings {
  readonly clientId: string;
  /** Name of the Kubernetes Secret in the release namespace that holds the client secret. */
  readonly clientSecret: string;
  /** Key of the client secret in that Secret. @default "client-secret" */
  readonly clientSecretKey: string;
  /** `https://<host>/hub/oauth_callback`, or `http://localhost:<port>/hub/oauth_callback` for port-forward access. */
  readonly callbackUrl: string;
}

export interface GoogleAuthenticatorSettings extends OAuthClientSettings {
  readonly type: "google";
  /** Workspace / Cloud Identity domains whose accounts may sign in (non-empty). */
  readonly hostedDomains: readonly string[];
}

export interface GitHubAuthenticatorSettings extends OAuthClientSettings {
  readonly type: "github";
  /** Members of these organizations (`org` or `org:team`) may sign in without a `users` entry. @default [] */
  readonly allowedOrganizations: readonly string[];
}

export interface GenericOAuthAuthenticatorSettings extends OAuthClientSettings {
  readonly type: "generic-oauth";
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  readonly userdataUrl: string;
  /** @default "preferred_username" */
  readonly usernameClaim: string;
}

/** Anyone signs in under any name: non-production rooms (`tee.allowDebug: true`) reached by port-forward only. */
export interface DummyAuthenticatorSettings {
  readonly type: "dummy";
  readonly acknowledgeInsecure: true;
}

export type JupyterHubAuthenticatorSettings =
  | GoogleAuthenticatorSettings
  | GitHubAuthenticatorSettings
  | GenericOAuthAuthenticatorSettings
  | DummyAuthenticatorSettings;

/** What a caller writes: the defaulted fields may be left out. */
export type JupyterHubAuthenticatorInput =
  | (Omit<GoogleAuthenticatorSettings, "clientSecretKey"> & { readonly clientSecretKey?: string })
  | (Omit<GitHubAuthenticatorSettings, "clientSecretKey" | "allowedOrganizations"> & {
      readonly clientSecretKey?: string;
      readonly allowedOrganizations?: readonly string[];
    })
  | (Omit<GenericOAuthAuthenticatorSettings, "clientSecretKey" | "usernameClaim"> & {
      readonly clientSecretKey?: string;
      readonly usernameClaim?: string;
    })
  | DummyAuthenticatorSettings;

/** Stage-1 JupyterHub of the workloads stack. */
export interface JupyterHubSettings {
  readonly authenticator: JupyterHubAuthenticatorSettings;
  /**
   * Sign-in identity (e-mail for Google, login for GitHub, the username claim for generic
   * OAuth; compared lower-cased) → JupyterHub username (`JUPYTERHUB_USERNAME_PATTERN`, validate.ts).
   * @default {}
   */
  readonly users: Readonly<Record<string, string>>;
  /** Usernames (values of `users`) with hub admin rights. @default [] */
  readonly admins: readonly string[];
  /** @default "cluster-ip" */
  readonly exposure: JupyterHubExposureType;
  /** Home volume per user, a Kubernetes quantity. @default - the JupyterHub construct's default (20Gi) */
  readonly storageCapacity?: string;
  /** @default "internet" */
  readonly egress: JupyterHubEgress;
  /** The Helm release's timeout and rollback. @default - the JupyterHub construct's (600 s, atomic) */
  readonly helm?: { readonly timeoutSeconds?: number; readonly atomic?: boolean };
}

export interface JupyterHubSettingsInput {
  readonly authenticator: JupyterHubAuthenticatorInput;
  readonly users?: Readonly<Record<string, string>>;
  readonly admins?: readonly string[];
  readonly exposure?: JupyterHubExposureType;
  readonly storageCapacity?: string;
  readonly egress?: JupyterHubEgress;
  readonly helm?: { readonly timeoutSeconds?: number; readonly atomic?: boolean };
}
