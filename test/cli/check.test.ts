/** `manatee check`: the guardrails on synthesized JSON, as CI runs them. */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { TerraformStack, Testing } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { StorageBucket } from "@cdktf/provider-google/lib/storage-bucket";
import { main } from "../../bin/manatee";
import { CleanRoomSuppressions } from "../../lib/checks/suppressions";
import { run } from "../../lib/cli/check";
import { EXAMPLE_DIGEST_A } from "../util";

const EXAMPLE_POLICY = resolve(__dirname, "../../stacks/example.cleanroom.yaml");
const dir = mkdtempSync(join(tmpdir(), "manatee-check-"));

function io() {
  const out = { stdout: "", stderr: "" };
  return { out, io: { stdout: { write: (c: string) => (out.stdout += c) }, stderr: { write: (c: string) => (out.stderr += c) } } };
}

async function manateeCheck(...args: string[]) {
  const { out, io: streams } = io();
  const code = await run(args, streams);
  return { code, ...out };
}

function writeJson(name: string, json: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(json));
  return file;
}

const SAFE_BUCKET = { name: "tf-scratch", location: "us-central1", uniform_bucket_level_access: true, public_access_prevention: "enforced" };
/** A synthesized config as cdktf writes it (snake_case, `//` metadata), with one unsafe bucket. */
const UNSAFE = {
  "//": { metadata: { stackName: "platform" } },
  resource: {
    google_storage_bucket: {
      scratch: { ...SAFE_BUCKET, public_access_prevention: "inherited", "//": { metadata: { path: "platform/scratch", uniqueId: "scratch" } } },
    },
  },
};

describe("manatee check", () => {
  test("given a cdk.tf.json with an unsafe bucket, then exit 1 and one line per finding with level, rule, address and fix", async () => {
    const r = await manateeCheck("--config", writeJson("unsafe.json", UNSAFE));
    expect(r.code).toBe(1);
    expect(r.stdout.split("\n")).toEqual([
      'ERROR   MCR-GCS5       platform/google_storage_bucket.scratch  public_access_prevention is "inherited": the bucket can be made public by a later IAM change. Set public_access_prevention = "enforced".',
      "manatee check: 1 error, 0 warnings, 0 info (0 suppressed) in 1 stack",
      "",
    ]);
  });

  test("given the finding suppressed in the JSON with a reason, then exit 0 and the suppression is reported as info", async () => {
    const suppressed = structuredClone(UNSAFE) as any;
    suppressed.resource.google_storage_bucket.scratch["//"].manatee = { suppressions: [{ id: "MCR-GCS5", reason: "org policy enforces public access prevention" }] };
    const r = await manateeCheck("--config", writeJson("suppressed.json", suppressed));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("INFO    MCR-GCS5       platform/google_storage_bucket.scratch  suppressed (error: org policy enforces public access prevention): public_access_prevention");
    expect(r.stdout).toContain("0 errors, 0 warnings, 1 info (1 suppressed)");
  });

  test("given a suppression by rule id and Terraform address, then it hides that resource's finding only; another bucket's finding of the same rule still fails", async () => {
    const two = structuredClone(UNSAFE) as any;
    const reason = "bootstrap bucket, org policy enforces public access prevention";
    two.resource.google_storage_bucket.other = { ...two.resource.google_storage_bucket.scratch, "//": { metadata: { path: "platform/other", uniqueId: "other" } } };
    // The same record on both buckets, as applyToChildren writes it: only the named resource is suppressed.
    for (const b of Object.values(two.resource.google_storage_bucket) as any[]) {
      b["//"].manatee = { suppressions: [{ id: "MCR-GCS5", reason, resource: "google_storage_bucket.scratch" }] };
    }
    const r = await manateeCheck("--config", writeJson("by-address.json", two), "--format", "json");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).findings.map((f: any) => [f.ruleId, f.address, f.level])).toEqual([
      ["MCR-GCS5", "google_storage_bucket.scratch", "info"],
      ["MCR-GCS5", "google_storage_bucket.other", "error"],
    ]);
  });

  test("given a suppression edited into the JSON with a too-short reason, then it is ignored", async () => {
    const lazy = structuredClone(UNSAFE) as any;
    lazy.resource.google_storage_bucket.scratch["//"].manatee = { suppressions: [{ id: "MCR-GCS5", reason: "ok" }] };
    expect((await manateeCheck("--config", writeJson("lazy.json", lazy))).code).toBe(1);
  });

  test("given a cdktf.out directory from a real synth with a suppression, then every stack is read and suppressions honoured", async () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "platform");
    new GoogleProvider(stack, "google", { project: "acme-clean-room" });
    const b = new StorageBucket(stack, "state", { name: "state", location: "us-central1", uniformBucketLevelAccess: true });
    CleanRoomSuppressions.add(b, [{ id: "MCR-GCS5", reason: "bootstrap state bucket, org policy enforces PAP" }]);
    const out = Testing.fullSynth(stack);
    const r = await manateeCheck("--config", out, "--format", "json");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.stacks.map((s: { name: string }) => s.name)).toEqual(["platform"]);
    expect(report.findings).toEqual([
      expect.objectContaining({ stack: "platform", ruleId: "MCR-GCS5", level: "info", address: "google_storage_bucket.state", path: "platform/state", suppressed: { level: "error", reason: "bootstrap state bucket, org policy enforces PAP" } }),
    ]);
    expect(report.summary).toEqual({ error: 0, warning: 0, info: 1, suppressed: 1 });
  });

  test("given --policy, then policy-aware rules run: a digest approved for another dataset fails", async () => {
    const config = writeJson("kms.json", {
      resource: {
        google_kms_key_ring: { ring: { name: "room", location: "us-central1" } },
        google_kms_crypto_key: { claims: { name: "claims", key_ring: "${google_kms_key_ring.ring.id}", labels: { component: "dataset-key", dataset: "claims" } } },
        google_kms_crypto_key_iam_member: {
          tee: {
            crypto_key_id: "${google_kms_crypto_key.claims.id}",
            role: "roles/cloudkms.cryptoKeyDecrypter",
            member: `principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/insurance-study-tee/attribute.image_digest/${EXAMPLE_DIGEST_A}`,
          },
        },
      },
    });
    expect((await manateeCheck("--config", config)).code).toBe(0);
    const r = await manateeCheck("--config", config, "--policy", EXAMPLE_POLICY);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`ERROR   MCR-KMS1       google_kms_crypto_key_iam_member.tee  principalSet://`);
    expect(r.stdout).toContain(`image digest ${EXAMPLE_DIGEST_A} is not approved for dataset "claims" in the policy`);
  });

  test("given --residency, then locations are checked against it", async () => {
    const config = writeJson("us.json", { resource: { google_storage_bucket: { b: { ...SAFE_BUCKET, location: "US" } } } });
    expect((await manateeCheck("--config", config)).code).toBe(0);
    const r = await manateeCheck("--config", config, "--residency", "us-central1,us-east1");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('location "US" lies outside the residency set [us-central1, us-east1]');
  });

  test("given the bin dispatcher, then `manatee check` reaches this command", async () => {
    const { out, io: streams } = io();
    expect(await main(["check", "--config", writeJson("via-bin.json", UNSAFE)], streams)).toBe(1);
    expect(out.stdout).toContain("MCR-GCS5");
  });

  describe("usage errors exit 2 with a message naming the problem", () => {
    test.each([
      [[], "manatee check: missing --config PATH (a cdk.tf.json or a cdktf.out directory)"],
      [["--config", join(dir, "nope.json")], `manatee check: --config ${join(dir, "nope.json")} does not exist`],
      [["--config", dir, "--format", "xml"], 'manatee check: --format must be text or json, got "xml"'],
      [["--config", dir, "--bogus", "1"], "manatee check: unknown option --bogus"],
    ])("given %j", async (args, message) => {
      const r = await manateeCheck(...(args as string[]));
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n")[0]).toContain(message);
    });

    test("given a file that is not JSON, then exit 2", async () => {
      const file = join(dir, "bad.json");
      writeFileSync(file, "{ not json");
      const r = await manateeCheck("--config", file);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^manatee check: .*bad\.json is not valid JSON/);
    });

    test("given a directory without stacks, a bad --now and a bad --allow-debug, then exit 2 each", async () => {
      const empty = mkdtempSync(join(tmpdir(), "manatee-empty-"));
      expect((await manateeCheck("--config", empty)).stderr).toMatch(/holds no cdk\.tf\.json .* run cdktf synth first/);
      const file = writeJson("ok.json", { resource: {} });
      expect((await manateeCheck("--config", file, "--now", "yesterday")).stderr).toContain('--now must be an ISO-8601 instant such as 2026-01-31T00:00:00Z, got "yesterday"');
      expect((await manateeCheck("--config", file, "--allow-debug", "yes")).code).toBe(2);
    });

    test("given an invalid policy, then exit 2 with the loader's located error", async () => {
      const policy = join(dir, "bad.cleanroom.yaml");
      writeFileSync(policy, "name: x\n");
      const r = await manateeCheck("--config", writeJson("ok2.json", { resource: {} }), "--policy", policy);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`the policy ${policy} is invalid`);
    });
  });
});

describe("manatee check on a cdktf.out directory", () => {
  test("given a stale stack left by an earlier synth, then only the stacks cdktf's manifest lists are checked", async () => {
    const out = mkdtempSync(join(tmpdir(), "manatee-check-out-"));
    const stack = (name: string, json: unknown) => {
      mkdirSync(join(out, "stacks", name), { recursive: true });
      writeFileSync(join(out, "stacks", name, "cdk.tf.json"), JSON.stringify(json));
    };
    stack("old-room-platform", UNSAFE);
    stack("room-platform", { resource: { google_storage_bucket: { scratch: SAFE_BUCKET } } });
    writeFileSync(join(out, "manifest.json"), JSON.stringify({ stacks: { "room-platform": { synthesizedStackPath: "stacks/room-platform/cdk.tf.json" } } }));
    const r = await manateeCheck("--config", out);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("manatee check: 0 errors, 0 warnings, 0 info (0 suppressed) in 1 stack\n");
  });
});
