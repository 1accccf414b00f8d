/**
 * `JobDatabase`: the former Cloud SQL for MySQL job database, kept as an optional construct (not
 * part of `CleanRoom`) for compositions that still run ManaTEE's Go services. Private IP only,
 * reachable through the Cloud SQL Auth Proxy, with IAM database authentication so there is no
 * password anywhere. ManaTEE's Go code builds the DSN `user:pass@tcp(localhost:9910)/db`; with the
 * proxy started with `--auto-iam-authn`, the app passes `databaseUserName` and an EMPTY password.
 */
import { ITerraformDependable, TerraformProvider, Token, Fn } from "cdktf";
import { Construct } from "constructs";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { SqlDatabase } from "@cdktf/provider-google/lib/sql-database";
import { SqlDatabaseInstance } from "@cdktf/provider-google/lib/sql-database-instance";
import { SqlUser } from "@cdktf/provider-google/lib/sql-user";
import { CleanRoomRef, GrantOptions, cleanRoomLabels, requireInResidency } from "../../../internal/common";
import { NAME_RULES, manateeEnv, resourceName, shortHash } from "../../../policy/names";
import { grantOnProject } from "../../iam-grants";
import { InvalidPropsError } from "../../../errors";

/** Roles a client of the database needs: connect through the proxy, and log in as an IAM user. */
export const DATABASE_CLIENT_ROLES = ["roles/cloudsql.client", "roles/cloudsql.instanceUser"] as const;

/**
 * Privileges gorm's AutoMigrate (run by both the API and the reconciler on start) and the job
 * service's queries need on the job database, and no more.
 */
export const JOB_DATABASE_PRIVILEGES = ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "INDEX", "REFERENCES"] as const;

/**
 * MySQL 8.4 is the LTS release (supported into 2032); 8.0 leaves community support in April
 * 2026 and moves to paid extended support on Cloud SQL. Both support IAM database authentication.
 */
export type MySqlVersion = "MYSQL_8_4" | "MYSQL_8_0";
const MYSQL_VERSIONS: readonly MySqlVersion[] = ["MYSQL_8_4", "MYSQL_8_0"];

/**
 * The smallest dedicated-core tier: covered by the Cloud SQL SLA, which the shared-core tiers
 * (db-f1-micro, ManaTEE's choice, and db-g1-small) are not. The jobs table stays small.
 */
export const DEFAULT_DATABASE_TIER = "db-custom-1-3840";

/** The network side the database needs; a `CleanRoomNetwork` fits. */
export interface DatabaseNetworkRef {
  readonly networkId: string;
  /** The private service access connection: the instance must wait for the peering. */
  readonly privateServiceAccess: ITerraformDependable;
}

export interface BackupOptions {
  /**
   * Daily backups kept (also the point-in-time recovery horizon's anchor).
   * @default 14
   */
  readonly retainedBackups?: number;
  /**
   * Days of binary logs kept for point-in-time recovery (1-7 on the Enterprise edition).
   * @default 7
   */
  readonly transactionLogRetentionDays?: number;
  /**
   * Start of the daily backup window, `HH:MM` UTC.
   * @default "03:00"
   */
  readonly startTime?: string;
}

export interface JobDatabaseProps {
  /** The clean room (a `CleanRoomPolicy` fits). */
  readonly room: CleanRoomRef;
  readonly network: DatabaseNetworkRef;
  /**
   * Kubernetes namespace of the job service: names the database `dcr-<namespace>-database`,
   * as ManaTEE's deployment does.
   */
  readonly namespace: string;
  /**
   * Email of the job service's Google service account (the Workload Identity target of the
   * API and reconciler pods). It becomes the database's IAM user and gets the client roles.
   */
  readonly jobServiceAccountEmail: string;
  /**
   * Region of the instance, its backups and its binary logs; must lie in `room.residency`.
   * @default room.region
   */
  readonly region?: string;
  /** @default "MYSQL_8_4" */
  readonly databaseVersion?: MySqlVersion;
  /** Machine tier (Enterprise edition). @default DEFAULT_DATABASE_TIER */
  readonly tier?: string;
  /**
   * A standby in a second zone with automatic failover (REGIONAL availability); doubles the cost.
   * @default false
   */
  readonly highAvailability?: boolean;
  /**
   * Refuse to delete the instance, both in Terraform (`deletion_protection`) and in the Cloud SQL
   * API (`deletion_protection_enabled`, which also stops console and gcloud deletes). Set false
   * only for throwaway rooms.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * Accept connections only through Cloud SQL connectors (the Auth Proxy, language connectors),
   * which authorize every connection with IAM. ManaTEE's pods already use the proxy.
   * @default true
   */
  readonly requireConnectors?: boolean;
  /** @default { retainedBackups: 14, transactionLogRetentionDays: 7, startTime: "03:00" } */
  readonly backups?: BackupOptions;
  /**
   * Customer-managed key for the instance's disk and backups, in the instance's region. The
   * Cloud SQL service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it first.
   * @default - Google-managed encryption
   */
  readonly kmsKeyName?: string;
  /** Resources to create first, typically `CleanRoomApis.dependables`. @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** @default room.project */
  readonly project?: string;
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * Cloud SQL for MySQL instance, the job database and the job service's IAM database user.
 *
 * **One-time step after the first deploy.** MySQL IAM users start with no privileges, and
 * `google_sql_user.database_roles` only exists in Google provider 7.x (cdktf's prebuilt
 * provider is frozen at 6.50), so Terraform cannot grant them. The provider also deletes the
 * instance's default `root` user, so no password user exists to run a GRANT with. Do one of:
 * - quick: run `assignRolesCommand` (gcloud; needs no network path to the instance), which gives
 *   the job service's user `cloudsqlsuperuser`. The instance holds only the job database, so
 *   this mostly adds the power to manage users.
 * - least privilege: give yourself a temporary IAM database user with that role
 *   (`gcloud sql users create YOU@EXAMPLE.ORG --instance=I --type=cloud_iam_user`, then
 *   `gcloud sql users assign-roles YOU@EXAMPLE.ORG --instance=I --type=CLOUD_IAM_USER
 *   --database-roles=cloudsqlsuperuser`), connect through the Cloud SQL Auth Proxy with
 *   `--auto-iam-authn --private-ip` from inside the VPC (e.g. a pod on the cluster), run
 *   `grantSql`, and delete your user (`gcloud sql users delete YOU@EXAMPLE.ORG --instance=I`).
 * Until then the API and reconciler fail at start with "Access denied … to database".
 */
export class JobDatabase extends Construct {
  public readonly instance: SqlDatabaseInstance;
  public readonly database: SqlDatabase;
  /** The job service's IAM database user. */
  public readonly iamUser: SqlUser;
  public readonly instanceName: string;
  /** `project:region:instance`, the argument of the Cloud SQL Auth Proxy. */
  public readonly connectionName: string;
  /** Private IP of the instance (for diagnostics; clients go through the proxy). */
  public readonly privateIpAddress: string;
  /** `dcr-<namespace>-database` */
  public readonly databaseName: string;
  /**
   * The MySQL user name the job service logs in as (`MYSQL_USERNAME`): the service account
   * email up to the '@'. The password (`MYSQL_PASSWORD`) is empty; the proxy authenticates.
   */
  public readonly databaseUserName: string;
  /** The least-privilege GRANT for the one-time step (see the class docs). */
  public readonly grantSql: string;
  /** The gcloud command of the quick one-time step (see the class docs). */
  public readonly assignRolesCommand: string;
  public readonly region: string;
  private readonly project: string;
  private readonly provider?: TerraformProvider;
  private tokenClients = 0;

  constructor(scope: Construct, id: string, props: JobDatabaseProps) {
    super(scope, id);
    const { room, provider } = props;
    const project = props.project ?? room.project;
    this.project = project;
    this.provider = provider;
    this.region = props.region ?? room.region;
    requireInResidency(this.region, room.residency, "region");
    const version = props.databaseVersion ?? "MYSQL_8_4";
    if (!MYSQL_VERSIONS.includes(version)) {
      throw new InvalidPropsError(`databaseVersion "${version}" is not supported. Use "MYSQL_8_4" or "MYSQL_8_0".`);
    }
    const tier = props.tier ?? DEFAULT_DATABASE_TIER;
    if (!Token.isUnresolved(tier) && !/^db-(custom-\d+-\d+|n1-(standard|highmem)-\d+|f1-micro|g1-small)$/.test(tier)) {
      throw new InvalidPropsError(
        `tier "${tier}" is not a Cloud SQL Enterprise edition tier. Use db-custom-<vCPUs>-<MiB>, e.g. "${DEFAULT_DATABASE_TIER}".`,
      );
    }
    requireNamespace(props.namespace);
    requireServiceAccountEmail(props.jobServiceAccountEmail);
    const backups = validateBackups(props.backups ?? {});
    const deletionProtection = props.deletionProtection ?? true;

    this.instanceName = resourceName("sqlInstance", "dcr", manateeEnv(room.name), "db-instance");
    this.databaseName = `dcr-${props.namespace}-database`;

    this.instance = new SqlDatabaseInstance(this, "instance", {
      project,
      name: this.instanceName,
      region: this.region,
      databaseVersion: version,
      deletionProtection,
      encryptionKeyName: props.kmsKeyName,
      settings: {
        edition: "ENTERPRISE",
        tier,
        availabilityType: props.highAvailability ? "REGIONAL" : "ZONAL",
        diskType: "PD_SSD",
        diskAutoresize: true,
        deletionProtectionEnabled: deletionProtection,
        connectorEnforcement: (props.requireConnectors ?? true) ? "REQUIRED" : "NOT_REQUIRED",
        ipConfiguration: {
          // Private IP only: no public address exists to attack or to misconfigure.
          ipv4Enabled: false,
          privateNetwork: props.network.networkId,
          sslMode: "ENCRYPTED_ONLY",
          enablePrivatePathForGoogleCloudServices: false,
        },
        backupConfiguration: {
          enabled: true,
          binaryLogEnabled: true,
          startTime: backups.startTime,
          // Backups default to the nearest multi-region; pin them inside the residency set.
          location: this.region,
          transactionLogRetentionDays: backups.transactionLogRetentionDays,
          backupRetentionSettings: { retainedBackups: backups.retainedBackups, retentionUnit: "COUNT" },
        },
        databaseFlags: [{ name: "cloudsql_iam_authentication", value: "on" }],
        userLabels: cleanRoomLabels(room.name, "job-database"),
      },
      dependsOn: [props.network.privateServiceAccess, ...(props.dependsOn ?? [])],
      provider,
    });
    this.connectionName = this.instance.connectionName;
    this.privateIpAddress = this.instance.privateIpAddress;

    this.database = new SqlDatabase(this, "database", {
      project,
      instance: this.instance.name,
      name: this.databaseName,
      charset: "utf8mb4",
      collation: "utf8mb4_0900_ai_ci",
      provider,
    });

    // MySQL takes the full email for CLOUD_IAM_SERVICE_ACCOUNT and stores the part before '@'
    // (dropping ".gserviceaccount.com" is the PostgreSQL convention, not MySQL's).
    this.iamUser = new SqlUser(this, "job-service-user", {
      project,
      instance: this.instance.name,
      name: props.jobServiceAccountEmail,
      type: "CLOUD_IAM_SERVICE_ACCOUNT",
      // The email is a literal: wait for whatever creates the account (see `dependsOn`).
      dependsOn: props.dependsOn,
      provider,
    });
    this.databaseUserName = Token.isUnresolved(props.jobServiceAccountEmail)
      ? Fn.element(Fn.split("@", props.jobServiceAccountEmail), 0)
      : props.jobServiceAccountEmail.split("@")[0];

    this.grantSql =
      `GRANT ${JOB_DATABASE_PRIVILEGES.join(", ")} ON \`${this.databaseName}\`.* ` + `TO '${this.databaseUserName}'@'%';`;
    this.assignRolesCommand =
      `gcloud sql users assign-roles ${props.jobServiceAccountEmail} --instance=${this.instanceName} ` +
      `--project=${project} --type=CLOUD_IAM_SERVICE_ACCOUNT --database-roles=cloudsqlsuperuser`;

    this.grantClient(props.jobServiceAccountEmail, { id: "job-service", dependsOn: props.dependsOn });
  }

  /**
   * Let a Google service account connect through the Cloud SQL Auth Proxy and log in as an IAM
   * user: roles/cloudsql.client and roles/cloudsql.instanceUser. Both are project roles (Cloud SQL
   * has no instance-level IAM policy), so each grant carries an IAM condition that limits it to
   * this instance. The account also needs its own `google_sql_user` to log in.
   */
  public grantClient(serviceAccountEmail: string, options: Pick<GrantOptions, "id" | "dependsOn"> = {}): ProjectIamMember[] {
    requireServiceAccountEmail(serviceAccountEmail);
    const prefix =
      options.id ??
      (Token.isUnresolved(serviceAccountEmail) ? `client-${this.tokenClients++}` : `client-${shortHash(serviceAccountEmail, 8)}`);
    const member = `serviceAccount:${serviceAccountEmail}`;
    const instanceResource = `projects/${this.project}/instances/${this.instanceName}`;
    return DATABASE_CLIENT_ROLES.map((role) => {
      const childId = `${prefix}-${role.replace(/^roles\/cloudsql\./, "")}`;
      return grantOnProject(this, childId, {
        project: this.project,
        role,
        member,
        condition: {
          title: `only-${this.instanceName}`.slice(0, 100),
          description: `Limits ${role} to the clean room's job database instance`,
          expression:
            `resource.type == "sqladmin.googleapis.com/Instance" && ` + `resource.name == "${instanceResource}"`,
        },
        dependsOn: options.dependsOn,
        provider: this.provider,
      });
    });
  }
}

function requireNamespace(namespace: string): void {
  if (Token.isUnresolved(namespace)) return;
  const rule = NAME_RULES.kubernetesName;
  // MySQL database names are at most 64 characters: "dcr-" + namespace + "-database".
  if (!rule.pattern.test(namespace) || namespace.length > 64 - "dcr--database".length) {
    throw new InvalidPropsError(
      `namespace "${namespace}" is not a usable Kubernetes namespace for the job database. ` +
        `Use 1-${64 - "dcr--database".length} lowercase letters, digits and '-', starting and ending with a letter or digit.`,
    );
  }
}

function requireServiceAccountEmail(email: string): void {
  if (Token.isUnresolved(email)) return;
  if (!/^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9.]+\.iam\.gserviceaccount\.com$/.test(email)) {
    throw new InvalidPropsError(
      `jobServiceAccountEmail "${email}" is not a user-managed service account email. ` +
        `Pass the email of the job service's Google service account, e.g. "dcr-room-pod-sa@my-project.iam.gserviceaccount.com".`,
    );
  }
}

function validateBackups(input: BackupOptions): Required<BackupOptions> {
  const backups = { retainedBackups: 14, transactionLogRetentionDays: 7, startTime: "03:00", ...input };
  const { retainedBackups, transactionLogRetentionDays, startTime } = backups;
  if (!Token.isUnresolved(retainedBackups) && !(Number.isInteger(retainedBackups) && retainedBackups >= 1 && retainedBackups <= 365)) {
    throw new InvalidPropsError(`backups.retainedBackups ${retainedBackups} is out of range. Keep between 1 and 365 daily backups.`);
  }
  if (
    !Token.isUnresolved(transactionLogRetentionDays) &&
    !(Number.isInteger(transactionLogRetentionDays) && transactionLogRetentionDays >= 1 && transactionLogRetentionDays <= 7)
  ) {
    throw new InvalidPropsError(
      `backups.transactionLogRetentionDays ${transactionLogRetentionDays} is out of range. ` +
        `Use 1 to 7 days (the Enterprise edition's limit for point-in-time recovery).`,
    );
  }
  if (!Token.isUnresolved(startTime) && !/^([01]\d|2[0-3]):[0-5]\d$/.test(startTime)) {
    throw new InvalidPropsError(`backups.startTime "${startTime}" is not a time of day. Use HH:MM in UTC, e.g. "03:00".`);
  }
  return backups;
}
