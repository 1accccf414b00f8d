import { DataGoogleProject } from "@cdktf/provider-google/lib/data-google-project";
import { IamWorkloadIdentityPool } from "@cdktf/provider-google/lib/iam-workload-identity-pool";
import { KmsCryptoKey } from "@cdktf/provider-google/lib/kms-crypto-key";
import { KmsCryptoKeyIamMember } from "@cdktf/provider-google/lib/kms-crypto-key-iam-member";
import { KmsKeyRing } from "@cdktf/provider-google/lib/kms-key-ring";
import { KmsKeyRingIamMember } from "@cdktf/provider-google/lib/kms-key-ring-iam-member";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { ServiceAccountIamMember } from "@cdktf/provider-google/lib/service-account-iam-member";
import { StorageBucket } from "@cdktf/provider-google/lib/storage-bucket";
import { StorageBucketIamBinding } from "@cdktf/provider-google/lib/storage-bucket-iam-binding";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { TerraformStack, Testing } from "cdktf";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CleanRoomSuppressions } from "../../lib/checks/suppressions";
import { CleanRoomDataPlane } from "../../lib/constructs/data-plane/datasets";
import { CLEAN_ROOM_LABEL, COMPONENT, cleanRoomLabels } from "../../lib/internal/common";
import { expiryCondition } from "../../lib/policy/members";
import { CleanRoomPolicy } from "../../lib/policy/model";
import { dataPlaneNames } from "../../lib/policy/names";
import { ExpectedGrant, buildAccessModel, sdkRoles } from "../../lib/report/access-model";
import { renderAccessReport } from "../../lib/report/access-report";
import { CrossCheckFinding, crossCheck } from "../../lib/report/cross-check";
import { readInfrastructure } from "../../lib/report/infrastructure";
import { EXAMPLE_DIGEST_A, SynthJson, examplePolicy, synthWith } from "../util";
import { jobPolicy, noApproverKeys } from "../policy/job-fixtures";
import { section, tableRows } from "./md";

interface Handles {
  stack: TerraformStack;
  project: DataGoogleProject;
  ring: KmsKeyRing;
  buckets: Record<string, StorageBucket>;
  keys: Record<string, KmsCryptoKey>;
  grants: Map<ExpectedGrant, { addOverride(path: string, value: unknown): void }>;
}

interface FixtureOptions {
  /** Leave out the grants this predicate selects. */
  readonly skip?: (g: ExpectedGrant) => boolean;
  /** Name a bucket differently from dataPlaneNames (keeps its labels). */
  readonly rename?: Record<string, string>;
  /** Further changes: escape hatches, rogue grants. */
  readonly tweak?: (h: Handles) => void;
}

/**
 * A data plane for `policy` declared with raw provider classes, wired by references the way
 * constructs are (bucket.name, key.id, sa.email, the project number and the pool id), so the
 * reader has to resolve them. It declares exactly the grants the access model lists.
 */
function synthDataPlane(policy: CleanRoomPolicy, options: FixtureOptions = {}): SynthJson {
  const model = buildAccessModel(policy);
  const names = dataPlaneNames(policy);
  return synthWith((stack) => {
    const project = new DataGoogleProject(stack, "project", {});
    const pool = new IamWorkloadIdentityPool(stack, "pool", { workloadIdentityPoolId: names.poolId });
    const ring = new KmsKeyRing(stack, "dataset-keys", { name: names.datasetKeyRing, location: policy.region });
    const h: Handles = { stack, project, ring, buckets: {}, keys: {}, grants: new Map() };
    const readers: Record<string, ServiceAccount> = {};
    for (const access of model.datasets) {
      const d = access.dataset;
      for (const view of Object.values(access.buckets)) {
        h.buckets[view.name] = new StorageBucket(stack, `${d.name}-${view.purpose}`, {
          name: options.rename?.[view.name] ?? view.name,
          location: policy.region,
          labels: {
            ...cleanRoomLabels(policy.name, view.purpose),
            [CLEAN_ROOM_LABEL.dataset]: d.name,
            [CLEAN_ROOM_LABEL.retentionDays]: String(d.retentionDays),
          },
          versioning: { enabled: true },
          softDeletePolicy: { retentionDurationSeconds: 0 },
          lifecycleRule: [
            { action: { type: "Delete" }, condition: { age: d.retentionDays, withState: "LIVE" } },
            { action: { type: "Delete" }, condition: { age: d.retentionDays, withState: "ARCHIVED" } },
          ],
        });
      }
      h.keys[d.name] = new KmsCryptoKey(stack, `${d.name}-key`, {
        name: access.key.name,
        keyRing: ring.id,
        rotationPeriod: "7776000s",
        versionTemplate: { algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION", protectionLevel: "HSM" },
        labels: { ...cleanRoomLabels(policy.name, COMPONENT.datasetKey), [CLEAN_ROOM_LABEL.dataset]: d.name },
      });
      const approver = access.jobApproval.approverKey;
      h.keys[`${approver.keyRing}/${approver.name}`] = new KmsCryptoKey(stack, `${d.name}-approver`, {
        name: approver.name,
        keyRing: ring.id,
        purpose: "ASYMMETRIC_SIGN",
        versionTemplate: { algorithm: approver.algorithm, protectionLevel: "HSM" },
        labels: { ...cleanRoomLabels(policy.name, COMPONENT.approverKey), [CLEAN_ROOM_LABEL.dataset]: d.name },
      });
      if (access.readerServiceAccount) {
        readers[d.name] = new ServiceAccount(stack, `${d.name}-reader`, {
          accountId: access.readerServiceAccount.split("@")[0],
        });
      }
    }
    const member = (g: ExpectedGrant, dataset: string) => {
      if (g.member.startsWith("principalSet://")) {
        const digest = g.member.slice(g.member.lastIndexOf("/") + 1);
        return `principalSet://iam.googleapis.com/projects/${project.number}/locations/global/workloadIdentityPools/${pool.workloadIdentityPoolId}/attribute.image_digest/${digest}`;
      }
      return g.principal === "dataset-reader" ? `serviceAccount:${readers[dataset].email}` : g.member;
    };
    let n = 0;
    for (const access of model.datasets) {
      for (const g of access.grants) {
        if (options.skip?.(g)) continue;
        const common = {
          role: g.role,
          member: member(g, access.dataset.name),
          ...(g.condition ? { condition: { title: "approval", expression: g.condition } } : {}),
        };
        const id = `grant-${n++}`;
        const resource =
          g.resource.kind === "bucket"
            ? new StorageBucketIamMember(stack, id, { bucket: h.buckets[g.resource.name].name, ...common })
            : g.resource.kind === "key"
              ? new KmsCryptoKeyIamMember(stack, id, { cryptoKeyId: (h.keys[g.resource.name] ?? h.keys[access.dataset.name]).id, ...common })
              : new ServiceAccountIamMember(stack, id, { serviceAccountId: readers[access.dataset.name].name, ...common });
        h.grants.set(g, resource);
      }
    }
    options.tweak?.(h);
  });
}

function findingsFor(policy: CleanRoomPolicy, json: SynthJson): CrossCheckFinding[] {
  return [...crossCheck(buildAccessModel(policy), readInfrastructure(json, policy.project)).findings];
}

describe("cross-check of the access report against a synthesized stack", () => {
  // The raw-provider fixture declares standing-approval grants only; job pools, providers and group
  // grants are cross-checked on the real CleanRoomDataPlane below (example room and jobPolicy()).
  const policy = noApproverKeys();
  const names = dataPlaneNames(policy);
  const s2 = names.datasetBucket("insurance", "stage2");
  let faithful: SynthJson;

  beforeAll(() => {
    faithful = synthDataPlane(policy);
  });

  test("given a stack that declares exactly the policy's grants, there are no findings", () => {
    const result = crossCheck(buildAccessModel(policy), readInfrastructure(faithful, policy.project));
    expect(result.findings).toEqual([]);
    expect(result.grantsCompared).toBe(buildAccessModel(policy).datasets.reduce((n, d) => n + d.grants.length, 0));
    const md = renderAccessReport(policy, { synthesized: faithful });
    expect(section(md, "## Cross-check with the synthesized infrastructure")).toContain(
      "No discrepancies: the infrastructure grants exactly what this report states.",
    );
  });

  test("with a stack given, bucket and key facts in the report come from it", () => {
    const md = renderAccessReport(policy, { synthesized: faithful });
    const ds = section(md, "### Dataset `insurance`");
    expect(tableRows(section(ds, "#### Storage"))[1]).toEqual([
      "stage-2 data",
      `\`${s2}\``,
      "`us-central1`",
      "Delete when age 30, with\\_state LIVE; Delete when age 30, with\\_state ARCHIVED; soft delete: off",
    ]);
    expect(tableRows(section(ds, "#### Dataset key"))).toEqual([
      ["`insurance-study-datasets`", "`insurance`", "`us-central1`", "every 90 days", "`HSM`"],
    ]);
  });

  test("a researcher granted read on stage-2 data is an error naming grant, member and bucket", () => {
    const json = synthDataPlane(policy, {
      tweak: ({ stack, buckets }) =>
        new StorageBucketIamMember(stack, "rogue", {
          bucket: buckets[s2].name,
          role: "roles/storage.objectViewer",
          member: "group:researchers@example.org",
        }),
    });
    expect(findingsFor(policy, json)).toEqual([
      {
        level: "error",
        subject: "google_storage_bucket_iam_member.rogue",
        message: `Grant not explained by the policy: roles/storage.objectViewer for group:researchers@example.org on bucket ${s2}.`,
      },
    ]);
    const md = renderAccessReport(policy, { synthesized: json });
    expect(section(md, "## Notices")).toContain("**1 cross-check error**");
  });

  test("an escape hatch that loosens an expiring decrypt grant's condition is an error", () => {
    const json = synthDataPlane(policy, {
      tweak: ({ grants }) => {
        for (const [g, resource] of grants) {
          if (g.role === "roles/cloudkms.cryptoKeyDecrypter" && g.member.endsWith(EXAMPLE_DIGEST_A)) {
            resource.addOverride("condition.expression", "true");
          }
        }
      },
    });
    const findings = findingsFor(policy, json);
    expect(findings).toHaveLength(1);
    expect(findings[0].level).toBe("error");
    expect(findings[0].message).toBe(
      `roles/cloudkms.cryptoKeyDecrypter for principalSet://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/insurance-study-tee/attribute.image_digest/${EXAMPLE_DIGEST_A} ` +
        `on key insurance-study-datasets/insurance has condition "true"; the approval requires "${expiryCondition("2027-01-31").expression}".`,
    );
  });

  test("project-wide data roles and grants on the dataset key ring are errors: they reach every dataset", () => {
    const json = synthDataPlane(policy, {
      tweak: ({ stack, ring }) => {
        new ProjectIamMember(stack, "wide", {
          project: "acme-clean-room",
          role: "roles/storage.objectViewer",
          member: "group:researchers@example.org",
        });
        new KmsKeyRingIamMember(stack, "ring-wide", {
          keyRingId: ring.id,
          role: "roles/cloudkms.cryptoKeyDecrypter",
          member: "user:admin@example.org",
        });
      },
    });
    expect(findingsFor(policy, json)).toEqual([
      {
        level: "error",
        subject: "google_kms_key_ring_iam_member.ring-wide",
        message: "roles/cloudkms.cryptoKeyDecrypter for user:admin@example.org on the dataset key ring insurance-study-datasets reaches every dataset key.",
      },
      {
        level: "error",
        subject: "google_project_iam_member.wide",
        message:
          "Project-wide roles/storage.objectViewer for group:researchers@example.org reaches every dataset bucket or key, whatever the approvals say.",
      },
    ]);
  });

  test("a bucket outside the residency set or without noncurrent-version deletion breaks the report's promise", () => {
    const json = synthDataPlane(policy, {
      tweak: ({ buckets }) => {
        buckets[s2].addOverride("location", "europe-west1");
        // The noncurrent-version rule turned into a second live-object rule.
        buckets[s2].addOverride("lifecycle_rule.1.condition.with_state", "LIVE");
      },
    });
    expect(findingsFor(policy, json)).toEqual([
      { level: "error", subject: s2, message: 'Bucket location "europe-west1" is not inside the residency set [us-central1].' },
      { level: "error", subject: s2, message: "No lifecycle rule deletes noncurrent versions within the dataset's 30 retention days." },
    ]);
  });

  test("a grant the report lists but the stack lacks is a warning (the report overstates access)", () => {
    const json = synthDataPlane(policy, { skip: (g) => g.principal === "jupyterlab" });
    const findings = findingsFor(policy, json);
    expect(findings.map((f) => f.level)).toEqual(["warning", "warning"]);
    expect(findings[0].message).toBe(
      `Missing grant: this report lists ${sdkRoles(policy).stage1Reader} for serviceAccount:jupyter-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com, the configuration does not declare it.`,
    );
  });

  test("a dataset bucket named apart from dataPlaneNames is found by its labels, flagged, and its grants still compared", () => {
    const json = synthDataPlane(policy, { rename: { [s2]: "acme-clean-room-insurance-study-insurance-stage2" } });
    const findings = findingsFor(policy, json);
    expect(findings).toHaveLength(1);
    expect(findings[0].message).toBe(
      `The stage2 bucket of dataset "insurance" is named "acme-clean-room-insurance-study-insurance-stage2", but the policy's names ` +
        `(dataPlaneNames) give "${s2}": the report, the guardrails and the constructs must name the same bucket.`,
    );
  });

  test("an authoritative binding on a dataset bucket is a warning to review by hand", () => {
    const json = synthDataPlane(policy, {
      tweak: ({ stack, buckets }) =>
        new StorageBucketIamBinding(stack, "binding", {
          bucket: buckets[s2].name,
          role: "roles/storage.objectCreator",
          members: ["user:data-owner@example.org"],
        }),
    });
    expect(findingsFor(policy, json)).toEqual([
      {
        level: "warning",
        subject: "google_storage_bucket_iam_binding.binding",
        message: "google_storage_bucket_iam_binding is authoritative: it removes grants made elsewhere on its target; review it by hand.",
      },
    ]);
  });

  test("a stack without the dataset resources reports each one missing", () => {
    const findings = findingsFor(policy, synthWith(() => undefined));
    const missing = findings.filter((f) => f.message.includes("is not in the synthesized configuration"));
    // Per dataset: the stage-1 and stage-2 buckets and the dataset key (errors), and the approver key (a warning: nobody can approve, nothing opens).
    expect(missing.filter((f) => f.level === "error")).toHaveLength(6);
    expect(missing.filter((f) => f.level === "warning").map((f) => f.message)).toEqual([
      'The approver key of dataset "insurance" is not in the synthesized configuration: its owners cannot approve jobs.',
      'The approver key of dataset "claims" is not in the synthesized configuration: its owners cannot approve jobs.',
    ]);
  });
});

describe("cross-check against the library's own CleanRoomDataPlane", () => {
  test("given the real data plane of the example room, the report states exactly the grants it declares", () => {
    const policy = examplePolicy();
    const json = synthWith((stack) => {
      new CleanRoomDataPlane(stack, "data-plane", { policy });
    });
    const model = buildAccessModel(policy);
    // The data plane alone leaves out the JupyterLab pods: the composition grants them the SDK's stage-1 role.
    expect(findingsFor(policy, json)).toEqual(
      model.datasets.map((d) => ({
        level: "warning",
        subject: `bucket ${d.buckets.stage1.name}`,
        message: `Missing grant: this report lists ${sdkRoles(policy).stage1Reader} for serviceAccount:${model.identities.jupyterServiceAccount}, the configuration does not declare it.`,
      })),
    );
    const composed = synthWith((stack) => {
      const dataPlane = new CleanRoomDataPlane(stack, "data-plane", { policy });
      dataPlane.grantSdkStage1Access(`serviceAccount:${model.identities.jupyterServiceAccount}`);
    });
    const result = crossCheck(model, readInfrastructure(composed, policy.project));
    expect(result.findings).toEqual([]);
    expect(result.grantsCompared).toBe(model.datasets.reduce((n, d) => n + d.grants.length, 0));
  });
});

describe("cross-check of per-job approval on both access modes", () => {
  test("given fingerprints on the direct and the impersonation dataset, then the job group grants are found and the impersonation one names the reader", () => {
    const policy = jobPolicy();
    const model = buildAccessModel(policy);
    const json = synthWith((stack) => {
      const plane = new CleanRoomDataPlane(stack, "data-plane", { policy });
      plane.grantSdkStage1Access(`serviceAccount:${model.identities.jupyterServiceAccount}`);
    });
    const result = crossCheck(model, readInfrastructure(json, policy.project));
    expect(result.findings).toEqual([]);
    const claims = model.datasets.find((d) => d.dataset.name === "claims")!;
    const group = claims.jobApproval.pool!.groupPrincipalSet;
    // Impersonation: the group may impersonate the reader, and holds nothing on the bucket or key itself.
    expect(claims.grants.filter((g) => g.member === group).map((g) => [g.resource, g.role])).toEqual([
      [{ kind: "serviceAccount", name: claims.readerServiceAccount }, "roles/iam.workloadIdentityUser"],
    ]);
    const md = renderAccessReport(policy, { synthesized: json });
    expect(section(section(md, "### Dataset `claims`"), "#### Per-job approval")).toContain(
      `the group \`${group}\` may impersonate the reader service account \`serviceAccount:${claims.readerServiceAccount}\` ` +
        "(`roles/iam.workloadIdentityUser`), and so read the stage-2 bucket and decrypt with the dataset key, as the reader does",
    );
  });
});

describe("suppressions recorded in the synthesized stacks", () => {
  test("given a suppression added with CleanRoomSuppressions, the report lists it with its construct path and reason", () => {
    // Testing.synth strips the "//" blocks the suppressions live in: read the real cdk.tf.json.
    const app = Testing.app();
    const stack = new TerraformStack(app, "platform");
    new GoogleProvider(stack, "google", { project: "acme-clean-room", region: "us-central1" });
    const audit = new StorageBucket(stack, "audit", { name: "acme-audit", location: "us-central1" });
    CleanRoomSuppressions.add(audit, [{ id: "MCR-GCS2", reason: "audit bucket hardened by the org policy" }]);
    const outdir = Testing.fullSynth(stack);
    const json = JSON.parse(readFileSync(join(outdir, "stacks", "platform", "cdk.tf.json"), "utf8"));

    const md = renderAccessReport(examplePolicy(), {
      synthesized: json,
      suppressions: [{ ruleId: "MCR-LOC1", reason: "mirror bucket is multi-region by contract", path: "platform/mirror" }],
    });
    expect(tableRows(section(md, "## Suppressed guardrail findings"))).toEqual([
      ["`MCR-GCS2`", "`platform/audit`", "audit bucket hardened by the org policy"],
      ["`MCR-LOC1`", "`platform/mirror`", "mirror bucket is multi-region by contract"],
    ]);
  });
});

describe("readInfrastructure", () => {
  test("resolves references to buckets, keys, service accounts, the pool and the project number", () => {
    const json = synthDataPlane(noApproverKeys());
    const facts = readInfrastructure(json, "acme-clean-room");
    const reader = facts.grants.find((g) => g.role === "roles/iam.workloadIdentityUser");
    expect(reader?.resource).toEqual({
      kind: "serviceAccount",
      name: "insurance-study-claims-rd@acme-clean-room.iam.gserviceaccount.com",
    });
    expect(reader?.member).toMatch(
      /^principalSet:\/\/iam\.googleapis\.com\/projects\/PROJECT_NUMBER\/locations\/global\/workloadIdentityPools\/insurance-study-tee\/attribute\.image_digest\/sha256:/,
    );
    expect(facts.keys.map((k) => [k.keyRing, k.name, k.location, k.rotationPeriod]).sort()).toEqual([
      ["insurance-study-datasets", "claims", "us-central1", "7776000s"],
      // Approver keys sign: Cloud KMS does not rotate asymmetric keys.
      ["insurance-study-datasets", "claims-approver", "us-central1", undefined],
      ["insurance-study-datasets", "insurance", "us-central1", "7776000s"],
      ["insurance-study-datasets", "insurance-approver", "us-central1", undefined],
    ]);
  });

  test("several stacks are read together, their addresses told apart", () => {
    const json = synthDataPlane(noApproverKeys());
    const facts = readInfrastructure([json, json], "acme-clean-room");
    expect(facts.buckets[0].address).toMatch(/^stack\[0\]\.google_storage_bucket\./);
    // Two stacks × two datasets × (stage-1, stage-2).
    expect(facts.buckets).toHaveLength(8);
  });
});
