/**
 * The trigger of a dataset's stage-1 provisioning (README "How stage-1 data is made"): a new
 * object in the dataset's stage-2 bucket is announced on a Pub/Sub topic that only the project's
 * Cloud Storage service agent may publish to, and the job service, the only subscriber of its
 * pull subscription, submits the provisioning image's job (job-service/src/provisioning-trigger.ts).
 * With `provisioning.schedule`, a Cloud Scheduler job publishes a scheduled run on the same topic
 * (as the project's Cloud Scheduler service agent, the only other publisher).
 * No person reads stage-2 data to make stage 1, and nobody else can start or watch the runs.
 */
import { TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { CloudSchedulerJob } from "@cdktf/provider-google/lib/cloud-scheduler-job";
import { DataGoogleProject } from "@cdktf/provider-google/lib/data-google-project";
import { DataGoogleStorageProjectServiceAccount } from "@cdktf/provider-google/lib/data-google-storage-project-service-account";
import { PubsubSubscription } from "@cdktf/provider-google/lib/pubsub-subscription";
import { PubsubSubscriptionIamMember } from "@cdktf/provider-google/lib/pubsub-subscription-iam-member";
import { PubsubTopic } from "@cdktf/provider-google/lib/pubsub-topic";
import { PubsubTopicIamMember } from "@cdktf/provider-google/lib/pubsub-topic-iam-member";
import { StorageNotification } from "@cdktf/provider-google/lib/storage-notification";
import { InvalidPropsError } from "../../errors";
import { CLEAN_ROOM_LABEL, cleanRoomLabels } from "../../internal/common";
import { DatasetPolicy } from "../../policy/model";
import {
  PROVISIONING_COMPONENT,
  PROVISIONING_EVENT_TYPE,
  PROVISIONING_PAYLOAD_FORMAT,
  cloudSchedulerAgent,
  provisioningNames,
  provisioningScheduleAttributes,
} from "../../policy/provisioning";
import { CleanRoomBucket } from "./buckets";

export interface Stage1ProvisioningTriggerProps {
  /** The room: its name, the project that holds the dataset, and the region of its schedule's Cloud Scheduler job. */
  readonly room: { readonly name: string; readonly project: string; readonly region: string };
  /** A dataset with `provisioning`. */
  readonly dataset: DatasetPolicy;
  /** The dataset's stage-2 bucket: its new objects start the runs. */
  readonly stage2Bucket: CleanRoomBucket;
  /** The job service's member (`serviceAccount:…`): the subscription's only subscriber. */
  readonly subscriber: string;
  /**
   * How long an unacknowledged notification waits (the job service acknowledges after it submitted).
   * @default "604800s" (7 days, Pub/Sub's maximum): a job service down for a weekend misses nothing
   */
  readonly messageRetentionDuration?: string;
  /**
   * The room project's number, which names its Cloud Scheduler service agent (used only with
   * `provisioning.schedule`), e.g. `ConfidentialSpacePool.project.number`.
   * @default - looked up (a `google_project` data source of `room.project`) when the dataset has a schedule
   */
  readonly projectNumber?: string;
  /**
   * The time zone the dataset's `provisioning.schedule` is read in (IANA name).
   * @default "Etc/UTC"
   */
  readonly scheduleTimeZone?: string;
  /** @default the provider's default provider */
  readonly provider?: TerraformProvider;
}

/** Whether `zone` is an IANA time zone this runtime knows (Cloud Scheduler takes the same names). */
function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return zone.trim() !== "";
  } catch {
    return false;
  }
}

/** Topic, storage notification, publisher and subscriber grants, and pull subscription of one dataset. */
export class Stage1ProvisioningTrigger extends Construct {
  public readonly topic: PubsubTopic;
  public readonly subscription: PubsubSubscription;
  public readonly notification: StorageNotification;
  /** `projects/<p>/subscriptions/<id>`: what the job service's config names. */
  public readonly subscriptionPath: string;
  /** The Cloud Scheduler job of `provisioning.schedule`; undefined without a schedule. */
  public readonly schedulerJob?: CloudSchedulerJob;

  constructor(scope: Construct, id: string, props: Stage1ProvisioningTriggerProps) {
    super(scope, id);
    const { room, dataset, provider } = props;
    if (dataset.provisioning === undefined) {
      throw new InvalidPropsError(`dataset ${dataset.name} declares no provisioning; a trigger would start nothing.`, {
        constructPath: this.node.path,
        property: "dataset.provisioning",
        fix: "Declare datasets.<name>.provisioning { imageDigest, approvedBy } or do not create the trigger.",
      });
    }
    if (!Token.isUnresolved(props.subscriber) && !props.subscriber.startsWith("serviceAccount:")) {
      throw new InvalidPropsError(`subscriber "${props.subscriber}" is not a service account.`, {
        constructPath: this.node.path,
        property: "subscriber",
        fix: "Pass the job service's member, serviceAccount:<email>.",
      });
    }
    if (props.scheduleTimeZone !== undefined && !isTimeZone(props.scheduleTimeZone)) {
      throw new InvalidPropsError(`scheduleTimeZone "${props.scheduleTimeZone}" is not an IANA time zone; Cloud Scheduler would refuse the job at apply.`, {
        constructPath: this.node.path,
        property: "scheduleTimeZone",
        fix: 'Use an IANA name such as "Etc/UTC" or "Europe/Berlin", or leave it out for UTC.',
      });
    }
    if (props.projectNumber !== undefined && !Token.isUnresolved(props.projectNumber) && !/^[1-9][0-9]{5,18}$/.test(props.projectNumber)) {
      throw new InvalidPropsError(`projectNumber "${props.projectNumber}" is not a project number; it names the Cloud Scheduler service agent.`, {
        constructPath: this.node.path,
        property: "projectNumber",
        fix: "Pass the room project's number (digits, as `gcloud projects describe` prints it), or leave it out to look it up.",
      });
    }
    const names = provisioningNames(room, dataset.name);
    const labels = { ...cleanRoomLabels(room.name, PROVISIONING_COMPONENT), [CLEAN_ROOM_LABEL.dataset]: dataset.name };
    this.subscriptionPath = names.subscriptionPath;

    this.topic = new PubsubTopic(this, "topic", { project: room.project, name: names.topicId, labels, provider });
    // The project's Cloud Storage service agent publishes the bucket's notifications; nobody else may
    // publish (a forged message could only start a run of the approved image, but not even that).
    const agent = new DataGoogleStorageProjectServiceAccount(this, "storage-agent", { project: room.project, provider });
    const publisher = new PubsubTopicIamMember(this, "storage-agent-publishes", {
      project: room.project,
      topic: this.topic.name,
      role: "roles/pubsub.publisher",
      member: agent.member,
      provider,
    });
    this.notification = new StorageNotification(this, "stage2-objects", {
      bucket: props.stage2Bucket.bucket.name,
      topic: this.topic.id,
      payloadFormat: PROVISIONING_PAYLOAD_FORMAT,
      eventTypes: [PROVISIONING_EVENT_TYPE],
      // Google checks the agent may publish when the notification is created.
      dependsOn: [publisher],
      provider,
    });

    this.subscription = new PubsubSubscription(this, "subscription", {
      project: room.project,
      name: names.subscriptionId,
      topic: this.topic.id,
      labels,
      // Submitting a job is quick; a redelivery is harmless (one job per object generation).
      ackDeadlineSeconds: 60,
      messageRetentionDuration: props.messageRetentionDuration ?? "604800s",
      // Never expires for inactivity: a room idle for a month still provisions on its next upload.
      expirationPolicy: { ttl: "" },
      provider,
    });
    new PubsubSubscriptionIamMember(this, "job-service-subscribes", {
      project: room.project,
      subscription: this.subscription.name,
      role: "roles/pubsub.subscriber",
      member: props.subscriber,
      provider,
    });

    const schedule = dataset.provisioning.schedule?.trim();
    if (schedule) this.schedulerJob = this.addSchedule(props, schedule, names.schedulerJobId);
  }

  /** The scheduled runs: a Cloud Scheduler job publishing the run's attributes on the trigger topic. */
  private addSchedule(props: Stage1ProvisioningTriggerProps, schedule: string, jobId: string): CloudSchedulerJob {
    const { room, dataset, provider } = props;
    const projectNumber = props.projectNumber ?? new DataGoogleProject(this, "project", { projectId: room.project, provider }).number;
    // Cloud Scheduler publishes a Pub/Sub target's messages as the project's Cloud Scheduler service
    // agent, service-<number>@gcp-sa-cloudscheduler.iam.gserviceaccount.com (cloud.google.com/scheduler/docs/http-target-auth);
    // its role roles/cloudscheduler.serviceAgent holds pubsub.topics.publish (cloud.google.com/iam/docs/roles-permissions/cloudscheduler).
    // Granted here on this topic alone, so the run does not depend on that project-wide grant.
    const publisher = new PubsubTopicIamMember(this, "scheduler-agent-publishes", {
      project: room.project,
      topic: this.topic.name,
      role: "roles/pubsub.publisher",
      member: cloudSchedulerAgent(projectNumber),
      provider,
    });
    return new CloudSchedulerJob(this, "schedule", {
      project: room.project,
      region: room.region,
      name: jobId,
      description: `Scheduled stage-1 provisioning of ${dataset.name} (room ${room.name}).`,
      schedule,
      timeZone: props.scheduleTimeZone ?? "Etc/UTC",
      pubsubTarget: { topicName: this.topic.id, attributes: provisioningScheduleAttributes(dataset.name) },
      // No retries: a retry in a later minute would be a second run (one job per publish minute), and each run spends budget.
      retryConfig: { retryCount: 0 },
      dependsOn: [publisher],
      provider,
    });
  }
}
