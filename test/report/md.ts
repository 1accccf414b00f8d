/** Reading the access report back: sections, tables, code spans, the Mermaid block. */

/** The text under `heading` (a whole line) up to the next heading of the same or a higher level. */
export function section(md: string, heading: string): string {
  const lines = md.split("\n");
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`heading not found: ${heading}`);
  const level = heading.match(/^#+/)![0].length;
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    const m = lines[i].match(/^(#+) /);
    if (m && m[1].length <= level && !inFence(lines, i)) {
      end = i;
      break;
    }
  }
  return lines.slice(start + 1, end).join("\n");
}

function inFence(lines: string[], index: number): boolean {
  let open = false;
  for (let i = 0; i < index; i++) if (/^```/.test(lines[i])) open = !open;
  return open;
}

/** Split a GFM table row on its unescaped pipes (a backslash escapes the next character). */
export function cells(row: string): string[] {
  const out: string[] = [];
  let current = "";
  for (let i = 0; i < row.length; i++) {
    const ch = row[i];
    if (ch === "\\" && i + 1 < row.length) {
      current += ch + row[i + 1];
      i++;
    } else if (ch === "|") {
      out.push(current.trim());
      current = "";
    } else {
      current += ch;
    }
  }
  out.push(current.trim());
  return out.slice(1, -1);
}

/** The rows of the first table in `text` (header and delimiter row excluded), as cells. */
export function tableRows(text: string): string[][] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith("| "));
  if (start < 0) return [];
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i].startsWith("|"); i++) rows.push(cells(lines[i]));
  return rows;
}

/** The header cells of the first table in `text`. */
export function tableHeader(text: string): string[] {
  const line = text.split("\n").find((l) => l.startsWith("| "));
  return line ? cells(line) : [];
}

/** The content of the code spans in `text`, in order. */
export function codeSpans(text: string): string[] {
  return [...text.matchAll(/(`+)(.+?)\1/g)].map((m) => m[2].replace(/\\\|/g, "|"));
}

/** The body of the first fenced block with `info`. */
export function fencedBlock(md: string, info: string): string {
  const match = md.match(new RegExp("^(`{3,})" + info + "\\n([\\s\\S]*?)\\n\\1$", "m"));
  if (!match) throw new Error(`no \`\`\`${info} block`);
  return match[2];
}

export interface MermaidGraph {
  readonly direction: string;
  readonly nodes: Map<string, string>;
  readonly subgraphs: Map<string, string>;
  readonly edges: { from: string; to: string; label?: string; dotted: boolean }[];
  /** Which subgraph each node was declared in (undefined at top level). */
  readonly parent: Map<string, string | undefined>;
}

const ID = "([A-Za-z][A-Za-z0-9_]*)";
const LABEL = '"([^"]*)"';
const RESERVED = new Set(["end", "subgraph", "graph", "flowchart", "style", "classDef", "class", "click", "linkStyle", "direction"]);

/**
 * A strict structural parse of the flowchart subset the report emits. Throws on any line
 * it does not recognise, unbalanced subgraphs, unsafe ids or labels, duplicate ids and
 * edges to undeclared nodes.
 */
export function parseMermaid(body: string): MermaidGraph {
  const lines = body.split("\n");
  const header = lines[0].match(/^flowchart (LR|TB|TD|RL|BT)$/);
  if (!header) throw new Error(`first line is not a flowchart header: ${lines[0]}`);
  const nodes = new Map<string, string>();
  const subgraphs = new Map<string, string>();
  const parent = new Map<string, string | undefined>();
  const edges: MermaidGraph["edges"] = [];
  const stack: string[] = [];
  const checkId = (id: string) => {
    if (RESERVED.has(id)) throw new Error(`reserved id ${id}`);
    if (nodes.has(id) || subgraphs.has(id)) throw new Error(`duplicate id ${id}`);
  };
  const checkLabel = (label: string) => {
    if (/[<>"`]/.test(label)) throw new Error(`unsafe character in label: ${label}`);
    if (/#(?!\d+;)/.test(label)) throw new Error(`bare # in label: ${label}`);
  };
  for (const raw of lines.slice(1)) {
    const line = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = line.match(new RegExp(`^subgraph ${ID}\\[${LABEL}\\]$`)))) {
      checkId(m[1]);
      checkLabel(m[2]);
      subgraphs.set(m[1], m[2]);
      stack.push(m[1]);
    } else if (line === "end") {
      if (stack.pop() === undefined) throw new Error("`end` without subgraph");
    } else if ((m = line.match(new RegExp(`^${ID}\\[${LABEL}\\]$`)))) {
      checkId(m[1]);
      checkLabel(m[2]);
      nodes.set(m[1], m[2]);
      parent.set(m[1], stack[stack.length - 1]);
    } else if ((m = line.match(new RegExp(`^${ID} (-->|-\\.->)(?:\\|${LABEL}\\|)? ${ID}$`)))) {
      if (m[3] !== undefined) checkLabel(m[3]);
      edges.push({ from: m[1], to: m[4], ...(m[3] !== undefined ? { label: m[3] } : {}), dotted: m[2] === "-.->" });
    } else {
      throw new Error(`unrecognised Mermaid line: ${raw}`);
    }
  }
  if (stack.length > 0) throw new Error(`unclosed subgraph ${stack.join(", ")}`);
  for (const e of edges) {
    if (!nodes.has(e.from)) throw new Error(`edge from undeclared node ${e.from}`);
    if (!nodes.has(e.to)) throw new Error(`edge to undeclared node ${e.to}`);
  }
  return { direction: header[1], nodes, subgraphs, edges, parent };
}
