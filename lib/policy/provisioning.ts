/**
 * Names of a dataset's stage-1 provisioning trigger (README "How stage-1 data is made"), derived
 * from the policy alone: the data plane creates the topic and subscription under these names and
 * the job service's config names the same subscription. Pure: no cdktf imports.
 */
import { dataPlaneNames } from "./names";

/** The `component` label of a trigger's topic and subscription (the guardrails find them by it). */
export const PROVISIONING_COMPONENT = "stage1-provisioning";

/** The object event that starts a provisioning run: a new (or replaced) stage-2 object. */
export const PROVISIONING_EVENT_TYPE = "OBJECT_FINALIZE";
/** Cloud Storage's JSON payload (the object resource) in the message data. */
export const PROVISIONING_PAYLOAD_FORMAT = "JSON_API_V1";

/**
 * The attributes of a scheduled run's message (`provisioning.schedule`): the job service tells it
 * from a storage notification by `manateeTrigger` and checks `dataset` is the subscription's
 * (job-service/src/provisioning-trigger.ts). No data: a run is started, not described.
 */
export function provisioningScheduleAttributes(dataset: string): Record<string, string> {
  return { manateeTrigger: "schedule", dataset };
}

/** The Cloud Scheduler service agent of a project (by number): it publishes a scheduler job's Pub/Sub messages. */
export function cloudSchedulerAgent(projectNumber: string): string {
  return `serviceAccount:service-${projectNumber}@gcp-sa-cloudscheduler.iam.gserviceaccount.com`;
}

/**
 * Pub/Sub topic and subscription ids of `dataset`'s trigger (3-255 characters, starting with a
 * letter: room and dataset names keep them well within), and the subscription's full path.
 */
export function provisioningNames(policy: { name: string; project: string }, dataset: string) {
  const topicId = `${policy.name}-${dataset}-stage2-objects`;
  const subscriptionId = `${policy.name}-${dataset}-provisioning`;
  return {
    topicId,
    subscriptionId,
    /** The Cloud Scheduler job of `provisioning.schedule` (letters, digits, `-`, `_`: room and dataset names fit). */
    schedulerJobId: subscriptionId,
    subscriptionPath: `projects/${policy.project}/subscriptions/${subscriptionId}`,
    stage2Bucket: dataPlaneNames(policy).datasetBucket(dataset, "stage2"),
  };
}
