/**
 * The clean room's network: one custom-mode VPC with the names ManaTEE hard-codes, two subnets
 * (GKE for stage 1, TEE for stage 2), Cloud NAT for the GKE subnet only, and private service
 * access; it wires in the deny-by-default firewall (firewall.ts) and the private DNS that sends
 * Google API names to a Private Google Access VIP (private-google-access.ts).
 *
 * Safer than ManaTEE's own Terraform (reference/manatee-runtime.md §1.1): no external IPv6,
 * no firewall-less network, flow logs on, a typed egress policy for the nodes instead of
 * "anything, anywhere", and TEEs that reach nothing but Google APIs: a job's results leave the
 * TEE only through the verifier's release (quarantine bucket → `POST /v1/release`).
 *
 * Why its own file: this is the construct and its wiring; the policies it applies (ranges,
 * firewall, Google API access) each live in their own file beside it.
 */
import { ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { ComputeFirewall } from "@cdktf/provider-google/lib/compute-firewall";
import { ComputeGlobalAddress } from "@cdktf/provider-google/lib/compute-global-address";
import { ComputeNetwork } from "@cdktf/provider-google/lib/compute-network";
import { ComputeRouter } from "@cdktf/provider-google/lib/compute-router";
import { ComputeRouterNat } from "@cdktf/provider-google/lib/compute-router-nat";
import { ComputeSubnetwork } from "@cdktf/provider-google/lib/compute-subnetwork";
import { DnsManagedZone } from "@cdktf/provider-google/lib/dns-managed-zone";
import { ServiceNetworkingConnection } from "@cdktf/provider-google/lib/service-networking-connection";
import { CleanRoomRef, requireInResidency } from "../../../internal/common";
import { manateeContract, resourceName } from "../../../policy/names";
import { EgressOptions, TEE_NETWORK_TAG, createFirewall, validateEgress } from "./firewall";
import { DEFAULT_IP_RANGES, NetworkIpRanges, cidrAddress, cidrPrefix, validateIpRanges } from "./ip-ranges";
import { GOOGLE_API_VIPS, GoogleApiAccess, createPrivateGoogleApiZones } from "./private-google-access";
import { InvalidPropsError } from "../../../errors";

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
      throw new InvalidPropsError(`googleApiAccess "${this.googleApiAccess}" is not a Google API VIP. Use "private" or "restricted".`);
    }
    this.googleApisRange = GOOGLE_API_VIPS[this.googleApiAccess].range;
    const flowSampling = props.flowLogs?.sampling ?? 1;
    if (!Token.isUnresolved(flowSampling) && !(flowSampling > 0 && flowSampling <= 1)) {
      throw new InvalidPropsError(
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

    this.firewallRules = createFirewall(this, {
      project,
      name,
      networkId: this.network.id,
      ipRanges: this.ipRanges,
      nodeTag: this.nodeTag,
      teeTag: this.teeTag,
      egress: this.egress,
      googleApiAccess: this.googleApiAccess,
      allowLoadBalancerHealthChecks: props.allowLoadBalancerHealthChecks,
      provider,
    });

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
    this.privateGoogleApiZones = createPrivateGoogleApiZones(this, {
      project,
      name,
      roomName: room.name,
      access: this.googleApiAccess,
      networkId: this.network.id,
      dependsOn,
      provider,
    });
  }
}
