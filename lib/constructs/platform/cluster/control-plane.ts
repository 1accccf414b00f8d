/**
 * Who may reach the stage-1 cluster's Kubernetes API: the control-plane access options (IAM-gated
 * DNS endpoint by default, public IP endpoint only with authorized networks), their validation,
 * and the connection settings the workloads stack's kubernetes and helm providers receive.
 * Apart from the cluster construct because operator access is its own decision with its own rules.
 */
import { Token } from "cdktf";
import { isPrivateCidr, parseCidr } from "../network";
import { InvalidPropsError } from "../../../errors";

export interface AuthorizedNetwork {
  /** IPv4 CIDR block allowed to reach the IP-based control-plane endpoints. */
  readonly cidrBlock: string;
  readonly displayName: string;
}

/**
 * Who may reach the Kubernetes API.
 *
 * Default: the DNS-based endpoint only for operators, and no public IP endpoint. Every request
 * to the DNS endpoint needs a Google identity with `container.clusters.connect` (e.g.
 * roles/container.developer) and then Kubernetes RBAC, and it can be fenced further with VPC
 * Service Controls. So `cdktf deploy` of the workloads stack works from any machine whose
 * credentials hold that permission, with no IP allow-list to maintain: `kubernetesConnection()`
 * points the kubernetes and helm providers at the DNS endpoint.
 */
export interface ControlPlaneAccess {
  /**
   * Serve the API on the DNS-based endpoint (`gke-….<region>.gke.goog`), IAM-gated.
   * @default true
   */
  readonly dnsEndpoint?: boolean;
  /**
   * Expose the public IP-based endpoint. Requires `authorizedNetworks`; the private IP endpoint
   * always exists (nodes use it).
   * @default false
   */
  readonly publicEndpoint?: boolean;
  /**
   * CIDR blocks allowed to reach the IP-based endpoints (public ones when `publicEndpoint`).
   * Master authorized networks are always on; Google Cloud's public IPs are never allowed.
   * @default []
   */
  readonly authorizedNetworks?: readonly AuthorizedNetwork[];
}

/** Provider settings for the kubernetes and helm providers of the workloads stack. */
export interface KubernetesConnection {
  /** `https://…` of the control-plane endpoint. */
  readonly host: string;
  /** OAuth access token of the Terraform caller (refreshed on every plan/apply). */
  readonly token: string;
  /** PEM CA of the IP-based endpoint; absent for the DNS endpoint, which has a publicly trusted certificate. */
  readonly clusterCaCertificate?: string;
}

export function validateControlPlane(input: ControlPlaneAccess | undefined): Required<ControlPlaneAccess> {
  const access = { dnsEndpoint: true, publicEndpoint: false, authorizedNetworks: [], ...input };
  const networks = access.authorizedNetworks;
  networks.forEach((n, i) => {
    if (Token.isUnresolved(n.cidrBlock)) return;
    const cidr = parseCidr(n.cidrBlock);
    if (!cidr) {
      throw new InvalidPropsError(
        `controlPlane.authorizedNetworks[${i}].cidrBlock "${n.cidrBlock}" is not an IPv4 CIDR block. ` +
          `Write it as network/prefix with no host bits set, e.g. "203.0.113.0/24".`,
      );
    }
    if (cidr.prefix < 8) {
      throw new InvalidPropsError(
        `controlPlane.authorizedNetworks[${i}].cidrBlock "${n.cidrBlock}" opens the control plane to a large part of the internet. ` +
          `Allow only your operators' networks (prefix /8 or longer), or use the DNS endpoint, which IAM guards.`,
      );
    }
  });
  const publicBlocks = networks.filter((n) => {
    const cidr = Token.isUnresolved(n.cidrBlock) ? undefined : parseCidr(n.cidrBlock);
    return cidr !== undefined && !isPrivateCidr(cidr);
  });
  if (!access.publicEndpoint && publicBlocks.length > 0) {
    throw new InvalidPropsError(
      `controlPlane.authorizedNetworks names the public range "${publicBlocks[0].cidrBlock}" but publicEndpoint is false, so it could never be used. ` +
        `Remove it and use the DNS endpoint, or set publicEndpoint true if operators must reach the public IP.`,
    );
  }
  if (access.publicEndpoint) {
    const unknown = networks.some((n) => Token.isUnresolved(n.cidrBlock));
    if (publicBlocks.length === 0 && !unknown) {
      throw new InvalidPropsError(
        `controlPlane.publicEndpoint is true but controlPlane.authorizedNetworks names no public range, so nobody could use it. ` +
          `Add your operators' public CIDR blocks, or keep publicEndpoint false and use the DNS endpoint.`,
      );
    }
  }
  if (!access.dnsEndpoint && !access.publicEndpoint && networks.length === 0) {
    throw new InvalidPropsError(
      `controlPlane allows no operator access: dnsEndpoint and publicEndpoint are false and authorizedNetworks is empty. ` +
        `Keep dnsEndpoint true (IAM-gated), or list the internal ranges (VPN, bastion) that may reach the private endpoint.`,
    );
  }
  return access;
}
