/**
 * What a data owner holds in a deployed room, on the synthesized JSON: enough for
 * `manatee jobs show|approve|reject --config` with their own credentials (lib/cli/jobs-cloud.ts),
 * nothing else. Each check also runs on a tampered copy, which it must catch.
 */
import { CleanRoom, ownerReviewCondition } from "../lib/constructs/clean-room";
import { approverKeyVersionName } from "../lib/cli/jobs-cloud";
import { dataPlaneNames, jobPathNames } from "../lib/policy/names";
import { examplePolicy, iamGrants, resources, type SynthJson, synthWith } from "./util";

const INSURANCE_OWNER = "user:data-owner@example.org";
const CLAIMS_OWNER = "group:claims-owners@example.org";
const HUB = "dcr-insurance-study-hub";
const REVIEWS_ONLY = `resource.name.startsWith("projects/_/buckets/${HUB}/objects/reviews/")`;

function room() {
  const base = examplePolicy();
  const policy = examplePolicy({ datasets: { insurance: base.datasets[0], claims: { ...base.datasets[1], owners: [CLAIMS_OWNER] } } });
  const json = synthWith((stack) => {
    new CleanRoom(stack, "room", { policy, verifier: false, outputs: false });
  });
  return { policy, json };
}

/** `${google_x.<id>.attr}` → the named resource's config. */
function target(json: SynthJson, ref: string): { type: string; config: any } | undefined {
  const m = /^\$\{([a-z_]+)\.([^.}]+)\.[a-z_]+\}$/.exec(ref ?? "");
  if (!m) return undefined;
  const config = json.resource?.[m[1]]?.[m[2]];
  return config ? { type: m[1], config } : undefined;
}

/** Each grant to `member`, described as "<role> on <kind> <name>[ if <condition>]". */
function grantsOf(json: SynthJson, member: string): string[] {
  return iamGrants(json)
    .filter((g) => g.member === member)
    .map((g) => {
      const c = g.config;
      const ref = c.repository ?? c.bucket ?? c.crypto_key_id ?? c.project;
      const t = target(json, ref);
      const name = !t ? `${g.type} ${ref}` : t.type === "google_artifact_registry_repository" ? `repository ${t.config.repository_id}` : t.type === "google_storage_bucket" ? `bucket ${t.config.name}` : t.type === "google_kms_crypto_key" ? `key ${t.config.name}` : `${t.type} ${ref}`;
      return `${g.role} on ${name}${c.condition ? ` if ${c.condition.expression}` : ""}`;
    })
    .sort();
}

/** Problems with the owners' review-record grants: exactly objectViewer on the hub, conditioned to reviews/. */
function reviewRecordProblems(json: SynthJson, owners: readonly string[]): string[] {
  const problems: string[] = [];
  const hub = resources(json, "google_storage_bucket").find(([, b]) => b.name === HUB);
  if (!hub) return [`no bucket ${HUB}`];
  const onHub = iamGrants(json).filter((g) => g.type === "google_storage_bucket_iam_member" && g.config.bucket === `\${google_storage_bucket.${hub[0]}.name}`);
  for (const owner of owners) {
    const mine = onHub.filter((g) => g.member === owner);
    if (mine.length !== 1) problems.push(`${owner}: ${mine.length} grants on the hub bucket, expected 1`);
    for (const g of mine) {
      if (g.role !== "roles/storage.objectViewer") problems.push(`${owner}: ${g.role} on the hub bucket`);
      if (!g.config.condition) problems.push(`${owner}: unconditional ${g.role} on the hub bucket (every workspace tarball)`);
      else if (g.config.condition.expression !== REVIEWS_ONLY) problems.push(`${owner}: condition ${g.config.condition.expression} is not reviews/ only`);
    }
  }
  return problems;
}

describe("data owners' access for the cloud owner flow", () => {
  const { policy, json } = room();
  const repos = Object.fromEntries(resources(json, "google_artifact_registry_repository").map(([, r]) => [r.repository_id, r]));
  const names = jobPathNames(policy);

  test("given the room, then the names the CLI derives are the deployed resources'", () => {
    expect(repos[names.userImagesRepositoryId]).toMatchObject({ location: policy.region });
    expect(repos[names.executorBasesRepositoryId]).toMatchObject({ location: policy.region });
    expect(resources(json, "google_storage_bucket").map(([, b]) => b.name)).toContain(names.hubBucket);
    const ring = resources(json, "google_kms_key_ring").find(([, r]) => r.name === dataPlaneNames(policy).datasetKeyRing)!;
    expect(ring[1].location).toBe(policy.region);
    const key = resources(json, "google_kms_crypto_key").find(([, k]) => k.name === "insurance-approver")!;
    expect(key[1].key_ring).toBe(`\${google_kms_key_ring.${ring[0]}.id}`);
    expect(approverKeyVersionName(policy, "insurance")).toBe(
      `projects/${policy.project}/locations/${ring[1].location}/keyRings/${ring[1].name}/cryptoKeys/${key[1].name}/cryptoKeyVersions/1`,
    );
    expect(ownerReviewCondition(policy).expression).toBe(REVIEWS_ONLY);
  });

  test("given an owner, then they hold exactly: their dataset's signer, signature writer, uploads, and the job path's reads", () => {
    const jobPath = [
      `roles/artifactregistry.reader on repository ${names.executorBasesRepositoryId}`,
      `roles/artifactregistry.reader on repository ${names.userImagesRepositoryId}`,
      `roles/storage.objectViewer on bucket ${HUB} if ${REVIEWS_ONLY}`,
    ];
    const own = (dataset: string) => [
      `roles/artifactregistry.writer on repository insurance-study-${dataset}-approvals`,
      `roles/cloudkms.cryptoKeyEncrypter on key ${dataset}`,
      `roles/cloudkms.publicKeyViewer on key ${dataset}-approver`,
      `roles/cloudkms.signerVerifier on key ${dataset}-approver`,
      `roles/storage.objectCreator on bucket ${dataPlaneNames(policy).datasetBucket(dataset, "stage1")}`,
      `roles/storage.objectCreator on bucket ${dataPlaneNames(policy).datasetBucket(dataset, "stage2")}`,
    ];
    expect(grantsOf(json, INSURANCE_OWNER)).toEqual([...jobPath, ...own("insurance")].sort());
    expect(grantsOf(json, CLAIMS_OWNER)).toEqual([...jobPath, ...own("claims")].sort());
  });

  test("given the hub bucket, then owners read review records only (a tampered copy without the condition, or wider, is caught)", () => {
    expect(reviewRecordProblems(json, [INSURANCE_OWNER, CLAIMS_OWNER])).toEqual([]);

    const unconditioned: SynthJson = JSON.parse(JSON.stringify(json));
    for (const g of Object.values(unconditioned.resource!.google_storage_bucket_iam_member)) if (g.member === INSURANCE_OWNER) delete g.condition;
    expect(reviewRecordProblems(unconditioned, [INSURANCE_OWNER, CLAIMS_OWNER])).toEqual([`${INSURANCE_OWNER}: unconditional roles/storage.objectViewer on the hub bucket (every workspace tarball)`]);
    expect(grantsOf(unconditioned, INSURANCE_OWNER)).not.toEqual(grantsOf(json, INSURANCE_OWNER));

    const wider: SynthJson = JSON.parse(JSON.stringify(json));
    for (const g of Object.values(wider.resource!.google_storage_bucket_iam_member)) {
      if (g.member === CLAIMS_OWNER && g.condition) g.condition.expression = `resource.name.startsWith("projects/_/buckets/${HUB}/objects/")`;
    }
    expect(reviewRecordProblems(wider, [INSURANCE_OWNER, CLAIMS_OWNER])).toHaveLength(1);
  });

  test("given a room whose datasets have no owners, then nobody gets the job path's reads", () => {
    const base = examplePolicy();
    const { owners: _o, ...insurance } = base.datasets[0];
    const { owners: _c, ...claims } = base.datasets[1];
    const ownerless = examplePolicy({ datasets: { insurance: { ...insurance, owners: [] }, claims: { ...claims, owners: [] } } });
    const j = synthWith((stack) => {
      new CleanRoom(stack, "room", { policy: ownerless, verifier: false, outputs: false });
    });
    const hub = resources(j, "google_storage_bucket").find(([, b]) => b.name === HUB)!;
    // Only the job service's own identities (service accounts) touch the hub bucket then.
    expect(iamGrants(j).filter((g) => g.config.bucket === `\${google_storage_bucket.${hub[0]}.name}` && !g.member.includes("google_service_account."))).toEqual([]);
    expect(iamGrants(j).filter((g) => g.config.condition?.expression === REVIEWS_ONLY)).toEqual([]);
  });
});
