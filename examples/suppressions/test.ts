// What this project expects of its synthesized stack (run after main.js): the guardrails run again
// on the JSON, as `manatee check` does, and see the recorded suppressions.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { checkTerraform, loadPolicyFile } from "manatee-cdktf";

const policy = loadPolicyFile("room.yaml");
const json = JSON.parse(fs.readFileSync("cdktf.out/stacks/credit/cdk.tf.json", "utf8"));
const findings = checkTerraform(json, { policy, residency: policy.residency, allowDebug: false, project: policy.project, now: new Date() });
const about = (rule: string) => findings.filter((f) => f.ruleId === rule);

// Suppressed: the bootstrap bucket's MCR-GCS5, and MCR-APV2 on loans' approver key, with their reasons.
const gcs5 = about("MCR-GCS5");
assert.equal(gcs5.length, 1);
assert.equal(gcs5[0].level, "info");
assert.match(gcs5[0].suppressed!.reason, /Org policy/);
const apv2 = about("MCR-APV2");
const loans = apv2.filter((f) => f.path?.includes("/loans/"));
const defaults = apv2.filter((f) => f.path?.includes("/defaults/"));
assert.deepEqual(loans.map((f) => f.level), ["info"]);
// Not suppressed: the same rule on the other dataset, and nothing fails.
assert.deepEqual(defaults.map((f) => f.level), ["warning"]);
assert.deepEqual(findings.filter((f) => f.level === "error"), []);
console.log("suppressions: ok");
