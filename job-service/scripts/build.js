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
 * (relative path, content) pair in sorted order — the same hash lib/constructs/platform/registry/index.ts tags the image with.
 *
 * The shared pieces (compile-if-stale, lockfile-checked closure, sorted writing, tree sha256)
 * live in scripts/lib/bundle.js.
 *
 * Usage: node job-service/scripts/build.js [--out DIR] [--compile] [--quiet]
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { builtinModules } = require("node:module");
const bundle = require("../../scripts/lib/bundle.js");

const { BuildError, byName } = bundle;
const PACKAGE_DIR = path.resolve(__dirname, "..");
const ROOT = path.resolve(PACKAGE_DIR, "..");
const ENTRY = "main";
// npm's .bin shims (links to CLIs): nothing at run time needs them.
const LIST = { skip: [".bin"] };

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageOf(spec) {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/** sha256 over (relative path, content) pairs in sorted path order, each length-prefixed. */
const treeSha256 = (dir) => bundle.treeSha256(dir, LIST);

function build({ out = path.join(PACKAGE_DIR, "build"), compile = false } = {}) {
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, "package.json"), "utf8"));
  const pins = pkg.dependencies || {};
  const compiled = bundle.compiledSources({
    packageDir: PACKAGE_DIR,
    root: ROOT,
    distSubdir: path.join("job-service", "src"),
    tmpPrefix: "job-service-tsc-",
    tscArgs: ["--incremental", "false"],
    rejectOrphans: true,
    compile,
  });
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
  // A dependency nested under its dependent's node_modules is copied with it; anything else must be
  // at the root, locked, and at the locked version.
  const closure = bundle.dependencyClosure({
    root: ROOT,
    roots: [...required].sort(byName),
    pins,
    pinsFile: "job-service/package.json",
    optionalDependencies: true,
    nestedTravel: true,
  });

  files.set("Dockerfile", fs.readFileSync(path.join(PACKAGE_DIR, "Dockerfile")));
  // An explicit ignore file: without one gcloud applies its defaults (and .gitignore), which could drop files.
  files.set(".gcloudignore", Buffer.from("# Upload the whole build context (job-service/scripts/build.js writes only what the image needs).\n.gcloudignore\n"));
  files.set("index.js", Buffer.from(`"use strict";\n// Container entry of the clean room's job service. See job-service/src/${ENTRY}.ts.\nrequire("./src/${ENTRY}").main();\n`));
  const dependencies = Object.fromEntries([...required].sort(byName).map((name) => [name, pins[name]]));
  bundle.addRuntimePackage(files, { pkg, dependencies, closure, listOptions: LIST });
  bundle.writeTree(out, files);
  return {
    dir: out,
    reusedDist: compiled.reused,
    dependencies: bundle.closureVersions(closure),
    ...treeSha256(out),
  };
}

module.exports = { build, treeSha256, BuildError };

if (require.main === module) bundle.runCli("job-service", build);
