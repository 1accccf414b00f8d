/**
 * How suppressions are recorded in the synthesized JSON, so a reviewer sees them in
 * cdk.tf.json and `manatee check` honours them: in the resource's `//` comment block
 * (Terraform ignores `//` keys), as `"//": { "manatee": { "suppressions": [{ id, reason, resource? }] } }`.
 */
import { CleanRoomSuppression } from "./model";
import { JsonObject, TfResource } from "../analysis/resource-index";

/** The `addOverride` path of the record. */
export const SUPPRESSIONS_OVERRIDE_PATH = "//.manatee.suppressions";
export const MIN_REASON_LENGTH = 10;

/** The suppressions recorded in a resource's config; malformed entries are ignored. */
export function suppressionsInConfig(config: JsonObject): CleanRoomSuppression[] {
  const comment = config["//"] as JsonObject | undefined;
  const list = (comment?.manatee as JsonObject | undefined)?.suppressions;
  if (!Array.isArray(list)) return [];
  // A record edited by hand still needs a real reason to count.
  return list.filter(
    (s): s is CleanRoomSuppression =>
      !!s &&
      typeof s.id === "string" &&
      typeof s.reason === "string" &&
      s.reason.trim().length >= MIN_REASON_LENGTH &&
      (s.resource === undefined || (typeof s.resource === "string" && s.resource.trim() !== "")),
  );
}

/** Whether a suppression names this resource: it names none (all it was added on), or its address or construct path. */
export function suppressesResource(s: CleanRoomSuppression, resource: Pick<TfResource, "address" | "path">): boolean {
  return s.resource === undefined || s.resource === resource.address || (resource.path !== undefined && s.resource === resource.path);
}

/** The suppression of `ruleId` on `resource`, if one is recorded in its config. */
export function suppressionFor(resource: TfResource, ruleId: string, recorded = suppressionsInConfig(resource.config)): CleanRoomSuppression | undefined {
  return recorded.find((s) => s.id === ruleId && suppressesResource(s, resource));
}
