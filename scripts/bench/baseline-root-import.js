#!/usr/bin/env node
/**
 * Baseline for `npm run bench`: the cdktf app exactly as dist/bin/main.js runs it, except that
 * @cdktf/provider-google is first loaded from its package ROOT (every one of its ~1,470 resource
 * modules) — what a construct library pays when it imports providers from the root instead of
 * by deep path (`@cdktf/provider-google/lib/<resource>`). Same config, same output directory rules.
 *
 *   CLEANROOM_CONFIG=FILE CDKTF_OUTDIR=DIR node scripts/bench/baseline-root-import.js
 */
"use strict";
const path = require("node:path");

// The one difference from the real app.
require("@cdktf/provider-google");

const { defaultConfigPath, synthesize } = require(path.join(__dirname, "..", "..", "dist", "bin", "main.js"));

const config = process.env.CLEANROOM_CONFIG ? path.resolve(process.env.CLEANROOM_CONFIG) : defaultConfigPath();
synthesize(config);
