/**
 * The output release's guardrails (MCR-OUT1, MCR-OUT2, MCR-OUT3) on the synthesized platform
 * stack of the example room: the room as synthesized passes, and each tampered copy (an extra
 * grant, a widened custom role) is refused by the rule that guards it, with and without the policy.
 */
import { Finding } from "../../lib/checks/model";
import { dataPlaneNames, manateeContract, platformNames } from "../../lib/policy/names";
import { SynthJson, examplePolicy, grantsOn, resources } from "../util";
import { checksOn, examplePlatform } from "./harness";

const policy = examplePolicy();
const NOW = new Date("2026-06-01T00:00:00Z");
const OUT = /^MCR-OUT/;

let pristine: SynthJson;
beforeAll(() => {
  pristine = examplePlatform(policy);
});

const copy = (): any => structuredClone(pristine);
const run = checksOn(policy, NOW);
const errorsOf = (findings: Finding[], rule: string) => findings.filter((f) => f.level === "error" && f.ruleId === rule);
const ruleIds = (findings: Finding[]) => [...new Set(findings.filter((f) => f.level === "error" && OUT.test(f.ruleId)).map((f) => f.ruleId))].sort();

const ref = (type: string, id: string, attr: string) => `\${${type}.${id}.${attr}}`;
const bucketBy = (json: any, pick: (b: any) => boolean) => ref("google_storage_bucket", resources(json, "google_storage_bucket").find(([, b]) => pick(b))![0], "name");
const quarantine = (json: any) => bucketBy(json, (b) => b.labels?.use === "output-quarantine");
const release = (json: any) => bucketBy(json, (b) => b.labels?.use === "output-release");
const saMember = (json: any, accountId: string) =>
  ref("google_service_account", resources(json, "google_service_account").find(([, sa]) => sa.account_id === accountId)![0], "member");
const names = platformNames(policy);
const TEE = (json: any) => saMember(json, manateeContract(policy.name, policy.project).teeServiceAccountId);
const JOB_SERVICE = (json: any) => saMember(json, names.jobServiceSaId);
const JUPYTER = (json: any) => saMember(json, names.jupyterSaId);
const VERIFIER = (json: any) => saMember(json, names.verifierSaId);

function grant(json: any, type: string, config: Record<string, unknown>, id = "tampered"): any {
  json.resource[type] ??= {};
  json.resource[type][id] = config;
  return json;
}
const onBucket = (json: any, bucket: string, role: string, member: string) => grant(json, "google_storage_bucket_iam_member", { bucket, role, member });
const onProject = (json: any, role: string, member: string) => grant(json, "google_project_iam_member", { project: policy.project, role, member });

describe("the output release's guardrails on the example room", () => {
  test("given the room as synthesized, then MCR-OUT1..3 report nothing, with or without the policy", () => {
    for (const withPolicy of [true, false]) {
      expect(run(pristine, withPolicy).filter((f) => OUT.test(f.ruleId))).toEqual([]);
    }
  });

  test("given the TEE granted roles/storage.objectCreator on quarantine instead of the custom role, then it is still create-only", () => {
    const json = onBucket(copy(), quarantine(pristine), "roles/storage.objectCreator", TEE(pristine));
    expect(run(json).filter((f) => OUT.test(f.ruleId))).toEqual([]);
  });
});

describe("MCR-OUT1: the TEE creates in quarantine and writes nothing on release", () => {
  test.each([
    ["read (objectViewer)", "roles/storage.objectViewer", /allows storage\.managedFolders\.get, storage\.managedFolders\.list, storage\.objects\.get, storage\.objects\.list/],
    ["delete and overwrite (objectUser)", "roles/storage.objectUser", /storage\.objects\.delete.*storage\.objects\.update/],
    ["list (legacyBucketReader)", "roles/storage.legacyBucketReader", /storage\.objects\.list/],
  ])("given the TEE holding %s on quarantine, then MCR-OUT1 refuses it, with and without the policy", (_what, role, message) => {
    const json = onBucket(copy(), quarantine(pristine), role, TEE(pristine));
    for (const withPolicy of [true, false]) {
      const found = errorsOf(run(json, withPolicy), "MCR-OUT1");
      expect(found.map((f) => f.address)).toEqual(["google_storage_bucket_iam_member.tampered"]);
      expect(found[0].message).toMatch(message);
      expect(found[0].message).toContain("the quarantine bucket acme-clean-room-insurance-study-quarantine");
    }
  });

  test("given the quarantine writer role widened with storage.objects.delete, then MCR-OUT1 refuses the TEE's grant", () => {
    const json = copy();
    const [, role] = resources(json, "google_project_iam_custom_role").find(([id]) => id.includes("quarantine-writer"))!;
    role.permissions = [...role.permissions, "storage.objects.delete"];
    const found = errorsOf(run(json), "MCR-OUT1");
    expect(found).toHaveLength(1);
    // The TEE's grant is a binding of the quarantine bucket's one authoritative policy.
    expect(found[0].address).toMatch(/^google_storage_bucket_iam_policy\.room_output-release_quarantine_iam_policy/);
    expect(found[0].message).toMatch(/\(storage\.objects\.create, storage\.objects\.delete\)\ on the quarantine bucket .* which allows storage\.objects\.delete\./);
  });

  test("given the TEE holding an authoritative binding with read on quarantine, then MCR-OUT1 refuses it", () => {
    const json = grant(copy(), "google_storage_bucket_iam_binding", { bucket: quarantine(pristine), role: "roles/storage.objectAdmin", members: [TEE(pristine)] });
    expect(errorsOf(run(json), "MCR-OUT1").map((f) => f.address)).toEqual(["google_storage_bucket_iam_binding.tampered"]);
  });

  test.each([
    ["objectCreator", "roles/storage.objectCreator", /storage\.objects\.create/],
    ["the verifier's release writer role", "RELEASE_WRITER", /storage\.objects\.create/],
  ])("given the TEE holding %s on the release bucket, then MCR-OUT1 refuses any write there", (_what, role, message) => {
    const json = copy();
    const writerRole = ref("google_project_iam_custom_role", resources(json, "google_project_iam_custom_role").find(([id]) => id.includes("release-writer"))![0], "name");
    onBucket(json, release(pristine), role === "RELEASE_WRITER" ? writerRole : role, TEE(pristine));
    const found = errorsOf(run(json), "MCR-OUT1");
    expect(found.map((f) => f.address)).toEqual(["google_storage_bucket_iam_member.tampered"]);
    expect(found[0].message).toMatch(message);
    expect(found[0].message).toContain("Only the verifier writes the release bucket");
  });

  test("given the TEE holding roles/storage.objectAdmin on the project, then MCR-OUT1 refuses it for both buckets", () => {
    const found = errorsOf(run(onProject(copy(), "roles/storage.objectAdmin", TEE(pristine))), "MCR-OUT1");
    expect(found.map((f) => f.address)).toEqual(["google_project_iam_member.tampered", "google_project_iam_member.tampered"]);
    expect(found[0].message).toContain("every bucket of project acme-clean-room (a project-level grant), the quarantine bucket included");
    expect(found[1].message).toContain("the release bucket included");
  });

  test("given the TEE holding a role the stack does not declare on quarantine, then a warning: create-only cannot be checked", () => {
    const json = onBucket(copy(), quarantine(pristine), "projects/acme-clean-room/roles/somethingElse", TEE(pristine));
    const found = run(json).filter((f) => f.ruleId === "MCR-OUT1");
    expect(found.map((f) => f.level)).toEqual(["warning"]);
  });
});

describe("MCR-OUT2: only the verifier reads quarantine", () => {
  test.each([
    ["the researchers' group", () => "group:researchers@example.org", "roles/storage.objectViewer", /person or group/],
    ["JupyterLab's service account", JUPYTER, "roles/storage.legacyObjectReader", /service account/],
    ["the job service's service account", JOB_SERVICE, "roles/storage.objectViewer", /service account/],
  ])("given %s reading quarantine, then MCR-OUT2 refuses it, with and without the policy", (_who, member, role, kind) => {
    const json = onBucket(copy(), quarantine(pristine), role, member(pristine));
    for (const withPolicy of [true, false]) {
      const found = errorsOf(run(json, withPolicy), "MCR-OUT2");
      expect(found.map((f) => f.address)).toEqual(["google_storage_bucket_iam_member.tampered"]);
      expect(found[0].message).toMatch(kind);
      expect(found[0].message).toContain("not the verifier's service account, can read the quarantine bucket");
    }
  });

  test.each([
    ["roles/storage.objectViewer", "group:researchers@example.org"],
    ["roles/viewer", "user:analyst@example.org"],
    ["roles/editor", "group:researchers@example.org"],
  ])("given %s on the project for %s, then MCR-OUT2 refuses it: a project role covers quarantine", (role, member) => {
    const found = errorsOf(run(onProject(copy(), role, member)), "MCR-OUT2");
    expect(found.map((f) => f.address)).toEqual(["google_project_iam_member.tampered"]);
    expect(found[0].message).toContain("the quarantine bucket included");
  });

  test("given the verifier granted read twice, and researchers reading the release bucket, then MCR-OUT2 has nothing to say", () => {
    const json = onBucket(copy(), quarantine(pristine), "roles/storage.legacyObjectReader", VERIFIER(pristine));
    grant(json, "google_storage_bucket_iam_member", { bucket: release(pristine), role: "roles/storage.objectViewer", member: "group:researchers@example.org" }, "release_reader");
    expect(run(json).filter((f) => f.ruleId === "MCR-OUT2")).toEqual([]);
  });

  test("given the TEE granted read on quarantine, then both MCR-OUT1 and MCR-OUT2 refuse it", () => {
    const found = run(onBucket(copy(), quarantine(pristine), "roles/storage.objectViewer", TEE(pristine)));
    expect(ruleIds(found)).toEqual(["MCR-OUT1", "MCR-OUT2"]);
    expect(errorsOf(found, "MCR-OUT2")[0].message).toContain("(the TEE's service account)");
  });
});

describe("MCR-OUT3: no outputs path around the release", () => {
  test.each([
    ["the hub bucket", (json: any) => bucketBy(json, (b) => b.labels?.component === "hub" && !b.labels?.use)],
    ["the insurance stage-2 bucket", (json: any) => bucketBy(json, (b) => b.labels?.component === "stage2" && b.labels?.dataset === "insurance")],
    ["a bucket outside the stack", () => "someone-elses-bucket"],
  ])("given the TEE able to create objects on %s, then MCR-OUT3 refuses it, with and without the policy", (_what, bucket) => {
    const json = onBucket(copy(), bucket(pristine), "roles/storage.objectCreator", TEE(pristine));
    for (const withPolicy of [true, false]) {
      const found = errorsOf(run(json, withPolicy), "MCR-OUT3");
      expect(found.map((f) => f.address)).toEqual(["google_storage_bucket_iam_member.tampered"]);
      expect(found[0].message).toMatch(/can storage\.objects\.create on bucket .* bypass the release/);
    }
    expect(ruleIds(run(json))).toEqual(["MCR-OUT3"]);
  });

  test("given the TEE with roles/storage.objectCreator on the project, then MCR-OUT3 refuses it (besides MCR-IAM2)", () => {
    const found = run(onProject(copy(), "roles/storage.objectCreator", TEE(pristine)));
    expect(errorsOf(found, "MCR-OUT3")[0].message).toContain("every bucket of project acme-clean-room");
    expect(errorsOf(found, "MCR-IAM2")).toHaveLength(1);
  });

  test("given the TEE with a read-only role elsewhere, then MCR-OUT3 has nothing to say (it is not an outputs path)", () => {
    const json = onBucket(copy(), bucketBy(pristine, (b) => b.labels?.component === "hub" && !b.labels?.use), "roles/storage.objectViewer", TEE(pristine));
    expect(run(json).filter((f) => f.ruleId === "MCR-OUT3")).toEqual([]);
  });

  test("given the TEE writing a bucket named by an unresolved expression, then a warning, not a pass", () => {
    const json = onBucket(copy(), "${var.results_bucket}", "roles/storage.objectCreator", TEE(pristine));
    expect(run(json).filter((f) => f.ruleId === "MCR-OUT3").map((f) => f.level)).toEqual(["warning"]);
  });
});

describe("MCR-OUT3: attested identities write nowhere but quarantine", () => {
  const stage2 = (json: any) => bucketBy(json, (b) => b.labels?.component === "stage2" && b.labels?.dataset === "insurance");
  const stage1 = (json: any) => bucketBy(json, (b) => b.labels?.component === "stage1" && b.labels?.dataset === "claims");
  /** The job pool's group as the room grants it (on insurance's stage-2 bucket or key). */
  const jobGroup = (json: any): string => {
    for (const type of ["google_storage_bucket", "google_kms_crypto_key"]) {
      const found = grantsOn(json, type).find((g) => typeof g.member === "string" && g.member.endsWith("/group/job-approved"));
      if (found) return found.member;
    }
    throw new Error("no job pool group in the example room");
  };
  const reader = (json: any) => saMember(json, dataPlaneNames(policy).readerServiceAccountId("claims"));
  const image = (json: any): string =>
    grantsOn(json, "google_storage_bucket").find((g) => typeof g.member === "string" && g.member.includes("/attribute.image_digest/"))!.member;

  test("given the room as synthesized, then no attested identity holds object create or update anywhere", () => {
    expect(run(pristine).filter((f) => f.ruleId === "MCR-OUT3")).toEqual([]);
    for (const [, g] of [...resources(pristine, "google_storage_bucket_iam_member"), ...resources(pristine, "google_project_iam_member")]) {
      if (/objectCreator|objectUser|objectAdmin/.test(g.role)) expect(g.member).not.toMatch(/principalSet:|_rd|-rd/);
    }
  });

  test("given a job pool's group with roles/storage.objectCreator on a stage-2 bucket, then MCR-OUT3 refuses it, with and without the policy", () => {
    const json = onBucket(copy(), stage2(pristine), "roles/storage.objectCreator", jobGroup(pristine));
    for (const withPolicy of [true, false]) {
      const found = errorsOf(run(json, withPolicy), "MCR-OUT3");
      expect(found.map((f) => f.address)).toEqual(["google_storage_bucket_iam_member.tampered"]);
      expect(found[0].message).toMatch(/^The job pool group principalSet:\/\/.*\/group\/job-approved can storage\.objects\.create on bucket .* bypass the release/);
    }
  });

  test.each([
    ["roles/storage.objectCreator on claims' stage-1 bucket", (json: any) => onBucket(json, stage1(pristine), "roles/storage.objectCreator", reader(pristine)), /can storage\.objects\.create on bucket /],
    ["roles/storage.objectUser on a bucket outside the stack", (json: any) => onBucket(json, "someone-elses-bucket", "roles/storage.objectUser", reader(pristine)), /can storage\.objects\.create, storage\.objects\.update on bucket someone-elses-bucket/],
    ["roles/storage.objectCreator on the release bucket", (json: any) => onBucket(json, release(pristine), "roles/storage.objectCreator", reader(pristine)), /on the release bucket /],
    ["roles/storage.objectCreator on the project", (json: any) => onProject(json, "roles/storage.objectCreator", reader(pristine)), /every bucket of project acme-clean-room/],
  ])("given a reader service account with %s, then MCR-OUT3 refuses it, with and without the policy", (_what, tamper, message) => {
    const json = tamper(copy());
    for (const withPolicy of [true, false]) {
      const found = errorsOf(run(json, withPolicy), "MCR-OUT3");
      expect(found).toHaveLength(1);
      expect(found[0].message).toMatch(/^The attested reader service account /);
      expect(found[0].message).toMatch(message);
    }
  });

  test("given an approved image's principal set with object create on the hub bucket, then MCR-OUT3 refuses it", () => {
    const hub = bucketBy(pristine, (b) => b.labels?.component === "hub" && !b.labels?.use);
    const found = errorsOf(run(onBucket(copy(), hub, "roles/storage.objectCreator", image(pristine))), "MCR-OUT3");
    expect(found).toHaveLength(1);
    expect(found[0].message).toMatch(/^The attested principal set principalSet:\/\/.*attribute\.image_digest/);
  });

  test("given a reader or a job pool's group with read only, or create on the quarantine bucket, then MCR-OUT3 has nothing to say", () => {
    const json = onBucket(copy(), stage1(pristine), "roles/storage.objectViewer", reader(pristine));
    grant(json, "google_storage_bucket_iam_member", { bucket: quarantine(pristine), role: "roles/storage.objectCreator", member: jobGroup(pristine) }, "quarantine_group");
    expect(run(json).filter((f) => f.ruleId === "MCR-OUT3")).toEqual([]);
  });

  test("given a person with object create on a stage-2 bucket, then MCR-OUT3 leaves it to the other rules (not an attested identity)", () => {
    const json = onBucket(copy(), stage2(pristine), "roles/storage.objectCreator", "user:data-owner@example.org");
    expect(run(json).filter((f) => f.ruleId === "MCR-OUT3")).toEqual([]);
  });
});
