/**
 * Reading a researcher's workspace tarball: what the JupyterLab extension uploads (the home
 * directory, gzip, arcname `<creator>-workspace`). Everything the image build and the owners'
 * review rely on is decided here, so anything that could change meaning after extraction
 * (links, devices, setuid, paths leaving the workspace, duplicates) is refused, not skipped.
 */
import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { Parser, type ReadEntry } from "tar";
import type { WorkspaceFile } from "./ports";

const gunzipAsync = promisify(gunzip);

/** The workspace cannot be accepted; the message names the entry and what to change. */
export class WorkspaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WorkspaceError";
  }
}

export interface ParseWorkspaceOptions {
  /** Notebook file name; it must be a regular file at the workspace root. */
  readonly notebook: string;
  /** Largest compressed upload, and (unless `maxExpandedBytes`) largest decompressed tar stream. */
  readonly maxBytes: number;
  /** Largest decompressed tar stream (zip bombs). @default maxBytes */
  readonly maxExpandedBytes?: number;
  /** Most entries (files and directories). @default 10000 */
  readonly maxFiles?: number;
}

export interface ParsedWorkspace {
  /** Regular files, paths relative to the workspace root, in tar order. */
  readonly files: WorkspaceFile[];
  /** The notebook, parsed. */
  readonly notebook: Record<string, unknown>;
  /** `metadata.manatee.datasets`, when the notebook names them. */
  readonly datasets?: string[];
  /** `metadata.manatee.purpose`, when the notebook states it. */
  readonly purpose?: string;
  /** Requirement specs from root `requirements*.txt` and notebook `pip install` lines, deduplicated. */
  readonly dependencies: string[];
}

const REGULAR = new Set(["File", "OldFile", "ContiguousFile"]);
const REQUIREMENTS_FILE = /^requirements[^/]*\.txt$/;
const MAX_TEXT_PARSE = 8 * 1024 * 1024;

/** Parse and check a workspace tarball (gzip). Throws WorkspaceError on anything refused. */
export async function parseWorkspace(bytes: Uint8Array, opts: ParseWorkspaceOptions): Promise<ParsedWorkspace> {
  const maxFiles = opts.maxFiles ?? 10_000;
  const maxExpanded = opts.maxExpandedBytes ?? opts.maxBytes;
  if (bytes.length > opts.maxBytes) {
    throw new WorkspaceError(`workspace: ${bytes.length} bytes is over the room's limit of ${opts.maxBytes} (limits.maxWorkspaceBytes); move large files out of the home directory`);
  }
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new WorkspaceError("workspace: expected a gzip-compressed tar (what the JupyterLab extension uploads as `file`)");
  }
  let tarBytes: Buffer;
  try {
    // maxOutputLength stops a zip bomb before it is in memory.
    tarBytes = await gunzipAsync(bytes, { maxOutputLength: maxExpanded });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError) {
      throw new WorkspaceError(`workspace: decompresses to more than ${maxExpanded} bytes (limits.maxWorkspaceBytes); move large files out of the home directory`);
    }
    throw new WorkspaceError(`workspace: not valid gzip (${(e as Error).message})`);
  }

  const files: WorkspaceFile[] = [];
  const contents = new Map<string, Buffer>();
  const kinds = new Map<string, "file" | "dir">();
  const implied = new Set<string>();
  let root: string | undefined;
  let problem: WorkspaceError | undefined;
  let entries = 0;
  const refuse = (msg: string) => {
    problem ??= new WorkspaceError(msg);
  };

  const onEntry = (entry: ReadEntry) => {
    if (problem) return entry.resume();
    entries++;
    if (entries > maxFiles) {
      refuse(`workspace: more than ${maxFiles} entries; remove generated files (caches, virtual environments) from the home directory`);
      return entry.resume();
    }
    const raw = entry.path;
    const rel = workspacePath(raw, (first) => {
      if (root === undefined) root = first;
      return first === root;
    });
    if (typeof rel !== "string") {
      refuse(`workspace entry "${raw}": ${rel.error}`);
      return entry.resume();
    }
    const mode = entry.mode ?? 0;
    if (mode & 0o6000) {
      refuse(`workspace entry "${raw}": setuid/setgid bit set (mode ${mode.toString(8)}); clear it with chmod u-s,g-s`);
      return entry.resume();
    }
    if (entry.type === "Directory") {
      if (rel === "") return entry.resume();
      claim(rel, "dir", raw);
      return entry.resume();
    }
    if (!REGULAR.has(entry.type)) {
      const what = entry.type === "SymbolicLink" ? "symbolic link" : entry.type === "Link" ? "hard link" : `${entry.type} entry`;
      refuse(`workspace entry "${raw}": ${what} refused (only regular files and directories); replace it with a copy of the file`);
      return entry.resume();
    }
    if (rel === "") {
      refuse(`workspace entry "${raw}": a file where the workspace directory should be`);
      return entry.resume();
    }
    if (!claim(rel, "file", raw)) return entry.resume();
    const hash = createHash("sha256");
    const keep = isTextOfInterest(rel, opts.notebook) ? ([] as Buffer[]) : undefined;
    let size = 0;
    entry.on("data", (chunk: Buffer) => {
      size += chunk.length;
      hash.update(chunk);
      keep?.push(chunk);
    });
    entry.on("end", () => {
      files.push({ path: rel, sha256: hash.digest("hex"), size });
      if (keep) contents.set(rel, Buffer.concat(keep));
    });
  };

  // Paths must be unique, and nothing may sit below a path that is a file.
  const claim = (rel: string, kind: "file" | "dir", raw: string): boolean => {
    if (kinds.has(rel)) {
      refuse(`workspace entry "${raw}": duplicate path "${rel}" (a later entry would silently replace the first)`);
      return false;
    }
    const parts = rel.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (kinds.get(parent) === "file") {
        refuse(`workspace entry "${raw}": "${parent}" is a file, so "${rel}" cannot be below it`);
        return false;
      }
    }
    if (kind === "file" && implied.has(rel)) {
      refuse(`workspace entry "${raw}": "${rel}" is already a directory of earlier entries`);
      return false;
    }
    for (let i = 1; i < parts.length; i++) implied.add(parts.slice(0, i).join("/"));
    kinds.set(rel, kind);
    return true;
  };

  const parser = new Parser({
    strict: true,
    onwarn: (code: string, message: string | Error) => refuse(`workspace: damaged tar (${code}: ${message instanceof Error ? message.message : message})`),
  });
  parser.on("entry", onEntry);
  parser.on("error", (e: Error) => refuse(`workspace: damaged tar (${e.message})`));
  try {
    // The parser is synchronous over a buffer: every entry has been seen when end() returns.
    parser.end(tarBytes);
  } catch (e) {
    refuse(`workspace: damaged tar (${(e as Error).message})`);
  }
  if (problem) throw problem;
  if (root === undefined) throw new WorkspaceError("workspace: the tarball is empty");

  const nbBytes = contents.get(opts.notebook);
  if (!nbBytes) {
    throw new WorkspaceError(`workspace: notebook "${opts.notebook}" is not at the workspace root; save it in the home directory and submit it from there`);
  }
  let notebook: unknown;
  try {
    notebook = JSON.parse(nbBytes.toString("utf8"));
  } catch (e) {
    throw new WorkspaceError(`workspace: notebook "${opts.notebook}" is not valid JSON (${(e as Error).message})`);
  }
  if (notebook === null || typeof notebook !== "object" || Array.isArray(notebook)) {
    throw new WorkspaceError(`workspace: notebook "${opts.notebook}" is not a notebook (expected a JSON object)`);
  }
  const nb = notebook as Record<string, unknown>;
  const meta = (nb.metadata as Record<string, unknown> | undefined)?.manatee as Record<string, unknown> | undefined;
  let datasets: string[] | undefined;
  let purpose: string | undefined;
  if (meta !== undefined) {
    if (meta === null || typeof meta !== "object") throw new WorkspaceError(`notebook "${opts.notebook}": metadata.manatee: expected an object with datasets and purpose`);
    if (meta.datasets !== undefined) {
      if (!Array.isArray(meta.datasets) || meta.datasets.some((d) => typeof d !== "string" || d.length === 0)) {
        throw new WorkspaceError(`notebook "${opts.notebook}": metadata.manatee.datasets: expected a list of dataset names, e.g. ["insurance"]`);
      }
      datasets = [...new Set(meta.datasets as string[])];
    }
    if (meta.purpose !== undefined) {
      if (typeof meta.purpose !== "string") throw new WorkspaceError(`notebook "${opts.notebook}": metadata.manatee.purpose: expected a string`);
      purpose = meta.purpose;
    }
  }

  const deps: string[] = [];
  const requirementFiles = [...contents.keys()].filter((p) => REQUIREMENTS_FILE.test(p)).sort();
  for (const p of requirementFiles) {
    deps.push(...requirementsFromFile(contents.get(p)!.toString("utf8"), p, requirementFiles));
  }
  deps.push(...requirementsFromNotebook(nb, opts.notebook, requirementFiles));
  return { files, notebook: nb, datasets, purpose, dependencies: [...new Set(deps)] };
}

function isTextOfInterest(rel: string, notebook: string): boolean {
  return rel === notebook || REQUIREMENTS_FILE.test(rel);
}

/**
 * Strip the `<creator>-workspace` component; refuse absolute paths, `..` and entries outside
 * the single top directory. Returns the relative path ("" for the top directory itself).
 */
function workspacePath(raw: string, sameRoot: (first: string) => boolean): string | { error: string } {
  if (raw.includes("\0")) return { error: "NUL in path" };
  if (raw.startsWith("/") || /^[A-Za-z]:/.test(raw) || raw.startsWith("\\")) {
    return { error: "absolute path refused; entries must be relative to the workspace" };
  }
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) return { error: "'..' refused: entries must stay inside the workspace" };
  if (parts.some((p) => p.includes("\\"))) return { error: "backslash in path refused" };
  if (parts.length === 0) return { error: "empty path" };
  if (!sameRoot(parts[0])) {
    return { error: "outside the workspace directory (every entry must be below one top directory, e.g. `<user>-workspace/`)" };
  }
  return parts.slice(1).join("/");
}

// Flags that only change pip's output or caching, never what is installed from where.
const HARMLESS_FLAGS = new Set(["-q", "-qq", "-qqq", "--quiet", "-U", "--upgrade", "--no-cache-dir", "--disable-pip-version-check", "--no-input", "--progress-bar=off", "-v", "--verbose"]);
const SOURCE_FLAGS = new Set(["-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host", "--no-index"]);
const SPEC =
  /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._-]+(?:\s*,\s*[A-Za-z0-9._-]+)*\])?\s*(?:(?:===|==|~=|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+(?:\s*,\s*(?:===|==|~=|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+)*)?\s*(?:;[^;]*)?$/;

/** One requirement spec, or WorkspaceError saying why it cannot be installed at build time. */
function checkSpec(spec: string, where: string): string {
  const s = spec.trim();
  if (/:\/\//.test(s) || /\s@\s|^[^;]*@/.test(s.split(";")[0])) {
    throw new WorkspaceError(`${where}: "${s}" installs from a URL; name a package from the index (e.g. pandas==2.2.2)`);
  }
  if (/^[./~]/.test(s) || /[\\/]/.test(s.split(";")[0]) || /\.(whl|zip|tar\.gz|tgz)$/i.test(s)) {
    throw new WorkspaceError(`${where}: "${s}" is a local path; name a package from the index (e.g. pandas==2.2.2)`);
  }
  if (!SPEC.test(s)) {
    throw new WorkspaceError(`${where}: "${s}" is not a requirement spec (name[extras] with optional version, e.g. scikit-learn>=1.4)`);
  }
  const semi = s.indexOf(";");
  return semi < 0 ? s.replace(/\s+/g, "") : s.slice(0, semi).replace(/\s+/g, "") + "; " + s.slice(semi + 1).trim();
}

function refuseFlag(flag: string, where: string): never {
  const name = flag.split("=")[0];
  if (name === "-e" || name === "--editable") {
    throw new WorkspaceError(`${where}: editable installs (${name}) are refused; name a package from the index`);
  }
  if (SOURCE_FLAGS.has(name)) {
    throw new WorkspaceError(`${where}: ${name} is refused: packages come from the room's configured index only`);
  }
  throw new WorkspaceError(`${where}: pip option ${name} is not supported at build time; keep only package specs (e.g. pandas==2.2.2)`);
}

function requirementsFromFile(text: string, file: string, rootRequirements: readonly string[]): string[] {
  const out: string[] = [];
  const lines = joinContinuations(text.slice(0, MAX_TEXT_PARSE).split(/\r?\n/));
  lines.forEach((line, i) => {
    const where = `${file} line ${i + 1}`;
    const l = line.replace(/(^|\s)#.*$/, "").trim();
    if (!l) return;
    if (l.startsWith("-")) {
      const [flag, arg] = l.split(/\s+/, 2);
      if ((flag === "-r" || flag === "--requirement") && arg && rootRequirements.includes(arg)) return;
      if (HARMLESS_FLAGS.has(flag)) return;
      refuseFlag(flag, where);
    }
    out.push(checkSpec(l, where));
  });
  return out;
}

const PIP_LINE = /^\s*[!%]\s*(?:pip3?|python3?\s+-m\s+pip|(?:\S*\/)?python3?\s+-m\s+pip)\s+install\b(.*)$/;

function requirementsFromNotebook(nb: Record<string, unknown>, name: string, rootRequirements: readonly string[]): string[] {
  const out: string[] = [];
  const cells = Array.isArray(nb.cells) ? nb.cells : [];
  cells.forEach((cell: unknown, ci: number) => {
    const c = cell as { cell_type?: unknown; source?: unknown };
    if (!c || c.cell_type !== "code") return;
    const source = Array.isArray(c.source) ? c.source.join("") : typeof c.source === "string" ? c.source : "";
    joinContinuations(source.split(/\r?\n/)).forEach((line) => {
      const m = PIP_LINE.exec(line);
      if (!m) return;
      const where = `notebook "${name}" cell ${ci + 1} ("${line.trim().slice(0, 80)}")`;
      const tokens = shellWords(m[1], where);
      for (let i = 0; i < tokens.length; i++) {
        const t = tokens[i];
        if (t === "&&" || t === ";" || t === "||" || t === "|") break;
        if (/[$`{}]/.test(t)) throw new WorkspaceError(`${where}: "${t}" uses a variable; write the package spec literally`);
        if (t.startsWith("-")) {
          if (t === "-r" || t === "--requirement") {
            const file = tokens[++i];
            if (file && rootRequirements.includes(file)) continue;
            throw new WorkspaceError(`${where}: -r ${file ?? ""}: only requirements*.txt at the workspace root are installed; move the file there`);
          }
          if (HARMLESS_FLAGS.has(t)) continue;
          refuseFlag(t, where);
        }
        out.push(checkSpec(t, where));
      }
    });
  });
  return out;
}

function joinContinuations(lines: string[]): string[] {
  const out: string[] = [];
  let acc = "";
  for (const l of lines) {
    if (l.endsWith("\\")) {
      acc += l.slice(0, -1) + " ";
      continue;
    }
    out.push(acc + l);
    acc = "";
  }
  if (acc) out.push(acc);
  return out;
}

/** Split like a POSIX shell would for simple quoting; operators become their own tokens. */
function shellWords(s: string, where: string): string[] {
  const out: string[] = [];
  let cur = "";
  let has = false;
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (quote === '"' && ch === "\\" && /["\\$`]/.test(s[i + 1] ?? "")) cur += s[++i];
      else if (ch === quote) quote = undefined;
      else cur += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has) out.push(cur);
      cur = "";
      has = false;
    } else if (ch === "#" && !has) {
      break;
    } else if (ch === ";" || ch === "|" || ch === "&" || ch === ">" || ch === "<") {
      // `<`/`>` inside an unquoted spec would be a shell redirect; treat like an operator.
      if (has) out.push(cur);
      out.push(ch === "&" || ch === "|" ? (s[i + 1] === ch ? (i++, ch + ch) : ch) : ch === ";" ? ";" : "|");
      cur = "";
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (quote) throw new WorkspaceError(`${where}: unterminated quote`);
  if (has) out.push(cur);
  return out;
}
