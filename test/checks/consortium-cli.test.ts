/**
 * `manatee check --config cdktf.out --policy room.yaml` over a consortium room's stacks: the
 * operator's and two parties', each judged as the stack it is. The loader for `parties` is being
 * built alongside (mp-policy), so the room file's policy is the hand-made normalized one.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../lib/cli/check";
import { HOSPITAL_A, HOSPITAL_B, operatorStack, partyStack, TEE_SA } from "./consortium-fixture";

jest.mock("../../lib/policy/load", () => ({
  ...jest.requireActual("../../lib/policy/load"),
  loadPolicyFile: () => jest.requireActual("./consortium-fixture").consortiumPolicy,
}));

/** A cdktf.out directory holding the given stacks (cdktf's layout, manifest included). */
function outdir(stacks: Record<string, unknown>[]): string {
  const dir = mkdtempSync(join(tmpdir(), "manatee-consortium-"));
  const manifest: Record<string, { synthesizedStackPath: string }> = {};
  for (const json of stacks) {
    const name = (json as any)["//"].metadata.stackName as string;
    mkdirSync(join(dir, "stacks", name), { recursive: true });
    writeFileSync(join(dir, "stacks", name, "cdk.tf.json"), JSON.stringify(json));
    manifest[name] = { synthesizedStackPath: `stacks/${name}/cdk.tf.json` };
  }
  writeFileSync(join(dir, "manifest.json"), JSON.stringify({ stacks: manifest }));
  return dir;
}

async function check(dir: string) {
  const out = { stdout: "", stderr: "" };
  const code = await run(["--config", dir, "--policy", "room.yaml", "--format", "json", "--now", "2026-06-01T00:00:00Z"], {
    stdout: { write: (c: string) => (out.stdout += c) },
    stderr: { write: (c: string) => (out.stderr += c) },
  });
  expect(out.stderr).toBe("");
  const report = JSON.parse(out.stdout) as { stacks: { name: string }[]; findings: { ruleId: string; level: string; stack: string; address: string }[] };
  return { code, report, party: report.findings.filter((f) => f.ruleId.startsWith("MCR-PTY") && f.level === "error") };
}

const room = () => [operatorStack(), partyStack(HOSPITAL_A, "insurance"), partyStack(HOSPITAL_B, "claims")];

test("given the operator's stack and two party stacks untampered, then every stack is checked and no party rule fires", async () => {
  const { report, party } = await check(outdir(room()));
  expect(report.stacks.map((s) => s.name)).toEqual(["insurance-study-party-hospital-a", "insurance-study-party-hospital-b", "insurance-study-platform"]);
  expect(party).toEqual([]);
});

test("given the operator's stack granting on hospital-b's bucket and hospital-a's stack granting the operator's TEE account, then exit 1 with each finding on its own stack", async () => {
  const [operator, a, b] = room();
  operator.resource.google_storage_bucket_iam_member = {
    peek: { bucket: `${HOSPITAL_B.project}-insurance-study-claims-s2`, role: "roles/storage.objectViewer", member: "group:ops@consortium.example" },
  };
  a.resource.google_kms_crypto_key_iam_binding.decrypt.members.push(`serviceAccount:${TEE_SA}`);
  const { code, party } = await check(outdir([operator, a, b]));
  expect(code).toBe(1);
  expect(party.map((f) => [f.ruleId, f.stack, f.address])).toEqual([
    ["MCR-PTY1", "insurance-study-party-hospital-a", "google_kms_crypto_key_iam_binding.decrypt"],
    ["MCR-PTY2", "insurance-study-platform", "google_storage_bucket_iam_member.peek"],
  ]);
});
