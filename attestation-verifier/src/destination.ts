/**
 * Where a release lands, decided by the verifier from its policy document, never by the caller:
 * the output of a dataset's provisioning image (`release.provisioning[].imageDigest`) goes to that
 * dataset's stage-1 bucket under `provisioned/<job>/`, where stage-1 users read it; every other
 * release goes to the release bucket under `<job>/`, where researchers' results go.
 */
import type { VerifierProvisioningDestination, VerifierReleaseSettings } from "../../lib/policy/document";
import { describe, isObject } from "./describe";
import { Reason, reason } from "./reasons";

export type { VerifierProvisioningDestination };

/** Provisioned objects are `<stage1Bucket>/provisioned/<job>/<name>`, apart from what owners upload by hand. */
export const PROVISIONED_PREFIX = "provisioned/";

export interface ReleaseDestination {
  readonly bucket: string;
  /** Every object of the release, the receipt included, is `<prefix><name>`. */
  readonly prefix: string;
  /** The dataset whose stage-1 bucket receives a provisioning release; absent for the release bucket. */
  readonly stage1Dataset?: string;
  /**
   * Whether the verifier may read what is already there. On a stage-1 bucket it holds create only
   * (roles/storage.objectCreator), so an object already present is never taken as copied.
   */
  readonly readable: boolean;
}

/**
 * The destination of a release of `job` by `imageDigest` over `datasets` (all of them granted).
 * A provisioning image releases its own dataset alone: a release naming other datasets too is
 * refused, so no other dataset's data reaches a stage-1 bucket, nor provisioning output the release bucket.
 */
export function releaseDestination(
  settings: VerifierReleaseSettings,
  job: string,
  imageDigest: string,
  datasets: readonly string[],
): { ok: true; destination: ReleaseDestination } | { ok: false; reason: Reason } {
  const provisions = (settings.provisioning ?? []).filter((p) => p.imageDigest === imageDigest);
  if (provisions.length === 0) return { ok: true, destination: { bucket: settings.releaseBucket, prefix: `${job}/`, readable: true } };
  const own = datasets.length === 1 ? provisions.find((p) => p.dataset === datasets[0]) : undefined;
  if (!own) {
    const of = provisions.map((p) => p.dataset).join(", ");
    return { ok: false, reason: reason("provisioning_scope", `The image provisions ${of}; this release names ${datasets.join(", ")}.`) };
  }
  return { ok: true, destination: { bucket: own.stage1Bucket, prefix: `${PROVISIONED_PREFIX}${job}/`, stage1Dataset: own.dataset, readable: false } };
}

/**
 * Validate `release.provisioning` of a policy document: each entry names a dataset of the policy
 * once, a digest and a bucket other than the output release's own.
 */
export function checkProvisioningDestinations(
  release: Record<string, unknown>,
  datasets: readonly string[],
  isBucket: (b: unknown) => boolean,
  isDigest: (d: unknown) => boolean,
  fail: (field: string, problem: string) => never,
): void {
  const raw = release.provisioning;
  if (raw === undefined) return;
  if (!Array.isArray(raw) || raw.length === 0) fail("release.provisioning", `expected a non-empty array, got ${describe(raw)}`);
  const seen = new Set<string>();
  const buckets = new Set([release.quarantineBucket, release.releaseBucket]);
  (raw as unknown[]).forEach((p, i) => {
    const at = `release.provisioning[${i}]`;
    if (!isObject(p)) return fail(at, `expected an object {dataset, imageDigest, stage1Bucket}, got ${describe(p)}`);
    for (const key of Object.keys(p)) if (!["dataset", "imageDigest", "stage1Bucket"].includes(key)) fail(`${at}.${key}`, "unknown field");
    if (typeof p.dataset !== "string" || !datasets.includes(p.dataset)) {
      fail(`${at}.dataset`, `${describe(p.dataset)} is not a dataset of the policy (known: ${datasets.join(", ")})`);
    }
    if (seen.has(p.dataset as string)) fail(`${at}.dataset`, `${JSON.stringify(p.dataset)} is listed twice`);
    seen.add(p.dataset as string);
    if (!isDigest(p.imageDigest)) fail(`${at}.imageDigest`, `expected sha256:<64 lowercase hex>, got ${describe(p.imageDigest)}`);
    if (!isBucket(p.stage1Bucket)) fail(`${at}.stage1Bucket`, `expected a Cloud Storage bucket name, got ${describe(p.stage1Bucket)}`);
    // Provisioning output in the quarantine or release bucket would not be stage-1 data at all.
    if (buckets.has(p.stage1Bucket)) fail(`${at}.stage1Bucket`, "must differ from the quarantine, the release and every other dataset's stage-1 bucket");
    buckets.add(p.stage1Bucket);
  });
}
