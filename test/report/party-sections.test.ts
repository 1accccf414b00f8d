/**
 * The access report's per-party sections of a consortium room: project and pool, datasets, the
 * approvals each party gave, the other parties' datasets a digest is also approved for, and who
 * could reach its data outside the attestation path. A single-project report has none.
 */
import { renderAccessReport } from "../../lib/report/access-report";
import { consortiumPolicy, HOSPITAL_A, HOSPITAL_B } from "../checks/consortium-fixture";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B, examplePolicy } from "../util";
import { cells, section } from "./md";

const report = renderAccessReport(consortiumPolicy, { now: "2026-06-01T00:00:00Z" });
const party = (name: string) => section(report, `### Party \`${name}\``);
/** The approvals table of a party: digest → its row's cells. */
function approvalRows(body: string): Map<string, string[]> {
  const rows = body.split("\n").filter((l) => l.startsWith("| `sha256:"));
  return new Map(rows.map((r) => cells(r)).map((c) => [c.find((x) => x.length > 0)!, c.filter((x) => x.length > 0)]));
}

test("given a consortium room, then each party has its own section under Parties with its project and pool", () => {
  const parties = section(report, "## Parties");
  expect(parties.match(/^### Party /gm)).toHaveLength(2);
  expect(party(HOSPITAL_A.name)).toContain(`| Project | \`${HOSPITAL_A.project}\` |`);
  expect(party(HOSPITAL_A.name)).toContain("`insurance-study-hospital-a` in `hospital-a-cleanroom`");
  expect(party(HOSPITAL_B.name)).toContain(`| Project | \`${HOSPITAL_B.project}\` |`);
});

test("given each party's datasets, then a party's section lists its own datasets only", () => {
  expect(party(HOSPITAL_A.name)).toMatch(/^\| `insurance` \|/m);
  expect(party(HOSPITAL_A.name)).not.toMatch(/^\| `claims` \|/m);
  expect(party(HOSPITAL_B.name)).toMatch(/^\| `claims` \|/m);
});

test("given digest B approved by both parties and digest A by hospital-a only, then each approval names who approved it and the other parties' datasets", () => {
  const a = approvalRows(party(HOSPITAL_A.name));
  expect([...a.keys()]).toEqual([`\`${EXAMPLE_DIGEST_A}\``, `\`${EXAMPLE_DIGEST_B}\``]);
  expect(a.get(`\`${EXAMPLE_DIGEST_A}\``)).toEqual([`\`${EXAMPLE_DIGEST_A}\``, "`insurance`", "XGBoost regression of insurance charges", "`dpo@hospital-a.example`", "active", "no other party"]);
  expect(a.get(`\`${EXAMPLE_DIGEST_B}\``)?.at(-1)).toBe("`claims` (`hospital-b`)");
  const b = approvalRows(party(HOSPITAL_B.name));
  expect([...b.keys()]).toEqual([`\`${EXAMPLE_DIGEST_B}\``]);
  expect(b.get(`\`${EXAMPLE_DIGEST_B}\``)?.slice(3)).toEqual(["`dpo@hospital-b.example`", "active, never expires", "`insurance` (`hospital-a`)"]);
});

test("given a party, then only its own project's administrators (and the org / Google caveat) could reach its data outside attestation", () => {
  const body = party(HOSPITAL_B.name);
  expect(body).toContain("Who could reach its data outside the attestation path: **administrators of `hospital-b-cleanroom` only**.");
  expect(body).toContain("The operator's administrators (of `acme-clean-room`) cannot");
  expect(body).toMatch(/organisation or folders above hospital-b-cleanroom, and Google/);
});

test("given a single-project room, then the report has no Parties section", () => {
  expect(renderAccessReport(examplePolicy())).not.toContain("## Parties");
});
