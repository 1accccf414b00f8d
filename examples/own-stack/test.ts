// What this project expects of its synthesized stack (run after main.js).
import assert from "node:assert/strict";
import * as fs from "node:fs";

const stack = JSON.parse(fs.readFileSync("cdktf.out/stacks/retail/cdk.tf.json", "utf8"));
const grants = Object.values<any>(stack.resource.google_storage_bucket_iam_member);

// The ETL account writes stage-1 data and holds nothing on any other bucket.
const etl = grants.filter((g) => g.member === "${google_service_account.etl.member}");
assert.deepEqual(etl.map((g) => g.role), ["roles/storage.objectCreator"]);
assert.match(etl[0].bucket, /stage1|_s1_|-s1/);
// The room keeps its own output names (one room in the stack) beside yours.
for (const name of ["cluster_name", "dataset_baskets_stage2_bucket", "verifier_url", "stage1_upload_bucket"]) {
  assert.ok(name in stack.output, `output ${name}`);
}
// Without JupyterHub the stack has no Kubernetes or Helm resource, and needs neither provider.
assert.ok(!Object.keys(stack.resource).some((t) => t.startsWith("kubernetes_") || t.startsWith("helm_")));
assert.equal(stack.provider.helm, undefined);
console.log("own-stack: ok");
