/**
 * IPv4 ranges of the clean room's subnets (GKE nodes, pods, services, TEEs, private service
 * access): their defaults and the checks that each is RFC 1918, large enough and disjoint.
 *
 * Why its own file: the ranges are input validation, checked before any resource exists and
 * shared by the VPC (clean-room-network.ts) and the firewall's internal ranges (firewall.ts).
 * The CIDR arithmetic itself lives in lib/policy/cidr.ts (shared with the config validator).
 */
import { Token } from "cdktf";
import { Ipv4Cidr, cidrsOverlap, isPrivateCidr, parseCidr } from "../../../policy/cidr";
import { InvalidPropsError } from "../../../errors";

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

// IPv4 CIDR helpers live in lib/policy/cidr.ts (shared with the config validator).
export { parseCidr, cidrsOverlap, isPrivateCidr } from "../../../policy/cidr";
export type { Ipv4Cidr } from "../../../policy/cidr";

export function cidrAddress(cidr: string): string | undefined {
  return Token.isUnresolved(cidr) ? undefined : cidr.split("/")[0];
}

export function cidrPrefix(cidr: string): number {
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

export function validateIpRanges(ranges: Required<NetworkIpRanges>): Required<NetworkIpRanges> {
  const parsed: [keyof NetworkIpRanges, Ipv4Cidr][] = [];
  for (const key of Object.keys(MAX_PREFIX) as (keyof NetworkIpRanges)[]) {
    const value = ranges[key];
    if (Token.isUnresolved(value)) continue;
    const cidr = parseCidr(value);
    if (!cidr) {
      throw new InvalidPropsError(
        `ipRanges.${key} "${value}" is not an IPv4 CIDR block. Write it as network/prefix with no host bits set, ` +
          `e.g. "${DEFAULT_IP_RANGES[key]}".`,
      );
    }
    if (!isPrivateCidr(cidr)) {
      throw new InvalidPropsError(`ipRanges.${key} "${value}" is not a private (RFC 1918) range. Use a block inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.`);
    }
    if (cidr.prefix > MAX_PREFIX[key]) {
      throw new InvalidPropsError(`ipRanges.${key} "${value}" is too small. Use a /${MAX_PREFIX[key]} or larger block (a smaller prefix length).`);
    }
    for (const [other, otherCidr] of parsed) {
      if (cidrsOverlap(cidr, otherCidr)) {
        throw new InvalidPropsError(`ipRanges.${key} "${value}" overlaps ipRanges.${other} "${ranges[other]}". Give each range its own block.`);
      }
    }
    parsed.push([key, cidr]);
  }
  return ranges;
}
