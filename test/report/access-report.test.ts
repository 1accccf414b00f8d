import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { attributeConditionClauses, compileAttributeCondition } from "../../lib/policy/condition";
import { compileVerifierPolicy } from "../../lib/policy/document";
import { approvalEnd, expiryCondition } from "../../lib/policy/members";
import { CleanRoomPolicy, approvalsFor } from "../../lib/policy/model";
import { dataPlaneNames, platformNames } from "../../lib/policy/names";
import { sdkRoles } from "../../lib/report/access-model";
import { ACCESS_REPORT_FILE, renderAccessReport, writeAccessReport } from "../../lib/report/access-report";
import { debugTdxClaims, evaluateAttributeCondition, evaluateIamCondition, productionTdxClaims } from "../cel";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B, examplePolicy } from "../util";
import { codeSpans, fencedBlock, section, tableHeader, tableRows } from "./md";

const NOW = "2026-06-01T00:00:00Z";
const RESEARCHERS = "group:researchers@example.org";

function datasetSection(md: string, dataset: string): string {
  return section(md, `### Dataset \`${dataset}\``);
}

/** The digests in the first column of a dataset's stage-2 table. */
function stage2Digests(md: string, dataset: string): string[] {
  const text = section(datasetSection(md, dataset), "#### Who can read stage-2 data and decrypt");
  return tableRows(text).map((row) => codeSpans(row[0])[0]);
}

describe("access report of the example clean room", () => {
  let policy: CleanRoomPolicy;
  let md: string;

  beforeAll(() => {
    policy = examplePolicy();
    md = renderAccessReport(policy, { now: NOW });
  });

  test("given the example policy, the header names room, project, location, residency, policy hash, audience and debug", () => {
    const facts = new Map(tableRows(md).map(([k, v]) => [k, v]));
    expect(facts.get("Clean room")).toBe("`insurance-study`");
    expect(facts.get("Project")).toBe("`acme-clean-room`");
    expect(facts.get("Region / zone")).toBe("`us-central1` / `us-central1-a`");
    expect(facts.get("Residency (every data location lies in)")).toBe("`us-central1`");
    expect(facts.get("Verifier policy sha256")).toBe(`\`${compileVerifierPolicy(policy).sha256}\``);
    expect(facts.get("Verifier audience")).toBe("`https://verifier.acme-clean-room.example.org/release`");
    expect(facts.get("Debug images allowed")).toBe("no");
  });

  test("every dataset bucket is named exactly as dataPlaneNames gives, with its location and retention", () => {
    const names = dataPlaneNames(policy);
    for (const dataset of policy.datasets) {
      const rows = tableRows(section(datasetSection(md, dataset.name), "#### Storage"));
      expect(rows.map((r) => r[0])).toEqual(["stage-1 data", "stage-2 data"]);
      const expectedNames = (["stage1", "stage2"] as const).map((p) => names.datasetBucket(dataset.name, p));
      expect(rows.map((r) => codeSpans(r[1])[0])).toEqual(expectedNames);
      for (const row of rows) {
        expect(row[2]).toBe("`us-central1`");
        expect(row[3]).toBe(`deletes live objects and noncurrent versions older than ${dataset.retentionDays} days`);
      }
      expect(datasetSection(md, dataset.name)).toContain(`- Retention: **${dataset.retentionDays} days**`);
    }
    // The two datasets keep different promises: 30 and 90 days.
    expect(policy.datasets.map((d) => d.retentionDays)).toEqual([30, 90]);
  });

  test("every dataset key is named with its key ring, location and rotation", () => {
    const names = dataPlaneNames(policy);
    for (const dataset of policy.datasets) {
      const section_ = section(datasetSection(md, dataset.name), "#### Dataset key");
      expect(tableHeader(section_)).toEqual(["Key ring", "Key", "Location", "Rotation"]);
      expect(tableRows(section_)).toEqual([
        [`\`${names.datasetKeyRing}\``, `\`${names.datasetKey(dataset.name)}\``, "`us-central1`", "every 90 days"],
      ]);
    }
  });

  test("the attribute condition appears verbatim, equal to compileAttributeCondition", () => {
    expect(fencedBlock(md, "cel")).toBe(compileAttributeCondition(policy));
  });

  test("there is one plain-words bullet per clause, and together they are exactly the condition", () => {
    const clauses = attributeConditionClauses(policy);
    const bullets = section(md, "## Attestation requirements")
      .split("\n")
      .filter((l) => l.startsWith("- "));
    expect(bullets).toHaveLength(clauses.length);
    const cel = bullets.map((b) => codeSpans(b)[0]);
    expect(cel).toEqual(clauses.map((c) => c.cel));
    expect(cel.join(" && ")).toBe(compileAttributeCondition(policy));
    bullets.forEach((b, i) => expect(b).toContain(clauses[i].meaning.slice(0, 20)));
  });

  test("each bullet is a real clause: on a debug token exactly the two debug bullets fail in a real CEL engine", () => {
    const teeSa = platformNames(policy).teeSaEmail;
    const bullets = section(md, "## Attestation requirements")
      .split("\n")
      .filter((l) => l.startsWith("- "))
      .map((b) => codeSpans(b)[0]);
    const production = productionTdxClaims({ project: policy.project, serviceAccount: teeSa });
    expect(bullets.map((cel) => evaluateAttributeCondition(cel, production).allowed)).toEqual(bullets.map(() => true));
    const debug = debugTdxClaims({ project: policy.project, serviceAccount: teeSa });
    const failing = bullets.filter((cel) => !evaluateAttributeCondition(cel, debug).allowed);
    expect(failing).toEqual([
      "'STABLE' in assertion.submods.confidential_space.support_attributes",
      "assertion.dbgstat == 'disabled-since-boot'",
    ]);
  });

  test("every approval is listed with digest, purpose, approver, expiry, status and datasets", () => {
    const rows = tableRows(section(md, "## Approved images"));
    expect(rows).toEqual([
      [
        `\`${EXAMPLE_DIGEST_A}\``,
        "XGBoost regression of insurance charges",
        "owner@example.org",
        "2027-01-31 (access ends `2027-02-01T00:00:00Z`)",
        "active",
        "`insurance`",
      ],
      [
        `\`${EXAMPLE_DIGEST_B}\``,
        "Descriptive statistics of claims by region",
        "owner@example.org",
        "never",
        "active, never expires",
        "`insurance`, `claims`",
      ],
    ]);
  });

  test("stage-2 readers of each dataset are exactly the digests approved for it", () => {
    expect(stage2Digests(md, "claims")).toEqual([EXAMPLE_DIGEST_B]);
    expect(stage2Digests(md, "insurance")).toEqual([EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B]);
    for (const dataset of policy.datasets) {
      expect(stage2Digests(md, dataset.name)).toEqual([...new Set(approvalsFor(policy, dataset.name).map((a) => a.imageDigest))]);
    }
  });

  test("stage-2 principal sets carry the pool and digest, and the expiring one its IAM end", () => {
    const rows = tableRows(section(datasetSection(md, "insurance"), "#### Who can read stage-2 data and decrypt"));
    const pool = dataPlaneNames(policy).poolId;
    expect(codeSpans(rows[0][1])[0]).toBe(
      `principalSet://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/${pool}/attribute.image_digest/${EXAMPLE_DIGEST_A}`,
    );
    expect(rows[0][2]).toBe(`2027-01-31 (access ends \`${approvalEnd("2027-01-31")}\`)`);
    expect(rows[1][2]).toBe("no expiry");
  });

  test("the impersonation dataset `claims` names its reader service account; the direct one has none", () => {
    const reader = `${dataPlaneNames(policy).readerServiceAccountId("claims")}@acme-clean-room.iam.gserviceaccount.com`;
    const claims = datasetSection(md, "claims");
    expect(claims).toContain(`- Stage-2 access mode: **impersonation**: the reader service account \`${reader}\``);
    expect(section(claims, "#### Who can read stage-2 data and decrypt")).toContain(`\`serviceAccount:${reader}\``);
    expect(section(claims, "#### Who writes outputs")).toContain(`\`serviceAccount:${reader}\``);
    expect(datasetSection(md, "insurance")).toContain("- Stage-2 access mode: **direct**");
    expect(datasetSection(md, "insurance")).not.toMatch(/-rd@/);
  });

  test("researchers and the JupyterLab account read stage-1 data and appear nowhere as stage-2 readers or writers", () => {
    const jupyter = `serviceAccount:${platformNames(policy).jupyterSaEmail}`;
    for (const dataset of policy.datasets) {
      const ds = datasetSection(md, dataset.name);
      const stage1 = tableRows(section(ds, "#### Who can read stage-1 data"));
      expect(stage1).toContainEqual([`\`${RESEARCHERS}\``, "researcher", "read (`roles/storage.objectViewer`)"]);
      expect(stage1).toContainEqual([
        `\`${jupyter}\``,
        "JupyterLab single-user pods",
        `read as ManaTEE's SDK does (\`${sdkRoles(policy).stage1Reader}\`: bucket get, object get and list)`,
      ]);
      for (const heading of ["#### Who can read stage-2 data and decrypt", "#### Who writes outputs", "#### Data owners"]) {
        const text = section(ds, heading);
        expect(text).not.toContain(RESEARCHERS);
        expect(text).not.toContain(jupyter);
      }
    }
    expect(section(md, "## Approved images")).not.toContain(RESEARCHERS);
  });

  test("data owners write stage-1 data and encrypt only; they are never readers", () => {
    const ds = datasetSection(md, "insurance");
    expect(tableRows(section(ds, "#### Who can read stage-1 data"))).toContainEqual([
      "`user:data-owner@example.org`",
      "data owner",
      "write only (`roles/storage.objectCreator`): no read",
    ]);
    expect(section(ds, "#### Data owners")).toContain("`roles/cloudkms.cryptoKeyEncrypter`: encrypt only, never decrypt");
    expect(section(datasetSection(md, "claims"), "#### Data owners")).toBe("\n- none declared\n");
  });

  test("the weakening of stage-1 data is stated per dataset", () => {
    expect(datasetSection(md, "insurance")).toContain(
      "- Stage-1 data: differentially private synthetic data (mechanism `mst`, ε = 1): no stage-1 record is a real record.",
    );
    expect(datasetSection(md, "claims")).toContain(
      "- Stage-1 data: a random sample of the real data (fraction 0.05, 5%): fewer records, but each one is real.",
    );
    // No notice: insurance (the only dataset with owners) names its approver key fingerprint, as the
    // room file does; claims has no owners, so nobody could sign for it.
    expect(section(md, "## Notices")).toBe("\n- none\n");
    // Without the fingerprint, the report says per-job approval is off for insurance and how to turn it on.
    const withoutFingerprint = examplePolicy({
      datasets: {
        insurance: {
          retentionDays: 30,
          stage1: { kind: "dp-synthetic", mechanism: "mst", epsilon: 1.0 },
          owners: ["user:data-owner@example.org"],
        },
        claims: { retentionDays: 90, stage1: { kind: "sample", fraction: 0.05 }, access: "impersonation" },
      },
    });
    expect(section(renderAccessReport(withoutFingerprint, { now: NOW }), "## Notices")).toBe(
      "\n- Per-job approval is off for `insurance`: the room file names no approver key fingerprint " +
        "(`manatee jobs approver-key --dataset insurance` prints it after the first deploy).\n",
    );
  });

  test("the verifier section gives the policy hash receipts carry and the offline verification command", () => {
    const verifier = section(md, "## Verifier and release receipts");
    expect(verifier).toContain(`sha256 \`${compileVerifierPolicy(policy).sha256}\``);
    expect(verifier).toContain("`policy_sha256`");
    expect(fencedBlock(verifier, "sh")).toContain("npx manatee verify-receipt receipt.jws --jwks jwks.json");
  });

  test("no suppressions given: the report says none", () => {
    expect(section(md, "## Suppressed guardrail findings")).toBe("\nNone: every guardrail applies to every resource.\n");
  });

  test("the report is deterministic and has no timestamp unless one is given", () => {
    expect(renderAccessReport(policy, { now: NOW })).toBe(md);
    const undated = renderAccessReport(policy);
    expect(undated).not.toMatch(/Generated at|evaluated at/);
    expect(tableRows(section(undated, "## Approved images"))[0][4]).toBe("not evaluated (no date given)");
    expect(renderAccessReport(policy, { generatedAt: "2026-06-01" })).toContain("| Generated at | 2026-06-01 |");
  });

  test("snapshot (paired with the facts above)", () => {
    expect(md).toMatchSnapshot();
  });
});

describe("approval expiry", () => {
  const policy = examplePolicy();
  const end = approvalEnd("2027-01-31");
  const statusAt = (now: string) => {
    const md = renderAccessReport(policy, { now });
    return {
      approval: tableRows(section(md, "## Approved images"))[0][4],
      stage2: tableRows(section(section(md, "### Dataset `insurance`"), "#### Who can read stage-2 data and decrypt"))[0][3],
      notices: section(md, "## Notices"),
    };
  };

  test("given a now past the approval's last day, the approval and its grants are marked expired", () => {
    const at = statusAt(end);
    expect(at.approval).toBe("**EXPIRED**");
    expect(at.stage2).toBe("**EXPIRED**");
    expect(at.notices).toContain(
      `Approval of \`${EXAMPLE_DIGEST_A}\` (XGBoost regression of insurance charges) **expired** on \`${end}\``,
    );
  });

  test("the report's verdict agrees with the IAM condition evaluated by a real CEL engine, to the second", () => {
    const expression = expiryCondition("2027-01-31").expression;
    for (const instant of ["2027-01-31T23:59:59Z", end, "2027-02-01T00:00:01Z"]) {
      const iamAllows = evaluateIamCondition(expression, new Date(instant)).allowed;
      expect(statusAt(instant).approval).toBe(iamAllows ? "active" : "**EXPIRED**");
    }
    expect(evaluateIamCondition(expression, new Date("2027-01-31T23:59:59Z")).allowed).toBe(true);
  });

  test("an approval without expiry never expires", () => {
    const md = renderAccessReport(policy, { now: "2999-01-01T00:00:00Z" });
    expect(tableRows(section(md, "## Approved images"))[1][4]).toBe("active, never expires");
  });

  test("an invalid now is rejected with the field and the fix", () => {
    expect(() => renderAccessReport(policy, { now: "next tuesday" })).toThrow(
      'now: "next tuesday" is not a date; pass an ISO 8601 date such as 2026-01-31T00:00:00Z.',
    );
  });
});

describe("policies that need an auditor's attention", () => {
  test("given a dataset whose stage-1 kind is none, the report flags that stage-1 data is NOT weakened", () => {
    const policy = examplePolicy({
      datasets: { insurance: { stage1: { kind: "none" } }, claims: { stage1: { kind: "sample", fraction: 0.07 } } },
    });
    const md = renderAccessReport(policy);
    expect(section(md, "## Notices")).toContain("**Stage-1 data of `insurance` is NOT weakened**");
    expect(datasetSection(md, "insurance")).toContain("- Stage-1 data: **stage-1 data is NOT weakened**");
    expect(datasetSection(md, "claims")).toContain("(fraction 0.07, 7%)");
    expect(section(md, "## Notices")).not.toContain("`claims` is NOT weakened");
  });

  test("given allowDebug, the notice says so and the condition no longer requires STABLE or debug off", () => {
    const policy = examplePolicy({ tee: { hardware: ["GCP_INTEL_TDX"], machineType: "c3-standard-8", allowDebug: true } });
    const md = renderAccessReport(policy);
    expect(tableRows(md).find((r) => r[0] === "Debug images allowed")?.[1]).toBe("**yes**");
    expect(section(md, "## Notices")).toContain("**Debug Confidential Space images are allowed**");
    const bullets = section(md, "## Attestation requirements").split("\n").filter((l) => l.startsWith("- "));
    expect(bullets).toHaveLength(attributeConditionClauses(policy).length);
    expect(bullets.join("\n")).not.toContain("STABLE");
  });

  test("given a dataset no image is approved for, it has no stage-2 reader and no output writer", () => {
    const policy = examplePolicy({ approvals: [] });
    const md = renderAccessReport(policy);
    const ds = datasetSection(md, "claims");
    expect(section(ds, "#### Who can read stage-2 data and decrypt")).toContain("**No one**: no image is approved for this dataset");
    expect(section(ds, "#### Who writes outputs")).toContain("No principal of this dataset writes any bucket");
    expect(section(md, "## Notices")).toContain("No image is approved for `claims`");
    expect(section(md, "## Approved images")).toBe("\nNo image is approved: no workload can read stage-2 data.\n");
  });

  test("suppressions passed in are listed with rule, resource and reason, sorted by resource", () => {
    const md = renderAccessReport(examplePolicy(), {
      suppressions: [
        { ruleId: "MCR-NET1", reason: "egress to the package mirror is reviewed", path: "platform/network/nat" },
        { ruleId: "MCR-GCS4", reason: "audit bucket lock is set by the org policy", path: "platform/audit/bucket" },
      ],
    });
    expect(tableRows(section(md, "## Suppressed guardrail findings"))).toEqual([
      ["`MCR-GCS4`", "`platform/audit/bucket`", "audit bucket lock is set by the org policy"],
      ["`MCR-NET1`", "`platform/network/nat`", "egress to the package mirror is reviewed"],
    ]);
    expect(section(md, "## Notices")).toContain('2 guardrail findings are suppressed (see "Suppressed guardrail findings").');
  });
});

describe("Markdown injection", () => {
  const evil =
    "ok](https://evil.example) <img src=x onerror=alert(1)> **bold** `tick` | extra cell\n# Injected heading\n- injected item";
  const policy = examplePolicy({
    approvals: [
      { imageDigest: EXAMPLE_DIGEST_A, datasets: ["insurance"], purpose: evil, approvedBy: "a|b@example.org" },
    ],
  });
  let md: string;
  beforeAll(() => {
    md = renderAccessReport(policy);
  });

  test("given a purpose full of Markdown and HTML, no link, tag, heading or list item escapes into the report", () => {
    expect(md).not.toContain("<img");
    expect(md).not.toMatch(/(?<!\\)\]\(https:\/\/evil/);
    expect(md).not.toMatch(/^# Injected/m);
    expect(md).not.toMatch(/^- injected/m);
    expect(md).toContain(
      "ok\\](https://evil.example) &lt;img src=x onerror=alert(1)&gt; \\*\\*bold\\*\\* \\`tick\\` \\| extra cell \\# Injected heading - injected item",
    );
  });

  test("table rows keep their columns: an injected pipe does not add a cell", () => {
    const text = section(md, "## Approved images");
    const header = tableHeader(text);
    const rows = tableRows(text);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toHaveLength(header.length);
    expect(rows[0][2]).toBe("a\\|b@example.org");
    const stage2 = tableRows(section(datasetSection(md, "insurance"), "#### Who can read stage-2 data and decrypt"));
    expect(stage2[0]).toHaveLength(5);
  });
});

describe("writeAccessReport", () => {
  test("writes <outdir>/access-report.md, creating the directory, with exactly the rendered report", () => {
    const dir = mkdtempSync(join(tmpdir(), "manatee-report-"));
    try {
      const out = join(dir, "cdktf.out");
      const path = writeAccessReport(out, examplePolicy(), { now: NOW });
      expect(path).toBe(join(out, ACCESS_REPORT_FILE));
      expect(readFileSync(path, "utf8")).toBe(renderAccessReport(examplePolicy(), { now: NOW }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
