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
 * Pub/Sub topic and subscription ids of `dataset`'s trigger (3-255 characters, starting with a
 * letter: room and dataset names keep them well within), and the subscription's full path.
 */
export function provisioningNames(policy: { name: string; project: string }, dataset: string) {
  const topicId = `${policy.name}-${dataset}-stage2-objects`;
  const subscriptionId = `${policy.name}-${dataset}-provisioning`;
  return {
    topicId,
    subscriptionId,
    subscriptionPath: `projects/${policy.project}/subscriptions/${subscriptionId}`,
    stage2Bucket: dataPlaneNames(policy).datasetBucket(dataset, "stage2"),
  };
}
