/**
 * Private Google Access for the clean room's VPC: the two Google API VIPs and the private DNS
 * zones that send Google API names to the chosen one.
 *
 * Why its own file: the TEEs' only egress is the VIP, so which VIP, which addresses and which
 * domains resolve to it are one security decision, read and reviewed together, apart from the
 * VPC plumbing (clean-room-network.ts) and the firewall that admits the VIP range (firewall.ts).
 */
import { ITerraformDependable, TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { DnsManagedZone } from "@cdktf/provider-google/lib/dns-managed-zone";
import { DnsRecordSet } from "@cdktf/provider-google/lib/dns-record-set";
import { cleanRoomLabels } from "../../../internal/common";

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
export const GOOGLE_API_VIPS: Record<GoogleApiAccess, { host: string; range: string; ips: string[] }> = {
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

/** What `createPrivateGoogleApiZones` needs from the network it serves. */
export interface PrivateGoogleApiZonesProps {
  readonly project: string;
  /** Resource names of the room (`dcr-ENV-...`). */
  readonly name: (...parts: string[]) => string;
  readonly roomName: string;
  readonly access: GoogleApiAccess;
  /** The VPC the zones are visible to. */
  readonly networkId: string;
  readonly dependsOn?: ITerraformDependable[];
  readonly provider?: TerraformProvider;
}

/**
 * Private zones for the Google API domains, bound to the VPC: the apex answers with the VIP's
 * four addresses and `*.` with a CNAME to the apex. Construct ids (`zone-ID`, `zone-ID-a`,
 * `zone-ID-wildcard`) are made in `scope`, the network construct.
 */
export function createPrivateGoogleApiZones(scope: Construct, props: PrivateGoogleApiZonesProps): DnsManagedZone[] {
  const { project, name } = props;
  const vip = GOOGLE_API_VIPS[props.access];
  return PRIVATE_GOOGLE_DOMAINS.map((domain) => {
    const id = domain.replace(/\./g, "-");
    const zone = new DnsManagedZone(scope, `zone-${id}`, {
      project,
      name: name(id),
      dnsName: `${domain}.`,
      description: `Private Google Access: ${domain} resolves to ${vip.host}`,
      visibility: "private",
      privateVisibilityConfig: { networks: [{ networkUrl: props.networkId }] },
      labels: cleanRoomLabels(props.roomName, "network"),
      // The Cloud DNS API must be on first (the record sets wait for their zone).
      dependsOn: props.dependsOn,
      provider: props.provider,
    });
    new DnsRecordSet(scope, `zone-${id}-a`, {
      project,
      managedZone: zone.name,
      name: `${domain}.`,
      type: "A",
      ttl: 300,
      rrdatas: vip.ips,
      provider: props.provider,
    });
    new DnsRecordSet(scope, `zone-${id}-wildcard`, {
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
