/**
 * Reading the guardrail suppressions the report lists from a JSON file: a list of
 * `{ ruleId, reason, path }` (also `id` for `ruleId`, `address` for `path`), or an object
 * with such a list under `suppressions`. Errors name the file, the entry and the field.
 */
import { ERROR_CODES, ManateeError, summarise } from "../errors";

/** A guardrail finding suppressed in the stacks, as recorded with its mandatory reason. */
export interface ReportSuppression {
  /** The rule id, e.g. `MCR-GCS2`. */
  readonly ruleId: string;
  readonly reason: string;
  /** Construct path or Terraform address the suppression applies to. */
  readonly path: string;
}

export class SuppressionsFileError extends ManateeError {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(ERROR_CODES.invalidInput, summarise(problems.map((p) => `${file}: ${p}`)).join("\n"));
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  return `${typeof value === "object" ? "an" : "a"} ${typeof value}`;
}

const EXPECTED_SHAPE = 'a list of { "ruleId": "MCR-…", "reason": "…", "path": "…" } or { "suppressions": [ … ] }';

/** Parse the text of a suppressions file; throws SuppressionsFileError listing every problem. */
export function parseSuppressions(textValue: string, file: string): ReportSuppression[] {
  let json: unknown;
  try {
    json = JSON.parse(textValue);
  } catch (err) {
    throw new SuppressionsFileError(file, [`not valid JSON (${(err as Error).message}); expected ${EXPECTED_SHAPE}`]);
  }
  const list =
    Array.isArray(json)
      ? json
      : json !== null && typeof json === "object" && Array.isArray((json as Record<string, unknown>).suppressions)
        ? ((json as Record<string, unknown>).suppressions as unknown[])
        : undefined;
  const prefix = Array.isArray(json) ? "" : "suppressions";
  if (list === undefined) throw new SuppressionsFileError(file, [`expected ${EXPECTED_SHAPE}, found ${describe(json)}`]);

  const problems: string[] = [];
  const out: ReportSuppression[] = [];
  list.forEach((entry, i) => {
    const at = `${prefix}[${i}]`;
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      problems.push(`${at}: expected an object with ruleId, reason and path, found ${describe(entry)}`);
      return;
    }
    const e = entry as Record<string, unknown>;
    const field = (names: string[]): string | undefined => {
      const name = names.find((n) => e[n] !== undefined) ?? names[0];
      const value = e[name];
      if (typeof value === "string" && value.trim() !== "") return value;
      problems.push(`${at}.${name}: expected a non-empty string, found ${describe(value)}`);
      return undefined;
    };
    const ruleId = field(["ruleId", "id"]);
    const reason = field(["reason"]);
    const path = field(["path", "address"]);
    if (ruleId !== undefined && reason !== undefined && path !== undefined) out.push({ ruleId, reason, path });
  });
  if (problems.length > 0) throw new SuppressionsFileError(file, problems);
  return out;
}
