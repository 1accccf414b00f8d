#!/usr/bin/env node
/**
 * Assemble the deployable Cloud Function directory attestation-verifier/build/:
 *
 *   index.js            entry module; exports the HTTP function `verify`
 *   src/*.js            the compiled verifier (no .d.ts)
 *   package.json        name, main, engines, the two pinned dependencies
 *   package-lock.json   the runtime closure with the root lockfile's integrity hashes
 *   node_modules/...    jose, @bufbuild/cel and their runtime dependencies, copied
 *                       from the root node_modules (versions checked against the pins)
 *
 * The compiled code is reused from dist/attestation-verifier/src when it is newer than
 * every source file, and compiled afresh (into a temporary directory) otherwise.
 * Deterministic: files are written in sorted order, with no timestamps in any content;
 * the printed sha256 covers every (relative path, content) pair in sorted order.
 *
 * Usage: node attestation-verifier/scripts/build.js [--out DIR] [--compile]
 */
"use strict";
const { createHash } = require("node:crypto");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const PACKAGE_DIR = path.resolve(__dirname, "..");
const ROOT = path.resolve(PACKAGE_DIR, "..");
const SRC = path.join(PACKAGE_DIR, "src");
const ROOT_DIST = path.join(ROOT, "dist", "attestation-verifier", "src");
const ENTRY_POINT = "verify";

class BuildError extends Error {}

/** Compiled .js files of src/, from the root build when fresh, else compiled now. */
function compiledSources({ compile = false } = {}) {
  const sources = fs.readdirSync(SRC).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
  const fresh =
    !compile &&
    sources.every((f) => {
      const js = path.join(ROOT_DIST, f.replace(/\.ts$/, ".js"));
      return fs.existsSync(js) && fs.statSync(js).mtimeMs >= fs.statSync(path.join(SRC, f)).mtimeMs;
    });
  if (fresh) return { dir: ROOT_DIST, reused: true, cleanup: () => undefined };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "verifier-tsc-"));
  const tsc = require.resolve("typescript/bin/tsc", { paths: [ROOT] });
  try {
    execFileSync(process.execPath, [tsc, "-p", path.join(PACKAGE_DIR, "tsconfig.json"), "--outDir", tmp], { cwd: ROOT, stdio: "pipe" });
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new BuildError(`TypeScript compilation failed:\n${String(err.stdout || "")}${String(err.stderr || "")}`);
  }
  return {
    dir: path.join(tmp, "attestation-verifier", "src"),
    reused: false,
    cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }),
  };
}

/** The runtime dependency closure, resolved in the root node_modules and checked against the lockfile. */
function dependencyClosure(pins) {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8"));
  const closure = new Map();
  const queue = Object.keys(pins);
  while (queue.length > 0) {
    const name = queue.shift();
    if (closure.has(name)) continue;
    const dir = path.join(ROOT, "node_modules", name);
    const manifestPath = path.join(dir, "package.json");
    if (!fs.existsSync(manifestPath))
      throw new BuildError(`${name} is not installed in ${path.join(ROOT, "node_modules")}; run npm ci at the root.`);
    const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
    const locked = lock.packages[`node_modules/${name}`];
    if (!locked) throw new BuildError(`${name} is not in the root package-lock.json.`);
    if (manifest.version !== locked.version) {
      throw new BuildError(
        `${name}: node_modules has ${manifest.version} but package-lock.json locks ${locked.version}; run npm ci at the root.`
      );
    }
    if (pins[name] !== undefined && pins[name] !== manifest.version) {
      throw new BuildError(
        `${name}: attestation-verifier/package.json pins ${pins[name]} but the root installs ${manifest.version}; align the pins.`
      );
    }
    closure.set(name, { dir, version: manifest.version, locked });
    const optionalPeers = manifest.peerDependenciesMeta || {};
    for (const dep of Object.keys(manifest.dependencies || {})) queue.push(dep);
    for (const dep of Object.keys(manifest.peerDependencies || {})) if (!optionalPeers[dep]?.optional) queue.push(dep);
  }
  return new Map([...closure.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Every file under dir, as sorted relative paths (symlinks refused: the zip must be self-contained). */
function listFiles(dir, prefix = "") {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isSymbolicLink()) throw new BuildError(`${path.join(dir, entry.name)} is a symlink; refusing to package it.`);
    if (entry.isDirectory()) out.push(...listFiles(path.join(dir, entry.name), rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

/** sha256 over (relative path, content) pairs in sorted path order, each length-prefixed. */
function treeSha256(dir) {
  const hash = createHash("sha256");
  const files = listFiles(dir).sort();
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
  const closure = dependencyClosure(pkg.dependencies);
  const compiled = compiledSources({ compile });
  const files = new Map(); // relative path → Buffer
  try {
    for (const f of listFiles(compiled.dir).filter((f) => f.endsWith(".js"))) {
      const code = fs.readFileSync(path.join(compiled.dir, f));
      // Only relative, node: and packaged imports: anything else would be missing in the zip.
      for (const m of code.toString().matchAll(/require\("([^"]+)"\)/g)) {
        const spec = m[1];
        const ok = spec.startsWith("./") || spec.startsWith("node:") || closure.has(spec);
        if (!ok) throw new BuildError(`src/${f} requires "${spec}", which the function zip does not carry.`);
      }
      files.set(`src/${f}`, code);
    }
  } finally {
    compiled.cleanup();
  }
  if (!files.has("src/function-entry.js")) throw new BuildError("the compiled sources lack function-entry.js");
  files.set(
    "index.js",
    Buffer.from(
      `"use strict";\n// Cloud Functions (gen2) entry module. Entry point: ${ENTRY_POINT}. See README.md.\nmodule.exports = require("./src/function-entry");\n`
    )
  );
  const manifest = {
    name: pkg.name,
    version: pkg.version,
    private: true,
    description: pkg.description,
    license: pkg.license,
    main: "index.js",
    engines: pkg.engines,
    dependencies: pkg.dependencies,
  };
  files.set("package.json", Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
  const lock = {
    name: pkg.name,
    version: pkg.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: pkg.name, version: pkg.version, license: pkg.license, dependencies: pkg.dependencies, engines: pkg.engines },
      ...Object.fromEntries([...closure].map(([name, c]) => [`node_modules/${name}`, c.locked])),
    },
  };
  files.set("package-lock.json", Buffer.from(`${JSON.stringify(lock, null, 2)}\n`));
  for (const [name, c] of closure) {
    for (const rel of listFiles(c.dir)) files.set(`node_modules/${name}/${rel}`, fs.readFileSync(path.join(c.dir, rel)));
  }

  fs.rmSync(out, { recursive: true, force: true });
  for (const rel of [...files.keys()].sort()) {
    const target = path.join(out, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, files.get(rel), { mode: 0o644 });
  }
  return {
    dir: out,
    entryPoint: ENTRY_POINT,
    runtime: "nodejs22",
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
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    process.stderr.write(`attestation-verifier build: ${err instanceof BuildError ? err.message : err.stack}\n`);
    process.exit(1);
  }
}
