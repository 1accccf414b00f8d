/**
 * From a clean-room config to the ready stacks' options: the policy says what the room
 * allows; its optional `jupyterhub`, `cluster` and `database` sections say how it is run.
 */
import { CleanRoomPolicy, JupyterHubAuthenticatorSettings } from "../lib/policy/model";
import { JupyterHubAuthenticator } from "../lib/constructs/workloads/jupyterhub";
import { CleanRoomStacksOptions } from "./index";
import { ERROR_CODES, ManateeError } from "../lib/errors";
import { requirePartyProjectNumbers } from "../lib/policy/job-service-config";

/** The room file lacks a deployment setting the workloads stack needs (JupyterHub host, OAuth client, …). */
export class MissingDeploymentSettingsError extends ManateeError {
  constructor(message: string) {
    super(ERROR_CODES.invalidPolicy, message);
  }
}

function authenticator(settings: JupyterHubAuthenticatorSettings): JupyterHubAuthenticator {
  if (settings.type === "dummy") return { type: "dummy", acknowledgeInsecure: true };
  const client = {
    clientId: settings.clientId,
    clientSecret: { secretName: settings.clientSecret, key: settings.clientSecretKey },
    callbackUrl: settings.callbackUrl,
  };
  switch (settings.type) {
    case "google":
      return { type: "google", ...client, hostedDomains: settings.hostedDomains };
    case "github":
      return { type: "github", ...client, allowedOrganizations: settings.allowedOrganizations };
    case "generic-oauth":
      return {
        type: "generic-oauth",
        ...client,
        authorizeUrl: settings.authorizeUrl,
        tokenUrl: settings.tokenUrl,
        userdataUrl: settings.userdataUrl,
        usernameClaim: settings.usernameClaim,
      };
  }
}

/** Options for `createCleanRoomStacks` from the config alone. */
export function stacksOptionsFromPolicy(policy: CleanRoomPolicy, source = "the clean-room config"): CleanRoomStacksOptions {
  const hub = policy.jupyterhub;
  if (!hub) {
    throw new MissingDeploymentSettingsError(
      `${source}: jupyterhub: the workloads stack needs a "jupyterhub" section with at least "authenticator" ` +
        `(e.g. type: google, clientId, clientSecret, callbackUrl, hostedDomains); see stacks/example.cleanroom.yaml.`,
    );
  }
  // The job service reaches each party's pool by its project number (STS audience): fail before any stack is built.
  requirePartyProjectNumbers(policy, source);
  return {
    platform: {
      cluster: policy.cluster
        ? {
            controlPlane: {
              authorizedNetworks: policy.cluster.authorizedNetworks.map((n) => ({ cidrBlock: n.cidr, displayName: n.name })),
              publicEndpoint: policy.cluster.publicEndpoint,
            },
            deletionProtection: policy.cluster.deletionProtection,
          }
        : undefined,
      database: policy.database ? { deletionProtection: policy.database.deletionProtection } : undefined,
    },
    workloads: {
      jupyterhub: {
        authenticator: authenticator(hub.authenticator),
        nonProduction: policy.tee.allowDebug,
        researchers: hub.users,
        adminUsers: hub.admins,
        exposure: { type: hub.exposure },
        storageCapacity: hub.storageCapacity,
        egress: hub.egress,
        ...(hub.helm !== undefined ? { helm: hub.helm } : {}),
      },
    },
  };
}
