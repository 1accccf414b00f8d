/** Deployment settings of the platform: cluster, database, component locations, VPC-SC. */
import type { CleanRoomPolicy } from "./room";

/** A network allowed to reach the cluster's IP-based control-plane endpoints. */
export interface AuthorizedNetworkSettings {
  /** IPv4 CIDR block with no host bits set; RFC 1918 unless `publicEndpoint`. */
  readonly cidr: string;
  /** Shown in the console, e.g. "office". */
  readonly name: string;
}

/** GKE control plane and lifecycle. */
export interface ClusterSettings {
  /** @default [] (operators use the IAM-gated DNS endpoint) */
  readonly authorizedNetworks: readonly AuthorizedNetworkSettings[];
  /** Expose the public IP endpoint; needs a public range in `authorizedNetworks`. @default false */
  readonly publicEndpoint: boolean;
  /** @default true (false only for throwaway rooms) */
  readonly deletionProtection: boolean;
}

/**
 * An optional VPC Service Controls perimeter around the room's project. Deployment-only: it
 * changes where Google APIs may be called from, never which images are approved for which data,
 * so the verifier document ignores it.
 */
export interface VpcServiceControlsSettings {
  /** Numeric id of the organization's access policy (`gcloud access-context-manager policies list`). */
  readonly accessPolicy: string;
  /**
   * Short names of access levels in that policy (the part after `accessLevels/`) whose callers may
   * reach the restricted services from outside the perimeter, e.g. the deployer's network.
   * @default []
   */
  readonly accessLevels: readonly string[];
}

/** Google APIs the perimeter restricts: data, keys, the verifier and images. */
export const VPC_SC_RESTRICTED_SERVICES = [
  "storage.googleapis.com",
  "cloudkms.googleapis.com",
  "cloudfunctions.googleapis.com",
  "run.googleapis.com",
  "artifactregistry.googleapis.com",
] as const;

/**
 * Where the components a room may place apart from its region live. Deployment-only (the verifier
 * document ignores it). Each is a region of the residency set; absent = the room's region. The data
 * buckets, their keys, the TEEs and the cluster always stay in the room's region/zone.
 */
export interface LocationSettings {
  /** Artifact Registry repositories: service images, executor bases, job images, approvals. @default region */
  readonly registry?: string;
  /** The job records' Firestore database (Firestore serves fewer regions than the rest). @default region */
  readonly firestore?: string;
  /**
   * The attestation verifier: its function and build, receipt key ring, artifacts, audit and public
   * JWKS buckets (Cloud Functions gen2 serves fewer regions than the rest). @default region
   */
  readonly verifier?: string;
}

/** The components `locations` may place; `manatee check` and the loader name them. */
export const LOCATION_COMPONENTS = ["registry", "firestore", "verifier"] as const;

/** The job service's Cloud SQL instance. */
export interface DatabaseSettings {
  /** @default true (false only for throwaway rooms) */
  readonly deletionProtection: boolean;
}

/** Where `component` lives: `policy.locations[component]`, else the room's region. */
export function locationOf(policy: Pick<CleanRoomPolicy, "region" | "locations">, component: (typeof LOCATION_COMPONENTS)[number]): string {
  return policy.locations?.[component] ?? policy.region;
}
