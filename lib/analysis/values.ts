/**
 * Reading synthesized config values. cdktf writes a single nested block as an object
 * and a repeated block as an array, but an escape hatch may write either; these
 * helpers accept both so an override cannot hide a setting from a rule.
 */
import { CLEAN_ROOM_LABEL } from "../internal/common";
import { isUnresolved, JsonObject, TfResource } from "./resource-index";

/** The single nested block at `value` (object, or first element of an array). */
export function block(value: unknown): JsonObject | undefined {
  if (Array.isArray(value)) return block(value[0]);
  return value !== null && typeof value === "object" ? (value as JsonObject) : undefined;
}

/** The repeated blocks at `value` (array, or a lone object). */
export function blocks(value: unknown): JsonObject[] {
  if (Array.isArray(value)) return value.filter((v): v is JsonObject => v !== null && typeof v === "object");
  const one = block(value);
  return one ? [one] : [];
}

/** Follow `a.b.c` through nested blocks. */
export function dig(config: JsonObject | undefined, path: string): unknown {
  let cur: unknown = config;
  for (const key of path.split(".")) {
    const obj = block(cur);
    if (!obj) return undefined;
    cur = obj[key];
  }
  return cur;
}

/**
 * A tri-state reading of a config value: `known` with the literal, `unknown` when it is
 * a Terraform expression (or a string where a bool/number belongs), `absent` when unset.
 */
export type Reading<T> =
  | { readonly state: "known"; readonly value: T }
  | { readonly state: "unknown"; readonly raw: unknown }
  | { readonly state: "absent" };

export function readString(value: unknown): Reading<string> {
  if (value === undefined || value === null) return { state: "absent" };
  if (typeof value !== "string" || isUnresolved(value)) return { state: "unknown", raw: value };
  return { state: "known", value };
}

export function readBool(value: unknown): Reading<boolean> {
  if (value === undefined || value === null) return { state: "absent" };
  if (typeof value === "boolean") return { state: "known", value };
  if (value === "true" || value === "false") return { state: "known", value: value === "true" };
  return { state: "unknown", raw: value };
}

export function readNumber(value: unknown): Reading<number> {
  if (value === undefined || value === null) return { state: "absent" };
  if (typeof value === "number") return { state: "known", value };
  if (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value)) return { state: "known", value: Number(value) };
  return { state: "unknown", raw: value };
}

/** The resource's literal labels (unresolved values are left out). */
export function labelsOf(resource: TfResource): Record<string, string> {
  const labels = block(resource.config.labels) ?? {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (typeof v === "string" && !isUnresolved(v)) out[k] = v;
  return out;
}

/** The clean-room `component` label (what the resource is in the room), if any. */
export function componentOf(resource: TfResource): string | undefined {
  return labelsOf(resource)[CLEAN_ROOM_LABEL.component];
}

export function datasetOf(resource: TfResource): string | undefined {
  return labelsOf(resource)[CLEAN_ROOM_LABEL.dataset];
}
