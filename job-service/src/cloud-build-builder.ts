/**
 * The production builder: a Cloud Build build, run as the builder service account (which can push
 * job images but cannot launch TEEs), appends one layer to the executor base: the workspace plus
 * its Python dependencies, installed at build time (the build has network; the TEE has none).
 */
import type { BuildRecord, BuildRequest, BuildState, Builder, WorkspaceFile } from "./ports";
import { assertRepo } from "./local-registry";
import { gunzipLayer, isDigest, parseDigestReference, readImageManifest, readTar, sha256Hex, MediaType, type Registry } from "./oci";

/** A Cloud Build step, as the v1 API takes it. */
export interface CloudBuildStep {
  readonly id: string;
  readonly name: string;
  readonly entrypoint?: string;
  // Mutable array types: the real client's request types take mutable arrays.
  readonly args: string[];
  readonly volumes?: { readonly name: string; readonly path: string }[];
  readonly waitFor?: string[];
}

/** The build this builder submits (a subset of `google.devtools.cloudbuild.v1.IBuild`). */
export interface CloudBuildSpec {
  readonly serviceAccount: string;
  readonly steps: CloudBuildStep[];
  readonly timeout: { readonly seconds: number };
  readonly options: { readonly logging: "CLOUD_LOGGING_ONLY" };
  readonly tags: string[];
}

/** What `getBuild` returns that the builder reads. */
export interface CloudBuildStatus {
  id?: string | null;
  status?: string | number | null;
  statusDetail?: string | null;
  failureInfo?: { detail?: string | null } | null;
  steps?: { id?: string | null; name?: string | null; args?: string[] | null }[] | null;
  results?: { buildStepOutputs?: (Uint8Array | string)[] | null } | null;
}

/** The two methods of `@google-cloud/cloudbuild`'s `CloudBuildClient` the builder uses. */
export interface CloudBuildClientLike {
  createBuild(request: { parent: string; projectId: string; build: CloudBuildSpec }): Promise<[{ metadata?: unknown }, ...unknown[]]>;
  getBuild(request: { name: string; projectId: string; id: string }): Promise<[CloudBuildStatus, ...unknown[]]>;
}

export interface CloudBuildBuilderOptions {
  readonly client: CloudBuildClientLike;
  readonly project: string;
  /** Region of the build (regional Cloud Build: `projects/P/locations/R`). */
  readonly region: string;
  /** The builder identity's email: it can push job images and read workspaces, and cannot launch TEEs. */
  readonly serviceAccount: string;
  /** Bucket holding workspace tarballs as `workspaces/<sha256 hex>.tar.gz`. */
  readonly workspaceBucket: string;
  /** Reads the built image (its last layer) to list what was written. */
  readonly registry: Registry;
  /**
   * Pinned step images (`…@sha256:…`): gcloud (bash, GNU tar) and, as `crane`, gcrane's debug image
   * (`gcr.io/go-containerregistry/gcrane:debug@sha256:…`): crane plus Google credentials from the
   * build's service account (plain crane only reads Docker config files), and a busybox `sh`.
   */
  readonly images: { readonly gcloud: string; readonly crane: string };
  /** Absolute directory the workspace layer writes to. @default "/workspace" */
  readonly workspaceDir?: string;
  /** Build timeout. @default 1800 */
  readonly timeoutSeconds?: number;
}

/** Step ids: the builder finds its inputs again in the build (poll is stateless across restarts). */
const STEP = { fetch: "fetch-workspace", unpack: "unpack-workspace", pip: "install-dependencies", pack: "pack-layer", append: "append-layer" } as const;
const STAGE = { name: "stage", path: "/stage" };
const LAYER = { name: "layer", path: "/layer" };

const RUNNING = new Set(["STATUS_UNKNOWN", "PENDING", "QUEUED", "WORKING"]);
const STATUS_NAMES: Record<number, string> = { 0: "STATUS_UNKNOWN", 10: "PENDING", 1: "QUEUED", 2: "WORKING", 3: "SUCCESS", 4: "FAILURE", 5: "INTERNAL_ERROR", 6: "TIMEOUT", 7: "CANCELLED", 9: "EXPIRED" };

/**
 * Builds job images with Cloud Build. Steps: (a) copy the workspace tarball from
 * `gs://<workspaceBucket>/workspaces/<sha>.tar.gz` and check its hash; (b) unpack it (files and
 * directories only); (c) `pip install --no-cache-dir --target <workspaceDir>/.python` in the executor
 * base image; (d) a deterministic layer tar; (e) `gcrane append` onto the base by digest, push to the
 * target (`:latest`) and write the digest to `$BUILDER_OUTPUT/output`.
 * Only the base, the workspace and the dependencies affect the image: no secret, URL or per-job value.
 */
export class CloudBuildBuilder implements Builder {
  private readonly workspaceDir: string;

  constructor(private readonly options: CloudBuildBuilderOptions) {
    this.workspaceDir = options.workspaceDir ?? "/workspace";
    if (!/^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/.test(this.workspaceDir)) throw new Error(`CloudBuildBuilder workspaceDir ${JSON.stringify(this.workspaceDir)}: expected an absolute directory of [A-Za-z0-9._-] components`);
    for (const [k, v] of Object.entries(options.images)) {
      try {
        parseDigestReference(v);
      } catch (e) {
        throw new Error(`CloudBuildBuilder images.${k}: ${(e as Error).message}`);
      }
    }
    if (!/^[a-z][-a-z0-9]*@[-a-z0-9.]+\.iam\.gserviceaccount\.com$/.test(options.serviceAccount)) {
      throw new Error(`CloudBuildBuilder serviceAccount ${JSON.stringify(options.serviceAccount)}: expected the builder service account's email (…@…iam.gserviceaccount.com)`);
    }
  }

  /** The build spec for a request (exposed for review and tests). */
  buildSpec(request: BuildRequest): CloudBuildSpec {
    const { images, workspaceBucket, serviceAccount, project } = this.options;
    parseDigestReference(request.base);
    assertRepo(request.target);
    const sha = request.job.workspace.sha256.replace(/^sha256:/, "");
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new Error(`job ${request.job.id}: workspace.sha256 ${JSON.stringify(request.job.workspace.sha256)} is not a SHA-256 hex digest`);
    const deps = request.job.workspace.dependencies.map(checkDependency);
    const layerDir = `${LAYER.path}${this.workspaceDir}`;
    const rel = this.workspaceDir.slice(1);
    const tarball = `${STAGE.path}/workspace.tar.gz`;
    const steps: CloudBuildStep[] = [
      { id: STEP.fetch, name: images.gcloud, args: ["storage", "cp", `gs://${workspaceBucket}/workspaces/${sha}.tar.gz`, tarball], volumes: [STAGE] },
      {
        id: STEP.unpack,
        name: images.gcloud,
        entrypoint: "bash",
        // `$$` is a literal `$` for Cloud Build's substitutions.
        args: [
          "-c",
          [
            "set -euo pipefail",
            `echo '${sha}  ${tarball}' | sha256sum -c -`,
            `if tar -tvzf ${tarball} | grep -v '^[-d]'; then echo 'the workspace holds entries other than regular files and directories (listed above)' >&2; exit 1; fi`,
            `mkdir -p ${layerDir}`,
            `tar -xzf ${tarball} -C ${layerDir} --strip-components=1 --no-same-owner --no-same-permissions`,
            `if [ -e ${layerDir}/.python ]; then echo '.python is where dependencies are installed: remove it from the workspace' >&2; exit 1; fi`,
            `mkdir -p ${layerDir}/.python`,
          ].join("\n"),
        ],
        volumes: [STAGE, LAYER],
      },
      ...(deps.length
        ? [{ id: STEP.pip, name: request.base, entrypoint: "python3", args: ["-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", "--no-input", "--target", `${layerDir}/.python`, ...deps], volumes: [LAYER] }]
        : []),
      {
        id: STEP.pack,
        name: images.gcloud,
        entrypoint: "bash",
        args: [
          "-c",
          [
            "set -euo pipefail",
            // The review refuses links and special files; fail here with their names instead.
            `if find ${layerDir} ! -type f ! -type d | grep .; then echo 'links or special files in the layer (listed above)' >&2; exit 1; fi`,
            `tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=go-w,a-st --hard-dereference -C ${LAYER.path} -cf ${STAGE.path}/layer.tar ${rel}`,
          ].join("\n"),
        ],
        volumes: [STAGE, LAYER],
      },
      {
        id: STEP.append,
        name: images.crane,
        entrypoint: "sh",
        // $1 = base by digest, $2 = push target; the digest pushed is this step's output.
        args: [
          "-c",
          `set -e; gcrane append --base "$$1" --new_layer ${STAGE.path}/layer.tar --new_tag "$$2" && gcrane digest "$$2" > "$$BUILDER_OUTPUT/output"`,
          "append",
          request.base,
          `${request.target}:latest`,
        ],
        volumes: [STAGE],
      },
    ];
    return {
      serviceAccount: `projects/${project}/serviceAccounts/${serviceAccount}`,
      steps,
      timeout: { seconds: this.options.timeoutSeconds ?? 1800 },
      options: { logging: "CLOUD_LOGGING_ONLY" },
      tags: ["manatee-job-image"],
    };
  }

  async start(request: BuildRequest): Promise<string> {
    const { client, project, region } = this.options;
    const [operation] = await client.createBuild({ parent: `projects/${project}/locations/${region}`, projectId: project, build: this.buildSpec(request) });
    const id = (operation.metadata as { build?: { id?: string | null } } | undefined)?.build?.id;
    if (!id) throw new Error("Cloud Build accepted the build but returned no build id in the operation metadata");
    return id;
  }

  async poll(buildId: string): Promise<BuildState> {
    const { client, project, region } = this.options;
    const [build] = await client.getBuild({ name: `projects/${project}/locations/${region}/builds/${buildId}`, projectId: project, id: buildId });
    const status = typeof build.status === "number" ? STATUS_NAMES[build.status] ?? `STATUS_${build.status}` : build.status ?? "STATUS_UNKNOWN";
    if (RUNNING.has(status)) return { state: "running" };
    if (status !== "SUCCESS") {
      const detail = build.failureInfo?.detail || build.statusDetail || "";
      return { state: "failed", error: `Cloud Build ${buildId}: ${status}${detail ? `: ${detail}` : ""}` };
    }
    try {
      return { state: "succeeded", record: await this.record(buildId, build) };
    } catch (e) {
      return { state: "failed", error: `Cloud Build ${buildId} succeeded, but ${(e as Error).message}` };
    }
  }

  private async record(buildId: string, build: CloudBuildStatus): Promise<BuildRecord> {
    const steps = build.steps ?? [];
    const i = steps.findIndex((s) => s.id === STEP.append);
    if (i < 0) throw new Error(`its steps have no ${STEP.append} step (not a build of this builder)`);
    const [, , , base, taggedTarget] = steps[i].args ?? [];
    const raw = build.results?.buildStepOutputs?.[i];
    const text = typeof raw === "string" ? Buffer.from(raw, "base64").toString("utf8") : raw ? Buffer.from(raw).toString("utf8") : "";
    const digest = text.trim();
    if (!isDigest(digest)) throw new Error(`step ${STEP.append} wrote no image digest to $BUILDER_OUTPUT/output (got ${JSON.stringify(text.slice(0, 80))})`);
    const target = (taggedTarget ?? "").replace(/:latest$/, "");
    const baseDigest = parseDigestReference(base ?? "").digest;
    const pip = steps.find((s) => s.id === STEP.pip)?.args ?? [];
    const dependencies = pip.slice(pip.indexOf("--target") + 2);
    return { imageDigest: digest, imageReference: `${target}@${digest}`, baseDigest, files: await this.layerFiles(target, digest), dependencies, buildId };
  }

  /** Regular files of the image's last layer, relative to the workspace directory. */
  private async layerFiles(repo: string, digest: string): Promise<WorkspaceFile[]> {
    const { manifest } = await readImageManifest(this.options.registry, repo, digest);
    const last = manifest.layers[manifest.layers.length - 1];
    if (!last) throw new Error(`image ${repo}@${digest} has no layers`);
    const blob = await this.options.registry.getBlob(repo, last.digest);
    const tar = last.mediaType === MediaType.ociLayer ? Buffer.from(blob) : gunzipLayer(blob, `layer ${last.digest}`);
    const prefix = `${this.workspaceDir.slice(1)}/`;
    return readTar(tar)
      .filter((e) => e.type === "file")
      .map((e) => ({ path: e.path.replace(/^(\.\/)+/, ""), e }))
      .filter(({ path }) => path.startsWith(prefix))
      .map(({ path, e }) => ({ path: path.slice(prefix.length), sha256: sha256Hex(e.content), size: e.content.length }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
}

/** A requirement specifier passed to pip as one argument: no options, no control characters. */
function checkDependency(dep: string): string {
  if (typeof dep !== "string" || !dep.trim() || dep.length > 300 || /^\s*-/.test(dep) || /[\0-\x1f\x7f]/.test(dep)) {
    throw new Error(`dependency ${JSON.stringify(dep)}: expected a requirement such as "pandas==2.2.2" (no pip options, no control characters, at most 300 characters)`);
  }
  return dep.trim();
}
