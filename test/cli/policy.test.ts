import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { canonicalJson, compileVerifierPolicy } from "../../lib/policy/document";
import { loadPolicyFile } from "../../lib/policy/load";

import { manatee } from "./run";

const EXAMPLE = "stacks/example.cleanroom.yaml";
const MANY_ERRORS = "test/fixtures/policies/many-errors.cleanroom.yaml";


describe("manatee policy", () => {
  test("given the example config, then it prints the verifier policy document as sorted, indented JSON and exits 0", async () => {
    const { code, stdout, stderr } = await manatee("policy", "--config", EXAMPLE);
    const compiled = compileVerifierPolicy(loadPolicyFile(EXAMPLE));
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toBe(`${JSON.stringify(JSON.parse(compiled.json), null, 2)}\n`);
    expect(JSON.parse(stdout)).toEqual(compiled.document);
    // The verifier recomputes the policy hash from what it was given.
    expect(createHash("sha256").update(canonicalJson(JSON.parse(stdout))).digest("hex")).toBe(compiled.sha256);
  });

  test("given --config=FILE, then it works like --config FILE", async () => {
    expect((await manatee("policy", `--config=${EXAMPLE}`)).stdout).toBe((await manatee("policy", "--config", EXAMPLE)).stdout);
  });

  test("given an invalid config, then every located error goes to stderr, nothing to stdout, exit 2 (input error)", async () => {
    const { code, stdout, stderr } = await manatee("policy", "--config", MANY_ERRORS);
    expect({ code, stdout }).toEqual({ code: 2, stdout: "" });
    const lines = stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(9);
    expect(lines[4]).toBe(`${MANY_ERRORS}:11:60: datasets.insurance.stage1.epsilon: expected a number > 0, found -1`);
    expect(lines[8]).toBe(`manatee policy: 8 problems in ${MANY_ERRORS}`);
  });

  test("given a YAML syntax error, then it is located on stderr, exit 2", async () => {
    const file = "test/fixtures/policies/syntax-error.cleanroom.yaml";
    const { code, stdout, stderr } = await manatee("policy", "--config", file);
    expect({ code, stdout }).toEqual({ code: 2, stdout: "" });
    expect(stderr).toContain(`${file}:8:1: YAML syntax error: `);
  });

  test("given a file that does not exist, then it says it cannot read it, exit 2", async () => {
    const { code, stdout, stderr } = await manatee("policy", "--config", "nope.yaml");
    expect({ code, stdout }).toEqual({ code: 2, stdout: "" });
    expect(stderr).toMatch(/^manatee policy: cannot read nope\.yaml: ENOENT/);
  });

  test.each([
    [[], "manatee policy: missing --config FILE"],
    [["--config"], "manatee policy: option --config needs a value"],
    [["--conf", EXAMPLE], "manatee policy: unknown option --conf (known: --config)"],
    [["--config", EXAMPLE, "extra"], 'manatee policy: unexpected argument "extra"'],
  ])("given arguments %j, then usage goes to stderr, exit 2", async (args, first) => {
    const { code, stdout, stderr } = await manatee("policy", ...args);
    expect({ code, stdout }).toEqual({ code: 2, stdout: "" });
    expect(stderr.split("\n")[0]).toBe(first);
    expect(stderr).toContain("usage: manatee policy --config FILE");
  });

  test("given --help, then usage goes to stdout, exit 0", async () => {
    const { code, stdout, stderr } = await manatee("policy", "--help");
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toMatch(/^usage: manatee policy --config FILE/);
  });

  // The one end-to-end process run: the installed `manatee` bin (bin/manatee.js over dist/,
  // which `npm ci` builds through `prepare`), exactly as `npx manatee` runs it.
  test("given the installed CLI in a real process, then `manatee policy` prints the document and a bad file exits 2", () => {
    expect(existsSync("dist/bin/manatee.js") ? "built" : "dist/ is missing: run `npm run build` (npm ci runs it)").toBe("built");
    const env = { ...process.env, CHECKPOINT_DISABLE: "1" };
    const ok = spawnSync(process.execPath, ["bin/manatee.js", "policy", "--config", EXAMPLE], { encoding: "utf8", env });
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual(compileVerifierPolicy(loadPolicyFile(EXAMPLE)).document);
    const bad = spawnSync(process.execPath, ["bin/manatee.js", "policy", "--config", "test/fixtures/policies/no-such.yaml"], { encoding: "utf8", env });
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toContain("no-such.yaml");
  });
});
