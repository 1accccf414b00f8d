#!/usr/bin/env node
// `npx manatee-verifier`: the attestation verifier's local server on 127.0.0.1:$PORT, as `npm run
// verifier` runs it here (scripts/verifier.js, shipped; see attestation-verifier/README.md).
require("../scripts/verifier.js");
