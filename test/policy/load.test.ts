import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parsePolicy, loadPolicyFile } from "../../lib/policy/load";
import { normalizePolicy } from "../../lib/policy/model";
import { MAX_LISTED_ISSUES, PolicyError, assertValidPolicy, validatePolicy, validatePolicyInput } from "../../lib/policy/validate";
import { EXAMPLE_DIGEST_A, examplePolicy, shippedExamplePolicy } from "../util";

const FIXTURES = join(__dirname, "..", "fixtures", "policies");
const fixture = (name: string) => join(FIXTURES, name);

/** A valid room: 7 lines, so appended lines start at line 8. */
const BASE = `name: insurance-study
project: acme-clean-room
region: us-central1
zone: us-central1-a
datasets:
  insurance:
    stage1: { kind: dp-synthetic, mechanism: mst, epsilon: 1.0 }
`;

/** BASE with one line replaced (line numbers stay put). */
function edit(line: string, replacement: string): string {
  if (!BASE.includes(line)) throw new Error(`BASE has no line ${line}`);
  return BASE.replace(line, replacement);
}

/** The messages of the PolicyError that parsing `text` throws. */
function errorsOf(text: string, file = "room.yaml"): string[] {
  try {
    parsePolicy(text, file);
  } catch (err) {
    if (err instanceof PolicyError) return err.issues.map((i) => i.message);
    throw err;
  }
  throw new Error("expected a PolicyError, but the policy loaded");
}

const ROOM_NAME_RULE = "a clean room name: 3-20 lowercase letters, digits or '-', starting with a letter and not ending with '-'";
const PRINCIPAL_RULE = "an IAM principal: user:<email>, group:<email>, serviceAccount:<email> or domain:<domain>";

describe("loading a clean-room policy from YAML", () => {
  test("given the example config, when loaded, then it equals the same policy built in TypeScript", () => {
    expect(loadPolicyFile("stacks/example.cleanroom.yaml")).toEqual(shippedExamplePolicy());
  });

  test("given only the required fields, when loaded, then every default is the one normalizePolicy applies", () => {
    const policy = loadPolicyFile(fixture("minimal.cleanroom.yaml"));
    expect(policy).toEqual(
      normalizePolicy({
        name: "minimal-room",
        project: "acme-clean-room",
        region: "europe-west4",
        zone: "europe-west4-b",
        datasets: { patients: { stage1: { kind: "none" } } },
      }),
    );
    expect(policy.residency).toEqual(["europe-west4"]);
    expect(policy.tee).toEqual({ hardware: ["GCP_INTEL_TDX"], machineType: "c3-standard-8", allowDebug: false });
    expect(policy.datasets[0]).toMatchObject({ retentionDays: 30, access: "direct", owners: [] });
  });

  test("given an SEV debug room with a past expiry, when loaded, then it loads (expiry is the guardrails' business) with SEV defaults", () => {
    const policy = loadPolicyFile(fixture("sev-debug.cleanroom.yaml"));
    expect(policy.tee).toEqual({ hardware: ["GCP_AMD_SEV", "GCP_AMD_SEV_ES"], machineType: "n2d-standard-4", allowDebug: true });
    expect(policy.approvals[0].expires).toBe("2020-02-29");
    expect(policy.datasets[0].stage1).toEqual({ kind: "dp-synthetic", mechanism: "aim", epsilon: 0.5, delta: 0.00001 });
    expect(policy.backend).toEqual({ bucket: "acme-tf-state", prefix: "manatee/sev-sandbox" });
  });

  test("given the policy written as JSON, when parsed, then it loads like YAML", () => {
    const json = JSON.stringify({
      name: "json-room",
      project: "acme-clean-room",
      region: "us-central1",
      zone: "us-central1-f",
      datasets: { sales: { stage1: { kind: "sample", fraction: 0.1 } } },
    });
    expect(parsePolicy(json, "room.json").datasets[0].stage1).toEqual({ kind: "sample", fraction: 0.1 });
  });
});

describe("every loader rule rejects bad input with a located message", () => {
  // [rule, document, exact messages]
  const cases: [string, string, string[]][] = [
    ["name: uppercase and '_'", edit("name: insurance-study", "name: Insurance_Study"), [
      `room.yaml:1:7: name: expected ${ROOM_NAME_RULE}, found the string "Insurance_Study"`,
    ]],
    ["name: must not end with '-'", edit("name: insurance-study", "name: insurance-"), [
      `room.yaml:1:7: name: expected ${ROOM_NAME_RULE}, found the string "insurance-"`,
    ]],
    ["name: at most 20 characters", edit("name: insurance-study", "name: insurance-study-2027a"), [
      `room.yaml:1:7: name: expected ${ROOM_NAME_RULE}, found the string "insurance-study-2027a"`,
    ]],
    ["name: required", edit("name: insurance-study\n", ""), [
      `room.yaml:1:1: name: expected ${ROOM_NAME_RULE}, found nothing (the field is missing)`,
    ]],
    ["name: a number is not a name", edit("name: insurance-study", "name: 42"), [
      `room.yaml:1:7: name: expected ${ROOM_NAME_RULE}, found 42`,
    ]],
    ["project: a GCP project id", edit("project: acme-clean-room", "project: acme"), [
      `room.yaml:2:10: project: expected a Google Cloud project ID: 6-30 lowercase letters, digits or '-', starting with a letter and not ending with '-', found the string "acme"`,
    ]],
    ["project: an empty value", edit("project: acme-clean-room", "project:"), [
      `room.yaml:2:9: project: expected a Google Cloud project ID: 6-30 lowercase letters, digits or '-', starting with a letter and not ending with '-', found an empty value`,
    ]],
    ["region: a region name", edit("region: us-central1", "region: US-Central1"), [
      `room.yaml:3:9: region: expected a Google Cloud region such as "us-central1", found the string "US-Central1"`,
    ]],
    ["zone: must lie in region", edit("zone: us-central1-a", "zone: us-east1-b"), [
      `room.yaml:4:7: zone: expected a zone of region "us-central1", such as "us-central1-a", found the string "us-east1-b"`,
    ]],
    ["zone: a zone, not a region", edit("zone: us-central1-a", "zone: us-central1"), [
      `room.yaml:4:7: zone: expected a Google Cloud zone such as "us-central1-a", found the string "us-central1"`,
    ]],
    ["residency: must contain region", `${BASE}residency: [europe-west4]\n`, [
      `room.yaml:8:12: residency: expected a list that includes the clean room's region "us-central1" (every data location must lie in it), found [europe-west4]`,
    ]],
    ["residency: not empty", `${BASE}residency: []\n`, [
      `room.yaml:8:12: residency: expected a non-empty list of regions, found an empty list`,
    ]],
    ["residency: regions only, once each", `${BASE}residency: [us-central1, us-central1, us]\n`, [
      `room.yaml:8:26: residency[1]: duplicate entry the string "us-central1", already at residency[0]; list each entry once`,
      `room.yaml:8:39: residency[2]: expected a Google Cloud region such as "us-central1", found the string "us"`,
    ]],
    ["tee.hardware: known models, typo suggested", `${BASE}tee: { hardware: [GCP_INTEL_TXD] }\n`, [
      `room.yaml:8:19: tee.hardware[0]: expected one of GCP_AMD_SEV, GCP_AMD_SEV_ES, GCP_INTEL_TDX, found the string "GCP_INTEL_TXD"; did you mean "GCP_INTEL_TDX"?`,
    ]],
    ["tee.hardware: the ITA literal is not Google's", `${BASE}tee: { hardware: [INTEL_TDX] }\n`, [
      `room.yaml:8:19: tee.hardware[0]: expected one of GCP_AMD_SEV, GCP_AMD_SEV_ES, GCP_INTEL_TDX, found the string "INTEL_TDX"; INTEL_TDX is what Intel Trust Authority tokens carry; Google's attestation says "GCP_INTEL_TDX"`,
    ]],
    ["tee.hardware: not empty", `${BASE}tee: { hardware: [] }\n`, [
      `room.yaml:8:18: tee.hardware: expected a non-empty list of GCP_AMD_SEV, GCP_AMD_SEV_ES, GCP_INTEL_TDX, found an empty list`,
    ]],
    ["tee.hardware: unique", `${BASE}tee: { hardware: [GCP_AMD_SEV, GCP_AMD_SEV] }\n`, [
      `room.yaml:8:32: tee.hardware[1]: duplicate entry the string "GCP_AMD_SEV", already at tee.hardware[0]; list each entry once`,
    ]],
    ["tee.machineType: c3 needs TDX allowed", `${BASE}tee: { hardware: [GCP_AMD_SEV], machineType: c3-standard-8 }\n`, [
      `room.yaml:8:46: tee.machineType: expected an AMD SEV machine type (n2d-*, c2d-*, c3d-*) for tee.hardware [GCP_AMD_SEV], found the string "c3-standard-8", which runs Intel TDX; add GCP_INTEL_TDX to tee.hardware or pick an AMD machine type`,
    ]],
    ["tee.machineType: n2d needs an AMD model allowed", `${BASE}tee: { machineType: n2d-standard-4 }\n`, [
      `room.yaml:8:21: tee.machineType: expected an Intel TDX machine type (c3-*, a3-*) for tee.hardware [GCP_INTEL_TDX], found the string "n2d-standard-4", which runs AMD SEV; add GCP_AMD_SEV to tee.hardware or pick a c3-* machine type`,
    ]],
    ["tee.machineType: a Confidential Space family", `${BASE}tee: { machineType: e2-standard-4 }\n`, [
      `room.yaml:8:21: tee.machineType: expected a Confidential Space machine type: c3-* or a3-* (Intel TDX), n2d-*, c2d-* or c3d-* (AMD SEV), found the string "e2-standard-4"`,
    ]],
    ["tee.allowDebug: a boolean, not YAML 1.1 'yes'", `${BASE}tee: { allowDebug: yes }\n`, [
      `room.yaml:8:20: tee.allowDebug: expected true or false (true only for non-production rooms), found the string "yes"`,
    ]],
    ["verifier.audience: https only", `${BASE}verifier: { audience: "http://verifier.example.org" }\n`, [
      `room.yaml:8:23: verifier.audience: expected an https:// URL of at most 512 bytes (Confidential Space's custom audience limit), found the string "http://verifier.example.org"`,
    ]],
    ["verifier.audience: never the STS audience", `${BASE}verifier: { audience: "https://sts.googleapis.com" }\n`, [
      `room.yaml:8:23: verifier.audience: expected your verifier's own audience, not https://sts.googleapis.com (reserved for the default token Google STS accepts; a verifier accepting it would accept replayed STS tokens), found the string "https://sts.googleapis.com"`,
    ]],
    ["verifier.audience: at most 512 bytes", `${BASE}verifier: { audience: "https://v.example.org/${"é".repeat(250)}" }\n`, [
      `room.yaml:8:23: verifier.audience: expected an https:// URL of at most 512 bytes (Confidential Space's custom audience limit), found a string of 522 bytes`,
    ]],
    ["datasets: at least one", edit("datasets:\n  insurance:\n    stage1: { kind: dp-synthetic, mechanism: mst, epsilon: 1.0 }\n", "datasets: {}\n"), [
      `room.yaml:5:11: datasets: expected a map of at least one dataset name to its settings, found an empty map`,
    ]],
    ["datasets: a map, not a list", edit("datasets:\n  insurance:\n    stage1: { kind: dp-synthetic, mechanism: mst, epsilon: 1.0 }\n", "datasets: [insurance]\n"), [
      `room.yaml:5:11: datasets: expected a map of at least one dataset name to its settings, found a list`,
    ]],
    ["dataset name: lowercase, located at the key", edit("  insurance:", "  Insurance:"), [
      `room.yaml:6:3: datasets.Insurance: expected a dataset name: up to 30 lowercase letters, digits or '-', starting with a letter and not ending with '-', found the string "Insurance"`,
    ]],
    ["dataset name: at most 30 characters", edit("  insurance:", `  ${"i".repeat(31)}:`), [
      `room.yaml:6:3: datasets.${"i".repeat(31)}: expected a dataset name: up to 30 lowercase letters, digits or '-', starting with a letter and not ending with '-', found the string "${"i".repeat(31)}"`,
    ]],
    ["retentionDays: at least 1", `${BASE}    retentionDays: 0\n`, [
      `room.yaml:8:20: datasets.insurance.retentionDays: expected a whole number of days from 1 to 3650, found 0`,
    ]],
    ["retentionDays: at most ten years", `${BASE}    retentionDays: 3651\n`, [
      `room.yaml:8:20: datasets.insurance.retentionDays: expected a whole number of days from 1 to 3650, found 3651`,
    ]],
    ["retentionDays: whole days", `${BASE}    retentionDays: 30.5\n`, [
      `room.yaml:8:20: datasets.insurance.retentionDays: expected a whole number of days from 1 to 3650, found 30.5`,
    ]],
    ["retentionDays: a number, not a string", `${BASE}    retentionDays: "30"\n`, [
      `room.yaml:8:20: datasets.insurance.retentionDays: expected a whole number of days from 1 to 3650, found the string "30"`,
    ]],
    ["unknown dataset field, with the closest known key", `${BASE}    retentionDay: 30\n`, [
      `room.yaml:8:5: datasets.insurance.retentionDay: unknown field; expected one of retentionDays, stage1, access, owners, approverKey, budget, provisioning; did you mean "retentionDays"?`,
    ]],
    ["unknown field far from any known key: no guess", `${BASE}    colour: red\n`, [
      `room.yaml:8:5: datasets.insurance.colour: unknown field; expected one of retentionDays, stage1, access, owners, approverKey, budget, provisioning`,
    ]],
    ["unknown top-level field", `${BASE}researcher: [group:researchers@example.org]\n`, [
      `room.yaml:8:1: researcher: unknown field; expected one of name, project, region, zone, residency, tee, verifier, datasets, approvals, researchers, backend, jupyterhub, cluster, database, jobs, vpcServiceControls, locations, parties, operators, audit; did you mean "researchers"?`,
    ]],
    ["unknown tee field, snake_case of a known one", `${BASE}tee: { allow_debug: true }\n`, [
      `room.yaml:8:8: tee.allow_debug: unknown field; expected one of hardware, machineType, allowDebug, gpu; did you mean "allowDebug"?`,
    ]],
    ["stage1: required", edit("    stage1: { kind: dp-synthetic, mechanism: mst, epsilon: 1.0 }", "    retentionDays: 30"), [
      `room.yaml:7:5: datasets.insurance.stage1: expected the stage-1 settings: { kind: dp-synthetic | sample | none, ... }, found nothing (the field is missing)`,
    ]],
    ["stage1.kind: required", edit("{ kind: dp-synthetic, mechanism: mst, epsilon: 1.0 }", "{ mechanism: mst }"), [
      `room.yaml:7:13: datasets.insurance.stage1.kind: expected one of dp-synthetic, sample, none, found nothing (the field is missing)`,
    ]],
    ["stage1.kind: known kinds, typo suggested", edit("kind: dp-synthetic", "kind: dp-synth"), [
      `room.yaml:7:21: datasets.insurance.stage1.kind: expected one of dp-synthetic, sample, none, found the string "dp-synth"; did you mean "dp-synthetic"?`,
    ]],
    ["dp-synthetic: epsilon > 0", edit("epsilon: 1.0", "epsilon: -1"), [
      `room.yaml:7:60: datasets.insurance.stage1.epsilon: expected a number > 0, found -1`,
    ]],
    ["dp-synthetic: epsilon and mechanism required", edit("{ kind: dp-synthetic, mechanism: mst, epsilon: 1.0 }", "{ kind: dp-synthetic }"), [
      `room.yaml:7:13: datasets.insurance.stage1.mechanism: expected a DP mechanism name such as "mst" or "aim", found nothing (the field is missing)`,
      `room.yaml:7:13: datasets.insurance.stage1.epsilon: expected a number > 0, found nothing (the field is missing)`,
    ]],
    ["dp-synthetic: mechanism not blank", edit("mechanism: mst", 'mechanism: " "'), [
      `room.yaml:7:46: datasets.insurance.stage1.mechanism: expected a DP mechanism name such as "mst" or "aim", found the string " "`,
    ]],
    ["dp-synthetic: 0 <= delta < 1", edit("epsilon: 1.0 }", "epsilon: 1.0, delta: 1 }"), [
      `room.yaml:7:72: datasets.insurance.stage1.delta: expected a number >= 0 and < 1, found 1`,
    ]],
    ["sample: 0 < fraction <= 1", edit("{ kind: dp-synthetic, mechanism: mst, epsilon: 1.0 }", "{ kind: sample, fraction: 1.5 }"), [
      `room.yaml:7:39: datasets.insurance.stage1.fraction: expected a number > 0 and <= 1, found 1.5`,
    ]],
    ["sample: fraction 0 keeps nothing", edit("{ kind: dp-synthetic, mechanism: mst, epsilon: 1.0 }", "{ kind: sample, fraction: 0 }"), [
      `room.yaml:7:39: datasets.insurance.stage1.fraction: expected a number > 0 and <= 1, found 0`,
    ]],
    ["parameters of another kind are errors", edit("{ kind: dp-synthetic, mechanism: mst, epsilon: 1.0 }", "{ kind: sample, fraction: 0.1, epsilon: 1 }"), [
      `room.yaml:7:44: datasets.insurance.stage1.epsilon: not a parameter of stage1 kind sample; expected one of kind, fraction`,
    ]],
    ["kind none takes no parameters", edit("{ kind: dp-synthetic, mechanism: mst, epsilon: 1.0 }", "{ kind: none, mechanism: mst }"), [
      `room.yaml:7:27: datasets.insurance.stage1.mechanism: not a parameter of stage1 kind none; expected one of kind`,
    ]],
    ["access: direct or impersonation", `${BASE}    access: Direct\n`, [
      `room.yaml:8:13: datasets.insurance.access: expected one of direct, impersonation, found the string "Direct"; did you mean "direct"?`,
    ]],
    ["owners: never public", `${BASE}    owners: [allUsers]\n`, [
      `room.yaml:8:14: datasets.insurance.owners[0]: expected ${PRINCIPAL_RULE}, found the string "allUsers": a clean room never grants public access`,
    ]],
    ["owners: a principal, not a bare e-mail", `${BASE}    owners: [owner@example.org]\n`, [
      `room.yaml:8:14: datasets.insurance.owners[0]: expected ${PRINCIPAL_RULE}, found the string "owner@example.org"`,
    ]],
    ["researchers: never public", `${BASE}researchers: [allAuthenticatedUsers]\n`, [
      `room.yaml:8:15: researchers[0]: expected ${PRINCIPAL_RULE}, found the string "allAuthenticatedUsers": a clean room never grants public access`,
    ]],
    ["researchers: each once (duplicates would be duplicate IAM grants)", `${BASE}researchers: [user:a@example.org, user:a@example.org]\n`, [
      `room.yaml:8:35: researchers[1]: duplicate entry the string "user:a@example.org", already at researchers[0]; list each entry once`,
    ]],
    ["researchers: a list, not one string", `${BASE}researchers: group:researchers@example.org\n`, [
      `room.yaml:8:14: researchers: expected a list of IAM principals (user:<email>, group:<email>, serviceAccount:<email> or domain:<domain>), found the string "group:researchers@example.org"`,
    ]],
    ["approvals: every required field", `${BASE}approvals:\n  - expires: 2027-01-31\n`, [
      `room.yaml:9:5: approvals[0].imageDigest: expected an image digest: "sha256:" followed by 64 lowercase hex digits, found nothing (the field is missing)`,
      `room.yaml:9:5: approvals[0].datasets: expected a non-empty list of declared dataset names, found nothing (the field is missing)`,
      `room.yaml:9:5: approvals[0].purpose: expected a non-empty description of what the image computes, found nothing (the field is missing)`,
      `room.yaml:9:5: approvals[0].approvedBy: expected the approver's e-mail address, found nothing (the field is missing)`,
    ]],
    ["approvals: each field checked", `${BASE}approvals:
  - imageDigest: sha256:${"A".repeat(64)}
    datasets: [insurence, insurance, insurance]
    purpose: "  "
    approvedBy: owner
    expires: 2027-02-30
    expiry: 2027-01-31
`, [
      `room.yaml:9:18: approvals[0].imageDigest: expected an image digest: "sha256:" followed by 64 lowercase hex digits, found the string "sha256:${"A".repeat(64)}"`,
      `room.yaml:10:16: approvals[0].datasets[0]: expected a declared dataset (one of insurance), found the string "insurence"; did you mean "insurance"?`,
      `room.yaml:10:38: approvals[0].datasets[2]: duplicate entry the string "insurance", already at approvals[0].datasets[1]; list each entry once`,
      `room.yaml:11:14: approvals[0].purpose: expected a non-empty description of what the image computes, found the string "  "`,
      `room.yaml:12:17: approvals[0].approvedBy: expected the approver's e-mail address, found the string "owner"`,
      `room.yaml:13:14: approvals[0].expires: expected an ISO date YYYY-MM-DD that exists in the calendar, found the string "2027-02-30"`,
      `room.yaml:14:5: approvals[0].expiry: unknown field; expected one of imageDigest, datasets, purpose, approvedBy, expires, spend, gpu, allowedEnv; did you mean "expires"?`,
    ]],
    ["approvals: datasets not empty", `${BASE}approvals:
  - imageDigest: ${EXAMPLE_DIGEST_A}
    datasets: []
    purpose: p
    approvedBy: owner@example.org
`, [
      `room.yaml:10:15: approvals[0].datasets: expected a non-empty list of declared dataset names, found an empty list`,
    ]],
    ["backend: bucket required, prefix relative", `${BASE}backend: { prefix: /state/ }\n`, [
      `room.yaml:8:10: backend.bucket: expected a Cloud Storage bucket name: 3-63 lowercase letters, digits, '-' or '_', found nothing (the field is missing)`,
      `room.yaml:8:20: backend.prefix: expected a path inside the bucket such as "manatee/insurance-study" (no leading or trailing '/'), found the string "/state/"`,
    ]],
    ["approverKey: the fingerprint as the CLI prints it, with the fix for a colon-separated dump", `${BASE}    approverKey: { fingerprint: "${"AB:".repeat(31)}AB" }\n`, [
      `room.yaml:8:33: datasets.insurance.approverKey.fingerprint: expected 64 lowercase hex digits: the SHA-256 of the approver key's DER public key, as \`manatee jobs approver-key --dataset <dataset>\` prints it, found the string "${"AB:".repeat(25)}AB..."; write it as "${"ab".repeat(32)}"`,
    ]],
    ["approverKey: fingerprint required, unknown keys refused", `${BASE}    approverKey: { fingerprnt: x }\n`, [
      `room.yaml:8:18: datasets.insurance.approverKey.fingerprint: expected 64 lowercase hex digits: the SHA-256 of the approver key's DER public key, as \`manatee jobs approver-key --dataset <dataset>\` prints it, found nothing (the field is missing)`,
      `room.yaml:8:20: datasets.insurance.approverKey.fingerprnt: unknown field; expected one of fingerprint; did you mean "fingerprint"?`,
    ]],
    ["jobs: each field checked", `${BASE}jobs:
  executorBases: [sha256:${"a".repeat(64)}, latest]
  executorBase: us-docker.pkg.dev/p/r/base@sha256:${"c".repeat(64)}
  maxJobsInProgressPerResearcher: 0
  timeoutMinutes: 5
  allowEnvOverrides: [seed, SEED]
  maxWorkspaceMiB: 1.5
  timeout: 60
`, [
      `room.yaml:9:92: jobs.executorBases[1]: expected an image digest: "sha256:" followed by 64 lowercase hex digits, found the string "latest"`,
      `room.yaml:11:35: jobs.maxJobsInProgressPerResearcher: expected a whole number from 1 to 100, found 0`,
      `room.yaml:12:19: jobs.timeoutMinutes: expected a whole number of minutes from 10 to 1440 (a day), found 5`,
      `room.yaml:13:23: jobs.allowEnvOverrides[0]: expected an environment variable name: uppercase letters, digits and '_', not starting with a digit, found the string "seed"`,
      `room.yaml:14:20: jobs.maxWorkspaceMiB: expected a whole number of MiB from 1 to 4096, found 1.5`,
      `room.yaml:15:3: jobs.timeout: unknown field; expected one of executorBases, executorBase, maxJobsInProgressPerResearcher, timeoutMinutes, allowEnvOverrides, maxWorkspaceMiB; did you mean "timeoutMinutes"?`,
    ]],
    ["jobs: the executor base is an approved base", `${BASE}jobs:
  executorBases: [sha256:${"a".repeat(64)}]
  executorBase: us-docker.pkg.dev/p/r/base@sha256:${"c".repeat(64)}
`, [
      `room.yaml:10:17: jobs.executorBase: the digest sha256:${"c".repeat(64)} of jobs.executorBase is not in jobs.executorBases, so no job built from it could be approved; add "sha256:${"c".repeat(64)}" to jobs.executorBases or pin executorBase to an approved base`,
    ]],
    ["jobs: the executor base pinned by digest", `${BASE}jobs: { executorBase: "us-docker.pkg.dev/p/r/base:latest" }\n`, [
      `room.yaml:8:23: jobs.executorBase: expected a pull reference pinned by digest, such as "us-central1-docker.pkg.dev/p/repo/executor@sha256:<64 hex>", found the string "us-docker.pkg.dev/p/r/base:latest"`,
    ]],
    ["the document must be a map", "- name: insurance-study\n", [
      `room.yaml:1:1: expected a map of clean room settings (name, project, region, zone, datasets, ...), found a list`,
    ]],
    ["the document must not be empty", "# nothing here\n", [
      `room.yaml:1:1: expected a map of clean room settings (name, project, region, zone, datasets, ...), found an empty document`,
    ]],
  ];

  test.each(cases)("%s", (_rule, text, messages) => {
    expect(errorsOf(text)).toEqual(messages);
  });

  test("given a valid BASE, when parsed, then the table's starting point is itself valid", () => {
    expect(parsePolicy(BASE, "room.yaml").name).toBe("insurance-study");
  });
});

describe("several problems, syntax errors and duplicate keys", () => {
  test("given a file with eight problems, when loaded, then all eight are reported at once, top to bottom", () => {
    const file = fixture("many-errors.cleanroom.yaml");
    let error: PolicyError | undefined;
    try {
      loadPolicyFile(file);
    } catch (err) {
      error = err as PolicyError;
    }
    expect(error).toBeInstanceOf(PolicyError);
    const at = (line: number, col: number) => `${file}:${line}:${col}`;
    expect(error!.issues.map((i) => i.message)).toEqual([
      `${at(1, 7)}: name: expected ${ROOM_NAME_RULE}, found the string "Insurance_Study"`,
      `${at(4, 7)}: zone: expected a zone of region "us-central1", such as "us-central1-a", found the string "us-east1-b"`,
      `${at(7, 15)}: tee.allowDebug: expected true or false (true only for non-production rooms), found the string "yes"`,
      `${at(10, 5)}: datasets.insurance.retentionDay: unknown field; expected one of retentionDays, stage1, access, owners, approverKey, budget, provisioning; did you mean "retentionDays"?`,
      `${at(11, 60)}: datasets.insurance.stage1.epsilon: expected a number > 0, found -1`,
      `${at(14, 27)}: approvals[0].datasets[1]: expected a declared dataset (one of insurance), found the string "claims"`,
      `${at(17, 14)}: approvals[0].expires: expected an ISO date YYYY-MM-DD that exists in the calendar, found the string "2027-02-30"`,
      `${at(18, 15)}: researchers[0]: expected ${PRINCIPAL_RULE}, found the string "allUsers": a clean room never grants public access`,
    ]);
    // The error's message lists them all, one per line; each issue carries its parts.
    expect(error!.message.split("\n")).toHaveLength(8);
    expect(error!.issues[4]).toEqual({
      file,
      line: 11,
      column: 60,
      path: "datasets.insurance.stage1.epsilon",
      expected: "a number > 0",
      found: "-1",
      message: `${at(11, 60)}: datasets.insurance.stage1.epsilon: expected a number > 0, found -1`,
    });
  });

  test("given an unclosed flow map, when loaded, then the YAML syntax error is located and nothing else is guessed", () => {
    const file = fixture("syntax-error.cleanroom.yaml");
    expect(() => loadPolicyFile(file)).toThrow(PolicyError);
    try {
      loadPolicyFile(file);
    } catch (err) {
      const issues = (err as PolicyError).issues;
      expect(issues.map((i) => i.message)).toEqual([
        `${file}:8:1: YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }`,
      ]);
      expect(issues[0]).toMatchObject({ line: 8, column: 1, expected: "valid YAML" });
    }
  });

  test("given a key set twice, when loaded, then the second one is reported with the first one's line", () => {
    const file = fixture("duplicate-key.cleanroom.yaml");
    expect(() => loadPolicyFile(file)).toThrow(
      `${file}:9:5: datasets.insurance.retentionDays: duplicate key (first set on line 8); each field may appear only once, remove one of them`,
    );
  });

  test("given a duplicate key and a rule violation, when loaded, then both are reported in line order", () => {
    const text = `${edit("zone: us-central1-a", "zone: us-east1-b")}    retentionDays: 3\n    retentionDays: 4\n`;
    expect(errorsOf(text)).toEqual([
      'room.yaml:4:7: zone: expected a zone of region "us-central1", such as "us-central1-a", found the string "us-east1-b"',
      "room.yaml:9:5: datasets.insurance.retentionDays: duplicate key (first set on line 8); each field may appear only once, remove one of them",
    ]);
  });

  test("given a missing file, when loaded, then the file system error names the path", () => {
    expect(() => loadPolicyFile(fixture("no-such.cleanroom.yaml"))).toThrow(/ENOENT.*no-such\.cleanroom\.yaml/);
  });
});

describe("one mistake repeated many times", () => {
  /** BASE with `n` approvals, each naming a dataset that does not exist. */
  const approvals = (n: number) =>
    `${BASE}approvals:\n${Array.from({ length: n }, (_, i) => `  - { imageDigest: "sha256:${i.toString(16).padStart(64, "0")}", datasets: [claims], purpose: job ${i}, approvedBy: a@example.org }`).join("\n")}\n`;
  const thrown = (text: string): PolicyError => {
    try {
      parsePolicy(text, "room.yaml");
    } catch (err) {
      return err as PolicyError;
    }
    throw new Error("expected a PolicyError, but the policy loaded");
  };

  test("given 2,000 approvals with the same mistake, when loaded, then the message lists the first 20 and a count, and issues keeps all", () => {
    const error = thrown(approvals(2000));
    expect(error).toBeInstanceOf(PolicyError);
    expect(error.issues).toHaveLength(2000);
    const lines = error.message.split("\n");
    expect(lines).toHaveLength(MAX_LISTED_ISSUES + 1);
    expect(lines.slice(0, MAX_LISTED_ISSUES)).toEqual(error.issues.slice(0, MAX_LISTED_ISSUES).map((i) => i.message));
    expect(lines[0]).toBe('room.yaml:9:106: approvals[0].datasets[0]: expected a declared dataset (one of insurance), found the string "claims"');
    expect(lines[MAX_LISTED_ISSUES]).toBe("… and 1980 more");
  });

  test("given exactly 20 issues, when loaded, then all 20 are listed and no count is added", () => {
    const error = thrown(approvals(MAX_LISTED_ISSUES));
    expect(error.message.split("\n")).toEqual(error.issues.map((i) => i.message));
    expect(error.issues).toHaveLength(20);
  });
});

describe("TypeScript-built policies go through the same rules", () => {
  test("given the example policy built in TypeScript, when validated, then there is no issue", () => {
    expect(validatePolicy(examplePolicy())).toEqual([]);
    expect(() => assertValidPolicy(examplePolicy())).not.toThrow();
  });

  test("given a zone outside the region, when asserted, then the message is the YAML one without a location", () => {
    expect(() => assertValidPolicy(examplePolicy({ zone: "us-east1-b" }))).toThrow(
      new PolicyError([
        {
          path: "zone",
          expected: 'a zone of region "us-central1", such as "us-central1-a"',
          found: 'the string "us-east1-b"',
          message: 'zone: expected a zone of region "us-central1", such as "us-central1-a", found the string "us-east1-b"',
        },
      ]),
    );
  });

  test("given several problems, when asserted, then every one is listed in rule order", () => {
    const policy = examplePolicy({
      tee: { hardware: ["GCP_AMD_SEV"], machineType: "c3-standard-8" },
      researchers: ["allUsers"],
      datasets: { x: { stage1: { kind: "sample", fraction: 0.1, epsilon: 2 } } },
      approvals: [],
    });
    expect(validatePolicy(policy).map((i) => i.message)).toEqual([
      'tee.machineType: expected an AMD SEV machine type (n2d-*, c2d-*, c3d-*) for tee.hardware [GCP_AMD_SEV], found the string "c3-standard-8", which runs Intel TDX; add GCP_INTEL_TDX to tee.hardware or pick an AMD machine type',
      "datasets.x.stage1.epsilon: not a parameter of stage1 kind sample; expected one of kind, fraction",
      `researchers[0]: expected ${PRINCIPAL_RULE}, found the string "allUsers": a clean room never grants public access`,
    ]);
  });

  test("given two datasets with one name (possible only in the normalized array form), when validated, then it is an issue", () => {
    const policy = examplePolicy({ approvals: [] });
    const twice = { ...policy, datasets: [policy.datasets[0], policy.datasets[0]] };
    expect(validatePolicy(twice).map((i) => i.message)).toEqual([
      'datasets.insurance: expected each dataset name once, found the dataset "insurance" twice',
    ]);
  });

  test("given input with undefined optional fields, when validated, then undefined counts as absent", () => {
    expect(
      validatePolicyInput({
        name: "typed-room",
        project: "acme-clean-room",
        region: "us-central1",
        zone: "us-central1-c",
        tee: { hardware: undefined, machineType: undefined },
        backend: undefined,
        datasets: { d: { stage1: { kind: "none", fraction: undefined } } },
      }),
    ).toEqual([]);
  });
});

describe("the example config on disk", () => {
  test("given the example, when read, then it points editors at the schema", () => {
    expect(readFileSync("stacks/example.cleanroom.yaml", "utf8").split("\n")[0]).toBe(
      "# yaml-language-server: $schema=../lib/policy/schema.json",
    );
  });
});
