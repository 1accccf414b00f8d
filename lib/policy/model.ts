/**
 * The clean-room policy: the single source of truth from which the attribute
 * condition, the IAM members, the verifier policy document and the access report
 * are compiled. Pure types and constants: no cdktf imports (DESIGN.md §3).
 * Split by concept under model/; this entry keeps every import path unchanged.
 */
export * from "./model/tee";
export * from "./model/datasets";
export * from "./model/approvals";
export * from "./model/operations";
export * from "./model/jupyterhub";
export * from "./model/platform";
export * from "./model/parties";
export * from "./model/room";
export * from "./model/normalize";
