/**
 * Synth output is deterministic: the cdktf app, run twice on the example config in two
 * separate Apps (real `app.synth()` into two temporary directories), writes the same bytes.
 * A reviewer's diff of cdk.tf.json then shows only what the policy changed.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Lazy } from "cdktf";
import { defaultConfigPath, synthErrorMessage, synthesize, withoutTokenCreationTraces } from "../bin/main";

const VERIFIER_BUILD = path.join(__dirname, "fixtures", "verifier-build");

/** Every file under `dir`, relative, sorted. */
function files(dir: string, prefix = ""): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(dir, path.join(prefix, e.name)) : [path.join(prefix, e.name)]))
    .sort();
}

describe("given the example config synthesized twice by the cdktf app", () => {
  const outdirs: string[] = [];

  beforeAll(() => {
    for (let i = 0; i < 2; i++) {
      const outdir = mkdtempSync(path.join(tmpdir(), `manatee-determinism-${i}-`));
      outdirs.push(outdir);
      synthesize(defaultConfigPath(), outdir, { verifierSourceDir: VERIFIER_BUILD });
    }
  });

  afterAll(() => {
    for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
  });

  test("then both runs write the same files", () => {
    expect(files(outdirs[1])).toEqual(files(outdirs[0]));
    expect(files(outdirs[0])).toEqual(
      expect.arrayContaining([
        "access-report.md",
        "manifest.json",
        path.join("stacks", "insurance-study-platform", "cdk.tf.json"),
        path.join("stacks", "insurance-study-workloads", "cdk.tf.json"),
      ]),
    );
  });

  test("then every cdk.tf.json, the manifest, the access report and the verifier zip are byte-identical", () => {
    const compared = files(outdirs[0]).filter((f) => /(cdk\.tf\.json|manifest\.json|access-report\.md|\.zip)$/.test(f));
    expect(compared).toHaveLength(5);
    for (const f of compared) {
      const [a, b] = outdirs.map((d) => readFileSync(path.join(d, f)));
      expect({ file: f, identical: a.equals(b) }).toEqual({ file: f, identical: true });
    }
  });

  test("then no output carries a timestamp or an absolute path of this machine", () => {
    const report = readFileSync(path.join(outdirs[0], "access-report.md"), "utf8");
    expect(report).not.toMatch(/Generated at/);
    for (const f of files(outdirs[0]).filter((x) => /\.(json|md)$/.test(x))) {
      const content = readFileSync(path.join(outdirs[0], f), "utf8");
      expect({ file: f, repo: content.includes(path.resolve(__dirname, "..")), outdir: content.includes(outdirs[0]) }).toEqual({
        file: f,
        repo: false,
        outdir: false,
      });
    }
  });
});

describe("the app's synth-time suppression of token-creation traces", () => {
  const token = () => Lazy.anyValue({ produce: () => 1 });

  test("given a token created inside it, then the token records no trace; outside, it does", () => {
    expect(withoutTokenCreationTraces(token).creationStack).toEqual([]);
    expect(token().creationStack.length).toBeGreaterThan(0);
  });

  test("given a real error inside it, then the error keeps its trace", () => {
    const error = withoutTokenCreationTraces(() => new Error("real"));
    expect(error.stack!.split("\n").filter((l) => l.trim().startsWith("at ")).length).toBeGreaterThan(0);
  });

  test("given MANATEE_TOKEN_TRACES=1, then tokens keep their traces", () => {
    process.env.MANATEE_TOKEN_TRACES = "1";
    try {
      expect(withoutTokenCreationTraces(token).creationStack.length).toBeGreaterThan(0);
    } finally {
      delete process.env.MANATEE_TOKEN_TRACES;
    }
  });
});

describe("the cdktf app's errors", () => {
  test("given a CLEANROOM_CONFIG that does not exist, then the message names the variable and the fix, not a stack trace", () => {
    let thrown: unknown;
    try {
      synthesize("/nonexistent/room.yaml", mkdtempSync(path.join(tmpdir(), "manatee-missing-")));
    } catch (err) {
      thrown = err;
    }
    expect(synthErrorMessage(thrown, "/nonexistent/room.yaml")).toBe(
      "CLEANROOM_CONFIG: cannot read /nonexistent/room.yaml (ENOENT). Set CLEANROOM_CONFIG to a clean-room YAML file, or unset it to synthesize stacks/example.cleanroom.yaml.",
    );
  });
});
