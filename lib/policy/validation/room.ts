/** Where the room lives: its name and project, region, zone, residency set, component locations and state backend. */
import { LOCATION_COMPONENTS } from "../model";
import { Checker, isPlainMap } from "./checker";
import { EXPECT } from "./expectations";
import { BUCKET, FIELDS, PROJECT_ID, REGION, ROOM_NAME, STATE_PREFIX, ZONE } from "./vocabulary";

/** Zone `us-central1-a` lies in region `us-central1`. */
function zoneRegion(zone: string): string | undefined {
  return ZONE.exec(zone)?.[1];
}

/** `locations`: each component's region, inside the residency set (default [region]). */
export function checkLocations(c: Checker, value: unknown, { region, residency }: Placement): void {
  if (value === undefined) return;
  const locations = c.map(["locations"], value, "the component locations: { registry, firestore, verifier }", FIELDS.locations);
  if (!locations) return;
  const allowed = residency ?? (region ? [region] : undefined);
  for (const key of LOCATION_COMPONENTS) {
    const raw = locations[key];
    if (raw === undefined) continue;
    const path = ["locations", key];
    if (typeof raw === "string" && !REGION.test(raw) && /^[A-Za-z]+[0-9]*$/.test(raw)) {
      c.fail(path, EXPECT.region, raw, {
        detail: `expected a region of the residency set, found the multi-region "${raw}", which spans regions outside it; use a region such as "${allowed?.[0] ?? "europe-west4"}"`,
      });
      continue;
    }
    const loc = c.string(path, raw, EXPECT.region, (s) => REGION.test(s));
    if (loc && allowed && !allowed.includes(loc)) {
      c.fail(path, `a region of the residency set [${allowed.join(", ")}]`, loc, {
        detail:
          `expected a region of the residency set [${allowed.join(", ")}], found "${loc}": ${key} would keep data outside it. ` +
          `Use one of [${allowed.join(", ")}], or add "${loc}" to "residency" if the data owners allow it.`,
      });
    }
  }
}

/** Where the room is, for the rules that depend on it. */
export interface Placement {
  readonly region?: string;
  /** The residency set as written (undefined when absent or invalid). */
  readonly residency?: string[];
}

/** The document itself: a map with the required top-level fields. */
export function checkRoot(c: Checker, input: unknown): Record<string, unknown> | undefined {
  // A consortium's operator holds no data: its datasets are the parties' (validation/parties.ts).
  const consortium = isPlainMap(input) && input.parties !== undefined;
  return c.map([], input, "a map of clean room settings (name, project, region, zone, datasets, ...)", FIELDS.root, {
    name: EXPECT.name,
    project: EXPECT.project,
    region: EXPECT.region,
    zone: EXPECT.zone,
    ...(consortium ? {} : { datasets: EXPECT.datasets }),
  });
}

/** name, project, region, zone (in the region) and the residency set (which holds the region). */
export function checkPlacement(c: Checker, root: Record<string, unknown>): Placement {
  if (root.name !== undefined) c.string(["name"], root.name, EXPECT.name, (s) => ROOM_NAME.test(s));
  if (root.project !== undefined) c.string(["project"], root.project, EXPECT.project, (s) => PROJECT_ID.test(s));
  const region = root.region === undefined ? undefined : c.string(["region"], root.region, EXPECT.region, (s) => REGION.test(s));
  if (root.zone !== undefined) {
    const zone = c.string(["zone"], root.zone, EXPECT.zone, (s) => ZONE.test(s));
    if (zone && region && zoneRegion(zone) !== region) {
      c.fail(["zone"], `a zone of region "${region}", such as "${region}-a"`, zone);
    }
  }
  let residency: string[] | undefined;
  if (root.residency !== undefined) {
    residency = c.list(["residency"], root.residency, "a non-empty list of regions", (p, v) => c.string(p, v, EXPECT.region, (s) => REGION.test(s)), {
      nonEmpty: true,
    });
    if (residency && region && !residency.includes(region)) {
      c.fail(["residency"], `a list that includes the clean room's region "${region}" (every data location must lie in it)`, residency, {
        found: `[${residency.join(", ")}]`,
      });
    }
  }
  return { region, residency };
}

/** Who may use the room at all, besides dataset owners. */
export function checkResearchers(c: Checker, value: unknown): void {
  if (value !== undefined) c.list(["researchers"], value, EXPECT.principals, (p, v) => c.principal(p, v));
}

/** Where Terraform keeps state. */
export function checkBackend(c: Checker, value: unknown): void {
  if (value === undefined) return;
  const backend = c.map(["backend"], value, "the state backend: { bucket, prefix }", FIELDS.backend, { bucket: EXPECT.bucket });
  if (backend?.bucket !== undefined) c.string(["backend", "bucket"], backend.bucket, EXPECT.bucket, (s) => BUCKET.test(s));
  if (backend?.prefix !== undefined) {
    c.string(["backend", "prefix"], backend.prefix, EXPECT.prefix, (s) => STATE_PREFIX.test(s));
  }
}
