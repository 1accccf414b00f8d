// What this project expects of its synthesized stacks (run after main.js).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { readInfrastructure } from "manatee-cdktf";

const stack = (name: string) => JSON.parse(fs.readFileSync(`cdktf.out/stacks/${name}/cdk.tf.json`, "utf8"));
const grants = (json: any, type: string) => Object.values<any>(json.resource[type] ?? {});
// Every grant a stack makes, additive members and authoritative policies alike, as the guardrails read them.
// Stage-2 buckets are named <project>-<room>-<dataset>-s2.
const isStage2 = (name: string) => name.endsWith("-s2");
const bucketGrants = (json: any) => readInfrastructure(json, "acme-genomics").grants.filter((g) => g.resource?.kind === "bucket");

// Data plane: stage-2 buckets are read only by approved images' principal sets (and the job pool's approved group).
const data = stack("data");
const stage2Readers = bucketGrants(data).filter((g) => isStage2(g.resource!.name) && g.role === "roles/storage.objectViewer");
assert.ok(stage2Readers.length > 0 && stage2Readers.every((g) => g.member.startsWith("principalSet://")), JSON.stringify(stage2Readers));
// The notebooks account reads stage-1 data, never stage-2.
const notebooks = bucketGrants(data).filter((g) => g.member.includes("notebooks@"));
assert.ok(notebooks.length > 0 && notebooks.every((g) => !isStage2(g.resource!.name)), JSON.stringify(notebooks));
// Workloads: the job service and JupyterHub run on Kubernetes, JupyterHub from a Helm release.
const workloads = stack("workloads");
assert.equal(grants(workloads, "helm_release").length, 1);
assert.ok(grants(workloads, "kubernetes_deployment_v1").length >= 1);
// Verifier: the auditors' group reads the audit bucket.
assert.ok(bucketGrants(stack("verifier")).some((g) => g.member === "group:auditors@example.org"));
console.log("building-blocks: ok");
