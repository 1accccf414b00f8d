/**
 * How researchers sign in to the programming-stage JupyterHub: the authenticator choices (a real
 * OAuth / OpenID Connect provider, or the dummy one for non-production rooms only) and the
 * researcher username rule. Kept apart from the construct because the stack config
 * (stacks/config.ts) builds these from the room file without building a hub.
 *
 * No OAuth client secret ever passes through here: only a reference to a Kubernetes Secret
 * created out of band.
 */

/**
 * Usernames the job service can carry: ManaTEE names each job's image and Confidential Space VM
 * `<username>-<uuid v1>` (36 chars) and GCE names are at most 63 characters, lowercase, starting
 * with a letter. So: 1-26 characters of `[a-z0-9-]`, starting with a letter, not ending in '-'.
 */
export { JUPYTERHUB_USERNAME_PATTERN as RESEARCHER_USERNAME_PATTERN } from "../../../policy/validation/vocabulary";

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
