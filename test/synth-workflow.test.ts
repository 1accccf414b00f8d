/**
 * The cdktf workflow: the app `cdktf synth` runs (cdktf.json), started the way the cdktf CLI
 * starts it (through a shell, with the environment the CLI sets), in a working copy of the
 * repository so this checkout's dist/ and bundles stay untouched. `--hcl` yields HCL cdktf can
 * use, success is quiet when asked and never on stderr (cdktf labels the app's stderr
 * `[ERROR]`), and an edited source is recompiled before it is synthesized.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const { sourceCopy } = require("../scripts/lib/source-copy") as {
  sourceCopy: (root: string, dest: string, options?: { withBuilds?: boolean }) => string;
};
const { freshDist } = require("../scripts/lib/fresh-dist") as {
  freshDist: (root: string) => { transpiled: string[]; removed: string[] };
};

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly outdir: string;
}

let work: string;
let copy: string;
const runs: Record<string, Run> = {};

/** cdktf.json's app, run as cdktf-cli's SynthStack.synth runs it (shell, cwd, env). */
function cdktfRunsApp(name: string, env: Record<string, string>): Run {
  const app = JSON.parse(fs.readFileSync(path.join(copy, "cdktf.json"), "utf8")).app as string;
  const outdir = path.join(work, `out-${name}`);
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CDKTF_|SYNTH_HCL|CLEANROOM_CONFIG|MANATEE_)/.test(k)));
  const r = spawnSync(app, {
    shell: true,
    cwd: copy,
    encoding: "utf8",
    env: {
      ...inherited,
      CHECKPOINT_DISABLE: "1",
      NODE_OPTIONS: "--max-old-space-size=4096",
      CDKTF_OUTDIR: outdir,
      CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS: "true",
      CDKTF_CONTEXT_JSON: JSON.stringify({ cdktfRelativeModules: [] }),
      SYNTH_HCL_OUTPUT: "false",
      ...env,
    },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, outdir };
}

const MARKER_SOURCE = path.join("lib", "policy", "load.ts");

describe("the app cdktf.json runs, in a working copy of the repository", () => {
  beforeAll(() => {
    work = fs.mkdtempSync(path.join(tmpdir(), "manatee-synth-workflow-"));
    copy = sourceCopy(ROOT, path.join(work, "repo"), { withBuilds: true });
    runs.json = cdktfRunsApp("json", {});
    runs.hcl = cdktfRunsApp("hcl", { SYNTH_HCL_OUTPUT: "true" });

    // An edit that an mtime check would miss: the source ends up older than its compiled .js.
    const source = path.join(copy, MARKER_SOURCE);
    const compiled = path.join(copy, "dist", MARKER_SOURCE.replace(/\.ts$/, ".js"));
    fs.appendFileSync(source, `\nrequire("node:fs").writeFileSync(String(process.env.SYNTH_WORKFLOW_MARKER), "edited source ran");\n`);
    const older = new Date(fs.statSync(compiled).mtimeMs - 60_000);
    fs.utimesSync(source, older, older);
    runs.edited = cdktfRunsApp("edited", { CDKTF_LOG_LEVEL: "ERROR", SYNTH_WORKFLOW_MARKER: path.join(work, "marker") });
  }, 600_000);

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  const manifestOf = (run: Run) =>
    JSON.parse(fs.readFileSync(path.join(run.outdir, "manifest.json"), "utf8")) as {
      stacks: Record<string, { synthesizedStackPath: string; stackMetadataPath: string }>;
    };

  describe("given the app run as `cdktf synth` runs it", () => {
    test("then it succeeds and writes what `cdktf diff` reads: manifest.json and stacks/<name>/cdk.tf.json", () => {
      expect({ status: runs.json.status, stderr: runs.json.stderr }).toEqual({ status: 0, stderr: "" });
      const stacks = manifestOf(runs.json).stacks;
      expect(Object.keys(stacks).sort()).toEqual(["insurance-study-platform", "insurance-study-workloads"]);
      for (const [name, m] of Object.entries(stacks)) {
        expect(m.synthesizedStackPath).toBe(path.join("stacks", name, "cdk.tf.json"));
        expect(Object.keys(JSON.parse(fs.readFileSync(path.join(runs.json.outdir, m.synthesizedStackPath), "utf8")).resource).length).toBeGreaterThan(0);
      }
    });

    test("then success goes to stdout (cdktf shows stderr as [ERROR]): one line per stack with its resource count and time, then a summary", () => {
      const lines = runs.json.stdout.trim().split("\n");
      const counted = (name: string) => {
        const file = path.join(runs.json.outdir, "stacks", name, "cdk.tf.json");
        const resources = JSON.parse(fs.readFileSync(file, "utf8")).resource as Record<string, object>;
        return Object.values(resources).reduce((n, byName) => n + Object.keys(byName).length, 0);
      };
      const platform = counted("insurance-study-platform");
      const workloads = counted("insurance-study-workloads");
      expect(lines).toEqual(
        expect.arrayContaining([
          expect.stringMatching(new RegExp(`^stack insurance-study-platform: ${platform} resources in \\d+\\.\\d\\d s$`)),
          expect.stringMatching(new RegExp(`^stack insurance-study-workloads: ${workloads} resources in \\d+\\.\\d\\d s$`)),
        ]),
      );
      expect(lines[lines.length - 1]).toMatch(
        new RegExp(`^synthesized 2 stacks \\(${platform + workloads} resources\\) from stacks/example\\.cleanroom\\.yaml into .+ in \\d+\\.\\d s$`),
      );
    });
  });

  describe("given the app run as `cdktf synth --hcl` runs it (SYNTH_HCL_OUTPUT=true)", () => {
    test("then the manifest points cdktf at stacks/<name>/cdk.tf and metadata.json, which hold HCL and its metadata", () => {
      expect({ status: runs.hcl.status, stderr: runs.hcl.stderr }).toEqual({ status: 0, stderr: "" });
      for (const [name, m] of Object.entries(manifestOf(runs.hcl).stacks)) {
        expect(m.synthesizedStackPath).toBe(path.join("stacks", name, "cdk.tf"));
        const hcl = fs.readFileSync(path.join(runs.hcl.outdir, m.synthesizedStackPath), "utf8");
        expect(hcl).toMatch(/^terraform \{/);
        expect(hcl).toMatch(/^resource "[a-z0-9_]+" "[\w-]+" \{$/m);
        expect(JSON.parse(fs.readFileSync(path.join(runs.hcl.outdir, m.stackMetadataPath), "utf8"))).toHaveProperty("//");
        expect(fs.existsSync(path.join(runs.hcl.outdir, "stacks", name, "cdk.tf.json"))).toBe(false);
      }
      expect(runs.hcl.stdout).toMatch(/^synthesized 2 stacks \(\d+ resources, HCL\)/m);
    });

    test("then the access report, cross-checked against the stacks, is the same as in JSON mode", () => {
      const report = (run: Run) => fs.readFileSync(path.join(run.outdir, "access-report.md"), "utf8");
      expect(report(runs.hcl)).toMatch(/Compared \d+ IAM grants .* of 2 synthesized stacks/);
      expect(report(runs.hcl)).toBe(report(runs.json));
    });
  });

  describe("given a lib source edited after the last build (and dated older than its compiled .js)", () => {
    test("then the synth recompiles it before synthesizing: the edited code runs", () => {
      expect({ status: runs.edited.status, stderr: runs.edited.stderr }).toEqual({ status: 0, stderr: "" });
      expect(fs.readFileSync(path.join(work, "marker"), "utf8")).toBe("edited source ran");
      expect(fs.readFileSync(path.join(copy, "dist", "lib", "policy", "load.js"), "utf8")).toContain("SYNTH_WORKFLOW_MARKER");
    });

    test("then, quiet (CDKTF_LOG_LEVEL=ERROR), a successful synth prints nothing at all", () => {
      expect(fs.existsSync(path.join(runs.edited.outdir, "manifest.json"))).toBe(true);
      expect({ stdout: runs.edited.stdout, stderr: runs.edited.stderr }).toEqual({ stdout: "", stderr: "" });
    });
  });
});

describe("freshDist on a small project", () => {
  let project: string;
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(project, rel)), { recursive: true });
    fs.writeFileSync(path.join(project, rel), text);
  };
  const load = (rel: string) => {
    const file = path.join(project, "dist", rel);
    delete require.cache[file];
    return require(file);
  };

  beforeEach(() => {
    project = fs.mkdtempSync(path.join(tmpdir(), "manatee-fresh-dist-"));
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(project, "node_modules"), "dir");
    write("tsconfig.json", JSON.stringify({ compilerOptions: { target: "ES2022", module: "CommonJS", outDir: "dist", rootDir: ".", strict: true } }));
    write("tsconfig.build.json", JSON.stringify({ extends: "./tsconfig.json", include: ["lib/**/*.ts"] }));
    write("lib/a.ts", `import { b } from "./b";\nexport const a: string = "a1" + b;\n`);
    write("lib/b.ts", `export const b = "b1";\n`);
  });

  afterEach(() => fs.rmSync(project, { recursive: true, force: true }));

  test("given a clean dist, then every source is compiled; run again unchanged, then nothing is", () => {
    expect(freshDist(project).transpiled).toEqual(["lib/a.ts", "lib/b.ts"]);
    expect(load("lib/a.js").a).toBe("a1b1");
    expect(freshDist(project)).toMatchObject({ transpiled: [], removed: [] });
  });

  test("given one source changed, then only it is compiled and the change is in dist", () => {
    freshDist(project);
    write("lib/b.ts", `export const b = "b2";\n`);
    expect(freshDist(project).transpiled).toEqual(["lib/b.ts"]);
    expect(load("lib/a.js").a).toBe("a1b2");
  });

  test("given a compiled file altered or deleted in dist, then it is compiled again", () => {
    freshDist(project);
    fs.writeFileSync(path.join(project, "dist", "lib", "b.js"), `exports.b = "tampered";\n`);
    fs.rmSync(path.join(project, "dist", "lib", "a.js"));
    expect(freshDist(project).transpiled).toEqual(["lib/a.ts", "lib/b.ts"]);
    expect(load("lib/a.js").a).toBe("a1b1");
  });

  test("given a source deleted, then its output is removed (it could otherwise still be loaded)", () => {
    freshDist(project);
    write("lib/a.ts", `export const a = "alone";\n`);
    fs.rmSync(path.join(project, "lib", "b.ts"));
    expect(freshDist(project)).toMatchObject({ transpiled: ["lib/a.ts"], removed: ["lib/b.js"] });
    expect(fs.existsSync(path.join(project, "dist", "lib", "b.js"))).toBe(false);
  });

  test("given a compiler option changed, then everything is compiled again", () => {
    freshDist(project);
    write("tsconfig.json", JSON.stringify({ compilerOptions: { target: "ES2020", module: "CommonJS", outDir: "dist", rootDir: ".", strict: true } }));
    expect(freshDist(project).transpiled).toEqual(["lib/a.ts", "lib/b.ts"]);
  });

  test("given a syntax error, then it refuses with the file and line, and the stale output is not trusted", () => {
    freshDist(project);
    write("lib/b.ts", `export const b = ;\n`);
    expect(() => freshDist(project)).toThrow(/lib\/b\.ts:1:\d+: Expression expected/);
    expect(() => freshDist(project)).toThrow(/lib\/b\.ts/);
  });
});
