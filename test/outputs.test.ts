/**
 * The output release's Google side (lib/constructs/data-plane/output-release.ts), checked on the synthesized platform stack of
 * the example room: who may do what on the quarantine and release buckets, their hardening and
 * residency, and that the verifier's policy document names exactly these buckets. Each access
 * property is also checked against a tampered copy, so the check itself is shown to bite.
 */
import * as path from "node:path";
import { Testing } from "cdktf";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { createCleanRoomStacks } from "../stacks";
import { stacksOptionsFromPolicy } from "../stacks/config";
import { checkContext } from "../lib/checks/context";
import { checkTerraform } from "../lib/checks/engine";
import { jobInstancePrefix as jobServiceInstancePrefix } from "../lib/constructs/workloads/job-service";
import { MAX_QUARANTINE_DAYS, OutputRelease, OutputReleaseProps, QUARANTINE_WRITER_PERMISSIONS, RELEASE_WRITER_PERMISSIONS } from "../lib/constructs/data-plane/output-release";
import { compileVerifierPolicy } from "../lib/policy/document";
import { defaultJobInstancePrefix } from "../lib/policy/job-service-config";
import { CleanRoomPolicy } from "../lib/policy/model";
import { jobInstancePrefix, manateeContract, outputReleaseNames, platformNames } from "../lib/policy/names";
import { SynthJson, examplePolicy, iamGrants, resourceConfigs, resources, synthStack, synthWith } from "./util";

const VERIFIER_BUILD = path.join(__dirname, "fixtures", "verifier-build");
const JOB_SERVICE_BUILD = path.join(__dirname, "fixtures", "job-service-build");
const CMEK = "projects/acme-clean-room/locations/us-central1/keyRings/insurance-study-storage/cryptoKeys/insurance-study-storage";

/** Permissions of the predefined roles these buckets could carry (cloud.google.com/storage/docs/access-control/iam-roles). */
const PREDEFINED: Record<string, readonly string[]> = {
  "roles/storage.objectViewer": ["storage.objects.get", "storage.objects.list"],
  "roles/storage.objectCreator": ["storage.objects.create"],
  "roles/storage.objectUser": ["storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.list", "storage.objects.update"],
  "roles/storage.objectAdmin": ["storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.list", "storage.objects.update"],
  "roles/storage.admin": ["storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.list", "storage.objects.update"],
};
const READ = ["storage.objects.get", "storage.objects.list"];

const SAMPLE = { kind: "sample", fraction: 0.05 } as const;
const ref = (type: string, id: string, attr: string) => `\${${type}.${id}.${attr}}`;

/** The platform stack of `policy`, prepared as `cdktf synth` does. */
function platformOf(policy: CleanRoomPolicy): SynthJson {
  const options = stacksOptionsFromPolicy(policy);
  const stacks = createCleanRoomStacks(Testing.app(), policy, {
    ...options,
    platform: { ...options.platform, verifier: { sourceDir: VERIFIER_BUILD } },
    workloads: { ...options.workloads, imageSources: { jobService: JOB_SERVICE_BUILD } },
    checks: false,
  });
  stacks.platform.prepareStack();
  return synthStack(stacks.platform);
}

/** What the stack says about the release buckets, with member references resolved to roles in the room. */
function releaseView(json: SynthJson) {
  const bucketId = (use: string) => resources(json, "google_storage_bucket").find(([, b]) => b.labels?.use === use)![0];
  const quarantineId = bucketId("output-quarantine");
  const releaseId = bucketId("output-release");
  const saMember = (accountId: string) => {
    const [id] = resources(json, "google_service_account").find(([, sa]) => sa.account_id === accountId)!;
    return ref("google_service_account", id, "member");
  };
  const c = manateeContract(examplePolicy().name, examplePolicy().project);
  const names = platformNames(examplePolicy());
  const members = {
    tee: saMember(c.teeServiceAccountId),
    jobService: saMember(names.jobServiceSaId),
    verifier: saMember(names.verifierSaId),
  };
  const customRoles = new Map(resources(json, "google_project_iam_custom_role").map(([id, r]) => [ref("google_project_iam_custom_role", id, "name"), r]));
  const permissionsOf = (role: string): readonly string[] => customRoles.get(role)?.permissions ?? PREDEFINED[role] ?? [`(unknown role ${role})`];
  const grantsOn = (id: string) => iamGrants(json).filter((g) => g.type.startsWith("google_storage_bucket_iam_") && g.config.bucket === ref("google_storage_bucket", id, "name"));
  /** member → permissions on the bucket, over every grant. */
  const access = (id: string) => {
    const out = new Map<string, Set<string>>();
    for (const g of grantsOn(id)) {
      const set = out.get(g.member) ?? new Set<string>();
      permissionsOf(g.role).forEach((p) => set.add(p));
      out.set(g.member, set);
    }
    return out;
  };
  const bucketConfig = (id: string) => json.resource!.google_storage_bucket[id];
  return { quarantineId, releaseId, members, permissionsOf, grantsOn, access, bucketConfig };
}

/** Members who may read objects (get or list) of a bucket. */
function readers(access: Map<string, Set<string>>): string[] {
  return [...access].filter(([, perms]) => READ.some((p) => perms.has(p))).map(([m]) => m).sort();
}

/** The stack's `google_storage_bucket_iam_member` resources plus one more (a tampered copy). */
function withGrant(json: SynthJson, bucket: string, role: string, member: string): SynthJson {
  const copy: SynthJson = JSON.parse(JSON.stringify(json));
  copy.resource!.google_storage_bucket_iam_member.tampered = { bucket, role, member };
  return copy;
}

describe("OutputRelease in the example room (platform stack)", () => {
  const policy = examplePolicy();
  let json: SynthJson;
  let view: ReturnType<typeof releaseView>;
  beforeAll(() => {
    json = platformOf(policy);
    view = releaseView(json);
  });

  test("given the room, when synthesized, then the TEE holds create only on quarantine and nothing on release", () => {
    const onQuarantine = view.grantsOn(view.quarantineId).filter((g) => g.member === view.members.tee);
    expect(onQuarantine).toHaveLength(1);
    expect(view.permissionsOf(onQuarantine[0].role)).toEqual(["storage.objects.create"]);
    expect(onQuarantine[0].config.condition).toBeUndefined();
    expect(view.access(view.releaseId).has(view.members.tee)).toBe(false);
  });

  test("given the room, then nobody but the verifier reads quarantine (and a tampered extra reader is caught)", () => {
    expect(readers(view.access(view.quarantineId))).toEqual([view.members.verifier]);
    // The check bites: the job service reading quarantine would be a way around the verifier.
    const tampered = releaseView(withGrant(json, ref("google_storage_bucket", view.quarantineId, "name"), "roles/storage.objectViewer", view.members.jobService));
    expect(readers(tampered.access(tampered.quarantineId))).toEqual([view.members.jobService, view.members.verifier].sort());
    // Nor can anyone read it project-wide through this stack.
    const projectStorage = resourceConfigs(json, "google_project_iam_member").filter((g) => /^roles\/storage\./.test(g.role));
    expect(projectStorage).toEqual([]);
  });

  test("given the room, then the job service reads release but has nothing on quarantine", () => {
    const release = view.access(view.releaseId);
    expect([...(release.get(view.members.jobService) ?? [])].sort()).toEqual(READ);
    expect(view.access(view.quarantineId).has(view.members.jobService)).toBe(false);
    expect(readers(release)).toEqual([view.members.jobService, view.members.verifier].sort());
  });

  test("given the room, then the verifier reads quarantine and creates on release, and can delete (or overwrite) nothing anywhere", () => {
    expect([...view.access(view.quarantineId).get(view.members.verifier)!].sort()).toEqual(READ);
    expect([...view.access(view.releaseId).get(view.members.verifier)!].sort()).toEqual([...RELEASE_WRITER_PERMISSIONS].sort());
    const verifierStorage = iamGrants(json).filter((g) => g.member === view.members.verifier && g.type.startsWith("google_storage_bucket_iam_"));
    expect(verifierStorage.length).toBeGreaterThanOrEqual(3); // policy objects, quarantine, release
    // One exception, no data: it replaces its receipt JWKS, jwks.json in the public JWKS bucket, and only that object.
    const publishesJwks = (g: (typeof verifierStorage)[number]) => /^resource\.name == "projects\/_\/buckets\/[^/]+-receipt-jwks\/objects\/jwks\.json"$/.test(g.config.condition?.expression ?? "");
    expect(verifierStorage.filter(publishesJwks)).toHaveLength(1);
    for (const g of verifierStorage.filter((x) => !publishesJwks(x))) expect([g.role, view.permissionsOf(g.role).includes("storage.objects.delete")]).toEqual([g.role, false]);
    // The check bites: objectUser (the README's first suggestion) carries delete.
    const tampered = releaseView(withGrant(json, ref("google_storage_bucket", view.releaseId, "name"), "roles/storage.objectUser", view.members.verifier));
    expect(tampered.access(tampered.releaseId).get(view.members.verifier)!.has("storage.objects.delete")).toBe(true);
  });

  test("given the room, then no member at all holds delete on either bucket: objects leave by lifecycle only", () => {
    for (const id of [view.quarantineId, view.releaseId]) {
      for (const [member, perms] of view.access(id)) expect([member, perms.has("storage.objects.delete")]).toEqual([member, false]);
    }
  });

  test("given the room, then both buckets are hardened, in the room's residency, with CMEK, no soft delete and the retention lifecycle", () => {
    const shortest = Math.min(...policy.datasets.map((d) => d.retentionDays));
    for (const [id, days] of [
      [view.quarantineId, Math.min(shortest, MAX_QUARANTINE_DAYS)],
      [view.releaseId, shortest],
    ] as const) {
      const b = view.bucketConfig(id);
      expect(policy.residency.map((r) => r.toLowerCase())).toContain(b.location.toLowerCase());
      expect(b).toMatchObject({
        uniform_bucket_level_access: true,
        public_access_prevention: "enforced",
        force_destroy: false,
        soft_delete_policy: { retention_duration_seconds: 0 },
        labels: { "clean-room": policy.name },
      });
      expect(b.encryption.default_kms_key_name).toMatch(/^\$\{google_kms_crypto_key\./);
      expect(b.retention_policy).toBeUndefined();
      expect(b.lifecycle_rule).toEqual(
        expect.arrayContaining([
          { action: { type: "Delete" }, condition: { age: days, with_state: "LIVE" } },
          { action: { type: "Delete" }, condition: { age: days, with_state: "ARCHIVED" } },
        ]),
      );
    }
  });

  test("given the room, then the verifier's policy document names exactly the synthesized buckets and the job VMs' prefix", () => {
    const policyObject = resourceConfigs(json, "google_storage_bucket_object").find((o) => o.name.startsWith("policy-"))!;
    const delivered = JSON.parse(policyObject.content.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{"));
    expect(delivered.release).toEqual({
      quarantineBucket: view.bucketConfig(view.quarantineId).name,
      releaseBucket: view.bucketConfig(view.releaseId).name,
      instancePrefix: jobInstancePrefix(policy),
    });
    expect(compileVerifierPolicy(policy).document.release).toEqual(delivered.release);
    // The job service launches exactly the VMs the verifier accepts: its launcher condition names the same prefix.
    const launcher = resourceConfigs(json, "google_project_iam_member").filter((g) => /\/instances\//.test(g.condition?.expression ?? ""));
    expect(launcher).toHaveLength(1);
    expect(launcher[0].condition.expression).toContain(`/instances/${delivered.release.instancePrefix}-")`);
  });

  test("given the room, then the bucket outputs are declared", () => {
    expect(json.output?.quarantine_bucket?.value).toBe(view.bucketConfig(view.quarantineId).name);
    expect(json.output?.release_bucket?.value).toBe(view.bucketConfig(view.releaseId).name);
  });

  test("given the room's stack, when the whole rule pack checks it, then the release buckets raise no finding", () => {
    const findings = checkTerraform(json as any, checkContext({ policy, now: new Date("2026-06-01T00:00:00Z") }));
    const onRelease = findings.filter((f) => /quarantine|output-release|output_release/.test(f.address));
    expect(onRelease).toEqual([]);
  });
});

describe("jobInstancePrefix (one derivation for the verifier and the job service)", () => {
  test("given the example room and long or odd names, then the job service's prefixes equal the policy's", () => {
    for (const name of ["insurance-study", "abc", "a".repeat(20), "x1-y2-z3"]) {
      expect(jobInstancePrefix({ name })).toBe(defaultJobInstancePrefix({ name }));
      expect(jobInstancePrefix({ name })).toBe(jobServiceInstancePrefix(name));
      expect(jobInstancePrefix({ name })).toMatch(/^[a-z][-a-z0-9]{0,25}$/);
    }
  });

  test("given a room name that cannot prefix VM names, then it names the room and the fix", () => {
    expect(() => jobInstancePrefix({ name: "1room" })).toThrow(/clean room name "1room".*Use a room name of 3-20/);
  });
});

describe("OutputRelease on its own", () => {
  const policy = examplePolicy();
  const build = (props: Partial<OutputReleaseProps> = {}, p: CleanRoomPolicy = policy) =>
    synthWith((stack) => {
      new OutputRelease(stack, "release", { policy: p, encryptionKey: { cryptoKeyId: CMEK, location: "us-central1" }, ...props });
    });
  const lifecycleDays = (json: SynthJson, use: string) =>
    resourceConfigs(json, "google_storage_bucket").find((b) => b.labels.use === use)!.lifecycle_rule.find((r: any) => r.action.type === "Delete").condition.age;

  test("given datasets kept 7 and 365 days, then quarantine and release keep 7 days; given 365 only, then quarantine keeps 30", () => {
    const mixed = examplePolicy({
      datasets: { a: { retentionDays: 365, stage1: SAMPLE }, b: { retentionDays: 7, stage1: SAMPLE } },
    });
    const json = build({}, mixed);
    expect([lifecycleDays(json, "output-quarantine"), lifecycleDays(json, "output-release")]).toEqual([7, 7]);
    const long = examplePolicy({ datasets: { a: { retentionDays: 365, stage1: SAMPLE } } });
    const json2 = build({}, long);
    expect([lifecycleDays(json2, "output-quarantine"), lifecycleDays(json2, "output-release")]).toEqual([30, 365]);
  });

  test("given no member props, then the grants name the room's own service accounts by email", () => {
    const json = build();
    const names = platformNames(policy);
    expect(iamGrants(json).map((g) => g.member).sort()).toEqual([`serviceAccount:${names.jobServiceSaEmail}`, `serviceAccount:${names.teeSaEmail}`].sort());
    const roles = resourceConfigs(json, "google_project_iam_custom_role");
    expect(roles.map((r) => [r.role_id, r.permissions])).toEqual([
      [outputReleaseNames(policy).quarantineWriterRoleId, [...QUARANTINE_WRITER_PERMISSIONS]],
      [outputReleaseNames(policy).releaseWriterRoleId, [...RELEASE_WRITER_PERMISSIONS]],
    ]);
  });

  test("given grantVerifier twice with the same member, then one pair of grants; with a second id, it refuses", () => {
    expect(() =>
      synthWith((stack) => {
        const r = new OutputRelease(stack, "release", { policy, encryptionKey: { cryptoKeyId: CMEK } });
        const sa = new ServiceAccount(stack, "v", { accountId: "verifier-x" });
        expect(r.grantVerifier(sa.member)).toEqual(r.grantVerifier(sa.member));
        r.grantVerifier("serviceAccount:other@acme-clean-room.iam.gserviceaccount.com", { id: "second" });
      }),
    ).toThrow(/grantVerifier\(member\) was already called/);
  });

  test.each<[string, Partial<OutputReleaseProps>, CleanRoomPolicy, RegExp]>([
    ["a policy without jobs", {}, { ...examplePolicy(), jobs: undefined }, /OutputRelease: policy has no "jobs" section/],
    ["a location outside residency", { location: "europe-west4" }, policy, /OutputRelease: location "europe-west4" lies outside the residency set/],
    ["31 quarantine days", { quarantineRetentionDays: 31 }, policy, /OutputRelease: quarantineRetentionDays is 31; use a whole number of days from 1 to 30/],
    ["release days beyond the datasets' retention", { releaseRetentionDays: 31 }, policy, /OutputRelease: releaseRetentionDays is 31; use a whole number of days from 1 to 30/],
    ["a user as the TEE", { teeMember: "user:someone@example.org" }, policy, /OutputRelease: teeMember is "user:someone@example.org"; it must be a service account/],
    ["the public as job service", { jobServiceMember: "allUsers" }, policy, /OutputRelease: jobServiceMember "allUsers" would make clean-room data public/],
    [
      "the TEE as job service",
      { teeMember: "serviceAccount:x@acme-clean-room.iam.gserviceaccount.com", jobServiceMember: "serviceAccount:x@acme-clean-room.iam.gserviceaccount.com" },
      policy,
      /OutputRelease: jobServiceMember is the TEE's account/,
    ],
  ])("given %s, then it refuses and names the prop and the fix", (_what, props, p, message) => {
    expect(() => build(props, p)).toThrow(message);
  });
});
