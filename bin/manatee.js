#!/usr/bin/env node
// Runs the compiled CLI (built by `npm ci` through the `prepare` script).
const path = require("node:path");
const fs = require("node:fs");
const compiled = path.join(__dirname, "..", "dist", "bin", "manatee.js");
if (!fs.existsSync(compiled)) {
  process.stderr.write("manatee: dist/ is missing; run `npm run build` (npm ci runs it through `prepare`).\n");
  process.exit(2);
}
const { main } = require(compiled);
main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`manatee: ${err && err.message ? err.message : String(err)}\n`); process.exitCode = 1; },
);
