/**
 * The privacy-budget ledger: spends accumulate in append-only records, concurrent decisions on
 * several verifier instances never spend past the budget (the create-only precondition of the
 * store decides), and the output release receipt states the spend and what remains; decided
 * by the real verifier on real signed tokens.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify } from "jose";
import { AuditRecord } from "../src/audit";
import { BUDGET_RECORD_PREFIX, BudgetRecord, budgetLedger, budgetObjectName, readBudgetRecords } from "../src/budget";
import { GrantedBy } from "../src/decision";
import { ObjectStore, localObjectStore, memoryObjectStore } from "../src/object-store";
import { PolicyError, preparePolicy } from "../src/policy";
import { RECEIPT_TYP } from "../src/receipt";
import { releaseManifest } from "../src/release";
import { generatedSigner } from "../src/signers";
import { createVerifier } from "../src/verifier";
import { NOW_MS, RsaKey, jwksServer, rsaKey, signToken } from "./helpers";
import { JOB_DIGEST, QUARANTINE, RELEASE, approverKey, jobClaims, jobPathPolicy } from "./release-fixtures";

const sha256 = (b: string | Uint8Array) => createHash("sha256").update(b).digest("hex");
const AUDIT = "acme-clean-room-verifier-audit";

/** A standing grant of `dataset` by an approval that spends `epsilon` (and `delta`). */
const grant = (dataset: string, epsilon: number, delta?: number): { dataset: string; grantedBy: GrantedBy } => ({
  dataset,
  grantedBy: {
    source: "standing",
    approval: { imageDigest: JOB_DIGEST, datasets: [dataset], purpose: "stage1-provisioning", approvedBy: "owner@example.org", spend: { epsilon, ...(delta !== undefined ? { delta } : {}) } },
  },
});

/** A shared store whose every call yields first, so concurrent decisions interleave between read and create. */
function interleaving(inner: ObjectStore, createIsAtomic = true): ObjectStore {
  const tick = () => new Promise((r) => setImmediate(r));
  return {
    read: async (b, n) => (await tick(), inner.read(b, n)),
    // Tampered: a store without the precondition (an overwrite that always "creates").
    createIfAbsent: async (b, n, bytes, ct) => (await tick(), createIsAtomic ? inner.createIfAbsent(b, n, bytes, ct) : (await inner.write(b, n, bytes, ct), true)),
    write: async (b, n, bytes, ct) => (await tick(), inner.write(b, n, bytes, ct)),
  };
}

describe("given a dataset budget of epsilon 1 and delta 1e-5", () => {
  const budgets = { insurance: { epsilon: 1, delta: 1e-5 } };

  it("when releases spend 0.3 each, then the spends accumulate in sequence-numbered records and the fourth is refused without a record", async () => {
    const store = memoryObjectStore();
    const ledger = budgetLedger(budgets, { store, bucket: AUDIT });

    const results = [];
    for (let i = 0; i < 4; i++) results.push(await ledger.charge([grant("insurance", 0.3, 2e-6)], { job: `job-${i}`, nowMs: NOW_MS }));

    expect(results.slice(0, 3).map((r) => (r.ok ? r.entries.map((e) => [e.seq, e.remaining_epsilon, e.remaining_delta]) : r))).toEqual([
      [[0, 0.7, 8e-6]],
      [[1, 0.4, 6e-6]],
      [[2, 0.1, 4e-6]],
    ]);
    expect(results[3]).toEqual({ ok: false, reasons: [{ code: "budget_exhausted", message: expect.stringContaining("0.1 of 1 epsilon and 0.000004 of 0.00001 delta remain") }] });
    const records = await readBudgetRecords((n) => store.read(AUDIT, n), "insurance");
    expect(records.map((r) => [r.seq, r.epsilon, r.job])).toEqual([
      [0, 0.3, "job-0"],
      [1, 0.3, "job-1"],
      [2, 0.3, "job-2"],
    ]);
    expect(await store.read(AUDIT, budgetObjectName("insurance", 3))).toBeUndefined();
  });

  it("when the delta, not the epsilon, would run out, then it is refused all the same", async () => {
    const ledger = budgetLedger(budgets, { store: memoryObjectStore(), bucket: AUDIT });
    expect((await ledger.charge([grant("insurance", 0.1, 6e-6)], { nowMs: NOW_MS })).ok).toBe(true);
    expect(await ledger.charge([grant("insurance", 0.1, 6e-6)], { nowMs: NOW_MS })).toMatchObject({ ok: false, reasons: [{ code: "budget_exhausted" }] });
  });

  it("when a grant declares no spend, or its dataset has no budget, then nothing is charged", async () => {
    const store = memoryObjectStore();
    const ledger = budgetLedger(budgets, { store, bucket: AUDIT });
    const signature: GrantedBy = { source: "signature", keyId: "a".repeat(64), signatureAlgorithm: "ECDSA_P256_SHA256" };

    expect(await ledger.charge([{ dataset: "insurance", grantedBy: signature }, grant("claims", 5)], { nowMs: NOW_MS })).toEqual({ ok: true, entries: [] });
    expect(await store.read(AUDIT, budgetObjectName("insurance", 0))).toBeUndefined();
  });
});

describe("given three verifier instances sharing one audit bucket", () => {
  const budgets = { insurance: { epsilon: 1 } };
  const race = async (store: ObjectStore) => {
    // Separate ledgers: each instance keeps its own tally, as separate processes would.
    const instances = [0, 1, 2].map(() => budgetLedger(budgets, { store, bucket: AUDIT }));
    const decisions = Array.from({ length: 24 }, (_, i) => instances[i % 3].charge([grant("insurance", 0.15)], { job: `job-${i}`, nowMs: NOW_MS }));
    const results = await Promise.all(decisions);
    const records = await readBudgetRecords((n) => store.read(AUDIT, n), "insurance");
    return { allowed: results.filter((r) => r.ok).length, records };
  };

  it("when 24 decisions of 0.15 race, then exactly 6 are allowed, one record each, and the records never sum past the budget", async () => {
    const { allowed, records } = await race(interleaving(memoryObjectStore()));

    expect(allowed).toBe(6);
    expect(records.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(records.reduce((sum, r) => sum + r.epsilon, 0)).toBeLessThanOrEqual(1);
    expect(records.at(-1)!.spent_epsilon).toBeCloseTo(0.9, 12);
    expect(new Set(records.map((r) => r.job)).size).toBe(6);
  });

  it("when the store lacks the create-only precondition (tampered), then the same race allows more than the budget: the precondition is what holds it", async () => {
    const { allowed } = await race(interleaving(memoryObjectStore(), false));

    expect(allowed).toBeGreaterThan(6);
  });
});

describe("given the policy document's budgets and spends", () => {
  const base = () => jobPathPolicy({ insurance: approverKey(), claims: approverKey() });

  it.each([
    ["a budget of an unknown dataset", { budgets: { genomes: { epsilon: 1 } } }, "budgets.genomes"],
    ["a zero epsilon budget", { budgets: { insurance: { epsilon: 0 } } }, "budgets.insurance.epsilon"],
    ["a budget field it does not know", { budgets: { insurance: { epsilon: 1, rho: 2 } } }, "budgets.insurance.rho"],
  ])("when it has %s, then the verifier refuses to start", (_name, patch, field) => {
    expect(() => preparePolicy({ ...base(), ...patch })).toThrow(PolicyError);
    expect(() => preparePolicy({ ...base(), ...patch })).toThrow(field);
  });

  it("when an approval spends delta on a dataset whose budget has no delta, then it is refused (the delta would go uncounted)", () => {
    const doc = base();
    const approvals = [{ ...doc.approvals[0], spend: { epsilon: 0.1, delta: 1e-6 } }, ...doc.approvals.slice(1)];
    expect(() => preparePolicy({ ...doc, approvals, budgets: { insurance: { epsilon: 1 } } })).toThrow("approvals[0].spend.delta");
    expect(() => preparePolicy({ ...doc, approvals, budgets: { insurance: { epsilon: 1, delta: 1e-5 } } })).not.toThrow();
  });
});

describe("given a provisioning image whose standing approval spends epsilon 0.4 of a budget of 1", () => {
  const JOBS = ["11111111-2222-4333-8444-555555555555", "22222222-3333-4444-8555-666666666666", "33333333-4444-4555-8666-777777777777"];
  let cs: RsaKey;
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  beforeAll(async () => {
    cs = await rsaKey("cs-key-1");
    jwks = await jwksServer([cs.jwk]);
  });
  afterAll(() => jwks.close());

  it("when it releases three times, then two receipts state the spend and the remainder, the third is denied budget_exhausted, and the ledger holds two records", async () => {
    const base = jobPathPolicy({ insurance: approverKey(), claims: approverKey() });
    const doc = {
      ...base,
      approvals: [
        ...base.approvals,
        { imageDigest: JOB_DIGEST, datasets: ["insurance"], purpose: "stage1-provisioning", approvedBy: "owner@example.org", spend: { epsilon: 0.4 } },
      ],
      budgets: { insurance: { epsilon: 1 } },
    };
    const dir = mkdtempSync(join(tmpdir(), "verifier-budget-"));
    const logs: AuditRecord[] = [];
    const verifier = createVerifier({
      policy: doc,
      signer: generatedSigner(),
      jwks: { url: jwks.url },
      clock: () => NOW_MS,
      log: (r) => logs.push(r),
      objectStore: localObjectStore(dir),
      replayStore: { store: localObjectStore(dir), bucket: AUDIT },
    });
    const keySet = createLocalJWKSet(verifier.receiptJwks as never);

    const answers = [];
    for (const job of JOBS) {
      mkdirSync(join(dir, QUARANTINE, job), { recursive: true });
      writeFileSync(join(dir, QUARANTINE, job, "synthetic.csv"), `age,region\n41,${job.slice(0, 4)}\n`);
      const objects = [{ name: "synthetic.csv", sha256: sha256(`age,region\n41,${job.slice(0, 4)}\n`) }];
      const token = await signToken(jobClaims(doc, { job, nonce: sha256(releaseManifest(job, objects)), signatures: [] }), cs);
      const res = await verifier.handler({
        method: "POST",
        path: "/v1/release",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token, job, datasets: ["insurance"], objects }),
      });
      answers.push(JSON.parse(res.body) as { decision: string; receipt?: string; reasons?: { code: string }[] });
    }

    expect(answers.map((a) => a.decision)).toEqual(["released", "released", "deny"]);
    const budgetsStated = [];
    for (const a of answers.slice(0, 2)) {
      const { payload } = await jwtVerify(a.receipt!, keySet, { typ: RECEIPT_TYP, currentDate: new Date(NOW_MS) });
      budgetsStated.push(payload.budget);
    }
    expect(budgetsStated).toEqual([
      [{ dataset: "insurance", seq: 0, epsilon: 0.4, remaining_epsilon: 0.6 }],
      [{ dataset: "insurance", seq: 1, epsilon: 0.4, remaining_epsilon: 0.2 }],
    ]);
    expect(answers[2].reasons!.map((r) => r.code)).toEqual(["budget_exhausted"]);
    // Refused before anything was copied or marked: the token is not spent, nothing left quarantine.
    expect(existsSync(join(dir, RELEASE, JOBS[2]))).toBe(false);
    const records: BudgetRecord[] = await readBudgetRecords(async (n) => localObjectStore(dir).read(AUDIT, n), "insurance");
    expect(records.map((r) => [r.seq, r.job, r.spent_epsilon])).toEqual([
      [0, JOBS[0], 0.4],
      [1, JOBS[1], 0.8],
    ]);
    expect(existsSync(join(dir, AUDIT, BUDGET_RECORD_PREFIX, "insurance", "000000000002"))).toBe(false);
    expect(logs.filter((l) => l.operation === "release").map((l) => [l.decision, l.budget?.[0]?.remaining_epsilon])).toEqual([
      ["allow", 0.6],
      ["allow", 0.2],
      ["deny", undefined],
    ]);
  });
});
