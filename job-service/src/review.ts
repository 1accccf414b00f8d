/**
 * The image review `manatee jobs approve` runs before signing: what is approved must be exactly an
 * approved executor base plus ONE layer of plain files below the workspace directory, with the
 * base's configuration unchanged. A signature names a digest and nothing else, so everything that
 * could make a job image run other code than the reviewed notebook is refused here.
 */
import type { WorkspaceFile } from "./ports";
import {
  gunzipLayer,
  MediaType,
  readImageConfig,
  readImageManifest,
  readTar,
  sha256Digest,
  sha256Hex,
  type ImageConfig,
  type ImageManifest,
  type Registry,
} from "./oci";

export interface ReviewOptions {
  readonly registry: Registry;
  /** Repository of the job image (`<userImagesRepository>/job-<uuid>`). */
  readonly imageRepo: string;
  /** `sha256:` of the job image manifest: what would be signed. */
  readonly imageDigest: string;
  /** Approved executor bases (`jobs.executorBases`) and the repository each can be read from. */
  readonly executorBases: readonly { readonly digest: string; readonly repo: string }[];
  /** Absolute directory the workspace layer may write below (`images.workspaceDir`). */
  readonly workspaceDir: string;
}

export interface ImageReview {
  /** True only when `problems` is empty. */
  readonly ok: boolean;
  /** The approved base the image was built on, when one matched. */
  readonly baseDigest?: string;
  /** Regular files of the workspace layer, paths relative to the workspace directory, sorted. */
  readonly files: WorkspaceFile[];
  /** Every reason to refuse, each naming the field or layer entry. */
  readonly problems: string[];
}

const LAYER_TYPES: Record<string, "gzip" | "tar"> = {
  [MediaType.ociLayerGzip]: "gzip",
  [MediaType.dockerLayerGzip]: "gzip",
  [MediaType.ociLayer]: "tar",
};

/**
 * Reviews a job image by digest; never throws for a bad image (problems say why), only for bad
 * options. Layer entries must be regular files or directories strictly below `workspaceDir`; the
 * one exception is a directory entry for `workspaceDir` itself (tar writes it when archiving the
 * directory), which still may not carry setuid/setgid/sticky bits.
 */
export async function reviewJobImage(options: ReviewOptions): Promise<ImageReview> {
  const { registry, imageRepo, imageDigest, workspaceDir } = options;
  if (!/^\/[^\0]*[^/]$/.test(workspaceDir)) throw new Error(`workspaceDir ${JSON.stringify(workspaceDir)}: expected an absolute directory without a trailing slash`);
  const problems: string[] = [];
  const refuse = (baseDigest?: string): ImageReview => ({ ok: false, baseDigest, files: [], problems });

  let image: ImageManifest;
  try {
    image = (await readImageManifest(registry, imageRepo, imageDigest)).manifest;
  } catch (e) {
    problems.push(`image ${imageRepo}@${imageDigest}: ${(e as Error).message}`);
    return refuse();
  }
  if (options.executorBases.length === 0) {
    problems.push("no approved executor base: images.executorBases is empty (add the base digest to jobs.executorBases in the room file)");
    return refuse();
  }

  // The base whose layers are exactly the image's minus the last one.
  let base: { digest: string; repo: string; manifest: ImageManifest } | undefined;
  const mismatches: string[] = [];
  for (const b of options.executorBases) {
    let m: ImageManifest;
    try {
      m = (await readImageManifest(registry, b.repo, b.digest)).manifest;
    } catch (e) {
      mismatches.push(`${b.digest}: unreadable (${(e as Error).message})`);
      continue;
    }
    const n = m.layers.length;
    const differs = m.layers.findIndex((l, i) => image.layers[i]?.digest !== l.digest);
    if (image.layers.length === n + 1 && differs < 0) {
      base = { ...b, manifest: m };
      break;
    }
    mismatches.push(
      differs >= 0
        ? `${b.digest}: layers[${differs}] differs`
        : `${b.digest}: ${n} layers, the image has ${image.layers.length} (expected ${n + 1}: the base plus one workspace layer)`,
    );
  }
  if (!base) {
    problems.push(`layers: the image is not an approved executor base plus one layer (${mismatches.join("; ")})`);
    return refuse();
  }

  if ((image.mediaType ?? "") !== (base.manifest.mediaType ?? "")) problems.push(`manifest.mediaType: ${image.mediaType} differs from the base's ${base.manifest.mediaType}`);
  if (!same(image.annotations, base.manifest.annotations)) problems.push("manifest.annotations: differ from the base's");
  if (image.config.mediaType !== base.manifest.config.mediaType) problems.push(`manifest.config.mediaType: ${image.config.mediaType} differs from the base's ${base.manifest.config.mediaType}`);

  let config: ImageConfig;
  let baseConfig: ImageConfig;
  try {
    config = await readImageConfig(registry, imageRepo, image);
    baseConfig = await readImageConfig(registry, base.repo, base.manifest);
  } catch (e) {
    problems.push(`config: ${(e as Error).message}`);
    return refuse(base.digest);
  }
  compareConfigs(baseConfig, config, problems);

  const extra = image.layers[image.layers.length - 1];
  const diffIds = config.rootfs.diff_ids;
  const diffId = diffIds[diffIds.length - 1];
  const files: WorkspaceFile[] = [];
  const kind = LAYER_TYPES[extra.mediaType];
  if (!kind) {
    problems.push(`workspace layer ${extra.digest}: media type ${extra.mediaType} is not a plain or gzip'd tar layer`);
    return refuse(base.digest);
  }
  if (extra.urls !== undefined) problems.push(`workspace layer ${extra.digest}: has urls (a foreign layer fetched from elsewhere)`);
  let tar: Buffer;
  try {
    const blob = await registry.getBlob(imageRepo, extra.digest);
    if (blob.length !== extra.size) problems.push(`workspace layer ${extra.digest}: ${blob.length} bytes, the manifest says ${extra.size}`);
    tar = kind === "gzip" ? gunzipLayer(blob, `workspace layer ${extra.digest}`) : Buffer.from(blob);
  } catch (e) {
    problems.push(`workspace layer ${extra.digest}: ${(e as Error).message}`);
    return refuse(base.digest);
  }
  const actual = sha256Digest(tar);
  if (actual !== diffId) problems.push(`workspace layer ${extra.digest}: its content hashes to ${actual}, but config.rootfs.diff_ids ends with ${diffId}`);

  let entries;
  try {
    entries = readTar(tar);
  } catch (e) {
    problems.push(`workspace layer ${extra.digest}: ${(e as Error).message}`);
    return refuse(base.digest);
  }
  const seen = new Set<string>();
  for (const e of entries) {
    const name = JSON.stringify(e.path);
    if (e.path.startsWith("/")) {
      problems.push(`entry ${name}: absolute path`);
      continue;
    }
    const parts = e.path.replace(/^(\.\/)+/, "").split("/").filter((p) => p !== "" && p !== ".");
    if (parts.includes("..")) {
      problems.push(`entry ${name}: '..' in the path`);
      continue;
    }
    const full = `/${parts.join("/")}`;
    const isRoot = full === workspaceDir;
    if (!isRoot && !full.startsWith(`${workspaceDir}/`)) {
      problems.push(`entry ${name}: outside ${workspaceDir} (the workspace layer may only write below it)`);
      continue;
    }
    if (e.type !== "file" && e.type !== "dir") {
      const target = e.linkname ? ` → ${e.linkname}` : "";
      problems.push(`entry ${name}: is a ${e.type}${target} (only regular files and directories)`);
      continue;
    }
    if (isRoot && e.type !== "dir") problems.push(`entry ${name}: ${workspaceDir} itself must be a directory`);
    const special = [e.mode & 0o4000 ? "setuid" : "", e.mode & 0o2000 ? "setgid" : "", e.mode & 0o1000 ? "sticky" : ""].filter(Boolean);
    if (special.length) problems.push(`entry ${name}: mode ${e.mode.toString(8)} has ${special.join(", ")} (not allowed)`);
    if (parts[parts.length - 1].startsWith(".wh.")) problems.push(`entry ${name}: a whiteout (it would hide or delete the base's files)`);
    if (seen.has(full)) problems.push(`entry ${name}: appears twice in the layer`);
    seen.add(full);
    if (e.type === "file") files.push({ path: full.slice(workspaceDir.length + 1), sha256: sha256Hex(e.content), size: e.content.length });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { ok: problems.length === 0, baseDigest: base.digest, files, problems };
}

/**
 * The image config must be the base's: every field equal (runtime `config.*` named one by one,
 * labels by name) except `rootfs.diff_ids`, which gains exactly one entry, and `history`, which
 * gains exactly one entry for a real (non-empty) layer. Empty values (null, "", false, [], {})
 * equal an absent field: registries' tools re-serialize configs with Go's omitempty.
 */
function compareConfigs(base: ImageConfig, image: ImageConfig, problems: string[]): void {
  for (const key of union(base, image)) {
    if (key === "rootfs" || key === "history" || key === "config") continue;
    if (!same(base[key], image[key])) problems.push(`config field ${key} changed (base ${show(base[key])}, image ${show(image[key])})`);
  }
  const bc = (base.config ?? {}) as Record<string, unknown>;
  const ic = (image.config ?? {}) as Record<string, unknown>;
  for (const key of union(bc, ic)) {
    if (same(bc[key], ic[key])) continue;
    if (key === "Labels") {
      const bl = (bc.Labels ?? {}) as Record<string, string>;
      const il = (ic.Labels ?? {}) as Record<string, string>;
      for (const l of union(bl, il)) {
        if (!(l in il)) problems.push(`config.Labels: label ${l} removed`);
        else if (!(l in bl)) problems.push(`config.Labels: label ${l} added (${show(il[l])})`);
        else if (bl[l] !== il[l]) problems.push(`config.Labels: label ${l} changed (base ${show(bl[l])}, image ${show(il[l])})`);
      }
      continue;
    }
    problems.push(`config.${key} changed (base ${show(bc[key])}, image ${show(ic[key])})`);
  }
  if (image.rootfs?.type !== "layers") problems.push(`config.rootfs.type: ${show(image.rootfs?.type)}, expected "layers"`);
  const bd = base.rootfs.diff_ids;
  const id = image.rootfs.diff_ids;
  if (id.length !== bd.length + 1 || bd.some((d, i) => d !== id[i])) {
    problems.push(`config.rootfs.diff_ids: expected the base's ${bd.length} followed by exactly one more, found ${id.length}${bd.some((d, i) => d !== id[i]) ? " with different base entries" : ""}`);
  }
  const bh = base.history ?? [];
  const ih = image.history ?? [];
  if (ih.length !== bh.length + 1) problems.push(`config.history: expected the base's ${bh.length} entries plus one, found ${ih.length}`);
  else {
    const changed = bh.findIndex((h, i) => !same(h, ih[i]));
    if (changed >= 0) problems.push(`config.history[${changed}]: differs from the base's`);
    if (ih[ih.length - 1]?.empty_layer) problems.push(`config.history[${ih.length - 1}]: the appended entry is marked empty_layer, but it must describe the workspace layer`);
  }
}

/** Problems for each file added, changed or missing compared with the review record. */
export function compareWithReview(files: readonly WorkspaceFile[], reviewFiles: readonly WorkspaceFile[]): string[] {
  const problems: string[] = [];
  const reviewed = new Map(reviewFiles.map((f) => [f.path, f]));
  const current = new Map(files.map((f) => [f.path, f]));
  for (const f of files) {
    const r = reviewed.get(f.path);
    if (!r) problems.push(`file ${f.path}: in the image but not in the review record (added)`);
    else if (r.sha256 !== f.sha256 || r.size !== f.size) problems.push(`file ${f.path}: changed since review (sha256 ${r.sha256} → ${f.sha256})`);
  }
  for (const r of reviewFiles) if (!current.has(r.path)) problems.push(`file ${r.path}: in the review record but not in the image (missing)`);
  return problems;
}

function union(a: object, b: object): string[] {
  return [...new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])].sort();
}

function isEmpty(v: unknown, member: boolean): boolean {
  if (v === undefined || v === null || v === "" || v === false || (Array.isArray(v) && v.length === 0)) return true;
  // Inside a map, `{}` is a value whose key matters (ExposedPorts {"22/tcp": {}}, Volumes {"/data": {}}).
  return !member && typeof v === "object" && !Array.isArray(v) && Object.keys(v as object).length === 0;
}

const RFC3339_FRACTION = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d+)(Z|[+-]\d\d:\d\d)$/;

/** Deep equality with empty ≡ absent, and RFC 3339 times compared without trailing fractional zeros. */
function same(a: unknown, b: unknown, member = false): boolean {
  if (isEmpty(a, member) && isEmpty(b, member)) return true;
  if (typeof a === "string" && typeof b === "string") return a === b || normTime(a) === normTime(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  }
  if (a && b && typeof a === "object" && typeof b === "object") {
    return union(a, b).every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], true));
  }
  return a === b;
}

function normTime(s: string): string {
  const m = RFC3339_FRACTION.exec(s);
  if (!m) return s;
  const frac = m[2].replace(/0+$/, "");
  return `${m[1]}${frac ? `.${frac}` : ""}${m[3]}`;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? "absent" : s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
