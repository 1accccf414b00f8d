import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { TerraformStack, Testing } from "cdktf";
import { CleanRoomSuppressions } from "../../lib/checks/suppressions";
import { CleanRoomDataPlane } from "../../lib/constructs/data-plane/datasets";
import { loadPolicyFile } from "../../lib/policy/load";
import { platformNames } from "../../lib/policy/names";
import { renderAccessReport } from "../../lib/report/access-report";
import { shippedExamplePolicy } from "../util";

import { manatee } from "./run";

const EXAMPLE = "stacks/example.cleanroom.yaml";
const MANY_ERRORS = "test/fixtures/policies/many-errors.cleanroom.yaml";
const NOW = "2026-06-01T00:00:00Z";


describe("manatee report", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "manatee-report-cli-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("given the example config, then it prints the access report of the loaded policy and exits 0", async () => {
    const { code, stdout, stderr } = await manatee("report", "--config", EXAMPLE, "--now", NOW);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toBe(renderAccessReport(loadPolicyFile(EXAMPLE), { now: NOW, suppressions: [] }));
    expect(stdout.startsWith("# Access report: clean room `insurance-study`\n")).toBe(true);
    // The YAML and the TypeScript example are the same room: same report, byte for byte.
    expect(stdout).toBe(renderAccessReport(shippedExamplePolicy(), { now: NOW }));
  });

  test("given --out FILE, then it writes the report there and says so on stdout", async () => {
    const out = join(dir, "access-report.md");
    const { code, stdout, stderr } = await manatee("report", "--config", EXAMPLE, "--out", out, "--now", NOW);
    expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: `manatee report: wrote ${out}\n`, stderr: "" });
    expect(readFileSync(out, "utf8")).toBe(renderAccessReport(loadPolicyFile(EXAMPLE), { now: NOW }));
  });

  test("given --suppressions FILE, then its suppressions are listed in the report", async () => {
    const file = join(dir, "suppressions.json");
    writeFileSync(file, JSON.stringify([{ ruleId: "MCR-GCS4", reason: "lock set by the org policy", path: "platform/audit" }]));
    const { code, stdout } = await manatee("report", "--config", EXAMPLE, "--suppressions", file, "--now", NOW);
    expect(code).toBe(0);
    expect(stdout).toContain("| `MCR-GCS4` | `platform/audit` | lock set by the org policy |");
  });

  test("given --synthesized FILE, then the report carries the cross-check", async () => {
    const file = join(dir, "cdk.tf.json");
    writeFileSync(file, JSON.stringify({ resource: {} }));
    const { code, stdout } = await manatee("report", "--config", EXAMPLE, "--synthesized", file, "--now", NOW);
    expect(code).toBe(0);
    expect(stdout).toContain("## Cross-check with the synthesized infrastructure");
    expect(stdout).toContain("**6 cross-check errors**");
  });

  test("given --synthesized with a cdktf output directory, then its stacks are cross-checked and their suppressions listed", async () => {
    const policy = shippedExamplePolicy();
    const app = Testing.app();
    const stack = new TerraformStack(app, "platform");
    new GoogleProvider(stack, "google", { project: policy.project, region: policy.region });
    const dataPlane = new CleanRoomDataPlane(stack, "data-plane", { policy });
    // As CleanRoom does: JupyterLab reads stage 1, the verifier releases insurance's provisioned stage 1.
    dataPlane.grantSdkStage1Access(`serviceAccount:${platformNames(policy).jupyterSaEmail}`);
    dataPlane.grantProvisionedRelease(`serviceAccount:${platformNames(policy).verifierSaEmail}`);
    CleanRoomSuppressions.add(dataPlane.workload, [{ id: "MCR-TEE1", reason: "reviewed: template for the mock backend" }], {
      applyToChildren: true,
    });
    const outdir = Testing.fullSynth(stack);

    const { code, stdout, stderr } = await manatee("report", "--config", EXAMPLE, "--synthesized", outdir, "--now", NOW);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toContain("No discrepancies: the infrastructure grants exactly what this report states.");
    expect(stdout).toMatch(/\| `MCR-TEE1` \| `platform\/data-plane\/tee\/[^`]+` \| reviewed: template for the mock backend \|/);
  });

  test("given --synthesized with a directory holding no stacks, then it says to synthesize first, exit 1", async () => {
    const { code, stderr } = await manatee("report", "--config", EXAMPLE, "--synthesized", dir);
    expect(code).toBe(1);
    expect(stderr).toBe(
      `manatee report: No synthesized stacks under ${join(dir, "stacks")}: run \`cdktf synth\` (or app.synth()) first.\n`,
    );
  });

  test("given no --now, then expiry is judged at the current time", async () => {
    const before = Date.now();
    const { code, stdout } = await manatee("report", "--config", EXAMPLE);
    expect(code).toBe(0);
    const at = Date.parse(stdout.match(/\| Approval status evaluated at \| `([^`]+)` \|/)![1]);
    expect(at).toBeGreaterThanOrEqual(before - 1000);
    expect(at).toBeLessThanOrEqual(Date.now());
  });

  test("given an invalid config, then the located errors go to stderr, nothing to stdout, exit 1", async () => {
    const { code, stdout, stderr } = await manatee("report", "--config", MANY_ERRORS);
    expect({ code, stdout }).toEqual({ code: 1, stdout: "" });
    expect(stderr).toContain(`${MANY_ERRORS}:11:60: datasets.insurance.stage1.epsilon: expected a number > 0, found -1\n`);
    expect(stderr.trimEnd().split("\n").pop()).toBe(`manatee report: 8 problems in ${MANY_ERRORS}`);
  });

  test("given a config file that does not exist, then it says it cannot read it, exit 1", async () => {
    const { code, stdout, stderr } = await manatee("report", "--config", "nope.yaml");
    expect({ code, stdout }).toEqual({ code: 1, stdout: "" });
    expect(stderr).toMatch(/^manatee report: cannot read nope\.yaml: ENOENT/);
  });

  test("given a malformed suppressions file, then every problem is named with its entry and field, exit 1", async () => {
    const file = join(dir, "bad-suppressions.json");
    writeFileSync(file, JSON.stringify([{ ruleId: "MCR-GCS4", reason: 7, path: "p" }, "MCR-NET1"]));
    const { code, stdout, stderr } = await manatee("report", "--config", EXAMPLE, "--suppressions", file);
    expect({ code, stdout }).toEqual({ code: 1, stdout: "" });
    expect(stderr).toBe(
      `${file}: [0].reason: expected a non-empty string, found a number\n` +
        `${file}: [1]: expected an object with ruleId, reason and path, found the string "MCR-NET1"\n` +
        `manatee report: invalid suppressions file ${file}\n`,
    );
  });

  test("given a synthesized file that is not a stack, then it says what it expected, exit 1", async () => {
    const file = join(dir, "not-a-stack.json");
    writeFileSync(file, "[]");
    const { code, stderr } = await manatee("report", "--config", EXAMPLE, "--synthesized", file);
    expect(code).toBe(1);
    expect(stderr).toBe(`manatee report: ${file}: expected a synthesized cdk.tf.json with a "resource" object\n`);
  });

  test("given an unwritable --out, then it says so, exit 1", async () => {
    const { code, stderr } = await manatee("report", "--config", EXAMPLE, "--out", join(dir, "missing", "dir", "r.md"));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^manatee report: cannot write .*r\.md: ENOENT/);
  });

  test.each([
    [[], "manatee report: missing --config FILE"],
    [["--config"], "manatee report: option --config needs a value"],
    [["--config", EXAMPLE, "extra"], 'manatee report: unexpected argument "extra"'],
    [["--config", EXAMPLE, "--format", "html"], "manatee report: unknown option --format"],
    [["--config", EXAMPLE, "--now", "soon"], 'manatee report: --now "soon" is not a date'],
  ])("given usage error %j, then the reason and the usage go to stderr, exit 2", async (args, message) => {
    const { code, stdout, stderr } = await manatee("report", ...args);
    expect({ code, stdout }).toEqual({ code: 2, stdout: "" });
    expect(stderr.startsWith(message)).toBe(true);
    expect(stderr).toContain("usage: manatee report --config FILE");
  });

  test("given --help, then the usage goes to stdout, exit 0", async () => {
    const { code, stdout } = await manatee("report", "--help");
    expect(code).toBe(0);
    expect(stdout).toContain("usage: manatee report --config FILE [--out FILE] [--suppressions FILE]");
  });
});
