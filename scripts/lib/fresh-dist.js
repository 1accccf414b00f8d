/**
 * Brings dist/ up to date with the TypeScript sources for the synth path, without a type check
 * (CI's `tsc --noEmit` is the type check; `npm run build` still emits declarations).
 *
 * Freshness is by content, not by time: dist/.synth-stamp.json records, per source, the sha256
 * it was compiled from and the size and mtime of the .js written for it. A source whose content,
 * or whose .js, differs from the stamp is transpiled again (ts.transpileModule, the same per-file
 * emit as `tsc` under isolatedModules, which the tests require); a changed tsconfig or TypeScript
 * version recompiles everything; a .js whose source is gone is removed. So a stale dist is never
 * run, and an unchanged tree costs one hash pass (TypeScript is not even loaded).
 *
 * Plain CommonJS, no dependencies beyond `typescript` (loaded only when something must compile).
 */
"use strict";
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const STAMP = ".synth-stamp.json";
const STAMP_VERSION = 1;

class CompileError extends Error {}

const sha256 = (data) => createHash("sha256").update(data).digest("hex");

/** The `dir/**\/*.ts` roots of tsconfig.build.json's include (the only pattern it uses). */
function includeRoots(root, buildConfig) {
  return buildConfig.include.map((pattern) => {
    const m = /^([\w./-]+)\/\*\*\/\*\.ts$/.exec(pattern);
    if (!m) throw new CompileError(`tsconfig.build.json include "${pattern}" is not of the form dir/**/*.ts; fresh-dist.js cannot follow it.`);
    return m[1];
  });
}

/** Files under root/dir (relative, "/"-separated) whose name passes `keep`; [] when dir is absent. */
function walk(root, dir, keep) {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  return fs
    .readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && keep(e.name))
    .map((e) => path.relative(root, path.join(e.parentPath ?? e.path, e.name)).split(path.sep).join("/"))
    .sort();
}

const isSource = (name) => name.endsWith(".ts") && !name.endsWith(".d.ts");
const jsOf = (rel) => rel.replace(/\.ts$/, ".js");

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

/** Writes through a temporary file and a rename: never through a hard link, never half-written. */
function replaceFile(file, content) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

/** Transpiles `sources` (relative paths) into outDir with the build config's compiler options. */
function transpile(root, sources, outDir) {
  const ts = require(require.resolve("typescript", { paths: [root] }));
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(root, "tsconfig.build.json"), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new CompileError(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    },
  });
  const problems = [];
  for (const rel of sources) {
    const fileName = path.join(root, rel);
    const { outputText, diagnostics = [] } = ts.transpileModule(fs.readFileSync(fileName, "utf8"), {
      compilerOptions: parsed.options,
      fileName,
      reportDiagnostics: true,
    });
    for (const d of diagnostics) {
      const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
      problems.push(`${rel}${where ? `:${where.line + 1}:${where.character + 1}` : ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
    }
    if (diagnostics.length === 0) replaceFile(path.join(outDir, jsOf(rel)), outputText);
  }
  if (problems.length > 0) throw new CompileError(`TypeScript could not compile:\n${problems.join("\n")}`);
}

/**
 * Makes `<root>/dist` current for every source of tsconfig.build.json. Returns what it did:
 * { transpiled, removed, seconds } (transpiled and removed are relative paths).
 */
function freshDist(root) {
  const started = process.hrtime.bigint();
  const outDir = path.join(root, "dist");
  const buildConfig = readJson(path.join(root, "tsconfig.build.json"));
  if (!buildConfig) throw new CompileError(`cannot read ${path.join(root, "tsconfig.build.json")}`);
  const dirs = includeRoots(root, buildConfig);
  // Anything that changes every file's output: the configs and the compiler.
  const configHash = sha256(
    ["tsconfig.json", "tsconfig.build.json", "node_modules/typescript/package.json"].map((f) => fs.readFileSync(path.join(root, f), "utf8")).join("\0"),
  );
  const old = readJson(path.join(outDir, STAMP));
  const stamped = old?.version === STAMP_VERSION && old.config === configHash ? old.files : {};

  const sources = dirs.flatMap((dir) => walk(root, dir, isSource));
  const files = {};
  const stale = [];
  for (const rel of sources) {
    const hash = sha256(fs.readFileSync(path.join(root, rel)));
    const out = fs.statSync(path.join(outDir, jsOf(rel)), { throwIfNoEntry: false });
    const entry = stamped[rel];
    const fresh = entry && entry.sha256 === hash && out && out.size === entry.size && out.mtimeMs === entry.mtimeMs;
    if (!fresh) stale.push(rel);
    files[rel] = { sha256: hash };
  }
  if (stale.length > 0) transpile(root, stale, outDir);

  // Output of a deleted source would still be loadable: remove it (and its declarations).
  const expected = new Set(sources.map(jsOf));
  const removed = [];
  for (const dir of dirs) {
    for (const rel of walk(outDir, dir, (name) => name.endsWith(".js"))) {
      if (expected.has(rel)) continue;
      fs.rmSync(path.join(outDir, rel), { force: true });
      fs.rmSync(path.join(outDir, rel.replace(/\.js$/, ".d.ts")), { force: true });
      removed.push(rel);
    }
  }

  let changed = stale.length > 0 || removed.length > 0 || Object.keys(stamped).length !== sources.length;
  const now = new Date();
  for (const rel of sources) {
    const js = path.join(outDir, jsOf(rel));
    // Builders that judge by time (scripts/lib/bundle.js) must see a current .js as current.
    if (fs.statSync(js).mtimeMs < fs.statSync(path.join(root, rel)).mtimeMs) {
      fs.utimesSync(js, now, now);
      changed = true;
    }
    const out = fs.statSync(js);
    Object.assign(files[rel], { size: out.size, mtimeMs: out.mtimeMs });
  }
  if (changed) replaceFile(path.join(outDir, STAMP), `${JSON.stringify({ version: STAMP_VERSION, config: configHash, files }, null, 1)}\n`);
  return { transpiled: stale, removed, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

module.exports = { freshDist, CompileError, STAMP };
