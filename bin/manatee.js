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
// `manatee report … | head`: a closed pipe ends the command quietly, not with an EPIPE crash.
require(path.join(__dirname, "..", "dist", "lib", "cli", "exit.js")).exitQuietlyOnClosedPipe(process.stdout);
// main() turns every failure into one message and a documented exit code (see --help).
main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then((code) => { process.exitCode = code; });
