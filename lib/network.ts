/**
 * The clean room's network, as one import: re-exports the pieces in lib/network/ so
 * `import { CleanRoomNetwork, ... } from "./network"` and lib/index.ts keep their public surface.
 *
 * Why a barrel: the network is split by concept (the construct, its IP ranges, the firewall,
 * Private Google Access) to keep each file reviewable; callers should not have to know the cut.
 * Only the names public before the split are exported here; helpers stay internal.
 */
export { CleanRoomNetwork } from "./network/clean-room-network";
export type { CleanRoomNetworkProps, FlowLogOptions } from "./network/clean-room-network";
export { GOOGLE_HEALTH_CHECK_RANGES, TEE_NETWORK_TAG } from "./network/firewall";
export type { EgressMode, EgressOptions } from "./network/firewall";
export { DEFAULT_IP_RANGES, cidrsOverlap, isPrivateCidr, parseCidr } from "./network/ip-ranges";
export type { Ipv4Cidr, NetworkIpRanges } from "./network/ip-ranges";
export { GOOGLE_API_VIP_RANGES, PRIVATE_GOOGLE_APIS_RANGE, RESTRICTED_GOOGLE_APIS_RANGE } from "./network/private-google-access";
export type { GoogleApiAccess } from "./network/private-google-access";
