/**
 * The reference provisioning job (job-service/provisioning/dp-synthesizer/synthesize.py). Its
 * argument checks run everywhere python3 does; the MST run needs smartnoise-synth, which this
 * machine may not have (no package network): then that test is skipped, with the reason in its name.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SCRIPT = join(__dirname, "..", "provisioning", "dp-synthesizer", "synthesize.py");
const python = (args: string[]) => spawnSync("python3", [SCRIPT, ...args], { encoding: "utf8", timeout: 300_000 });
const hasPython = spawnSync("python3", ["--version"]).status === 0;
const hasSnsynth = hasPython && spawnSync("python3", ["-c", "import snsynth"]).status === 0;

const DOMAIN = { region: ["north", "south", "east", "west"], claim: ["none", "minor", "major"], age: ["18-34", "35-64", "65+"] };

function fixture(): { dir: string; csv: string; domain: string } {
  const dir = mkdtempSync(join(tmpdir(), "dp-synth-"));
  const rows = ["region,claim,age"];
  for (let i = 0; i < 400; i++) rows.push([DOMAIN.region[i % 4], DOMAIN.claim[(i * 7) % 3], DOMAIN.age[(i * 5) % 3]].join(","));
  rows.push("atlantis,none,18-34"); // outside the public domain: dropped, never a category
  const csv = join(dir, "claims.csv");
  const domain = join(dir, "domain.json");
  writeFileSync(csv, rows.join("\n") + "\n");
  writeFileSync(domain, JSON.stringify(DOMAIN));
  return { dir, csv, domain };
}

(hasPython ? describe : describe.skip)("dp-synthesizer arguments (python3 only)", () => {
  test.each([
    [["--epsilon", "0"], "--epsilon must be > 0"],
    [["--epsilon", "1", "--delta", "1"], "--delta must be in (0, 1)"],
    [["--epsilon", "1", "--rows", "0"], "--rows must be >= 1"],
  ])("given %j, then it refuses before reading any data", (extra, message) => {
    const base = { "--input": "/nonexistent.csv", "--domain": "/nonexistent.json", "--rows": "10", "--output-dir": "/nonexistent" };
    const args = Object.entries(base).flatMap(([k, v]) => (extra.includes(k) ? [] : [k, v]));
    const r = python([...args, ...extra]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
  });
});

const mstDescribe = hasSnsynth ? describe : describe.skip;
mstDescribe(`dp-synthesizer MST run${hasSnsynth ? "" : " (skipped: python3 cannot import snsynth; pip install smartnoise-synth where the package registry is reachable)"}`, () => {
  test("given a small CSV and its public domain, then it writes --rows synthetic rows within the domain and the parameters it spent", () => {
    const f = fixture();
    const out = join(f.dir, "out");
    const r = python(["--input", f.csv, "--domain", f.domain, "--epsilon", "1.0", "--delta", "1e-6", "--rows", "123", "--output-dir", out, "--seed", "7"]);
    expect(r.stderr).not.toMatch(/Traceback/);
    expect(r.status).toBe(0);

    const lines = readFileSync(join(out, "synthetic.csv"), "utf8").trim().split("\n");
    expect(lines[0]).toBe("region,claim,age");
    expect(lines).toHaveLength(124);
    for (const line of lines.slice(1)) {
      const [region, claim, age] = line.split(",");
      expect(DOMAIN.region).toContain(region);
      expect(DOMAIN.claim).toContain(claim);
      expect(DOMAIN.age).toContain(age);
    }
    expect(JSON.parse(readFileSync(join(out, "parameters.json"), "utf8"))).toMatchObject({ mechanism: "mst", epsilon: 1, delta: 1e-6, rows: 123 });
  });
});
