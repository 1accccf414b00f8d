// What this project expects of its synthesized stacks (run after main.js).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { readInfrastructure } from "manatee-cdktf";

const stack = (name: string) => JSON.parse(fs.readFileSync(`cdktf.out/stacks/${name}/cdk.tf.json`, "utf8"));
const platform = stack("survey-study-platform");
const workloads = stack("survey-study-workloads");

// The dataset key opens only to the approved image's principal set (plus the owner's encrypt-only grant).
// The key's one authoritative IAM policy, read as the guardrails read it.
const keyGrants = readInfrastructure(platform, "acme-survey").grants.filter((g) => g.resource?.kind === "key" && g.resource.name.includes("responses"));
const decrypters = keyGrants.filter((g) => g.role === "roles/cloudkms.cryptoKeyDecrypter").map((g) => g.member);
assert.ok(decrypters.length > 0 && decrypters.every((m: string) => m.startsWith("principalSet://") || m.includes("${")), `decrypters: ${decrypters}`);
// Stage-2 data stays in the residency region.
for (const b of Object.values<any>(platform.resource.google_storage_bucket)) assert.equal(b.location.toLowerCase(), "europe-west4", b.name);
// The workloads stack runs JupyterHub from the pinned chart, with the OAuth secret by reference only.
const [hub] = Object.values<any>(workloads.resource.helm_release);
assert.equal(hub.chart, "jupyterhub");
assert.ok(!JSON.stringify(workloads).includes("client_secret\":\""), "no OAuth client secret literal in Terraform");
console.log("yaml-room: ok");
