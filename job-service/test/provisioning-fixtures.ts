/** A room whose insurance dataset has stage-1 provisioning, and the messages its trigger topic carries. */
import type { JobServiceConfig } from "../src/config";
import type { PubsubMessage } from "../src/provisioning-trigger";
import { testConfig } from "./helpers";

export const PROVISIONING_DIGEST = "sha256:" + "5".repeat(64);
export const SUBSCRIPTION = "projects/p/subscriptions/demo-insurance-provisioning";
export const STAGE2 = "p-demo-insurance-s2";

export function provisioningConfig(): JobServiceConfig {
  const base = testConfig();
  return {
    ...base,
    datasets: base.datasets.map((d) =>
      d.name === "insurance"
        ? { ...d, standingApprovals: [PROVISIONING_DIGEST], provisioning: { imageDigest: PROVISIONING_DIGEST, subscription: SUBSCRIPTION, stage2Bucket: STAGE2, schedule: "0 3 * * 1" } }
        : d,
    ),
  };
}

/** What Cloud Storage publishes for a finalized object (payload format JSON_API_V1). */
export function notification(object = "claims/2026-06.csv", generation = "1717171717171717", overrides: Record<string, string> = {}): PubsubMessage {
  const resource = { kind: "storage#object", bucket: STAGE2, name: object, generation, size: "1024", contentType: "text/csv" };
  return {
    messageId: `m-${object}-${generation}`,
    publishTime: "2026-06-01T00:00:00Z",
    data: Buffer.from(JSON.stringify(resource)).toString("base64"),
    attributes: {
      notificationConfig: `projects/_/buckets/${STAGE2}/notificationConfigs/1`,
      eventType: "OBJECT_FINALIZE",
      payloadFormat: "JSON_API_V1",
      bucketId: STAGE2,
      objectId: object,
      objectGeneration: generation,
      eventTime: "2026-06-01T00:00:00Z",
      ...overrides,
    },
  };
}

/** What Cloud Scheduler publishes for the dataset's schedule (Stage1ProvisioningTrigger's job: attributes only). */
export function scheduledRun(publishTime = "2026-06-01T03:00:01.250Z", attributes: Record<string, string> = { manateeTrigger: "schedule", dataset: "insurance" }): PubsubMessage {
  return { messageId: `s-${publishTime}`, publishTime, attributes };
}
