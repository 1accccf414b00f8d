/** The platform settings: the cluster's control-plane access, the database and VPC Service Controls. */
import { Ipv4Cidr, isPrivateCidr, parseCidr } from "../cidr";
import { Checker, checkBoolean } from "./checker";
import { EXPECT } from "./expectations";
import { PolicyPath, describeValue, formatPath } from "./issues";
import { ACCESS_LEVEL_NAME, ACCESS_POLICY_ID, FIELDS } from "./vocabulary";

/**
 * CleanRoomCluster checks the same control-plane rules on its props in its own words
 * (constructs/platform/cluster/control-plane.ts); test/policy/deployment.test.ts keeps the two in step.
 */
export function checkCluster(c: Checker, value: unknown): void {
  if (value === undefined) return;
  const cluster = c.map(["cluster"], value, EXPECT.cluster, FIELDS.cluster);
  if (!cluster) return;
  const publicEndpoint = checkBoolean(c, ["cluster", "publicEndpoint"], cluster.publicEndpoint, "true or false");
  checkBoolean(c, ["cluster", "deletionProtection"], cluster.deletionProtection, EXPECT.deletionProtection);
  const cidrs = new Map<string, number>();
  let publicRanges = 0;
  // Only a list whose every entry checked out can prove "no public range".
  let allValid = true;
  if (cluster.authorizedNetworks !== undefined) {
    const checked = c.list(["cluster", "authorizedNetworks"], cluster.authorizedNetworks, EXPECT.authorizedNetworks, (path, item) => {
      const n = c.map(path, item, EXPECT.authorizedNetwork, FIELDS.authorizedNetwork, { cidr: EXPECT.cidr, name: EXPECT.networkName });
      if (n?.name !== undefined) c.string([...path, "name"], n.name, EXPECT.networkName, (s) => s.trim().length > 0);
      const cidr = n?.cidr === undefined ? undefined : checkAuthorizedCidr(c, [...path, "cidr"], n.cidr, cidrs);
      if (!cidr) {
        allValid = false;
        return undefined;
      }
      if (!isPrivateCidr(cidr)) {
        publicRanges++;
        if (publicEndpoint !== true) {
          c.fail([...path, "cidr"], "a private (RFC 1918) range while cluster.publicEndpoint is false", n!.cidr, {
            detail:
              `the public range ${JSON.stringify(n!.cidr)} could never be used: cluster.publicEndpoint is not true, so only the private endpoint takes IP traffic; ` +
              `set cluster.publicEndpoint: true if operators must reach the public IP, or remove it and use the DNS endpoint (IAM-gated)`,
          });
        }
      }
      return cidr;
    }, { unique: false });
    if (!checked) allValid = false;
  }
  if (publicEndpoint === true && allValid && publicRanges === 0) {
    c.fail(["cluster", "publicEndpoint"], "false unless cluster.authorizedNetworks names a public range", true, {
      detail:
        "true needs a public range in cluster.authorizedNetworks, or nobody could use the public endpoint; " +
        "add your operators' public CIDR blocks, or keep publicEndpoint false and use the DNS endpoint (IAM-gated)",
    });
  }
}

/** A well-formed, not too wide, not repeated IPv4 block; `seen` maps blocks to their list index. */
function checkAuthorizedCidr(c: Checker, path: PolicyPath, value: unknown, seen: Map<string, number>): Ipv4Cidr | undefined {
  const cidr = typeof value === "string" ? parseCidr(value) : undefined;
  if (!cidr) return c.fail(path, EXPECT.cidr, value);
  if (cidr.prefix < 8) {
    return c.fail(path, "a block of /8 or longer", value, {
      detail: `expected a block of /8 or longer, found ${describeValue(value)}, which opens the control plane to a large part of the internet; allow only your operators' networks, or use the DNS endpoint, which IAM guards`,
    });
  }
  const index = path[path.length - 2] as number;
  const first = seen.get(value as string);
  if (first !== undefined) {
    return c.fail(path, "each CIDR block once", value, {
      detail: `duplicate CIDR block ${JSON.stringify(value)}, already at ${formatPath([...path.slice(0, -2), first, "cidr"])}; list each block once`,
    });
  }
  seen.set(value as string, index);
  return cidr;
}

/** The database: deletion protection only. */
export function checkDatabase(c: Checker, value: unknown): void {
  if (value === undefined) return;
  const database = c.map(["database"], value, EXPECT.database, FIELDS.database);
  if (database) checkBoolean(c, ["database", "deletionProtection"], database.deletionProtection, EXPECT.deletionProtection);
}

/** VPC Service Controls: the access policy id (quoted) and access level names. */
export function checkVpcServiceControls(c: Checker, value: unknown): void {
  if (value === undefined) return;
  const path = ["vpcServiceControls"];
  const vpcsc = c.map(path, value, EXPECT.vpcServiceControls, FIELDS.vpcServiceControls, { accessPolicy: EXPECT.accessPolicy });
  if (!vpcsc) return;
  const policy = vpcsc.accessPolicy;
  if (typeof policy === "number" && Number.isSafeInteger(policy) && policy > 0) {
    // YAML reads an unquoted id as a number; a large one could lose digits, so the file must quote it.
    c.fail([...path, "accessPolicy"], EXPECT.accessPolicy, policy, {
      detail: `expected ${EXPECT.accessPolicy}, found the number ${policy}; quote it ("${policy}") so no digit is lost`,
    });
  } else if (typeof policy === "string" && policy.startsWith("accessPolicies/")) {
    c.fail([...path, "accessPolicy"], EXPECT.accessPolicy, policy, {
      detail: `expected ${EXPECT.accessPolicy}, found ${describeValue(policy)}; write the id alone ("${policy.slice("accessPolicies/".length)}")`,
    });
  } else if (policy !== undefined) {
    c.string([...path, "accessPolicy"], policy, EXPECT.accessPolicy, (s) => ACCESS_POLICY_ID.test(s));
  }
  if (vpcsc.accessLevels !== undefined) {
    c.list([...path, "accessLevels"], vpcsc.accessLevels, EXPECT.accessLevels, (p, v) => c.string(p, v, EXPECT.accessLevel, (s) => ACCESS_LEVEL_NAME.test(s)));
  }
}
