/**
 * The document walker: typed reads of plain values (maps with known fields, strings, numbers,
 * lists without duplicates, IAM principals) that collect every issue instead of stopping at the first.
 */
import { EXPECT } from "./expectations";
import { PolicyPath, RawIssue, closest, describeValue, formatPath } from "./issues";
import { DOMAIN, EMAIL } from "./vocabulary";

export type Plain = Record<string, unknown>;

export function isPlainMap(value: unknown): value is Plain {
  return (
    value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Date) && !(value instanceof Uint8Array)
  );
}

export class Checker {
  readonly issues: RawIssue[] = [];

  /**
   * @param opaque values no rule can judge yet (a construct's deploy-time tokens): string and
   * number rules accept them. A room file has none.
   */
  constructor(readonly opaque: (value: unknown) => boolean = () => false) {}

  fail(path: PolicyPath, expected: string, value: unknown, extra: Partial<Pick<RawIssue, "at" | "detail" | "found">> = {}): undefined {
    this.issues.push({ path, at: extra.at ?? "value", expected, found: extra.found ?? describeValue(value), detail: extra.detail });
    return undefined;
  }

  /** A map with only `known` fields (undefined values count as absent) and every `required` field (name → expectation). */
  map(path: PolicyPath, value: unknown, expected: string, known: readonly string[], required: Record<string, string> = {}): Plain | undefined {
    if (!isPlainMap(value)) return this.fail(path, expected, value);
    for (const key of Object.keys(value)) {
      if (value[key] === undefined || known.includes(key)) continue;
      this.unknownField([...path, key], key, known);
    }
    for (const [key, expectation] of Object.entries(required)) {
      if (value[key] === undefined) this.fail([...path, key], expectation, undefined);
    }
    return value;
  }

  unknownField(path: PolicyPath, key: string, known: readonly string[], detailPrefix = "unknown field"): void {
    const guess = closest(key, known);
    const list = `one of ${known.join(", ")}`;
    this.issues.push({
      path,
      at: "key",
      expected: list,
      found: `the field ${JSON.stringify(key)}`,
      detail: `${detailPrefix}; expected ${list}${guess ? `; did you mean "${guess}"?` : ""}`,
    });
  }

  string(path: PolicyPath, value: unknown, expected: string, valid: (s: string) => boolean): string | undefined {
    if (this.opaque(value)) return value as string;
    if (typeof value !== "string" || !valid(value)) return this.fail(path, expected, value);
    return value;
  }

  oneOf<T extends string>(path: PolicyPath, value: unknown, allowed: readonly T[], hint?: (found: string) => string | undefined): T | undefined {
    if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
    const expected = `one of ${allowed.join(", ")}`;
    if (typeof value !== "string") return this.fail(path, expected, value);
    const guess = closest(value, allowed);
    const extra = hint?.(value) ?? (guess ? `did you mean "${guess}"?` : undefined);
    return this.fail(path, expected, value, extra ? { detail: `expected ${expected}, found ${describeValue(value)}; ${extra}` } : {});
  }

  number(path: PolicyPath, value: unknown, expected: string, valid: (n: number) => boolean): number | undefined {
    if (this.opaque(value)) return value as number;
    if (typeof value !== "number" || !Number.isFinite(value) || !valid(value)) return this.fail(path, expected, value);
    return value;
  }

  /** A list whose items pass `item`; duplicates are errors (they would become duplicate IAM grants). */
  list<T>(
    path: PolicyPath,
    value: unknown,
    expected: string,
    item: (path: PolicyPath, value: unknown) => T | undefined,
    opts: { nonEmpty?: boolean; unique?: boolean } = {},
  ): T[] | undefined {
    if (!Array.isArray(value) || (opts.nonEmpty && value.length === 0)) return this.fail(path, expected, value);
    const out: T[] = [];
    const seen = new Map<string, number>();
    value.forEach((v, i) => {
      const checked = item([...path, i], v);
      if (checked === undefined) return;
      const key = JSON.stringify(v);
      if (opts.unique !== false && seen.has(key)) {
        this.fail([...path, i], "each entry once", v, {
          detail: `duplicate entry ${describeValue(v)}, already at ${formatPath([...path, seen.get(key)!])}; list each entry once`,
        });
        return;
      }
      seen.set(key, i);
      out.push(checked);
    });
    return out;
  }

  principal(path: PolicyPath, value: unknown): string | undefined {
    if (value === "allUsers" || value === "allAuthenticatedUsers") {
      return this.fail(path, EXPECT.principal, value, {
        detail: `expected ${EXPECT.principal}, found ${describeValue(value)}: a clean room never grants public access`,
      });
    }
    if (typeof value !== "string") return this.fail(path, EXPECT.principal, value);
    const colon = value.indexOf(":");
    const kind = colon > 0 ? value.slice(0, colon) : "";
    const id = value.slice(colon + 1);
    const ok =
      (["user", "group", "serviceAccount"].includes(kind) && EMAIL.test(id)) || (kind === "domain" && DOMAIN.test(id));
    return ok ? value : this.fail(path, EXPECT.principal, value);
  }
}

export function checkBoolean(c: Checker, path: PolicyPath, value: unknown, expected: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") return c.fail(path, expected, value);
  return value;
}
