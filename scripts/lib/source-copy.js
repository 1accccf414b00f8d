/**
 * A working copy of the repository, to time or test the synth path without touching this
 * checkout's dist/ and bundles: the sources copied with their timestamps, node_modules linked.
 * With `withBuilds`, dist/ is copied too and the two bundle directories (~75 MB) are hard-linked
 * file by file: their writer (scripts/lib/bundle.js writeTree) replaces a changed file instead of
 * writing into it, so the originals are never modified through a link.
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const TOP_LEVEL_SKIP = new Set(["node_modules", ".git", "dist", "cdktf.out", "bench-results", "coverage", ".gen"]);
const BUNDLES = [path.join("attestation-verifier", "build"), path.join("job-service", "build")];
const NESTED_SKIP = new Set([...BUNDLES, path.join("attestation-verifier", "node_modules")]);

/** Hard-links every file under src into dest (same tree), creating directories. */
function linkTree(src, dest) {
  fs.mkdirSync(dest, { recursive: true });
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    const from = path.join(src, entry.name);
    const to = path.join(dest, entry.name);
    if (entry.isDirectory()) linkTree(from, to);
    else if (entry.isFile()) fs.linkSync(from, to);
  }
}

/** Copies `root` into `dest` (which must not exist) and returns dest. */
function sourceCopy(root, dest, { withBuilds = false } = {}) {
  fs.cpSync(root, dest, {
    recursive: true,
    preserveTimestamps: true,
    filter: (src) => {
      const rel = path.relative(root, src);
      return rel === "" || !(TOP_LEVEL_SKIP.has(rel.split(path.sep)[0]) || NESTED_SKIP.has(rel));
    },
  });
  fs.symlinkSync(path.join(root, "node_modules"), path.join(dest, "node_modules"), "dir");
  if (withBuilds) {
    if (fs.existsSync(path.join(root, "dist"))) fs.cpSync(path.join(root, "dist"), path.join(dest, "dist"), { recursive: true, preserveTimestamps: true });
    for (const rel of BUNDLES) {
      if (fs.existsSync(path.join(root, rel))) linkTree(path.join(root, rel), path.join(dest, rel));
    }
  }
  return dest;
}

module.exports = { sourceCopy };
