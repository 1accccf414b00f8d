/**
 * The output release's Google side (attestation-verifier/README.md, "Output release"): results
 * leave a TEE only through the verifier. A job VM writes them create-only into the quarantine
 * bucket; the verifier reads them there, checks them against the attested manifest and copies
 * them into the release bucket; the job service hands researchers signed URLs of the copies.
 *
 * | who | quarantine bucket | release bucket |
 * |---|---|---|
 * | TEE service account | `storage.objects.create` (custom role) | nothing |
 * | verifier | `roles/storage.objectViewer` (get, list) | `storage.objects.create`, `get`, `list` (custom role) |
 * | job service | nothing | `roles/storage.objectViewer` (get, list) |
 *
 * Nobody holds `storage.objects.delete` on either bucket, so nobody can delete or overwrite an
 * object: Cloud Storage requires `storage.objects.delete` as well as `create` to replace an
 * existing object (cloud.google.com/storage/docs/access-control/iam-permissions), which is why
 * create-only really is create-only. Objects leave by lifecycle only.
 */
import { ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { ProjectIamCustomRole } from "@cdktf/provider-google/lib/project-iam-custom-role";
import { requireGrantableMember, requireInResidency } from "../../internal/common";
import { IamGrant } from "../iam-grants";
import { VerifierReleaseSettings, verifierReleaseSettings } from "../../policy/document";
import { CleanRoomPolicy, DEFAULT_RETENTION_DAYS } from "../../policy/model";
import { jobInstancePrefix, outputReleaseNames, platformNames } from "../../policy/names";
import { BucketEncryptionKey, CleanRoomBucket } from "./buckets";
import { InvalidPropsError } from "../../errors";

/** Quarantined results are transient: never kept longer than this, whatever the datasets allow. */
export const MAX_QUARANTINE_DAYS = 30;

/** What the TEE may do on the quarantine bucket: add objects. No get, list, delete (so no overwrite). */
export const QUARANTINE_WRITER_PERMISSIONS = ["storage.objects.create"] as const;

/**
 * What the verifier may do on the release bucket: create the replay marker (`ifGenerationMatch=0`),
 * the copies and the receipt; get the marker (replay check); list, so that a missing marker is a
 * 404 and not a 403 (Cloud Storage hides absence from callers who cannot list). No delete.
 */
export const RELEASE_WRITER_PERMISSIONS = ["storage.objects.create", "storage.objects.get", "storage.objects.list"] as const;

export interface OutputReleaseProps {
  /** The clean room's policy: names, region, residency and dataset retention. */
  readonly policy: CleanRoomPolicy;
  /** CMEK of both buckets, in their location: the room's `StorageEncryptionKey`, as on the data buckets. */
  readonly encryptionKey: BucketEncryptionKey;
  /**
   * The TEE's service account, the only writer of the quarantine bucket. A token such as
   * `ServiceAccount.member` makes the grant wait for the account.
   * @default `serviceAccount:` + platformNames(policy).teeSaEmail
   */
  readonly teeMember?: string;
  /**
   * The job service's service account, the only reader of the release bucket besides the verifier.
   * @default `serviceAccount:` + platformNames(policy).jobServiceSaEmail
   */
  readonly jobServiceMember?: string;
  /** Location of both buckets; must lie in `policy.residency`. @default policy.region */
  readonly location?: string;
  /**
   * Days after which quarantined objects are deleted (released or not). At most the shortest
   * dataset `retentionDays` and at most 30.
   * @default min(shortest dataset retentionDays, 30)
   */
  readonly quarantineRetentionDays?: number;
  /**
   * Days after which released objects (and receipts and replay markers) are deleted. At most the
   * shortest dataset `retentionDays`: a job's results derive from every dataset it read.
   * @default the shortest dataset retentionDays
   */
  readonly releaseRetentionDays?: number;
  /** Resources the custom roles wait for (e.g. `CleanRoomApis.dependables`); the buckets wait for the CMEK grant. @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/** Options of `OutputRelease.grantVerifier`. */
export interface OutputReleaseVerifierGrantOptions {
  /** Construct id prefix of the grants; required when the member is a token. @default "verifier" */
  readonly id?: string;
}

function fail(prop: string, message: string): never {
  throw new InvalidPropsError(`OutputRelease: ${prop} ${message}`);
}

function requireServiceAccount(prop: string, member: string): void {
  requireGrantableMember(member, `OutputRelease: ${prop}`);
  if (!Token.isUnresolved(member) && !member.startsWith("serviceAccount:")) {
    fail(prop, `is "${member}"; it must be a service account ("serviceAccount:<email>"): only the room's own identities touch these buckets.`);
  }
}

function requireDays(prop: string, value: number, max: number, why: string): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    fail(prop, `is ${value}; use a whole number of days from 1 to ${max} (${why}).`);
  }
}

/**
 * The quarantine and release buckets of the output release and every grant on them, least
 * privilege. The verifier's grants are made by `grantVerifier` (the `AttestationVerifier`
 * calls it with its own service account).
 */
export class OutputRelease extends Construct {
  /** Where job VMs put results, create-only. */
  public readonly quarantine: CleanRoomBucket;
  /** Where the verifier copies approved results; the job service signs download URLs of them. */
  public readonly release: CleanRoomBucket;
  public readonly quarantineBucketName: string;
  public readonly releaseBucketName: string;
  /** `<instancePrefix>-<job uuid>`: the only VM name that may release a job (jobInstancePrefix(policy)). */
  public readonly instancePrefix: string;
  /** What the verifier policy document carries as `release`; equal to compileVerifierPolicy(policy).document.release. */
  public readonly settings: VerifierReleaseSettings;
  public readonly quarantineWriterRole: ProjectIamCustomRole;
  public readonly releaseWriterRole: ProjectIamCustomRole;
  public readonly quarantineRetentionDays: number;
  public readonly releaseRetentionDays: number;
  /** The grants made so far (TEE, job service, then the verifier's once granted). */
  public readonly grants: IamGrant[] = [];
  private verifierGranted?: string;

  constructor(scope: Construct, id: string, props: OutputReleaseProps) {
    super(scope, id);
    const { policy, provider } = props;
    if (policy.jobs === undefined) {
      fail("policy", `has no "jobs" section, so its verifier document has no release settings. Build the policy with normalizePolicy (which sets jobs) or do not create an OutputRelease.`);
    }
    if (props.encryptionKey === undefined) {
      fail("encryptionKey", "is required: released results are clean-room data. Pass the room's StorageEncryptionKey.");
    }
    const location = props.location ?? policy.region;
    requireInResidency(location, policy.residency, "OutputRelease: location");

    // A job may read any dataset of the room: its results keep the strictest promise.
    const datasetDays = policy.datasets.length > 0 ? Math.min(...policy.datasets.map((d) => d.retentionDays)) : DEFAULT_RETENTION_DAYS;
    const quarantineMax = Math.min(datasetDays, MAX_QUARANTINE_DAYS);
    this.quarantineRetentionDays = props.quarantineRetentionDays ?? quarantineMax;
    requireDays("quarantineRetentionDays", this.quarantineRetentionDays, quarantineMax, `the shortest dataset retentionDays, at most ${MAX_QUARANTINE_DAYS}`);
    this.releaseRetentionDays = props.releaseRetentionDays ?? datasetDays;
    requireDays("releaseRetentionDays", this.releaseRetentionDays, datasetDays, "the shortest dataset retentionDays: released results derive from every dataset a job read");

    const names = platformNames(policy);
    const teeMember = props.teeMember ?? `serviceAccount:${names.teeSaEmail}`;
    const jobServiceMember = props.jobServiceMember ?? `serviceAccount:${names.jobServiceSaEmail}`;
    requireServiceAccount("teeMember", teeMember);
    requireServiceAccount("jobServiceMember", jobServiceMember);
    if (!Token.isUnresolved(teeMember) && teeMember === jobServiceMember) {
      fail("jobServiceMember", `is the TEE's account "${teeMember}": the job service must not be able to write quarantine, nor the TEE read releases.`);
    }

    const release = verifierReleaseSettings(policy)!;
    this.settings = release;
    this.instancePrefix = jobInstancePrefix(policy);
    const releaseNames = outputReleaseNames(policy);
    const after = props.dependsOn ?? [];

    // Both buckets use CleanRoomBucket's hardened baseline (uniform access, public access
    // prevention enforced, CMEK, no force-destroy, residency). Purpose "hub" is its support-bucket
    // kind: retention by expireAfterDays, no dataset label (a job may read several datasets).
    const bucket = (bucketId: string, bucketName: string, days: number, use: string) =>
      new CleanRoomBucket(this, bucketId, {
        room: policy,
        purpose: "hub",
        bucketName,
        location,
        encryptionKey: props.encryptionKey,
        expireAfterDays: days,
        // Off: deleted objects would outlive the retention by the soft-delete window.
        softDeleteDays: 0,
        // On: nobody holds storage.objects.delete, so versions only ever come from lifecycle or an
        // administrator's mistake; the lifecycle deletes noncurrent versions after `days` too.
        versioning: true,
        labels: { use },
        // Results guard data as stage 2 does: one policy per bucket, exactly the grants below.
        iam: "authoritative",
        provider,
      });
    this.quarantine = bucket("quarantine", release.quarantineBucket, this.quarantineRetentionDays, "output-quarantine");
    this.release = bucket("release", release.releaseBucket, this.releaseRetentionDays, "output-release");
    this.quarantineBucketName = this.quarantine.bucketName;
    this.releaseBucketName = this.release.bucketName;

    const role = (roleId: string, customRoleId: string, title: string, description: string, permissions: readonly string[]) =>
      new ProjectIamCustomRole(this, roleId, {
        project: policy.project,
        roleId: customRoleId,
        title: title.slice(0, 100),
        description,
        permissions: [...permissions],
        stage: "GA",
        dependsOn: after.length > 0 ? after : undefined,
        provider,
      });
    // Two roles, two calls alike in shape: each states its own permissions and why (a table would hide them).
    this.quarantineWriterRole = role(
      "quarantine-writer-role",
      releaseNames.quarantineWriterRoleId,
      `Output quarantine writer (${policy.name})`,
      "Job VMs add results to the output quarantine: create only, no read, no list, no delete (hence no overwrite).",
      QUARANTINE_WRITER_PERMISSIONS,
    );
    this.releaseWriterRole = role(
      "release-writer-role",
      releaseNames.releaseWriterRoleId,
      `Output release writer (${policy.name})`,
      "The attestation verifier creates replay markers, released copies and receipts; reads markers. No delete (hence no overwrite).",
      RELEASE_WRITER_PERMISSIONS,
    );

    this.grants.push(
      // objects.create only: not roles/storage.objectCreator, which adds multipart-upload and
      // managed-folder permissions the runner's single create-only upload does not use.
      this.quarantine.grantCustomRole(this.quarantineWriterRole.name, teeMember, { id: "tee-creates" }),
      // get + list: GcsReleasedOutputs lists <job>/ and signs URLs as itself (JobServiceIdentity
      // already grants it roles/iam.serviceAccountTokenCreator on its own account only).
      this.release.grantRead(jobServiceMember, { id: "job-service-reads" }),
    );
  }

  /**
   * The verifier's grants: read the quarantine bucket (`roles/storage.objectViewer`: get, and
   * list so a missing object is reported as missing) and the release writer role on the release
   * bucket. At most one verifier per release.
   */
  public grantVerifier(member: string, options: OutputReleaseVerifierGrantOptions = {}): IamGrant[] {
    requireServiceAccount("grantVerifier(member)", member);
    const prefix = options.id ?? "verifier";
    if (this.verifierGranted !== undefined && this.verifierGranted !== prefix) {
      fail("grantVerifier(member)", `was already called (id "${this.verifierGranted}"): one verifier releases a room's results.`);
    }
    this.verifierGranted = prefix;
    const grants = [
      this.quarantine.grantRead(member, { id: `${prefix}-reads-quarantine` }),
      this.release.grantCustomRole(this.releaseWriterRole.name, member, { id: `${prefix}-writes-release` }),
    ];
    for (const g of grants) if (!this.grants.includes(g)) this.grants.push(g);
    return grants;
  }
}
