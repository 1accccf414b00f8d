/**
 * MCR-KMS1, MCR-GCS1, MCR-IAM1, MCR-IAM2: who may touch the room's data. Every case is
 * built from raw provider classes (or escape hatches), as a user's own code would.
 */
import { TerraformStack } from "cdktf";
import { DataGoogleIamPolicy } from "@cdktf/provider-google/lib/data-google-iam-policy";
import { KmsCryptoKey } from "@cdktf/provider-google/lib/kms-crypto-key";
import { KmsCryptoKeyIamBinding } from "@cdktf/provider-google/lib/kms-crypto-key-iam-binding";
import { KmsCryptoKeyIamMember } from "@cdktf/provider-google/lib/kms-crypto-key-iam-member";
import { KmsCryptoKeyIamPolicy } from "@cdktf/provider-google/lib/kms-crypto-key-iam-policy";
import { KmsKeyRing } from "@cdktf/provider-google/lib/kms-key-ring";
import { KmsKeyRingIamMember } from "@cdktf/provider-google/lib/kms-key-ring-iam-member";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { ProjectIamCustomRole } from "@cdktf/provider-google/lib/project-iam-custom-role";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { ServiceAccountIamMember } from "@cdktf/provider-google/lib/service-account-iam-member";
import { ServiceAccountKey } from "@cdktf/provider-google/lib/service-account-key";
import { StorageBucket } from "@cdktf/provider-google/lib/storage-bucket";
import { StorageBucketAccessControl } from "@cdktf/provider-google/lib/storage-bucket-access-control";
import { StorageBucketIamBinding } from "@cdktf/provider-google/lib/storage-bucket-iam-binding";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member";
import { Cloudfunctions2FunctionIamMember } from "@cdktf/provider-google/lib/cloudfunctions2-function-iam-member";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B, examplePolicy } from "../util";
import { attested, check, errors, of, POOL } from "./harness";

const policy = examplePolicy();
const OTHER_DIGEST = "sha256:" + "ab".repeat(32);

function datasetKey(stack: TerraformStack, dataset = "insurance") {
  const ring = new KmsKeyRing(stack, "ring", { name: "room-ring", location: "us-central1" });
  const key = new KmsCryptoKey(stack, "key", {
    name: `${dataset}-key`,
    keyRing: ring.id,
    labels: { component: "dataset-key", dataset },
  });
  return { ring, key };
}

function stage2Bucket(stack: TerraformStack, component = "stage2") {
  return new StorageBucket(stack, "bucket", {
    name: `acme-${component}`,
    location: "us-central1",
    uniformBucketLevelAccess: true,
    publicAccessPrevention: "enforced",
    labels: { component, dataset: "insurance" },
  });
}

/** A per-dataset reader service account impersonable only by the approved digest. */
function readerSa(stack: TerraformStack, digest = EXAMPLE_DIGEST_B) {
  const sa = new ServiceAccount(stack, "reader", { accountId: "claims-reader" });
  new ServiceAccountIamMember(stack, "reader-wi", {
    serviceAccountId: sa.name,
    role: "roles/iam.workloadIdentityUser",
    member: attested(digest),
  });
  return sa;
}

describe("MCR-KMS1 dataset keys open only to attested principal sets", () => {
  test("given a decrypter grant to an approved image's principal set, then no finding", () => {
    const { findings } = check((s) => {
      const { key } = datasetKey(s);
      new KmsCryptoKeyIamMember(s, "tee", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyDecrypter", member: attested(EXAMPLE_DIGEST_A) });
    }, { policy });
    expect(errors(findings)).toEqual([]);
  });

  test("given a decrypter grant to a researcher group, then an error names the member, the key and the fix", () => {
    const { findings } = check((s) => {
      const { key } = datasetKey(s);
      new KmsCryptoKeyIamMember(s, "leak", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyDecrypter", member: "group:researchers@example.org" });
    });
    const [f] = of(findings, "MCR-KMS1");
    expect(f.address).toBe("google_kms_crypto_key_iam_member.leak");
    expect(f.message).toContain("group:researchers@example.org holds roles/cloudkms.cryptoKeyDecrypter on dataset key google_kms_crypto_key.key (dataset \"insurance\")");
    expect(f.message).toContain("is a person or group");
    expect(f.message).toContain("grant roles/cloudkms.cryptoKeyDecrypter to the approved image's principal set");
  });

  test("given a safe grant broken by an escape hatch, then the override is what gets checked", () => {
    const { findings } = check((s) => {
      const { key } = datasetKey(s);
      const ok = new KmsCryptoKeyIamMember(s, "tee", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyDecrypter", member: attested(EXAMPLE_DIGEST_A) });
      ok.addOverride("member", `${POOL}/*`);
    });
    expect(of(findings, "MCR-KMS1")[0].message).toContain("is a whole workload identity pool");
  });

  test("given the approved digest of another dataset, then with the policy it is an error", () => {
    // EXAMPLE_DIGEST_A is approved for "insurance" only.
    const { findings } = check((s) => {
      const { key } = datasetKey(s, "claims");
      new KmsCryptoKeyIamMember(s, "tee", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyDecrypter", member: attested(EXAMPLE_DIGEST_A) });
    }, { policy });
    expect(of(findings, "MCR-KMS1")[0].message).toContain(`image digest ${EXAMPLE_DIGEST_A} is not approved for dataset "claims" in the policy`);
  });

  test("given allUsers, a whole pool and a user in one authoritative binding, then one error per member", () => {
    const { findings } = check((s) => {
      const { key } = datasetKey(s);
      new KmsCryptoKeyIamBinding(s, "binding", {
        cryptoKeyId: key.id,
        role: "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        members: [attested(EXAMPLE_DIGEST_A), "allUsers", `${POOL}/*`, "user:alice@example.org"],
      });
    });
    const members = of(findings, "MCR-KMS1").map((f) => f.message.split(" ")[0]);
    expect(members).toEqual(["allUsers", `${POOL}/*`, "user:alice@example.org"]);
  });

  test("given a key ring grant, then it reaches the dataset key in the ring", () => {
    const { findings } = check((s) => {
      const { ring } = datasetKey(s);
      new KmsKeyRingIamMember(s, "ring-admin", { keyRingId: ring.id, role: "roles/cloudkms.admin", member: "user:ops@example.org" });
    });
    const [f] = of(findings, "MCR-KMS1");
    expect(f.message).toContain("holds roles/cloudkms.admin through the key ring, which reaches dataset key google_kms_crypto_key.key");
  });

  test("given a literal key ring id, then the ring is matched by name", () => {
    const { findings } = check((s) => {
      datasetKey(s);
      new KmsKeyRingIamMember(s, "ring-lit", {
        keyRingId: "projects/acme-clean-room/locations/us-central1/keyRings/room-ring",
        role: "roles/cloudkms.cryptoKeyDecrypter",
        member: "serviceAccount:ci@other.iam.gserviceaccount.com",
      });
    });
    expect(of(findings, "MCR-KMS1")).toHaveLength(1);
  });

  test("given an iam_policy from a google_iam_policy data source, then its bindings are checked", () => {
    const { findings } = check((s) => {
      const { key } = datasetKey(s);
      const doc = new DataGoogleIamPolicy(s, "doc", {
        binding: [
          { role: "roles/cloudkms.cryptoKeyDecrypter", members: [attested(EXAMPLE_DIGEST_A)] },
          { role: "roles/owner", members: ["user:boss@example.org"] },
        ],
      });
      new KmsCryptoKeyIamPolicy(s, "policy", { cryptoKeyId: key.id, policyData: doc.policyData });
    });
    expect(of(findings, "MCR-KMS1").map((f) => f.message.split(" ").slice(0, 3).join(" "))).toEqual(["user:boss@example.org holds roles/owner"]);
  });

  test("given an iam_policy with literal policy_data JSON, then it is parsed and checked", () => {
    const { findings } = check((s) => {
      const { key } = datasetKey(s);
      new KmsCryptoKeyIamPolicy(s, "policy", {
        cryptoKeyId: key.id,
        policyData: JSON.stringify({ bindings: [{ role: "roles/cloudkms.cryptoKeyDecrypter", members: ["allAuthenticatedUsers"] }] }),
      });
    });
    expect(of(findings, "MCR-KMS1")[0].message).toMatch(/^allAuthenticatedUsers holds roles\/cloudkms.cryptoKeyDecrypter/);
    expect(of(findings, "MCR-IAM1")).toHaveLength(1);
  });

  test("given a data owner, then encrypt-only is allowed and decrypt is not", () => {
    const owner = "user:data-owner@example.org"; // an owner of "insurance" in the example policy
    const { findings } = check((s) => {
      const { key } = datasetKey(s);
      new KmsCryptoKeyIamMember(s, "wrap", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyEncrypter", member: owner });
      new KmsCryptoKeyIamMember(s, "unwrap", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyDecrypter", member: owner });
    }, { policy });
    expect(of(findings, "MCR-KMS1").map((f) => f.address)).toEqual(["google_kms_crypto_key_iam_member.unwrap"]);
  });

  test("given no policy, then an encrypt-only grant to a person is still an error (owners are unknown)", () => {
    const { findings } = check((s) => {
      const { key } = datasetKey(s);
      new KmsCryptoKeyIamMember(s, "wrap", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyEncrypter", member: "user:data-owner@example.org" });
    });
    expect(of(findings, "MCR-KMS1")).toHaveLength(1);
  });

  test("given a viewer role or a key that is not a dataset key, then no finding", () => {
    const { findings } = check((s) => {
      const { key } = datasetKey(s);
      new KmsCryptoKeyIamMember(s, "view", { cryptoKeyId: key.id, role: "roles/cloudkms.viewer", member: "group:auditors@example.org" });
      const other = new KmsCryptoKey(s, "cmek", { name: "storage", keyRing: key.keyRing, labels: { component: "storage-key" } });
      new KmsCryptoKeyIamMember(s, "agent", { cryptoKeyId: other.id, role: "roles/cloudkms.cryptoKeyEncrypterDecrypter", member: "serviceAccount:service-1@gs-project-accounts.iam.gserviceaccount.com" });
    });
    expect(errors(findings)).toEqual([]);
  });

  describe("impersonation mode: the dataset's reader service account", () => {
    test("given a reader impersonable only by the approved digest, then its decrypter grant passes", () => {
      const { findings } = check((s) => {
        const { key } = datasetKey(s, "claims");
        const sa = readerSa(s);
        new KmsCryptoKeyIamMember(s, "reader-dec", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyDecrypter", member: sa.member });
      }, { policy });
      expect(errors(findings)).toEqual([]);
    });

    test("given the reader's email written literally, then it is still recognised", () => {
      const { findings } = check((s) => {
        const { key } = datasetKey(s, "claims");
        readerSa(s);
        new KmsCryptoKeyIamMember(s, "reader-dec", {
          cryptoKeyId: key.id,
          role: "roles/cloudkms.cryptoKeyDecrypter",
          member: "serviceAccount:claims-reader@acme-clean-room.iam.gserviceaccount.com",
        });
      }, { policy });
      // MCR-KMS1 accepts it; MCR-DEP1 does not: a literal email orders nothing after the account.
      expect(errors(findings).filter((f) => f.ruleId !== "MCR-DEP1")).toEqual([]);
      expect(of(findings, "MCR-DEP1").map((f) => f.message)).toEqual([expect.stringContaining("names google_service_account.reader by the literal")]);
    });

    test("given a person may also impersonate the reader, then the grant is an error naming who", () => {
      const { findings } = check((s) => {
        const { key } = datasetKey(s, "claims");
        const sa = readerSa(s);
        new ServiceAccountIamMember(s, "dev", { serviceAccountId: sa.name, role: "roles/iam.serviceAccountTokenCreator", member: "user:dev@example.org" });
        new KmsCryptoKeyIamMember(s, "reader-dec", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyDecrypter", member: sa.member });
      }, { policy });
      expect(of(findings, "MCR-KMS1")[0].message).toContain(
        "is not an attested-only dataset reader: user:dev@example.org may impersonate it through roles/iam.serviceAccountTokenCreator (google_service_account_iam_member.dev)",
      );
    });

    test("given the reader has a user-managed key, then it is not attested-only", () => {
      const { findings } = check((s) => {
        const { key } = datasetKey(s, "claims");
        const sa = readerSa(s);
        new ServiceAccountKey(s, "sa-key", { serviceAccountId: sa.name });
        new KmsCryptoKeyIamMember(s, "reader-dec", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyDecrypter", member: sa.member });
      });
      expect(of(findings, "MCR-KMS1")[0].message).toContain("has a user-managed key (google_service_account_key.sa-key)");
    });

    test("given a reader impersonable by a digest not approved for its dataset, then it is an error", () => {
      const { findings } = check((s) => {
        const { key } = datasetKey(s, "claims");
        const sa = readerSa(s, OTHER_DIGEST);
        new KmsCryptoKeyIamMember(s, "reader-dec", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyDecrypter", member: sa.member });
      }, { policy });
      expect(of(findings, "MCR-KMS1")[0].message).toContain(`image digest ${OTHER_DIGEST} may impersonate it but is not approved for this dataset`);
    });

    test("given a service account of another project, then it is not a reader", () => {
      const { findings } = check((s) => {
        const { key } = datasetKey(s);
        new KmsCryptoKeyIamMember(s, "ext", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyDecrypter", member: "serviceAccount:etl@partner.iam.gserviceaccount.com" });
      });
      expect(of(findings, "MCR-KMS1")[0].message).toContain("it is not created in this stack");
    });
  });

  test("given an unresolved member, then a warning (not a silent pass, not an error)", () => {
    const { findings } = check((s) => {
      const { key } = datasetKey(s);
      const other = new ServiceAccount(s, "x", { accountId: "x-account" });
      new KmsCryptoKeyIamMember(s, "expr", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyDecrypter", member: `\${lower("${other.email}")}` });
    });
    expect(of(findings, "MCR-KMS1")).toEqual([]);
    expect(of(findings, "MCR-KMS1", "warning")[0].message).toContain("cannot tell who");
  });
});

describe("MCR-GCS1 stage-2 buckets are readable only by attested principals", () => {
  test("given objectViewer for researchers on a stage-2 bucket, then an error", () => {
    const { findings } = check((s) => {
      const b = stage2Bucket(s);
      new StorageBucketIamMember(s, "peek", { bucket: b.name, role: "roles/storage.objectViewer", member: "group:researchers@example.org" });
    });
    const [f] = of(findings, "MCR-GCS1");
    expect(f.message).toContain("group:researchers@example.org holds roles/storage.objectViewer on stage-2 bucket google_storage_bucket.bucket");
    expect(f.message).toContain("Researchers read stage-1 buckets only");
  });

  test("given a stage-2 bucket addressed by its literal name, then a legacy reader grant is an error", () => {
    const { findings } = check((s) => {
      stage2Bucket(s);
      new StorageBucketIamBinding(s, "legacy", { bucket: "acme-stage2", role: "roles/storage.legacyObjectReader", members: ["user:r@example.org"] });
    });
    expect(of(findings, "MCR-GCS1")).toHaveLength(1);
  });

  test("given a project-level objectViewer for a person, then it reaches the stage-2 bucket", () => {
    const { findings } = check((s) => {
      stage2Bucket(s);
      new ProjectIamMember(s, "proj-view", { project: "acme-clean-room", role: "roles/storage.objectViewer", member: "user:r@example.org" });
    }, { policy });
    expect(of(findings, "MCR-GCS1")[0].message).toContain("through the project, which reaches stage-2 bucket");
  });

  test("given attested readers, object creators (uploaders) and stage-1 readers, then no finding", () => {
    const { findings } = check((s) => {
      const b = stage2Bucket(s);
      const reader = readerSa(s, EXAMPLE_DIGEST_A);
      new StorageBucketIamMember(s, "tee", { bucket: b.name, role: "roles/storage.objectViewer", member: attested(EXAMPLE_DIGEST_A) });
      new StorageBucketIamMember(s, "sa", { bucket: b.name, role: "roles/storage.objectViewer", member: reader.member });
      new StorageBucketIamMember(s, "owner", { bucket: b.name, role: "roles/storage.objectCreator", member: "user:data-owner@example.org" });
      const s1 = new StorageBucket(s, "s1", { name: "acme-stage1", location: "us-central1", uniformBucketLevelAccess: true, publicAccessPrevention: "enforced", labels: { component: "stage1" } });
      new StorageBucketIamMember(s, "research", { bucket: s1.name, role: "roles/storage.objectViewer", member: "group:researchers@example.org" });
    }, { policy });
    expect(findings.filter((f) => f.ruleId === "MCR-GCS1")).toEqual([]);
  });
});

describe("MCR-IAM1 no public members anywhere", () => {
  test("given allUsers as a Cloud Functions invoker, then an error", () => {
    const { findings } = check((s) => {
      new Cloudfunctions2FunctionIamMember(s, "invoke", { cloudFunction: "verifier", location: "us-central1", role: "roles/cloudfunctions.invoker", member: "allUsers" });
    });
    expect(of(findings, "MCR-IAM1")[0].message).toMatch(/^allUsers holds roles\/cloudfunctions.invoker: anyone on the internet gets it\./);
  });

  test("given a public bucket ACL entry, then an error", () => {
    const { findings } = check((s) => {
      new StorageBucketAccessControl(s, "acl", { bucket: "acme-hub", role: "READER", entity: "allAuthenticatedUsers" });
    });
    expect(of(findings, "MCR-IAM1")).toHaveLength(1);
  });

  test("given a named invoker, then no finding", () => {
    const { findings } = check((s) => {
      new Cloudfunctions2FunctionIamMember(s, "invoke", { cloudFunction: "verifier", location: "us-central1", role: "roles/cloudfunctions.invoker", member: "serviceAccount:tee@acme-clean-room.iam.gserviceaccount.com" });
    });
    expect(of(findings, "MCR-IAM1")).toEqual([]);
  });
});

describe("MCR-IAM2 no project-wide data roles for clean-room identities", () => {
  test("given storage.admin on the project for a service account of the stack, then an error", () => {
    const { findings } = check((s) => {
      const sa = new ServiceAccount(s, "jobs", { accountId: "dcr-room-pod-sa" });
      new ProjectIamMember(s, "wide", { project: "acme-clean-room", role: "roles/storage.admin", member: sa.member });
    });
    const [f] = of(findings, "MCR-IAM2");
    expect(f.message).toContain("(the service account google_service_account.jobs created in this stack) holds roles/storage.admin on the whole project");
  });

  test("given editor for the room project's SA by email, GKE pods or the pool, then errors; a log writer role passes", () => {
    const { findings } = check((s) => {
      new ProjectIamMember(s, "ed", { project: "acme-clean-room", role: "roles/editor", member: "serviceAccount:dcr-x-cvm-sa@acme-clean-room.iam.gserviceaccount.com" });
      new ProjectIamMember(s, "pods", { project: "acme-clean-room", role: "roles/cloudkms.cryptoKeyDecrypter", member: "serviceAccount:acme-clean-room.svc.id.goog[manatee/dcr-k8s-pod-sa]" });
      new ProjectIamMember(s, "tee", { project: "acme-clean-room", role: "roles/storage.objectViewer", member: attested(EXAMPLE_DIGEST_A) });
      new ProjectIamMember(s, "logs", { project: "acme-clean-room", role: "roles/logging.logWriter", member: "serviceAccount:dcr-x-cvm-sa@acme-clean-room.iam.gserviceaccount.com" });
    }, { policy });
    expect(of(findings, "MCR-IAM2").map((f) => f.address)).toEqual([
      "google_project_iam_member.ed",
      "google_project_iam_member.pods",
      "google_project_iam_member.tee",
    ]);
  });

  test("given a person with a project storage role, then MCR-IAM2 does not apply (other rules judge people)", () => {
    const { findings } = check((s) => {
      new ProjectIamMember(s, "admin", { project: "acme-clean-room", role: "roles/storage.admin", member: "group:platform@example.org" });
    }, { policy });
    expect(of(findings, "MCR-IAM2")).toEqual([]);
  });
});

describe("custom roles declared in the stack are judged by their permissions", () => {
  const customRole = (s: TerraformStack, permissions: string[]) =>
    new ProjectIamCustomRole(s, "role", { roleId: "launcher", title: "launcher", permissions });

  test("given a project-level custom role with only compute permissions, then it reaches no key, bucket or reader", () => {
    const { findings } = check((s) => {
      datasetKey(s);
      stage2Bucket(s);
      const sa = new ServiceAccount(s, "jobs", { accountId: "jobs-sa" });
      const role = customRole(s, ["compute.instances.create", "compute.instances.setServiceAccount", "compute.subnetworks.use"]);
      new ProjectIamMember(s, "launch", { project: "acme-clean-room", role: role.name, member: sa.member });
    }, { policy });
    expect([...of(findings, "MCR-KMS1"), ...of(findings, "MCR-GCS1"), ...of(findings, "MCR-KMS1", "warning"), ...of(findings, "MCR-GCS1", "warning")]).toEqual([]);
  });

  test("given a project-level custom role that can decrypt, then it is an error on the dataset key", () => {
    const { findings } = check((s) => {
      datasetKey(s);
      const sa = new ServiceAccount(s, "jobs", { accountId: "jobs-sa" });
      const role = customRole(s, ["compute.instances.create", "cloudkms.cryptoKeyVersions.useToDecrypt"]);
      new ProjectIamMember(s, "launch", { project: "acme-clean-room", role: role.name, member: sa.member });
    }, { policy });
    const [f] = of(findings, "MCR-KMS1");
    expect(f.address).toBe("google_project_iam_member.launch");
    expect(f.message).toContain("through the project, which reaches dataset key google_kms_crypto_key.key");
  });

  test("given a custom role that can mint tokens, then a reader it reaches is no longer attested-only", () => {
    const { findings } = check((s) => {
      const { key } = datasetKey(s, "claims");
      const reader = readerSa(s);
      new KmsCryptoKeyIamMember(s, "reader-decrypt", { cryptoKeyId: key.id, role: "roles/cloudkms.cryptoKeyDecrypter", member: reader.member });
      const role = customRole(s, ["iam.serviceAccounts.getAccessToken"]);
      new ProjectIamMember(s, "mint", { project: "acme-clean-room", role: role.name, member: "user:operator@example.org" });
    }, { policy });
    expect(of(findings, "MCR-KMS1").map((f) => f.address)).toContain("google_kms_crypto_key_iam_member.reader-decrypt");
  });
});
