/**
 * Shared pieces of the deterministic bundle builders (attestation-verifier/scripts/build.js,
 * job-service/scripts/build.js): reuse-or-compile of a package's TypeScript sources, the runtime
 * dependency closure checked against the root lockfile, the shipped package.json / package-lock.json,
 * sorted fixed-mode file writing, and the sha256 over (relative path, content) pairs in sorted order.
 *
 * Plain CommonJS with no dependencies: it ships in the npm package next to the build scripts.
 */
"use strict";
const { createHash } = require("node:crypto");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

class BuildError extends Error {}

const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Compiled .js files of `<packageDir>/src`, from the root build (`<root>/dist/<distSubdir>`) when
 * it is newer than every source, else compiled now into a temporary directory.
 *
 * - distSubdir: where tsc writes the package's src, relative to an outDir ("job-service/src")
 * - tmpPrefix: prefix of the temporary compile directory
 * - tscArgs: extra tsc arguments
 * - rejectOrphans: a root build holding output of a deleted source counts as stale
 */
function compiledSources({ packageDir, root, distSubdir, tmpPrefix, tscArgs = [], rejectOrphans = false, compile = false }) {
  const src = path.join(packageDir, "src");
  const rootDist = path.join(root, "dist", distSubdir);
  const sources = fs.readdirSync(src).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
  const fresh =
    !compile &&
    sources.every((f) => {
      const js = path.join(rootDist, f.replace(/\.ts$/, ".js"));
      return fs.existsSync(js) && fs.statSync(js).mtimeMs >= fs.statSync(path.join(src, f)).mtimeMs;
    }) &&
    (!rejectOrphans ||
      // No stale output of a deleted source.
      fs.readdirSync(rootDist).filter((f) => f.endsWith(".js")).every((f) => sources.includes(f.replace(/\.js$/, ".ts"))));
  if (fresh) return { dir: rootDist, reused: true, cleanup: () => undefined };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  const tsc = require.resolve("typescript/bin/tsc", { paths: [root] });
  try {
    execFileSync(process.execPath, [tsc, "-p", path.join(packageDir, "tsconfig.json"), "--outDir", tmp, ...tscArgs], { cwd: root, stdio: "pipe" });
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new BuildError(`TypeScript compilation failed:\n${String(err.stdout || "")}${String(err.stderr || "")}`);
  }
  return { dir: path.join(tmp, distSubdir), reused: false, cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }) };
}

/**
 * The runtime closure of `roots`, resolved in `<root>/node_modules`, each package locked in the
 * root package-lock.json at the installed version and, when pinned in `pins`, at the pinned one.
 * Sorted by name; each entry is { dir, version, locked }.
 *
 * - pinsFile: the manifest holding `pins`, for error messages
 * - optionalDependencies: follow installed optional dependencies too
 * - nestedTravel: a dependency nested under its dependent's node_modules travels with it (listFiles
 *   copies it) instead of being resolved at the root
 */
function dependencyClosure({ root, roots, pins, pinsFile, optionalDependencies = false, nestedTravel = false }) {
  const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8"));
  const closure = new Map();
  const queue = [...roots];
  while (queue.length > 0) {
    const name = queue.shift();
    if (closure.has(name)) continue;
    const dir = path.join(root, "node_modules", name);
    const manifestPath = path.join(dir, "package.json");
    if (!fs.existsSync(manifestPath)) throw new BuildError(`${name} is not installed in ${path.join(root, "node_modules")}; run npm ci at the root.`);
    const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
    const locked = lock.packages[`node_modules/${name}`];
    if (!locked) throw new BuildError(`${name} is not in the root package-lock.json.`);
    if (manifest.version !== locked.version) {
      throw new BuildError(`${name}: node_modules has ${manifest.version} but package-lock.json locks ${locked.version}; run npm ci at the root.`);
    }
    if (pins[name] !== undefined && pins[name] !== manifest.version) {
      throw new BuildError(`${name}: ${pinsFile} pins ${pins[name]} but the root installs ${manifest.version}; align the pins.`);
    }
    closure.set(name, { dir, version: manifest.version, locked });
    const optionalPeers = manifest.peerDependenciesMeta || {};
    const deps = [
      ...Object.keys(manifest.dependencies || {}),
      ...(optionalDependencies
        ? Object.keys(manifest.optionalDependencies || {}).filter(
            (d) => fs.existsSync(path.join(root, "node_modules", d)) || fs.existsSync(path.join(dir, "node_modules", d))
          )
        : []),
      ...Object.keys(manifest.peerDependencies || {}).filter((d) => !optionalPeers[d]?.optional),
    ];
    for (const dep of deps) {
      if (nestedTravel && fs.existsSync(path.join(dir, "node_modules", dep, "package.json"))) continue;
      queue.push(dep);
    }
  }
  return new Map([...closure.entries()].sort(([a], [b]) => byName(a, b)));
}

/**
 * Every file under dir, as sorted relative paths (symlinks refused: the bundle must be
 * self-contained). Directories named in `skip` are left out wherever they occur.
 */
function listFiles(dir, { skip = [] } = {}, prefix = "") {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => byName(a.name, b.name))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (skip.includes(entry.name)) continue;
    if (entry.isSymbolicLink()) throw new BuildError(`${path.join(dir, entry.name)} is a symlink; refusing to package it.`);
    if (entry.isDirectory()) out.push(...listFiles(path.join(dir, entry.name), { skip }, rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

/** sha256 over (relative path, content) pairs in sorted path order, each length-prefixed. */
function treeSha256(dir, options) {
  const hash = createHash("sha256");
  const files = listFiles(dir, options).sort(byName);
  let bytes = 0;
  for (const rel of files) {
    const content = fs.readFileSync(path.join(dir, rel));
    bytes += content.length;
    hash.update(`${rel}\0${content.length}\0`).update(content);
  }
  return { sha256: hash.digest("hex"), files: files.length, bytes };
}

/**
 * Adds the shipped package.json and package-lock.json (the closure with the root lockfile's
 * entries) and the closure's files under node_modules/ to `files` (relative path → Buffer).
 */
function addRuntimePackage(files, { pkg, dependencies, closure, listOptions }) {
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
    for (const rel of listFiles(c.dir, listOptions)) files.set(`node_modules/${name}/${rel}`, fs.readFileSync(path.join(c.dir, rel)));
  }
}

/**
 * Makes `out` hold exactly `files` (relative path → Buffer), each with mode 0644. Files already
 * there with the same bytes and mode are left alone: rewriting the job service's 5,000-file
 * closure on every synth cost seconds of disk writes. A changed file is unlinked and written
 * anew (never written through a hard link into another tree); anything else under `out` goes.
 */
function writeTree(out, files) {
  if (fs.lstatSync(out, { throwIfNoEntry: false })?.isDirectory()) {
    for (const entry of fs.readdirSync(out, { recursive: true, withFileTypes: true })) {
      const rel = path.relative(out, path.join(entry.parentPath ?? entry.path, entry.name)).split(path.sep).join("/");
      if (!entry.isDirectory() && !files.has(rel)) fs.rmSync(path.join(out, rel), { force: true });
    }
    removeEmptyDirs(out);
  } else {
    fs.rmSync(out, { recursive: true, force: true });
  }
  for (const rel of [...files.keys()].sort(byName)) {
    const target = path.join(out, rel);
    const content = files.get(rel);
    const stat = fs.lstatSync(target, { throwIfNoEntry: false });
    if (stat?.isFile() && (stat.mode & 0o777) === 0o644 && stat.size === content.length && fs.readFileSync(target).equals(content)) continue;
    if (stat) fs.rmSync(target, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content, { mode: 0o644 });
    fs.chmodSync(target, 0o644); // the umask may have narrowed the mode
  }
}

/** Removes the empty directories under dir (not dir itself). */
function removeEmptyDirs(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const sub = path.join(dir, entry.name);
    removeEmptyDirs(sub);
    if (fs.readdirSync(sub).length === 0) fs.rmdirSync(sub);
  }
}

/** Closure versions by name, as the builders report them. */
function closureVersions(closure) {
  return Object.fromEntries([...closure].map(([name, c]) => [name, c.version]));
}

/** The shared command line: [--out DIR] [--compile] [--quiet]; prints the build's summary as JSON (nothing with --quiet). */
function runCli(label, build) {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf("--out");
  try {
    const result = build({ out: outIndex >= 0 ? path.resolve(args[outIndex + 1]) : undefined, compile: args.includes("--compile") });
    if (!args.includes("--quiet")) process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    process.stderr.write(`${label} build: ${err instanceof BuildError ? err.message : err.stack}\n`);
    process.exit(1);
  }
}

module.exports = { BuildError, byName, compiledSources, dependencyClosure, listFiles, treeSha256, addRuntimePackage, writeTree, closureVersions, runCli };
