/**
 * The clean room's network: one custom-mode VPC with the names ManaTEE hard-codes, two subnets
 * (GKE for stage 1, TEE for stage 2), deny-by-default firewall in both directions, Cloud NAT for
 * the GKE subnet only, private DNS that sends Google API names to a Private Google Access VIP,
 * and private service access.
 *
 * Safer than ManaTEE's own Terraform (reference/manatee-runtime.md §1.1): no external IPv6,
 * no firewall-less network, flow logs on, a typed egress policy for the nodes instead of
 * "anything, anywhere", and TEEs that reach nothing but Google APIs: a job's results leave the
 * TEE only through the verifier's release (quarantine bucket → `POST /v1/release`).
 */
import { ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Ipv4Cidr, cidrsOverlap, isPrivateCidr, parseCidr } from "./policy/cidr";
import { Construct } from "constructs";
import { ComputeFirewall, ComputeFirewallConfig } from "@cdktf/provider-google/lib/compute-firewall";
import { ComputeGlobalAddress } from "@cdktf/provider-google/lib/compute-global-address";
import { ComputeNetwork } from "@cdktf/provider-google/lib/compute-network";
import { ComputeRouter } from "@cdktf/provider-google/lib/compute-router";
import { ComputeRouterNat } from "@cdktf/provider-google/lib/compute-router-nat";
import { ComputeSubnetwork } from "@cdktf/provider-google/lib/compute-subnetwork";
import { DnsManagedZone } from "@cdktf/provider-google/lib/dns-managed-zone";
import { DnsRecordSet } from "@cdktf/provider-google/lib/dns-record-set";
import { ServiceNetworkingConnection } from "@cdktf/provider-google/lib/service-networking-connection";
import { CleanRoomRef, cleanRoomLabels, requireInResidency } from "./common";
import { MANATEE_TEE_NETWORK_TAG, manateeContract, resourceName } from "./policy/names";

/**
 * Network tag the ManaTEE reconciler puts on every Confidential Space VM it launches
 * (app/reconciler/tee_backend/confidential_space.go). The TEE firewall rules target it.
 */
export const TEE_NETWORK_TAG = MANATEE_TEE_NETWORK_TAG;

/** `private.googleapis.com`: Google APIs over Private Google Access, without internet egress. */
export const PRIVATE_GOOGLE_APIS_RANGE = "199.36.153.8/30";
/** `restricted.googleapis.com`: only APIs VPC Service Controls supports, and the perimeter applies. */
export const RESTRICTED_GOOGLE_APIS_RANGE = "199.36.153.4/30";
/** Both VIPs: the only destinations a TEE may reach (MCR-NET1 accepts either). */
export const GOOGLE_API_VIP_RANGES = [PRIVATE_GOOGLE_APIS_RANGE, RESTRICTED_GOOGLE_APIS_RANGE] as const;

/**
 * Which Private Google Access VIP Google API names resolve to inside the VPC:
 * - `private`: `private.googleapis.com` (199.36.153.8/30), every Google API;
 * - `restricted`: `restricted.googleapis.com` (199.36.153.4/30), only APIs VPC Service Controls
 *   supports, so a perimeter cannot be sidestepped through an unsupported API. `CleanRoom`
 *   picks it when the room has a `vpcServiceControls` perimeter.
 */
export type GoogleApiAccess = "private" | "restricted";
const GOOGLE_API_VIPS: Record<GoogleApiAccess, { host: string; range: string; ips: string[] }> = {
  private: {
    host: "private.googleapis.com",
    range: PRIVATE_GOOGLE_APIS_RANGE,
    ips: ["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"],
  },
  restricted: {
    host: "restricted.googleapis.com",
    range: RESTRICTED_GOOGLE_APIS_RANGE,
    ips: ["199.36.153.4", "199.36.153.5", "199.36.153.6", "199.36.153.7"],
  },
};
/**
 * Domains answered with the VIP: Google APIs, Artifact Registry's `*-docker.pkg.dev` and
 * `gcr.io` (the launcher pulls the job image), and `cloudfunctions.net` / `run.app`, where the
 * verifier answers the runner's `/v1/release` (internal ingress: a TEE without an external IP
 * reaches it only through the VIP). Google's Private Google Access DNS guide lists these domains.
 */
const PRIVATE_GOOGLE_DOMAINS = ["googleapis.com", "pkg.dev", "gcr.io", "cloudfunctions.net", "run.app"] as const;

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

/** IPv4 ranges of the clean room's subnets; all must be RFC 1918 and must not overlap. */
export interface NetworkIpRanges {
  /**
   * Primary range of the GKE subnet: nodes and the control plane's private endpoint.
   * @default "10.0.0.0/22"
   */
  readonly nodes?: string;
  /**
   * Primary range of the TEE subnet: Confidential Space job VMs, one address each.
   * @default "10.0.4.0/22"
   */
  readonly tees?: string;
  /**
   * Secondary range for GKE pods (VPC-native); a /14 fits 1024 nodes at 110 pods each.
   * @default "10.4.0.0/14"
   */
  readonly pods?: string;
  /**
   * Secondary range for GKE services (ClusterIPs).
   * @default "10.0.16.0/20"
   */
  readonly services?: string;
  /**
   * Range reserved for private service access (Cloud SQL's private IPs); /24 at least,
   * Google recommends /20 so more managed services fit later.
   * @default "10.0.32.0/20"
   */
  readonly privateServiceAccess?: string;
}

export const DEFAULT_IP_RANGES: Required<NetworkIpRanges> = {
  nodes: "10.0.0.0/22",
  tees: "10.0.4.0/22",
  pods: "10.4.0.0/14",
  services: "10.0.16.0/20",
  privateServiceAccess: "10.0.32.0/20",
};

/** VPC flow logs of both subnets. */
export interface FlowLogOptions {
  /**
   * Share of flows logged, in (0, 1]. All of them by default: the clean room's traffic is
   * small, and flow logs are the record of where data could have gone.
   * @default 1
   */
  readonly sampling?: number;
  /**
   * Aggregation interval.
   * @default "INTERVAL_5_SEC"
   */
  readonly aggregationInterval?:
    | "INTERVAL_5_SEC"
    | "INTERVAL_30_SEC"
    | "INTERVAL_1_MIN"
    | "INTERVAL_5_MIN"
    | "INTERVAL_10_MIN"
    | "INTERVAL_15_MIN";
}

export interface CleanRoomNetworkProps {
  /** The clean room (a `CleanRoomPolicy` fits). */
  readonly room: CleanRoomRef;
  /**
   * Region of the subnet, router and NAT; must lie in `room.residency`. The reconciler
   * looks the subnet up in the room's region, so change it only with the runtime.
   * @default room.region
   */
  readonly region?: string;
  /** @default DEFAULT_IP_RANGES */
  readonly ipRanges?: NetworkIpRanges;
  /** @default { nodes: "https" } */
  readonly egress?: EgressOptions;
  /**
   * The Private Google Access VIP Google API names resolve to, for TEEs and nodes alike.
   * `CleanRoom` sets `restricted` when the room has a `vpcServiceControls` perimeter.
   * @default "private"
   */
  readonly googleApiAccess?: GoogleApiAccess;
  /** @default { sampling: 1, aggregationInterval: "INTERVAL_5_SEC" } */
  readonly flowLogs?: FlowLogOptions;
  /**
   * Allow Google's health-check ranges to reach the nodes. Only needed for a load balancer you
   * build yourself: GKE opens these ranges itself for the Services and Ingresses it manages.
   * @default false
   */
  readonly allowLoadBalancerHealthChecks?: boolean;
  /**
   * Resources to create first, typically `CleanRoomApis.dependables`.
   * @default []
   */
  readonly dependsOn?: ITerraformDependable[];
  /** @default room.project */
  readonly project?: string;
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * VPC, GKE and TEE subnets, Cloud Router + NAT, firewall, Google API DNS and private service
 * access of a clean room.
 *
 * Subnets:
 * - `dcr-ENV-subnetwork` (GKE, stage 1): nodes, pods, services; Cloud NAT serves it (unless
 *   `egress.nodes` is `google-apis-only`).
 * - `dcr-ENV-tee-subnetwork` (stage 2): the job VMs, which the job service launches from the
 *   room's template without an external IP. Private Google Access on; Cloud NAT is configured
 *   with `LIST_OF_SUBNETWORKS` naming the GKE subnet only, so nothing translates TEE traffic to
 *   the internet. The only way out of this subnet is Google's network, to the VIP.
 *
 * Firewall, in priority order (lower number wins):
 * - 1000 allow ingress from the node and pod ranges to GKE nodes (node-to-node, pod-to-pod;
 *   GKE adds its own control-plane rules at the same priority);
 * - 1000 allow egress from GKE nodes to the clean room's internal ranges (pods, services, the
 *   control plane's private endpoint, Cloud SQL); TEEs get no internal egress, so stage-2 code
 *   cannot reach the job service or the database;
 * - 1000 egress per `egress.nodes` for nodes (tag `nodeTag`);
 * - 1000 egress for TEEs (tag `teeTag`) to the Google API VIP on TCP 443, nothing else;
 * - 65534 deny all ingress, logged;
 * - 65534 deny all egress, logged.
 *
 * DNS: private zones for `googleapis.com`, `pkg.dev` and `gcr.io`, bound to the VPC, answer the
 * apex with the VIP's four addresses and `*.` with a CNAME to the apex, so every Google API and
 * Artifact Registry name resolves to the VIP inside the VPC (reached over the default route,
 * which Private Google Access needs and which gives a VM without external IP or NAT nothing else).
 *
 * Confidential Space VMs must carry the network tag `tee-instance` (`TEE_NETWORK_TAG`); any VM
 * without a known tag gets no egress at all. (ManaTEE's own reconciler attached an external IP
 * to each TEE; the job service launches from the template, whose interface has no access config,
 * and its launcher role lacks `compute.subnetworks.useExternalIp`.)
 */
export class CleanRoomNetwork extends Construct {
  public readonly network: ComputeNetwork;
  /** The GKE subnet (stage 1). */
  public readonly subnetwork: ComputeSubnetwork;
  /** `projects/P/global/networks/N` */
  public readonly networkId: string;
  public readonly networkSelfLink: string;
  /** `projects/P/regions/R/subnetworks/S` of the GKE subnet */
  public readonly subnetworkId: string;
  public readonly subnetworkSelfLink: string;
  /** The contract names: `dcr-ENV-network` and `dcr-ENV-subnetwork` (GKE). */
  public readonly networkName: string;
  public readonly subnetworkName: string;
  /** The TEE subnet (stage 2): Private Google Access only, never served by Cloud NAT. */
  public readonly teeSubnetwork: ComputeSubnetwork;
  public readonly teeSubnetworkId: string;
  public readonly teeSubnetworkSelfLink: string;
  /** `dcr-ENV-tee-subnetwork` */
  public readonly teeSubnetworkName: string;
  /** The VIP Google API names resolve to, and its range (the TEEs' only egress destination). */
  public readonly googleApiAccess: GoogleApiAccess;
  public readonly googleApisRange: string;
  public readonly region: string;
  /** Secondary range names for `ip_allocation_policy` of the GKE cluster. */
  public readonly podsRangeName = "pods";
  public readonly servicesRangeName = "services";
  public readonly ipRanges: Readonly<Required<NetworkIpRanges>>;
  /** Network tag the GKE node pools must carry for the node firewall rules to apply. */
  public readonly nodeTag: string;
  /** Network tag of Confidential Space VMs (hard-coded by the ManaTEE reconciler). */
  public readonly teeTag = TEE_NETWORK_TAG;
  public readonly egress: Readonly<Required<EgressOptions>>;
  /** Range reserved for private service access. */
  public readonly privateServiceAccessRange: ComputeGlobalAddress;
  /** The peering Cloud SQL's private IP needs: make the database depend on it. */
  public readonly privateServiceAccess: ServiceNetworkingConnection;
  /** Cloud Router and NAT of the GKE subnet; absent when `egress.nodes` is `google-apis-only`. */
  public readonly router?: ComputeRouter;
  public readonly nat?: ComputeRouterNat;
  /** Firewall rules by construct id. */
  public readonly firewallRules: Readonly<Record<string, ComputeFirewall>>;
  /** Private zones answering Google API domains with the VIP (always: the TEEs need them). */
  public readonly privateGoogleApiZones: readonly DnsManagedZone[];

  constructor(scope: Construct, id: string, props: CleanRoomNetworkProps) {
    super(scope, id);
    const { room, provider } = props;
    const project = props.project ?? room.project;
    const contract = manateeContract(room.name, room.project);
    const env = contract.env;
    this.region = props.region ?? room.region;
    requireInResidency(this.region, room.residency, "region");
    this.ipRanges = validateIpRanges({ ...DEFAULT_IP_RANGES, ...props.ipRanges });
    this.egress = validateEgress({ nodes: "https", ...props.egress });
    this.googleApiAccess = props.googleApiAccess ?? "private";
    if (!(this.googleApiAccess in GOOGLE_API_VIPS)) {
      throw new Error(`googleApiAccess "${this.googleApiAccess}" is not a Google API VIP. Use "private" or "restricted".`);
    }
    this.googleApisRange = GOOGLE_API_VIPS[this.googleApiAccess].range;
    const flowSampling = props.flowLogs?.sampling ?? 1;
    if (!Token.isUnresolved(flowSampling) && !(flowSampling > 0 && flowSampling <= 1)) {
      throw new Error(
        `flowLogs.sampling ${flowSampling} is out of range. Use a share in (0, 1], e.g. 1 to log every flow or 0.5 for half.`,
      );
    }
    const name = (...parts: string[]) => resourceName("computeName", "dcr", env, ...parts);
    const dependsOn = props.dependsOn;
    this.networkName = contract.network;
    this.subnetworkName = contract.subnetwork;
    this.teeSubnetworkName = contract.teeSubnetwork;
    this.nodeTag = name("gke-node");

    this.network = new ComputeNetwork(this, "vpc", {
      project,
      name: this.networkName,
      description: `Clean room ${room.name}: stage-1 GKE cluster and stage-2 Confidential Space VMs`,
      autoCreateSubnetworks: false,
      routingMode: "REGIONAL",
      // The default internet route stays: Cloud NAT and Private Google Access (the VIP) use it. A
      // VM without external IP and without NAT reaches nothing else through it.
      deleteDefaultRoutesOnCreate: false,
      dependsOn,
      provider,
    });
    this.networkId = this.network.id;
    this.networkSelfLink = this.network.selfLink;

    const logConfig = {
      aggregationInterval: props.flowLogs?.aggregationInterval ?? "INTERVAL_5_SEC",
      flowSampling,
      metadata: "INCLUDE_ALL_METADATA",
    };
    this.subnetwork = new ComputeSubnetwork(this, "subnet", {
      project,
      name: this.subnetworkName,
      // No description: it can only be set at creation, and changing it would replace the subnet (and the cluster).
      region: this.region,
      network: this.network.id,
      ipCidrRange: this.ipRanges.nodes,
      // IPv4 only: ManaTEE's IPV4_IPV6 with EXTERNAL access gives every VM a public IPv6 address.
      stackType: "IPV4_ONLY",
      privateIpGoogleAccess: true,
      secondaryIpRange: [
        { rangeName: this.podsRangeName, ipCidrRange: this.ipRanges.pods },
        { rangeName: this.servicesRangeName, ipCidrRange: this.ipRanges.services },
      ],
      logConfig,
      provider,
    });
    this.subnetworkId = this.subnetwork.id;
    this.subnetworkSelfLink = this.subnetwork.selfLink;

    this.teeSubnetwork = new ComputeSubnetwork(this, "tee-subnet", {
      project,
      name: this.teeSubnetworkName,
      description: `Clean room ${room.name}: stage-2 Confidential Space job VMs (Google APIs only, no NAT)`,
      region: this.region,
      network: this.network.id,
      ipCidrRange: this.ipRanges.tees,
      stackType: "IPV4_ONLY",
      // The TEEs' only way out: Google APIs on Google's network, through the VIP.
      privateIpGoogleAccess: true,
      logConfig,
      provider,
    });
    this.teeSubnetworkId = this.teeSubnetwork.id;
    this.teeSubnetworkSelfLink = this.teeSubnetwork.selfLink;

    // The nodes (private cluster) reach the internet only through NAT; the firewall decides what
    // they may reach. NAT serves the GKE subnet alone (LIST_OF_SUBNETWORKS, never ALL_SUBNETWORKS_*):
    // the TEE subnet must have no translation to the internet whatever the firewall says.
    if (this.egress.nodes !== "google-apis-only") {
      this.router = new ComputeRouter(this, "router", {
        project,
        name: name("router"),
        region: this.region,
        network: this.network.id,
        provider,
      });
      this.nat = new ComputeRouterNat(this, "nat", {
        project,
        name: name("nat"),
        region: this.region,
        router: this.router.name,
        natIpAllocateOption: "AUTO_ONLY",
        sourceSubnetworkIpRangesToNat: "LIST_OF_SUBNETWORKS",
        subnetwork: [{ name: this.subnetwork.id, sourceIpRangesToNat: ["ALL_IP_RANGES"] }],
        // Kaniko, git and pip open many connections at once; dynamic ports avoid exhaustion.
        enableDynamicPortAllocation: true,
        enableEndpointIndependentMapping: false,
        minPortsPerVm: 64,
        maxPortsPerVm: 4096,
        logConfig: { enable: true, filter: "ERRORS_ONLY" },
        provider,
      });
    }

    this.firewallRules = this.createFirewall(project, name, props);

    this.privateServiceAccessRange = new ComputeGlobalAddress(this, "psa-range", {
      project,
      name: name("psa-range"),
      description: "Private service access range (Cloud SQL private IP)",
      purpose: "VPC_PEERING",
      addressType: "INTERNAL",
      address: cidrAddress(this.ipRanges.privateServiceAccess),
      prefixLength: cidrPrefix(this.ipRanges.privateServiceAccess),
      network: this.network.id,
      provider,
    });
    this.privateServiceAccess = new ServiceNetworkingConnection(this, "psa", {
      network: this.network.id,
      service: "servicenetworking.googleapis.com",
      reservedPeeringRanges: [this.privateServiceAccessRange.name],
      // Deleting the peering fails while Cloud SQL keeps producer resources (days after an
      // instance is gone); abandoning it on destroy lets `cdktf destroy` finish.
      deletionPolicy: "ABANDON",
      provider,
    });

    // Always: TEEs reach Google APIs only through the VIP, so API names must resolve to it.
    this.privateGoogleApiZones = this.createPrivateGoogleApiZones(project, name, props);
  }

  private createFirewall(
    project: string,
    name: (...parts: string[]) => string,
    props: CleanRoomNetworkProps,
  ): Record<string, ComputeFirewall> {
    const rules: Record<string, ComputeFirewall> = {};
    const internal = [this.ipRanges.nodes, this.ipRanges.pods, this.ipRanges.services, this.ipRanges.privateServiceAccess];
    const rule = (id: string, config: Omit<ComputeFirewallConfig, "network" | "project" | "provider">) => {
      rules[id] = new ComputeFirewall(this, id, { project, network: this.network.id, provider: props.provider, ...config });
    };
    const logged = { logConfig: { metadata: "INCLUDE_ALL_METADATA" } };

    rule("deny-all-ingress", {
      name: name("deny-all-ingress"),
      description: "Default deny: nothing reaches the clean room from outside unless a rule above allows it",
      direction: "INGRESS",
      priority: 65534,
      sourceRanges: ["0.0.0.0/0"],
      deny: [{ protocol: "all" }],
      ...logged,
    });
    rule("allow-internal-ingress", {
      name: name("allow-internal-ingress"),
      description: "Node-to-node and pod-to-pod traffic of the GKE cluster",
      direction: "INGRESS",
      priority: 1000,
      sourceRanges: [this.ipRanges.nodes, this.ipRanges.pods],
      targetTags: [this.nodeTag],
      allow: [{ protocol: "all" }],
    });
    if (props.allowLoadBalancerHealthChecks ?? false) {
      rule("allow-health-checks", {
        name: name("allow-health-checks"),
        description: "Google Cloud load balancer health checks to GKE nodes",
        direction: "INGRESS",
        priority: 1000,
        sourceRanges: GOOGLE_HEALTH_CHECK_RANGES,
        targetTags: [this.nodeTag],
        allow: [{ protocol: "tcp" }],
      });
    }
    rule("allow-internal-egress", {
      name: name("allow-internal-egress"),
      description: "GKE nodes to pods, services, the control plane's private endpoint and Cloud SQL",
      direction: "EGRESS",
      priority: 1000,
      destinationRanges: internal,
      targetTags: [this.nodeTag],
      allow: [{ protocol: "all" }],
    });
    const nodes = egressRule(this.egress.nodes, this.googleApiAccess);
    rule("allow-nodes-egress", {
      name: name("allow-nodes-egress"),
      description: `GKE nodes: ${nodes.description}`,
      direction: "EGRESS",
      priority: 1000,
      destinationRanges: nodes.destinationRanges,
      targetTags: [this.nodeTag],
      allow: nodes.allow,
    });
    const tees = egressRule("google-apis-only", this.googleApiAccess);
    rule("allow-tees-egress", {
      name: name("allow-tees-egress"),
      description: `Confidential Space VMs: ${tees.description}; results leave only through the verifier's release`,
      direction: "EGRESS",
      priority: 1000,
      destinationRanges: tees.destinationRanges,
      targetTags: [this.teeTag],
      allow: tees.allow,
      ...logged,
    });
    rule("deny-all-egress", {
      name: name("deny-all-egress"),
      description: "Default deny: egress not allowed above is dropped and logged",
      direction: "EGRESS",
      priority: 65534,
      destinationRanges: ["0.0.0.0/0"],
      deny: [{ protocol: "all" }],
      ...logged,
    });
    return rules;
  }

  private createPrivateGoogleApiZones(
    project: string,
    name: (...parts: string[]) => string,
    props: CleanRoomNetworkProps,
  ): DnsManagedZone[] {
    const vip = GOOGLE_API_VIPS[this.googleApiAccess];
    return PRIVATE_GOOGLE_DOMAINS.map((domain) => {
      const id = domain.replace(/\./g, "-");
      const zone = new DnsManagedZone(this, `zone-${id}`, {
        project,
        name: name(id),
        dnsName: `${domain}.`,
        description: `Private Google Access: ${domain} resolves to ${vip.host}`,
        visibility: "private",
        privateVisibilityConfig: { networks: [{ networkUrl: this.network.id }] },
        labels: cleanRoomLabels(props.room.name, "network"),
        // The Cloud DNS API must be on first (the record sets wait for their zone).
        dependsOn: props.dependsOn,
        provider: props.provider,
      });
      new DnsRecordSet(this, `zone-${id}-a`, {
        project,
        managedZone: zone.name,
        name: `${domain}.`,
        type: "A",
        ttl: 300,
        rrdatas: vip.ips,
        provider: props.provider,
      });
      new DnsRecordSet(this, `zone-${id}-wildcard`, {
        project,
        managedZone: zone.name,
        name: `*.${domain}.`,
        type: "CNAME",
        ttl: 300,
        rrdatas: [`${domain}.`],
        provider: props.provider,
      });
      return zone;
    });
  }
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

function validateEgress(egress: Required<EgressOptions>): Required<EgressOptions> {
  const tees = (egress as { tees?: unknown }).tees;
  if (tees !== undefined) {
    throw new Error(
      `egress.tees is no longer an option: TEEs always reach Google APIs only (the VIP on TCP 443), and job results ` +
        `leave a TEE only through the verifier's release. Build job images with their dependencies inside, and remove egress.tees.`,
    );
  }
  if (!EGRESS_MODES.includes(egress.nodes)) {
    throw new Error(
      `egress.nodes "${egress.nodes}" is not an egress mode. Use one of ${EGRESS_MODES.map((m) => `"${m}"`).join(", ")}.`,
    );
  }
  return egress;
}

// IPv4 CIDR helpers live in lib/policy/cidr.ts (shared with the config validator).
export { parseCidr, cidrsOverlap, isPrivateCidr } from "./policy/cidr";
export type { Ipv4Cidr } from "./policy/cidr";

function cidrAddress(cidr: string): string | undefined {
  return Token.isUnresolved(cidr) ? undefined : cidr.split("/")[0];
}

function cidrPrefix(cidr: string): number {
  return Token.isUnresolved(cidr) ? 20 : Number(cidr.split("/")[1]);
}

/** Smallest block (largest prefix length) each range may have. */
const MAX_PREFIX: Record<keyof NetworkIpRanges, number> = {
  nodes: 29,
  tees: 29,
  pods: 21,
  services: 27,
  privateServiceAccess: 24,
};

function validateIpRanges(ranges: Required<NetworkIpRanges>): Required<NetworkIpRanges> {
  const parsed: [keyof NetworkIpRanges, Ipv4Cidr][] = [];
  for (const key of Object.keys(MAX_PREFIX) as (keyof NetworkIpRanges)[]) {
    const value = ranges[key];
    if (Token.isUnresolved(value)) continue;
    const cidr = parseCidr(value);
    if (!cidr) {
      throw new Error(
        `ipRanges.${key} "${value}" is not an IPv4 CIDR block. Write it as network/prefix with no host bits set, ` +
          `e.g. "${DEFAULT_IP_RANGES[key]}".`,
      );
    }
    if (!isPrivateCidr(cidr)) {
      throw new Error(`ipRanges.${key} "${value}" is not a private (RFC 1918) range. Use a block inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.`);
    }
    if (cidr.prefix > MAX_PREFIX[key]) {
      throw new Error(`ipRanges.${key} "${value}" is too small. Use a /${MAX_PREFIX[key]} or larger block (a smaller prefix length).`);
    }
    for (const [other, otherCidr] of parsed) {
      if (cidrsOverlap(cidr, otherCidr)) {
        throw new Error(`ipRanges.${key} "${value}" overlaps ipRanges.${other} "${ranges[other]}". Give each range its own block.`);
      }
    }
    parsed.push([key, cidr]);
  }
  return ranges;
}
