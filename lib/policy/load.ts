/**
 * The policy's YAML front end: parse with `yaml`, keep node positions, and run the shared
 * rules (validate.ts, validation/) with a locator so every issue names its file, line and column.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Document, LineCounter, Node, isMap, isScalar, isSeq, parseDocument } from "yaml";
import { CleanRoomPolicy, CleanRoomPolicyInput, normalizePolicy } from "./model";
import { PolicyError, PolicyIssue, PolicyLocator, PolicyPath, formatPath, toIssue, validatePolicyInput } from "./validate";
import { isPlainMap } from "./validation/checker";
import { COMPACT_JWS } from "./validation/parties";

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

/** A parsed YAML file: its document, line index and name, for locating issues in it. */
interface YamlSource {
  readonly file: string;
  readonly doc: Document;
  readonly lines: LineCounter;
}

function emptyDocumentIssue(file: string, expected: string): PolicyIssue {
  return toIssue({ file, line: 1, column: 1, path: "", expected, found: "an empty document", detail: `expected ${expected}, found an empty document` });
}

/** Parse one YAML file; `issues` holds its syntax and duplicate-key problems, `value` is absent when it cannot be read as a map. */
function parseYaml(text: string, file: string, expected: string): { source: YamlSource; value?: unknown; issues: PolicyIssue[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const source = { file, doc, lines };
  const syntax = yamlIssues(doc, lines, file);
  if (syntax.fatal) return { source, issues: syntax.issues };
  if (doc.contents === null) return { source, issues: [...syntax.issues, emptyDocumentIssue(file, expected)] };
  return { source, value: doc.toJS({ maxAliasCount: 100 }), issues: syntax.issues };
}

export interface ParsePolicyOptions {
  /**
   * Reads the files a room file names (party files, approvals signatures), by a path already
   * resolved against the naming file's directory. @default readFileSync(path, "utf8")
   */
  readonly readFile?: (path: string) => string;
  /**
   * Load as if this party had no `approvalsSignature` yet: `manatee policy sign` loads the room
   * before the signature it writes exists.
   * @default - every party's signature is read and required with its key
   */
  readonly unsignedParty?: string;
}

const PARTY_FILE_EXPECTED = "a map of the party's settings (project, datasets, approvals, approvalsKey, approvalsSignature)";

/**
 * Replace each `parties.<p>: { file: F }` by F's contents (F relative to the room file) and each
 * approvalsSignature that is a path by its file's contents (relative to the file naming it).
 * Mutates `root`; returns the party files (for locating issues in them) and what could not be read.
 */
function resolvePartyFiles(root: unknown, roomFile: string, locateRoot: PolicyLocator, options: ParsePolicyOptions) {
  const read = options.readFile ?? ((file: string) => readFileSync(file, "utf8"));
  const sources = new Map<string, YamlSource>();
  const issues: PolicyIssue[] = [];
  if (!isPlainMap(root) || !isPlainMap(root.parties)) return { sources, issues };
  const parties = root.parties;
  const locate: PolicyLocator = (path, at) => {
    const source = path[0] === "parties" && path.length > 2 ? sources.get(String(path[1])) : undefined;
    const pos = source ? yamlLocator(source.doc, source.lines)(path.slice(2), at) : undefined;
    return source ? pos && { ...pos, file: source.file } : locateRoot(path, at);
  };
  const fail = (path: PolicyPath, expected: string, detail: string) => {
    const pos = locate(path, "value");
    issues.push(toIssue({ file: pos?.file ?? roomFile, line: pos?.line, column: pos?.column, path: formatPath(path), expected, found: detail, detail }));
  };
  for (const [name, section] of Object.entries(parties)) {
    const only = isPlainMap(section) && typeof section.file === "string" && Object.keys(section).every((k) => k === "file" || section[k] === undefined);
    if (!only) continue;
    const file = join(dirname(roomFile), section.file as string);
    let text: string;
    try {
      text = read(file);
    } catch (err) {
      fail(["parties", name, "file"], "a readable party file", `cannot read the party file ${file}: ${(err as Error).message}`);
      continue;
    }
    const parsed = parseYaml(text, file, PARTY_FILE_EXPECTED);
    issues.push(...parsed.issues);
    sources.set(name, parsed.source);
    if (parsed.value === undefined) {
      delete parties[name];
      continue;
    }
    if (isPlainMap(parsed.value) && parsed.value.file !== undefined) {
      const pos = yamlLocator(parsed.source.doc, parsed.source.lines)(["file"], "key");
      const detail = `a party file cannot name another file: put the party's settings (project, datasets, approvals, ...) in ${file} itself`;
      issues.push(toIssue({ file, line: pos?.line, column: pos?.column, path: "file", expected: PARTY_FILE_EXPECTED, found: detail, detail }));
      delete parsed.value.file;
    }
    parties[name] = parsed.value;
  }
  for (const [name, section] of Object.entries(parties)) {
    if (!isPlainMap(section)) continue;
    if (name === options.unsignedParty) delete section.approvalsSignature;
    const signature = section.approvalsSignature;
    if (typeof signature !== "string" || COMPACT_JWS.test(signature) || signature.trim() === "") continue;
    const file = join(dirname(sources.get(name)?.file ?? roomFile), signature);
    try {
      section.approvalsSignature = read(file).trim();
    } catch (err) {
      // Left as the path: the rules' "not a JWS" on this field gives way to this issue.
      fail(["parties", name, "approvalsSignature"], "a compact JWS or a readable file holding one", `cannot read the approvals signature ${file}: ${(err as Error).message}`);
    }
  }
  return { sources, issues, locate };
}

/**
 * Parse and validate a policy document (YAML 1.2; JSON is YAML too). Throws a PolicyError
 * with every issue, each located as `file:line:col` of the file it is in (a consortium's party
 * files are read relative to `fileName`). Defaults are applied by `normalizePolicy`.
 */
export function parsePolicy(text: string, fileName: string, options: ParsePolicyOptions = {}): CleanRoomPolicy {
  const room = parseYaml(text, fileName, "a map of clean room settings (name, project, region, zone, datasets, ...)");
  if (room.value === undefined) throw new PolicyError(room.issues);
  const input = room.value;
  const locateRoot = yamlLocator(room.source.doc, room.source.lines);
  const parties = resolvePartyFiles(input, fileName, locateRoot, options);
  // A file that could not be read is the one issue of the field that names it.
  const unread = new Set(parties.issues.map((i) => `${i.file}\0${i.path}`));
  const issues = [
    ...room.issues,
    ...parties.issues,
    ...validatePolicyInput(input, { file: fileName, locate: parties.locate ?? locateRoot, unsignedParty: options.unsignedParty }).filter(
      (i) => !unread.has(`${i.file}\0${i.path}`),
    ),
  ];
  if (issues.length > 0) {
    // The room file first, then each party file; top to bottom in each.
    const order = [fileName, ...[...parties.sources.values()].map((s) => s.file)];
    throw new PolicyError(
      issues.sort((a, b) => order.indexOf(a.file!) - order.indexOf(b.file!) || a.line! - b.line! || a.column! - b.column!),
    );
  }
  return normalizePolicy(input as CleanRoomPolicyInput);
}

/** Read and parse a policy file; errors name `path` as given. */
export function loadPolicyFile(path: string, options: ParsePolicyOptions = {}): CleanRoomPolicy {
  return parsePolicy(readFileSync(path, "utf8"), path, options);
}
