#!/usr/bin/env node
/**
 * `npm run verifier`: the attestation verifier on 127.0.0.1:$PORT (default 8080).
 * Configured by VERIFIER_POLICY_FILE, VERIFIER_JWKS_URL and optional VERIFIER_SIGNING_KEY_FILE
 * (see attestation-verifier/README.md). Runs the compiled code from dist/ (`npm run build`).
 */
"use strict";
const { existsSync } = require("node:fs");
const { join, relative } = require("node:path");

const entry = join(__dirname, "..", "dist", "attestation-verifier", "src", "main.js");
if (!existsSync(entry)) {
  process.stderr.write(`attestation-verifier: ${relative(process.cwd(), entry)} is missing. Build it first: npm run build\n`);
  process.exit(2);
}
require(entry).runMain();
