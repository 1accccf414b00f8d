/**
 * Stage-1 provisioning (README "How stage-1 data is made"): the provisioning image is trusted to
 * read one dataset's real data because it can put the result nowhere but that dataset's stage-1
 * bucket, and its runs start only from that dataset's stage-2 objects.
 *
 * MCR-PRV1: the provisioning image's principal set writes nowhere: its output leaves the TEE through
 *   the quarantine and the verifier's release into its dataset's stage-1 bucket. Only in a room
 *   without an output release (no `jobs` in the policy) may it create objects in that bucket itself.
 * MCR-PRV2: it reads no other dataset's buckets, key or reader account.
 * MCR-PRV3: the trigger topic's only publishers are the project's Cloud Storage service agent and,
 *           when its dataset declares `provisioning.schedule`, the Cloud Scheduler service agent.
 * MCR-PRV4: the trigger subscription's only subscriber is the job service.
 */
import { COMPONENT } from "../../internal/common";
import { IamBinding, RoomFacts, bucketsReached, iamDeclaration, isIamResourceType, keysReached, serviceAccountRef } from "../../analysis/iam";
import type { ResourceIndex, TfResource } from "../../analysis/resource-index";
import { componentOf, datasetOf, readString } from "../../analysis/values";
import { dataPlaneNames, platformNames } from "../../policy/names";
import { PROVISIONING_COMPONENT } from "../../policy/provisioning";
import { Rule, RuleResult } from "../model";

/** Provisioning digest → its dataset, from the room's policy. */
function provisioningDigests(context: RoomFacts): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of context.policy?.datasets ?? []) if (d.provisioning) out.set(d.provisioning.imageDigest, d.name);
  return out;
}

/** Each binding of `resource` with each provisioning principal set it names, and that principal's dataset. */
function provisioningBindings(resource: TfResource, index: ResourceIndex, context: RoomFacts): { binding: IamBinding; member: string; dataset: string }[] {
  const digests = provisioningDigests(context);
  if (digests.size === 0) return [];
  const declaration = iamDeclaration(resource, index);
  return (declaration?.bindings ?? []).flatMap((binding) =>
    binding.members.filter((m) => m.kind === "attested" && m.digest !== undefined && digests.has(m.digest)).map((m) => ({ binding, member: m.member, dataset: digests.get(m.digest!)! })),
  );
}

/** Roles (and custom-role permissions) that create, change or delete anything, or grant that. */
function grantsWrite(b: IamBinding): boolean {
  if (b.permissions) return b.permissions.some((p) => /\.(create|update|delete|setIamPolicy|patch)$/.test(p));
  const role = b.role ?? "";
  if (role === "") return true; // an expression: may be anything
  return /^roles\/(owner|editor)$|(admin|creator|writer|editor)$|^roles\/storage\.(objectUser|legacyBucketOwner|legacyObjectOwner)$/i.test(role);
}

const isDatasetBucket = (b: TfResource) => componentOf(b) === COMPONENT.stage1Bucket || componentOf(b) === COMPONENT.stage2Bucket;

export const provisioningWrite: Rule = {
  id: "MCR-PRV1",
  level: "error",
  title: "A provisioning image writes nothing but, in a room without an output release, its dataset's stage-1 bucket",
  resourceTypes: isIamResourceType,
  check(resource, index, context): RuleResult[] {
    const results: RuleResult[] = [];
    // With an output release (policy `jobs`), stage 1 is reached only through the verifier's release.
    const released = context.policy?.jobs !== undefined;
    for (const { binding, member, dataset } of provisioningBindings(resource, index, context)) {
      if (!grantsWrite(binding)) continue;
      const reach = bucketsReached(binding, index, context);
      const own = binding.targetKind === "bucket" && !reach.unresolved && reach.resources.length > 0 &&
        reach.resources.every((b) => componentOf(b) === COMPONENT.stage1Bucket && datasetOf(b) === dataset);
      if (own && !released) continue;
      results.push({
        message: released
          ? `${member} (the provisioning image of dataset ${dataset}) gets ${binding.role ?? JSON.stringify(binding.rawRole)} on ${describeTarget(binding)}: in a room with an output release it writes nothing itself. Remove this grant; its output leaves through the quarantine and the verifier's release into ${dataset}'s stage-1 bucket.`
          : `${member} (the provisioning image of dataset ${dataset}) gets ${binding.role ?? JSON.stringify(binding.rawRole)} on ${describeTarget(binding)}: it may write only to ${dataset}'s stage-1 bucket. Remove this grant; the image's output reaches stage 1 through its dataset's stage-1 bucket alone.`,
      });
    }
    return results;
  },
};

export const provisioningRead: Rule = {
  id: "MCR-PRV2",
  level: "error",
  title: "A provisioning image reads no other dataset",
  resourceTypes: isIamResourceType,
  check(resource, index, context): RuleResult[] {
    const results: RuleResult[] = [];
    for (const { binding, member, dataset } of provisioningBindings(resource, index, context)) {
      const others = [
        ...bucketsReached(binding, index, context).resources.filter(isDatasetBucket),
        ...keysReached(binding, index, context).resources.filter((k) => componentOf(k) === COMPONENT.datasetKey),
      ].filter((r) => datasetOf(r) !== dataset);
      const reader = otherReaderAccount(binding, index, context, dataset);
      for (const what of [...others.map((r) => `${r.address} (dataset ${datasetOf(r) ?? "unknown"})`), ...(reader ? [reader] : [])]) {
        results.push({
          message: `${member} (the provisioning image of dataset ${dataset}) gets ${binding.role ?? JSON.stringify(binding.rawRole)} on ${what}: a provisioning image reads its own dataset only. Approve another image for the other dataset instead of this digest.`,
        });
      }
    }
    return results;
  },
};

/** The reader service account of another dataset that `binding` targets, described; undefined otherwise. */
function otherReaderAccount(binding: IamBinding, index: ResourceIndex, context: RoomFacts, dataset: string): string | undefined {
  if (binding.targetKind !== "service_account" || !context.policy) return undefined;
  const names = dataPlaneNames(context.policy);
  const target = index.target(binding.target)?.resource;
  const id = target ? readString(target.config.account_id) : readString(String(binding.target ?? "").replace(/^.*serviceAccounts\//, "").split("@")[0]);
  if (id.state !== "known") return undefined;
  const owner = context.policy.datasets.find((d) => d.name !== dataset && [1, 2, 3, 4, 5, 6, 7, 8, 9].some((n) => names.readerServiceAccountId(d.name, n) === id.value));
  return owner ? `the reader service account ${id.value} (dataset ${owner.name})` : undefined;
}

function describeTarget(b: IamBinding): string {
  const target = typeof b.target === "string" ? b.target : JSON.stringify(b.target);
  return `${b.targetKind} ${target}`;
}

/** The trigger topic or subscription a pubsub IAM resource names (by reference or by name), if it is one. */
function triggerTarget(resource: TfResource, index: ResourceIndex, field: "topic" | "subscription"): TfResource | undefined {
  const value = resource.config[field];
  const type = `google_pubsub_${field}`;
  const ref = index.target(value);
  const target = ref ? (ref.resource.type === type ? ref.resource : undefined) : index.ofType(type).find((t) => {
    const name = readString(value);
    return name.state === "known" && (t.config.name === name.value || name.value.endsWith(`/${field === "topic" ? "topics" : "subscriptions"}/${t.config.name}`));
  });
  return target && componentOf(target) === PROVISIONING_COMPONENT ? target : undefined;
}

/** One finding per member of a trigger resource's IAM that is not `allowed` in `role`. */
function onlyMember(
  resource: TfResource,
  index: ResourceIndex,
  field: "topic" | "subscription",
  role: string,
  allowed: (member: string, target: TfResource) => boolean,
  who: (target: TfResource) => string,
): RuleResult[] {
  const target = triggerTarget(resource, index, field);
  if (!target) return [];
  const declaration = iamDeclaration(resource, index);
  if (declaration?.opaque) return [{ message: `The IAM of ${target.address} cannot be read (${declaration.opaque}), so its ${field === "topic" ? "publishers" : "subscribers"} are not known. Name members literally or by reference.` }];
  return (declaration?.bindings ?? []).flatMap((b) =>
    b.members
      .filter((m) => b.role !== role || !allowed(m.member, target))
      .map((m) => ({ message: `${m.member} gets ${b.role ?? JSON.stringify(b.rawRole)} on the stage-1 provisioning ${field} ${target.address}: only ${who(target)} may hold ${role} there, and nobody anything else. Remove this grant.` })),
  );
}

/** A reference to the member of a `google_storage_project_service_account` data source, or its literal form. */
function isStorageAgent(member: string, index: ResourceIndex): boolean {
  const ref = index.target(member);
  if (ref) return ref.resource.type === "google_storage_project_service_account" && ref.resource.mode === "data" && ref.attribute === "member";
  return /^serviceAccount:service-[0-9]+@gs-project-accounts\.iam\.gserviceaccount\.com$/.test(member);
}

/** The Cloud Scheduler service agent: by a project number, or a `data.google_project`'s number. */
function isSchedulerAgent(member: string, index: ResourceIndex): boolean {
  const m = /^serviceAccount:service-(.+)@gcp-sa-cloudscheduler\.iam\.gserviceaccount\.com$/.exec(member);
  if (!m) return false;
  if (/^[0-9]+$/.test(m[1])) return true;
  const ref = index.target(m[1]);
  return ref !== undefined && ref.resource.type === "google_project" && ref.resource.mode === "data" && ref.attribute === "number";
}

/** Whether the trigger topic's dataset declares a schedule in the room's policy. */
function scheduled(topic: TfResource, context: RoomFacts): boolean {
  const dataset = datasetOf(topic);
  return context.policy?.datasets.some((d) => d.name === dataset && d.provisioning?.schedule !== undefined) ?? false;
}

const STORAGE_AGENT = "the project's Cloud Storage service agent (data google_storage_project_service_account)";

export const provisioningPublisher: Rule = {
  id: "MCR-PRV3",
  level: "error",
  title: "Only the Cloud Storage service agent (and, with a schedule, the Cloud Scheduler service agent) publishes to a provisioning trigger topic",
  resourceTypes: (type) => /^google_pubsub_topic_iam_(member|binding|policy)$/.test(type),
  check(resource, index, context) {
    return onlyMember(
      resource,
      index,
      "topic",
      "roles/pubsub.publisher",
      (member, topic) => isStorageAgent(member, index) || (scheduled(topic, context) && isSchedulerAgent(member, index)),
      (topic) => (scheduled(topic, context) ? `${STORAGE_AGENT} and the Cloud Scheduler service agent of its dataset's schedule` : `${STORAGE_AGENT} (its dataset declares no provisioning.schedule)`),
    );
  },
};

export const provisioningSubscriber: Rule = {
  id: "MCR-PRV4",
  level: "error",
  title: "Only the job service subscribes to a provisioning trigger subscription",
  resourceTypes: (type) => /^google_pubsub_subscription_iam_(member|binding|policy)$/.test(type),
  check(resource, index, context) {
    const expected = context.policy ? platformNames(context.policy).jobServiceSaEmail : undefined;
    const isJobService = (member: string) => expected !== undefined && member !== "" && serviceAccountRef(member, index, context).email === expected;
    return onlyMember(resource, index, "subscription", "roles/pubsub.subscriber", isJobService, () => `the job service (${expected ?? "unknown without the room's policy"})`);
  },
};
