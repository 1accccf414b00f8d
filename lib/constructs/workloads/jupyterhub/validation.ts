/**
 * Checks of JupyterHub props before anything is synthesized. The settings a room file can hold
 * (authenticator, researchers, admins, exposure type, storage, egress, Helm) go through the room
 * file's own hub rules (lib/policy/validation/jupyterhub.ts), so both refuse the same input with
 * the same words; only what a room file cannot express (namespaces, TLS exposure, image tag) is
 * checked here.
 */
import { Token } from "cdktf";
import { InvalidPropsError } from "../../../errors";
import { JUPYTERHUB_EXPOSURES } from "../../../policy/model";
import { NAME_RULES } from "../../../policy/names";
import { HubRuleSite, jupyterHubIssues } from "../../../policy/validation/jupyterhub";
import { PolicyPath, formatPath, issueText } from "../../../policy/validation/issues";
import { AUTHENTICATOR_FIELDS } from "../../../policy/validation/vocabulary";
import { JupyterHubAuthenticator } from "./authenticator";
import { JupyterHubProps } from "./props";

/** The construct's names for the fields the hub rules point at. */
export const CONSTRUCT_HUB: HubRuleSite = {
  nonProduction: "nonProduction",
  users: "researchers",
  hostedDomains: "authenticator.hostedDomains",
  allowedOrganizations: "authenticator.allowedOrganizations",
  exposures: [...JUPYTERHUB_EXPOSURES, "https"],
};

/** The authenticator as a room file writes it: the Secret's name and key flattened, construct-only options left out. */
function roomFileAuthenticator(auth: JupyterHubAuthenticator): Record<string, unknown> {
  if (auth.type === "dummy") return { ...auth };
  const { clientSecret, ...rest } = auth;
  const flat: Record<string, unknown> = { ...rest, clientSecret: clientSecret.secretName, clientSecretKey: clientSecret.key };
  const known = AUTHENTICATOR_FIELDS[auth.type];
  return Object.fromEntries(Object.entries(flat).filter(([key]) => key === "type" || known.includes(key)));
}

/** A hub rule's field path (`jupyterhub.users["a@b"]`) as the construct's property (`researchers["a@b"]`). */
export function hubProperty(path: PolicyPath): string {
  const [section, ...rest] = path.slice(1);
  if (section === "authenticator" && rest[0] === "clientSecret") return "authenticator.clientSecret.secretName";
  if (section === "authenticator" && rest[0] === "clientSecretKey") return "authenticator.clientSecret.key";
  const renamed: Record<string, PolicyPath> = { users: ["researchers"], admins: ["adminUsers"], exposure: ["exposure", "type"] };
  return formatPath([...(renamed[section as string] ?? [section]), ...rest]);
}

export function validateJupyterHubProps(props: JupyterHubProps, constructPath?: string): void {
  const hub = {
    authenticator: roomFileAuthenticator(props.authenticator),
    users: props.researchers,
    admins: props.adminUsers,
    exposure: props.exposure?.type,
    storageCapacity: props.storageCapacity,
    egress: props.egress,
    helm: props.helm && { timeoutSeconds: props.helm.timeoutSeconds, atomic: props.helm.atomic },
  };
  const [first] = jupyterHubIssues(hub, props.nonProduction, CONSTRUCT_HUB, (v) => Token.isUnresolved(v));
  if (first) throw new InvalidPropsError(issueText(first), { constructPath, property: hubProperty(first.path) });

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

  const exposure = props.exposure;
  if (exposure?.type === "https") {
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
}

function requireNonEmpty(value: string, field: string): void {
  if (!Token.isUnresolved(value) && value.trim() === "") throw new InvalidPropsError(`${field} is empty.`);
}
