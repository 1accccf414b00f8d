/**
 * Markdown building blocks for the access report. Everything a policy author typed
 * (purposes, approvers, principals, names) passes through `text` or `code`, so a
 * purpose cannot open a link, a heading, raw HTML or a new table column.
 */

/** Characters that start inline Markdown or HTML anywhere in a line (CommonMark + GFM). */
const INLINE_SPECIAL = /[\\`*_{}[\]<>#!~|]/g;

/** One line of plain text: line breaks folded, HTML entities and inline syntax escaped. */
export function text(value: string): string {
  return value
    .replace(/[\r\n\u2028\u2029]+/g, " ")
    .replace(/&/g, "&amp;")
    .replace(INLINE_SPECIAL, (c) => (c === "<" ? "&lt;" : c === ">" ? "&gt;" : `\\${c}`))
    .replace(/^([-+=])/, "\\$1")
    .replace(/^(\d+)([.)])/, "$1\\$2");
}

/**
 * An inline code span. Code spans take no escapes, so the fence is one backtick longer
 * than the longest run inside; pipes are escaped because GFM splits table cells first.
 */
export function code(value: string): string {
  const flat = value.replace(/[\r\n\u2028\u2029]+/g, " ");
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  const pad = flat.startsWith("`") || flat.endsWith("`") ? " " : "";
  return `${fence}${pad}${flat.replace(/\|/g, "\\|")}${pad}${fence}`;
}

/** A fenced block whose fence cannot be closed by its content. */
export function fenced(info: string, body: string): string {
  const longest = Math.max(2, ...(body.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  return `${fence}${info}\n${body}\n${fence}`;
}

/** A GFM table. Cells must already be escaped with `text`/`code`. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** A bulleted list; an empty list renders as `empty`. */
export function bullets(items: readonly string[], empty = "- none"): string {
  return items.length === 0 ? empty : items.map((i) => `- ${i}`).join("\n");
}

/** Numbers without binary noise: 0.07 * 100 prints 7, not 7.000000000000001. */
export function num(value: number): string {
  return String(Number(value.toPrecision(12)));
}

export function yesNo(value: boolean): string {
  return value ? "**yes**" : "no";
}

/** An approval's or grant's status: expiry is evaluated only when the report was given a date. */
export function status(expired: boolean | undefined, expires: string | undefined): string {
  if (expires === undefined) return "active, never expires";
  if (expired === undefined) return "not evaluated (no date given)";
  return expired ? "**EXPIRED**" : "active";
}
