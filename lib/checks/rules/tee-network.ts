/**
 * MCR-NET1: a TEE has no way to the internet. Job results leave a TEE only through the verifier's
 * release (quarantine bucket → `POST /v1/release` → release bucket); any network path out of the
 * TEE subnet is a second way, around the release, for decrypted data. Caught:
 * - a Cloud NAT that serves the TEE subnet (`ALL_SUBNETWORKS_*` on the TEE's network, or a
 *   `LIST_OF_SUBNETWORKS` entry naming it);
 * - a TEE instance or template whose interface has an `access_config` or `ipv6_access_config`
 *   (an external address);
 * - an egress allow rule that applies to TEEs (tag `tee-instance`, the TEE service account, or
 *   every instance) to anything but the Google API VIPs (199.36.153.8/30, 199.36.153.4/30);
 * - a TEE network without a deny-all egress rule that covers TEEs (the implied rule allows all);
 * - a route that sends TEE traffic for public addresses to an appliance (instance, IP, load
 *   balancer or VPN) that could forward it.
 *
 * The TEE subnet is the subnet of every Confidential Space instance or template (boot image from
 * `confidential-space-images`, or tag `tee-instance`), and, with a policy, `dcr-ENV-tee-subnetwork`.
 */
import { MANATEE_TEE_NETWORK_TAG, manateeContract } from "../../policy/names";
import { cidrsOverlap, isPrivateCidr, parseCidr } from "../../policy/cidr";
import { bootImage, imageFacts } from "../../analysis/confidential-space";
import { CheckContext, Rule, RuleResult } from "../model";
import { isUnresolved, ResourceIndex, TfResource } from "../../analysis/resource-index";
import { blocks, readBool, readString } from "../../analysis/values";
import { TEE_RESOURCE_TYPES } from "./tee-instance";

/** private.googleapis.com and restricted.googleapis.com. */
export const GOOGLE_API_VIPS = ["199.36.153.8/30", "199.36.153.4/30"] as const;
const VIPS = GOOGLE_API_VIPS.map((c) => parseCidr(c)!);
const NAT_ALL = /^ALL_SUBNETWORKS_/;
const APPLIANCE_HOPS = ["next_hop_instance", "next_hop_ip", "next_hop_ilb", "next_hop_vpn_tunnel"] as const;

interface TeeNetworkFacts {
  /** Addresses of the stack's TEE subnets. */
  readonly subnets: ReadonlySet<string>;
  /** Literal names of the TEE subnets (for literal references). */
  readonly subnetNames: ReadonlySet<string>;
  /** Addresses of the networks holding a TEE subnet or interface. */
  readonly networks: ReadonlySet<string>;
  /** A TEE subnet or interface whose network cannot be resolved: every network may be a TEE network. */
  readonly anyNetwork: boolean;
  /** The TEE service account as written on TEE instances and templates, and the policy's email. */
  readonly serviceAccounts: ReadonlySet<string>;
  /** Which TEE resource uses which subnet, for messages. */
  readonly usedBy: ReadonlyMap<string, string>;
}

function hasTeeTag(vm: TfResource): boolean {
  const tags = vm.config.tags;
  return Array.isArray(tags) && tags.includes(MANATEE_TEE_NETWORK_TAG);
}

/** A Confidential Space VM or template (what MCR-TEE1 recognises), or anything tagged as a TEE. */
export function isTeeVm(vm: TfResource, index: ResourceIndex): boolean {
  if (!TEE_RESOURCE_TYPES.includes(vm.type)) return false;
  return hasTeeTag(vm) || imageFacts(bootImage(vm), index)?.confidentialSpace === "yes";
}

/** `projects/P/regions/R/subnetworks/NAME`, a self link or a bare name → NAME. */
function nameOfPath(value: string, kind: "subnetworks" | "networks"): string {
  const m = new RegExp(`/${kind}/([^/]+)$`).exec(value);
  return m ? m[1] : value;
}

function teeNetworkFacts(index: ResourceIndex, context: CheckContext): TeeNetworkFacts {
  return index.cached(`tee-network:${context.policy?.name ?? ""}`, () => {
    const subnets = new Set<string>();
    const subnetNames = new Set<string>();
    const networks = new Set<string>();
    const serviceAccounts = new Set<string>();
    const usedBy = new Map<string, string>();
    let anyNetwork = false;
    const subnetByName = (name: string) => index.ofType("google_compute_subnetwork").find((s) => readString(s.config.name).state === "known" && s.config.name === name);
    const addSubnet = (subnet: TfResource) => {
      subnets.add(subnet.address);
      const name = readString(subnet.config.name);
      if (name.state === "known") subnetNames.add(name.value);
      const net = index.target(subnet.config.network);
      if (net?.resource.type === "google_compute_network") networks.add(net.resource.address);
      else anyNetwork = true;
    };
    if (context.policy) {
      const contract = manateeContract(context.policy.name, context.policy.project);
      subnetNames.add(contract.teeSubnetwork);
      serviceAccounts.add(contract.teeServiceAccountEmail);
      const subnet = subnetByName(contract.teeSubnetwork);
      if (subnet) addSubnet(subnet);
    }
    for (const vm of TEE_RESOURCE_TYPES.flatMap((t) => index.ofType(t))) {
      if (!isTeeVm(vm, index)) continue;
      for (const sa of blocks(vm.config.service_account)) {
        if (typeof sa.email === "string") serviceAccounts.add(sa.email);
      }
      for (const nic of blocks(vm.config.network_interface)) {
        const ref = index.target(nic.subnetwork);
        if (ref?.resource.type === "google_compute_subnetwork") {
          addSubnet(ref.resource);
          usedBy.set(ref.resource.address, vm.address);
          continue;
        }
        const literal = readString(nic.subnetwork);
        if (literal.state === "known") {
          const name = nameOfPath(literal.value, "subnetworks");
          subnetNames.add(name);
          const subnet = subnetByName(name);
          if (subnet) {
            addSubnet(subnet);
            usedBy.set(subnet.address, vm.address);
          } else anyNetwork = true;
          continue;
        }
        const net = index.target(nic.network);
        if (net?.resource.type === "google_compute_network") networks.add(net.resource.address);
        else anyNetwork = true;
      }
    }
    return { subnets, subnetNames, networks, anyNetwork, serviceAccounts, usedBy };
  });
}

function hasTees(facts: TeeNetworkFacts): boolean {
  return facts.subnets.size > 0 || facts.subnetNames.size > 0 || facts.networks.size > 0 || facts.anyNetwork;
}

/** Whether `value` (a network reference or literal) may be a network that holds TEEs. */
function onTeeNetwork(value: unknown, index: ResourceIndex, facts: TeeNetworkFacts): boolean {
  if (facts.anyNetwork) return true;
  const ref = index.target(value);
  if (ref?.resource.type === "google_compute_network") return facts.networks.has(ref.resource.address);
  const literal = readString(value);
  if (literal.state === "known") {
    const name = nameOfPath(literal.value, "networks");
    return [...facts.networks].some((address) => index.get(address)?.config.name === name);
  }
  return true;
}

function describeSubnet(address: string, facts: TeeNetworkFacts): string {
  const user = facts.usedBy.get(address);
  return user ? `the TEE subnet ${address} (used by ${user})` : `the TEE subnet ${address}`;
}

function checkNat(nat: TfResource, index: ResourceIndex, facts: TeeNetworkFacts): RuleResult[] {
  const mode = readString(nat.config.source_subnetwork_ip_ranges_to_nat);
  if (mode.state === "unknown") {
    return [{ level: "warning", message: "Cannot tell which subnets this Cloud NAT serves: source_subnetwork_ip_ranges_to_nat is an expression. Use LIST_OF_SUBNETWORKS naming the GKE subnet only." }];
  }
  if (mode.state === "absent" || NAT_ALL.test(mode.value)) {
    const router = index.target(nat.config.router)?.resource;
    const network = router?.type === "google_compute_router" ? router.config.network : undefined;
    if (router && !onTeeNetwork(network, index, facts)) return [];
    return [
      {
        message:
          `The Cloud NAT serves every subnet of the network (source_subnetwork_ip_ranges_to_nat = ${mode.state === "known" ? mode.value : "not set"}), the TEE subnet included: ` +
          "a TEE could reach the internet, around the verifier's release. Use LIST_OF_SUBNETWORKS and name the GKE subnet only.",
      },
    ];
  }
  if (mode.value !== "LIST_OF_SUBNETWORKS") return [];
  const out: RuleResult[] = [];
  for (const entry of blocks(nat.config.subnetwork)) {
    const ref = index.target(entry.name);
    if (ref) {
      if (facts.subnets.has(ref.resource.address)) {
        out.push({
          message: `The Cloud NAT serves ${describeSubnet(ref.resource.address, facts)}: a TEE could reach the internet, around the verifier's release. Remove the subnet from the NAT's subnetwork list; TEEs need Private Google Access only.`,
        });
      }
      continue;
    }
    const literal = readString(entry.name);
    if (literal.state === "known") {
      const name = nameOfPath(literal.value, "subnetworks");
      if (facts.subnetNames.has(name)) {
        out.push({
          message: `The Cloud NAT serves the TEE subnet ${name}: a TEE could reach the internet, around the verifier's release. Remove it from the NAT's subnetwork list; TEEs need Private Google Access only.`,
        });
      }
    } else if (isUnresolved(entry.name)) {
      out.push({ level: "warning", message: `Cannot tell whether the Cloud NAT serves the TEE subnet: subnetwork name ${JSON.stringify(entry.name)} cannot be resolved.` });
    }
  }
  return out;
}

function checkVm(vm: TfResource, index: ResourceIndex): RuleResult[] {
  if (!isTeeVm(vm, index)) return [];
  const out: RuleResult[] = [];
  blocks(vm.config.network_interface).forEach((nic, i) => {
    for (const [field, what] of [["access_config", "an external IPv4 address"], ["ipv6_access_config", "an external IPv6 address"]] as const) {
      if (blocks(nic[field]).length > 0) {
        out.push({
          message: `network_interface[${i}] has an ${field}: the TEE gets ${what} and can reach the internet directly, around the verifier's release. Remove the ${field}; TEEs reach Google APIs through Private Google Access.`,
        });
      }
    }
  });
  return out;
}

/** Whether a firewall rule's targets include TEEs. */
function targetsTees(rule: TfResource, facts: TeeNetworkFacts): boolean {
  const tags = rule.config.target_tags;
  const accounts = rule.config.target_service_accounts;
  const tagList = Array.isArray(tags) ? tags : [];
  const accountList = Array.isArray(accounts) ? accounts : [];
  if (tagList.length === 0 && accountList.length === 0) return true;
  if (tagList.some((t) => t === MANATEE_TEE_NETWORK_TAG || isUnresolved(t))) return true;
  return accountList.some((a) => typeof a === "string" && facts.serviceAccounts.has(a));
}

function insideVips(cidr: string): boolean {
  const c = parseCidr(cidr);
  return c !== undefined && VIPS.some((v) => c.prefix >= v.prefix && cidrsOverlap(c, v));
}

function checkFirewall(rule: TfResource, index: ResourceIndex, facts: TeeNetworkFacts): RuleResult[] {
  const direction = readString(rule.config.direction);
  if (direction.state === "known" ? direction.value !== "EGRESS" : direction.state === "absent") return [];
  const disabled = readBool(rule.config.disabled);
  if (disabled.state === "known" && disabled.value) return [];
  if (blocks(rule.config.allow).length === 0) return [];
  if (!targetsTees(rule, facts) || !onTeeNetwork(rule.config.network, index, facts)) return [];
  const ranges = rule.config.destination_ranges;
  const list: unknown[] = Array.isArray(ranges) && ranges.length > 0 ? ranges : ["0.0.0.0/0"];
  if (list.some((r) => typeof r !== "string" || isUnresolved(r))) {
    return [{ level: "warning", message: "Cannot tell where this egress rule lets TEEs connect: destination_ranges is an expression. Allow TEEs only 199.36.153.8/30 or 199.36.153.4/30 on TCP 443." }];
  }
  const outside = (list as string[]).filter((r) => !insideVips(r));
  if (outside.length === 0) return [];
  const whom = (rule.config.target_tags as unknown[] | undefined)?.includes(MANATEE_TEE_NETWORK_TAG) ? `TEEs (tag ${MANATEE_TEE_NETWORK_TAG})` : "every instance, TEEs included";
  return [
    {
      message:
        `The rule allows ${whom} egress to ${outside.join(", ")}: beyond the Google API VIPs, a TEE could send decrypted data around the verifier's release. ` +
        `Allow TEEs only ${GOOGLE_API_VIPS.join(" or ")} (TCP 443), and give other workloads their own target tags.`,
    },
  ];
}

function checkNetwork(network: TfResource, index: ResourceIndex, facts: TeeNetworkFacts): RuleResult[] {
  if (!facts.networks.has(network.address)) return [];
  const denies = index.referencing("google_compute_firewall", "network", network).filter((r) => {
    if (readString(r.config.direction).state !== "known" || r.config.direction !== "EGRESS" || r.config.disabled === true) return false;
    const deny = blocks(r.config.deny);
    if (!deny.some((d) => d.protocol === "all")) return false;
    const ranges = r.config.destination_ranges;
    const list: unknown[] = Array.isArray(ranges) && ranges.length > 0 ? ranges : ["0.0.0.0/0"];
    if (!list.includes("0.0.0.0/0")) return false;
    const tags = Array.isArray(r.config.target_tags) ? r.config.target_tags : [];
    const accounts = Array.isArray(r.config.target_service_accounts) ? r.config.target_service_accounts : [];
    return (tags.length === 0 && accounts.length === 0) || tags.includes(MANATEE_TEE_NETWORK_TAG);
  });
  if (denies.length > 0) return [];
  return [
    {
      message:
        "The network holds TEEs but no firewall rule denies all egress for them: the implied allow-egress rule lets a TEE connect anywhere a route leads. " +
        `Add an EGRESS rule denying protocol all to 0.0.0.0/0 (priority 65534, targets: none or tag ${MANATEE_TEE_NETWORK_TAG}).`,
    },
  ];
}

function checkRoute(route: TfResource, index: ResourceIndex, facts: TeeNetworkFacts): RuleResult[] {
  const hop = APPLIANCE_HOPS.find((h) => route.config[h] !== undefined && route.config[h] !== null);
  if (!hop) return [];
  const tags = Array.isArray(route.config.tags) ? route.config.tags : [];
  if (tags.length > 0 && !tags.some((t) => t === MANATEE_TEE_NETWORK_TAG || isUnresolved(t))) return [];
  if (!onTeeNetwork(route.config.network, index, facts)) return [];
  const dest = readString(route.config.dest_range);
  if (dest.state !== "known") {
    return [{ level: "warning", message: `Cannot tell where this route sends TEE traffic: dest_range is ${dest.state === "absent" ? "not set" : "an expression"}.` }];
  }
  const cidr = parseCidr(dest.value);
  if (cidr && (isPrivateCidr(cidr) || insideVips(dest.value))) return [];
  return [
    {
      message:
        `The route sends TEE traffic for ${dest.value} to ${hop.replace(/^next_hop_/, "")} ${JSON.stringify(route.config[hop])}, which could forward it to the internet around the verifier's release. ` +
        `Give the route target tags that exclude ${MANATEE_TEE_NETWORK_TAG}, or remove it.`,
    },
  ];
}

export const teeNetwork: Rule = {
  id: "MCR-NET1",
  level: "error",
  title: "TEEs have no internet egress: no NAT, external IP, route or egress rule beyond the Google API VIPs",
  resourceTypes: [
    "google_compute_router_nat",
    "google_compute_firewall",
    "google_compute_network",
    "google_compute_route",
    ...TEE_RESOURCE_TYPES,
  ],
  check(resource, index, context) {
    if (TEE_RESOURCE_TYPES.includes(resource.type)) return checkVm(resource, index);
    const facts = teeNetworkFacts(index, context);
    if (!hasTees(facts)) return [];
    switch (resource.type) {
      case "google_compute_router_nat":
        return checkNat(resource, index, facts);
      case "google_compute_firewall":
        return checkFirewall(resource, index, facts);
      case "google_compute_network":
        return checkNetwork(resource, index, facts);
      case "google_compute_route":
        return checkRoute(resource, index, facts);
      default:
        return [];
    }
  },
};
