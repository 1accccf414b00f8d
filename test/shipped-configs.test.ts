/**
 * Every shipped room file (stacks/*.cleanroom.yaml) synthesizes as `npm run synth` would — every
 * stack of the room, a consortium's party stacks included — and the whole output passes
 * `manatee check` with its room file: no error, exit 0. A consortium's party stacks reference no
 * other stack.
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { synthesize } from "../bin/main";
import { run } from "../lib/cli/check";

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
