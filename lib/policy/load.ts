/**
 * The policy's YAML front end: parse with `yaml`, keep node positions, and run the shared
 * rules (validate.ts, validation/) with a locator so every issue names its file, line and column.
 */
import { readFileSync } from "node:fs";
import { Document, LineCounter, Node, isMap, isScalar, isSeq, parseDocument } from "yaml";
import { CleanRoomPolicy, CleanRoomPolicyInput, normalizePolicy } from "./model";
import { PolicyError, PolicyIssue, PolicyLocator, PolicyPath, formatPath, toIssue, validatePolicyInput } from "./validate";

function keyOf(node: unknown): string | undefined {
  if (isScalar(node)) return String(node.value);
  return typeof node === "string" ? node : undefined;
}

interface Resolved {
  /** Deepest node reached and the key node that led to it. */
  readonly node: Node | null | undefined;
  readonly key: Node | undefined;
  /** Whether every path segment was found. */
  readonly complete: boolean;
}

function resolve(doc: Document, path: PolicyPath): Resolved {
  let node = doc.contents as Node | null | undefined;
  let key: Node | undefined;
  for (const seg of path) {
    if (isMap(node)) {
      // The last of duplicate keys: that is the value `toJS` keeps.
      const pair = [...node.items].reverse().find((p) => keyOf(p.key) === String(seg));
      if (!pair) return { node, key, complete: false };
      key = pair.key as Node;
      node = pair.value as Node | null;
      if (node === null) return { node, key, complete: seg === path[path.length - 1] };
    } else if (isSeq(node) && typeof seg === "number" && seg < node.items.length) {
      node = node.items[seg] as Node;
      key = undefined;
    } else {
      return { node, key, complete: false };
    }
  }
  return { node, key, complete: true };
}

/** A locator over a parsed document: the path's key or value, or its deepest existing ancestor. */
export function yamlLocator(doc: Document, lines: LineCounter): PolicyLocator {
  return (path, at) => {
    const { node, key, complete } = resolve(doc, path);
    const target = (at === "key" && complete && key) || (node?.range ? node : key);
    const offset = target?.range?.[0];
    if (offset === undefined) return { line: 1, column: 1 };
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
}

/** The path of the map key that starts at `offset` (for duplicate-key errors). */
function keyPathAt(node: unknown, offset: number, path: (string | number)[] = []): (string | number)[] | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      const k = keyOf(pair.key);
      const keyNode = pair.key as Node | null;
      if (k !== undefined && keyNode?.range?.[0] === offset) return [...path, k];
      const inner = k !== undefined ? keyPathAt(pair.value, offset, [...path, k]) : undefined;
      if (inner) return inner;
    }
  } else if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) {
      const inner = keyPathAt(node.items[i], offset, [...path, i]);
      if (inner) return inner;
    }
  }
  return undefined;
}

function yamlIssues(doc: Document, lines: LineCounter, file: string): { issues: PolicyIssue[]; fatal: boolean } {
  const issues: PolicyIssue[] = [];
  let fatal = false;
  for (const error of doc.errors) {
    const { line, col } = lines.linePos(error.pos[0]);
    if (error.code === "DUPLICATE_KEY") {
      const path = keyPathAt(doc.contents, error.pos[0]) ?? [];
      const first = resolveFirstKeyLine(doc, lines, path);
      issues.push(
        toIssue({
          file,
          line,
          column: col,
          path: formatPath(path),
          expected: "each field once",
          found: "the field a second time",
          detail: `duplicate key${first ? ` (first set on line ${first})` : ""}; each field may appear only once, remove one of them`,
        }),
      );
    } else {
      fatal = true;
      // yaml's messages end in " at line L, column C" plus an excerpt: we print our own position.
      const text = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
      issues.push(
        toIssue({ file, line, column: col, path: "", expected: "valid YAML", found: text, detail: `YAML syntax error: ${text}` }),
      );
    }
  }
  return { issues, fatal };
}

function resolveFirstKeyLine(doc: Document, lines: LineCounter, path: PolicyPath): number | undefined {
  if (path.length === 0) return undefined;
  const parent = resolve(doc, path.slice(0, -1));
  if (!parent.complete || !isMap(parent.node)) return undefined;
  const pair = parent.node.items.find((p) => keyOf(p.key) === String(path[path.length - 1]));
  const offset = (pair?.key as Node | undefined)?.range?.[0];
  return offset === undefined ? undefined : lines.linePos(offset).line;
}

/**
 * Parse and validate a policy document (YAML 1.2; JSON is YAML too). Throws a PolicyError
 * with every issue, each located as `file:line:col`. Defaults are applied by `normalizePolicy`.
 */
export function parsePolicy(text: string, fileName: string): CleanRoomPolicy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const syntax = yamlIssues(doc, lines, fileName);
  if (syntax.fatal) throw new PolicyError(syntax.issues);
  if (doc.contents === null) {
    throw new PolicyError([
      toIssue({
        file: fileName,
        line: 1,
        column: 1,
        path: "",
        expected: "a map of clean room settings",
        found: "an empty document",
        detail: "expected a map of clean room settings (name, project, region, zone, datasets, ...), found an empty document",
      }),
    ]);
  }
  const input: unknown = doc.toJS({ maxAliasCount: 100 });
  const issues = [...syntax.issues, ...validatePolicyInput(input, { file: fileName, locate: yamlLocator(doc, lines) })];
  if (issues.length > 0) throw new PolicyError(issues.sort((a, b) => a.line! - b.line! || a.column! - b.column!));
  return normalizePolicy(input as CleanRoomPolicyInput);
}

/** Read and parse a policy file; errors name `path` as given. */
export function loadPolicyFile(path: string): CleanRoomPolicy {
  return parsePolicy(readFileSync(path, "utf8"), path);
}
