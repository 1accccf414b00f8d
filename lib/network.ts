/**
 * The clean room's network: one custom-mode VPC with the names ManaTEE's reconciler
 * hard-codes, deny-by-default firewall in both directions, Cloud NAT for the nodes, and
 * private service access for Cloud SQL.
 *
 * Safer than ManaTEE's own Terraform (reference/manatee-runtime.md §1.1): no external IPv6
 * on the subnet, no firewall-less network, flow logs on, and a typed egress policy per
 * workload group instead of "anything, anywhere".
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
const PRIVATE_GOOGLE_APIS_IPS = ["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"];
/** Domains answered with the private VIP, so every Google API call stays on Google's network. */
const PRIVATE_GOOGLE_DOMAINS = ["googleapis.com", "pkg.dev", "gcr.io"] as const;

/** Google Cloud load balancer and health-check source ranges. */
export const GOOGLE_HEALTH_CHECK_RANGES = ["35.191.0.0/16", "130.211.0.0/22"];

/**
 * What a workload group may reach outside the VPC:
 * - `google-apis-only`: Google APIs through `private.googleapis.com`, nothing on the internet.
 *   ManaTEE's runtime breaks in this mode unless its dependencies are baked in (see `EgressOptions`).
 * - `https`: TCP 443 anywhere (GitHub, PyPI, public registries, Google APIs); every other port denied.
 * - `unrestricted`: any protocol and port anywhere, as ManaTEE's own network allows. Not recommended.
 */
export type EgressMode = "google-apis-only" | "https" | "unrestricted";
const EGRESS_MODES: readonly EgressMode[] = ["google-apis-only", "https", "unrestricted"];

/**
 * Egress per workload group. Every group is denied all other egress by a logged
 * lowest-priority rule, and so is every VM that carries neither tag.
 *
 * Why `https` is the default for both: ManaTEE's TEE entrypoint `git clone`s
 * lm-evaluation-harness from GitHub and `pip install`s it for every job, notebooks
 * `!pip install` their dependencies, and the JupyterHub chart pulls from public registries.
 * Denying internet egress breaks all of that. The price: stage-2 code in the TEE can send
 * decrypted data anywhere over HTTPS, and code fetched at runtime is not covered by the
 * approved image digest. For a production clean room, bake dependencies into the executor
 * image, mirror public images into Artifact Registry, and set `tees: "google-apis-only"`
 * (and `nodes` too once the mirrors are in place).
 */
export interface EgressOptions {
  /**
   * GKE nodes: stage 1 (JupyterHub, the job service, Kaniko builds). Stage-1 data only.
   * @default "https"
   */
  readonly nodes?: EgressMode;
  /**
   * Confidential Space VMs: stage 2, with the real data decrypted inside.
   * @default "https"
   */
  readonly tees?: EgressMode;
}

/** IPv4 ranges of the clean room's subnet; all must be RFC 1918 and must not overlap. */
export interface NetworkIpRanges {
  /**
   * Primary range: GKE nodes, Confidential Space VMs and the control plane's private endpoint.
   * @default "10.0.0.0/22"
   */
  readonly nodes?: string;
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
  pods: "10.4.0.0/14",
  services: "10.0.16.0/20",
  privateServiceAccess: "10.0.32.0/20",
};

/** VPC flow logs of the subnet. */
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
  /** @default { nodes: "https", tees: "https" } */
  readonly egress?: EgressOptions;
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
 * VPC, subnet, Cloud Router + NAT, firewall and private service access of a clean room.
 *
 * Firewall, in priority order (lower number wins):
 * - 1000 allow ingress from the node and pod ranges to GKE nodes (node-to-node, pod-to-pod;
 *   GKE adds its own control-plane rules at the same priority);
 * - 1000 allow egress from GKE nodes to the clean room's internal ranges (pods, services, the
 *   control plane's private endpoint, Cloud SQL); TEEs get no internal egress, so stage-2 code
 *   cannot reach the job service or the database;
 * - 1000 egress per `egress` mode for nodes (tag `nodeTag`) and TEEs (tag `teeTag`);
 * - 65534 deny all ingress, logged;
 * - 65534 deny all egress, logged.
 *
 * Confidential Space VMs must carry the network tag `tee-instance` (`TEE_NETWORK_TAG`), which
 * the ManaTEE reconciler sets; any VM without a known tag gets no egress at all. The reconciler
 * also attaches a ONE_TO_ONE_NAT external IP to every TEE it launches (reference §5.6), so those
 * TEEs reach the internet directly, not through Cloud NAT: the deny-all ingress rule is what
 * keeps them unreachable from outside, and the TEE egress rules apply to them all the same. TEEs
 * without an external IP use Cloud NAT. An organization policy that forbids external IPs
 * (`constraints/compute.vmExternalIpAccess`) breaks the reconciler.
 */
export class CleanRoomNetwork extends Construct {
  public readonly network: ComputeNetwork;
  public readonly subnetwork: ComputeSubnetwork;
  /** `projects/P/global/networks/N` */
  public readonly networkId: string;
  public readonly networkSelfLink: string;
  /** `projects/P/regions/R/subnetworks/S` */
  public readonly subnetworkId: string;
  public readonly subnetworkSelfLink: string;
  /** The contract names: `dcr-ENV-network` and `dcr-ENV-subnetwork`. */
  public readonly networkName: string;
  public readonly subnetworkName: string;
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
  /** Cloud Router and NAT; absent when both groups are `google-apis-only`. */
  public readonly router?: ComputeRouter;
  public readonly nat?: ComputeRouterNat;
  /** Firewall rules by construct id. */
  public readonly firewallRules: Readonly<Record<string, ComputeFirewall>>;
  /** Private zones answering Google API domains with `private.googleapis.com`, when a group is `google-apis-only`. */
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
    this.egress = validateEgress({ nodes: "https", tees: "https", ...props.egress });
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
    this.nodeTag = name("gke-node");

    this.network = new ComputeNetwork(this, "vpc", {
      project,
      name: this.networkName,
      description: `Clean room ${room.name}: stage-1 GKE cluster and stage-2 Confidential Space VMs`,
      autoCreateSubnetworks: false,
      routingMode: "REGIONAL",
      // The default internet route stays: Cloud NAT, the TEEs' external IPs and Private Google
      // Access all use it. Egress is governed by the firewall rules below instead.
      deleteDefaultRoutesOnCreate: false,
      dependsOn,
      provider,
    });
    this.networkId = this.network.id;
    this.networkSelfLink = this.network.selfLink;

    this.subnetwork = new ComputeSubnetwork(this, "subnet", {
      project,
      name: this.subnetworkName,
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
      logConfig: {
        aggregationInterval: props.flowLogs?.aggregationInterval ?? "INTERVAL_5_SEC",
        flowSampling,
        metadata: "INCLUDE_ALL_METADATA",
      },
      provider,
    });
    this.subnetworkId = this.subnetwork.id;
    this.subnetworkSelfLink = this.subnetwork.selfLink;

    // Nodes (private cluster) and TEEs without an external IP reach the internet only through
    // NAT; the firewall decides what they may reach. Not needed when neither group may.
    if (this.egress.nodes !== "google-apis-only" || this.egress.tees !== "google-apis-only") {
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

    const needsPrivateDns = this.egress.nodes === "google-apis-only" || this.egress.tees === "google-apis-only";
    this.privateGoogleApiZones = needsPrivateDns ? this.createPrivateGoogleApiZones(project, name, props) : [];
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
    const groups: [string, string, EgressMode][] = [
      ["nodes", this.nodeTag, this.egress.nodes],
      ["tees", this.teeTag, this.egress.tees],
    ];
    for (const [group, tag, mode] of groups) {
      const egress = EGRESS_RULES[mode];
      rule(`allow-${group}-egress`, {
        name: name(`allow-${group}-egress`),
        description: `${group === "nodes" ? "GKE nodes" : "Confidential Space VMs"}: ${egress.description}`,
        direction: "EGRESS",
        priority: 1000,
        destinationRanges: egress.destinationRanges,
        targetTags: [tag],
        allow: egress.allow,
      });
    }
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
    return PRIVATE_GOOGLE_DOMAINS.map((domain) => {
      const id = domain.replace(/\./g, "-");
      const zone = new DnsManagedZone(this, `zone-${id}`, {
        project,
        name: name(id),
        dnsName: `${domain}.`,
        description: `Private Google Access: ${domain} resolves to private.googleapis.com`,
        visibility: "private",
        privateVisibilityConfig: { networks: [{ networkUrl: this.network.id }] },
        labels: cleanRoomLabels(props.room.name, "network"),
        provider: props.provider,
      });
      new DnsRecordSet(this, `zone-${id}-a`, {
        project,
        managedZone: zone.name,
        name: `${domain}.`,
        type: "A",
        ttl: 300,
        rrdatas: PRIVATE_GOOGLE_APIS_IPS,
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

const EGRESS_RULES: Record<EgressMode, { description: string; destinationRanges: string[]; allow: { protocol: string; ports?: string[] }[] }> = {
  "google-apis-only": {
    description: "Google APIs only, through private.googleapis.com",
    destinationRanges: [PRIVATE_GOOGLE_APIS_RANGE],
    allow: [{ protocol: "tcp", ports: ["443"] }],
  },
  https: {
    description: "HTTPS (TCP 443) to anywhere; every other port is denied",
    destinationRanges: ["0.0.0.0/0"],
    allow: [{ protocol: "tcp", ports: ["443"] }],
  },
  unrestricted: {
    description: "any protocol and port to anywhere (not recommended)",
    destinationRanges: ["0.0.0.0/0"],
    allow: [{ protocol: "all" }],
  },
};

function validateEgress(egress: Required<EgressOptions>): Required<EgressOptions> {
  for (const group of ["nodes", "tees"] as const) {
    if (!EGRESS_MODES.includes(egress[group])) {
      throw new Error(
        `egress.${group} "${egress[group]}" is not an egress mode. Use one of ${EGRESS_MODES.map((m) => `"${m}"`).join(", ")}.`,
      );
    }
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
