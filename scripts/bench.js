#!/usr/bin/env node
/**
 * `npm run bench`: how fast the library is on this machine, as medians of several runs, with
 * every ratio taken against a baseline measured in the same run. Not a test: it never passes
 * or fails, it reports. Prints a table and writes bench-results/bench-<time>.json (+ latest.json).
 *
 *   whole-process synth   `node dist/bin/main.js` on the example and on the large generated
 *                         config (scripts/gen-large-config.js), each into a fresh temp outdir
 *   root-import baseline  the same example synth after loading @cdktf/provider-google from its
 *                         package root (scripts/bench/baseline-root-import.js)
 *   npm test              one full jest run (same config), wall time
 *   npm run synth         scripts/synth.js (also cdktf.json's app) in a temporary copy of the
 *                         repository: once from clean (no dist, no bundles), then unchanged and
 *                         with one lib source edited (median each); the shared dist/ is untouched
 *   verifier              scripts/bench-verifier.js run(), as it reports itself
 *   job service           scripts/bench-job-service.js run(): query p50/p99 with 1,000 jobs and
 *                         50 concurrent researchers against bare HTTP; one local end-to-end run
 *
 *   node scripts/bench.js [--runs N] [--skip tests,verifier,job-service,synth-script,baseline,large]
 *                         [--verifier-duration-ms N]
 */
"use strict";
const { spawnSync, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { largeConfigYaml } = require("./gen-large-config");
const { freshDist } = require("./lib/fresh-dist");
const { sourceCopy } = require("./lib/source-copy");

const ROOT = path.resolve(__dirname, "..");
const args = process.argv.slice(2);
const USAGE = "usage: node scripts/bench.js [--runs N] [--skip tests,verifier,job-service,synth-script,baseline,large] [--verifier-duration-ms N]\n";
const KNOWN = ["--runs", "--skip", "--verifier-duration-ms"];
if (args.includes("--help") || args.includes("-h")) {
  process.stdout.write(USAGE);
  process.exit(0);
}
for (let i = 0; i < args.length; i += 2) {
  if (!KNOWN.includes(args[i]) || args[i + 1] === undefined) {
    process.stderr.write(`bench: unexpected argument ${JSON.stringify(args[i])}\n${USAGE}`);
    process.exit(2);
  }
}
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const RUNS = Number(option("--runs") ?? 5);
const SKIP = new Set((option("--skip") ?? "").split(",").filter(Boolean));
const VERIFIER_DURATION_MS = Number(option("--verifier-duration-ms") ?? 3000);
const TARGETS = { largeOverExample: 2, testSeconds: 120, synthCleanSeconds: 15, appSeconds: 2 };

const ENV = { ...process.env, CHECKPOINT_DISABLE: "1", CI: "true" };
delete ENV.CLEANROOM_CONFIG;
delete ENV.CDKTF_OUTDIR;

const round = (x, digits = 2) => (x === null || x === undefined ? null : Math.round(x * 10 ** digits) / 10 ** digits);
function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Run a command to completion; wall seconds. Throws with its output when it fails. */
function timed(cmd, argv, { cwd = ROOT, env = ENV, capture = false } = {}) {
  const started = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { cwd, env, encoding: "utf8", stdio: capture ? "pipe" : ["ignore", "ignore", "pipe"], maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) {
    throw new Error(`${path.basename(cmd)} ${argv.join(" ")} exited with ${r.status ?? r.signal}\n${(r.stdout ?? "") + (r.stderr ?? "")}`.trim());
  }
  return { seconds, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

const step = (text) => process.stderr.write(`bench: ${text}\n`);

/** One whole-process run of a synth app into a fresh temp outdir; seconds. */
function synthOnce(label, script, config, tmp) {
  const outdir = fs.mkdtempSync(path.join(tmp, `${label}-`));
  const env = { ...ENV, CDKTF_OUTDIR: outdir, ...(config ? { CLEANROOM_CONFIG: config } : {}) };
  const seconds = timed(process.execPath, [script], { env }).seconds;
  fs.rmSync(outdir, { recursive: true, force: true });
  return seconds;
}

const summary = (label, samples) => {
  step(`${label}: ${samples.map((s) => s.toFixed(2)).join(", ")} s`);
  return { runs: samples.length, medianSeconds: round(median(samples), 3), samplesSeconds: samples.map((s) => round(s, 3)) };
};

/** `runs` whole-process runs of a synth app; seconds per run. */
function synthRuns(label, script, config, runs, tmp) {
  return summary(label, Array.from({ length: runs }, () => synthOnce(label, script, config, tmp)));
}

/**
 * The example and the large config, run in alternating order (E L, L E, …): the machine's drift
 * (disk writeback of the previous run's 60 MB of assets, other load) falls on both alike, so
 * their ratio is a property of the code rather than of when each was run.
 */
function pairedSynthRuns(app, large, runs, tmp) {
  const example = [];
  const big = [];
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ["example", "large"] : ["large", "example"];
    for (const which of order) {
      if (which === "example") example.push(synthOnce("example", app, undefined, tmp));
      else big.push(synthOnce("large", app, large, tmp));
    }
  }
  const pairRatios = example.map((e, i) => big[i] / e);
  return { example: summary("example", example), large: summary("large", big), pairRatioMedian: round(median(pairRatios)) };
}

function jestSummary(output) {
  const line = (name) => (output.match(new RegExp(`^${name}:\\s+(.*)$`, "m")) ?? [])[1]?.trim();
  return { suites: line("Test Suites"), tests: line("Tests"), jestTime: line("Time") };
}

function printTable(r) {
  const rows = [];
  const add = (what, value, against, target) => rows.push([what, value, against ?? "", target ?? ""]);
  const s = (x) => (x === null || x === undefined ? "-" : `${x} s`);
  const x = (v) => (v === null || v === undefined ? "-" : `${v}×`);
  add(`synth example (node dist/bin/main.js), median of ${r.runs}`, s(r.synth.example.medianSeconds), "", `< ${TARGETS.appSeconds} s`);
  if (r.synth.large) {
    add(
      `synth large (${r.synth.large.datasets} datasets, ${r.synth.large.approvals} approvals), median of ${r.runs}`,
      s(r.synth.large.medianSeconds),
      `${x(r.ratios.largeOverExample)} the example (median of pair ratios ${x(r.ratios.largeOverExamplePairMedian)})`,
      `< ${TARGETS.largeOverExample}×`,
    );
  }
  if (r.synth.rootImportBaseline) {
    add(
      `synth example with provider-google root import (baseline), median of ${r.runs}`,
      s(r.synth.rootImportBaseline.medianSeconds),
      `deep imports take ${x(r.ratios.deepOverRoot)} of it`,
      "",
    );
  }
  if (r.npmTest) add(`npm test (${r.npmTest.tests ?? "?"}), once`, s(r.npmTest.seconds), "", `< ${TARGETS.testSeconds} s`);
  if (r.npmRunSynth) {
    add("npm run synth from a clean dist (transpile all, both bundles, app)", s(r.npmRunSynth.cleanSeconds), "", `< ${TARGETS.synthCleanSeconds} s`);
    add(`npm run synth, nothing changed, median of ${r.runs}`, s(r.npmRunSynth.incrementalSeconds), `${x(r.ratios.synthIncrementalOverClean)} the clean run`, "");
    add(`npm run synth, one lib source edited, median of ${r.runs}`, s(r.npmRunSynth.editedSeconds), "", "");
  }
  if (r.verifier) {
    const v = r.verifier;
    add("verifier decisions/s (vs bare jose.jwtVerify)", `${v.verifier?.decisionsPerSec ?? "-"} / ${v.bare?.decisionsPerSec ?? "-"}`, `ratio ${v.ratio ?? "-"}`, `>= ${v.ratioTarget ?? "-"}`);
    add("verifier server CPU per decision (bare / verifier)", `${v.bare?.serverCpuUsPerDecision ?? "-"} / ${v.verifier?.serverCpuUsPerDecision ?? "-"} µs`, `ratio ${v.cpuRatio ?? "-"}`, "");
    add("verifier cold start: first /v1/verify", `${v.coldStart?.firstVerifyMs ?? "-"} ms`, "", `< ${v.coldStart?.targetMs ?? "-"} ms`);
  } else if (r.verifierSkipped) {
    add("verifier", r.verifierSkipped, "", "");
  }
  if (r.jobService) {
    const q = r.jobService.query;
    add(
      `job service query p50 / p99 (${q.jobs} jobs, ${q.researchers} concurrent researchers)`,
      `${q.service.p50Ms} / ${q.service.p99Ms} ms`,
      `p50 ratio ${q.p50Ratio} (bare HTTP ${q.bare.p50Ms} / ${q.bare.p99Ms} ms)`,
      "",
    );
    add("job service queries/s (vs bare HTTP, same body)", `${q.service.perSec} / ${q.bare.perSec}`, "", "");
    const e = r.jobService.endToEnd;
    add("local end-to-end run: submit → approve → release → download", s(e.submitToDownloadSeconds), `start of the local room ${s(e.startSeconds)}`, "");
  } else if (r.jobServiceSkipped) {
    add("job service", r.jobServiceSkipped, "", "");
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...[["what", "measured", "against baseline", "target"], ...rows].map((row) => String(row[i]).length)));
  const line = (row) => `| ${row.map((c, i) => String(c).padEnd(widths[i])).join(" | ")} |`;
  const header = [
    `manatee-cdktf bench: ${r.machine.cpus} CPUs, node ${r.machine.node}, load average ${r.machine.loadavgStart.join(" ")} at start, ${r.machine.loadavgEnd.join(" ")} at end`,
    line(["what", "measured", "against baseline", "target"]),
    line(widths.map((w) => "-".repeat(w))),
  ];
  process.stdout.write(`${[...header, ...rows.map(line)].join("\n")}\n`);
}

async function main() {
  const started = new Date();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "manatee-bench-"));
  const results = {
    startedAt: started.toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavgStart: os.loadavg().map((l) => round(l)) },
    runs: RUNS,
    targets: TARGETS,
    synth: {},
    ratios: {},
  };
  try {
    // The app under test is the current code: build it the way `npm run synth` does.
    step("bringing dist and the bundles up to date, as npm run synth does");
    const prepareStarted = process.hrtime.bigint();
    freshDist(ROOT);
    for (const pkg of ["attestation-verifier", "job-service"]) require(path.join(ROOT, pkg, "scripts", "build.js")).build();
    results.prepareSeconds = round(Number(process.hrtime.bigint() - prepareStarted) / 1e9, 3);

    const app = path.join(ROOT, "dist", "bin", "main.js");
    if (!SKIP.has("large")) {
      const large = path.join(tmp, "large.cleanroom.yaml");
      fs.writeFileSync(large, largeConfigYaml());
      step(`whole-process synth of the example and the large config, ${RUNS} runs each, interleaved`);
      const paired = pairedSynthRuns(app, large, RUNS, tmp);
      results.synth.example = paired.example;
      results.synth.large = { datasets: 200, approvals: 1000, ...paired.large };
      results.ratios.largeOverExample = round(results.synth.large.medianSeconds / results.synth.example.medianSeconds);
      results.ratios.largeOverExamplePairMedian = paired.pairRatioMedian;
    } else {
      step(`whole-process synth of the example, ${RUNS} runs`);
      results.synth.example = synthRuns("example", app, undefined, RUNS, tmp);
    }

    if (!SKIP.has("baseline")) {
      step(`example synth with the provider-google root import (baseline), ${RUNS} runs`);
      results.synth.rootImportBaseline = synthRuns("root-import", path.join(__dirname, "bench", "baseline-root-import.js"), undefined, RUNS, tmp);
      results.ratios.deepOverRoot = round(results.synth.example.medianSeconds / results.synth.rootImportBaseline.medianSeconds);
    }

    if (!SKIP.has("tests")) {
      step("npm test: one full jest run (this takes a while)");
      const jest = require.resolve("jest/bin/jest", { paths: [ROOT] });
      const run = timed(process.execPath, [jest], { capture: true });
      results.npmTest = { seconds: round(run.seconds, 1), ...jestSummary(run.stderr + run.stdout) };
    }

    if (!SKIP.has("synth-script")) {
      // scripts/synth.js is what `npm run synth` and `cdktf synth` (cdktf.json) run.
      step(`npm run synth in a temporary copy: clean (no dist, no bundles) once, then ${RUNS} runs each unchanged and with one lib source edited`);
      const copy = sourceCopy(ROOT, path.join(tmp, "repo"));
      const synthScript = path.join(copy, "scripts", "synth.js");
      const run = () => timed(process.execPath, [synthScript, "--quiet"], { cwd: copy }).seconds;
      const clean = run();
      const unchanged = Array.from({ length: RUNS }, run);
      const edited = Array.from({ length: RUNS }, (_, i) => {
        fs.appendFileSync(path.join(copy, "lib", "index.ts"), `// bench edit ${i}\n`);
        return run();
      });
      results.npmRunSynth = {
        cleanSeconds: round(clean, 2),
        incrementalSeconds: round(median(unchanged), 2),
        editedSeconds: round(median(edited), 2),
      };
      results.ratios.synthIncrementalOverClean = round(results.npmRunSynth.incrementalSeconds / results.npmRunSynth.cleanSeconds);
    }

    const verifierBench = path.join(__dirname, "bench-verifier.js");
    if (SKIP.has("verifier")) {
      results.verifierSkipped = "skipped (--skip verifier)";
    } else if (!fs.existsSync(verifierBench)) {
      results.verifierSkipped = "scripts/bench-verifier.js is not there";
    } else {
      step(`verifier benchmark (scripts/bench-verifier.js, ${VERIFIER_DURATION_MS} ms rounds)`);
      results.verifier = await require(verifierBench).run({ durationMs: VERIFIER_DURATION_MS, print: false });
    }

    if (SKIP.has("job-service")) {
      results.jobServiceSkipped = "skipped (--skip job-service)";
    } else {
      step("job service benchmark (scripts/bench-job-service.js: query latency, one local end-to-end run)");
      results.jobService = await require(path.join(__dirname, "bench-job-service.js")).run({ print: false });
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  results.machine.loadavgEnd = os.loadavg().map((l) => round(l));
  results.finishedAt = new Date().toISOString();

  printTable(results);
  const dir = path.join(ROOT, "bench-results");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `bench-${started.toISOString().replace(/[:.]/g, "-")}.json`);
  const json = `${JSON.stringify(results, null, 2)}\n`;
  fs.writeFileSync(file, json);
  fs.writeFileSync(path.join(dir, "latest.json"), json);
  process.stdout.write(`results: ${path.relative(ROOT, file)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
