#!/usr/bin/env node
// `npm run synth`: compile (incremental), assemble the verifier and job service bundles, run the cdktf app.
// Equivalent to `npx cdktf synth` (cdktf.json runs the same app) without the CLI's start-up cost.
// CLEANROOM_CONFIG=FILE selects another clean-room config (default stacks/example.cleanroom.yaml).
const { execFileSync } = require("node:child_process");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const env = { ...process.env, CHECKPOINT_DISABLE: "1" };
// A failing step has printed its own message; end with its exit code, without this script's stack.
const run = (cmd, args) => {
  try {
    execFileSync(cmd, args, { cwd: root, stdio: "inherit", env });
  } catch (err) {
    process.exit(typeof err.status === "number" ? err.status : 1);
  }
};
const started = Date.now();

run(process.execPath, [require.resolve("typescript/bin/tsc", { paths: [root] }), "-p", "tsconfig.build.json"]);
run(process.execPath, [path.join(root, "attestation-verifier", "scripts", "build.js"), "--quiet"]);
run(process.execPath, [path.join(root, "job-service", "scripts", "build.js"), "--quiet"]);
run(process.execPath, [path.join(root, "dist", "bin", "main.js")]);
process.stderr.write(`synth finished in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
