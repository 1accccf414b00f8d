/** The clean-room guardrails: rule pack, Aspect, suppressions, and the engine `manatee check` uses. */
export * from "./model";
export * from "./context";
export * from "./engine";
export * from "./pack";
export * from "./aspect";
export * from "./suppressions";
export { SUPPRESSIONS_OVERRIDE_PATH, MIN_REASON_LENGTH, suppressionsInConfig } from "./suppressions-record";
export { ResourceIndex, isUnresolved, wholeReference } from "../analysis/resource-index";
export type { TfResource, TerraformJson, Reference } from "../analysis/resource-index";
