#!/usr/bin/env node
/**
 * `npm run examples [-- --update] [-- NAME …]`: each project in examples/ built against the packed
 * package, as a user would get it from the registry, without a registry install:
 *
 * 1. `npm pack` the library (its `prepare` builds dist/ first; `--no-build` packs what is built);
 * 2. copy each example to a temp dir and give it a node_modules/ of its own: the unpacked tarball
 *    as `manatee-cdktf`, and links to this repository's installed packages for everything else,
 *    except the optional peers (Helm, Kubernetes providers) the example's package.json does not list;
 * 3. compile every example with this repository's TypeScript (the packed .d.ts files, strict);
 * 4. run `node main.js` (the example's cdktf app, as `cdktf synth` would) and `node test.js`
 *    (its own assertions on what it synthesized) in the example's directory;
 * 5. compare a summary of the synthesized stacks (resource types and counts, output names) with
 *    examples/NAME/__snapshots__/synth.json (`--update` rewrites it).
 *
 * Exit 0 when every example passes; 1 otherwise, with what differed.
 */
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const EXAMPLES = path.join(ROOT, "examples");
/** Peers a room without JupyterHub does not install: an example gets them only if it lists them. */
const OPTIONAL_PEERS = ["@cdktf/provider-helm", "@cdktf/provider-kubernetes"];

function exampleNames() {
  return fs
    .readdirSync(EXAMPLES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(EXAMPLES, d.name, "main.ts")))
    .map((d) => d.name)
    .sort();
}

/** `npm pack` into `dir`; returns the tarball path. */
function pack(dir, build) {
  const args = ["pack", "--json", "--pack-destination", dir, ...(build ? [] : ["--ignore-scripts"])];
  const out = execFileSync("npm", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 256 << 20 });
  const json = out.slice(out.indexOf("[")); // `prepare` may print before the JSON
  return path.join(dir, JSON.parse(json)[0].filename);
}

/** A real directory tree of hard links to `from` (fast; each example gets a package of its own). */
function linkTree(from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    const a = path.join(from, e.name);
    const b = path.join(to, e.name);
    if (e.isDirectory()) linkTree(a, b);
    else if (e.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(a), b);
    else fs.linkSync(a, b);
  }
}

/** node_modules/ of one example: the packed package, and links to the repository's installed packages. */
function installInto(exampleDir, unpacked) {
  const manifest = JSON.parse(fs.readFileSync(path.join(exampleDir, "package.json"), "utf8"));
  const listed = new Set(Object.keys({ ...manifest.dependencies, ...manifest.devDependencies }));
  const hidden = new Set(OPTIONAL_PEERS.filter((p) => !listed.has(p)));
  const modules = path.join(exampleDir, "node_modules");
  const repoModules = path.join(ROOT, "node_modules");
  const link = (name) => {
    if (name === "manatee-cdktf" || hidden.has(name) || name === ".bin" || name.startsWith(".")) return;
    fs.mkdirSync(path.dirname(path.join(modules, name)), { recursive: true });
    fs.symlinkSync(fs.realpathSync(path.join(repoModules, name)), path.join(modules, name), "dir");
  };
  for (const entry of fs.readdirSync(repoModules)) {
    if (entry.startsWith("@")) for (const sub of fs.readdirSync(path.join(repoModules, entry))) link(`${entry}/${sub}`);
    else link(entry);
  }
  linkTree(unpacked, path.join(modules, "manatee-cdktf"));
  return [...hidden];
}

/** What the snapshot holds: per stack, its resource types with counts and its output names. */
function summarize(exampleDir) {
  const stacksDir = path.join(exampleDir, "cdktf.out", "stacks");
  const summary = {};
  for (const stack of fs.readdirSync(stacksDir).sort()) {
    const json = JSON.parse(fs.readFileSync(path.join(stacksDir, stack, "cdk.tf.json"), "utf8"));
    const resources = {};
    for (const [type, byId] of Object.entries(json.resource ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      resources[type] = Object.keys(byId).length;
    }
    summary[stack] = { resources, outputs: Object.keys(json.output ?? {}).sort() };
  }
  return summary;
}

/**
 * Run the examples; returns one result per example ({ name, ok, problems, hidden }). Options:
 * names (default all), update (rewrite snapshots), build (default true), log (progress lines).
 */
function runExamples(options = {}) {
  const log = options.log ?? (() => {});
  const names = options.names?.length ? options.names : exampleNames();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "manatee-examples-"));
  try {
    log(`packing manatee-cdktf${options.build === false ? " (no build)" : ""}`);
    const tarball = pack(tmp, options.build !== false);
    const unpacked = path.join(tmp, "package");
    require("tar").x({ file: tarball, cwd: tmp, sync: true });

    const dirs = names.map((name) => {
      const dir = path.join(tmp, "examples", name);
      fs.cpSync(path.join(EXAMPLES, name), dir, { recursive: true, filter: (src) => !/[\\/](node_modules|cdktf\.out)$/.test(src) });
      return { name, dir, hidden: installInto(dir, unpacked) };
    });

    log(`compiling ${names.length} example(s) against the packed typings`);
    const tsconfig = {
      compilerOptions: { target: "ES2022", module: "CommonJS", moduleResolution: "node", strict: true, esModuleInterop: true, skipLibCheck: true, types: ["node"], typeRoots: [path.join(ROOT, "node_modules", "@types")] },
      files: dirs.flatMap((d) => ["main.ts", "test.ts"].map((f) => path.join(d.dir, f)).filter((f) => fs.existsSync(f))),
    };
    fs.writeFileSync(path.join(tmp, "tsconfig.json"), JSON.stringify(tsconfig));
    const tsc = require.resolve("typescript/bin/tsc", { paths: [ROOT] });
    try {
      execFileSync(process.execPath, [tsc, "-p", path.join(tmp, "tsconfig.json")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      const output = `${err.stdout ?? ""}${err.stderr ?? ""}`.split(tmp + path.sep).join("");
      return dirs.map((d) => ({ name: d.name, ok: false, hidden: d.hidden, problems: [`TypeScript:\n${output}`] }));
    }

    return dirs.map(({ name, dir, hidden }) => {
      const problems = [];
      const env = { ...process.env, CHECKPOINT_DISABLE: "1", CDKTF_OUTDIR: path.join(dir, "cdktf.out") };
      for (const script of ["main.js", "test.js"]) {
        if (!fs.existsSync(path.join(dir, script))) continue;
        log(`${name}: node ${script}`);
        try {
          execFileSync(process.execPath, [script], { cwd: dir, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        } catch (err) {
          problems.push(`node ${script} failed (exit ${err.status}):\n${err.stdout ?? ""}${err.stderr ?? ""}`);
          break;
        }
      }
      if (problems.length === 0) {
        const actual = `${JSON.stringify(summarize(dir), null, 2)}\n`;
        const snapshot = path.join(EXAMPLES, name, "__snapshots__", "synth.json");
        if (options.update) {
          fs.mkdirSync(path.dirname(snapshot), { recursive: true });
          fs.writeFileSync(snapshot, actual);
        } else if (!fs.existsSync(snapshot)) {
          problems.push(`no snapshot ${path.relative(ROOT, snapshot)}: run npm run examples -- --update`);
        } else if (fs.readFileSync(snapshot, "utf8") !== actual) {
          problems.push(`the synthesized stacks differ from ${path.relative(ROOT, snapshot)} (npm run examples -- --update if intended):\n${actual}`);
        }
      }
      return { name, ok: problems.length === 0, problems, hidden };
    });
  } finally {
    if (!options.keep) fs.rmSync(tmp, { recursive: true, force: true });
    else log(`kept ${tmp}`);
  }
}

module.exports = { runExamples, exampleNames, OPTIONAL_PEERS };

if (require.main === module) {
  const args = process.argv.slice(2);
  const started = Date.now();
  const results = runExamples({
    update: args.includes("--update"),
    build: !args.includes("--no-build"),
    keep: args.includes("--keep"),
    names: args.filter((a) => !a.startsWith("--")),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  for (const r of results) {
    process.stdout.write(`${r.ok ? "ok  " : "FAIL"} ${r.name}${r.hidden.length ? ` (without ${r.hidden.join(", ")})` : ""}\n`);
    for (const p of r.problems) process.stdout.write(`${p.replace(/^/gm, "     ")}\n`);
  }
  process.stderr.write(`examples finished in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  process.exitCode = results.every((r) => r.ok) ? 0 : 1;
}
