/**
 * MCR-PRV1..4 on the synthesized JSON of stacks/provisioning.cleanroom.yaml: each tampered copy
 * is refused by `manatee check` (exit 1, naming the rule); the untampered output passes
 * (test/shipped-configs.test.ts checks every shipped config, this one included).
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { synthesize } from "../../bin/main";
import { run } from "../../lib/cli/check";
import { SynthJson, resources } from "../util";
import { checkContext } from "../../lib/checks/context";
import { checkTerraform } from "../../lib";
import { loadPolicyFile } from "../../lib/policy/load";

const CONFIG = join(__dirname, "..", "..", "stacks", "provisioning.cleanroom.yaml");
const PLATFORM = "stage1-study-platform";
const DIGEST = "sha256:5c2f0e9d6b1a4387c2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9";

let outdir: string;
let platform: SynthJson;
beforeAll(() => {
  outdir = synthesize(CONFIG, mkdtempSync(join(tmpdir(), "manatee-prv-check-"))).outdir;
  platform = JSON.parse(readFileSync(join(outdir, "stacks", PLATFORM, "cdk.tf.json"), "utf8"));
});

/** `manatee check` over a copy of the output whose platform stack `tamper` changed, against `policy`. */
async function checkTampered(tamper: (json: SynthJson) => void, policy = CONFIG): Promise<{ code: number; stdout: string }> {
  const copy = mkdtempSync(join(tmpdir(), "manatee-prv-tampered-"));
  cpSync(outdir, copy, { recursive: true });
  const json: SynthJson = JSON.parse(JSON.stringify(platform));
  tamper(json);
  writeFileSync(join(copy, "stacks", PLATFORM, "cdk.tf.json"), JSON.stringify(json));
  let stdout = "";
  const code = await run(["--config", copy, "--policy", policy], { stdout: { write: (c: string) => (stdout += c) }, stderr: { write: () => true } });
  return { code, stdout };
}

const errorsOf = (stdout: string) => [...stdout.matchAll(/^ERROR\s+(MCR-[A-Z0-9]+)/gm)].map((m) => m[1]);
/** The provisioning image's principal set, exactly as the data plane writes it. */
const principalSet = () => JSON.stringify(platform).match(new RegExp(`principalSet://[^"]*attribute\\.image_digest/${DIGEST}`))![0];
const add = (json: SynthJson, type: string, name: string, config: object) => {
  (json.resource as Record<string, Record<string, unknown>>)[type] ??= {};
  (json.resource as Record<string, Record<string, unknown>>)[type][name] = config;
};
const ref = (type: string, id: string, attr: string) => `\${${type}.${id}.${attr}}`;
const idOf = (type: string, match: (c: any) => boolean) => resources(platform, type).find(([, c]) => match(c))![0];

describe("given the provisioning room's synthesized output", () => {
  test("when untampered, then manatee check finds no MCR-PRV error", async () => {
    const r = await checkTampered(() => undefined);
    expect(errorsOf(r.stdout)).toEqual([]);
    expect(r.code).toBe(0);
  });

  test.each([
    ["its own stage-2 bucket", (c: any) => c.labels?.component === "stage2"],
    // The room has an output release: even its own stage-1 bucket is reached only through the verifier.
    ["its own stage-1 bucket", (c: any) => c.labels?.component === "stage1" && c.labels?.dataset === "insurance"],
    ["the verifier's audit bucket", (c: any) => c.labels?.component === "audit"],
  ])("when the provisioning image may create objects in %s, then MCR-PRV1 refuses (exit 1)", async (_name, which) => {
    const r = await checkTampered((j) =>
      add(j, "google_storage_bucket_iam_member", "tampered", { bucket: ref("google_storage_bucket", idOf("google_storage_bucket", which), "name"), role: "roles/storage.objectCreator", member: principalSet() }),
    );
    expect(errorsOf(r.stdout)).toContain("MCR-PRV1");
    expect(r.code).toBe(1);
  });

  test("when the provisioning image gets a project-wide write role, then MCR-PRV1 refuses", async () => {
    const r = await checkTampered((j) => add(j, "google_project_iam_member", "tampered", { project: "acme-clean-room", role: "roles/pubsub.editor", member: principalSet() }));
    expect(errorsOf(r.stdout)).toContain("MCR-PRV1");
    expect(r.code).toBe(1);
  });

  test("when the provisioning image may read another dataset's stage-2 bucket, then MCR-PRV2 refuses", async () => {
    const r = await checkTampered((j) => {
      add(j, "google_storage_bucket", "claims_s2", { name: "acme-clean-room-stage1-study-claims-s2", location: "us-central1", labels: { component: "stage2", dataset: "claims", "clean-room": "stage1-study" } });
      add(j, "google_storage_bucket_iam_member", "tampered", { bucket: "${google_storage_bucket.claims_s2.name}", role: "roles/storage.objectViewer", member: principalSet() });
    });
    expect(errorsOf(r.stdout)).toContain("MCR-PRV2");
    expect(r.stdout).toMatch(/MCR-PRV2.*dataset claims/);
    expect(r.code).toBe(1);
  });

  test("when someone else may publish to the trigger topic, then MCR-PRV3 refuses", async () => {
    const topic = idOf("google_pubsub_topic", () => true);
    const r = await checkTampered((j) => add(j, "google_pubsub_topic_iam_member", "tampered", { project: "acme-clean-room", topic: ref("google_pubsub_topic", topic, "name"), role: "roles/pubsub.publisher", member: "user:mallory@example.org" }));
    expect(errorsOf(r.stdout)).toEqual(["MCR-PRV3"]);
    expect(r.code).toBe(1);
  });

  describe("with the insurance dataset's provisioning.schedule (a Cloud Scheduler job publishes on its topic)", () => {
    const schedulerGrant = () => resources(platform, "google_pubsub_topic_iam_member").find(([, c]) => /gcp-sa-cloudscheduler/.test(c.member))!;

    test("when the policy no longer declares the schedule, then the Cloud Scheduler agent's publisher grant on the topic is refused by MCR-PRV3", async () => {
      const unscheduled = join(mkdtempSync(join(tmpdir(), "manatee-prv-policy-")), "provisioning.cleanroom.yaml");
      const yaml = readFileSync(CONFIG, "utf8");
      writeFileSync(unscheduled, yaml.replace(/^\s+schedule: .*\n/m, ""));
      expect(readFileSync(unscheduled, "utf8")).not.toMatch(/schedule:/);

      const r = await checkTampered(() => undefined, unscheduled);
      expect(errorsOf(r.stdout)).toEqual(["MCR-PRV3"]);
      expect(r.stdout).toMatch(/gcp-sa-cloudscheduler.*declares no provisioning\.schedule/);
      expect(r.code).toBe(1);
    });

    test.each([
      ["a literal project number", "serviceAccount:service-123456789012@gcp-sa-cloudscheduler.iam.gserviceaccount.com", "roles/pubsub.publisher", []],
      ["another role", undefined, "roles/pubsub.editor", ["MCR-PRV3"]],
      ["a look-alike account of the project", "serviceAccount:service-123@gcp-sa-cloudscheduler.iam.gserviceaccount.com.evil.example", "roles/pubsub.publisher", ["MCR-PRV3"]],
      ["a number that is no google_project's", "serviceAccount:service-${google_service_account.x.unique_id}@gcp-sa-cloudscheduler.iam.gserviceaccount.com", "roles/pubsub.publisher", ["MCR-PRV3"]],
    ])("when the scheduler agent is named by %s, in %s, then the MCR-PRV3 findings are %j", async (_name, member, role, expected) => {
      const [, grant] = schedulerGrant();
      const r = await checkTampered((j) => add(j, "google_pubsub_topic_iam_member", "tampered", { ...grant, role, member: member ?? grant.member }));
      expect(errorsOf(r.stdout)).toEqual(expected);
      expect(r.code).toBe(expected.length ? 1 : 0);
    });
  });

  test.each([
    ["JupyterLab's account as subscriber", (jupyter: string, _job: string) => ({ role: "roles/pubsub.subscriber", member: jupyter })],
    ["the job service in another role", (_jupyter: string, job: string) => ({ role: "roles/pubsub.editor", member: job })],
  ])("when the trigger subscription grants %s, then MCR-PRV4 refuses", async (_name, grant) => {
    const sub = idOf("google_pubsub_subscription", () => true);
    const jupyter = ref("google_service_account", idOf("google_service_account", (c) => /^jupyter-/.test(c.account_id)), "member");
    const job = ref("google_service_account", idOf("google_service_account", (c) => /^dcr-/.test(c.account_id)), "member");
    const r = await checkTampered((j) => add(j, "google_pubsub_subscription_iam_member", "tampered", { project: "acme-clean-room", subscription: ref("google_pubsub_subscription", sub, "name"), ...grant(jupyter, job) }));
    expect(errorsOf(r.stdout)).toEqual(["MCR-PRV4"]);
    expect(r.code).toBe(1);
  });
});

describe("MCR-PRV1 in a room without an output release (a hand-built policy with no jobs)", () => {
  // There the image's own stage-1 bucket is its only way out; with an output release (above) it is refused.
  const ownStage1Grant = (json: SynthJson) =>
    add(json, "google_storage_bucket_iam_member", "own-stage1", {
      bucket: ref("google_storage_bucket", idOf("google_storage_bucket", (c) => c.labels?.component === "stage1" && c.labels?.dataset === "insurance"), "name"),
      role: "roles/storage.objectCreator",
      member: principalSet(),
    });
  const prv1 = (json: SynthJson, jobs: boolean) => {
    const policy = loadPolicyFile(CONFIG);
    const context = checkContext({ policy: jobs ? policy : { ...policy, jobs: undefined } });
    return checkTerraform(json as never, context).filter((f) => f.ruleId === "MCR-PRV1" && f.level === "error");
  };

  test("given a create grant on its own stage-1 bucket, then it passes without jobs and is refused with them", () => {
    const json: SynthJson = JSON.parse(JSON.stringify(platform));
    ownStage1Grant(json);
    expect(prv1(json, false)).toEqual([]);
    expect(prv1(json, true)).toHaveLength(1);
  });

  test("given a create grant on its own stage-2 bucket, then it is refused either way", () => {
    const json: SynthJson = JSON.parse(JSON.stringify(platform));
    add(json, "google_storage_bucket_iam_member", "own-stage2", {
      bucket: ref("google_storage_bucket", idOf("google_storage_bucket", (c) => c.labels?.component === "stage2"), "name"),
      role: "roles/storage.objectCreator",
      member: principalSet(),
    });
    expect(prv1(json, false)).toHaveLength(1);
  });
});
