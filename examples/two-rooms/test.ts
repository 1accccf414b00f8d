// What this project expects of its synthesized stack (run after main.js).
import assert from "node:assert/strict";
import * as fs from "node:fs";

const stack = JSON.parse(fs.readFileSync("cdktf.out/stacks/hospital/cdk.tf.json", "utf8"));
const outputs = Object.keys(stack.output);

// Two distinct sets of outputs, one per room: nothing was overwritten.
const of = (room: string) => outputs.filter((o) => o.startsWith(`${room}_`)).map((o) => o.slice(room.length + 1)).sort();
assert.ok(of("cardio").includes("cluster_name") && of("cardio").includes("dataset_ecg_stage2_bucket"));
assert.ok(of("oncology").includes("cluster_name") && of("oncology").includes("dataset_biopsies_stage2_bucket"));
assert.equal(of("cardio").length + of("oncology").length, outputs.length, `unprefixed outputs: ${outputs}`);
assert.notEqual(stack.output.cardio_cluster_name.value, stack.output.oncology_cluster_name.value);
// Each room's resources use its own project's provider.
const clusters = Object.values<any>(stack.resource.google_container_cluster).map((c) => c.provider).sort();
assert.deepEqual(clusters, ["google.cardio", "google.oncology"]);
console.log("two-rooms: ok");
