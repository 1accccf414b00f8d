/**
 * The deploy builder: the identity deploy-time image builds run as, and the bucket their sources
 * are staged in and their logs written to.
 *
 * Why its own file: this identity's reach (push to the deploy-built repositories, nothing else)
 * is a security boundary between the deploy's images and researcher code; it reads on its own.
 */
import { ITerraformDependable, TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { CleanRoomRef } from "../../../internal/common";
import { NAME_RULES, manateeEnv, resourceName } from "../../../policy/names";
import { BucketEncryptionKey, CleanRoomBucket } from "../../data-plane/buckets";
import { DockerRepository } from "./repository";
import { InvalidPropsError } from "../../../errors";

export interface DeployImageBuilderProps {
  /** The clean room (a `CleanRoomPolicy` fits). */
  readonly room: CleanRoomRef;
  /** Repositories the deploy pushes to: writer on each, nothing else. */
  readonly targets: readonly DockerRepository[];
  /**
   * CMEK of the bucket holding the uploaded build sources and the build logs (the room's
   * `StorageEncryptionKey`).
   * @default - Google-managed encryption
   */
  readonly encryptionKey?: BucketEncryptionKey;
  /** Days after which uploaded sources and build logs are deleted. @default 30 */
  readonly expireAfterDays?: number;
  /** Resources to create first, typically `CleanRoomApis.dependables`. @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** @default room.project */
  readonly project?: string;
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * The identity deploy-time image builds run as (`gcloud builds submit --service-account`), and
 * the bucket their sources are staged in and their logs written to. It can push to the
 * repositories of deploy-built images and nothing else: no user-images, no compute, no data.
 * Job builds (researcher code) run as a different account (`JobServiceIdentity.builderServiceAccount`),
 * so a `pip install` in a job build can never touch a deploy-built image.
 */
export class DeployImageBuilder extends Construct {
  public readonly serviceAccount: ServiceAccount;
  /** Known at synth time: `gcloud builds submit` names it. */
  public readonly serviceAccountEmail: string;
  public readonly member: string;
  /** Build sources (`sources/`) and logs (`logs/`). */
  public readonly bucket: CleanRoomBucket;
  public readonly bucketName: string;
  public readonly project: string;
  public readonly region: string;

  constructor(scope: Construct, id: string, props: DeployImageBuilderProps) {
    super(scope, id);
    const { room, provider } = props;
    this.project = props.project ?? room.project;
    this.region = room.region;
    if (props.targets.length === 0) {
      throw new InvalidPropsError(`DeployImageBuilder "targets" is empty: name the repositories the deploy pushes images to.`);
    }
    const accountId = resourceName("serviceAccountId", "dcr", manateeEnv(room.name), "deploy");
    this.serviceAccount = new ServiceAccount(this, "sa", {
      project: this.project,
      accountId,
      displayName: `Deploy image builds of ${room.name}`.slice(0, NAME_RULES.serviceAccountDisplayName.max),
      description: "Cloud Build identity of the deploy's own images (job service, JupyterLab, executor base). Pushes only to their repositories.",
      dependsOn: props.dependsOn,
      provider,
    });
    this.serviceAccountEmail = `${accountId}@${this.project}.iam.gserviceaccount.com`;
    this.member = this.serviceAccount.member;

    this.bucket = new CleanRoomBucket(this, "bucket", {
      room,
      // Support bucket of the job path, like the hub bucket: hardened, CMEK, expiring, no retention policy
      // (Cloud Build cannot write logs into a bucket with one).
      purpose: "hub",
      bucketName: resourceName("bucket", this.project, room.name, "deploy-builds"),
      encryptionKey: props.encryptionKey,
      expireAfterDays: props.expireAfterDays ?? 30,
      labels: { use: "deploy-builds" },
      project: this.project,
      provider,
    });
    this.bucketName = this.bucket.bucketName;
    // Reads the staged source, writes (and rewrites, while streaming) its log objects: objectUser
    // is objectAdmin without object ACL/IAM (which uniform bucket-level access ignores anyway).
    this.bucket.grantObjectUser(this.member, { id: "bucket-objects" });
    props.targets.forEach((repo, i) => repo.grantPush(this.member, { id: `deploy-builder-push-${i}` }));
  }
}
