/**
 * The JupyterHub settings: sign-in (authenticator), who may sign in (users, admins), exposure,
 * storage, egress and Helm. The JupyterHub construct runs these same rules on its props.
 */
import { JUPYTERHUB_AUTHENTICATORS, JUPYTERHUB_EGRESS, JUPYTERHUB_EXPOSURES, JupyterHubAuthenticatorType } from "../model";
import { NAME_RULES } from "../names";
import { Checker, checkBoolean, isPlainMap } from "./checker";
import { EXPECT } from "./expectations";
import { PolicyPath, RawIssue, closest, describeValue } from "./issues";
import {
  AUTHENTICATOR_FIELDS,
  DOMAIN,
  EMAIL,
  FIELDS,
  GITHUB_LOGIN,
  GITHUB_ORGANIZATION,
  JUPYTERHUB_USERNAME,
  K8S_QUANTITY,
  OAUTH_CALLBACK,
  SECRET_KEY,
} from "./vocabulary";

/**
 * Where the hub rules run: a room file's `jupyterhub` section, or the JupyterHub construct's props.
 * The rules are the same; only the names of the fields messages point at, and the exposures
 * accepted, differ.
 */
export interface HubRuleSite {
  /** The switch that allows the dummy authenticator. */
  readonly nonProduction: string;
  readonly users: string;
  readonly hostedDomains: string;
  readonly allowedOrganizations: string;
  /** Exposure types accepted (a room file never exposes the hub to the internet; a construct may, with TLS). */
  readonly exposures: readonly string[];
}

export const ROOM_FILE_HUB: HubRuleSite = {
  nonProduction: "tee.allowDebug",
  users: "jupyterhub.users",
  hostedDomains: "jupyterhub.authenticator.hostedDomains",
  allowedOrganizations: "jupyterhub.authenticator.allowedOrganizations",
  exposures: JUPYTERHUB_EXPOSURES,
};

function checkHttpsUrl(c: Checker, path: PolicyPath, value: unknown): void {
  if (c.opaque(value)) return;
  let url: URL | undefined;
  try {
    url = typeof value === "string" && !/\s/.test(value) ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== "https:" || !url.hostname) c.fail(path, EXPECT.oauthUrl, value);
}

/** What the identity provider returns as the sign-in name, by authenticator type. */
function checkIdentity(
  c: Checker,
  path: PolicyPath,
  identity: string,
  type: JupyterHubAuthenticatorType | undefined,
  domains: readonly string[] | undefined,
  site: HubRuleSite,
): void {
  if (type === "google") {
    const domain = EMAIL.test(identity) ? identity.split("@")[1].toLowerCase() : undefined;
    if (domains && (!domain || !domains.some((d) => d.toLowerCase() === domain))) {
      const expected = `an e-mail address in ${site.hostedDomains} [${domains.join(", ")}] (Google sign-in returns e-mail addresses)`;
      c.fail(path, expected, identity, { at: "key" });
    }
  } else if (type === "github") {
    if (!GITHUB_LOGIN.test(identity)) {
      const expected = "a GitHub login (GitHub sign-in returns logins, not e-mail addresses)";
      c.fail(path, expected, identity, { at: "key" });
    }
  } else if (identity.trim() === "" || /\s/.test(identity)) {
    c.fail(path, "a sign-in name without spaces", identity, { at: "key" });
  }
}

/** What the rest of the hub's rules need from the authenticator: its type, its valid hosted domains, how many organizations it admits. */
interface AuthenticatorFacts {
  readonly type?: JupyterHubAuthenticatorType;
  readonly domains?: readonly string[];
  readonly organizations: number;
}

function checkAuthenticator(c: Checker, path: PolicyPath, value: unknown): AuthenticatorFacts {
  const all = ["type", ...new Set(Object.values(AUTHENTICATOR_FIELDS).flat())];
  if (!isPlainMap(value)) {
    c.fail(path, EXPECT.authenticator, value);
    return { organizations: 0 };
  }
  const p = (k: string) => [...path, k];
  const type =
    value.type === undefined
      ? c.fail(p("type"), EXPECT.authenticatorType, undefined)
      : c.oneOf(p("type"), value.type, JUPYTERHUB_AUTHENTICATORS, (found) =>
          closest(found, JUPYTERHUB_AUTHENTICATORS) ? undefined : "any other OAuth 2.0 or OpenID Connect provider is generic-oauth",
        );
  // With an unknown type, only flag fields no type takes (as for stage1 kinds).
  const known = ["type", ...(type ? AUTHENTICATOR_FIELDS[type] : all.slice(1))];
  for (const key of Object.keys(value)) {
    if (value[key] === undefined || known.includes(key)) continue;
    if (type && all.includes(key)) c.unknownField(p(key), key, known, `not a field of authenticator type ${type}`);
    else c.unknownField(p(key), key, known);
  }
  if (!type) return { organizations: 0 };
  if (type === "dummy") {
    if (value.acknowledgeInsecure !== true) c.fail(p("acknowledgeInsecure"), EXPECT.acknowledgeInsecure, value.acknowledgeInsecure);
    return { type, organizations: 0 };
  }
  const required = (key: string, expected: string, valid: (v: unknown) => boolean, extra?: (v: unknown) => Partial<Pick<RawIssue, "detail" | "found">>) => {
    const v = value[key];
    if (v === undefined || (!c.opaque(v) && !valid(v))) c.fail(p(key), expected, v, v === undefined ? {} : (extra?.(v) ?? {}));
  };
  const nonBlank = (v: unknown) => typeof v === "string" && v.trim().length > 0;
  required("clientId", EXPECT.clientId, nonBlank);
  required(
    "clientSecret",
    EXPECT.clientSecret,
    (v) => typeof v === "string" && v.length <= NAME_RULES.kubernetesName.max && NAME_RULES.kubernetesName.pattern.test(v),
    // The construct's shape ({ secretName, key }) is the likeliest mistake.
    (v) =>
      isPlainMap(v)
        ? { detail: `expected ${EXPECT.clientSecret}, found a map; write the Secret's name here and its key in clientSecretKey` }
        : {},
  );
  if (value.clientSecretKey !== undefined) {
    c.string(p("clientSecretKey"), value.clientSecretKey, EXPECT.clientSecretKey, (s) => SECRET_KEY.test(s) && s !== "." && s !== "..");
  }
  required("callbackUrl", EXPECT.callbackUrl, (v) => typeof v === "string" && OAUTH_CALLBACK.test(v));
  let domains: string[] | undefined;
  let organizations = 0;
  if (type === "google") {
    domains = c.list(p("hostedDomains"), value.hostedDomains, EXPECT.hostedDomains, (q, v) => c.string(q, v, EXPECT.domain, (s) => DOMAIN.test(s)), {
      nonEmpty: true,
    });
    if (domains && domains.length !== (value.hostedDomains as unknown[]).length) domains = undefined;
  } else if (type === "github") {
    if (value.allowedOrganizations !== undefined) {
      organizations =
        c.list(p("allowedOrganizations"), value.allowedOrganizations, EXPECT.organizations, (q, v) =>
          c.string(q, v, EXPECT.organization, (s) => GITHUB_ORGANIZATION.test(s)),
        )?.length ?? 0;
    }
  } else {
    for (const key of ["authorizeUrl", "tokenUrl", "userdataUrl"]) {
      if (value[key] === undefined) c.fail(p(key), EXPECT.oauthUrl, undefined);
      else checkHttpsUrl(c, p(key), value[key]);
    }
    if (value.usernameClaim !== undefined) c.string(p("usernameClaim"), value.usernameClaim, EXPECT.usernameClaim, (s) => /^\S+$/.test(s));
  }
  return { type, domains, organizations };
}

/** The `jupyterhub` section; `nonProduction` is the value of the switch that allows the dummy authenticator. */
export function checkJupyterHub(c: Checker, value: unknown, nonProduction: unknown, site: HubRuleSite = ROOM_FILE_HUB): void {
  if (value === undefined) return;
  const hub = c.map(["jupyterhub"], value, EXPECT.jupyterhub, FIELDS.jupyterhub, { authenticator: EXPECT.authenticator });
  if (!hub) return;
  const authPath = ["jupyterhub", "authenticator"];
  const auth: AuthenticatorFacts = hub.authenticator === undefined ? { organizations: 0 } : checkAuthenticator(c, authPath, hub.authenticator);

  if (auth.type === "dummy" && nonProduction !== true) {
    const flag = site.nonProduction;
    const debug = nonProduction === undefined ? `${flag} is not set (false)` : `${flag} is ${describeValue(nonProduction)}`;
    c.fail([...authPath, "type"], "google, github or generic-oauth in a production room", "dummy", {
      found: `the string "dummy" while ${debug}`,
      detail:
        `the dummy authenticator lets anyone sign in under any name, so it needs a non-production room (${flag}: true), ` +
        `but ${debug}; configure a google, github or generic-oauth authenticator`,
    });
  }

  // Users: identity → username, both unique (identities as JupyterHub compares them: lower-cased).
  const usernames = new Map<string, string>();
  /** Every username written, valid or not: admins are checked against these (no second error for one typo). */
  const named = new Set<string>();
  let userCount = 0;
  if (hub.users !== undefined) {
    const users = isPlainMap(hub.users) ? hub.users : c.fail(["jupyterhub", "users"], EXPECT.users, hub.users);
    const identities = new Map<string, string>();
    for (const [identity, username] of Object.entries(users ?? {})) {
      if (username === undefined) continue;
      userCount++;
      const path = ["jupyterhub", "users", identity];
      checkIdentity(c, path, identity, auth.type, auth.domains, site);
      const lower = identity.toLowerCase();
      const same = identities.get(lower);
      if (same !== undefined) {
        c.fail(path, "each sign-in identity once", identity, {
          at: "key",
          detail: `${JSON.stringify(identity)} is the same identity as ${JSON.stringify(same)} once lower-cased (JupyterHub compares lower-cased names); list each identity once`,
        });
      }
      identities.set(lower, identity);
      if (typeof username === "string") named.add(username);
      if (typeof username !== "string" || !JUPYTERHUB_USERNAME.test(username)) {
        c.fail(path, EXPECT.username, username);
        continue;
      }
      const other = usernames.get(username);
      if (other !== undefined) {
        c.fail(path, "a username of its own", username, {
          detail: `the username ${JSON.stringify(username)} is already ${JSON.stringify(other)}'s; two identities would share one account and its jobs, give each its own username`,
        });
        continue;
      }
      usernames.set(username, identity);
    }
  }
  if (auth.type !== undefined && auth.type !== "dummy" && userCount === 0 && auth.organizations === 0) {
    const orgs = auth.type === "github" ? ` (or ${site.allowedOrganizations})` : "";
    const expected = `at least one sign-in identity mapped to a username, such as { alice@example.org: alice }${orgs}`;
    c.fail(["jupyterhub", "users"], expected, hub.users, {
      detail: `expected ${expected}, found ${describeValue(hub.users)}: otherwise nobody can sign in`,
    });
  }

  if (hub.admins !== undefined) {
    const known = [...usernames.keys()];
    c.list(["jupyterhub", "admins"], hub.admins, EXPECT.admins, (p, v) => {
      if (typeof v === "string" && named.has(v)) return v;
      const expected = known.length ? `a username from ${site.users} (one of ${known.join(", ")})` : `a username from ${site.users} (it has none)`;
      // Admins are usernames; an identity written here is the likeliest mistake.
      const byIdentity = typeof v === "string" ? [...usernames].find(([, id]) => id.toLowerCase() === v.toLowerCase())?.[0] : undefined;
      const guess = byIdentity ?? (typeof v === "string" ? closest(v, known) : undefined);
      return c.fail(p, expected, v, guess ? { detail: `expected ${expected}, found ${describeValue(v)}; did you mean "${guess}"?` } : {});
    });
  }

  let exposure: string | undefined;
  if (hub.exposure !== undefined) {
    exposure = c.oneOf(["jupyterhub", "exposure"], hub.exposure, site.exposures, (found) =>
      /https|public|external|^load-?balancer$/i.test(found)
        ? "a config file never exposes the hub to the internet: use cluster-ip (kubectl port-forward, or an Ingress with IAP you add) or internal-load-balancer (inside the VPC)"
        : undefined,
    );
  }
  if (auth.type === "dummy" && exposure !== undefined && exposure !== "cluster-ip") {
    c.fail(["jupyterhub", "exposure"], "cluster-ip with the dummy authenticator", exposure, {
      detail: `expected cluster-ip with the dummy authenticator, found ${describeValue(exposure)}: anyone who reaches a load balancer could sign in under any name; reach the hub with kubectl port-forward`,
    });
  }
  if (hub.storageCapacity !== undefined) {
    c.string(["jupyterhub", "storageCapacity"], hub.storageCapacity, EXPECT.storageCapacity, (s) => K8S_QUANTITY.test(s));
  }
  if (hub.egress !== undefined) c.oneOf(["jupyterhub", "egress"], hub.egress, JUPYTERHUB_EGRESS);
  if (hub.helm !== undefined) {
    const helm = c.map(["jupyterhub", "helm"], hub.helm, "the Helm release settings: { timeoutSeconds, atomic }", FIELDS.jupyterhubHelm);
    if (helm?.timeoutSeconds !== undefined) {
      c.number(["jupyterhub", "helm", "timeoutSeconds"], helm.timeoutSeconds, "a whole number of seconds from 60 to 3600", (n) => Number.isInteger(n) && n >= 60 && n <= 3600);
    }
    if (helm?.atomic !== undefined) checkBoolean(c, ["jupyterhub", "helm", "atomic"], helm.atomic, "true or false");
  }
}

/** The hub rules on one `jupyterhub` section alone (paths start at `jupyterhub`), as the JupyterHub construct runs them. */
export function jupyterHubIssues(hub: unknown, nonProduction: unknown, site: HubRuleSite, opaque?: (value: unknown) => boolean): readonly RawIssue[] {
  const c = new Checker(opaque);
  checkJupyterHub(c, hub, nonProduction, site);
  return c.issues;
}
