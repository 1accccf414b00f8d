/**
 * Stage-1 provisioning, triggered (README "How stage-1 data is made"): a Cloud Storage
 * notification of a new stage-2 object, pulled from the dataset's subscription (the data plane's
 * Stage1ProvisioningTrigger), becomes a job of the dataset's provisioning image. The image is a
 * standing approval of that dataset only, so the job enters at AwaitingApproval with its build
 * record and the reconciler launches it like any approved job; the verifier's ledger charges the
 * stage-1 spend when it releases the output.
 *
 * The dataset's `provisioning.schedule` publishes on the same topic (Cloud Scheduler, attributes
 * `manateeTrigger=schedule` and `dataset=<name>`): a scheduled run is the same job without a new object.
 *
 * Idempotent: the job's uuid is derived from bucket, object and generation (a notification) or from
 * dataset and the publish minute (a scheduled run), so a redelivered message (Pub/Sub delivers at
 * least once) finds the job it already made.
 */
import { createHash } from "node:crypto";
import type { DatasetProvisioning, JobServiceConfig, JobServiceDataset } from "./config";
import { JobStatus, type AuditLog, type JobRecord, type JobStore, type NewJob } from "./ports";

/** The creator of provisioning jobs: no hub user has this name (hub names are the room's usernames). */
export const PROVISIONING_CREATOR = "stage1-provisioning";
/** The purpose of provisioning jobs, as the standing approval states it (lib/policy/model.ts). */
export const PROVISIONING_PURPOSE = "stage1-provisioning";
/**
 * The provisioning image's name in the room's job image repository: the data owner pushes it as
 * `<userImagesRepository>/stage1-provisioning@<digest>`; the launcher pulls it by digest only.
 */
export const PROVISIONING_IMAGE_NAME = "stage1-provisioning";

/** A Pub/Sub message as the pull API returns it (`receivedMessages[].message`). */
export interface PubsubMessage {
  readonly messageId: string;
  /** Base64 of the object resource (payload format JSON_API_V1). */
  readonly data?: string;
  readonly attributes?: Readonly<Record<string, string>>;
  readonly publishTime?: string;
}

/** Every outcome but a thrown error acknowledges the message: redelivering it would change nothing. */
export type ProvisioningOutcome =
  | { readonly action: "submitted"; readonly job: JobRecord }
  | { readonly action: "duplicate"; readonly job: JobRecord }
  | { readonly action: "ignored"; readonly reason: string };

export interface ProvisioningTriggerDeps {
  readonly config: JobServiceConfig;
  readonly store: JobStore;
  readonly audit?: AuditLog;
}

/** The `manateeTrigger` attribute of a scheduled run (lib/constructs/data-plane/provisioning.ts sets it). */
export const SCHEDULE_TRIGGER = "schedule";

/** The job's uuid: a name-based (version 5 layout) UUID of bucket, object and generation. */
export function provisioningJobUuid(bucket: string, object: string, generation: string): string {
  return nameUuid(`${bucket}\0${object}\0${generation}`);
}

/**
 * The uuid of `dataset`'s scheduled run at `minute` (RFC 3339, seconds cut). Its own name space: no
 * bucket is named with a NUL, so it never equals an object generation's uuid.
 */
export function scheduledJobUuid(dataset: string, minute: string): string {
  return nameUuid(`\0${SCHEDULE_TRIGGER}\0${dataset}\0${minute}`);
}

function nameUuid(name: string): string {
  const h = createHash("sha256").update(name).digest("hex");
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Turns one notification into at most one provisioning job; throws only when the store fails (then nack). */
export async function handleProvisioningNotification(deps: ProvisioningTriggerDeps, subscription: string, message: PubsubMessage): Promise<ProvisioningOutcome> {
  const audit = deps.audit ?? (() => undefined);
  const ignore = (reason: string): ProvisioningOutcome => {
    audit({ event: "provisioning-ignored", subscription, messageId: message.messageId, reason });
    return { action: "ignored", reason };
  };
  const dataset = deps.config.datasets.find((d) => d.provisioning?.subscription === subscription);
  if (!dataset) return ignore(`subscription ${subscription} belongs to no dataset with provisioning`);
  const provisioning = dataset.provisioning!;
  const a = message.attributes ?? {};
  const source = a.manateeTrigger !== undefined ? scheduledRun(a, dataset.name, provisioning, message.publishTime) : objectNotification(a, provisioning, dataset.name, message.data);
  if ("ignored" in source) return ignore(source.ignored);
  // The config is checked at start (parseJobServiceConfig); checked again so no job runs an unapproved image.
  if (!dataset.standingApprovals.includes(provisioning.imageDigest)) return ignore(`${provisioning.imageDigest} is not a standing approval of ${dataset.name}`);

  const { uuid } = source;
  const existing = await deps.store.getByUuid(uuid);
  if (existing) return { action: "duplicate", job: existing };
  let job: JobRecord;
  try {
    job = await deps.store.create(provisioningJob(deps.config, dataset, provisioning, uuid));
  } catch (e) {
    // A concurrent delivery of the same message created it first (stores refuse a second uuid).
    const raced = await deps.store.getByUuid(uuid);
    if (raced) return { action: "duplicate", job: raced };
    throw e;
  }
  audit({ event: "provisioning-submitted", job: job.id, uuid, dataset: dataset.name, imageDigest: provisioning.imageDigest, ...source.why });
  return { action: "submitted", job };
}

/** What started a run: its uuid and the audit's description, or why the message starts nothing. */
type RunSource = { readonly uuid: string; readonly why: Readonly<Record<string, string>> } | { readonly ignored: string };
type Attributes = Readonly<Record<string, string>>;

/** A Cloud Storage notification of a new object in the dataset's stage-2 bucket. */
function objectNotification(a: Attributes, provisioning: DatasetProvisioning, dataset: string, data: string | undefined): RunSource {
  if (a.eventType !== "OBJECT_FINALIZE") return { ignored: `event ${a.eventType ?? "(none)"} is not OBJECT_FINALIZE` };
  if (a.bucketId !== provisioning.stage2Bucket) return { ignored: `bucket ${a.bucketId ?? "(none)"} is not ${dataset}'s stage-2 bucket` };
  if (!a.objectId || !/^[0-9]+$/.test(a.objectGeneration ?? "")) return { ignored: "the notification names no object and generation" };
  const mismatch = payloadMismatch(data, a.bucketId, a.objectId, a.objectGeneration);
  if (mismatch) return { ignored: mismatch };
  return { uuid: provisioningJobUuid(a.bucketId, a.objectId, a.objectGeneration), why: { object: `gs://${a.bucketId}/${a.objectId}#${a.objectGeneration}` } };
}

/** A run of the dataset's schedule: one job per dataset and publish minute (a retried publish lands in the same minute). */
function scheduledRun(a: Attributes, dataset: string, provisioning: DatasetProvisioning, publishTime: string | undefined): RunSource {
  if (a.manateeTrigger !== SCHEDULE_TRIGGER) return { ignored: `trigger ${a.manateeTrigger} is not ${SCHEDULE_TRIGGER}` };
  // Cloud Scheduler's agent may publish to every topic of the project: whoever can create a
  // scheduler job could otherwise start runs (and spend budget) of a dataset that has no schedule.
  if (provisioning.schedule === undefined) return { ignored: `${dataset} declares no provisioning schedule` };
  if (a.dataset !== dataset) return { ignored: `the scheduled run names dataset ${a.dataset ?? "(none)"}, not ${dataset} whose subscription it came on` };
  const t = Date.parse(publishTime ?? "");
  if (!/^\d{4}-\d\d-\d\dT/.test(publishTime ?? "") || Number.isNaN(t)) return { ignored: `publish time ${publishTime ?? "(none)"} is not RFC 3339` };
  const minute = new Date(t - (t % 60_000)).toISOString().replace(/:00\.000Z$/, "Z");
  return { uuid: scheduledJobUuid(dataset, minute), why: { scheduled: minute } };
}

/** The object resource in `data`, when present, must name the same object as the attributes. */
function payloadMismatch(data: string | undefined, bucket: string, object: string, generation: string): string | undefined {
  if (data === undefined || data === "") return undefined;
  let o: { bucket?: unknown; name?: unknown; generation?: unknown };
  try {
    o = JSON.parse(Buffer.from(data, "base64").toString("utf8"));
  } catch {
    return "the payload is not JSON";
  }
  if (o.bucket !== bucket || o.name !== object || String(o.generation) !== generation) return "the payload names another object than the attributes";
  return undefined;
}

/** A job of the provisioning image on `dataset`, waiting for the approval check (standing: it passes). */
function provisioningJob(config: JobServiceConfig, dataset: JobServiceDataset, provisioning: DatasetProvisioning, uuid: string): NewJob {
  return {
    uuid,
    creator: PROVISIONING_CREATOR,
    notebook: "",
    status: JobStatus.AwaitingApproval,
    datasets: [dataset.name],
    purpose: PROVISIONING_PURPOSE,
    envs: [],
    // No workspace: the image is built and approved by its data owner, not by the job service.
    workspace: { object: "", sha256: "", size: 0, files: [], dependencies: [] },
    build: {
      imageDigest: provisioning.imageDigest,
      imageReference: `${config.images.userImagesRepository}/${PROVISIONING_IMAGE_NAME}@${provisioning.imageDigest}`,
      baseDigest: "",
      files: [],
      dependencies: [],
      buildId: "",
    },
    decisions: {},
    deleted: false,
  };
}
