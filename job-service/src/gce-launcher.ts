/**
 * The Compute Engine launcher: creates a job VM from the room's instance template
 * (`instances.insert?sourceInstanceTemplate=…`), reads its status and deletes it, over the
 * Compute REST API (an authorized `request` function, e.g. google-auth-library's
 * `GoogleAuth.request`; tests pass a fake).
 *
 * The template decides everything that matters to attestation (image family, hardware, machine
 * type, Secure Boot, no external IP, the TEE service account, `tee-restart-policy`). The launch
 * adds only `tee-image-reference` (by digest), `tee-signed-image-repos` (the requested datasets'
 * signature repositories) and the `tee-env-*` names the policy allows; every other metadata key
 * and every label comes from the template, which the launcher reads first because a metadata
 * or labels field in the insert request replaces the template's instead of merging with it.
 */
import type { JobServiceConfig } from "./config";
import type { InstanceState, LaunchSpec, Launcher } from "./ports";

/** An authorized HTTP call to the Compute API. Rejects with `{ code | response.status }` on HTTP errors. */
export type ComputeRequest = <T>(options: { url: string; method: "GET" | "POST" | "DELETE"; data?: unknown }) => Promise<{ data: T }>;

export interface GceLauncherOptions {
  readonly config: JobServiceConfig;
  readonly request: ComputeRequest;
  /** @default "https://compute.googleapis.com/compute/v1" */
  readonly endpoint?: string;
  /** How long `launch` waits for the insert operation. @default 120 */
  readonly waitSeconds?: number;
}

interface MetadataItem {
  key: string;
  value: string;
}
interface InstanceTemplate {
  properties?: { metadata?: { items?: MetadataItem[] }; labels?: Record<string, string> };
}
interface Operation {
  name: string;
  status?: string;
  error?: { errors?: { code?: string; message?: string }[] };
}

/** Keys the launch sets; the template must not already decide them. */
const LAUNCH_KEYS = ["tee-image-reference", "tee-signed-image-repos"];
const DIGEST_REFERENCE = /^[a-z0-9.-]+(?::\d+)?\/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$/;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
const ENV_KEY = /^[A-Z_][A-Z0-9_]*$/;

function httpStatus(err: unknown): number | undefined {
  const e = err as { code?: unknown; status?: unknown; response?: { status?: unknown } } | undefined;
  for (const v of [e?.response?.status, e?.status, e?.code]) if (typeof v === "number") return v;
  return undefined;
}

export class LaunchRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LaunchRefusedError";
  }
}

export class GceLauncher implements Launcher {
  private readonly base: string;
  private readonly zonal: string;
  private readonly signatureRepos: ReadonlySet<string>;
  private readonly allowedEnv: ReadonlySet<string>;

  constructor(private readonly options: GceLauncherOptions) {
    const c = options.config;
    this.base = (options.endpoint ?? "https://compute.googleapis.com/compute/v1").replace(/\/$/, "");
    this.zonal = `${this.base}/projects/${encodeURIComponent(c.project)}/zones/${encodeURIComponent(c.zone)}`;
    this.signatureRepos = new Set(c.datasets.map((d) => d.signatureRepository));
    this.allowedEnv = new Set(c.launch.allowedEnvOverrides ?? []);
  }

  async launch(spec: LaunchSpec): Promise<void> {
    this.check(spec);
    const sourceTemplate = this.templateFor(spec.imageReference);
    const template = await this.options.request<InstanceTemplate>({ url: `${this.base}/${sourceTemplate}`, method: "GET" });
    const props = template.data.properties ?? {};
    const items = props.metadata?.items ?? [];
    for (const item of items) {
      if (LAUNCH_KEYS.includes(item.key) || item.key.startsWith("tee-env-")) {
        throw new LaunchRefusedError(`the instance template sets ${item.key}; the launch sets it per job. Remove it from the template.`);
      }
    }
    const launchItems: MetadataItem[] = [
      { key: "tee-image-reference", value: spec.imageReference },
      ...(spec.signedImageRepos.length > 0 ? [{ key: "tee-signed-image-repos", value: [...spec.signedImageRepos].sort().join(",") }] : []),
      ...Object.keys(spec.env)
        .sort()
        .map((k) => ({ key: `tee-env-${k}`, value: spec.env[k] })),
    ];
    const body = {
      name: spec.instanceName,
      metadata: { items: [...items, ...launchItems] },
      // The template's labels win: a job cannot relabel itself out of the room.
      labels: { ...spec.labels, ...(props.labels ?? {}) },
    };
    let op: Operation;
    try {
      const template = encodeURIComponent(sourceTemplate);
      op = (await this.options.request<Operation>({ url: `${this.zonal}/instances?sourceInstanceTemplate=${template}`, method: "POST", data: body })).data;
    } catch (err) {
      // Deterministic names: an existing VM of this name is this job's (a retry after a crash).
      if (httpStatus(err) === 409) return;
      throw err;
    }
    await this.wait(op);
  }

  async status(instanceName: string): Promise<InstanceState> {
    this.checkName(instanceName);
    try {
      const r = await this.options.request<{ status?: string }>({ url: `${this.zonal}/instances/${instanceName}`, method: "GET" });
      switch (r.data.status) {
        case "RUNNING":
          return "RUNNING";
        case "STOPPING":
        case "SUSPENDING":
          return "STOPPING";
        case "TERMINATED":
        case "STOPPED":
        case "SUSPENDED":
          return "TERMINATED";
        default:
          return "PENDING"; // PROVISIONING, STAGING, REPAIRING
      }
    } catch (err) {
      if (httpStatus(err) === 404) return "NOT_FOUND";
      throw err;
    }
  }

  async delete(instanceName: string): Promise<void> {
    this.checkName(instanceName);
    try {
      await this.options.request<Operation>({ url: `${this.zonal}/instances/${instanceName}`, method: "DELETE" });
    } catch (err) {
      if (httpStatus(err) === 404) return;
      throw err;
    }
  }

  /** The GPU template for an image whose approval requires a GPU (docs/gpu.md), else the room's template. */
  private templateFor(imageReference: string): string {
    const launch = this.options.config.launch;
    const digest = imageReference.slice(imageReference.indexOf("@") + 1);
    if (!(launch.gpuImageDigests ?? []).includes(digest)) return launch.instanceTemplate;
    if (!launch.gpuInstanceTemplate) throw new LaunchRefusedError(`image ${imageReference}: its approval requires a GPU, but the room has no GPU template (tee.gpu)`);
    return launch.gpuInstanceTemplate;
  }

  /** Refuse anything the room's policy does not allow, before any API call. */
  private check(spec: LaunchSpec): void {
    this.checkName(spec.instanceName);
    if (!DIGEST_REFERENCE.test(spec.imageReference)) throw new LaunchRefusedError(`image ${JSON.stringify(spec.imageReference)}: a job is launched by digest only (repo@sha256:…)`);
    if (!spec.imageReference.startsWith(`${this.options.config.images.userImagesRepository}/`)) {
      throw new LaunchRefusedError(`image ${spec.imageReference}: job images come from ${this.options.config.images.userImagesRepository} only`);
    }
    for (const repo of spec.signedImageRepos) {
      if (!this.signatureRepos.has(repo)) throw new LaunchRefusedError(`signature repository ${repo} is not a dataset's signature repository`);
    }
    for (const [k, v] of Object.entries(spec.env)) {
      if (!ENV_KEY.test(k) || !this.allowedEnv.has(k)) throw new LaunchRefusedError(`tee-env-${k}: not in the policy's allowed env overrides`);
      if (typeof v !== "string" || v.length > 4096) throw new LaunchRefusedError(`tee-env-${k}: expected a string of at most 4096 characters`);
    }
    for (const [k, v] of Object.entries(spec.labels)) {
      if (!LABEL_KEY.test(k) || !LABEL_VALUE.test(v)) throw new LaunchRefusedError(`label ${k}=${v}: not a Compute Engine label`);
    }
  }

  private checkName(name: string): void {
    const prefix = this.options.config.launch.instancePrefix;
    const rest = name.startsWith(`${prefix}-`) ? name.slice(prefix.length + 1) : "";
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(rest)) {
      throw new LaunchRefusedError(`instance name ${JSON.stringify(name)}: job VMs are named ${prefix}-<job uuid>`);
    }
  }

  private async wait(op: Operation): Promise<void> {
    const deadline = Date.now() + (this.options.waitSeconds ?? 120) * 1000;
    let current = op;
    while (current.status !== "DONE") {
      if (Date.now() > deadline) throw new Error(`instances.insert: operation ${op.name} not done after ${this.options.waitSeconds ?? 120} s`);
      // zoneOperations.wait returns when the operation is done or after about two minutes.
      current = (await this.options.request<Operation>({ url: `${this.zonal}/operations/${encodeURIComponent(op.name)}/wait`, method: "POST" })).data;
    }
    const errors = current.error?.errors ?? [];
    if (errors.length > 0) throw new Error(`instances.insert failed: ${errors.map((e) => `${e.code ?? "ERROR"}: ${e.message ?? ""}`).join("; ")}`);
  }
}
