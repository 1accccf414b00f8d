/**
 * `manatee budget --config FILE [--records DIR|gs://BUCKET] [--json]`: the privacy-budget ledger
 * the verifier keeps (attestation-verifier/src/budget.ts) and what remains per dataset. It reads
 * the records exactly as the verifier does, by sequence number until the first missing one, from
 * the audit bucket (Application Default Credentials) or from a downloaded copy:
 * `gcloud storage cp -r gs://<audit bucket>/budget DIR` makes DIR/budget/<dataset>/<seq>.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BUDGET_RECORD_PREFIX, BudgetRecord, readBudgetRecords, remainingOf } from "../../attestation-verifier/src/budget";
import { InvalidInputError, UsageError } from "../errors";
import { loadPolicyFile } from "../policy/load";
import { CleanRoomPolicy, PrivacyBudget } from "../policy/model";
import { resourceName } from "../policy/names";
import { CliIo, parseArgs } from "./io";

const USAGE = `usage: manatee budget --config FILE [--records DIR|gs://BUCKET] [--json]

Print each dataset's privacy-budget ledger (one line per release the verifier
charged) and what remains of its budget.
  --config   the clean-room config (its datasets' budget settings)
  --records  where the ledger is: a directory holding budget/<dataset>/<seq>
             (a downloaded copy of the audit bucket's budget/ prefix), or
             gs://BUCKET (read with Application Default Credentials)
             default: gs://<the room's verifier audit bucket>
  --json     print {dataset: {budget, spent, remaining, records}} as JSON
Exit codes: 0 printed; 2 usage error, invalid config, or a record that is not
a ledger record of its dataset and sequence number.
`;

/** One dataset's ledger and totals. */
export interface DatasetLedger {
  readonly budget: PrivacyBudget;
  readonly spent: { readonly epsilon: number; readonly delta?: number };
  readonly remaining: { readonly epsilon: number; readonly delta?: number };
  readonly records: readonly BudgetRecord[];
}

/** The verifier's audit bucket (AttestationVerifier's default name). */
export function auditBucketName(policy: Pick<CleanRoomPolicy, "name" | "project">): string {
  return resourceName("bucket", policy.project, policy.name, "verifier-audit");
}

/** Every budgeted dataset's ledger, read through `read(objectName)`. */
export async function readLedgers(policy: CleanRoomPolicy, read: (name: string) => Promise<Uint8Array | undefined>): Promise<Record<string, DatasetLedger>> {
  const out: Record<string, DatasetLedger> = {};
  for (const d of policy.datasets) {
    if (!d.budget) continue;
    let records: BudgetRecord[];
    try {
      records = await readBudgetRecords(read, d.name);
    } catch (err) {
      throw new InvalidInputError(`ledger of ${d.name}: ${(err as Error).message}`);
    }
    const epsilon = records.reduce((s, r) => s + r.epsilon, 0);
    const delta = records.reduce((s, r) => s + (r.delta ?? 0), 0);
    const withDelta = d.budget.delta !== undefined;
    out[d.name] = {
      budget: d.budget,
      spent: { epsilon: remainingOf(epsilon, 0), ...(withDelta ? { delta: remainingOf(delta, 0) } : {}) },
      remaining: { epsilon: remainingOf(d.budget.epsilon, epsilon), ...(withDelta ? { delta: remainingOf(d.budget.delta!, delta) } : {}) },
      records,
    };
  }
  return out;
}

/** A reader of `budget/...` names from a directory (DIR/budget/… or DIR itself being the budget/ copy). */
function directoryReader(dir: string): (name: string) => Promise<Uint8Array | undefined> {
  return async (name) => {
    for (const path of [join(dir, ...name.split("/")), join(dir, ...name.slice(BUDGET_RECORD_PREFIX.length).split("/"))]) {
      try {
        return await readFile(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    return undefined;
  };
}

async function cloudReader(bucket: string): Promise<(name: string) => Promise<Uint8Array | undefined>> {
  // Loaded on use only: a local read never loads the Google clients.
  const { adcToken, gcsJsonApiReader } = await import("./jobs-cloud");
  const read = gcsJsonApiReader(adcToken());
  return (name) => read(bucket, name);
}

function format(ledgers: Record<string, DatasetLedger>): string {
  const amount = (a: { epsilon: number; delta?: number }) => `epsilon ${a.epsilon}${a.delta !== undefined ? `, delta ${a.delta}` : ""}`;
  const lines: string[] = [];
  for (const [name, l] of Object.entries(ledgers)) {
    lines.push(`${name}: budget ${amount(l.budget)}; spent ${amount(l.spent)}; remaining ${amount(l.remaining)}`);
    for (const r of l.records) {
      const when = new Date(r.at * 1000).toISOString();
      lines.push(`  #${r.seq} ${when} ${amount(r)}${r.job ? ` job ${r.job}` : ""}${r.image_digest ? ` image ${r.image_digest}` : ""}`);
    }
  }
  return lines.length ? `${lines.join("\n")}\n` : "no dataset of this config declares a budget\n";
}

export async function run(args: string[], io: CliIo): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(USAGE);
    return 0;
  }
  const json = args.includes("--json");
  const { options, positional, errors } = parseArgs(
    args.filter((a) => a !== "--json"),
    ["config", "records"],
  );
  if (positional.length > 0) errors.push(`unexpected argument "${positional[0]}"`);
  if (errors.length === 0 && options.config === undefined) errors.push("missing --config FILE");
  if (errors.length > 0) throw new UsageError(`${errors.map((e) => `manatee budget: ${e}`).join("\n")}\n\n${USAGE}`);
  // An invalid config or a record that is not a ledger record ends in main: exit 2, one message.
  const policy = loadPolicyFile(options.config);
  const records = options.records ?? `gs://${auditBucketName(policy)}`;
  const read = records.startsWith("gs://") ? await cloudReader(records.slice("gs://".length).replace(/\/+$/, "")) : directoryReader(records);
  const ledgers = await readLedgers(policy, read);
  io.stdout.write(json ? `${JSON.stringify(ledgers, null, 2)}\n` : format(ledgers));
  return 0;
}
