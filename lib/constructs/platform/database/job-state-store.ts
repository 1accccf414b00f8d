/**
 * The job service's state: `JobStateStore` (what `CleanRoom` creates), a Firestore database in
 * native mode, in the room's region. Why Firestore and not Cloud SQL, as ManaTEE uses: there is
 * no instance to size, patch and peer into the VPC, no password or Auth Proxy sidecar, and no
 * one-time `GRANT` (or `assign-roles`) step after the first deploy — access is one IAM grant,
 * limited to this database by a condition. Its per-document transactions give the job service
 * exactly the preconditions it needs (a job's status changes only from the version it read), and
 * the job table is small.
 */
import { ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { FirestoreDatabase } from "@cdktf/provider-google/lib/firestore-database";
import { FirestoreIndex } from "@cdktf/provider-google/lib/firestore-index";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { CleanRoomRef, GrantOptions, requireGrantableMember, requireInResidency } from "../../../internal/common";
import { NAME_RULES, fitName, shortHash } from "../../../policy/names";
import { grantOnProject } from "../../iam-grants";
import { InvalidPropsError } from "../../../errors";

/** The role the job service needs on its database: read and write documents, run transactions. */
export const JOB_STATE_ROLE = "roles/datastore.user";

/** A composite index: the fields in order, each ascending or descending. */
export interface FirestoreCompositeIndex {
  readonly collection: string;
  readonly fields: readonly { readonly fieldPath: string; readonly order: "ASCENDING" | "DESCENDING" }[];
}

/**
 * The composite indexes the job service's queries need (job-service/src/firestore-store.ts): the
 * job list, newest first, filtered by `deleted`, optionally by creator and by status. Firestore
 * refuses such a query without its index; single-field indexes are automatic.
 */
export const JOB_STORE_INDEXES: readonly FirestoreCompositeIndex[] = [
  ["deleted"],
  ["creator", "deleted"],
  ["deleted", "status"],
  ["creator", "deleted", "status"],
].map((equality) => ({
  collection: "jobs",
  fields: [...equality.map((fieldPath) => ({ fieldPath, order: "ASCENDING" as const })), { fieldPath: "id", order: "DESCENDING" as const }],
}));

/** Firestore database ids: 4-63 lowercase letters, digits and '-', starting with a letter, not UUID-like. */
const FIRESTORE_DATABASE_ID = NAME_RULES.firestoreDatabaseId;

/** The default database id of a room's job state: `<room>-jobs`. */
export function jobStateDatabaseId(roomName: string): string {
  return fitName(`${roomName}-jobs`, 63);
}

export interface JobStateStoreProps {
  /** The clean room (a `CleanRoomPolicy` fits). */
  readonly room: CleanRoomRef;
  /**
   * Database id; a named database (not `(default)`) so several rooms can share a project.
   * @default jobStateDatabaseId(room.name), e.g. "insurance-study-jobs"
   */
  readonly databaseId?: string;
  /** Firestore location: a region in the residency set. @default room.region */
  readonly location?: string;
  /**
   * Refuse to delete the database (Firestore delete protection). With it off, `terraform
   * destroy` deletes the database and every job record: throwaway rooms only.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * Point-in-time recovery: any version of the job records from the last 7 days can be read back.
   * @default true
   */
  readonly pointInTimeRecovery?: boolean;
  /** Composite indexes of the job service's queries. @default JOB_STORE_INDEXES */
  readonly indexes?: readonly FirestoreCompositeIndex[];
  /** Resources to create first, typically `CleanRoomApis.dependables`. @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** @default room.project */
  readonly project?: string;
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * The job service's Firestore database (native mode) in the room's region, with delete
 * protection and point-in-time recovery on. `grantUser` gives `roles/datastore.user` on this
 * database only (a project grant with an IAM condition on the database's resource name:
 * Firestore databases have no IAM policy of their own).
 */
export class JobStateStore extends Construct {
  public readonly database: FirestoreDatabase;
  public readonly indexes: readonly FirestoreIndex[];
  public readonly databaseId: string;
  /** `projects/P/databases/ID`: the resource name IAM conditions match. */
  public readonly resourceName: string;
  public readonly location: string;
  private readonly project: string;
  private readonly provider?: TerraformProvider;
  private tokenUsers = 0;

  constructor(scope: Construct, id: string, props: JobStateStoreProps) {
    super(scope, id);
    const { room, provider } = props;
    this.project = props.project ?? room.project;
    this.provider = provider;
    this.location = props.location ?? room.region;
    requireInResidency(this.location, room.residency, "JobStateStore \"location\"");
    this.databaseId = props.databaseId ?? jobStateDatabaseId(room.name);
    if (!Token.isUnresolved(this.databaseId) && (this.databaseId.length < FIRESTORE_DATABASE_ID.min || this.databaseId.length > FIRESTORE_DATABASE_ID.max || !FIRESTORE_DATABASE_ID.pattern.test(this.databaseId))) {
      throw new InvalidPropsError(
        `JobStateStore "databaseId" "${this.databaseId}" is not a Firestore database id. Use 4-63 lowercase letters, ` +
          `digits and '-', starting with a letter and not ending with '-', e.g. "${jobStateDatabaseId(room.name)}".`,
      );
    }
    const protect = props.deletionProtection ?? true;
    this.database = new FirestoreDatabase(this, "database", {
      project: this.project,
      name: this.databaseId,
      locationId: this.location,
      type: "FIRESTORE_NATIVE",
      // Server SDK transactions lock what they read: a job's status update is serialized.
      concurrencyMode: "PESSIMISTIC",
      appEngineIntegrationMode: "DISABLED",
      pointInTimeRecoveryEnablement:
        (props.pointInTimeRecovery ?? true) ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED",
      deleteProtectionState: protect ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED",
      // DELETE, not the provider's ABANDON: with protection on, a destroy fails loudly instead of
      // silently leaving the database behind; with it off, it really deletes.
      deletionPolicy: "DELETE",
      dependsOn: props.dependsOn,
      provider,
    });
    this.resourceName = `projects/${this.project}/databases/${this.databaseId}`;
    this.indexes = (props.indexes ?? JOB_STORE_INDEXES).map(
      (index) =>
        new FirestoreIndex(this, `index-${index.collection}-${index.fields.map((f) => `${f.fieldPath}-${f.order === "ASCENDING" ? "asc" : "desc"}`).join("-")}`, {
          project: this.project,
          database: this.database.name,
          collection: index.collection,
          queryScope: "COLLECTION",
          fields: index.fields.map((f) => ({ fieldPath: f.fieldPath, order: f.order })),
          provider,
        }),
    );
  }

  /** `roles/datastore.user` for `member` on this database only. */
  public grantUser(member: string, options: Pick<GrantOptions, "id" | "dependsOn"> = {}): ProjectIamMember {
    requireGrantableMember(member, "JobStateStore.grantUser member");
    const childId = options.id ?? (Token.isUnresolved(member) ? `user-${this.tokenUsers++}` : `user-${shortHash(member, 8)}`);
    return grantOnProject(this, childId, {
      project: this.project,
      role: JOB_STATE_ROLE,
      member,
      condition: {
        title: `only-${this.databaseId}`.slice(0, 100),
        description: "Limits datastore.user to the clean room's job-state database",
        expression: `resource.name == "${this.resourceName}"`,
      },
      // The condition names the database: grant once it exists.
      dependsOn: [this.database, ...(options.dependsOn ?? [])],
      provider: this.provider,
    });
  }
}
