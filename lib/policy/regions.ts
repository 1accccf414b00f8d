/**
 * Residency aliases: names for sets of regions, for `manatee check --residency`. Pure (no cdktf):
 * the CLI and the guardrails share it. A room file lists its regions explicitly (`residency:`), so
 * the policy a data owner approves never changes meaning when an alias grows.
 */

/**
 * `eu`: the Google Cloud regions located in EU member states (cloud.google.com/about/locations).
 * Not europe-west2 (London) or europe-west6 (Zurich): outside the EU. Not the `EU`/`eur*`
 * multi-regions: they are not regions, and a residency check judges each location alone.
 */
export const EU_REGIONS = [
  "europe-central2", // Warsaw
  "europe-north1", // Hamina
  "europe-north2", // Stockholm
  "europe-southwest1", // Madrid
  "europe-west1", // St. Ghislain
  "europe-west3", // Frankfurt
  "europe-west4", // Eemshaven
  "europe-west8", // Milan
  "europe-west9", // Paris
  "europe-west10", // Berlin
  "europe-west12", // Turin
] as const;

export const RESIDENCY_ALIASES: Readonly<Record<string, readonly string[]>> = { eu: EU_REGIONS };

/** Regions and aliases (`eu`) to the regions they name, in order, without duplicates. */
export function expandResidency(entries: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of entries) {
    for (const region of RESIDENCY_ALIASES[entry.toLowerCase()] ?? [entry]) if (!out.includes(region)) out.push(region);
  }
  return out;
}
