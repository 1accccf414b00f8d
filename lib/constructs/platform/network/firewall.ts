/**
 * The clean room's firewall: deny-by-default in both directions, with the few allowances the
 * GKE nodes (stage 1) and the TEEs (stage 2) need, and the typed egress policy of the nodes.
 *
 * Why its own file: this is where "where may data go" is decided. Kept apart from the VPC
 * plumbing (clean-room-network.ts) so a review of the rules and the egress modes reads one file.
 */
import { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { ComputeFirewall, ComputeFirewallConfig } from "@cdktf/provider-google/lib/compute-firewall";
import { MANATEE_TEE_NETWORK_TAG } from "../../../policy/names";
import { GOOGLE_API_VIPS, GoogleApiAccess } from "./private-google-access";
import { NetworkIpRanges } from "./ip-ranges";
import { InvalidPropsError } from "../../../errors";

/**
 * Network tag the ManaTEE reconciler puts on every Confidential Space VM it launches
 * (app/reconciler/tee_backend/confidential_space.go). The TEE firewall rules target it.
 */
export const TEE_NETWORK_TAG = MANATEE_TEE_NETWORK_TAG;

/** Google Cloud load balancer and health-check source ranges. */
export const GOOGLE_HEALTH_CHECK_RANGES = ["35.191.0.0/16", "130.211.0.0/22"];

/**
 * What the GKE nodes (stage 1) may reach outside the VPC:
 * - `google-apis-only`: Google APIs through the Private Google Access VIP, nothing on the internet.
 *   Needs every image mirrored into Artifact Registry.
 * - `https`: TCP 443 anywhere (PyPI, public registries, Google APIs); every other port denied.
 * - `unrestricted`: any protocol and port anywhere, as ManaTEE's own network allows. Not recommended.
 *
 * TEEs have no mode: they always reach Google APIs only (see `EgressOptions`).
 */
export type EgressMode = "google-apis-only" | "https" | "unrestricted";
const EGRESS_MODES: readonly EgressMode[] = ["google-apis-only", "https", "unrestricted"];

/**
 * Egress of the GKE nodes. Every other VM is denied all egress by a logged lowest-priority rule,
 * except TEEs, which reach the Google API VIP on TCP 443 and nothing else.
 *
 * Why TEEs have no option any more (there was `tees: "https"`, the default, for ManaTEE's old
 * entrypoint that `git clone`d and `pip install`ed at run time): job images are now built with
 * their Python dependencies inside, so a TEE needs only Google APIs (attestation, STS, KMS, the
 * dataset and quarantine buckets, the job image). Internet egress from a TEE is a second way out
 * for decrypted data, around the verifier's release (quarantine → `POST /v1/release` → release
 * bucket), and code fetched at run time is not covered by the approved image digest. An opt-in
 * would make that hole one line of config away, so there is none: a room that needs it is not a
 * clean room. (`manatee check` reports any such path as MCR-NET1.)
 *
 * Why the nodes default to `https`: notebooks `!pip install` their dependencies and the
 * JupyterHub chart pulls from public registries. Nodes hold stage-1 (weakened) data only. Once
 * images are mirrored into Artifact Registry, set `nodes: "google-apis-only"`.
 */
export interface EgressOptions {
  /**
   * GKE nodes: stage 1 (JupyterHub, the job service, image builds). Stage-1 data only.
   * @default "https"
   */
  readonly nodes?: EgressMode;
}

/** What `createFirewall` needs from the network it guards. */
export interface FirewallProps {
  readonly project: string;
  /** Resource names of the room (`dcr-ENV-...`). */
  readonly name: (...parts: string[]) => string;
  readonly networkId: string;
  readonly ipRanges: Readonly<Required<NetworkIpRanges>>;
  readonly nodeTag: string;
  readonly teeTag: string;
  readonly egress: Readonly<Required<EgressOptions>>;
  readonly googleApiAccess: GoogleApiAccess;
  readonly allowLoadBalancerHealthChecks?: boolean;
  readonly provider?: TerraformProvider;
}

/**
 * The rules, made in `scope` (the network construct) under their construct ids, returned by id.
 * Priorities and order are documented on `CleanRoomNetwork`.
 */
export function createFirewall(scope: Construct, props: FirewallProps): Record<string, ComputeFirewall> {
  const { project, name, ipRanges } = props;
  const rules: Record<string, ComputeFirewall> = {};
  const internal = [ipRanges.nodes, ipRanges.pods, ipRanges.services, ipRanges.privateServiceAccess];
  // Each rule is spelled out below, one by one: they are the network's posture and are reviewed as such.
  const rule = (id: string, config: Omit<ComputeFirewallConfig, "name" | "network" | "project" | "provider">) => {
    rules[id] = new ComputeFirewall(scope, id, { name: name(id), project, network: props.networkId, provider: props.provider, ...config });
  };
  const logged = { logConfig: { metadata: "INCLUDE_ALL_METADATA" } };

  rule("deny-all-ingress", {
    description: "Default deny: nothing reaches the clean room from outside unless a rule above allows it",
    direction: "INGRESS",
    priority: 65534,
    sourceRanges: ["0.0.0.0/0"],
    deny: [{ protocol: "all" }],
    ...logged,
  });
  rule("allow-internal-ingress", {
    description: "Node-to-node and pod-to-pod traffic of the GKE cluster",
    direction: "INGRESS",
    priority: 1000,
    sourceRanges: [ipRanges.nodes, ipRanges.pods],
    targetTags: [props.nodeTag],
    allow: [{ protocol: "all" }],
  });
  if (props.allowLoadBalancerHealthChecks ?? false) {
    rule("allow-health-checks", {
      description: "Google Cloud load balancer health checks to GKE nodes",
      direction: "INGRESS",
      priority: 1000,
      sourceRanges: GOOGLE_HEALTH_CHECK_RANGES,
      targetTags: [props.nodeTag],
      allow: [{ protocol: "tcp" }],
    });
  }
  rule("allow-internal-egress", {
    description: "GKE nodes to pods, services, the control plane's private endpoint and Cloud SQL",
    direction: "EGRESS",
    priority: 1000,
    destinationRanges: internal,
    targetTags: [props.nodeTag],
    allow: [{ protocol: "all" }],
  });
  const nodes = egressRule(props.egress.nodes, props.googleApiAccess);
  rule("allow-nodes-egress", {
    description: `GKE nodes: ${nodes.description}`,
    direction: "EGRESS",
    priority: 1000,
    destinationRanges: nodes.destinationRanges,
    targetTags: [props.nodeTag],
    allow: nodes.allow,
  });
  const tees = egressRule("google-apis-only", props.googleApiAccess);
  rule("allow-tees-egress", {
    description: `Confidential Space VMs: ${tees.description}; results leave only through the verifier's release`,
    direction: "EGRESS",
    priority: 1000,
    destinationRanges: tees.destinationRanges,
    targetTags: [props.teeTag],
    allow: tees.allow,
    ...logged,
  });
  rule("deny-all-egress", {
    description: "Default deny: egress not allowed above is dropped and logged",
    direction: "EGRESS",
    priority: 65534,
    destinationRanges: ["0.0.0.0/0"],
    deny: [{ protocol: "all" }],
    ...logged,
  });
  return rules;
}

function egressRule(
  mode: EgressMode,
  access: GoogleApiAccess,
): { description: string; destinationRanges: string[]; allow: { protocol: string; ports?: string[] }[] } {
  switch (mode) {
    case "google-apis-only":
      return {
        description: `Google APIs only, through ${GOOGLE_API_VIPS[access].host} (TCP 443)`,
        destinationRanges: [GOOGLE_API_VIPS[access].range],
        allow: [{ protocol: "tcp", ports: ["443"] }],
      };
    case "https":
      return {
        description: "HTTPS (TCP 443) to anywhere; every other port is denied",
        destinationRanges: ["0.0.0.0/0"],
        allow: [{ protocol: "tcp", ports: ["443"] }],
      };
    case "unrestricted":
      return { description: "any protocol and port to anywhere (not recommended)", destinationRanges: ["0.0.0.0/0"], allow: [{ protocol: "all" }] };
  }
}

/** Rejects the removed `egress.tees` and unknown node modes, with the fix in the message. */
export function validateEgress(egress: Required<EgressOptions>): Required<EgressOptions> {
  const tees = (egress as { tees?: unknown }).tees;
  if (tees !== undefined) {
    throw new InvalidPropsError(
      `egress.tees is no longer an option: TEEs always reach Google APIs only (the VIP on TCP 443), and job results ` +
        `leave a TEE only through the verifier's release. Build job images with their dependencies inside, and remove egress.tees.`,
    );
  }
  if (!EGRESS_MODES.includes(egress.nodes)) {
    throw new InvalidPropsError(
      `egress.nodes "${egress.nodes}" is not an egress mode. Use one of ${EGRESS_MODES.map((m) => `"${m}"`).join(", ")}.`,
    );
  }
  return egress;
}
