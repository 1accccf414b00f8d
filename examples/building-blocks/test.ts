// What this project expects of its synthesized stacks (run after main.js).
import assert from "node:assert/strict";
import * as fs from "node:fs";

const stack = (name: string) => JSON.parse(fs.readFileSync(`cdktf.out/stacks/${name}/cdk.tf.json`, "utf8"));
const grants = (json: any, type: string) => Object.values<any>(json.resource[type] ?? {});

// Data plane: stage-2 buckets are read only by approved images' principal sets (and the job pool's approved group).
const data = stack("data");
const stage2Readers = grants(data, "google_storage_bucket_iam_member").filter((g) => g.bucket.includes("stage2") && g.role === "roles/storage.objectViewer");
assert.ok(stage2Readers.length > 0 && stage2Readers.every((g) => g.member.startsWith("principalSet://")), JSON.stringify(stage2Readers));
// The notebooks account reads stage-1 data, never stage-2.
const notebooks = grants(data, "google_storage_bucket_iam_member").filter((g) => g.member.includes("notebooks@"));
assert.ok(notebooks.length > 0 && notebooks.every((g) => !g.bucket.includes("stage2")));
// Workloads: the job service and JupyterHub run on Kubernetes, JupyterHub from a Helm release.
const workloads = stack("workloads");
assert.equal(grants(workloads, "helm_release").length, 1);
assert.ok(grants(workloads, "kubernetes_deployment_v1").length >= 1);
// Verifier: the auditors' group reads the audit bucket.
assert.ok(grants(stack("verifier"), "google_storage_bucket_iam_member").some((g) => g.member === "group:auditors@example.org"));
console.log("building-blocks: ok");
