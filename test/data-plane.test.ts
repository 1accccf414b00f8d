import { CleanRoomDataPlane } from "../lib/constructs/data-plane/datasets";
import { compileAttributeCondition, compileJobApprovalCondition } from "../lib/policy/condition";
import { DatasetMember, PoolRef, datasetMembers } from "../lib/policy/members";
import { dataPlaneNames } from "../lib/policy/names";
import { EXAMPLE_DIGEST_A, SynthJson, dataSources, examplePolicy, iamGrants, resourceConfigs, resources, synthWith, grantsOn } from "./util";

const policy = examplePolicy();
const JUPYTER = "serviceAccount:jupyter-insurance-study@acme-clean-room.iam.gserviceaccount.com";
const RESEARCHERS = "group:researchers@example.org";
const OWNER = "user:data-owner@example.org";

/** `${type.id.attr}` → id */
function refId(ref: string, type: string): string {
  const match = new RegExp(`^\\$\\{${type}\\.([\\w-]+)\\.\\w+\\}$`).exec(ref);
  if (!match) throw new Error(`${ref} is not a reference to ${type}`);
  return match[1];
}

describe("CleanRoomDataPlane from the example policy", () => {
  let json: SynthJson;
  let plane: CleanRoomDataPlane;
  let poolRef: PoolRef;
  let buckets: Record<string, any>;
  let keys: Record<string, any>;
  /** Every bucket grant, with the bucket's dataset and purpose. */
  let bucketGrants: { dataset: string; purpose: string; role: string; member: string; config: any }[];
  /** Every key grant, with the key's component and dataset. */
  let keyGrants: { component: string; dataset?: string; role: string; member: string; config: any }[];
  let readerId: string;
  let storageKeyId: string;

  const membersOf = (dataset: string): DatasetMember[] => datasetMembers(policy, dataset, poolRef);
  /** insurance has an approver key fingerprint (per-job approval on): its job pool's group, never the pool's /*. */
  const jobGroup = () =>
    `principalSet://iam.googleapis.com/projects/${poolRef.projectNumber}/locations/global/workloadIdentityPools/${dataPlaneNames(policy).jobPoolId("insurance")}/group/job-approved`;
  /** The provider of the pool with this id. */
  const providerOf = (poolId: string): [string, any] =>
    resources(json, "google_iam_workload_identity_pool_provider").find(
      ([, p]) => json.resource!.google_iam_workload_identity_pool[refId(p.workload_identity_pool_id, "google_iam_workload_identity_pool")].workload_identity_pool_id === poolId,
    )!;
  const readerMember = () => `serviceAccount:\${google_service_account.${readerId}.email}`;

  beforeAll(() => {
    json = synthWith((stack) => {
      plane = new CleanRoomDataPlane(stack, "data", { policy });
      plane.grantStage1Read(JUPYTER);
    });
    const [[projectId]] = dataSources(json, "google_project");
    poolRef = { projectNumber: `\${data.google_project.${projectId}.number}`, poolId: plane.pool.poolId };
    buckets = Object.fromEntries(resources(json, "google_storage_bucket"));
    keys = Object.fromEntries(resources(json, "google_kms_crypto_key"));
    bucketGrants = grantsOn(json, "google_storage_bucket").map((g) => {
      const b = buckets[refId(g.bucket, "google_storage_bucket")];
      return { dataset: b.labels.dataset, purpose: b.labels.component, role: g.role, member: g.member, config: g };
    });
    keyGrants = grantsOn(json, "google_kms_crypto_key").map((g) => {
      const k = keys[refId(g.crypto_key_id, "google_kms_crypto_key")];
      return { component: k.labels.component, dataset: k.labels.dataset, role: g.role, member: g.member, config: g };
    });
    readerId = resources(json, "google_service_account").find(([, sa]) => sa.account_id.endsWith("-rd"))![0];
    storageKeyId = Object.entries(keys).find(([, k]) => k.labels.component === "storage-key")![0];
  });

  describe("stage-2 access (direct mode: insurance)", () => {
    test("given direct access, decrypt on the dataset key goes exactly to the approved principal sets, with expiry conditions, and the job pool's group", () => {
      const decrypt = keyGrants.filter((g) => g.dataset === "insurance" && g.role === "roles/cloudkms.cryptoKeyDecrypter");
      const expected = membersOf("insurance");
      expect(new Set(decrypt.map((g) => g.member))).toEqual(new Set([...expected.map((m) => m.member), jobGroup()]));
      expect(decrypt).toHaveLength(expected.length + 1);
      // An approval is a signature of one digest: the group's grant has no expiry of its own.
      expect(decrypt.find((g) => g.member === jobGroup())!.config.condition).toBeUndefined();
      for (const m of expected) {
        expect(decrypt.find((g) => g.member === m.member)!.config.condition).toEqual(m.condition);
      }
      expect(expected.find((m) => m.imageDigest === EXAMPLE_DIGEST_A)!.condition).toBeDefined();
    });

    test("then the stage-2 bucket's readers are exactly the approved principal sets, with the same conditions, and the job pool's group", () => {
      const readers = bucketGrants.filter((g) => g.dataset === "insurance" && g.purpose === "stage2" && g.role === "roles/storage.objectViewer");
      const expected = membersOf("insurance");
      expect(new Set(readers.map((g) => g.member))).toEqual(new Set([...expected.map((m) => m.member), jobGroup()]));
      expect(readers).toHaveLength(expected.length + 1);
      for (const m of expected) expect(readers.find((g) => g.member === m.member)!.config.condition).toEqual(m.condition);
    });

    test("then the approved principal sets create objects in no dataset bucket (results leave only through the release)", () => {
      const attested = new Set([...membersOf("insurance").map((m) => m.member), jobGroup()]);
      const writes = bucketGrants.filter((g) => attested.has(g.member) && g.role === "roles/storage.objectCreator");
      expect(writes).toEqual([]);
    });
  });

  describe("stage-2 access (impersonation mode: claims)", () => {
    test("given impersonation, the reader service account alone reads stage 2 and decrypts; it writes nowhere (results leave only through the release)", () => {
      const onClaims = [...bucketGrants, ...keyGrants].filter((g) => g.dataset === "claims" && g.member !== RESEARCHERS && g.member !== JUPYTER);
      expect(onClaims.map((g) => [g.role, g.member]).sort()).toEqual(
        [
          ["roles/cloudkms.cryptoKeyDecrypter", readerMember()],
          ["roles/storage.objectViewer", readerMember()],
          // storage.buckets.get only: ManaTEE's SDK gets the bucket before reading.
          [`\${google_project_iam_custom_role.${resources(json, "google_project_iam_custom_role").find(([, r]) => r.role_id.endsWith("_bucket_get"))![0]}.name}`, readerMember()],
        ].sort(),
      );
      const stage2Readers = bucketGrants.filter((g) => g.dataset === "claims" && g.purpose === "stage2" && g.role === "roles/storage.objectViewer");
      expect(stage2Readers.map((g) => g.member)).toEqual([readerMember()]);
    });

    test("then only the approved principal sets may impersonate the reader, with their conditions, never the whole pool", () => {
      const impersonation = grantsOn(json, "google_service_account");
      expect(impersonation.every((g) => g.service_account_id === `\${google_service_account.${readerId}.name}`)).toBe(true);
      expect(impersonation.every((g) => g.role === "roles/iam.workloadIdentityUser")).toBe(true);
      const expected = membersOf("claims");
      expect(new Set(impersonation.map((g) => g.member))).toEqual(new Set(expected.map((m) => m.member)));
      for (const m of expected) expect(impersonation.find((g) => g.member === m.member)!.condition).toEqual(m.condition);
      expect(plane.datasets.claims.readerServiceAccount).toBeDefined();
      expect(plane.datasets.insurance.readerServiceAccount).toBeUndefined();
    });

    test("then an image approved only for insurance gets nothing on claims", () => {
      const onInsurance = [...bucketGrants, ...keyGrants].filter((g) => g.member.endsWith(EXAMPLE_DIGEST_A));
      expect(onInsurance.length).toBe(2); // decrypt with the key, read stage 2
      expect(onInsurance.every((g) => g.dataset === "insurance")).toBe(true);
      const impersonation = grantsOn(json, "google_service_account");
      expect(impersonation.some((g) => g.member.endsWith(EXAMPLE_DIGEST_A))).toBe(false);
    });

    test("then every principal-set grant waits for its pool's provider", () => {
      const [providerId] = providerOf(plane.pool.poolId);
      const [jobProviderId] = providerOf(dataPlaneNames(policy).jobPoolId("insurance"));
      const principalSetGrants = iamGrants(json).filter((g) => g.member.startsWith("principalSet://"));
      const images = principalSetGrants.filter((g) => g.member !== jobGroup());
      const group = principalSetGrants.filter((g) => g.member === jobGroup());
      expect(images.length).toBe(2 * 2 + 1); // insurance: 2 images × (decrypt, read); claims: 1 impersonation
      expect(group.map((g) => g.role).sort()).toEqual(["roles/cloudkms.cryptoKeyDecrypter", "roles/storage.objectViewer"]);
      // A policy holding both kinds of binding waits for both providers.
      for (const g of images) expect(g.config.depends_on).toContain(`google_iam_workload_identity_pool_provider.${providerId}`);
      for (const g of group) expect(g.config.depends_on).toContain(`google_iam_workload_identity_pool_provider.${jobProviderId}`);
    });
  });

  describe("stage 1, researchers and owners", () => {
    test("given researchers, they read stage-1 buckets of every dataset and appear nowhere else", () => {
      for (const who of [RESEARCHERS, JUPYTER]) {
        const grants = iamGrants(json).filter((g) => g.member === who);
        expect(grants).toHaveLength(policy.datasets.length);
        for (const g of grants) {
          expect(g.type).toBe("google_storage_bucket_iam_member");
          expect(g.role).toBe("roles/storage.objectViewer");
          expect(buckets[refId(g.config.bucket, "google_storage_bucket")].labels.component).toBe("stage1");
        }
      }
    });

    test("then stage-1 buckets are read by researchers only (plus what grantStage1Read added)", () => {
      const stage1Readers = bucketGrants.filter((g) => g.purpose === "stage1" && g.role === "roles/storage.objectViewer");
      expect(new Set(stage1Readers.map((g) => g.member))).toEqual(new Set([RESEARCHERS, JUPYTER]));
    });

    test("given a data owner, they upload to their dataset's stage-1 and stage-2 buckets and may only encrypt with its key", () => {
      const onBuckets = bucketGrants.filter((g) => g.member === OWNER).map((g) => [g.dataset, g.purpose, g.role]);
      expect(onBuckets.sort()).toEqual([
        ["insurance", "stage1", "roles/storage.objectCreator"],
        ["insurance", "stage2", "roles/storage.objectCreator"],
      ]);
      const onKeys = keyGrants.filter((g) => g.member === OWNER).map((g) => [g.dataset, g.component, g.role]);
      expect(onKeys.sort()).toEqual([
        // The approver key: the owner signs approvals and reads its fingerprint.
        ["insurance", "approver-key", "roles/cloudkms.publicKeyViewer"],
        ["insurance", "approver-key", "roles/cloudkms.signerVerifier"],
        ["insurance", "dataset-key", "roles/cloudkms.cryptoKeyEncrypter"],
      ]);
    });
  });

  describe("global invariants", () => {
    test("no member anywhere is public or a whole pool", () => {
      for (const g of iamGrants(json)) {
        expect(["allUsers", "allAuthenticatedUsers"]).not.toContain(g.member);
        expect(g.member).not.toMatch(/\/\*$/);
      }
    });

    test("no project-level grant carries a storage or KMS role", () => {
      const projectRoles = resourceConfigs(json, "google_project_iam_member").map((g) => g.role);
      expect(projectRoles.length).toBeGreaterThan(0);
      expect(projectRoles.filter((r) => /^roles\/(storage|cloudkms)\./.test(r))).toEqual([]);
    });

    test("decrypt on dataset keys is held only by approved principal sets, the job pool's group and the impersonation reader", () => {
      const allowed = new Set([...membersOf("insurance").map((m) => m.member), jobGroup(), readerMember()]);
      const decrypters = keyGrants.filter((g) => g.component === "dataset-key" && /Decrypter$/.test(g.role));
      expect(decrypters).toHaveLength(4);
      for (const g of decrypters) expect(allowed).toContain(g.member);
    });

    test("every bucket is uniform, not public, CMEK-encrypted with the storage key, versioned, in residency, without force-destroy", () => {
      expect(Object.keys(buckets)).toHaveLength(2 * policy.datasets.length); // stage 1 and stage 2
      for (const b of Object.values(buckets)) {
        expect(b).toMatchObject({
          uniform_bucket_level_access: true,
          public_access_prevention: "enforced",
          force_destroy: false,
          versioning: { enabled: true },
          encryption: { default_kms_key_name: `\${google_kms_crypto_key.${storageKeyId}.id}` },
        });
        expect(policy.residency).toContain(b.location);
        expect(b.depends_on).toEqual([expect.stringMatching(/^google_kms_crypto_key_iam_policy\.data_storage-key_iam_policy_/)]);
      }
    });

    test("every data bucket deletes live and noncurrent objects at its dataset's retentionDays and has no retention policy", () => {
      for (const b of Object.values(buckets)) {
        const days = policy.datasets.find((d) => d.name === b.labels.dataset)!.retentionDays;
        expect(b.labels["retention-days"]).toBe(String(days));
        expect(b.lifecycle_rule).toEqual(
          expect.arrayContaining([
            { action: { type: "Delete" }, condition: { age: days, with_state: "LIVE" } },
            { action: { type: "Delete" }, condition: { age: days, with_state: "ARCHIVED" } },
          ]),
        );
        expect(b.retention_policy).toBeUndefined();
        expect(b.soft_delete_policy).toEqual({ retention_duration_seconds: 0 });
      }
    });

    test("every key rotates, is protected from destroy and keeps destroyed versions 30 days; dataset and storage keys are on separate rings", () => {
      const rings = Object.fromEntries(resources(json, "google_kms_key_ring"));
      expect(Object.values(rings).map((r: any) => r.name).sort()).toEqual(["insurance-study-datasets", "insurance-study-storage"]);
      for (const k of Object.values(keys)) {
        // Cloud KMS rotates only symmetric keys; approver keys are rotated by a new version (and fingerprint).
        const rotation = k.labels.component === "approver-key" ? {} : { rotation_period: "7776000s" };
        expect(k).toMatchObject({ ...rotation, destroy_scheduled_duration: "2592000s", lifecycle: { prevent_destroy: true } });
        const ring = rings[refId(k.key_ring, "google_kms_key_ring")];
        expect(ring.name).toBe(k.labels.component === "storage-key" ? "insurance-study-storage" : "insurance-study-datasets");
        expect(policy.residency).toContain(ring.location);
      }
      expect(Object.values(keys).filter((k) => k.labels.component === "dataset-key").map((k) => k.labels.dataset).sort()).toEqual([
        "claims",
        "insurance",
      ]);
    });

    test("the storage service agent holds encrypter/decrypter on the storage key only", () => {
      const agentGrants = keyGrants.filter((g) => g.member.includes("google_storage_project_service_account"));
      expect(agentGrants).toHaveLength(1);
      expect(agentGrants[0]).toMatchObject({ component: "storage-key", role: "roles/cloudkms.cryptoKeyEncrypterDecrypter" });
      expect(keyGrants.filter((g) => g.component === "storage-key")).toHaveLength(1);
    });

    test("the pool provider enforces the compiled condition, and the TEE template is production", () => {
      expect(providerOf(plane.pool.poolId)[1].attribute_condition).toBe(compileAttributeCondition(policy));
      expect(providerOf(dataPlaneNames(policy).jobPoolId("insurance"))[1].attribute_condition).toBe(compileJobApprovalCondition(policy, "insurance"));
      expect(dataSources(json, "google_compute_image")[0][1].family).toBe("confidential-space");
    });
  });

  test("every name is the one dataPlaneNames gives, so the access report and the guardrails find the same resources", () => {
    const names = dataPlaneNames(policy);
    for (const b of Object.values(buckets)) {
      expect(b.name).toBe(names.datasetBucket(b.labels.dataset, b.labels.component));
    }
    expect(Object.values(resources(json, "google_kms_key_ring")).map(([, r]) => r.name).sort()).toEqual(
      [names.datasetKeyRing, names.storageKeyRing].sort(),
    );
    for (const k of Object.values(keys)) {
      if (k.labels.component === "storage-key") expect(k.name).toBe(names.storageKey);
      else if (k.labels.component === "approver-key") expect(k.name).toBe(names.approverKey(k.labels.dataset));
      else expect(k.name).toBe(names.datasetKey(k.labels.dataset));
    }
    expect(resourceConfigs(json, "google_iam_workload_identity_pool").map((p) => p.workload_identity_pool_id).sort()).toEqual(
      [names.poolId, names.jobPoolId("insurance")].sort(),
    );
    expect(resourceConfigs(json, "google_iam_workload_identity_pool_provider").map((p) => p.workload_identity_pool_provider_id)).toEqual([
      names.jobProviderId,
      names.providerId,
    ]);
    const accountIds = resourceConfigs(json, "google_service_account").map((sa) => sa.account_id);
    expect(accountIds).toContain(names.readerServiceAccountId("claims"));
    expect(accountIds).not.toContain(names.readerServiceAccountId("insurance"));
  });

  test("the per-dataset handles expose what was created", () => {
    expect(Object.keys(plane.datasets).sort()).toEqual(["claims", "insurance"]);
    const insurance = plane.datasets.insurance;
    expect([insurance.stage1Bucket.purpose, insurance.stage2Bucket.purpose]).toEqual(["stage1", "stage2"]);
    expect(insurance.key.dataset).toBe("insurance");
    expect(insurance.members.map((m) => m.imageDigest)).toEqual(membersOf("insurance").map((m) => m.imageDigest));
  });

  test("snapshot of the data plane, paired with the assertions above", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("CleanRoomDataPlane validation", () => {
  test("given a region outside the residency set, then the residency set is named", () => {
    const outside = examplePolicy({ region: "europe-west4", zone: "europe-west4-a" });
    expect(() => synthWith((stack) => new CleanRoomDataPlane(stack, "data", { policy: outside }))).toThrow(
      'region "europe-west4" lies outside the residency set [us-central1].',
    );
  });

  test("given a policy without approvals, then no image principal set is granted anything; only the job pool's group of a dataset with per-job approval", () => {
    const json = synthWith((stack) => new CleanRoomDataPlane(stack, "data", { policy: examplePolicy({ approvals: [] }) }));
    const principalSets = iamGrants(json).filter((g) => g.member.startsWith("principalSet://"));
    expect(principalSets.filter((g) => !g.member.endsWith("/workloadIdentityPools/insurance-study-insurance-jobs/group/job-approved"))).toEqual([]);
    expect(principalSets.map((g) => g.role).sort()).toEqual(["roles/cloudkms.cryptoKeyDecrypter", "roles/storage.objectViewer"]);
  });

  test("given a policy without approvals and without approver key fingerprints, then no principal set is granted anything", () => {
    const base = examplePolicy({ approvals: [] });
    const policy = { ...base, datasets: base.datasets.map(({ approverKey: _omit, ...d }) => d) };
    const json = synthWith((stack) => new CleanRoomDataPlane(stack, "data", { policy }));
    expect(iamGrants(json).filter((g) => g.member.startsWith("principalSet://"))).toEqual([]);
  });
});
