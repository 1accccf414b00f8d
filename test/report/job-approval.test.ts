/**
 * Per-job approval in the access report, on the real compiled example: the cdktf app synthesizes
 * stacks/example.cleanroom.yaml (approverKey on insurance only) and writes access-report.md, as
 * `npm run synth` does. The report must say approval is on for insurance and off for claims, name
 * the right pool, fingerprint and group, and its cross-check must find the job pool and the group
 * grants (and catch them when tampered).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { defaultConfigPath, synthesize } from "../../bin/main";
import { compileJobApprovalCondition, jobApprovalConditionClauses } from "../../lib/policy/condition";
import { loadPolicyFile } from "../../lib/policy/load";
import { CleanRoomPolicy } from "../../lib/policy/model";
import { dataPlaneNames } from "../../lib/policy/names";
import { buildAccessModel } from "../../lib/report/access-model";
import { readSynthesizedStacks, renderAccessReport } from "../../lib/report/access-report";
import { CrossCheckFinding, crossCheck } from "../../lib/report/cross-check";
import { SynthesizedStack, readInfrastructure } from "../../lib/report/infrastructure";
import { accessDiagram } from "../../lib/report/mermaid";
import { codeSpans, parseMermaid, section, tableRows } from "./md";

const VERIFIER_BUILD = path.join(__dirname, "..", "fixtures", "verifier-build");
const FINGERPRINT = "a3771ff85319c4040df7299b86aa579ede391a3a4afe755b442335d324911dd4";

let outdir: string;
let policy: CleanRoomPolicy;
let md: string;
let stacks: SynthesizedStack[];

beforeAll(() => {
  outdir = mkdtempSync(path.join(tmpdir(), "manatee-job-report-"));
  synthesize(defaultConfigPath(), outdir, { verifierSourceDir: VERIFIER_BUILD });
  policy = loadPolicyFile(defaultConfigPath());
  md = readFileSync(path.join(outdir, "access-report.md"), "utf8");
  stacks = readSynthesizedStacks(outdir);
});

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const perJob = (report: string, dataset: string) => section(section(report, `### Dataset \`${dataset}\``), "#### Per-job approval");
const bulletsOf = (text: string) => text.split("\n").filter((l) => l.startsWith("- "));

describe("the access report synth writes for the example room", () => {
  test("given the room file's fingerprint on insurance only, then the report says approval is on for insurance and off for claims", () => {
    expect(policy.datasets.map((d) => [d.name, d.approverKey?.fingerprint])).toEqual([["insurance", FINGERPRINT], ["claims", undefined]]);
    expect(perJob(md, "insurance")).toContain(`Per-job approval is **on**: the room file names the approver key fingerprint \`${FINGERPRINT}\`.`);
    expect(perJob(md, "claims")).toContain("Per-job approval is **off**: the room file names no approver key fingerprint for `claims`");
    expect(tableRows(section(md, "## Per-job approvals: what an approval can and cannot do"))).toEqual([
      ["`insurance`", "**on**", `\`${FINGERPRINT}\``, `\`${dataPlaneNames(policy).jobPoolId("insurance")}\``],
      ["`claims`", "off", "none in the room file", "none"],
    ]);
  });

  test("insurance's section names its key, signers, repository, job pool and the group that holds the grants", () => {
    const names = dataPlaneNames(policy);
    const pool = names.jobPoolId("insurance");
    expect(pool).toBe("insurance-study-insurance-jobs");
    const items = bulletsOf(perJob(md, "insurance"));
    expect(items[0]).toMatch(/^- Approver key: `insurance-study-datasets\/insurance-approver` in `us-central1` \(Cloud KMS, `EC_SIGN_P256_SHA256`\)\. Only the dataset's owners `user:data-owner@example.org` may sign/);
    expect(items[1]).toContain("`us-central1-docker.pkg.dev/acme-clean-room/insurance-study-insurance-approvals`");
    expect(items[2]).toContain(`Job pool / provider: \`${pool}\` / \`attestation-verifier\``);
    expect(items[2]).toContain('`google.groups = ["job-approved"]`');
    const group = `principalSet://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/${pool}/group/job-approved`;
    expect(items[3]).toBe(
      `- Who holds the grant: the group \`${group}\` holds read (\`roles/storage.objectViewer\`) on the stage-2 bucket and decrypt ` +
        "(`roles/cloudkms.cryptoKeyDecrypter`) with the dataset key, and nothing else. No grant names the pool's `/*`.",
    );
    // The stage-2 section no longer claims nobody else holds a grant.
    expect(section(section(md, "### Dataset `insurance`"), "#### Who can read stage-2 data and decrypt")).toContain(
      `except the per-job approval group \`${group}\``,
    );
  });

  test("insurance's job pool condition is listed clause by clause, in plain words, and the clauses are exactly the compiled condition", () => {
    const clauses = jobApprovalConditionClauses(policy, "insurance");
    const items = bulletsOf(perJob(md, "insurance")).slice(4);
    expect(items).toHaveLength(clauses.length);
    // Table-safe code spans escape `|`: undo it to compare with the CEL.
    const cel = items.map((b) => codeSpans(b)[0].replace(/\\\|/g, "|"));
    expect(cel.join(" && ")).toBe(compileJobApprovalCondition(policy, "insurance"));
    items.forEach((b, i) => expect(b).toContain(clauses[i].meaning.slice(0, 30).replace(/\*/g, "\\*")));
    expect(items.at(-1)).toContain(`s.key_id == '${FINGERPRINT}'`);
  });

  test("claims' section says how to turn approval on, and that nobody can sign without owners", () => {
    const claims = perJob(md, "claims");
    expect(claims).toContain("**Nobody may sign**: the dataset declares no owners");
    expect(claims).toContain(
      "To turn it on: declare the dataset's owners (`datasets.claims.owners`), who alone can sign; then, after the first deploy " +
        "(which creates the approver key), print the key's fingerprint with `manatee jobs approver-key --dataset claims`, put it in " +
        "`datasets.claims.approverKey.fingerprint` in the room file, and deploy.",
    );
    expect(claims).not.toContain("job-approved");
    expect(md).not.toContain(dataPlaneNames(policy).jobPoolId("claims"));
  });

  test("the report says what an approval cannot do: one digest, no expiry, replay, no revocation by deletion, revocation by key version, launched records", () => {
    const text = section(md, "## Per-job approvals: what an approval can and cannot do");
    for (const claim of [
      "It names that digest and nothing else",
      "It never expires, and it can be replayed: every relaunch of that digest is admitted again.",
      "Deleting the signature from the repository revokes nothing",
      "Revocation is a new approver key version: a new fingerprint in the room file, then a deploy",
      "Each relaunch of one digest shows as a separate `launched` record in the job service's audit log.",
    ]) {
      expect(text).toContain(claim);
    }
  });

  test("the diagram has insurance's job pool, signed for by its approver key, reaching insurance's key and stage-2 bucket only", () => {
    const graph = parseMermaid(accessDiagram(buildAccessModel(policy)));
    const byLabel = (label: string) => [...graph.nodes].find(([, l]) => l === label)?.[0];
    const jobs = byLabel("jobs approved for insurance: pool insurance-study-insurance-jobs, group job-approved")!;
    const approver = byLabel("approver key insurance-study-datasets/insurance-approver")!;
    expect(jobs).toBeDefined();
    expect(graph.edges.filter((e) => e.to === jobs).map((e) => e.from)).toEqual([approver]);
    expect(graph.edges.filter((e) => e.from === jobs).map((e) => graph.nodes.get(e.to))).toEqual([
      "dataset key insurance-study-datasets/insurance",
      "stage-2 bucket acme-clean-room-insurance-study-insurance-s2",
    ]);
    expect([...graph.nodes.values()].filter((l) => l.startsWith("jobs approved for "))).toHaveLength(1);
  });

  test("the cross-check finds the job pool and the group grants: no discrepancy", () => {
    expect(section(md, "## Cross-check with the synthesized infrastructure")).toContain(
      "No discrepancies: the infrastructure grants exactly what this report states.",
    );
    expect(section(md, "## Notices")).toBe("\n- none\n");
  });
});

describe("the cross-check on tampered synthesized stacks of the example room", () => {
  const findings = (tamper: (resources: Record<string, Record<string, any>>, data: Record<string, Record<string, any>>) => void): CrossCheckFinding[] => {
    const copy = stacks.map((s) => structuredClone(s));
    const platform = copy.find((s) => s.resource?.google_iam_workload_identity_pool_provider)!;
    tamper(platform.resource!, platform.data ?? {});
    return [...crossCheck(buildAccessModel(policy), readInfrastructure(copy, policy.project)).findings];
  };
  const jobProvider = (r: Record<string, Record<string, any>>) =>
    Object.entries(r.google_iam_workload_identity_pool_provider).find(([id]) => id.includes("insurance_jobs"))!;
  const keyOf = (r: Record<string, Record<string, any>>, dataset: string, component: string) =>
    Object.keys(r.google_kms_crypto_key).find((id) => {
      const labels = r.google_kms_crypto_key[id].labels;
      return labels.dataset === dataset && labels.component === component;
    })!;
  // The dataset keys' grants are bindings of their one authoritative policy (google_iam_policy data sources).
  const group = (data: Record<string, Record<string, any>>) =>
    Object.values(data.google_iam_policy)
      .flatMap((d: any) => d.binding ?? [])
      .flatMap((b: any) => b.members as string[])
      .find((m) => m.endsWith("/group/job-approved"))!;

  test("given the signature clause dropped from the job provider's condition, then an error names the provider", () => {
    const found = findings((r) => {
      const [, provider] = jobProvider(r);
      provider.attribute_condition = provider.attribute_condition.replace(/ && assertion\.submods\.container\.image_signatures\.exists\(.*\)$/, "");
    });
    expect(found).toEqual([
      expect.objectContaining({
        level: "error",
        subject: expect.stringMatching(/google_iam_workload_identity_pool_provider\..*insurance_jobs/),
        message:
          'The condition of job provider insurance-study-insurance-jobs/attestation-verifier is not the one this report explains (compileJobApprovalCondition(policy, "insurance")): it may admit tokens the report says are refused.',
      }),
    ]);
  });

  test("given a second provider in the job pool, then it is an error: its tokens also reach the group", () => {
    const found = findings((r) => {
      const [, provider] = jobProvider(r);
      r.google_iam_workload_identity_pool_provider.rogue = { ...provider, workload_identity_pool_provider_id: "github", attribute_condition: "true" };
    });
    expect(found.map((f) => [f.level, f.subject])).toEqual([["error", expect.stringMatching(/provider\.rogue$/)]]);
    expect(found[0].message).toContain("Job pool insurance-study-insurance-jobs has another provider (github)");
  });

  test("given the job pool removed, then a warning says no approved job can get a credential", () => {
    const found = findings((r) => {
      for (const type of ["google_iam_workload_identity_pool", "google_iam_workload_identity_pool_provider"]) {
        for (const id of Object.keys(r[type])) if (id.includes("insurance_jobs")) delete r[type][id];
      }
    });
    expect(found).toContainEqual({
      level: "warning",
      subject: "insurance-study-insurance-jobs",
      message: 'The job pool of dataset "insurance" is not in the synthesized configuration: per-job approval is on in the room file, yet no approved job can get a credential.',
    });
  });

  test("given insurance's job group on claims' key or object create on insurance's stage-1 bucket, then each grant is not explained by the policy", () => {
    const found = findings((r, data) => {
      const member = group(data);
      r.google_kms_crypto_key_iam_member ??= {};
      r.google_storage_bucket_iam_member ??= {};
      r.google_kms_crypto_key_iam_member.cross = {
        crypto_key_id: `\${google_kms_crypto_key.${keyOf(r, "claims", "dataset-key")}.id}`,
        role: "roles/cloudkms.cryptoKeyDecrypter",
        member,
      };
      const outputs = Object.keys(r.google_storage_bucket).find((id) => r.google_storage_bucket[id].labels.component === "stage1" && r.google_storage_bucket[id].labels.dataset === "insurance");
      r.google_storage_bucket_iam_member.out = { bucket: `\${google_storage_bucket.${outputs}.name}`, role: "roles/storage.objectCreator", member };
    });
    expect(found.map((f) => f.subject).sort()).toEqual([
      expect.stringMatching(/google_kms_crypto_key_iam_member\.cross$/),
      expect.stringMatching(/google_storage_bucket_iam_member\.out$/),
    ]);
    expect(found.every((f) => f.level === "error" && f.message.startsWith("Grant not explained by the policy"))).toBe(true);
  });

  test("given someone else able to sign with insurance's approver key, then it is an error: only owners approve", () => {
    const found = findings((r) => {
      r.google_kms_crypto_key_iam_member.signer = {
        crypto_key_id: `\${google_kms_crypto_key.${keyOf(r, "insurance", "approver-key")}.id}`,
        role: "roles/cloudkms.signerVerifier",
        member: "serviceAccount:dcr-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com",
      };
    });
    expect(found).toEqual([
      expect.objectContaining({
        level: "error",
        message:
          "Grant not explained by the policy: roles/cloudkms.signerVerifier for serviceAccount:dcr-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com on key insurance-study-datasets/insurance-approver.",
      }),
    ]);
  });

  test("given the fingerprint removed from the room file, then the stacks' job grants are no longer explained", () => {
    const off = { ...policy, datasets: policy.datasets.map((d) => ({ ...d, approverKey: undefined })) };
    const found = crossCheck(buildAccessModel(off), readInfrastructure(stacks, policy.project)).findings;
    expect(found.filter((f) => f.message.includes("/group/job-approved")).map((f) => f.level)).toEqual(["error", "error"]);
    expect(renderAccessReport(off, { synthesized: stacks })).toContain("Per-job approval is **off**: the room file names no approver key fingerprint for `insurance`");
  });
});
