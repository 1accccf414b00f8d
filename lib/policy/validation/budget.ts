/**
 * Privacy budgets and stage-1 provisioning (issue 16): `datasets.D.budget`, `datasets.D.provisioning`
 * and `approvals[].spend`. The verifier re-checks budgets and spends (attestation-verifier/src/budget.ts).
 */
import { STAGE1_PROVISIONING_PURPOSE } from "../model";
import { Checker, Plain, isPlainMap } from "./checker";
import { EXPECT } from "./expectations";
import { PolicyPath } from "./issues";
import { EMAIL, IMAGE_DIGEST } from "./vocabulary";

const BUDGET_FIELDS = ["epsilon", "delta"];
const PROVISIONING_FIELDS = ["imageDigest", "approvedBy", "schedule"];
/** Five cron fields (Cloud Scheduler's unix-cron), each of digits, `*`, `/`, `,`, `-`. */
const CRON = /^(\S+\s+){4}\S+$/;
const CRON_FIELD = /^[0-9*/,-]+$/;

/** `{epsilon, delta?}`: epsilon > 0 for a budget, >= 0 for a spend; 0 <= delta < 1. */
function checkAmount(c: Checker, path: PolicyPath, value: unknown, kind: "budget" | "spend"): Plain | undefined {
  const m = c.map(path, value, `a privacy ${kind}: { epsilon, delta? }`, BUDGET_FIELDS, { epsilon: kind === "budget" ? "a number > 0" : "a number >= 0" });
  if (!m) return undefined;
  if (m.epsilon !== undefined) {
    if (kind === "budget") c.number([...path, "epsilon"], m.epsilon, "a number > 0", (n) => n > 0);
    else c.number([...path, "epsilon"], m.epsilon, "a number >= 0", (n) => n >= 0);
  }
  if (m.delta !== undefined) c.number([...path, "delta"], m.delta, "a number >= 0 and < 1", (n) => n >= 0 && n < 1);
  return m;
}

/** Budgets, provisioning images and spends; one call from validate.ts. */
export function checkBudgets(c: Checker, datasets: unknown, approvals: unknown): void {
  const budgets = new Map<string, Plain>();
  if (isPlainMap(datasets)) {
    for (const [name, d] of Object.entries(datasets)) {
      if (!isPlainMap(d)) continue;
      const path = ["datasets", name];
      const budget = d.budget === undefined ? undefined : checkAmount(c, [...path, "budget"], d.budget, "budget");
      if (budget) budgets.set(name, budget);
      const stage1 = isPlainMap(d.stage1) ? d.stage1 : {};
      // A stage-1 release that spends more than the whole budget could never be released.
      if (budget && stage1.kind === "dp-synthetic" && typeof stage1.epsilon === "number" && typeof budget.epsilon === "number" && stage1.epsilon > budget.epsilon) {
        c.fail([...path, "stage1", "epsilon"], `at most the dataset's budget epsilon (${budget.epsilon})`, stage1.epsilon);
      }
      if (d.provisioning === undefined) continue;
      const p = c.map([...path, "provisioning"], d.provisioning, "the provisioning image: { imageDigest, approvedBy, schedule? }", PROVISIONING_FIELDS, {
        imageDigest: EXPECT.digest,
        approvedBy: EXPECT.approvedBy,
      });
      if (!p) continue;
      if (p.imageDigest !== undefined) c.string([...path, "provisioning", "imageDigest"], p.imageDigest, EXPECT.digest, (s) => IMAGE_DIGEST.test(s));
      if (p.approvedBy !== undefined) c.string([...path, "provisioning", "approvedBy"], p.approvedBy, EXPECT.approvedBy, (s) => EMAIL.test(s));
      if (p.schedule !== undefined) {
        c.string([...path, "provisioning", "schedule"], p.schedule, 'a unix-cron schedule of five fields, such as "0 3 * * 1"', (s) => CRON.test(s.trim()) && s.trim().split(/\s+/).every((f) => CRON_FIELD.test(f)));
      }
      if (stage1.kind === "none") c.fail([...path, "stage1", "kind"], `dp-synthetic or sample: a ${STAGE1_PROVISIONING_PURPOSE} image makes stage-1 data`, stage1.kind);
      // Without a budget, the stage-1 spend would be recorded nowhere.
      if (stage1.kind === "dp-synthetic" && d.budget === undefined) c.fail([...path, "budget"], "a privacy budget { epsilon, delta? }: a provisioned dp-synthetic release spends stage1.epsilon from it", undefined);
    }
  }
  if (!Array.isArray(approvals)) return;
  approvals.forEach((a, i) => {
    if (!isPlainMap(a) || a.spend === undefined) return;
    const spend = checkAmount(c, ["approvals", i, "spend"], a.spend, "spend");
    if (spend?.delta === undefined || spend.delta === 0 || !Array.isArray(a.datasets)) return;
    for (const d of a.datasets) {
      const budget = budgets.get(d as string);
      // A delta spent against a budget without one would be spent without being counted.
      if (budget && budget.delta === undefined) c.fail(["approvals", i, "spend", "delta"], `no delta: dataset ${d}'s budget declares none`, spend.delta);
    }
  });
}
