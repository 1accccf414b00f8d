import { CleanRoomApis } from "../lib/constructs/platform/apis";
import {
  CleanRoomNetwork,
  CleanRoomNetworkProps,
  PRIVATE_GOOGLE_APIS_RANGE,
  RESTRICTED_GOOGLE_APIS_RANGE,
  TEE_NETWORK_TAG,
  parseCidr,
} from "../lib/constructs/platform/network";
import { SynthJson, examplePolicy, resourceConfigs, resources, synthWith } from "./util";

const policy = examplePolicy();

function synthNetwork(props: Partial<CleanRoomNetworkProps> = {}): SynthJson {
  return synthWith((stack) => {
    const apis = new CleanRoomApis(stack, "apis", { room: policy });
    new CleanRoomNetwork(stack, "network", { room: policy, dependsOn: apis.dependables, ...props });
  });
}

/** At least one resource of `type` has (at least) these snake_case properties. */
function expectResource(json: SynthJson, type: string, props: Record<string, unknown>): void {
  expect(resourceConfigs(json, type)).toContainEqual(expect.objectContaining(props));
}

function build(props: Partial<CleanRoomNetworkProps> = {}): () => void {
  return () => synthWith((stack) => new CleanRoomNetwork(stack, "network", { room: policy, ...props }));
}

// ---- a VPC firewall evaluator: the decision Google makes for one connection ----

interface Packet {
  readonly direction: "INGRESS" | "EGRESS";
  /** Network tags of the VM the rule would apply to. */
  readonly tags: readonly string[];
  /** Source (ingress) or destination (egress) address. */
  readonly remote: string;
  readonly protocol: "tcp" | "udp" | "icmp";
  readonly port?: number;
}

function inRange(ip: string, cidr: string): boolean {
  const range = parseCidr(cidr)!;
  const addr = parseCidr(`${ip}/32`)!;
  return addr.start >= range.start && addr.start < range.start + 2 ** (32 - range.prefix);
}

function matchesTraffic(entries: { protocol: string; ports?: string[] }[] | undefined, p: Packet): boolean {
  return (entries ?? []).some((e) => {
    if (e.protocol !== "all" && e.protocol !== p.protocol) return false;
    if (!e.ports || e.ports.length === 0 || p.port === undefined) return true;
    return e.ports.some((spec) => {
      const [lo, hi] = spec.split("-").map(Number);
      return p.port! >= lo && p.port! <= (hi ?? lo);
    });
  });
}

/**
 * VPC firewall semantics: among enabled rules of the packet's direction whose target and
 * range match, the lowest priority number wins and, at equal priority, deny beats allow;
 * when nothing matches, the implied rules deny ingress and allow egress.
 */
function decide(json: SynthJson, p: Packet): "allow" | "deny" {
  const matching = resourceConfigs(json, "google_compute_firewall").filter((r) => {
    if (r.disabled || (r.direction ?? "INGRESS") !== p.direction) return false;
    if (r.target_tags && !r.target_tags.some((t: string) => p.tags.includes(t))) return false;
    const ranges: string[] = p.direction === "INGRESS" ? (r.source_ranges ?? []) : (r.destination_ranges ?? []);
    if (!ranges.some((c) => inRange(p.remote, c))) return false;
    return matchesTraffic(r.allow, p) || matchesTraffic(r.deny, p);
  });
  if (matching.length === 0) return p.direction === "INGRESS" ? "deny" : "allow";
  const top = Math.min(...matching.map((r) => r.priority ?? 1000));
  const winners = matching.filter((r) => (r.priority ?? 1000) === top);
  return winners.some((r) => matchesTraffic(r.deny, p)) ? "deny" : "allow";
}

const NODE = ["dcr-insurance-study-gke-node"];
const TEE = [TEE_NETWORK_TAG];
const GITHUB = "140.82.112.3";
const PRIVATE_GOOGLE_API = "199.36.153.9";
const RESTRICTED_GOOGLE_API = "199.36.153.5";
const CLOUD_SQL = "10.0.32.5";
const PEER_POD = "10.4.1.7";

describe("CleanRoomNetwork with defaults", () => {
  let json: SynthJson;
  beforeAll(() => {
    json = synthNetwork();
  });

  test("given the example policy, the VPC and subnet carry the names the ManaTEE reconciler hard-codes", () => {
    expectResource(json, "google_compute_network", {
      name: "dcr-insurance-study-network",
      auto_create_subnetworks: false,
    });
    expectResource(json, "google_compute_subnetwork", {
      name: "dcr-insurance-study-subnetwork",
      region: "us-central1",
    });
  });

  test("then the GKE subnet has private Google access, no IPv6, VPC-native ranges and full flow logs", () => {
    const subnet = resourceConfigs(json, "google_compute_subnetwork").find((s) => s.name === "dcr-insurance-study-subnetwork");
    expect(subnet.private_ip_google_access).toBe(true);
    expect(subnet.stack_type).toBe("IPV4_ONLY");
    expect(subnet.ipv6_access_type).toBeUndefined();
    expect(subnet.secondary_ip_range).toEqual([
      { range_name: "pods", ip_cidr_range: "10.4.0.0/14" },
      { range_name: "services", ip_cidr_range: "10.0.16.0/20" },
    ]);
    expect(subnet.log_config).toEqual({ aggregation_interval: "INTERVAL_5_SEC", flow_sampling: 1, metadata: "INCLUDE_ALL_METADATA" });
  });

  test("then the TEE subnet is its own range with private Google access, no IPv6, no secondary ranges and full flow logs", () => {
    const tee = resourceConfigs(json, "google_compute_subnetwork").find((s) => s.name === "dcr-insurance-study-tee-subnetwork");
    expect(tee).toMatchObject({
      region: "us-central1",
      ip_cidr_range: "10.0.4.0/22",
      private_ip_google_access: true,
      stack_type: "IPV4_ONLY",
      log_config: { aggregation_interval: "INTERVAL_5_SEC", flow_sampling: 1, metadata: "INCLUDE_ALL_METADATA" },
    });
    expect(tee.secondary_ip_range).toBeUndefined();
    expect(tee.ipv6_access_type).toBeUndefined();
  });

  test("then Cloud NAT serves the GKE subnet only, from a router in the room's region, and logs errors only", () => {
    const [router] = resourceConfigs(json, "google_compute_router");
    expect(router.region).toBe("us-central1");
    const [nat] = resourceConfigs(json, "google_compute_router_nat");
    expect(nat.log_config).toEqual({ enable: true, filter: "ERRORS_ONLY" });
    expect(nat.source_subnetwork_ip_ranges_to_nat).toBe("LIST_OF_SUBNETWORKS");
    const gke = resources(json, "google_compute_subnetwork").find(([, s]) => s.name === "dcr-insurance-study-subnetwork")![0];
    const tee = resources(json, "google_compute_subnetwork").find(([, s]) => s.name === "dcr-insurance-study-tee-subnetwork")![0];
    expect(nat.subnetwork).toEqual([{ name: `\${google_compute_subnetwork.${gke}.id}`, source_ip_ranges_to_nat: ["ALL_IP_RANGES"] }]);
    expect(JSON.stringify(nat)).not.toContain(tee);
  });

  test("then a logged deny-all ingress rule sits at the lowest priority above the implied rules", () => {
    const denyIngress = resourceConfigs(json, "google_compute_firewall").find((r) => r.direction === "INGRESS" && r.deny);
    expect(denyIngress).toMatchObject({
      priority: 65534,
      source_ranges: ["0.0.0.0/0"],
      deny: [{ protocol: "all" }],
      log_config: { metadata: "INCLUDE_ALL_METADATA" },
    });
    expect(denyIngress.target_tags).toBeUndefined();
  });

  test("then no rule allows ingress from the internet, and no allow rule targets TEEs", () => {
    const allows = resourceConfigs(json, "google_compute_firewall").filter((r) => r.allow);
    for (const rule of allows.filter((r) => r.direction === "INGRESS")) {
      expect(rule.source_ranges.every((c: string) => parseCidr(c)!.prefix > 0 && inRange(c.split("/")[0], "10.0.0.0/8"))).toBe(true);
      expect(rule.target_tags).toEqual(NODE);
    }
    expect(decide(json, { direction: "INGRESS", tags: TEE, remote: "203.0.113.9", protocol: "tcp", port: 22 })).toBe("deny");
    expect(decide(json, { direction: "INGRESS", tags: NODE, remote: "203.0.113.9", protocol: "tcp", port: 10250 })).toBe("deny");
    expect(decide(json, { direction: "INGRESS", tags: TEE, remote: "10.0.0.5", protocol: "tcp", port: 22 })).toBe("deny");
  });

  test("then nodes talk to each other, to pods, and to Cloud SQL's private range", () => {
    expect(decide(json, { direction: "INGRESS", tags: NODE, remote: PEER_POD, protocol: "tcp", port: 8080 })).toBe("allow");
    expect(decide(json, { direction: "EGRESS", tags: NODE, remote: PEER_POD, protocol: "udp", port: 53 })).toBe("allow");
    expect(decide(json, { direction: "EGRESS", tags: NODE, remote: CLOUD_SQL, protocol: "tcp", port: 3307 })).toBe("allow");
  });

  test("then nodes reach the internet over HTTPS only (pip in notebooks, public charts)", () => {
    expect(decide(json, { direction: "EGRESS", tags: NODE, remote: GITHUB, protocol: "tcp", port: 443 })).toBe("allow");
    expect(decide(json, { direction: "EGRESS", tags: NODE, remote: GITHUB, protocol: "tcp", port: 22 })).toBe("deny");
    expect(decide(json, { direction: "EGRESS", tags: NODE, remote: "198.51.100.7", protocol: "udp", port: 443 })).toBe("deny");
  });

  test("then TEEs reach private.googleapis.com on TCP 443 and nothing else: no internet, no other port, not the restricted VIP", () => {
    expect(decide(json, { direction: "EGRESS", tags: TEE, remote: PRIVATE_GOOGLE_API, protocol: "tcp", port: 443 })).toBe("allow");
    expect(decide(json, { direction: "EGRESS", tags: TEE, remote: PRIVATE_GOOGLE_API, protocol: "tcp", port: 80 })).toBe("deny");
    expect(decide(json, { direction: "EGRESS", tags: TEE, remote: PRIVATE_GOOGLE_API, protocol: "udp", port: 443 })).toBe("deny");
    expect(decide(json, { direction: "EGRESS", tags: TEE, remote: RESTRICTED_GOOGLE_API, protocol: "tcp", port: 443 })).toBe("deny");
    expect(decide(json, { direction: "EGRESS", tags: TEE, remote: GITHUB, protocol: "tcp", port: 443 })).toBe("deny");
    expect(decide(json, { direction: "EGRESS", tags: TEE, remote: "142.250.4.95", protocol: "tcp", port: 443 })).toBe("deny");
    const teeAllows = resourceConfigs(json, "google_compute_firewall").filter((r) => r.allow && r.target_tags?.includes(TEE_NETWORK_TAG));
    expect(teeAllows).toEqual([
      expect.objectContaining({ direction: "EGRESS", destination_ranges: [PRIVATE_GOOGLE_APIS_RANGE], allow: [{ protocol: "tcp", ports: ["443"] }] }),
    ]);
  });

  test("then TEEs cannot reach the job database or the cluster, and untagged VMs reach nothing", () => {
    expect(decide(json, { direction: "EGRESS", tags: TEE, remote: CLOUD_SQL, protocol: "tcp", port: 3307 })).toBe("deny");
    expect(decide(json, { direction: "EGRESS", tags: TEE, remote: PEER_POD, protocol: "tcp", port: 8080 })).toBe("deny");
    expect(decide(json, { direction: "EGRESS", tags: [], remote: GITHUB, protocol: "tcp", port: 443 })).toBe("deny");
    const denyEgress = resourceConfigs(json, "google_compute_firewall").find((r) => r.direction === "EGRESS" && r.deny);
    expect(denyEgress).toMatchObject({ priority: 65534, destination_ranges: ["0.0.0.0/0"], log_config: { metadata: "INCLUDE_ALL_METADATA" } });
  });

  test("then private service access reserves a /20 for Cloud SQL and peers it through servicenetworking", () => {
    const [[addressId, address]] = resources(json, "google_compute_global_address");
    expect(address).toMatchObject({ purpose: "VPC_PEERING", address_type: "INTERNAL", address: "10.0.32.0", prefix_length: 20 });
    expectResource(json, "google_service_networking_connection", {
      service: "servicenetworking.googleapis.com",
      reserved_peering_ranges: [`\${google_compute_global_address.${addressId}.name}`],
      deletion_policy: "ABANDON",
    });
  });

  test("then the VPC waits for API enablement", () => {
    const [network] = resourceConfigs(json, "google_compute_network");
    expect(network.depends_on).toEqual(expect.arrayContaining([expect.stringMatching(/^google_project_service\.apis_compute_/)]));
  });

  test("then private zones bound to the VPC send googleapis.com (and pkg.dev, gcr.io, and the verifier's cloudfunctions.net / run.app) to private.googleapis.com", () => {
    const [[networkId]] = resources(json, "google_compute_network");
    const zones = resources(json, "google_dns_managed_zone");
    expect(zones.map(([, z]) => z.dns_name).sort()).toEqual(["cloudfunctions.net.", "gcr.io.", "googleapis.com.", "pkg.dev.", "run.app."]);
    for (const [, zone] of zones) {
      expect(zone.visibility).toBe("private");
      expect(zone.private_visibility_config).toEqual({ networks: [{ network_url: `\${google_compute_network.${networkId}.id}` }] });
    }
    const [googleapis] = zones.find(([, z]) => z.dns_name === "googleapis.com.")!;
    const records = resourceConfigs(json, "google_dns_record_set").filter((r) => r.managed_zone === `\${google_dns_managed_zone.${googleapis}.name}`);
    expect(records).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "googleapis.com.", type: "A", rrdatas: ["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"] }),
        expect.objectContaining({ name: "*.googleapis.com.", type: "CNAME", rrdatas: ["googleapis.com."] }),
      ]),
    );
    expect(records).toHaveLength(2);
  });

  test("snapshot", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("CleanRoomNetwork egress modes and Google API access", () => {
  test("given nodes google-apis-only, then there is no NAT and nodes reach the private VIP only", () => {
    const json = synthNetwork({ egress: { nodes: "google-apis-only" } });
    expect(resources(json, "google_compute_router_nat")).toHaveLength(0);
    expect(resources(json, "google_compute_router")).toHaveLength(0);
    expect(decide(json, { direction: "EGRESS", tags: NODE, remote: GITHUB, protocol: "tcp", port: 443 })).toBe("deny");
    expect(decide(json, { direction: "EGRESS", tags: NODE, remote: PRIVATE_GOOGLE_API, protocol: "tcp", port: 443 })).toBe("allow");
  });

  test("given nodes unrestricted, then nodes reach any port while TEEs keep the VIP only", () => {
    const json = synthNetwork({ egress: { nodes: "unrestricted" } });
    expect(decide(json, { direction: "EGRESS", tags: NODE, remote: GITHUB, protocol: "tcp", port: 22 })).toBe("allow");
    expect(decide(json, { direction: "EGRESS", tags: TEE, remote: GITHUB, protocol: "tcp", port: 22 })).toBe("deny");
    expect(decide(json, { direction: "EGRESS", tags: TEE, remote: GITHUB, protocol: "tcp", port: 443 })).toBe("deny");
  });

  test("given googleApiAccess restricted, then TEEs (and google-apis-only nodes) reach restricted.googleapis.com only, and the zones answer with it", () => {
    const json = synthNetwork({ googleApiAccess: "restricted", egress: { nodes: "google-apis-only" } });
    for (const tags of [TEE, NODE]) {
      expect(decide(json, { direction: "EGRESS", tags, remote: RESTRICTED_GOOGLE_API, protocol: "tcp", port: 443 })).toBe("allow");
      expect(decide(json, { direction: "EGRESS", tags, remote: PRIVATE_GOOGLE_API, protocol: "tcp", port: 443 })).toBe("deny");
    }
    const aRecords = resourceConfigs(json, "google_dns_record_set").filter((r) => r.type === "A");
    expect(aRecords).toHaveLength(5);
    for (const record of aRecords) {
      expect(record.rrdatas).toEqual(["199.36.153.4", "199.36.153.5", "199.36.153.6", "199.36.153.7"]);
      expect(record.rrdatas.every((ip: string) => inRange(ip, RESTRICTED_GOOGLE_APIS_RANGE))).toBe(true);
    }
    for (const zone of resourceConfigs(json, "google_dns_managed_zone")) expect(zone.description).toContain("restricted.googleapis.com");
  });

  test("given allowLoadBalancerHealthChecks, then only Google's health-check ranges reach the nodes", () => {
    const json = synthNetwork({ allowLoadBalancerHealthChecks: true });
    expect(decide(json, { direction: "INGRESS", tags: NODE, remote: "35.191.4.4", protocol: "tcp", port: 80 })).toBe("allow");
    expect(decide(json, { direction: "INGRESS", tags: TEE, remote: "35.191.4.4", protocol: "tcp", port: 80 })).toBe("deny");
    expect(decide(json, { direction: "INGRESS", tags: NODE, remote: "203.0.113.9", protocol: "tcp", port: 80 })).toBe("deny");
  });
});

describe("CleanRoomNetwork validation", () => {
  test("given a region outside the residency set, then it names the field and the fix", () => {
    expect(build({ region: "europe-west4" })).toThrow(
      'region "europe-west4" lies outside the residency set [us-central1]. ' +
        'Choose a location in the residency set, or add its region to "residency" if the data owner allows it.',
    );
  });

  test("given overlapping ranges, then the overlap is named", () => {
    expect(build({ ipRanges: { services: "10.0.0.0/24" } })).toThrow(
      'ipRanges.services "10.0.0.0/24" overlaps ipRanges.nodes "10.0.0.0/22". Give each range its own block.',
    );
  });

  test("given a malformed, public or too small range, then each gets its own message", () => {
    expect(build({ ipRanges: { nodes: "10.0.0.1/22" } })).toThrow(
      'ipRanges.nodes "10.0.0.1/22" is not an IPv4 CIDR block. Write it as network/prefix with no host bits set, e.g. "10.0.0.0/22".',
    );
    expect(build({ ipRanges: { pods: "100.64.0.0/14" } })).toThrow(
      'ipRanges.pods "100.64.0.0/14" is not a private (RFC 1918) range. Use a block inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.',
    );
    expect(build({ ipRanges: { privateServiceAccess: "10.0.32.0/26" } })).toThrow(
      'ipRanges.privateServiceAccess "10.0.32.0/26" is too small. Use a /24 or larger block (a smaller prefix length).',
    );
  });

  test("given the TEE range overlapping the GKE range, then the overlap is named", () => {
    expect(build({ ipRanges: { tees: "10.0.2.0/24" } })).toThrow(
      'ipRanges.tees "10.0.2.0/24" overlaps ipRanges.nodes "10.0.0.0/22". Give each range its own block.',
    );
  });

  test("given the removed egress.tees (from JavaScript or an old config), then it is refused with the reason", () => {
    for (const mode of ["https", "unrestricted", "google-apis-only"]) {
      expect(build({ egress: { tees: mode } as never })).toThrow(
        "egress.tees is no longer an option: TEEs always reach Google APIs only (the VIP on TCP 443), and job results leave a TEE only " +
          "through the verifier's release. Build job images with their dependencies inside, and remove egress.tees.",
      );
    }
  });

  test("given an unknown egress mode or flow-log sampling out of range, then the allowed values are listed", () => {
    expect(build({ egress: { nodes: "none" as never } })).toThrow(
      'egress.nodes "none" is not an egress mode. Use one of "google-apis-only", "https", "unrestricted".',
    );
    expect(build({ flowLogs: { sampling: 0 } })).toThrow(
      "flowLogs.sampling 0 is out of range. Use a share in (0, 1], e.g. 1 to log every flow or 0.5 for half.",
    );
  });
});
