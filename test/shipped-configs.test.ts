/**
 * Every shipped room file (stacks/*.cleanroom.yaml) synthesizes as `npm run synth` would — every
 * stack of the room, a consortium's party stacks included — and the whole output passes
 * `manatee check` with its room file: no error, exit 0. A consortium's party stacks reference no
 * other stack.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { synthesize } from "../bin/main";
import { run } from "../lib/cli/check";
import { loadPolicyFile } from "../lib/policy/load";
import { platformNames } from "../lib/policy/names";

const STACKS = join(__dirname, "..", "stacks");
const configs = readdirSync(STACKS).filter((f) => f.endsWith(".cleanroom.yaml"));

async function check(outdir: string, policy: string): Promise<{ code: number; stdout: string }> {
  let stdout = "";
  const code = await run(["--config", outdir, "--policy", policy], {
    stdout: { write: (c: string) => (stdout += c) },
    stderr: { write: () => true },
  });
  return { code, stdout };
}

describe("every shipped config", () => {
  test.each(configs)("given %s, when every stack is synthesized, then manatee check over the whole output exits 0", async (name) => {
    const file = join(STACKS, name);
    const outdir = mkdtempSync(join(tmpdir(), "manatee-shipped-"));
    const app = synthesize(file, outdir);
    const stacks = readdirSync(join(app.outdir, "stacks"));
    expect(stacks.length).toBeGreaterThanOrEqual(2);
    const r = await check(app.outdir, file);
    expect(r.stdout).not.toMatch(/^ERROR/m);
    expect(r.code).toBe(0);
    if (name.startsWith("consortium")) {
      // Operator stacks and one per party, each planned alone: no remote state, no reference into another stack.
      expect(stacks.filter((s) => s.includes("-party-"))).toHaveLength(2);
      for (const s of stacks.filter((x) => x.includes("-party-"))) {
        const json = readFileSync(join(app.outdir, "stacks", s, "cdk.tf.json"), "utf8");
        expect(json).not.toContain("terraform_remote_state");
        for (const other of stacks.filter((x) => x !== s)) expect(json).not.toContain(`"${other}`);
      }
    }
  });
});

describe("the shipped consortium, tampered in a party's stack", () => {
  const file = join(STACKS, "consortium.cleanroom.yaml");
  let outdir: string;
  beforeAll(() => {
    outdir = synthesize(file, mkdtempSync(join(tmpdir(), "manatee-consortium-"))).outdir;
  });

  /** A copy of the output with hospital-a's stack changed by `tamper`, checked as a whole. */
  async function tampered(tamper: (json: any) => void) {
    const copy = mkdtempSync(join(tmpdir(), "manatee-tampered-"));
    cpSync(outdir, copy, { recursive: true });
    const stackFile = join(copy, "stacks", "oncology-party-hospital-a", "cdk.tf.json");
    const json = JSON.parse(readFileSync(stackFile, "utf8"));
    tamper(json);
    writeFileSync(stackFile, JSON.stringify(json));
    return check(copy, file);
  }
  const only = (json: any, type: string, part: string, where: "resource" | "data" = "resource") => {
    const hits = Object.entries<any>(json[where][type]).filter(([k]) => k.includes(part));
    expect(hits).toHaveLength(1);
    return hits[0][1];
  };

  test("given the party pool's provider pointed at another issuer, then MCR-WIF4 refuses it (party pools are data pools)", async () => {
    const r = await tampered((j) => {
      only(j, "google_iam_workload_identity_pool_provider", "party_pool_provider").oidc.issuer_uri = "https://issuer.attacker.example";
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ERROR\s+MCR-WIF4\s+oncology-party-hospital-a\//m);
  });

  test("given the party pool's condition without the no-tee-cmd clause, then MCR-WIF4 refuses it", async () => {
    const r = await tampered((j) => {
      const p = only(j, "google_iam_workload_identity_pool_provider", "party_pool_provider");
      p.attribute_condition = p.attribute_condition.replace(" && (!has(assertion.submods.container.cmd_override) || size(assertion.submods.container.cmd_override) == 0)", "");
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ERROR\s+MCR-WIF4\s.*cmd_override/m);
  });

  test("given the operator's JupyterLab account as a reader of a party's stage-2 bucket, then MCR-PTY1 refuses it (only stage-1 is published)", async () => {
    const r = await tampered((j) => {
      const doc = only(j, "google_iam_policy", "scans_stage2", "data");
      const jupyter = `serviceAccount:${platformNames(loadPolicyFile(file)).jupyterSaEmail}`;
      doc.binding = [...(Array.isArray(doc.binding) ? doc.binding : [doc.binding]), { role: "roles/storage.objectViewer", members: [jupyter] }];
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ERROR\s+MCR-PTY1\s.*jupyter/m);
  });
});
