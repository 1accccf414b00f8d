/**
 * The whole clean room's Google side, composed from one policy. Its Kubernetes side
 * (job service, JupyterHub) is `CleanRoomWorkloads` (lib/constructs/clean-room-workloads.ts), which
 * lives in a second stack and reads what it needs from this construct.
 */
import { TerraformOutput, TerraformProvider, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { CleanRoomApis } from "./platform/apis";
import { CleanRoomCluster, CleanRoomClusterProps } from "./platform/cluster";
import { CleanRoomDataPlane, CleanRoomDataPlaneProps } from "./data-plane/datasets";
import { CLEAN_ROOM_OUTPUT_NAMES, CleanRoomOutputs, datasetOutputsOf, declareTerraformOutputs, outputEntries } from "./outputs";
import { JobStateStore, JobStateStoreProps } from "./platform/database";
// By file, not the job-service barrel: the barrel loads the Kubernetes provider, which rooms
// without JupyterHub do not install (an optional peer dependency).
import { JobServiceIdentity } from "./workloads/job-service/identities";
import { DEFAULT_JOB_SERVICE_NAMESPACE } from "./workloads/job-service/contract";
import { CleanRoomNetwork, CleanRoomNetworkProps } from "./platform/network";
import { CleanRoomServicePerimeter } from "./platform/service-perimeter";
import { OutputRelease } from "./data-plane/output-release";
import { CleanRoomPolicy, locationOf } from "../policy/model";
import { StorageEncryptionKey } from "./data-plane/keys";
import { IamCondition, objectPrefixCondition } from "../policy/members";
import { jobInstancePrefix, jobPathNames, manateeContract } from "../policy/names";
import { assertValidPolicy } from "../policy/validate";
import { DeployImageBuilder, ImageRegistry, ImageRegistryProps } from "./platform/registry";
import { CleanRoomBucket } from "./data-plane/buckets";
import { AttestationVerifier, AttestationVerifierProps } from "./verifier";
import { InvalidPropsError } from "../errors";

/** The condition on the owners' `roles/storage.objectViewer` on the hub bucket: review records only. */
export function ownerReviewCondition(policy: Pick<CleanRoomPolicy, "name" | "project" | "region">): IamCondition {
  const names = jobPathNames(policy);
  return objectPrefixCondition(
    names.hubBucket,
    names.reviewPrefix,
    "Job review records only",
    "Data owners read the job service's review records (reviews/<job>.json) and nothing else in the hub bucket.",
  );
}

export interface CleanRoomProps {
  /** The single source of truth. Validated with the same rules as a YAML config. */
  readonly policy: CleanRoomPolicy;
  /**
   * Kubernetes namespace of the job service and JupyterHub (the Workload Identity bindings
   * name it, so it is fixed here, in the platform stack).
   * @default "manatee"
   */
  readonly namespace?: string;
  /**
   * `googleApiAccess` follows the policy: `restricted` with a `vpcServiceControls` perimeter.
   * @default CleanRoomNetwork defaults (deny-by-default firewall, NAT for GKE only, TEEs Google APIs only)
   */
  readonly network?: Omit<CleanRoomNetworkProps, "room" | "provider" | "dependsOn">;
  /** @default CleanRoomCluster defaults (private nodes, DNS endpoint only, Workload Identity) */
  readonly cluster?: Omit<CleanRoomClusterProps, "room" | "network" | "provider" | "dependsOn">;
  /** The job records (Firestore). @default JobStateStore defaults (room region, delete protection, PITR) */
  readonly database?: Omit<JobStateStoreProps, "room" | "provider" | "dependsOn">;
  /** @default ImageRegistry defaults */
  readonly registry?: Omit<ImageRegistryProps, "room" | "provider">;
  /** @default CleanRoomDataPlane defaults */
  readonly dataPlane?: Omit<CleanRoomDataPlaneProps, "policy" | "provider">;
  /**
   * The attestation verifier, or `false` to deploy none (receipts then cannot be issued).
   * @default AttestationVerifier defaults (internal ingress, KMS-signed receipts, audit sink)
   */
  readonly verifier?: Omit<AttestationVerifierProps, "policy" | "provider" | "jobServiceMember" | "outputRelease"> | false;
  /**
   * Declare Terraform outputs (cluster, buckets, pool provider, registries, verifier).
   * @default true
   */
  readonly outputs?: boolean;
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * Every Google resource of a ManaTEE clean room: APIs, network, GKE, the job-state Firestore database, registries,
 * the attestation-bound data plane, the hub bucket, the job service's identities and the
 * attestation verifier — wired so that each grant is scoped to the resource it is for.
 */
export class CleanRoom extends Construct {
  public readonly policy: CleanRoomPolicy;
  public readonly namespace: string;
  public readonly apis: CleanRoomApis;
  public readonly network: CleanRoomNetwork;
  public readonly dataPlane: CleanRoomDataPlane;
  /** `dcr-ENV-hub`: the job service's workspace bucket (workspace tarballs, review records). */
  public readonly hubBucket: CleanRoomBucket;
  public readonly registry: ImageRegistry;
  public readonly identity: JobServiceIdentity;
  public readonly cluster: CleanRoomCluster;
  /** The job service's state (Firestore; no Cloud SQL instance, no GRANT step). */
  public readonly database: JobStateStore;
  /** Identity and bucket of the deploy's own image builds (job service, JupyterLab, executor base). */
  public readonly deployBuilder: DeployImageBuilder;
  public readonly verifier?: AttestationVerifier;
  /** Quarantine and release buckets of job outputs (rooms with `policy.jobs`, i.e. every normalized policy). */
  public readonly outputRelease?: OutputRelease;
  /** The VPC Service Controls perimeter around the project, when the policy sets `vpcServiceControls`. */
  public readonly perimeter?: CleanRoomServicePerimeter;
  /**
   * What the room's Terraform outputs hold (`cluster_name`, `hub_bucket`, `dataset_<name>_stage2_bucket`, …),
   * as typed values (references until applied) for a stack that composes this construct. Set with or
   * without `props.outputs`, which only decides whether the Terraform outputs are declared.
   */
  public readonly outputs: CleanRoomOutputs;

  constructor(scope: Construct, id: string, props: CleanRoomProps) {
    super(scope, id);
    assertValidPolicy(props.policy);
    const policy = (this.policy = props.policy);
    const provider = props.provider;
    this.namespace = props.namespace ?? DEFAULT_JOB_SERVICE_NAMESPACE;
    const contract = manateeContract(policy.name, policy.project);

    const vpcsc = policy.vpcServiceControls;
    this.apis = new CleanRoomApis(this, "apis", {
      room: policy,
      additionalServices: [
        ...(vpcsc ? ["accesscontextmanager.googleapis.com"] : []),
        // The stage-1 provisioning triggers' topics and subscriptions (addProvisioningTriggers below).
        ...(policy.datasets.some((d) => d.provisioning !== undefined && d.party === undefined) ? ["pubsub.googleapis.com"] : []),
        ...(policy.datasets.some((d) => d.provisioning?.schedule !== undefined && d.party === undefined) ? ["cloudscheduler.googleapis.com"] : []),
      ],
      provider,
    });
    const afterApis = this.apis.dependables;

    // With a perimeter, API names resolve to restricted.googleapis.com: an API the perimeter does
    // not cover cannot be used from inside the VPC to sidestep it.
    const googleApiAccess = props.network?.googleApiAccess ?? (vpcsc ? "restricted" : "private");
    if (vpcsc && googleApiAccess !== "restricted") {
      throw new InvalidPropsError(
        `network.googleApiAccess "${googleApiAccess}" with a vpcServiceControls perimeter: inside a perimeter Google APIs ` +
          `must resolve to restricted.googleapis.com. Remove network.googleApiAccess, or set it to "restricted".`,
      );
    }
    this.network = new CleanRoomNetwork(this, "network", {
      room: policy,
      ...props.network,
      googleApiAccess,
      dependsOn: afterApis,
      provider,
    });
    if (vpcsc) {
      this.perimeter = new CleanRoomServicePerimeter(this, "perimeter", {
        room: policy,
        accessPolicy: vpcsc.accessPolicy,
        accessLevels: vpcsc.accessLevels,
        dependsOn: afterApis,
        provider,
      });
    }

    this.dataPlane = new CleanRoomDataPlane(this, "data", {
      policy,
      ...props.dataPlane,
      // Job VMs on the TEE subnet: Private Google Access only, no NAT, no external IP.
      workload: { subnetwork: this.network.teeSubnetworkSelfLink, ...props.dataPlane?.workload },
      provider,
    });

    this.hubBucket = new CleanRoomBucket(this, "hub", {
      room: policy,
      purpose: "hub",
      bucketName: contract.hubBucket,
      encryptionKey: this.dataPlane.storageKey,
      provider,
    });

    // `locations.registry` places every repository (validated against the residency set with the policy).
    const registryLocation = policy.locations?.registry;
    const registryAt = registryLocation
      ? { serviceImages: { location: registryLocation }, executorBases: { location: registryLocation }, userImages: { location: registryLocation } }
      : {};
    this.registry = new ImageRegistry(this, "registry", { room: policy, ...registryAt, ...props.registry, provider });
    // The launcher pulls the per-job image into the TEE as the TEE service account.
    this.dataPlane.workload.grantImagePull(this.registry.userImages);

    this.deployBuilder = new DeployImageBuilder(this, "deploy-builder", {
      room: policy,
      targets: [this.registry.serviceImages, this.registry.executorBases],
      encryptionKey: this.dataPlane.storageKey,
      dependsOn: afterApis,
      provider,
    });
    const firestoreAt = policy.locations?.firestore ? { location: policy.locations.firestore } : {};
    this.database = new JobStateStore(this, "job-state", { room: policy, ...firestoreAt, ...props.database, dependsOn: afterApis, provider });

    const workload = this.dataPlane.workload;
    this.identity = new JobServiceIdentity(this, "job-identity", {
      room: policy,
      namespace: this.namespace,
      // The same derivation as the verifier document's release.instancePrefix.
      launch: { zone: workload.zone, templateNamePrefix: workload.templateNamePrefix, instancePrefix: jobInstancePrefix(policy) },
      // References (not literal names) so each grant waits for the resource it is on.
      // Their owners make the grants: one binding per role and member, in the owner's one policy where it has one.
      teeServiceAccount: workload,
      workspaceBucket: this.hubBucket,
      userImages: this.registry.userImages,
      executorBases: this.registry.executorBases,
      stateStore: this.database,
      encryptionKey: this.dataPlane.storageKey,
      provider,
    });
    this.grantOwnerReview();
    // JupyterLab reads stage-1 data as its own Google service account (Workload Identity):
    // bucket get + object get/list, and projects.get for ManaTEE's SDK.
    this.dataPlane.grantSdkStage1Access(this.identity.jupyterMember);
    // The job service verifies approvals before launch; it can never write one.
    this.dataPlane.grantSignatureRead(this.identity.jobServiceMember);
    this.dataPlane.addProvisioningTriggers(this.identity.jobServiceMember);

    if (policy.jobs !== undefined) {
      // Job results leave a TEE only through the verifier: quarantine (TEE create-only) → release.
      this.outputRelease = new OutputRelease(this, "output-release", {
        policy,
        encryptionKey: this.dataPlane.storageKey,
        teeMember: workload.member,
        jobServiceMember: this.identity.jobServiceMember,
        dependsOn: afterApis,
        provider,
      });
    }

    this.cluster = new CleanRoomCluster(this, "cluster", {
      room: policy,
      network: this.network,
      ...props.cluster,
      dependsOn: afterApis,
      provider,
    });
    this.cluster.grantImagePull(this.registry.serviceImages);

    if (props.verifier !== false) {
      // Cloud Storage needs a CMEK in the bucket's location: a verifier placed by `locations.verifier`
      // outside the room's region gets a storage key of its own there.
      const verifierLocation = props.verifier?.region ?? locationOf(policy, "verifier");
      const verifierKey =
        verifierLocation === policy.region
          ? this.dataPlane.storageKey
          : new StorageEncryptionKey(this, "verifier-storage-key", { room: policy, location: verifierLocation, provider });
      this.verifier = new AttestationVerifier(this, "verifier", {
        policy,
        jobServiceMember: this.identity.jobServiceMember,
        // Audit records and the verifier's artifacts are encrypted with the room's storage key.
        encryptionKey: verifierKey,
        dependsOn: afterApis,
        ...props.verifier,
        outputRelease: this.outputRelease,
        provider,
      });
      // The job runner in the TEE calls /v1/release with an ID token of the TEE service account
      // (job-service/src/executor-base.ts); ingress stays internal (Private Google Access on the TEE subnet).
      this.verifier.grantInvoke(workload.member, { id: "invoker-tee" });
      // A provisioning image's output is released into its dataset's stage-1 bucket (create only, provisioned/).
      if (this.outputRelease) this.dataPlane.grantProvisionedRelease(this.verifier.serviceAccount.member);
    }

    this.outputs = this.collectOutputs();
    if (props.outputs ?? true) this.terraformOutputs.push(...declareTerraformOutputs(this, outputEntries(this.outputs, CLEAN_ROOM_OUTPUT_NAMES)));
    this.nameOutputs();
  }

  /**
   * What a data owner needs to review and approve jobs with their own credentials
   * (`manatee jobs show|approve|reject --config`, docs/job-path.md), besides the signer and
   * writer grants of their dataset's approver key and signature repository: read job images
   * (user-images) and the executor bases they are checked against, and read the job service's
   * review records, only those (`reviews/` in the hub bucket, by an IAM condition). Nothing else.
   */
  private grantOwnerReview(): void {
    const owners = [...new Set(this.policy.datasets.flatMap((d) => d.owners))].sort();
    const condition = ownerReviewCondition(this.policy);
    for (const owner of owners) {
      this.registry.userImages.grantPull(owner);
      this.registry.executorBases.grantPull(owner);
      this.hubBucket.grantRead(owner, condition);
    }
  }

  /** This room's Terraform outputs, to give them per-room names when a stack holds several rooms. */
  private readonly terraformOutputs: TerraformOutput[] = [];

  /**
   * Output names stay `cluster_name`, … for the one room of a stack (deployed rooms keep them); in a
   * stack with several rooms, every room's outputs are prefixed by its name (`<room>_cluster_name`),
   * so no room overwrites another's.
   */
  private nameOutputs(): void {
    const rooms = TerraformStack.of(this).node.findAll().filter((c): c is CleanRoom => c instanceof CleanRoom && c.terraformOutputs.length > 0);
    if (rooms.length < 2) return;
    for (const room of rooms) {
      for (const o of room.terraformOutputs) o.overrideLogicalId(`${room.policy.name.replace(/-/g, "_")}_${o.node.id}`);
    }
  }

  private collectOutputs(): CleanRoomOutputs {
    const { cluster, registry, verifier, outputRelease } = this;
    return {
      clusterName: cluster.name,
      clusterLocation: cluster.location,
      clusterEndpoint: cluster.dnsEndpoint ?? cluster.endpoint,
      hubBucket: this.hubBucket.bucketName,
      datasets: datasetOutputsOf(this.dataPlane.datasets),
      workloadIdentityProvider: this.dataPlane.pool.credentialAudience,
      teeServiceAccount: this.dataPlane.workload.serviceAccountEmail,
      serviceImagesRegistry: registry.serviceImages.url,
      executorBasesRegistry: registry.executorBases.url,
      userImagesRegistry: registry.userImages.url,
      jobStateDatabase: this.database.resourceName,
      ...(verifier ? { verifierUrl: verifier.url, receiptsJwksUrl: verifier.jwksUrl } : {}),
      ...(outputRelease ? { quarantineBucket: outputRelease.quarantineBucketName, releaseBucket: outputRelease.releaseBucketName } : {}),
    };
  }
}
