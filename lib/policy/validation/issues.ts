/**
 * Issues: what a rule found, how the value found is described, and how an issue becomes a
 * `file:line:col: path: expected X, found Y` line. Shared by every rule group and the YAML loader.
 */

/** One problem in a policy, located when it came from a file. */
export interface PolicyIssue {
  readonly file?: string;
  /** 1-based. */
  readonly line?: number;
  /** 1-based. */
  readonly column?: number;
  /** Field path, e.g. `datasets.insurance.stage1.epsilon` or `approvals[0].datasets[1]`; empty for the document itself. */
  readonly path: string;
  readonly expected: string;
  readonly found: string;
  /** `file:line:col: path: ...`, ready to print. */
  readonly message: string;
}

export type PolicyPath = readonly (string | number)[];
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
  /** The file the position is in, when not the one `ValidateOptions.file` names (a consortium's party file). */
  readonly file?: string;
}
/**
 * Maps a field path to a source position. `key` asks for the field's key (unknown fields,
 * dataset names), `value` for its value; a path that does not exist resolves to its
 * deepest existing ancestor.
 */
export type PolicyLocator = (path: PolicyPath, at: "key" | "value") => SourcePosition | undefined;

export interface ValidateOptions {
  /** File name put in front of every message. */
  readonly file?: string;
  readonly locate?: PolicyLocator;
  /** A consortium party whose approvals are being signed: its missing `approvalsSignature` is no issue. */
  readonly unsignedParty?: string;
}

// ---- describing what was found

/** A short description of a value as found in the input: `a list`, `the string "yes"`, `-1`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing (the field is missing)";
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return value.length === 0 ? "an empty list" : "a list";
  if (value instanceof Date) return "a date object";
  if (value instanceof Uint8Array) return "binary data";
  switch (typeof value) {
    case "string": {
      if (value.length === 0) return "an empty string";
      const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
      return `the string ${JSON.stringify(shown)}`;
    }
    case "number":
    case "boolean":
    case "bigint":
      return String(value);
    case "object":
      return Object.keys(value as object).length === 0 ? "an empty map" : "a map";
    default:
      return `a ${typeof value}`;
  }
}

/** `datasets.insurance.stage1`, `approvals[0].datasets[1]`; odd keys are quoted. */
export function formatPath(path: PolicyPath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Damerau-free Levenshtein distance; inputs are short field names. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = saved;
    }
  }
  return row[b.length];
}

/** The known word a typo most likely meant, if one is close enough. */
export function closest(word: string, known: readonly string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_ ]/g, "");
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of known) {
    const [w, k] = [squash(word), squash(candidate)];
    // Same word up to case and separators, or a clear abbreviation ("dp-synth"), else edit distance.
    const score = w === k ? 0 : w.length >= 3 && k.startsWith(w) ? 1 : distance(word.toLowerCase(), candidate.toLowerCase());
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  return bestScore <= limit ? best : undefined;
}

// ---- from what a rule found to a printed issue

/** What a rule found at a field path, before it is located. */
export interface RawIssue {
  readonly path: PolicyPath;
  readonly at: "key" | "value";
  readonly expected: string;
  readonly found: string;
  /** Replaces `expected X, found Y` in the message. */
  readonly detail?: string;
}

export function located(raw: readonly RawIssue[], options: ValidateOptions): PolicyIssue[] {
  const issues = raw.map((r) => {
    const pos = options.locate?.(r.path, r.at);
    return toIssue({
      file: pos?.file ?? options.file,
      line: pos?.line,
      column: pos?.column,
      path: formatPath(r.path),
      expected: r.expected,
      found: r.found,
      detail: r.detail,
    });
  });
  // Top to bottom when located; otherwise in rule order.
  return issues
    .map((issue, i) => ({ issue, i }))
    .sort((a, b) => (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) || (a.issue.column ?? 0) - (b.issue.column ?? 0) || a.i - b.i)
    .map(({ issue }) => issue);
}

/** What an issue says without its location: its detail, or `expected X, found Y`. */
export function issueText(issue: Pick<RawIssue, "expected" | "found" | "detail">): string {
  return issue.detail ?? `expected ${issue.expected}, found ${issue.found}`;
}

/** Build an issue and its one-line message: `file:line:col: path: expected X, found Y`. */
export function toIssue(fields: Omit<PolicyIssue, "message"> & { detail?: string }): PolicyIssue {
  const { detail, ...issue } = fields;
  const where = [issue.file, issue.line, issue.line !== undefined ? issue.column : undefined].filter((x) => x !== undefined).join(":");
  const text = issueText({ ...issue, detail });
  const message = `${where ? `${where}: ` : ""}${issue.path ? `${issue.path}: ` : ""}${text}`;
  return { ...issue, message };
}
