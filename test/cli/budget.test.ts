/**
 * Budgets from the room file to the verifier's ledger and back: the room file's budget,
 * provisioning image and spends compile into the verifier document; the verifier's ledger
 * (the real budgetLedger on a local store laid out as the audit bucket) writes records; and
 * `manatee budget` prints exactly those records and what remains.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { budgetLedger, readBudgetRecords } from "../../attestation-verifier/src/budget";
import { localObjectStore } from "../../attestation-verifier/src/object-store";
import { preparePolicy } from "../../attestation-verifier/src/policy";
import { auditBucketName } from "../../lib/cli/budget";
import { compileVerifierPolicy } from "../../lib/policy/document";
import { loadPolicyFile } from "../../lib/policy/load";
import { STAGE1_PROVISIONING_PURPOSE } from "../../lib/policy/model";
import { validatePolicyInput } from "../../lib/policy/validate";
import { manatee } from "./run";

const ROOM = "stacks/provisioning.cleanroom.yaml";
const PROVISIONING_DIGEST = "sha256:5c2f0e9d6b1a4387c2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9";
const QUERY_DIGEST = "sha256:67682bda769fae1ccf5183192b8daf37b64cae99c6c3302650f6f8bf5f0f95df";

describe("given the provisioning room file", () => {
  const doc = compileVerifierPolicy(loadPolicyFile(ROOM)).document;

  it("then the verifier document carries the budget, the stage-2 spend, and the provisioning image as an approval of its dataset only that spends stage1.epsilon", () => {
    expect(doc.budgets).toEqual({ insurance: { epsilon: 4 } });
    expect(doc.approvals).toEqual([
      expect.objectContaining({ imageDigest: QUERY_DIGEST, datasets: ["insurance"], spend: { epsilon: 0.5 } }),
      { imageDigest: PROVISIONING_DIGEST, datasets: ["insurance"], purpose: STAGE1_PROVISIONING_PURPOSE, approvedBy: "owner@example.org", spend: { epsilon: 1 } },
    ]);
    // The verifier accepts what lib compiles.
    expect(() => preparePolicy(doc)).not.toThrow();
  });

  it("then a room that declares no budget (the EU room) compiles without budgets (its policy hash is unchanged)", () => {
    expect(compileVerifierPolicy(loadPolicyFile("stacks/eu.cleanroom.yaml")).document).not.toHaveProperty("budgets");
  });

  const raw = () => parse(readFileSync(ROOM, "utf8")) as Record<string, any>;
  it.each([
    ["a stage-1 epsilon above the budget", (r: any) => (r.datasets.insurance.stage1.epsilon = 5), "datasets.insurance.stage1.epsilon: expected at most the dataset's budget epsilon (4)"],
    ["a dp-synthetic provisioning without a budget", (r: any) => delete r.datasets.insurance.budget, "datasets.insurance.budget: expected a privacy budget"],
    ["a spend of delta against a budget without delta", (r: any) => (r.approvals[0].spend = { epsilon: 0.5, delta: 1e-6 }), "approvals[0].spend.delta"],
    ["a provisioning image that is not a digest", (r: any) => (r.datasets.insurance.provisioning.imageDigest = "latest"), "datasets.insurance.provisioning.imageDigest"],
    ["a schedule that is not cron", (r: any) => (r.datasets.insurance.provisioning.schedule = "every monday"), "datasets.insurance.provisioning.schedule"],
    ["a field the provisioning does not know", (r: any) => (r.datasets.insurance.provisioning.writes = ["gs://anywhere"]), "datasets.insurance.provisioning.writes"],
  ])("when it has %s, then validation names the field", (_name, tamper, message) => {
    const r = raw();
    tamper(r);
    expect(validatePolicyInput(r).map((i) => i.message).join("\n")).toContain(message);
    expect(validatePolicyInput(raw())).toEqual([]);
  });
});

describe("manatee budget", () => {
  it("given records the verifier's ledger wrote, then it prints each record and the remainder, and --json matches the records", async () => {
    const policy = loadPolicyFile(ROOM);
    const doc = compileVerifierPolicy(policy).document;
    const dir = mkdtempSync(join(tmpdir(), "manatee-budget-"));
    const bucket = auditBucketName(policy);
    const store = localObjectStore(dir);
    const ledger = budgetLedger(doc.budgets!, { store, bucket });
    const grant = (i: number) => ({ dataset: "insurance", grantedBy: { source: "standing" as const, approval: doc.approvals[i] } });
    // One stage-1 release (epsilon 1), two stage-2 DP releases (0.5 each).
    await ledger.charge([grant(1)], { job: "11111111-2222-4333-8444-555555555555", imageDigest: PROVISIONING_DIGEST, nowMs: Date.parse("2026-06-01T03:00:00Z") });
    await ledger.charge([grant(0)], { job: "22222222-3333-4444-8555-666666666666", imageDigest: QUERY_DIGEST, nowMs: Date.parse("2026-06-02T10:00:00Z") });
    await ledger.charge([grant(0)], { job: "33333333-4444-4555-8666-777777777777", imageDigest: QUERY_DIGEST, nowMs: Date.parse("2026-06-03T10:00:00Z") });
    const written = await readBudgetRecords((n) => store.read(bucket, n), "insurance");

    // The downloaded copy of gs://<audit bucket>/budget is <dir>/<bucket>/budget/...
    const text = await manatee("budget", "--config", ROOM, "--records", join(dir, bucket));
    const asJson = await manatee("budget", "--config", ROOM, "--records", join(dir, bucket), "--json");

    expect(text).toMatchObject({ code: 0, stderr: "" });
    expect(text.stdout.split("\n")).toEqual([
      "insurance: budget epsilon 4; spent epsilon 2; remaining epsilon 2",
      `  #0 2026-06-01T03:00:00.000Z epsilon 1 job 11111111-2222-4333-8444-555555555555 image ${PROVISIONING_DIGEST}`,
      `  #1 2026-06-02T10:00:00.000Z epsilon 0.5 job 22222222-3333-4444-8555-666666666666 image ${QUERY_DIGEST}`,
      `  #2 2026-06-03T10:00:00.000Z epsilon 0.5 job 33333333-4444-4555-8666-777777777777 image ${QUERY_DIGEST}`,
      "",
    ]);
    expect(JSON.parse(asJson.stdout)).toEqual({ insurance: { budget: { epsilon: 4 }, spent: { epsilon: 2 }, remaining: { epsilon: 2 }, records: written } });
  });

  it("given a record that is not its dataset's record at its sequence number (tampered), then it refuses to print a ledger (exit 2)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "manatee-budget-"));
    const recordDir = join(dir, "budget", "insurance");
    mkdirSync(recordDir, { recursive: true });
    writeFileSync(join(recordDir, "000000000000"), JSON.stringify({ version: 1, dataset: "insurance", seq: 7, epsilon: 0.1, at: 0 }));

    const res = await manatee("budget", "--config", ROOM, "--records", dir);

    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: 2, stdout: "" });
    expect(res.stderr).toContain("is not a budget record of insurance at 0");
  });

  it("given no --config, then it is a usage error", async () => {
    expect((await manatee("budget", "--records", "x")).code).toBe(2);
  });
});
