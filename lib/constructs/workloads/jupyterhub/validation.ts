/**
 * Checks of JupyterHub props before anything is synthesized: the dummy authenticator only in a
 * non-production room behind a ClusterIP, OAuth clients complete, researcher identities and
 * usernames unique and safe for ManaTEE's image and VM names, exposure and Kubernetes names valid.
 * Apart from the construct so the rules read as one list, each with its error message.
 */
import { Token } from "cdktf";
import { NAME_RULES } from "../../../policy/names";
import { RESEARCHER_USERNAME_PATTERN } from "./authenticator";
import { JupyterHubProps } from "./props";
import { InvalidPropsError } from "../../../errors";

const USERNAME = new RegExp(RESEARCHER_USERNAME_PATTERN);

export function validateJupyterHubProps(props: JupyterHubProps): void {
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
      throw new InvalidPropsError(`JupyterHub "${field}" "${value}" is not a valid Kubernetes name (${NAME_RULES.kubernetesName.source}).`);
    }
  }

  if (auth.type === "dummy") {
    if (!nonProduction) {
      throw new InvalidPropsError(
        `JupyterHub "authenticator": the dummy authenticator lets anyone sign in under any name. It is only allowed ` +
          `when "nonProduction" is true; configure a "google", "github" or "generic-oauth" authenticator for this room.`,
      );
    }
    if (auth.acknowledgeInsecure !== true) {
      throw new InvalidPropsError(`JupyterHub "authenticator": the dummy authenticator needs "acknowledgeInsecure: true".`);
    }
    if (exposure.type !== "cluster-ip") {
      throw new InvalidPropsError(
        `JupyterHub "exposure": with the dummy authenticator the hub must stay a ClusterIP service (reach it with ` +
          `kubectl port-forward); anyone who reaches a load balancer could sign in.`,
      );
    }
  } else {
    requireNonEmpty(auth.clientId, `JupyterHub "authenticator.clientId"`);
    requireNonEmpty(auth.clientSecret.secretName, `JupyterHub "authenticator.clientSecret.secretName"`);
    if (!Token.isUnresolved(auth.clientSecret.secretName) && !NAME_RULES.kubernetesName.pattern.test(auth.clientSecret.secretName)) {
      throw new InvalidPropsError(
        `JupyterHub "authenticator.clientSecret.secretName" "${auth.clientSecret.secretName}" is not a Kubernetes Secret name.`,
      );
    }
    const cb = auth.callbackUrl;
    if (!Token.isUnresolved(cb) && !/^(https:\/\/[^/\s]+|http:\/\/(localhost|127\.0\.0\.1)(:\d+)?)\/(.*\/)?hub\/oauth_callback$/.test(cb)) {
      throw new InvalidPropsError(
        `JupyterHub "authenticator.callbackUrl" "${cb}" must be https://<host>/hub/oauth_callback ` +
          `(or http://localhost:<port>/hub/oauth_callback when reached with kubectl port-forward).`,
      );
    }
    if (auth.type === "google") {
      if (auth.hostedDomains.length === 0) {
        throw new InvalidPropsError(
          `JupyterHub "authenticator.hostedDomains" is empty: any Google account could attempt to sign in. ` +
            `List your Workspace / Cloud Identity domain(s).`,
        );
      }
      for (const identity of Object.keys(props.researchers ?? {})) {
        const domain = identity.toLowerCase().split("@")[1];
        if (!domain || !auth.hostedDomains.map((d) => d.toLowerCase()).includes(domain)) {
          throw new InvalidPropsError(
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
          throw new InvalidPropsError(`JupyterHub "authenticator.${key}" "${url}" must be an https:// URL.`);
        }
      }
    }
    const orgs = auth.type === "github" ? (auth.allowedOrganizations ?? []) : [];
    if (Object.keys(props.researchers ?? {}).length === 0 && orgs.length === 0) {
      throw new InvalidPropsError(
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
      throw new InvalidPropsError(
        `JupyterHub "researchers" lists "${sameIdentity}" and "${identity}", the same identity once lower-cased (JupyterHub compares lower-cased names).`,
      );
    }
    identities.set(lower, identity);
    if (!USERNAME.test(username)) {
      throw new InvalidPropsError(
        `JupyterHub "researchers" maps "${identity}" to "${username}", which is not a safe username: ManaTEE names ` +
          `each job's image and VM "<username>-<uuid>", so use 1-26 lowercase letters, digits and '-', starting with a letter.`,
      );
    }
    const other = seen.get(username);
    if (other !== undefined) {
      throw new InvalidPropsError(
        `JupyterHub "researchers" maps both "${other}" and "${identity}" to "${username}": they would share one account and its jobs.`,
      );
    }
    seen.set(username, identity);
  }
  for (const admin of props.adminUsers ?? []) {
    if (!seen.has(admin)) {
      throw new InvalidPropsError(`JupyterHub "adminUsers" entry "${admin}" is not a username in "researchers".`);
    }
  }

  if (exposure.type === "https") {
    if (exposure.hosts.length === 0) throw new InvalidPropsError(`JupyterHub "exposure.hosts" is empty: name the host(s) the certificate is for.`);
    if (exposure.tls.type === "letsencrypt") {
      if (exposure.loadBalancer === "internal") {
        throw new InvalidPropsError(
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
    throw new InvalidPropsError(`JupyterHub "imageTag" "${props.imageTag}" is not an image tag.`);
  }
  if (props.storageCapacity !== undefined && !/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$/.test(props.storageCapacity)) {
    throw new InvalidPropsError(`JupyterHub "storageCapacity" "${props.storageCapacity}" is not a Kubernetes quantity such as "20Gi".`);
  }
}

function requireNonEmpty(value: string, field: string): void {
  if (!Token.isUnresolved(value) && value.trim() === "") throw new InvalidPropsError(`${field} is empty.`);
}
