#!/usr/bin/env node
/**
 * Assemble the job service's container build context job-service/build/:
 *
 *   Dockerfile          job-service/Dockerfile (pinned Node 20 slim base, non-root, read-only friendly)
 *   .gcloudignore       uploads everything (gcloud's default ignore list could drop node_modules)
 *   index.js            entry module: runs src/main.js
 *   src/*.js            the compiled modules src/main.js reaches (no local-mode adapters, no .d.ts)
 *   package.json        name, main, engines, the pinned dependencies the code requires
 *   package-lock.json   the runtime closure with the root lockfile's integrity hashes
 *   node_modules/...    that closure, copied from the root node_modules (versions checked
 *                       against job-service/package.json and package-lock.json)
 *
 * Only packages the compiled code actually requires are shipped (and what they depend on):
 * a pin in job-service/package.json that no source uses stays out of the image.
 *
 * The compiled code is reused from dist/job-service/src when it is newer than every source file,
 * and compiled afresh (into a temporary directory) otherwise. Deterministic: files are written in
 * sorted order with fixed modes, no timestamps in any content; the printed sha256 covers every
 * (relative path, content) pair in sorted order — the same hash lib/registry.ts tags the image with.
 *
 * Usage: node job-service/scripts/build.js [--out DIR] [--compile] [--quiet]
 */
"use strict";
const { createHash } = require("node:crypto");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { builtinModules } = require("node:module");

const PACKAGE_DIR = path.resolve(__dirname, "..");
const ROOT = path.resolve(PACKAGE_DIR, "..");
const SRC = path.join(PACKAGE_DIR, "src");
const ROOT_DIST = path.join(ROOT, "dist", "job-service", "src");
const ENTRY = "main";

class BuildError extends Error {}

const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** Compiled .js files of src/, from the root build when fresh, else compiled now. */
function compiledSources({ compile = false } = {}) {
  const sources = fs.readdirSync(SRC).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
  const fresh =
    !compile &&
    sources.every((f) => {
      const js = path.join(ROOT_DIST, f.replace(/\.ts$/, ".js"));
      return fs.existsSync(js) && fs.statSync(js).mtimeMs >= fs.statSync(path.join(SRC, f)).mtimeMs;
    }) &&
    // No stale output of a deleted source.
    fs.readdirSync(ROOT_DIST).filter((f) => f.endsWith(".js")).every((f) => sources.includes(f.replace(/\.js$/, ".ts")));
  if (fresh) return { dir: ROOT_DIST, reused: true, cleanup: () => undefined };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "job-service-tsc-"));
  const tsc = require.resolve("typescript/bin/tsc", { paths: [ROOT] });
  try {
    execFileSync(process.execPath, [tsc, "-p", path.join(PACKAGE_DIR, "tsconfig.json"), "--outDir", tmp, "--incremental", "false"], {
      cwd: ROOT,
      stdio: "pipe",
    });
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new BuildError(`TypeScript compilation failed:\n${String(err.stdout || "")}${String(err.stderr || "")}`);
  }
  return { dir: path.join(tmp, "job-service", "src"), reused: false, cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }) };
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageOf(spec) {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/**
 * The runtime closure of `roots`, resolved as Node would from the root node_modules: a
 * dependency nested under its dependent's node_modules is copied with it; anything else must be
 * at the root, locked, and at the locked version.
 */
function dependencyClosure(roots, pins) {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8"));
  const closure = new Map();
  const queue = [...roots];
  while (queue.length > 0) {
    const name = queue.shift();
    if (closure.has(name)) continue;
    const dir = path.join(ROOT, "node_modules", name);
    const manifestPath = path.join(dir, "package.json");
    if (!fs.existsSync(manifestPath)) throw new BuildError(`${name} is not installed in ${path.join(ROOT, "node_modules")}; run npm ci at the root.`);
    const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
    const locked = lock.packages[`node_modules/${name}`];
    if (!locked) throw new BuildError(`${name} is not in the root package-lock.json.`);
    if (manifest.version !== locked.version) {
      throw new BuildError(`${name}: node_modules has ${manifest.version} but package-lock.json locks ${locked.version}; run npm ci at the root.`);
    }
    if (pins[name] !== undefined && pins[name] !== manifest.version) {
      throw new BuildError(`${name}: job-service/package.json pins ${pins[name]} but the root installs ${manifest.version}; align the pins.`);
    }
    closure.set(name, { dir, version: manifest.version, locked });
    const optionalPeers = manifest.peerDependenciesMeta || {};
    const deps = [
      ...Object.keys(manifest.dependencies || {}),
      ...Object.keys(manifest.optionalDependencies || {}).filter((d) => fs.existsSync(path.join(ROOT, "node_modules", d)) || fs.existsSync(path.join(dir, "node_modules", d))),
      ...Object.keys(manifest.peerDependencies || {}).filter((d) => !optionalPeers[d]?.optional),
    ];
    for (const dep of deps) {
      // Nested copies travel with their dependent (listFiles recurses into its node_modules).
      if (fs.existsSync(path.join(dir, "node_modules", dep, "package.json"))) continue;
      queue.push(dep);
    }
  }
  return new Map([...closure.entries()].sort(([a], [b]) => byName(a, b)));
}

/** Every file under dir, as sorted relative paths (symlinks refused: the context must be self-contained). */
function listFiles(dir, prefix = "") {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => byName(a.name, b.name))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    // npm's .bin shims (links to CLIs): nothing at run time needs them.
    if (entry.name === ".bin") continue;
    if (entry.isSymbolicLink()) throw new BuildError(`${path.join(dir, entry.name)} is a symlink; refusing to package it.`);
    if (entry.isDirectory()) out.push(...listFiles(path.join(dir, entry.name), rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

/** sha256 over (relative path, content) pairs in sorted path order, each length-prefixed. */
function treeSha256(dir) {
  const hash = createHash("sha256");
  const files = listFiles(dir).sort(byName);
  let bytes = 0;
  for (const rel of files) {
    const content = fs.readFileSync(path.join(dir, rel));
    bytes += content.length;
    hash.update(`${rel}\0${content.length}\0`).update(content);
  }
  return { sha256: hash.digest("hex"), files: files.length, bytes };
}

function build({ out = path.join(PACKAGE_DIR, "build"), compile = false } = {}) {
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, "package.json"), "utf8"));
  const pins = pkg.dependencies || {};
  const compiled = compiledSources({ compile });
  const files = new Map(); // relative path → Buffer
  const required = new Set();
  try {
    if (!fs.existsSync(path.join(compiled.dir, `${ENTRY}.js`))) {
      throw new BuildError(`the compiled sources lack ${ENTRY}.js (job-service/src/${ENTRY}.ts, the container entry)`);
    }
    // Only the modules the entry reaches: local-mode adapters and tools stay out of the image.
    const queue = [`${ENTRY}.js`];
    while (queue.length > 0) {
      const f = queue.shift();
      if (files.has(`src/${f}`)) continue;
      const code = fs.readFileSync(path.join(compiled.dir, f));
      files.set(`src/${f}`, code);
      // Only relative, node: and pinned packages: anything else would be missing in the image.
      for (const m of code.toString().matchAll(/require\("([^"]+)"\)/g)) {
        const spec = m[1];
        if (spec.startsWith("./")) {
          const target = `${spec.slice(2).replace(/\.js$/, "")}.js`;
          if (target.includes("/") || !fs.existsSync(path.join(compiled.dir, target))) throw new BuildError(`src/${f} requires "${spec}", which is not a module of job-service/src.`);
          queue.push(target);
          continue;
        }
        if (spec.startsWith("node:") || builtinModules.includes(spec)) continue;
        if (spec.startsWith("../") || spec.startsWith("/")) throw new BuildError(`src/${f} requires "${spec}", outside job-service/src: the image does not carry it.`);
        const name = packageOf(spec);
        if (pins[name] === undefined) throw new BuildError(`src/${f} requires "${spec}", which job-service/package.json does not pin; add it there.`);
        required.add(name);
      }
    }
  } finally {
    compiled.cleanup();
  }
  const closure = dependencyClosure([...required].sort(byName), pins);

  files.set("Dockerfile", fs.readFileSync(path.join(PACKAGE_DIR, "Dockerfile")));
  // An explicit ignore file: without one gcloud applies its defaults (and .gitignore), which could drop files.
  files.set(".gcloudignore", Buffer.from("# Upload the whole build context (job-service/scripts/build.js writes only what the image needs).\n.gcloudignore\n"));
  files.set("index.js", Buffer.from(`"use strict";\n// Container entry of the clean room's job service. See job-service/src/${ENTRY}.ts.\nrequire("./src/${ENTRY}").main();\n`));
  const dependencies = Object.fromEntries([...required].sort(byName).map((name) => [name, pins[name]]));
  const manifest = { name: pkg.name, version: pkg.version, private: true, description: pkg.description, license: pkg.license, main: "index.js", engines: pkg.engines, dependencies };
  files.set("package.json", Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
  const lock = {
    name: pkg.name,
    version: pkg.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: pkg.name, version: pkg.version, license: pkg.license, dependencies, engines: pkg.engines },
      ...Object.fromEntries([...closure].map(([name, c]) => [`node_modules/${name}`, c.locked])),
    },
  };
  files.set("package-lock.json", Buffer.from(`${JSON.stringify(lock, null, 2)}\n`));
  for (const [name, c] of closure) {
    for (const rel of listFiles(c.dir)) files.set(`node_modules/${name}/${rel}`, fs.readFileSync(path.join(c.dir, rel)));
  }

  fs.rmSync(out, { recursive: true, force: true });
  for (const rel of [...files.keys()].sort(byName)) {
    const target = path.join(out, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, files.get(rel), { mode: 0o644 });
  }
  return {
    dir: out,
    reusedDist: compiled.reused,
    dependencies: Object.fromEntries([...closure].map(([name, c]) => [name, c.version])),
    ...treeSha256(out),
  };
}

module.exports = { build, treeSha256, BuildError };

if (require.main === module) {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf("--out");
  try {
    const result = build({ out: outIndex >= 0 ? path.resolve(args[outIndex + 1]) : undefined, compile: args.includes("--compile") });
    if (!args.includes("--quiet")) process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    process.stderr.write(`job-service build: ${err instanceof BuildError ? err.message : err.stack}\n`);
    process.exit(1);
  }
}
