import { AttestationBoundKey, AttestationBoundKeyProps, StorageEncryptionKey } from "../lib/constructs/data-plane/keys";
import { DatasetMember, datasetMembers } from "../lib/policy/members";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B, SynthJson, dataSources, examplePolicy, resourceConfigs, resources, synthWith, grantsOn } from "./util";

const policy = examplePolicy();
const poolRef = { projectNumber: "123456789012", poolId: "insurance-study-tee" };
const OWNER = "user:data-owner@example.org";

describe("AttestationBoundKey", () => {
  let json: SynthJson;
  let members: DatasetMember[];

  beforeAll(() => {
    members = datasetMembers(policy, "insurance", poolRef);
    json = synthWith((stack) => {
      const key = new AttestationBoundKey(stack, "insurance", { room: policy, dataset: "insurance" });
      key.grantDecryptToApprovedImages(members);
      key.grantEncryptOnly(OWNER);
      key.grantEncryptOnly(OWNER); // idempotent
    });
  });

  test("given defaults, the key rotates every 90 days, is HSM-backed, and cannot be destroyed by Terraform", () => {
    const [key] = resourceConfigs(json, "google_kms_crypto_key");
    expect(key).toMatchObject({
      name: "insurance",
      purpose: "ENCRYPT_DECRYPT",
      rotation_period: "7776000s",
      destroy_scheduled_duration: "2592000s",
      version_template: { algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION", protection_level: "HSM" },
      lifecycle: { prevent_destroy: true },
      labels: { "managed-by": "manatee-cdktf", "clean-room": "insurance-study", component: "dataset-key", dataset: "insurance" },
    });
  });

  test("then it sits on a new key ring in the room's region, inside the residency set", () => {
    const [ring] = resourceConfigs(json, "google_kms_key_ring");
    expect(ring).toEqual({ name: "insurance-study-insurance", location: "us-central1", project: "acme-clean-room" });
    expect(policy.residency).toContain(ring.location);
    expect(resourceConfigs(json, "google_kms_crypto_key")[0].key_ring).toMatch(/^\$\{google_kms_key_ring\.\w+\.id\}$/);
  });

  test("then decrypt goes exactly to the approved images' principal sets, expiring approvals with their condition", () => {
    const decrypt = grantsOn(json, "google_kms_crypto_key").filter(
      (g) => g.role === "roles/cloudkms.cryptoKeyDecrypter",
    );
    expect(new Set(decrypt.map((g) => g.member))).toEqual(new Set(members.map((m) => m.member)));
    expect(decrypt).toHaveLength(2);
    for (const g of decrypt) {
      expect(g.member).toMatch(/^principalSet:\/\/iam\.googleapis\.com\/projects\/123456789012\/locations\/global\/workloadIdentityPools\/insurance-study-tee\/attribute\.image_digest\/sha256:[0-9a-f]{64}$/);
    }
    const expiring = decrypt.find((g) => g.member.endsWith(EXAMPLE_DIGEST_A));
    expect(expiring.condition).toEqual({
      title: "approval-until-2027-01-31",
      description: "Clean-room approval valid through 2027-01-31 (UTC)",
      expression: 'request.time < timestamp("2027-02-01T00:00:00Z")',
    });
    expect(decrypt.find((g) => g.member.endsWith(EXAMPLE_DIGEST_B)).condition).toBeUndefined();
  });

  test("then the data owner can only encrypt, once, and never decrypt", () => {
    const owner = grantsOn(json, "google_kms_crypto_key").filter((g) => g.member === OWNER);
    expect(owner.map((g) => g.role)).toEqual(["roles/cloudkms.cryptoKeyEncrypter"]);
  });

  test("snapshot of a dataset key with grants, paired with the assertions above", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("AttestationBoundKey options and validation", () => {
  const build = (props: Partial<AttestationBoundKeyProps> = {}, then?: (key: AttestationBoundKey) => void) => () =>
    synthWith((stack) => {
      const key = new AttestationBoundKey(stack, "key", { room: policy, dataset: "insurance", ...props });
      then?.(key);
    });

  test("given an existing key ring id, then no key ring is created and the key goes on it", () => {
    const id = "projects/acme-clean-room/locations/us-central1/keyRings/shared";
    const json = build({ keyRingId: id })();
    expect(resources(json, "google_kms_key_ring")).toHaveLength(0);
    expect(resourceConfigs(json, "google_kms_crypto_key")[0].key_ring).toBe(id);
  });

  test("given opt-outs, then SOFTWARE protection and no prevent_destroy are honoured", () => {
    const json = build({ protectionLevel: "SOFTWARE", preventDestroy: false, rotationPeriod: "2592000s" })();
    expect(resourceConfigs(json, "google_kms_crypto_key")[0]).toMatchObject({
      rotation_period: "2592000s",
      version_template: { protection_level: "SOFTWARE" },
      lifecycle: { prevent_destroy: false },
    });
  });

  test("given a malformed or out-of-range rotation period, then the field, the format and the range are named", () => {
    expect(build({ rotationPeriod: "90d" })).toThrow(
      'rotationPeriod "90d" must be a whole number of seconds followed by "s", e.g. "7776000s" (90 days).',
    );
    expect(build({ rotationPeriod: "3600s" })).toThrow(
      'rotationPeriod "3600s" must be between "86400s" (1 day) and "31536000s" (365 days).',
    );
    expect(build({ rotationPeriod: "63072000s" })).toThrow('rotationPeriod "63072000s" must be between');
  });

  test("given a bad destroy-scheduled duration, then its range is named", () => {
    expect(build({ destroyScheduledDuration: "600s" })).toThrow(
      'destroyScheduledDuration "600s" must be between "86400s" (1 day) and "10368000s" (120 days).',
    );
    expect(build({ destroyScheduledDuration: "30 days" })).toThrow(
      'destroyScheduledDuration "30 days" must be a whole number of seconds followed by "s", e.g. "2592000s" (30 days).',
    );
  });

  test("given a location outside the residency set, then the residency set is named", () => {
    expect(build({ location: "europe-west1" })).toThrow(
      'location "europe-west1" lies outside the residency set [us-central1]. Choose a location in the residency set, ' +
        'or add its region to "residency" if the data owner allows it.',
    );
    expect(build({ location: "global" })).toThrow('location "global" lies outside the residency set');
  });

  test("given a key ring id elsewhere or malformed, then the mismatch is named", () => {
    expect(build({ keyRingId: "projects/p/locations/us-east1/keyRings/r" })).toThrow(
      'keyRingId "projects/p/locations/us-east1/keyRings/r" is in location "us-east1", but location is "us-central1". ' +
        'Pass the key ring\'s location as location, or use a key ring in "us-central1".',
    );
    expect(build({ keyRingId: "shared" })).toThrow(
      'keyRingId "shared" must look like "projects/PROJECT/locations/LOCATION/keyRings/NAME".',
    );
  });

  test("given an unsupported protection level, then the choices are named", () => {
    expect(build({ protectionLevel: "EXTERNAL" as any })).toThrow(
      'protectionLevel "EXTERNAL" is not supported. Use "HSM" or "SOFTWARE".',
    );
  });

  test("given anything but an image principal set for decrypt, then it is refused", () => {
    const forged: DatasetMember = { member: "group:analysts@example.org", imageDigest: EXAMPLE_DIGEST_A, approvals: [] };
    expect(build({}, (k) => k.grantDecryptToApprovedImages([forged]))).toThrow(
      `Decrypt member "group:analysts@example.org" is not the principal set of image ${EXAMPLE_DIGEST_A}. ` +
        "Build members with datasetMembers(policy, dataset, pool.poolRef).",
    );
    expect(build({}, (k) => k.grantDecryptToReader("group:analysts@example.org"))).toThrow(
      'grantDecryptToReader member "group:analysts@example.org" is not a service account.',
    );
  });

  test("given the public or a whole pool as encrypter, then it is refused", () => {
    expect(build({}, (k) => k.grantEncryptOnly("allUsers"))).toThrow(
      'member "allUsers" would make clean-room data public.',
    );
    const wholePool = "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/*";
    expect(build({}, (k) => k.grantEncryptOnly(wholePool))).toThrow(
      `member "${wholePool}" names a whole workload identity pool, which admits every attested image.`,
    );
  });

  test("given a whole-pool principal set with a token project number, then it is still refused", () => {
    // Given a member that embeds a Terraform reference (as pool.poolRef.projectNumber does)
    const withToken = (k: AttestationBoundKey) =>
      `principalSet://iam.googleapis.com/projects/${k.cryptoKeyId}/locations/global/workloadIdentityPools/p/*`;
    // When it is granted, then
    expect(build({}, (k) => k.grantEncryptOnly(withToken(k)))).toThrow("names a whole workload identity pool");
  });
});

describe("StorageEncryptionKey", () => {
  let json: SynthJson;

  beforeAll(() => {
    json = synthWith((stack) => {
      new StorageEncryptionKey(stack, "storage-key", { room: policy });
    });
  });

  test("given defaults, the storage key has its own key ring, labelled storage-key, with the same hardening", () => {
    const [ring] = resourceConfigs(json, "google_kms_key_ring");
    expect(ring).toEqual({ name: "insurance-study-storage", location: "us-central1", project: "acme-clean-room" });
    expect(resourceConfigs(json, "google_kms_crypto_key")[0]).toMatchObject({
      name: "insurance-study-storage",
      rotation_period: "7776000s",
      destroy_scheduled_duration: "2592000s",
      version_template: { protection_level: "HSM" },
      lifecycle: { prevent_destroy: true },
      labels: { component: "storage-key" },
    });
  });

  test("then only the project's Cloud Storage service agent may use it, as encrypter/decrypter", () => {
    const [[agentId, agent]] = dataSources(json, "google_storage_project_service_account");
    expect(agent.project).toBe("acme-clean-room");
    const grants = grantsOn(json, "google_kms_crypto_key");
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatchObject({
      role: "roles/cloudkms.cryptoKeyEncrypterDecrypter",
      member: `\${data.google_storage_project_service_account.${agentId}.member}`,
    });
    expect(grants[0].condition).toBeUndefined();
  });

  test("snapshot of the storage key, paired with the assertions above", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});
