import { CleanRoomApis } from "../lib/constructs/platform/apis";
import { DATABASE_CLIENT_ROLES, JOB_STORE_INDEXES, JobDatabase, JobDatabaseProps, JobStateStore, JobStateStoreProps } from "../lib/constructs/platform/database";
import { CleanRoomNetwork } from "../lib/constructs/platform/network";
import { evaluateCel } from "./cel";
import { SynthJson, examplePolicy, iamGrants, resourceConfigs, resources, synthWith } from "./util";

const policy = examplePolicy();
const JOB_SA = "dcr-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com";
const INSTANCE = "projects/acme-clean-room/instances/dcr-insurance-study-db-instance";

function synthDatabase(props: Partial<JobDatabaseProps> = {}, capture?: (db: JobDatabase) => void): SynthJson {
  return synthWith((stack) => {
    const apis = new CleanRoomApis(stack, "apis", { room: policy });
    const network = new CleanRoomNetwork(stack, "network", { room: policy, dependsOn: apis.dependables });
    const db = new JobDatabase(stack, "database", {
      room: policy,
      network,
      namespace: "manatee",
      jobServiceAccountEmail: JOB_SA,
      dependsOn: apis.dependables,
      ...props,
    });
    capture?.(db);
  });
}

const networkRef = { networkId: "projects/acme-clean-room/global/networks/dcr-insurance-study-network", privateServiceAccess: { fqn: "google_service_networking_connection.psa" } };

function build(props: Partial<JobDatabaseProps>): () => void {
  return () =>
    synthWith(
      (stack) =>
        new JobDatabase(stack, "database", { room: policy, network: networkRef, namespace: "manatee", jobServiceAccountEmail: JOB_SA, ...props }),
    );
}

/** Every key anywhere in a JSON tree. */
function allKeys(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => allKeys(v, out));
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      allKeys(v, out);
    }
  }
  return out;
}

describe("JobDatabase with defaults", () => {
  let json: SynthJson;
  let db!: JobDatabase;
  let instance: any;
  beforeAll(() => {
    json = synthDatabase({}, (d) => (db = d));
    [instance] = resourceConfigs(json, "google_sql_database_instance");
  });

  test("given the example policy, then the instance is MySQL 8.4 in the room's region, inside the residency set", () => {
    expect(instance).toMatchObject({
      name: "dcr-insurance-study-db-instance",
      database_version: "MYSQL_8_4",
      region: "us-central1",
      settings: { edition: "ENTERPRISE", tier: "db-custom-1-3840", availability_type: "ZONAL" },
    });
  });

  test("then it has a private IP only, on the clean room's VPC, after the private service access peering", () => {
    const ip = instance.settings.ip_configuration;
    expect(ip.ipv4_enabled).toBe(false);
    expect(ip.private_network).toMatch(/^\$\{google_compute_network\.network_vpc_[0-9A-F]+\.id\}$/);
    expect(ip.authorized_networks).toBeUndefined();
    expect(ip.enable_private_path_for_google_cloud_services).toBe(false);
    const [[psaId]] = resources(json, "google_service_networking_connection");
    expect(instance.depends_on).toContain(`google_service_networking_connection.${psaId}`);
  });

  test("then connections are encrypted and must come through a Cloud SQL connector", () => {
    expect(instance.settings.ip_configuration.ssl_mode).toBe("ENCRYPTED_ONLY");
    expect(instance.settings.connector_enforcement).toBe("REQUIRED");
  });

  test("then IAM database authentication is on, and no password exists anywhere in the synthesized JSON", () => {
    expect(instance.settings.database_flags).toContainEqual({ name: "cloudsql_iam_authentication", value: "on" });
    expect(allKeys(json).filter((k) => /password/i.test(k))).toEqual([]);
    expect(resourceConfigs(json, "random_password")).toEqual([]);
  });

  test("then daily backups and binary logs (point-in-time recovery) stay in the room's region", () => {
    expect(instance.settings.backup_configuration).toEqual({
      enabled: true,
      binary_log_enabled: true,
      location: "us-central1",
      start_time: "03:00",
      transaction_log_retention_days: 7,
      backup_retention_settings: { retained_backups: 14, retention_unit: "COUNT" },
    });
  });

  test("then deletion is refused by Terraform and by the Cloud SQL API", () => {
    expect(instance.deletion_protection).toBe(true);
    expect(instance.settings.deletion_protection_enabled).toBe(true);
  });

  test("then the job database follows ManaTEE's naming and the job service logs in as an IAM service account user", () => {
    expect(resourceConfigs(json, "google_sql_database")).toEqual([
      expect.objectContaining({ name: "dcr-manatee-database", charset: "utf8mb4" }),
    ]);
    expect(resourceConfigs(json, "google_sql_user")).toEqual([
      expect.objectContaining({ name: JOB_SA, type: "CLOUD_IAM_SERVICE_ACCOUNT" }),
    ]);
    expect(db.databaseName).toBe("dcr-manatee-database");
    // MySQL stores an IAM service account user as the part of the email before '@'.
    expect(db.databaseUserName).toBe("dcr-insurance-study-pod-sa");
  });

  test("then the one-time grant is least privilege on the job database, and the quick path is one gcloud command", () => {
    expect(db.grantSql).toBe(
      "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, REFERENCES ON `dcr-manatee-database`.* " +
        "TO 'dcr-insurance-study-pod-sa'@'%';",
    );
    expect(db.assignRolesCommand).toBe(
      `gcloud sql users assign-roles ${JOB_SA} --instance=dcr-insurance-study-db-instance --project=acme-clean-room ` +
        "--type=CLOUD_IAM_SERVICE_ACCOUNT --database-roles=cloudsqlsuperuser",
    );
  });

  test("then the job service gets the client roles, each limited by its IAM condition to this instance", () => {
    const grants = iamGrants(json).filter((g) => g.member === `serviceAccount:${JOB_SA}`);
    expect(grants.map((g) => g.role).sort()).toEqual([...DATABASE_CLIENT_ROLES].sort());
    for (const grant of grants) {
      const expression: string = grant.config.condition.expression;
      const on = (type: string, name: string) => evaluateCel(expression, { resource: { type, name } }).allowed;
      expect(on("sqladmin.googleapis.com/Instance", INSTANCE)).toBe(true);
      expect(on("sqladmin.googleapis.com/Instance", "projects/acme-clean-room/instances/other-db")).toBe(false);
      expect(on("sqladmin.googleapis.com/Instance", `${INSTANCE}-replica`)).toBe(false);
      expect(on("storage.googleapis.com/Bucket", INSTANCE)).toBe(false);
    }
  });

  test("snapshot", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("JobDatabase options", () => {
  test("given deletionProtection false, HA and a CMEK key, then all three reach the instance", () => {
    const json = synthDatabase({
      deletionProtection: false,
      highAvailability: true,
      kmsKeyName: "projects/acme-clean-room/locations/us-central1/keyRings/sql/cryptoKeys/db",
      databaseVersion: "MYSQL_8_0",
    });
    const [instance] = resourceConfigs(json, "google_sql_database_instance");
    expect(instance).toMatchObject({
      deletion_protection: false,
      database_version: "MYSQL_8_0",
      encryption_key_name: "projects/acme-clean-room/locations/us-central1/keyRings/sql/cryptoKeys/db",
      settings: { deletion_protection_enabled: false, availability_type: "REGIONAL" },
    });
  });

  test("given another client, when granted twice, then it gets the two conditional roles once", () => {
    const json = synthDatabase({}, (db) => {
      db.grantClient("reporting@acme-clean-room.iam.gserviceaccount.com");
      db.grantClient("reporting@acme-clean-room.iam.gserviceaccount.com");
    });
    const grants = iamGrants(json).filter((g) => g.member === "serviceAccount:reporting@acme-clean-room.iam.gserviceaccount.com");
    expect(grants).toHaveLength(2);
    expect(grants.every((g) => g.config.condition.expression.includes(INSTANCE))).toBe(true);
  });
});

describe("JobDatabase validation", () => {
  test("given a region outside the residency set, then it names the field and the fix", () => {
    expect(build({ region: "europe-west1" })).toThrow(
      'region "europe-west1" lies outside the residency set [us-central1]. ' +
        'Choose a location in the residency set, or add its region to "residency" if the data owner allows it.',
    );
  });

  test("given a namespace that is not a Kubernetes name, then the rule is spelled out", () => {
    expect(build({ namespace: "Manatee_NS" })).toThrow(
      'namespace "Manatee_NS" is not a usable Kubernetes namespace for the job database. ' +
        "Use 1-51 lowercase letters, digits and '-', starting and ending with a letter or digit.",
    );
  });

  test("given a user account instead of a service account, then the expected form is shown", () => {
    expect(build({ jobServiceAccountEmail: "alice@example.org" })).toThrow(
      'jobServiceAccountEmail "alice@example.org" is not a user-managed service account email. ' +
        'Pass the email of the job service\'s Google service account, e.g. "dcr-room-pod-sa@my-project.iam.gserviceaccount.com".',
    );
  });

  test("given an Enterprise Plus tier and bad backup settings, then each is refused", () => {
    expect(build({ tier: "db-perf-optimized-N-2" })).toThrow(
      'tier "db-perf-optimized-N-2" is not a Cloud SQL Enterprise edition tier. Use db-custom-<vCPUs>-<MiB>, e.g. "db-custom-1-3840".',
    );
    expect(build({ backups: { transactionLogRetentionDays: 14 } })).toThrow(
      "backups.transactionLogRetentionDays 14 is out of range. Use 1 to 7 days (the Enterprise edition's limit for point-in-time recovery).",
    );
    expect(build({ backups: { startTime: "3am" } })).toThrow('backups.startTime "3am" is not a time of day. Use HH:MM in UTC, e.g. "03:00".');
  });
});

// ---------------------------------------------------------------------------------------------
// Firestore: what CleanRoom creates for the job service
// ---------------------------------------------------------------------------------------------

function synthState(props: Partial<JobStateStoreProps> = {}, then?: (s: JobStateStore) => void): SynthJson {
  return synthWith((stack) => {
    const store = new JobStateStore(stack, "state", { room: policy, ...props });
    then?.(store);
  });
}

describe("JobStateStore", () => {
  let json: SynthJson;
  let db: any;
  beforeAll(() => {
    json = synthState({}, (s) => s.grantUser(`serviceAccount:${JOB_SA}`));
    [db] = resourceConfigs(json, "google_firestore_database");
  });

  test("given the example room, then a native-mode Firestore database sits in the room's region with delete protection and PITR", () => {
    expect(db).toMatchObject({
      name: "insurance-study-jobs",
      location_id: "us-central1",
      type: "FIRESTORE_NATIVE",
      concurrency_mode: "PESSIMISTIC",
      app_engine_integration_mode: "DISABLED",
      delete_protection_state: "DELETE_PROTECTION_ENABLED",
      point_in_time_recovery_enablement: "POINT_IN_TIME_RECOVERY_ENABLED",
      deletion_policy: "DELETE",
    });
  });

  test("then there is no Cloud SQL instance, database, user, proxy or GRANT step", () => {
    for (const type of ["google_sql_database_instance", "google_sql_database", "google_sql_user"]) expect(resources(json, type)).toEqual([]);
  });

  test("then datastore.user is granted once, limited to this database by its resource name (real CEL engine)", () => {
    const [grant] = resourceConfigs(json, "google_project_iam_member");
    expect(resourceConfigs(json, "google_project_iam_member")).toHaveLength(1);
    expect(grant).toMatchObject({ role: "roles/datastore.user", member: `serviceAccount:${JOB_SA}` });
    expect(grant.depends_on).toEqual([expect.stringMatching(/^google_firestore_database\./)]);
    const on = (name: string) => evaluateCel(grant.condition.expression, { resource: { type: "firestore.googleapis.com/Database", name } }).allowed;
    expect(on("projects/acme-clean-room/databases/insurance-study-jobs")).toBe(true);
    expect(on("projects/acme-clean-room/databases/(default)")).toBe(false);
    expect(on("projects/other/databases/insurance-study-jobs")).toBe(false);
  });

  test("then the job list's composite indexes exist (Firestore refuses those queries without them)", () => {
    const indexes = resourceConfigs(json, "google_firestore_index");
    expect(indexes).toHaveLength(JOB_STORE_INDEXES.length);
    for (const i of indexes) {
      expect(i).toMatchObject({ collection: "jobs", query_scope: "COLLECTION" });
      expect(i.database).toMatch(/^\$\{google_firestore_database\.[^.]+\.name\}$/);
      expect(i.fields[i.fields.length - 1]).toEqual({ field_path: "id", order: "DESCENDING" });
    }
    expect(indexes.map((i) => i.fields.map((f: any) => f.field_path).join(",")).sort()).toEqual([
      "creator,deleted,id",
      "creator,deleted,status,id",
      "deleted,id",
      "deleted,status,id",
    ]);
  });

  test("given a throwaway room, then delete protection is off and PITR can be switched off", () => {
    const [off] = resourceConfigs(synthState({ deletionProtection: false, pointInTimeRecovery: false }), "google_firestore_database");
    expect(off).toMatchObject({ delete_protection_state: "DELETE_PROTECTION_DISABLED", point_in_time_recovery_enablement: "POINT_IN_TIME_RECOVERY_DISABLED" });
  });

  test("given a location outside the residency set, a bad id or a public member, then the prop and the fix are named", () => {
    expect(() => synthState({ location: "nam5" })).toThrow('JobStateStore "location" "nam5" lies outside the residency set [us-central1].');
    expect(() => synthState({ databaseId: "(default)" })).toThrow(
      'JobStateStore "databaseId" "(default)" is not a Firestore database id. Use 4-63 lowercase letters, digits and \'-\', starting with a letter and not ending with \'-\', e.g. "insurance-study-jobs".',
    );
    expect(() => synthState({}, (s) => s.grantUser("allUsers"))).toThrow('JobStateStore.grantUser member "allUsers" would make clean-room data public.');
  });
});
