/**
 * The AttestationVerifier construct: the function, its service account, receipt-signing key,
 * content-addressed source and policy objects, build identity, public JWKS bucket, invoker IAM
 * and audit sink (DESIGN.md §4, §6).
 *
 * Why its own file: this is the resource graph alone; its props (props.ts), their validation
 * (settings.ts), the bundle (bundle.ts) and the runtime contract (contract.ts) live beside it.
 */
import { AssetType, ITerraformDependable, dependable, TerraformAsset, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { Cloudfunctions2Function } from "@cdktf/provider-google/lib/cloudfunctions2-function";
import { CloudRunV2ServiceIamMember } from "@cdktf/provider-google/lib/cloud-run-v2-service-iam-member";
import { KmsKeyRing } from "@cdktf/provider-google/lib/kms-key-ring";
import { LoggingProjectSink } from "@cdktf/provider-google/lib/logging-project-sink";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { StorageBucket } from "@cdktf/provider-google/lib/storage-bucket";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member";
import { StorageBucketObject } from "@cdktf/provider-google/lib/storage-bucket-object";
import { ArtifactRegistryRepository } from "@cdktf/provider-google/lib/artifact-registry-repository";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { COMPONENT, PUBLIC_JWKS_USE, GrantOptions, cleanRoomLabels, conditionBlock, grantIdFor, toGrantOptions } from "../../internal/common";
import { IamCondition } from "../../policy/members";
import { CompiledVerifierPolicy, compileVerifierPolicy } from "../../policy/document";
import { fitName, platformNames, resourceName } from "../../policy/names";
import { CleanRoomBucket } from "../data-plane/buckets";
import { bundleZip } from "./bundle";
import { movedFrom } from "./moved";
import { ReceiptKey } from "./receipt-key";
import { BUDGET_RECORD_PREFIX, PUBLIC_JWKS_OBJECT, REPLAY_MARKER_PREFIX, VERIFIER_ENV, VERIFIER_LOG_ID } from "./contract";
import { AttestationVerifierProps } from "./props";
import { DEFAULTS, fail, requireMember, resolveSettings } from "./settings";
import { terraformText } from "../../internal/literal-text";

/** Component label of the function and its artifacts bucket (not data, not audit). */
const VERIFIER_COMPONENT = COMPONENT.verifier;
const POLICY_PREFIX = "policy-";
const SOURCE_PREFIX = "verifier-";

/**
 * The attestation verifier function with everything it needs and nothing more: its own
 * service account, an asymmetric receipt-signing key, the compiled policy delivered as a
 * content-addressed object, invoker IAM on the underlying Cloud Run service, and a log
 * sink that keeps every decision in an audit bucket under a retention policy.
 */
export class AttestationVerifier extends Construct {
  /** The Cloud Functions gen2 function. */
  public readonly function: Cloudfunctions2Function;
  /** HTTPS endpoint (the underlying Cloud Run service's URI). */
  public readonly url: string;
  /**
   * Where relying parties fetch the receipts' public keys without credentials:
   * `https://storage.googleapis.com/<jwks bucket>/jwks.json` (or `<url>/v1/jwks` with `publicJwks: false`).
   */
  public readonly jwksUrl: string;
  /** Region of the function, its key ring and buckets. */
  public readonly location: string;
  /** The dedicated public bucket holding only `jwks.json` (absent with `publicJwks: false`). */
  public readonly jwksBucket?: StorageBucket;
  /** The service account that builds the function (absent when `function.buildServiceAccount` names one). */
  public readonly buildServiceAccount?: ServiceAccount;
  /** Where the build pushes the function's image (absent when `function.buildServiceAccount` names one). */
  public readonly imageRepository?: ArtifactRegistryRepository;
  /** The function's runtime identity. */
  public readonly serviceAccount: ServiceAccount;
  /** The key ring, when this construct created it. */
  public readonly receiptKeyRing?: KmsKeyRing;
  /** The receipt-signing key (EC P-256, asymmetric sign); only `serviceAccount` may sign with it. */
  public readonly receiptKey: ReceiptKey;
  /** Full name of the key version the function signs with. */
  public readonly receiptKeyVersionName: string;
  /** Holds the function's source zip and its policy objects. */
  public readonly artifactsBucket: StorageBucket;
  public readonly sourceObject: StorageBucketObject;
  public readonly policyObject: StorageBucketObject;
  /** The compiled verifier policy (document, canonical JSON, sha256). */
  public readonly policy: CompiledVerifierPolicy;
  /** Hex SHA-256 of the delivered policy JSON. */
  public readonly policySha256: string;
  /** Deterministic hash of the source directory; names the source object. */
  public readonly assetHash: string;
  /** The audit bucket (retention-locked by default), when this construct created it. */
  public readonly auditBucket?: CleanRoomBucket;
  /** Name of the bucket decisions are routed to (created or existing). */
  public readonly auditBucketName: string;
  /** Routes the function's decision records to the audit bucket. */
  public readonly auditSink: LoggingProjectSink;
  /** Quarantine and release bucket names from the policy document's `release`, when it has one. */
  public readonly quarantineBucketName?: string;
  public readonly releaseBucketName?: string;
  /** The verifier's grants on the release buckets (read quarantine, create-only on release). */
  public readonly releaseGrants: readonly ITerraformDependable[];

  private readonly provider?: TerraformProvider;
  private readonly project: string;
  private readonly region: string;

  constructor(scope: Construct, id: string, props: AttestationVerifierProps) {
    super(scope, id);
    const { policy, provider } = props;
    const project = policy.project;
    this.provider = provider;
    this.project = project;

    const { region, sourceDir, keyOpts, auditOpts, ...settings } = resolveSettings(props);
    this.region = region;
    this.location = region;

    // ---- names
    const room = policy.name;
    const names = {
      function: resourceName("cloudFunction", room, "verifier"),
      serviceAccountId: platformNames(policy).verifierSaId,
      keyRing: resourceName("keyRing", room, "verifier"),
      key: resourceName("cryptoKey", room, "receipts"),
      artifactsBucket: resourceName("bucket", project, room, "verifier"),
      auditBucket: resourceName("bucket", project, room, "verifier-audit"),
      sink: fitName(`${room}-verifier-decisions`, 100),
      jwksBucket: resourceName("bucket", project, room, "receipt-jwks"),
      buildSaId: resourceName("serviceAccountId", room, "verifier-build"),
      imageRepository: resourceName("artifactRepository", room, "verifier-images"),
    };
    const bucketLocation = Token.isUnresolved(region) ? region : region.toUpperCase();
    const encryption = props.encryptionKey ? { defaultKmsKeyName: props.encryptionKey.cryptoKeyId } : undefined;
    const after = props.dependsOn ?? [];
    const bucketDeps = [
      ...after,
      ...(props.encryptionKey?.serviceAgentGrant ? [props.encryptionKey.serviceAgentGrant] : []),
    ];
    const orUndefined = (deps: ITerraformDependable[]) => (deps.length > 0 ? deps : undefined);

    // ---- identity
    this.serviceAccount = new ServiceAccount(this, "sa", {
      provider,
      project,
      accountId: names.serviceAccountId,
      displayName: `Attestation verifier of clean room ${room}`,
      description: "Runtime identity of the attestation verifier: signs release receipts, reads its policy.",
      dependsOn: orUndefined(after),
    });

    // ---- receipt-signing key
    if (keyOpts.keyRing === undefined) {
      this.receiptKeyRing = new KmsKeyRing(this, "key-ring", {
        provider,
        project,
        name: names.keyRing,
        location: region,
        dependsOn: orUndefined(after),
      });
    }
    // The verifier's service account is the key's one signer (signerVerifier: sign, and read the
    // public key for the JWKS), on this key only.
    this.receiptKey = new ReceiptKey(this, "receipt-key", {
      provider,
      room,
      keyName: names.key,
      keyRingId: keyOpts.keyRing ?? this.receiptKeyRing!.id,
      signer: this.serviceAccount.member,
      protectionLevel: settings.protectionLevel,
      destroyScheduledDuration: settings.destroyScheduledDuration,
      preventDestroy: keyOpts.preventDestroy ?? true,
      dependsOn: after,
    });
    movedFrom(this.receiptKey.key, this, "receipt-key");
    movedFrom(this.receiptKey.signerGrant, this, "sa-signs-receipts");
    const signGrant = this.receiptKey.signerGrant;
    this.receiptKeyVersionName = `${this.receiptKey.cryptoKeyId}/cryptoKeyVersions/${settings.keyVersion}`;

    // ---- artifacts: source zip and policy, content-addressed
    // No age-based lifecycle rule: it would delete the live zip and policy. Names are
    // content-addressed, so Terraform replaces (and deletes) the old objects itself.
    this.artifactsBucket = new StorageBucket(this, "artifacts", {
      provider,
      project,
      name: names.artifactsBucket,
      location: bucketLocation,
      storageClass: "STANDARD",
      uniformBucketLevelAccess: true,
      publicAccessPrevention: "enforced",
      forceDestroy: false,
      encryption,
      dependsOn: orUndefined(bucketDeps),
      labels: cleanRoomLabels(room, VERIFIER_COMPONENT),
    });

    const bundle = bundleZip(sourceDir);
    this.assetHash = bundle.hash;
    const asset = new TerraformAsset(this, "bundle", {
      path: bundle.zipPath,
      type: AssetType.FILE,
      assetHash: this.assetHash,
    });
    // create_before_destroy: the new object exists before the function moves to it, and
    // the old one is deleted only after the new revision serves.
    this.sourceObject = new StorageBucketObject(this, "source", {
      provider,
      bucket: this.artifactsBucket.name,
      name: `${SOURCE_PREFIX}${this.assetHash}.zip`,
      source: asset.path,
      contentType: "application/zip",
      lifecycle: { createBeforeDestroy: true },
    });

    this.policy = compileVerifierPolicy(policy);
    this.policySha256 = this.policy.sha256;
    this.policyObject = new StorageBucketObject(this, "policy", {
      provider,
      bucket: this.artifactsBucket.name,
      name: `${POLICY_PREFIX}${this.policy.sha256}.json`,
      content: terraformText(this.policy.json),
      contentType: "application/json",
      lifecycle: { createBeforeDestroy: true },
    });
    // Bucket IAM is the finest grain under uniform access; the condition narrows it to
    // the policy objects (not the source zip). A prefix, not the exact object, so a new
    // policy needs no IAM change (and no propagation delay) before the new revision reads it.
    const policyGrant = new StorageBucketIamMember(this, "sa-reads-policy", {
      provider,
      bucket: this.artifactsBucket.name,
      role: "roles/storage.objectViewer",
      member: this.serviceAccount.member,
      condition: {
        title: "verifier-policy-objects",
        description: "The verifier reads its policy documents only",
        expression: `resource.name.startsWith("projects/_/buckets/${names.artifactsBucket}/objects/${POLICY_PREFIX}")`,
      },
    });

    // ---- output release: the document names the buckets; the function reads them from there
    // (config.ts needs no variable: with policy.release it uses Cloud Storage as its own account).
    this.quarantineBucketName = this.policy.document.release?.quarantineBucket;
    this.releaseBucketName = this.policy.document.release?.releaseBucket;
    this.releaseGrants = props.outputRelease ? props.outputRelease.grantVerifier(this.serviceAccount.member) : [];

    // ---- the build: its own identity with exactly what a Cloud Functions build needs
    // (cloud.google.com/functions/docs/securing/build-custom-sa): read the source object, push the
    // function's image to a repository of its own, write build logs. Not the project's default build
    // service account, whose roles new projects no longer grant (and orgs often disable).
    let buildServiceAccount = settings.buildServiceAccount;
    const buildGrants: ITerraformDependable[] = [];
    if (buildServiceAccount === undefined) {
      const buildSa = new ServiceAccount(this, "build-sa", {
        provider,
        project,
        accountId: names.buildSaId,
        displayName: `Verifier build of clean room ${room}`,
        description: "Cloud Build identity of the attestation verifier's function: reads its source, pushes its image, writes build logs.",
        dependsOn: orUndefined(after),
      });
      this.buildServiceAccount = buildSa;
      this.imageRepository = new ArtifactRegistryRepository(this, "images", {
        provider,
        project,
        location: region,
        repositoryId: names.imageRepository,
        format: "DOCKER",
        description: `Clean room ${room}: images of the attestation verifier function (built by Cloud Functions)`,
        labels: cleanRoomLabels(room, VERIFIER_COMPONENT),
        cleanupPolicies: [{ id: "keep-recent", action: "KEEP", mostRecentVersions: { keepCount: 5 } }],
        dependsOn: orUndefined(after),
      });
      buildGrants.push(
        new StorageBucketIamMember(this, "build-reads-source", {
          provider,
          bucket: this.artifactsBucket.name,
          role: "roles/storage.objectViewer",
          member: buildSa.member,
          condition: {
            title: "verifier-source-objects",
            description: "The verifier build reads its source zips only",
            expression: `resource.name.startsWith("projects/_/buckets/${names.artifactsBucket}/objects/${SOURCE_PREFIX}")`,
          },
        }),
        new ArtifactRegistryRepositoryIamMember(this, "build-pushes-image", {
          provider,
          project,
          location: region,
          repository: this.imageRepository.name,
          role: "roles/artifactregistry.writer",
          member: buildSa.member,
        }),
        // Cloud Logging has no finer grain than the project for writing log entries.
        new ProjectIamMember(this, "build-writes-logs", { provider, project, role: "roles/logging.logWriter", member: buildSa.member }),
      );
      buildServiceAccount = buildSa.id;
    }

    // ---- the public receipt JWKS: a dedicated bucket, public read, nothing else in it
    let jwksGrant: StorageBucketIamMember | undefined;
    if (props.publicJwks ?? true) {
      this.jwksBucket = new StorageBucket(this, "jwks", {
        provider,
        project,
        name: names.jwksBucket,
        location: bucketLocation,
        storageClass: "STANDARD",
        uniformBucketLevelAccess: true,
        // Not "enforced": this bucket's one purpose is public read (MCR-GCS2/MCR-IAM1 exception).
        publicAccessPrevention: "inherited",
        forceDestroy: true,
        versioning: { enabled: false },
        // Public keys only: no CMEK, nothing secret to protect; it holds no clean-room data.
        labels: { ...cleanRoomLabels(room, COMPONENT.receiptJwks), use: PUBLIC_JWKS_USE },
        dependsOn: orUndefined(after),
      });
      new StorageBucketIamMember(this, "jwks-public-read", {
        provider,
        bucket: this.jwksBucket.name,
        role: "roles/storage.objectViewer",
        member: "allUsers",
      });
      // Create and replace jwks.json (objectUser: get, create, delete), on that object only.
      jwksGrant = new StorageBucketIamMember(this, "sa-publishes-jwks", {
        provider,
        bucket: this.jwksBucket.name,
        role: "roles/storage.objectUser",
        member: this.serviceAccount.member,
        condition: {
          title: "verifier-receipt-jwks",
          description: "The verifier writes its receipt JWKS object only",
          expression: `resource.name == "projects/_/buckets/${names.jwksBucket}/objects/${PUBLIC_JWKS_OBJECT}"`,
        },
      });
    }

    // ---- the audit bucket: decision records (the sink below) and the once-only markers of /v1/verify
    if (auditOpts.existingBucketName === undefined) {
      this.auditBucket = new CleanRoomBucket(this, "audit", {
        provider,
        room: policy,
        purpose: "audit",
        bucketName: names.auditBucket,
        location: region,
        encryptionKey: props.encryptionKey,
        // Retention, not versioning: records can be neither deleted nor overwritten in time; locked,
        // so not even the project's owners can shorten it.
        retentionPolicy: { days: settings.retentionDays, locked: auditOpts.lockRetention ?? policy.audit?.lockRetention ?? true },
      });
      if (after.length > 0) this.auditBucket.bucket.dependsOn = [...(this.auditBucket.bucket.dependsOn ?? []), ...after.map(dependable)];
      movedFrom(this.auditBucket.bucket, this, "audit");
    }
    this.auditBucketName = this.auditBucket?.bucket.name ?? auditOpts.existingBucketName!;
    const auditPrefixGrant = (id: string, role: string, prefix: string, title: string, description: string) =>
      new StorageBucketIamMember(this, id, {
        provider,
        bucket: this.auditBucketName,
        role,
        member: this.serviceAccount.member,
        condition: { title, description, expression: `resource.name.startsWith("projects/_/buckets/${this.auditBucket?.bucketName ?? auditOpts.existingBucketName}/objects/${prefix}")` },
      });
    // Create-only (objectCreator: no read, no overwrite, no delete) under replay/: the markers that
    // make each token's decision once-only across instances (attestation-verifier/src/replay.ts).
    const replayGrant = auditPrefixGrant("sa-marks-decisions", "roles/storage.objectCreator", REPLAY_MARKER_PREFIX, "verifier-replay-markers", "The verifier creates its once-only decision markers only");
    // The budget ledger (attestation-verifier/src/budget.ts) reads its records by name and creates
    // the next one (create-only: no overwrite, no delete), under budget/ only; only rooms with a
    // budget get it, so a room without one keeps the verifier blind to the rest of the bucket.
    const budgetGrants = Object.keys(this.policy.document.budgets ?? {}).length === 0 ? [] : [
      auditPrefixGrant("sa-reads-budget", "roles/storage.objectViewer", BUDGET_RECORD_PREFIX, "verifier-budget-read", "The verifier reads its privacy-budget ledger only"),
      auditPrefixGrant("sa-records-budget", "roles/storage.objectCreator", BUDGET_RECORD_PREFIX, "verifier-budget-records", "The verifier appends to its privacy-budget ledger only"),
    ];

    // ---- the function
    // No roles/logging.logWriter: Cloud Run ships stdout/stderr to Cloud Logging itself;
    // the verifier writes its decision records to stdout as structured JSON.
    this.function = new Cloudfunctions2Function(this, "function", {
      provider,
      project,
      location: region,
      name: names.function,
      description: `Attestation verifier (policy decision point) of clean room ${room}`,
      labels: cleanRoomLabels(room, VERIFIER_COMPONENT),
      buildConfig: {
        runtime: settings.runtime,
        entryPoint: DEFAULTS.entryPoint,
        serviceAccount: buildServiceAccount,
        ...(this.imageRepository ? { dockerRepository: this.imageRepository.id } : {}),
        source: { storageSource: { bucket: this.artifactsBucket.name, object: this.sourceObject.name } },
      },
      serviceConfig: {
        serviceAccountEmail: this.serviceAccount.email,
        ingressSettings: settings.ingress,
        minInstanceCount: 0,
        maxInstanceCount: settings.maxInstances,
        availableMemory: settings.memory,
        timeoutSeconds: settings.timeoutSeconds,
        allTrafficOnLatestRevision: true,
        environmentVariables: {
          // References (not literals): the function waits for the policy object.
          [VERIFIER_ENV.policyUri]: `gs://${this.policyObject.bucket}/${this.policyObject.name}`,
          [VERIFIER_ENV.policySha256]: this.policy.sha256,
          [VERIFIER_ENV.kmsKeyVersion]: this.receiptKeyVersionName,
          [VERIFIER_ENV.auditBucket]: this.auditBucketName,
          ...(this.jwksBucket ? { [VERIFIER_ENV.publicJwksUri]: `gs://${names.jwksBucket}/${PUBLIC_JWKS_OBJECT}` } : {}),
        },
      },
      // The first revision starts (and loads its policy and key, publishes its JWKS) with its grants in place;
      // the build waits for its own.
      dependsOn: [...after, signGrant, policyGrant, replayGrant, ...budgetGrants, ...this.releaseGrants, ...buildGrants, ...(jwksGrant ? [jwksGrant] : []), ...(this.jwksBucket ? [this.jwksBucket] : [])],
    });
    this.url = this.function.serviceConfig.uri;
    this.jwksUrl = this.jwksBucket
      ? `https://storage.googleapis.com/${names.jwksBucket}/${PUBLIC_JWKS_OBJECT}`
      : `${this.url}/v1/jwks`;

    // ---- invokers
    if (props.jobServiceMember !== undefined) this.grantInvoke(props.jobServiceMember, { id: "invoker-job-service" });
    for (const member of [...policy.researchers, ...(props.invokers ?? [])]) {
      // One binding, one resource: destroying a duplicate would revoke the other.
      if (member !== props.jobServiceMember) this.grantInvoke(member);
    }

    // ---- audit trail: the decision records the function writes to stdout, and nothing else
    this.auditSink = new LoggingProjectSink(this, "audit-sink", {
      provider,
      project,
      name: names.sink,
      description: `Decision records of the attestation verifier of clean room ${room}`,
      destination: `storage.googleapis.com/${this.auditBucketName}`,
      // The verifier writes its records as JSON lines on stdout (audit.ts), which Cloud Run (under
      // Cloud Functions gen2) ships as the log run.googleapis.com/stdout: pinning that log, with the
      // service and the component, keeps entries written under any other log name (by anyone holding
      // logging.logEntries.create) out of the audit trail. The receipts and the replay markers, not
      // the logs, are what no log writer can forge.
      filter: [
        `logName="projects/${project}/logs/${VERIFIER_LOG_ID}"`,
        `resource.type="cloud_run_revision"`,
        `resource.labels.service_name="${names.function}"`,
        `jsonPayload.component="manatee-attestation-verifier"`,
        `jsonPayload.decision:*`,
      ].join(" AND "),
      uniqueWriterIdentity: true,
      dependsOn: orUndefined(after),
    });
    new StorageBucketIamMember(this, "sink-writes-audit", {
      provider,
      bucket: this.auditBucketName,
      role: "roles/storage.objectCreator",
      member: this.auditSink.writerIdentity,
    });
  }

  /**
   * Allow `member` to call the verifier: `roles/run.invoker` on the function's Cloud Run
   * service. Gen2 functions authorize invocation with `run.routes.invoke` on that service
   * (cloud.google.com/functions/docs/securing/authenticating); `roles/cloudfunctions.invoker`
   * on the function does not let a caller through. Additive; one resource per member and
   * condition however often it is called.
   */
  public grantInvoke(member: string, options?: GrantOptions | IamCondition): CloudRunV2ServiceIamMember {
    const opts = toGrantOptions(options);
    const id = this.grantId("invoker", "grantInvoke(member)", member, opts);
    const existing = this.node.tryFindChild(id);
    if (existing instanceof CloudRunV2ServiceIamMember) return existing;
    return new CloudRunV2ServiceIamMember(this, id, {
      provider: this.provider,
      project: this.project,
      location: this.region,
      name: this.function.serviceConfig.service,
      role: "roles/run.invoker",
      member,
      condition: conditionBlock(opts.condition),
      dependsOn: opts.dependsOn,
    });
  }

  /** Allow `member` (e.g. auditors) to read the decision records. Additive. */
  public grantReadAudit(member: string, options?: GrantOptions | IamCondition): StorageBucketIamMember {
    const opts = toGrantOptions(options);
    const id = this.grantId("audit-reader", "grantReadAudit(member)", member, opts);
    const existing = this.node.tryFindChild(id);
    if (existing instanceof StorageBucketIamMember) return existing;
    return new StorageBucketIamMember(this, id, {
      provider: this.provider,
      bucket: this.auditBucketName,
      role: "roles/storage.objectViewer",
      member,
      condition: conditionBlock(opts.condition),
      dependsOn: opts.dependsOn,
    });
  }

  private grantId(prefix: string, field: string, member: string, opts: GrantOptions): string {
    requireMember(field, member);
    const id = opts.id ?? grantIdFor(prefix, member, opts.condition);
    // A token's placeholder text changes from run to run: it cannot name a resource.
    if (id === undefined) fail(field, "is a token; pass a stable construct id in options.id.");
    return id;
  }
}
