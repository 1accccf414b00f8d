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
 * The shared pieces (compile-if-stale, lockfile-checked closure, sorted writing, tree sha256)
 * live in scripts/lib/bundle.js.
 *
 * Usage: node attestation-verifier/scripts/build.js [--out DIR] [--compile] [--quiet]
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const bundle = require("../../scripts/lib/bundle.js");

const { BuildError, listFiles, treeSha256 } = bundle;
const PACKAGE_DIR = path.resolve(__dirname, "..");
const ROOT = path.resolve(PACKAGE_DIR, "..");
const ENTRY_POINT = "verify";

function build({ out = path.join(PACKAGE_DIR, "build"), compile = false } = {}) {
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, "package.json"), "utf8"));
  const closure = bundle.dependencyClosure({
    root: ROOT,
    roots: Object.keys(pkg.dependencies),
    pins: pkg.dependencies,
    pinsFile: "attestation-verifier/package.json",
  });
  const compiled = bundle.compiledSources({
    packageDir: PACKAGE_DIR,
    root: ROOT,
    distSubdir: path.join("attestation-verifier", "src"),
    tmpPrefix: "verifier-tsc-",
    compile,
  });
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
  bundle.addRuntimePackage(files, { pkg, dependencies: pkg.dependencies, closure });
  bundle.writeTree(out, files);
  return {
    dir: out,
    entryPoint: ENTRY_POINT,
    runtime: "nodejs22",
    reusedDist: compiled.reused,
    dependencies: bundle.closureVersions(closure),
    ...treeSha256(out),
  };
}

module.exports = { build, treeSha256, BuildError };

if (require.main === module) bundle.runCli("attestation-verifier", build);
