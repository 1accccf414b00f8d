#!/usr/bin/env node
// `npm run synth`, and the app `cdktf synth` runs (cdktf.json): bring dist/ up to date with the
// sources (transpile what changed; no type check here, CI runs `tsc --noEmit`), assemble the
// verifier and job service bundles (files rewritten only when they change), then run the app in
// this process. Honours what cdktf sets: CDKTF_OUTDIR, SYNTH_HCL_OUTPUT (`--hcl`), CDKTF_LOG_LEVEL.
// CLEANROOM_CONFIG=FILE selects another clean-room config (default stacks/example.cleanroom.yaml).
// --quiet (or MANATEE_QUIET=1, or CDKTF_LOG_LEVEL=warn|error|off): print nothing but errors.
"use strict";
const startedAt = process.hrtime.bigint();
const path = require("node:path");
const { BuildError } = require("./lib/bundle");
const { freshDist, CompileError } = require("./lib/fresh-dist");

const root = path.resolve(__dirname, "..");
process.env.CHECKPOINT_DISABLE = "1";
const preamble = [];
try {
  const dist = freshDist(root);
  if (dist.transpiled.length > 0 || dist.removed.length > 0) {
    const removed = dist.removed.length > 0 ? `, removed ${dist.removed.length} without a source` : "";
    preamble.push(`dist: transpiled ${dist.transpiled.length} changed sources${removed} in ${dist.seconds.toFixed(1)} s`);
  }
  for (const pkg of ["attestation-verifier", "job-service"]) {
    const built = require(path.join(root, pkg, "scripts", "build.js")).build();
    if (!built.reusedDist) preamble.push(`${pkg}: compiled its sources afresh (dist was older)`);
  }
} catch (err) {
  // A failing step says what is wrong; no stack trace for the expected failures.
  const expected = err instanceof CompileError || err instanceof BuildError;
  process.stderr.write(`synth: ${expected ? err.message : err.stack}\n`);
  process.exit(1);
}
process.exitCode = require(path.join(root, "dist", "bin", "main.js")).main({ startedAt, preamble });
