/**
 * Cloud KMS keys of the clean room, on two separate key rings:
 * - dataset keys (`AttestationBoundKey`): the data owner wraps stage-2 data keys with them;
 *   only attested workloads running an approved image may decrypt;
 * - the storage key (`StorageEncryptionKey`): CMEK for the buckets, used by the Cloud Storage
 *   service agent. It must never be a dataset key, or the service agent (and so anyone with
 *   object read) could unwrap what only a TEE should.
 */
import { ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { DataGoogleStorageProjectServiceAccount } from "@cdktf/provider-google/lib/data-google-storage-project-service-account";
import { KmsCryptoKey } from "@cdktf/provider-google/lib/kms-crypto-key";
import { KmsKeyRing } from "@cdktf/provider-google/lib/kms-key-ring";
import { CLEAN_ROOM_LABEL, COMPONENT, CleanRoomRef, ComponentLabel, GrantOptions, cleanRoomLabels, requireGrantableMember, requireInResidency, toGrantOptions } from "../../internal/common";
import { AuthoritativeIamPolicy, IamGrant } from "../iam-grants";
import { DatasetMember, IamCondition } from "../../policy/members";
import { dataPlaneNames, resourceName } from "../../policy/names";
import { InvalidPropsError } from "../../errors";

export const KMS_ROLES = {
  signerVerifier: "roles/cloudkms.signerVerifier",
  publicKeyViewer: "roles/cloudkms.publicKeyViewer",
  decrypter: "roles/cloudkms.cryptoKeyDecrypter",
  encrypter: "roles/cloudkms.cryptoKeyEncrypter",
  encrypterDecrypter: "roles/cloudkms.cryptoKeyEncrypterDecrypter",
} as const;

/** 90 days: the usual default (terraform-google-modules/kms); short enough to bound a leaked key version. */
export const DEFAULT_ROTATION_PERIOD = "7776000s";
/** 30 days: Cloud KMS's own default, spelled out so the window is deliberate and visible. */
export const DEFAULT_DESTROY_SCHEDULED_DURATION = "2592000s";

const DAY = 86_400;
/** Cloud KMS accepts rotation from 1 day; we cap at a year so a key always rotates. */
const ROTATION_RANGE = { min: DAY, max: 365 * DAY };
/** Cloud KMS accepts 24 hours to 120 days in DESTROY_SCHEDULED. */
const DESTROY_RANGE = { min: DAY, max: 120 * DAY };
const KEY_RING_ID = /^projects\/([^/]+)\/locations\/([^/]+)\/keyRings\/([^/]+)$/;

/**
 * `HSM` keeps key material in FIPS 140-2 Level 3 hardware and never exportable; `SOFTWARE`
 * costs less per key version. Either way the IAM decision (who may decrypt) is the same.
 */
export type KeyProtectionLevel = "HSM" | "SOFTWARE";

/** Settings shared by every clean-room key. */
export interface CleanRoomKeyProps {
  /** The clean room (a `CleanRoomPolicy` fits). */
  readonly room: CleanRoomRef;
  /**
   * Cloud KMS location of the key ring; must lie in `room.residency` (so never `global`), and
   * must equal the location of buckets that use the key as CMEK.
   * @default room.region
   */
  readonly location?: string;
  /**
   * An existing key ring, `projects/P/locations/L/keyRings/R`, in `location`.
   * @default - a new key ring is created
   */
  readonly keyRingId?: string;
  /**
   * Rotation period in seconds, e.g. "7776000s"; between 1 day and 365 days.
   * @default "7776000s" (90 days)
   */
  readonly rotationPeriod?: string;
  /**
   * How long destroyed key versions stay recoverable, e.g. "2592000s"; 1 to 120 days.
   * @default "2592000s" (30 days)
   */
  readonly destroyScheduledDuration?: string;
  /**
   * Defaults to HSM: these few keys gate all of the clean room's data, so the key material stays
   * in FIPS 140-2 Level 3 hardware; the cost is a higher monthly price per key version (Cloud HSM
   * pricing), negligible for a handful of keys.
   * @default "HSM"
   */
  readonly protectionLevel?: KeyProtectionLevel;
  /**
   * Terraform `prevent_destroy` on the key: destroying a key destroys every byte it protects.
   * @default true
   */
  readonly preventDestroy?: boolean;
  /** @default room.project */
  readonly project?: string;
  /** @default the provider's default provider */
  readonly provider?: TerraformProvider;
}

/**
 * What the key family shares: key ring, key, validation, and one authoritative IAM policy that
 * holds every grant on the key (a binding added by hand is removed on the next apply).
 */
abstract class CleanRoomKeyBase extends Construct {
  /** The key ring, when this construct created it. */
  public readonly keyRing?: KmsKeyRing;
  public readonly key: KmsCryptoKey;
  /** `projects/P/locations/L/keyRings/R/cryptoKeys/K` */
  public readonly cryptoKeyId: string;
  public readonly keyRingId: string;
  /** Cloud KMS location of the key (a region inside the residency set). */
  public readonly location: string;
  /** The key's one IAM policy: every grant below is a binding of it, nothing else grants on the key. */
  public readonly iamPolicy: AuthoritativeIamPolicy;
  protected readonly provider?: TerraformProvider;

  protected constructor(
    scope: Construct,
    id: string,
    props: CleanRoomKeyProps,
    spec: {
      keyName: string;
      keyRingName: string;
      component: ComponentLabel;
      labels?: Record<string, string>;
      /** Asymmetric signing keys: Cloud KMS rotates only symmetric keys automatically. @default false */
      signing?: boolean;
    },
  ) {
    super(scope, id);
    const { room } = props;
    const project = props.project ?? room.project;
    this.location = props.location ?? room.region;
    this.provider = props.provider;
    requireInResidency(this.location, room.residency, "location");
    const rotationPeriod = props.rotationPeriod ?? DEFAULT_ROTATION_PERIOD;
    const destroyScheduledDuration = props.destroyScheduledDuration ?? DEFAULT_DESTROY_SCHEDULED_DURATION;
    requireSeconds("rotationPeriod", rotationPeriod, ROTATION_RANGE, DEFAULT_ROTATION_PERIOD);
    requireSeconds("destroyScheduledDuration", destroyScheduledDuration, DESTROY_RANGE, DEFAULT_DESTROY_SCHEDULED_DURATION);
    const protectionLevel = props.protectionLevel ?? "HSM";
    if (protectionLevel !== "HSM" && protectionLevel !== "SOFTWARE") {
      throw new InvalidPropsError(`protectionLevel "${protectionLevel}" is not supported. Use "HSM" or "SOFTWARE".`);
    }

    if (props.keyRingId !== undefined) {
      requireKeyRingId(props.keyRingId, this.location);
      this.keyRingId = props.keyRingId;
    } else {
      this.keyRing = new KmsKeyRing(this, "ring", {
        project,
        name: spec.keyRingName,
        location: this.location,
        provider: props.provider,
      });
      this.keyRingId = this.keyRing.id;
    }

    this.key = new KmsCryptoKey(this, "key", {
      name: spec.keyName,
      keyRing: this.keyRingId,
      purpose: spec.signing ? "ASYMMETRIC_SIGN" : "ENCRYPT_DECRYPT",
      rotationPeriod: spec.signing ? undefined : rotationPeriod,
      destroyScheduledDuration,
      versionTemplate: { algorithm: spec.signing ? APPROVER_KEY_ALGORITHM : "GOOGLE_SYMMETRIC_ENCRYPTION", protectionLevel },
      labels: { ...cleanRoomLabels(room.name, spec.component), ...spec.labels },
      lifecycle: { preventDestroy: props.preventDestroy ?? true },
      provider: props.provider,
    });
    this.cryptoKeyId = this.key.id;
    this.iamPolicy = new AuthoritativeIamPolicy(this, "iam", {
      target: { kind: "crypto_key", cryptoKeyId: this.cryptoKeyId },
      provider: props.provider,
    });
  }

  /** A binding of the key's policy (`options.id` is not needed: bindings are not resources). */
  protected addGrant(role: string, member: string, options: GrantOptions): IamGrant {
    requireGrantableMember(member, "member");
    return this.iamPolicy.grant({ role, member, condition: options.condition, dependsOn: options.dependsOn });
  }
}

export interface AttestationBoundKeyProps extends CleanRoomKeyProps {
  /** The dataset this key protects (lowercase letters, digits, '-'). */
  readonly dataset: string;
  /** @default dataPlaneNames(room).datasetKey(dataset): the dataset name */
  readonly keyName?: string;
  /**
   * Name of the key ring created when `keyRingId` is absent. Key ring names can never be reused
   * in a project and location.
   * @default resourceName("keyRing", room.name, dataset)
   */
  readonly keyRingName?: string;
}

/**
 * A dataset's key: the data owner wraps each stage-2 file's data key (DEK) with it; only the
 * principal sets of images approved for this dataset may unwrap, each until its approval
 * expires. Data owners get encrypt-only.
 */
export class AttestationBoundKey extends CleanRoomKeyBase {
  public readonly dataset: string;

  constructor(scope: Construct, id: string, props: AttestationBoundKeyProps) {
    super(scope, id, props, {
      keyName: props.keyName ?? dataPlaneNames(props.room).datasetKey(props.dataset),
      keyRingName: props.keyRingName ?? resourceName("keyRing", props.room.name, props.dataset),
      component: COMPONENT.datasetKey,
      labels: { [CLEAN_ROOM_LABEL.dataset]: props.dataset },
    });
    this.dataset = props.dataset;
  }

  /**
   * `roles/cloudkms.cryptoKeyDecrypter` for each approved image's principal set
   * (`datasetMembers(policy, dataset, pool.poolRef)`), carrying the approval's expiry condition.
   * Anything that is not an image-digest principal set is refused.
   */
  public grantDecryptToApprovedImages(
    members: readonly DatasetMember[],
    options: { readonly dependsOn?: ITerraformDependable[] } = {},
  ): IamGrant[] {
    return members.map((m) => {
      requireDigestPrincipalSet(m);
      return this.addGrant(KMS_ROLES.decrypter, m.member, { condition: m.condition, dependsOn: options.dependsOn });
    });
  }

  /**
   * `roles/cloudkms.cryptoKeyDecrypter` for the dataset's job pool group
   * (`JobApprovalPool.groupPrincipalSet`, `…/group/job-approved`): jobs its owners signed.
   * Anything else, in particular a pool's `/*`, is refused.
   */
  public grantDecryptToJobApprovals(
    groupPrincipalSet: string,
    options: { readonly dependsOn?: ITerraformDependable[] } = {},
  ): IamGrant {
    if (!/^principalSet:\/\/iam\.googleapis\.com\/projects\/[^/]+\/locations\/global\/workloadIdentityPools\/[^/]+\/group\/job-approved$/.test(groupPrincipalSet)) {
      throw new InvalidPropsError(
        `Decrypt member "${groupPrincipalSet}" is not a job pool's approved group. Pass JobApprovalPool.groupPrincipalSet ` +
          `(principalSet://…/workloadIdentityPools/<pool>/group/job-approved), never a whole pool.`,
      );
    }
    return this.addGrant(KMS_ROLES.decrypter, groupPrincipalSet, { dependsOn: options.dependsOn });
  }

  /**
   * Decrypt for the dataset's reader service account in `impersonation` access mode. Only the
   * approved images' principal sets may impersonate that account (CleanRoomDataPlane grants it).
   */
  public grantDecryptToReader(readerMember: string, options?: GrantOptions | IamCondition): IamGrant {
    if (!readerMember.startsWith("serviceAccount:")) {
      throw new InvalidPropsError(
        `grantDecryptToReader member "${readerMember}" is not a service account. Decrypt goes only to ` +
          `approved images (grantDecryptToApprovedImages) or to the dataset's reader service account ("serviceAccount:…").`,
      );
    }
    return this.addGrant(KMS_ROLES.decrypter, readerMember, toGrantOptions(options));
  }

  /** `roles/cloudkms.cryptoKeyEncrypter` for a data owner: wraps data keys, can never unwrap them. */
  public grantEncryptOnly(member: string, options?: GrantOptions | IamCondition): IamGrant {
    return this.addGrant(KMS_ROLES.encrypter, member, toGrantOptions(options));
  }
}

/** Cloud KMS algorithm of approver keys: its signatures are `ECDSA_P256_SHA256` in Confidential Space tokens. */
export const APPROVER_KEY_ALGORITHM = "EC_SIGN_P256_SHA256";

export interface ApproverKeyProps extends Omit<CleanRoomKeyProps, "rotationPeriod"> {
  /** The dataset whose jobs this key approves. */
  readonly dataset: string;
  /**
   * The dataset's owners (IAM principals): the only ones who may sign with the key (and read its
   * public key, to print the fingerprint). Empty: nobody can approve jobs for the dataset.
   */
  readonly owners: readonly string[];
  /** @default dataPlaneNames(room).approverKey(dataset): "<dataset>-approver" */
  readonly keyName?: string;
  /** Key ring created when `keyRingId` is absent. @default resourceName("keyRing", room.name, dataset, "approver") */
  readonly keyRingName?: string;
}

/**
 * A dataset's approver key (docs/job-path.md): `ASYMMETRIC_SIGN`, `EC_SIGN_P256_SHA256`, HSM by
 * default, prevent-destroy. `manatee jobs approve` signs a job image digest with it; the dataset's
 * job pool admits only tokens whose image carries a signature by its fingerprint. Created
 * before the fingerprint is known (the first deploy), so the owner can read it afterwards.
 * Only the owners may sign (`roles/cloudkms.signerVerifier`) or view the public key: in
 * particular never the job service, which must not be able to approve its own jobs.
 * A signature never expires: revoking approvals means a new key version and a new fingerprint.
 */
export class ApproverKey extends CleanRoomKeyBase {
  public readonly dataset: string;
  public readonly owners: readonly string[];
  /** `roles/cloudkms.signerVerifier` per owner. */
  public readonly signerGrants: readonly IamGrant[];
  /** `roles/cloudkms.publicKeyViewer` per owner (prints the fingerprint). */
  public readonly publicKeyGrants: readonly IamGrant[];

  constructor(scope: Construct, id: string, props: ApproverKeyProps) {
    super(scope, id, props, {
      keyName: props.keyName ?? dataPlaneNames(props.room).approverKey(props.dataset),
      keyRingName: props.keyRingName ?? resourceName("keyRing", props.room.name, props.dataset, "approver"),
      component: COMPONENT.approverKey,
      labels: { [CLEAN_ROOM_LABEL.dataset]: props.dataset },
      signing: true,
    });
    this.dataset = props.dataset;
    this.owners = [...props.owners];
    for (const owner of this.owners) requireOwnerPrincipal(owner, props.dataset);
    this.signerGrants = this.owners.map((o) => this.addGrant(KMS_ROLES.signerVerifier, o, {}));
    this.publicKeyGrants = this.owners.map((o) => this.addGrant(KMS_ROLES.publicKeyViewer, o, {}));
  }
}

/** Owners are people, groups or their own service accounts; never a pool or a public member. */
function requireOwnerPrincipal(member: string, dataset: string): void {
  if (Token.isUnresolved(member)) return;
  if (!/^(user|group|serviceAccount|domain):.+/.test(member)) {
    throw new InvalidPropsError(
      `Owner "${member}" of dataset "${dataset}" cannot hold its approver key: only user:, group:, serviceAccount: or domain: principals approve jobs.`,
    );
  }
}

export interface StorageEncryptionKeyProps extends CleanRoomKeyProps {
  /** @default dataPlaneNames(room).storageKey, e.g. "insurance-study-storage" */
  readonly keyName?: string;
  /**
   * Name of the key ring created when `keyRingId` is absent: a ring of its own, apart from the
   * dataset keys.
   * @default dataPlaneNames(room).storageKeyRing, e.g. "insurance-study-storage"
   */
  readonly keyRingName?: string;
}

/**
 * The buckets' CMEK key, on its own key ring, usable by the project's Cloud Storage service
 * agent (`roles/cloudkms.cryptoKeyEncrypterDecrypter`). Buckets must depend on
 * `serviceAgentGrant`, or their creation races the grant.
 */
export class StorageEncryptionKey extends CleanRoomKeyBase {
  /** The project's Cloud Storage service agent. */
  public readonly serviceAgent: DataGoogleStorageProjectServiceAccount;
  /** The service agent's binding; depending on it waits for the key's policy. */
  public readonly serviceAgentGrant: IamGrant;

  constructor(scope: Construct, id: string, props: StorageEncryptionKeyProps) {
    super(scope, id, props, {
      keyName: props.keyName ?? dataPlaneNames(props.room).storageKey,
      keyRingName: props.keyRingName ?? dataPlaneNames(props.room).storageKeyRing,
      component: COMPONENT.storageKey,
    });
    this.serviceAgent = new DataGoogleStorageProjectServiceAccount(this, "storage-agent", {
      project: props.project ?? props.room.project,
      provider: props.provider,
    });
    this.serviceAgentGrant = this.addGrant(KMS_ROLES.encrypterDecrypter, this.serviceAgent.member, {});
  }
}

function requireSeconds(field: string, value: string, range: { min: number; max: number }, example: string) {
  if (Token.isUnresolved(value)) return;
  const match = /^(\d+)s$/.exec(value);
  if (!match) {
    throw new InvalidPropsError(
      `${field} "${value}" must be a whole number of seconds followed by "s", e.g. "${example}" (${Number(example.slice(0, -1)) / DAY} days).`,
    );
  }
  const seconds = Number(match[1]);
  if (seconds < range.min || seconds > range.max) {
    throw new InvalidPropsError(
      `${field} "${value}" must be between "${range.min}s" (${range.min / DAY} day${range.min === DAY ? "" : "s"}) ` +
        `and "${range.max}s" (${range.max / DAY} days).`,
    );
  }
}

function requireKeyRingId(keyRingId: string, location: string) {
  if (Token.isUnresolved(keyRingId)) return;
  const match = KEY_RING_ID.exec(keyRingId);
  if (!match) {
    throw new InvalidPropsError(`keyRingId "${keyRingId}" must look like "projects/PROJECT/locations/LOCATION/keyRings/NAME".`);
  }
  if (!Token.isUnresolved(location) && match[2] !== location) {
    throw new InvalidPropsError(
      `keyRingId "${keyRingId}" is in location "${match[2]}", but location is "${location}". ` +
        `Pass the key ring's location as location, or use a key ring in "${location}".`,
    );
  }
}

function requireDigestPrincipalSet(m: DatasetMember) {
  if (!m.member.startsWith("principalSet://") || !m.member.endsWith(`/attribute.image_digest/${m.imageDigest}`)) {
    throw new InvalidPropsError(
      `Decrypt member "${m.member}" is not the principal set of image ${m.imageDigest}. ` +
        `Build members with datasetMembers(policy, dataset, pool.poolRef).`,
    );
  }
}
