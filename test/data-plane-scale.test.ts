/**
 * CleanRoomDataPlane past one allow policy's worth of approved images: an impersonation dataset
 * splits them between reader service accounts that hold the same grants, and the guardrails and
 * the access report agree with what is synthesized; a direct dataset fails at synth instead of
 * at `terraform apply`.
 */
import { createHash } from "node:crypto";
import { TerraformStack } from "cdktf";
import { CleanRoomChecks } from "../lib/checks/aspect";
import { CleanRoomDataPlane } from "../lib/constructs/data-plane/datasets";
import { IamPolicyLimitError } from "../lib/policy/iam-limits";
import { datasetMembers } from "../lib/policy/members";
import { Approval, CleanRoomPolicy } from "../lib/policy/model";
import { dataPlaneNames, platformNames } from "../lib/policy/names";
import { buildAccessModel } from "../lib/report/access-model";
import { renderAccessReport } from "../lib/report/access-report";
import { crossCheck } from "../lib/report/cross-check";
import { readInfrastructure } from "../lib/report/infrastructure";
import { withoutTokenCreationTraces } from "../bin/main";
import { Finding } from "../lib/checks/model";
import { SynthJson, examplePolicy, resources, synthWith, grantsOn } from "./util";

function digests(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `sha256:${createHash("sha256").update(`image-${i}`).digest("hex")}`);
}

/** The example room with `count` more images approved for `dataset`. */
function withApprovals(count: number, dataset: string): CleanRoomPolicy {
  const base = examplePolicy();
  const extra: Approval[] = digests(count).map((imageDigest, i) => ({
    imageDigest,
    datasets: [dataset],
    purpose: `analysis ${i}`,
    approvedBy: "owner@example.org",
    ...(i % 3 === 0 ? { expires: "2027-06-30" } : {}),
  }));
  return { ...base, approvals: [...base.approvals, ...extra] };
}

describe("given 1,001 images approved for the impersonation dataset claims", () => {
  const policy = withApprovals(1000, "claims"); // + the example's digest B = 1,001
  const names = dataPlaneNames(policy);
  let plane: CleanRoomDataPlane;
  let checks: CleanRoomChecks;
  let stack: TerraformStack;
  let json: SynthJson;
  let findings: Finding[];

  beforeAll(() => {
    withoutTokenCreationTraces(() => {
      json = synthWith((s) => {
        stack = s;
        plane = new CleanRoomDataPlane(s, "data", { policy });
        plane.grantSdkStage1Access(`serviceAccount:${platformNames(policy).jupyterSaEmail}`); // as CleanRoom does
        checks = CleanRoomChecks.applyTo(s, { policy, now: new Date("2026-01-01T00:00:00Z") });
      });
    });
    findings = checks.findings(stack);
  });

  const accountIdOf = (address: string) => json.resource!.google_service_account[address.split(".")[1]].account_id;
  const impersonation = () =>
    grantsOn(json, "google_service_account").map((c) => ({
      reader: accountIdOf(c.service_account_id.replace(/^\$\{|\.name\}$/g, "")),
      member: c.member as string,
    }));

  test("then claims has two readers, …-rd and …-rd2, and the first is still readerServiceAccount", () => {
    const readers = plane.datasets.claims.readers;
    expect(readers.map((r) => r.members.length)).toEqual([1000, 1]);
    expect(plane.datasets.claims.readerServiceAccount).toBe(readers[0].serviceAccount);
    const ids = resources(json, "google_service_account").map(([, c]) => c.account_id);
    expect(ids).toEqual(expect.arrayContaining([names.readerServiceAccountId("claims"), names.readerServiceAccountId("claims", 2)]));
    expect(names.readerServiceAccountId("claims", 2)).toBe("insurance-study-claims-rd2");
    expect(plane.datasets.insurance.readers).toEqual([]);
  });

  test("then every approved image may impersonate exactly one reader: the first 1,000 in policy order the first, the last one the second", () => {
    const members = datasetMembers(policy, "claims", plane.pool.poolRef).map((m) => m.imageDigest);
    const grants = impersonation().map((g) => ({ reader: g.reader, member: g.member.split("/attribute.image_digest/")[1] }));
    expect(grants).toHaveLength(1001);
    expect(new Set(grants.map((g) => g.member)).size).toBe(1001);
    // Terraform JSON is keyed by logical id, so compare the sets.
    const byReader = (id: string) => grants.filter((g) => g.reader === id).map((g) => g.member).sort();
    expect(byReader(names.readerServiceAccountId("claims"))).toEqual(members.slice(0, 1000).sort());
    expect(byReader(names.readerServiceAccountId("claims", 2))).toEqual(members.slice(1000));
  });

  test("then both readers hold the same grants: read on stage 2 (and its bucket metadata, as ManaTEE's SDK gets it), decrypt with the key, and nothing else (no object create anywhere)", () => {
    // A custom role by its role id, a predefined one by its name.
    const roleName = (role: string) => {
      const custom = /^\$\{google_project_iam_custom_role\.([^.]+)\.name\}$/.exec(role);
      return custom ? `custom:${json.resource!.google_project_iam_custom_role[custom[1]].role_id}` : role;
    };
    const roleOf = new Map<string, string[]>();
    for (const type of ["google_storage_bucket", "google_kms_crypto_key"]) {
      for (const c of grantsOn(json, type)) {
        const m = /^serviceAccount:\$\{google_service_account\.([^.]+)\.email\}$/.exec(c.member);
        if (!m) continue;
        const id = json.resource!.google_service_account[m[1]].account_id;
        roleOf.set(id, [...(roleOf.get(id) ?? []), `${roleName(c.role)} on ${c.bucket ?? c.crypto_key_id}`].sort());
      }
    }
    const bucket = (purpose: string) => `\${google_storage_bucket.${resources(json, "google_storage_bucket").find(([, b]) => b.name === names.datasetBucket("claims", purpose as any))![0]}.name}`;
    const key = `\${google_kms_crypto_key.${resources(json, "google_kms_crypto_key").find(([, k]) => k.name === names.datasetKey("claims") && k.purpose !== "ASYMMETRIC_SIGN")![0]}.id}`;
    const expected = [
      `roles/cloudkms.cryptoKeyDecrypter on ${key}`,
      `roles/storage.objectViewer on ${bucket("stage2")}`,
      `custom:${names.bucketMetadataRoleId} on ${bucket("stage2")}`,
    ].sort();
    expect(roleOf.get(names.readerServiceAccountId("claims"))).toEqual(expected);
    expect(roleOf.get(names.readerServiceAccountId("claims", 2))).toEqual(expected);
  });

  test("then the guardrails accept both readers as attested-only: no error", () => {
    expect(findings.filter((f) => f.level === "error")).toEqual([]);
  });

  test("then the access report lists both readers and each image's reader, and its cross-check finds no discrepancy", () => {
    const model = buildAccessModel(policy, { projectNumber: "${data.google_project.data_pool_project_F1A8B0E3.number}" });
    const claims = model.datasets.find((d) => d.dataset.name === "claims")!;
    const emails = [1, 2].map((n) => `${names.readerServiceAccountId("claims", n)}@acme-clean-room.iam.gserviceaccount.com`);
    expect(claims.readerServiceAccounts).toEqual(emails);
    expect(claims.stage2Principals.filter((p) => p.readerServiceAccount === emails[1])).toHaveLength(1);
    const facts = readInfrastructure(json, policy.project);
    const result = crossCheck(buildAccessModel(policy), facts);
    expect(result.findings.map((f) => f.message)).toEqual([]);
    const md = renderAccessReport(policy, { synthesized: json });
    expect(md).toContain(`2 reader service accounts (\`${emails[0]}\`, \`${emails[1]}\`) hold the same stage-2 grants`);
    expect(md).toContain("| Approved image | Principal set | Impersonates | Until | Status | Purpose |");
    expect(md).toContain("No discrepancies: the infrastructure grants exactly what this report states.");
  });
});

describe("given 1,500 images approved for the direct dataset insurance (with one data owner and per-job approval)", () => {
  test("then the data plane refuses at synth with the dataset, the count, the limit and the fix", () => {
    const policy = withApprovals(1498, "insurance");
    let error: unknown;
    synthWith((s) => {
      try {
        new CleanRoomDataPlane(s, "data", { policy });
      } catch (err) {
        error = err;
      }
    });
    expect(error).toBeInstanceOf(IamPolicyLimitError);
    expect((error as Error).message).toBe(
      'Dataset "insurance": the allow policy of its stage-2 bucket would hold 1,502 principals (1,500 approved images, the per-job approval group and 1 data owner), ' +
        "over Google's limit of 1,500 per allow policy. A direct-mode policy cannot be split: set datasets.insurance.access: impersonation " +
        "(approved images then impersonate reader service accounts of up to 1,000 images each, and only those readers hold grants on the " +
        "buckets and key), or remove approvals that have expired.",
    );
  });
});
