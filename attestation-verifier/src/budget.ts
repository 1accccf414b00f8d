/**
 * The privacy-budget ledger at the decision point. A dataset's total budget (epsilon, and delta
 * where used) is in the policy document (`budgets`); an approval may declare what each release
 * it grants spends (`approvals[].spend`; a stage-1 provisioning approval spends the dataset's
 * `stage1` epsilon and delta). Every charge is one append-only record
 * `budget/<dataset>/<seq, 12 digits>` in the audit bucket, created with the object store's
 * create-only upload, as the replay markers are (replay.ts). Record n is created only by a
 * decision that has read records 0..n-1 and found room for its spend; of two concurrent
 * decisions one loses the create, re-reads and decides again, so the records never sum past
 * the budget, whatever the number of verifier instances.
 */
import type { GrantedBy } from "./decision";
import { ObjectStore, memoryObjectStore } from "./object-store";
import { Reason, reason } from "./reasons";
import type { VerifierBudget } from "../../lib/policy/document";

export type { VerifierBudget };

/** Ledger records live under this prefix of the audit bucket. */
export const BUDGET_RECORD_PREFIX = "budget/";
/** Sequence numbers are zero-padded so a listing of the prefix sorts in ledger order. */
const SEQ_DIGITS = 12;
/** Lost creates in a row before a decision gives up (a retry of the request decides again). */
const MAX_ATTEMPTS = 32;
/** Sums of floating-point spends may miss the budget by rounding: 10 × 0.1 must fit into 1. */
const ROUNDING = 1e-9;

/** What one decision spends of one dataset's budget. */
export interface PrivacySpend {
  readonly epsilon: number;
  readonly delta?: number;
}

/** One ledger record, as stored (JSON) at `budget/<dataset>/<seq>`. */
export interface BudgetRecord {
  readonly version: 1;
  readonly dataset: string;
  readonly seq: number;
  /** This decision's spend. */
  readonly epsilon: number;
  readonly delta?: number;
  /** The budget's totals when this record was written. */
  readonly spent_epsilon: number;
  readonly spent_delta?: number;
  readonly budget_epsilon: number;
  readonly budget_delta?: number;
  readonly purpose?: string;
  readonly job?: string;
  readonly image_digest?: string;
  readonly token_sha256?: string;
  readonly policy_sha256?: string;
  /** Epoch seconds of the decision. */
  readonly at: number;
}

/** What a receipt states per charged dataset: the spend and what remains after it. */
export interface BudgetReceiptEntry {
  readonly dataset: string;
  readonly seq: number;
  readonly epsilon: number;
  readonly delta?: number;
  readonly remaining_epsilon: number;
  readonly remaining_delta?: number;
}

export type BudgetCharge = { readonly ok: true; readonly entries: readonly BudgetReceiptEntry[] } | { readonly ok: false; readonly reasons: Reason[] };

/** What the record says about the decision besides the spend. */
export interface ChargeContext {
  readonly job?: string;
  readonly imageDigest?: string;
  readonly tokenSha256?: string;
  readonly policySha256?: string;
  readonly nowMs: number;
}

export interface BudgetLedger {
  /**
   * Charge every grant whose approval declares a spend on a dataset with a budget. Refuses
   * (budget_exhausted) before writing anything when any would exceed; throws when the store fails.
   */
  charge(grants: readonly { dataset: string; grantedBy: GrantedBy }[], context: ChargeContext): Promise<BudgetCharge>;
  /** Where the records live, for the start-up line. */
  readonly description: string;
}

export function budgetObjectName(dataset: string, seq: number): string {
  return `${BUDGET_RECORD_PREFIX}${dataset}/${String(seq).padStart(SEQ_DIGITS, "0")}`;
}

/** Remaining budget, never below zero, rounded so that 1 - 0.1 × 3 reads 0.7. */
export function remainingOf(total: number, spent: number): number {
  return Math.max(0, Number((total - spent).toPrecision(12)));
}

/** Parse one stored record; throws on anything but a record of `dataset` at `seq` (a ledger is never guessed). */
export function parseBudgetRecord(bytes: Uint8Array, dataset: string, seq: number): BudgetRecord {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(Buffer.from(bytes).toString("utf8")) as Record<string, unknown>;
  } catch {
    throw new Error(`${budgetObjectName(dataset, seq)} is not JSON`);
  }
  const finite = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;
  if (r === null || typeof r !== "object" || r.dataset !== dataset || r.seq !== seq || !finite(r.epsilon) || (r.delta !== undefined && !finite(r.delta))) {
    throw new Error(`${budgetObjectName(dataset, seq)} is not a budget record of ${dataset} at ${seq}`);
  }
  return r as unknown as BudgetRecord;
}

/**
 * Every record of `dataset`, in order, read by sequence number from `from` until the first
 * missing one (the store needs no listing). `read` returns undefined for a missing object.
 */
export async function readBudgetRecords(
  read: (name: string) => Promise<Uint8Array | undefined>,
  dataset: string,
  from = 0
): Promise<BudgetRecord[]> {
  const records: BudgetRecord[] = [];
  for (let seq = from; ; seq++) {
    const bytes = await read(budgetObjectName(dataset, seq));
    if (bytes === undefined) return records;
    records.push(parseBudgetRecord(bytes, dataset, seq));
  }
}

/** The spend a grant declares: a standing approval's `spend`; a signature grant declares none. */
function spendOf(grantedBy: GrantedBy): PrivacySpend | undefined {
  return grantedBy.source === "standing" ? grantedBy.approval.spend : undefined;
}

interface Tally {
  count: number;
  epsilon: number;
  delta: number;
}

/**
 * The ledger of `budgets` in `store`'s `bucket` (the audit bucket). Records are immutable, so
 * each instance keeps a running tally and reads only the records written since.
 */
export function budgetLedger(budgets: Readonly<Record<string, VerifierBudget>>, target?: { store: ObjectStore; bucket: string }): BudgetLedger {
  const { store, bucket } = target ?? { store: memoryObjectStore(), bucket: "memory" };
  const tallies = new Map<string, Tally>();
  const read = (name: string) => store.read(bucket, name);

  /** Bring the tally of `dataset` up to the last record in the store. */
  const refresh = async (dataset: string): Promise<Tally> => {
    const tally = tallies.get(dataset) ?? { count: 0, epsilon: 0, delta: 0 };
    for (const r of await readBudgetRecords(read, dataset, tally.count)) {
      tally.count++;
      tally.epsilon += r.epsilon;
      tally.delta += r.delta ?? 0;
    }
    tallies.set(dataset, tally);
    return tally;
  };
  const exceeds = (budget: VerifierBudget, tally: Tally, spend: PrivacySpend) =>
    tally.epsilon + spend.epsilon > budget.epsilon * (1 + ROUNDING) ||
    (spend.delta ?? 0) + tally.delta > (budget.delta ?? 0) * (1 + ROUNDING);
  const exhausted = (dataset: string, budget: VerifierBudget, tally: Tally, spend: PrivacySpend) =>
    reason(
      "budget_exhausted",
      `Dataset ${dataset}: this release spends epsilon ${spend.epsilon}${spend.delta ? `, delta ${spend.delta}` : ""}; ` +
        `${remainingOf(budget.epsilon, tally.epsilon)} of ${budget.epsilon} epsilon` +
        (budget.delta !== undefined ? ` and ${remainingOf(budget.delta, tally.delta)} of ${budget.delta} delta` : "") +
        " remain."
    );

  return {
    description: `${store.description ?? "custom object store"}, bucket ${bucket}, ${BUDGET_RECORD_PREFIX}<dataset>/<seq>`,
    async charge(grants, context) {
      const charges = grants
        .map((g) => ({ dataset: g.dataset, spend: spendOf(g.grantedBy), budget: budgets[g.dataset] }))
        .filter((c): c is { dataset: string; spend: PrivacySpend; budget: VerifierBudget } => c.spend !== undefined && c.budget !== undefined);
      // Every dataset checked before the first record: a release that cannot pay for all pays for none.
      const refused: Reason[] = [];
      for (const c of charges) {
        const tally = await refresh(c.dataset);
        if (exceeds(c.budget, tally, c.spend)) refused.push(exhausted(c.dataset, c.budget, tally, c.spend));
      }
      if (refused.length > 0) return { ok: false, reasons: refused };

      // A concurrent decision can still win in between; then this one may be refused below after
      // charging an earlier dataset. That errs towards spending, never towards exceeding.
      const entries: BudgetReceiptEntry[] = [];
      for (const { dataset, spend, budget } of charges) {
        for (let attempt = 0; ; attempt++) {
          if (attempt === MAX_ATTEMPTS) throw new Error(`budget ledger of ${dataset}: ${MAX_ATTEMPTS} concurrent decisions won the next record first`);
          const tally = await refresh(dataset);
          if (exceeds(budget, tally, spend)) return { ok: false, reasons: [exhausted(dataset, budget, tally, spend)] };
          const spentEpsilon = tally.epsilon + spend.epsilon;
          const spentDelta = tally.delta + (spend.delta ?? 0);
          const record: BudgetRecord = {
            version: 1,
            dataset,
            seq: tally.count,
            epsilon: spend.epsilon,
            ...(spend.delta !== undefined ? { delta: spend.delta } : {}),
            spent_epsilon: spentEpsilon,
            ...(budget.delta !== undefined ? { spent_delta: spentDelta, budget_delta: budget.delta } : {}),
            budget_epsilon: budget.epsilon,
            ...(context.job ? { job: context.job } : {}),
            ...(context.imageDigest ? { image_digest: context.imageDigest } : {}),
            ...(context.tokenSha256 ? { token_sha256: context.tokenSha256 } : {}),
            ...(context.policySha256 ? { policy_sha256: context.policySha256 } : {}),
            at: Math.floor(context.nowMs / 1000),
          };
          const created = await store.createIfAbsent(bucket, budgetObjectName(dataset, tally.count), Buffer.from(`${JSON.stringify(record)}\n`), "application/json");
          if (!created) continue; // another decision took this number: re-read and decide again
          tally.count++;
          tally.epsilon = spentEpsilon;
          tally.delta = spentDelta;
          entries.push({
            dataset,
            seq: record.seq,
            epsilon: spend.epsilon,
            ...(spend.delta !== undefined ? { delta: spend.delta } : {}),
            remaining_epsilon: remainingOf(budget.epsilon, spentEpsilon),
            ...(budget.delta !== undefined ? { remaining_delta: remainingOf(budget.delta, spentDelta) } : {}),
          });
          break;
        }
      }
      return { ok: true, entries };
    },
  };
}

/**
 * Validate the document's `budgets` and the approvals' `spend` (called by preparePolicy, which
 * refuses unknown fields, so a verifier without this file refuses a document that has budgets).
 */
export function validateBudgets(raw: Record<string, unknown>, datasets: readonly unknown[], fail: (field: string, problem: string) => never): void {
  const amount = (field: string, v: unknown, positive: boolean) => {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (positive && v === 0)) fail(field, `expected a finite number ${positive ? "> 0" : ">= 0"}, got ${JSON.stringify(v) ?? "nothing"}`);
  };
  const delta = (field: string, v: unknown) => {
    if (v === undefined) return;
    amount(field, v, false);
    if ((v as number) >= 1) fail(field, "expected delta < 1");
  };
  const shape = (field: string, v: unknown, positive: boolean) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return fail(field, "expected an object { epsilon, delta? }");
    const o = v as Record<string, unknown>;
    for (const key of Object.keys(o)) if (key !== "epsilon" && key !== "delta") fail(`${field}.${key}`, "unknown field");
    amount(`${field}.epsilon`, o.epsilon, positive);
    delta(`${field}.delta`, o.delta);
  };
  const budgets = raw.budgets;
  if (budgets !== undefined) {
    if (budgets === null || typeof budgets !== "object" || Array.isArray(budgets)) fail("budgets", "expected an object keyed by dataset");
    for (const [dataset, b] of Object.entries(budgets as Record<string, unknown>)) {
      if (!datasets.includes(dataset)) fail(`budgets.${dataset}`, "is not a dataset of the policy");
      shape(`budgets.${dataset}`, b, true);
    }
  }
  const byDataset = (budgets ?? {}) as Record<string, VerifierBudget>;
  (Array.isArray(raw.approvals) ? raw.approvals : []).forEach((a: Record<string, unknown>, i) => {
    if (a?.spend === undefined) return;
    shape(`approvals[${i}].spend`, a.spend, false);
    const spend = a.spend as PrivacySpend;
    // A delta spent against a budget that has none would be spent without being counted.
    for (const d of (a.datasets as string[]) ?? []) {
      if (spend.delta && byDataset[d] !== undefined && byDataset[d].delta === undefined) {
        fail(`approvals[${i}].spend.delta`, `dataset ${d}'s budget declares no delta`);
      }
    }
  });
}
