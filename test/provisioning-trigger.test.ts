/**
 * The stage-1 provisioning trigger path as `npm run synth` makes it for stacks/provisioning.cleanroom.yaml:
 * the stage-2 bucket's new objects are announced on a topic only the storage agent publishes to,
 * pulled from a subscription only the job service reads, whose path the job service's config names.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { synthesize } from "../bin/main";
import { parseJobServiceConfig } from "../job-service/src/config";
import { SynthJson, dataSources, iamGrants, resources } from "./util";
import { loadPolicyFile } from "../lib/policy/load";

const ROOT = join(__dirname, "..");
const stack = (outdir: string, name: string): SynthJson => JSON.parse(readFileSync(join(outdir, "stacks", name, "cdk.tf.json"), "utf8"));
const ref = (type: string, id: string, attr: string) => `\${${type}.${id}.${attr}}`;

describe("given stacks/provisioning.cleanroom.yaml (insurance declares provisioning), when synthesized", () => {
  let platform: SynthJson;
  let workloads: SynthJson;
  beforeAll(() => {
    const app = synthesize(join(ROOT, "stacks", "provisioning.cleanroom.yaml"), mkdtempSync(join(tmpdir(), "manatee-prv-")));
    platform = stack(app.outdir, "stage1-study-platform");
    workloads = stack(app.outdir, "stage1-study-workloads");
  });

  test("then the insurance stage-2 bucket notifies finalized objects, as JSON, on the dataset's topic", () => {
    const [notificationId, notification] = resources(platform, "google_storage_notification")[0];
    const [stage2Id] = resources(platform, "google_storage_bucket").find(([, b]) => b.name === "acme-clean-room-stage1-study-insurance-s2")!;
    const [topicId, topic] = resources(platform, "google_pubsub_topic")[0];

    expect(resources(platform, "google_storage_notification")).toHaveLength(1);
    expect(notification).toMatchObject({ bucket: ref("google_storage_bucket", stage2Id, "name"), topic: ref("google_pubsub_topic", topicId, "id"), event_types: ["OBJECT_FINALIZE"], payload_format: "JSON_API_V1" });
    expect(topic.name).toBe("stage1-study-insurance-stage2-objects");
    // Created only once the storage agent may publish (Google checks it then).
    const publisher = iamGrants(platform).find((g) => g.type === "google_pubsub_topic_iam_member" && g.id.includes("storage-agent"))!;
    expect(notification.depends_on).toContain(`google_pubsub_topic_iam_member.${publisher.id}`);
    expect(notificationId).toBeDefined();
  });

  test("then the topic's only publishers are the project's Cloud Storage and (for the schedule) Cloud Scheduler service agents, and the subscription's only subscriber the job service", () => {
    const [agentId] = dataSources(platform, "google_storage_project_service_account").find(([id]) => id.includes("provisioning"))!;
    const [projectId] = dataSources(platform, "google_project").find(([id]) => id.includes("provisioning"))!;
    const [jobSaId] = resources(platform, "google_service_account").find(([id]) => id.includes("JobServiceAccount"))!;
    const onPubsub = iamGrants(platform).filter((g) => g.type.startsWith("google_pubsub_"));

    expect(onPubsub.map((g) => `${g.type} ${g.role} ${g.member}`).sort()).toEqual([
      `google_pubsub_subscription_iam_member roles/pubsub.subscriber ${ref("google_service_account", jobSaId, "member")}`,
      `google_pubsub_topic_iam_member roles/pubsub.publisher \${data.google_storage_project_service_account.${agentId}.member}`,
      `google_pubsub_topic_iam_member roles/pubsub.publisher serviceAccount:service-\${data.google_project.${projectId}.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com`,
    ]);
    // The room enables Pub/Sub for them (first apply in order).
    expect(resources(platform, "google_project_service").map(([, s]) => s.service)).toContain("pubsub.googleapis.com");
  });

  test("then the job service's config names the subscription, the stage-2 bucket and the provisioning digest, which is a standing approval", () => {
    const [subId, sub] = resources(platform, "google_pubsub_subscription")[0];
    const configMap = resources(workloads, "kubernetes_config_map_v1")[0][1];
    // The executor base's digest is an apply-time expression with quotes inside; the rest parses as is.
    const raw = (configMap.data["job-service.json"] as string).replace(/\$\{element\(split\("@", [^)]+\), 1\)\}/g, `sha256:${"c".repeat(64)}`);
    const config = parseJobServiceConfig(JSON.parse(raw));
    const insurance = config.datasets.find((d) => d.name === "insurance")!;

    expect(insurance.provisioning).toEqual({
      imageDigest: "sha256:5c2f0e9d6b1a4387c2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9",
      subscription: `projects/${sub.project}/subscriptions/${sub.name}`,
      stage2Bucket: "acme-clean-room-stage1-study-insurance-s2",
      // The job service runs scheduled-run messages only for a dataset whose policy has a schedule.
      schedule: "0 3 * * 1",
    });
    expect(insurance.standingApprovals).toContain(insurance.provisioning!.imageDigest);
    expect(sub).toMatchObject({ ack_deadline_seconds: 60, expiration_policy: { ttl: "" } });
    expect(subId).toBeDefined();
  });
});

describe("given the EU room (no dataset declares provisioning), when synthesized", () => {
  test("then there is no topic, subscription or notification, and the job service's config names none", () => {
    const app = synthesize(join(ROOT, "stacks", "eu.cleanroom.yaml"), mkdtempSync(join(tmpdir(), "manatee-prv-")));
    const platform = stack(app.outdir, `${loadPolicyFile(join(ROOT, "stacks", "eu.cleanroom.yaml")).name}-platform`);
    for (const type of ["google_pubsub_topic", "google_pubsub_subscription", "google_storage_notification"]) expect(resources(platform, type)).toEqual([]);
  });
});

describe("parseJobServiceConfig with provisioning", () => {
  test("given a provisioning digest that is not a standing approval of its dataset, then the config is refused", () => {
    const dataset = { name: "insurance", owners: [], signatureRepository: "r", standingApprovals: [], access: [], provisioning: { imageDigest: "sha256:" + "5".repeat(64), subscription: "projects/p/subscriptions/s", stage2Bucket: "b" } };
    const config = { version: 1, room: "r", project: "p", region: "x", zone: "x-a", launch: { instanceTemplate: "t", instancePrefix: "r-job", timeoutMinutes: 60 }, images: { executorBases: [], workspaceDir: "/workspace" }, datasets: [dataset], limits: { maxJobsInProgressPerResearcher: 1, maxWorkspaceBytes: 1 }, verifier: { audience: "a" }, outputs: { quarantineBucket: "q", releaseBucket: "rel" } };
    expect(() => parseJobServiceConfig(config)).toThrow("datasets[0].provisioning.imageDigest: expected one of the dataset's standingApprovals");
    expect(() => parseJobServiceConfig({ ...config, datasets: [{ ...dataset, standingApprovals: [dataset.provisioning.imageDigest] }] })).not.toThrow();
  });
});
