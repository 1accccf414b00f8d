/**
 * A dataset's `provisioning.schedule` (Stage1ProvisioningTrigger): a Cloud Scheduler job in the
 * room's region publishes the scheduled-run attributes the job service accepts on the dataset's own
 * trigger topic, as the Cloud Scheduler service agent, which may publish on that topic alone. Without
 * a schedule there is no job, no grant and no Cloud Scheduler API.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { synthesize } from "../bin/main";
import { Stage1ProvisioningTrigger } from "../lib/constructs/data-plane/provisioning";
import type { CleanRoomBucket } from "../lib/constructs/data-plane/buckets";
import { loadPolicyFile } from "../lib/policy/load";
import { InvalidPropsError } from "../lib/errors";
import { scheduledRun } from "../job-service/test/provisioning-fixtures";
import { SCHEDULE_TRIGGER } from "../job-service/src/provisioning-trigger";
import { SynthJson, dataSources, iamGrants, resources, synthWith } from "./util";

const CONFIG = join(__dirname, "..", "stacks", "provisioning.cleanroom.yaml");
const platformOf = (yamlPath: string): SynthJson => {
  const outdir = synthesize(yamlPath, mkdtempSync(join(tmpdir(), "manatee-prv-schedule-"))).outdir;
  return JSON.parse(readFileSync(join(outdir, "stacks", "stage1-study-platform", "cdk.tf.json"), "utf8"));
};
const schedulerGrants = (json: SynthJson) => iamGrants(json).filter((g) => /gcp-sa-cloudscheduler/.test(g.member));

describe("given stacks/provisioning.cleanroom.yaml (insurance runs on new stage-2 objects and at \"0 3 * * 1\"), when synthesized", () => {
  let platform: SynthJson;
  beforeAll(() => {
    platform = platformOf(CONFIG);
  });

  test("then one Cloud Scheduler job in the room's region publishes the insurance scheduled-run attributes on the insurance trigger topic, in UTC, without retries", () => {
    const jobs = resources(platform, "google_cloud_scheduler_job");
    const [topicId, topic] = resources(platform, "google_pubsub_topic")[0];

    expect(jobs).toHaveLength(1);
    expect(jobs[0][1]).toMatchObject({
      project: "acme-clean-room",
      region: "us-central1",
      name: "stage1-study-insurance-provisioning",
      schedule: "0 3 * * 1",
      time_zone: "Etc/UTC",
      pubsub_target: { topic_name: `\${google_pubsub_topic.${topicId}.id}`, attributes: { manateeTrigger: SCHEDULE_TRIGGER, dataset: "insurance" } },
      retry_config: { retry_count: 0 },
    });
    expect(topic.labels).toMatchObject({ dataset: "insurance" });
    // What the job service's handler accepts as a scheduled run is exactly what the job publishes.
    expect(scheduledRun().attributes).toEqual(jobs[0][1].pubsub_target.attributes);
  });

  test("then the Cloud Scheduler service agent of the room's project (by its number) may publish on that topic only, before the job exists, and the Cloud Scheduler API is on first", () => {
    const [projectId, project] = dataSources(platform, "google_project").find(([id]) => id.includes("provisioning"))!;
    const [topicId] = resources(platform, "google_pubsub_topic")[0];
    const grants = schedulerGrants(platform);
    const [, job] = resources(platform, "google_cloud_scheduler_job")[0];
    const [apiId] = resources(platform, "google_project_service").find(([, s]) => s.service === "cloudscheduler.googleapis.com")!;

    expect(project.project_id).toBe("acme-clean-room");
    expect(grants.map((g) => [g.type, g.role, g.member, g.config.topic])).toEqual([
      ["google_pubsub_topic_iam_member", "roles/pubsub.publisher", `serviceAccount:service-\${data.google_project.${projectId}.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com`, `\${google_pubsub_topic.${topicId}.name}`],
    ]);
    expect(job.depends_on).toEqual(expect.arrayContaining([`google_pubsub_topic_iam_member.${grants[0].id}`, `google_project_service.${apiId}`]));
  });
});

describe("given the same room without provisioning.schedule, when synthesized", () => {
  test("then the trigger exists but there is no scheduler job, no scheduler agent grant, no project lookup and no Cloud Scheduler API", () => {
    const yamlPath = join(mkdtempSync(join(tmpdir(), "manatee-prv-unscheduled-")), "provisioning.cleanroom.yaml");
    writeFileSync(yamlPath, readFileSync(CONFIG, "utf8").replace(/^\s+schedule: .*\n/m, ""));
    const platform = platformOf(yamlPath);

    expect(resources(platform, "google_pubsub_topic")).toHaveLength(1);
    expect(resources(platform, "google_cloud_scheduler_job")).toEqual([]);
    expect(schedulerGrants(platform)).toEqual([]);
    expect(dataSources(platform, "google_project").filter(([id]) => id.includes("provisioning"))).toEqual([]);
    expect(resources(platform, "google_project_service").map(([, s]) => s.service)).not.toContain("cloudscheduler.googleapis.com");
  });
});

describe("Stage1ProvisioningTrigger with a schedule", () => {
  const policy = loadPolicyFile(CONFIG);
  const insurance = policy.datasets.find((d) => d.name === "insurance")!;
  const stage2Bucket = { bucket: { name: "acme-clean-room-stage1-study-insurance-s2" } } as unknown as CleanRoomBucket;
  const trigger = (props: { projectNumber?: string; scheduleTimeZone?: string }) =>
    synthWith((stack) => new Stage1ProvisioningTrigger(stack, "trigger", { room: policy, dataset: insurance, stage2Bucket, subscriber: "serviceAccount:job@acme-clean-room.iam.gserviceaccount.com", ...props }));

  test("given projectNumber and a time zone, then the grant names that project's scheduler agent literally and no project is looked up", () => {
    const json = trigger({ projectNumber: "123456789012", scheduleTimeZone: "Europe/Amsterdam" });
    expect(schedulerGrants(json).map((g) => g.member)).toEqual(["serviceAccount:service-123456789012@gcp-sa-cloudscheduler.iam.gserviceaccount.com"]);
    expect(dataSources(json, "google_project")).toEqual([]);
    expect(resources(json, "google_cloud_scheduler_job")[0][1].time_zone).toBe("Europe/Amsterdam");
  });

  test.each([
    ["a time zone that is not IANA", { scheduleTimeZone: "CET+1" }, /scheduleTimeZone "CET\+1" is not an IANA time zone.*Etc\/UTC/s],
    ["a project id as projectNumber", { projectNumber: "acme-clean-room" }, /projectNumber "acme-clean-room" is not a project number.*gcloud projects describe/s],
  ])("given %s, then the trigger fails naming the field and the fix", (_name, props, message) => {
    expect(() => trigger(props)).toThrow(InvalidPropsError);
    expect(() => trigger(props)).toThrow(message);
  });
});
