/**
 * The clean room's network, as one import: re-exports the pieces in lib/constructs/platform/network/ so
 * `import { CleanRoomNetwork, ... } from "./"` and lib/index.ts keep their public surface.
 *
 * Why a barrel: the network is split by concept (the construct, its IP ranges, the firewall,
 * Private Google Access) to keep each file reviewable; callers should not have to know the cut.
 * Only the names public before the split are exported here; helpers stay internal.
 */
export { CleanRoomNetwork } from "./clean-room-network";
export type { CleanRoomNetworkProps, FlowLogOptions } from "./clean-room-network";
export { GOOGLE_HEALTH_CHECK_RANGES, TEE_NETWORK_TAG } from "./firewall";
export type { EgressMode, EgressOptions } from "./firewall";
export { DEFAULT_IP_RANGES, cidrsOverlap, isPrivateCidr, parseCidr } from "./ip-ranges";
export type { Ipv4Cidr, NetworkIpRanges } from "./ip-ranges";
export { GOOGLE_API_VIP_RANGES, PRIVATE_GOOGLE_APIS_RANGE, RESTRICTED_GOOGLE_APIS_RANGE } from "./private-google-access";
export type { GoogleApiAccess } from "./private-google-access";
