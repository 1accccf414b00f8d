/**
 * The local mode's builder: no container engine, no network. It appends one deterministic layer
 * (the workspace) to the executor base, content-addressed, so the same workspace on the same base
 * always gives the same image digest.
 */
import { gunzipSync } from "node:zlib";
import type { BuildRecord, BuildRequest, BuildState, Builder, Clock, WorkspaceFile } from "./ports";
import {
  createLayer,
  jsonBytes,
  MediaType,
  parseDigestReference,
  readImageConfig,
  readImageManifest,
  readTar,
  sha256Hex,
  type ImageConfig,
  type ImageManifest,
  type LayerEntry,
  type Registry,
} from "./oci";

export interface LocalBuilderOptions {
  readonly registry: Registry;
  /** Absolute directory the workspace layer writes to (the room's `images.workspaceDir`). @default "/workspace" */
  readonly workspaceDir?: string;
  /** Accepted for symmetry with other adapters; unused, because a build carries no time (determinism). */
  readonly clock?: Clock;
}

/** What the local builder writes in place of installed packages (it cannot pip install). */
export const REQUIREMENTS_LOCK = ".python/requirements.lock";

/**
 * Builds job images from the workspace tarball alone: reads the base (`repo@sha256:…`) from the
 * registry, writes ONE layer with the workspace files below `workspaceDir` plus
 * `.python/requirements.lock` listing the job's dependencies, and pushes base + layer to
 * `request.target` (tag `latest`).
 *
 * It is offline and does NOT install the dependencies (only the Cloud Build builder does, at
 * build time); a notebook that imports packages the base lacks fails in a local run.
 * Builds run inside `start`; `poll` reports the kept result (lost on restart: start again).
 */
export class LocalBuilder implements Builder {
  private readonly registry: Registry;
  private readonly workspaceDir: string;
  private readonly builds = new Map<string, BuildState>();

  constructor(options: LocalBuilderOptions) {
    this.registry = options.registry;
    this.workspaceDir = options.workspaceDir ?? "/workspace";
    if (!/^\/[^\0]*[^/]$/.test(this.workspaceDir)) throw new Error(`LocalBuilder workspaceDir ${JSON.stringify(this.workspaceDir)}: expected an absolute directory without a trailing slash`);
  }

  async start(request: BuildRequest): Promise<string> {
    // Content-addressed id: the same inputs are the same build.
    const id = `local-${sha256Hex(Buffer.from(JSON.stringify([request.base, request.target, sha256Hex(request.workspace), request.job.workspace.dependencies]))).slice(0, 20)}`;
    try {
      this.builds.set(id, { state: "succeeded", record: await this.build(request, id) });
    } catch (e) {
      this.builds.set(id, { state: "failed", error: (e as Error).message });
    }
    return id;
  }

  async poll(buildId: string): Promise<BuildState> {
    const state = this.builds.get(buildId);
    if (!state) return { state: "failed", error: `local build ${buildId} is unknown (the local builder keeps builds in memory only: start it again)` };
    return state;
  }

  private async build(request: BuildRequest, buildId: string): Promise<BuildRecord> {
    const base = parseDigestReference(request.base);
    const target = request.target;
    const { manifest: baseManifest } = await readImageManifest(this.registry, base.repo, base.digest);
    const baseConfig = await readImageConfig(this.registry, base.repo, baseManifest);

    const files = workspaceEntries(request.workspace);
    const deps = request.job.workspace.dependencies;
    const lock = Buffer.from(deps.map((d) => `${d}\n`).join(""), "utf8");
    const root = this.workspaceDir.slice(1);
    const entries: LayerEntry[] = [
      { path: root, mode: 0o755, type: "dir" },
      ...files.map((f) => ({ ...f, path: `${root}/${f.path}` })),
      { path: `${root}/.python`, mode: 0o755, type: "dir" },
      { path: `${root}/${REQUIREMENTS_LOCK}`, mode: 0o644, type: "file" as const, content: lock },
    ];
    const layer = createLayer(entries);

    // Same config as the base except the new diff_id and one history entry; `created` unchanged.
    const config: ImageConfig = {
      ...baseConfig,
      rootfs: { type: "layers", diff_ids: [...baseConfig.rootfs.diff_ids, layer.diffId] },
      history: [...(baseConfig.history ?? []), { created: baseConfig.created ?? "1970-01-01T00:00:00Z", created_by: "manatee local builder: workspace layer" }],
    };
    const configBytes = jsonBytes(config);
    const docker = baseManifest.mediaType === MediaType.dockerManifest;
    // Layers of the base are shared blobs: copy them so the target repository is complete.
    for (const l of baseManifest.layers) {
      if (!(this.registry.hasBlob && (await this.registry.hasBlob(target, l.digest)))) {
        await this.registry.putBlob(target, await this.registry.getBlob(base.repo, l.digest));
      }
    }
    await this.registry.putBlob(target, layer.tarGz);
    const configDigest = await this.registry.putBlob(target, configBytes);
    const manifest: ImageManifest = {
      ...baseManifest,
      config: { ...baseManifest.config, digest: configDigest, size: configBytes.length },
      layers: [...baseManifest.layers, { mediaType: docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
    };
    const imageDigest = await this.registry.putManifest(target, "latest", jsonBytes(manifest), baseManifest.mediaType ?? MediaType.ociManifest);

    const written: WorkspaceFile[] = entries
      .filter((e) => e.type === "file")
      .map((e) => ({ path: e.path.slice(root.length + 1), sha256: sha256Hex(e.content ?? new Uint8Array()), size: e.content?.length ?? 0 }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { imageDigest, imageReference: `${target}@${imageDigest}`, baseDigest: base.digest, files: written, dependencies: [...deps], buildId };
  }
}

/**
 * The workspace tarball's regular files and directories, paths relative to the workspace: the one
 * top-level directory (`<creator>-workspace/`) is stripped. Anything else (links, devices, paths
 * with `..`, a second top-level entry, a `.python` the builder writes itself) is refused by name.
 * Modes are normalised to 0755/0644, so no setuid/setgid/sticky bit reaches the image.
 */
export function workspaceEntries(tarball: Uint8Array): LayerEntry[] {
  const tar = tarball[0] === 0x1f && tarball[1] === 0x8b ? gunzipSync(tarball) : Buffer.from(tarball);
  const entries = readTar(tar);
  let top: string | undefined;
  const out = new Map<string, LayerEntry>();
  for (const e of entries) {
    const parts = e.path.replace(/^\.\//, "").split("/").filter((p) => p !== "");
    if (parts.length === 0 || e.path.startsWith("/") || parts.some((p) => p === ".." || p === ".")) {
      throw new Error(`workspace entry ${JSON.stringify(e.path)}: absolute or '..' paths are not allowed: tar the workspace directory itself`);
    }
    if (top === undefined) top = parts[0];
    if (parts[0] !== top) throw new Error(`workspace entry ${e.path}: the tarball must hold one top-level directory (<creator>-workspace/), found ${top} and ${parts[0]}`);
    const rel = parts.slice(1).join("/");
    if (!rel) {
      if (e.type !== "dir") throw new Error(`workspace entry ${e.path}: the top level must be a directory`);
      continue;
    }
    if (e.type !== "file" && e.type !== "dir") {
      throw new Error(`workspace entry ${rel} is a ${e.type}: only regular files and directories are built (replace links with the files they point to)`);
    }
    if (parts[1] === ".python") throw new Error(`workspace entry ${rel}: .python is where the builder installs dependencies; remove it from the workspace`);
    if (out.has(rel)) throw new Error(`workspace entry ${rel}: appears twice in the tarball`);
    out.set(rel, e.type === "dir" ? { path: rel, mode: 0o755, type: "dir" } : { path: rel, mode: e.mode & 0o111 ? 0o755 : 0o644, type: "file", content: e.content });
  }
  // Parent directories a tarball left implicit are written too, so the layer is self-contained.
  for (const rel of [...out.keys()]) {
    const parts = rel.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const existing = out.get(dir);
      if (existing && existing.type !== "dir") throw new Error(`workspace entry ${dir} is a file and a directory`);
      if (!existing) out.set(dir, { path: dir, mode: 0o755, type: "dir" });
    }
  }
  return [...out.values()];
}
