/**
 * OCI image building blocks without a container engine: image types and media types, `sha256:`
 * digests, deterministic layers (ustar + gzip) and a tar reader for review. The `Registry`
 * interface is what the builders, the review and the signature code talk to; `LocalRegistry`
 * (disk) and `RemoteRegistry` (OCI distribution API, e.g. Artifact Registry) implement it.
 */
import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";

export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  /** Layer media type of a cosign signature (the layer blob is the simple-signing payload). */
  cosignSimpleSigning: "application/vnd.dev.cosign.simplesigning.v1+json",
} as const;

/** Manifest media types a registry client asks for (`Accept`). */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.ociManifest,
  MediaType.dockerManifest,
  MediaType.ociIndex,
  MediaType.dockerManifestList,
];

/** Single-image manifest media types (not indexes). */
export const IMAGE_MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  /** Foreign layers only: where to fetch the blob instead of the registry. */
  readonly urls?: readonly string[];
}

export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The runtime part of an image config (Docker's capitalised keys, which OCI kept). */
export interface ContainerConfig {
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly Env?: readonly string[] | null;
  readonly WorkingDir?: string;
  readonly User?: string;
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly ExposedPorts?: Readonly<Record<string, object>> | null;
  readonly Volumes?: Readonly<Record<string, object>> | null;
  readonly [key: string]: unknown;
}

export interface HistoryEntry {
  readonly created?: string;
  readonly created_by?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
  readonly [key: string]: unknown;
}

export interface ImageConfig {
  readonly architecture?: string;
  readonly os?: string;
  readonly created?: string;
  readonly config?: ContainerConfig;
  readonly rootfs: { readonly type: "layers"; readonly diff_ids: readonly string[] };
  readonly history?: readonly HistoryEntry[];
  readonly [key: string]: unknown;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${sha256Hex(bytes)}`;
}

/** Lowercase hex SHA-256 of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** True for `sha256:` followed by 64 lowercase hex digits (the only digests the room uses). */
export function isDigest(value: unknown): value is string {
  return typeof value === "string" && DIGEST.test(value);
}

/** The hex part of a `sha256:` digest; throws naming the value otherwise. */
export function digestHex(digest: string): string {
  if (!isDigest(digest)) throw new Error(`not a sha256 digest: ${JSON.stringify(digest)} (expected sha256: and 64 lowercase hex digits)`);
  return digest.slice("sha256:".length);
}

/** Throws when `bytes` do not hash to `digest` (what every read of content-addressed data checks). */
export function verifyDigest(bytes: Uint8Array, digest: string, what: string): void {
  const actual = sha256Digest(bytes);
  if (actual !== digest) throw new DigestMismatchError(`${what}: content hashes to ${actual}, not ${digest}: refusing it`);
}

export class DigestMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DigestMismatchError";
  }
}

/** Splits `repo@sha256:…` into its repository and digest; throws naming the reference otherwise. */
export function parseDigestReference(reference: string): { repo: string; digest: string } {
  const at = reference.lastIndexOf("@");
  const repo = at > 0 ? reference.slice(0, at) : "";
  const digest = at > 0 ? reference.slice(at + 1) : "";
  if (!repo || !isDigest(digest)) {
    throw new Error(`image reference ${JSON.stringify(reference)}: expected <repository>@sha256:<64 hex digits> (images are pulled by digest, never by tag)`);
  }
  return { repo, digest };
}

// ---------------------------------------------------------------------------------------------
// Registry

/** A manifest as stored: its exact bytes (what the digest covers), media type and digest. */
export interface StoredManifest {
  readonly bytes: Uint8Array;
  readonly mediaType: string;
  readonly digest: string;
}

/**
 * What the room needs of an OCI registry. Repositories are named as in image references
 * (`europe-west4-docker.pkg.dev/p/repo/name` or a local name); implementations verify digests on read.
 */
export interface Registry {
  /** The manifest a tag or `sha256:` digest names, or undefined when there is none. */
  getManifest(repo: string, reference: string): Promise<StoredManifest | undefined>;
  /** Stores a manifest, tagged when `tag` is given; returns its digest. */
  putManifest(repo: string, tag: string | undefined, bytes: Uint8Array, mediaType: string): Promise<string>;
  /** A blob's bytes (verified against the digest); throws RegistryNotFoundError when absent. */
  getBlob(repo: string, digest: string): Promise<Uint8Array>;
  /** Stores a blob; returns its digest. */
  putBlob(repo: string, bytes: Uint8Array): Promise<string>;
  hasBlob?(repo: string, digest: string): Promise<boolean>;
  listTags?(repo: string): Promise<string[]>;
}

export class RegistryNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RegistryNotFoundError";
  }
}

/** Reads and parses a single-image manifest; throws naming the reference when it is absent or not an image. */
export async function readImageManifest(registry: Registry, repo: string, reference: string): Promise<{ stored: StoredManifest; manifest: ImageManifest }> {
  const stored = await registry.getManifest(repo, reference);
  if (!stored) throw new RegistryNotFoundError(`${repo}@${reference}: no such manifest in the registry`);
  const manifest = parseImageManifest(stored, `${repo}@${reference}`);
  return { stored, manifest };
}

/** Parses manifest bytes as a single-image manifest (OCI or Docker v2); throws naming `what` otherwise. */
export function parseImageManifest(stored: StoredManifest, what: string): ImageManifest {
  if (!IMAGE_MANIFEST_MEDIA_TYPES.includes(stored.mediaType)) {
    throw new Error(`${what}: media type ${stored.mediaType} is not a single-image manifest (expected ${IMAGE_MANIFEST_MEDIA_TYPES.join(" or ")}; pick the platform image's digest, not an index)`);
  }
  const m = parseJson(stored.bytes, what) as ImageManifest;
  if (m?.schemaVersion !== 2 || !m.config || !isDigest(m.config.digest) || !Array.isArray(m.layers)) {
    throw new Error(`${what}: not a schema 2 image manifest with a config and layers`);
  }
  for (const [i, l] of m.layers.entries()) {
    if (!isDigest(l?.digest) || !Number.isInteger(l.size)) throw new Error(`${what}: layers[${i}] has no sha256 digest or size`);
  }
  return m;
}

/** Reads and parses an image's config blob. */
export async function readImageConfig(registry: Registry, repo: string, manifest: ImageManifest): Promise<ImageConfig> {
  const bytes = await registry.getBlob(repo, manifest.config.digest);
  const config = parseJson(bytes, `${repo} config ${manifest.config.digest}`) as ImageConfig;
  if (!config?.rootfs || !Array.isArray(config.rootfs.diff_ids)) throw new Error(`${repo} config ${manifest.config.digest}: no rootfs.diff_ids`);
  return config;
}

/** Encodes JSON for a registry (compact, in the key order given: deterministic for the same object). */
export function jsonBytes(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), "utf8");
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw new Error(`${what}: not JSON (${(e as Error).message})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Layers: writing

export interface LayerEntry {
  /** Path inside the image, `/`-separated, without a leading slash (e.g. `workspace/a.py`). */
  readonly path: string;
  /** Permission bits (e.g. 0o644); setuid, setgid and sticky bits are refused. */
  readonly mode: number;
  readonly type: "file" | "dir";
  readonly content?: Uint8Array;
}

export interface Layer {
  /** The gzip'd tar: the blob pushed to the registry. */
  readonly tarGz: Uint8Array;
  /** `sha256:` of `tarGz` (the manifest's layer digest). */
  readonly digest: string;
  /** `sha256:` of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
  readonly diffId: string;
  /** Bytes of `tarGz`. */
  readonly size: number;
}

/**
 * A deterministic layer: ustar, paths sorted, uid/gid 0, mtime 0, no user or group names,
 * gzip'd with an mtime of 0: the same entries always give the same bytes and digests.
 */
export function createLayer(entries: readonly LayerEntry[]): Layer {
  const seen = new Set<string>();
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const blocks: Buffer[] = [];
  for (const e of sorted) {
    const path = e.path.replace(/\/+$/, "");
    if (!path || path.startsWith("/") || path.split("/").some((c) => c === "" || c === "." || c === "..")) {
      throw new Error(`layer entry ${JSON.stringify(e.path)}: expected a relative path without '.', '..' or empty components`);
    }
    if (seen.has(path)) throw new Error(`layer entry ${path}: listed twice`);
    seen.add(path);
    if (!Number.isInteger(e.mode) || e.mode < 0 || e.mode > 0o777) {
      throw new Error(`layer entry ${path}: mode ${e.mode?.toString(8)} must be permission bits only (0 to 0777; no setuid, setgid or sticky)`);
    }
    if (e.type === "dir" && e.content) throw new Error(`layer entry ${path}: a directory has no content`);
    const content = e.type === "file" ? Buffer.from(e.content ?? new Uint8Array()) : Buffer.alloc(0);
    const name = e.type === "dir" ? `${path}/` : path;
    blocks.push(...tarHeader(name, e.mode, content.length, e.type === "dir" ? "5" : "0"));
    blocks.push(content, Buffer.alloc(pad512(content.length)));
  }
  blocks.push(Buffer.alloc(1024));
  const tar = Buffer.concat(blocks);
  const tarGz = gzipSync(tar, { level: 9 });
  return { tarGz, digest: sha256Digest(tarGz), diffId: sha256Digest(tar), size: tarGz.length };
}

function pad512(n: number): number {
  return (512 - (n % 512)) % 512;
}

/** One header block, preceded by a PAX header when the name does not fit ustar's name/prefix. */
function tarHeader(name: string, mode: number, size: number, typeflag: string): Buffer[] {
  const out: Buffer[] = [];
  let split = splitUstarName(name);
  if (!split) {
    const record = paxRecord("path", name);
    out.push(rawHeader({ name: "PaxHeaders/entry", prefix: "" }, 0o644, record.length, "x"), record, Buffer.alloc(pad512(record.length)));
    split = { name: Buffer.from(name).subarray(0, 100).toString("latin1"), prefix: "" };
  }
  out.push(rawHeader(split, mode, size, typeflag));
  return out;
}

function splitUstarName(name: string): { name: string; prefix: string } | undefined {
  const bytes = Buffer.byteLength(name);
  if (bytes <= 100) return { name, prefix: "" };
  // ustar: prefix (≤155 bytes) + "/" + name (≤100 bytes), split at a slash.
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== "/") continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) return { name: rest, prefix };
  }
  return undefined;
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  // The length prefix counts its own digits.
  let len = bodyLen + 1;
  while (len !== bodyLen + String(len).length) len = bodyLen + String(len).length;
  return Buffer.from(`${len}${body}`, "utf8");
}

function rawHeader(n: { name: string; prefix: string }, mode: number, size: number, typeflag: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(n.name, 0, 100, "utf8");
  writeOctal(h, 100, 8, mode);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, 0);
  h.fill(0x20, 148, 156);
  h.write(typeflag, 156, 1, "latin1");
  h.write("ustar\0", 257, 6, "latin1");
  h.write("00", 263, 2, "latin1");
  writeOctal(h, 329, 8, 0);
  writeOctal(h, 337, 8, 0);
  h.write(n.prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  return h;
}

function writeOctal(h: Buffer, offset: number, length: number, value: number): void {
  const s = value.toString(8).padStart(length - 1, "0");
  if (s.length > length - 1) throw new Error(`tar field of ${length} bytes cannot hold ${value}`);
  h.write(s + "\0", offset, length, "latin1");
}

// ---------------------------------------------------------------------------------------------
// Layers: reading

export type TarEntryType = "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo" | "other";

export interface TarEntry {
  /** The path as written in the archive (after PAX / GNU long-name records). */
  readonly path: string;
  readonly type: TarEntryType;
  /** The raw typeflag, for messages. */
  readonly typeflag: string;
  /** Mode bits including setuid (0o4000), setgid (0o2000) and sticky (0o1000). */
  readonly mode: number;
  readonly size: number;
  readonly linkname: string;
  readonly content: Buffer;
}

const TYPEFLAGS: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "5": "dir",
  "2": "symlink",
  "1": "hardlink",
  "3": "char",
  "4": "block",
  "6": "fifo",
};

/**
 * Reads a tar archive (ustar, PAX and GNU long names; the formats Go, GNU tar and this module
 * write). Throws on a bad header checksum or a truncated entry; never touches the filesystem.
 */
export function readTar(tar: Uint8Array): TarEntry[] {
  const buf = Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength);
  const entries: TarEntry[] = [];
  let offset = 0;
  let pending: { path?: string; linkname?: string; size?: number } = {};
  while (offset + 512 <= buf.length) {
    const h = buf.subarray(offset, offset + 512);
    if (h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    const stored = readNumber(h, 148, 8);
    if (stored !== sum) throw new Error(`tar: header at byte ${offset} has a bad checksum (not a tar archive, or corrupted)`);
    const typeflag = String.fromCharCode(h[156]);
    const headerSize = readNumber(h, 124, 12);
    const size = typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K" ? headerSize : pending.size ?? headerSize;
    const start = offset + 512;
    if (start + size > buf.length) throw new Error(`tar: entry at byte ${offset} is truncated (${size} bytes declared)`);
    const data = buf.subarray(start, start + size);
    offset = start + size + pad512(size);
    if (typeflag === "x" || typeflag === "g") {
      const rec = parsePax(data);
      // Global headers apply to all later entries; the room never writes them, so apply like a local one.
      pending = { ...pending, path: rec.path ?? pending.path, linkname: rec.linkpath ?? pending.linkname, size: rec.size !== undefined ? Number(rec.size) : pending.size };
      continue;
    }
    if (typeflag === "L") {
      pending = { ...pending, path: cString(data) };
      continue;
    }
    if (typeflag === "K") {
      pending = { ...pending, linkname: cString(data) };
      continue;
    }
    const magic = h.subarray(257, 263).toString("latin1");
    const name = cString(h.subarray(0, 100));
    const prefix = magic === "ustar\0" ? cString(h.subarray(345, 500)) : "";
    entries.push({
      path: pending.path ?? (prefix ? `${prefix}/${name}` : name),
      type: TYPEFLAGS[typeflag] ?? "other",
      typeflag,
      mode: readNumber(h, 100, 8) & 0o7777,
      size,
      linkname: pending.linkname ?? cString(h.subarray(157, 257)),
      content: data,
    });
    pending = {};
  }
  return entries;
}

/** Decompresses a gzip'd layer; throws naming the layer when it is not gzip. */
export function gunzipLayer(bytes: Uint8Array, what: string): Buffer {
  try {
    return gunzipSync(bytes);
  } catch (e) {
    throw new Error(`${what}: not gzip (${(e as Error).message})`);
  }
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString("utf8");
}

function readNumber(h: Buffer, offset: number, length: number): number {
  const field = h.subarray(offset, offset + length);
  if (field[0] & 0x80) {
    // GNU base-256 for values that do not fit octal.
    let v = field[0] & 0x7f;
    for (let i = 1; i < length; i++) v = v * 256 + field[i];
    return v;
  }
  const s = field.toString("latin1").replace(/[\0 ]+.*$/s, "").trim();
  return s ? parseInt(s, 8) : 0;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space < 0) break;
    const len = parseInt(data.subarray(i, space).toString("latin1"), 10);
    if (!Number.isInteger(len) || len <= 0) throw new Error("tar: malformed PAX record");
    const rec = data.subarray(space + 1, i + len - 1).toString("utf8");
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}
