/**
 * The local stand-in for Confidential Space and Google STS: what `manatee job-service --local`,
 * the demo and the end-to-end tests launch jobs into. Nothing here decides by itself:
 *
 * - tokens carry the claims the launched job would present (a production image, the room's
 *   project, zone and TEE service account, the job's digest, and the `image_signatures` the
 *   launcher would find in the `tee-signed-image-repos` it was launched with);
 * - a key request is decided by the room's compiled provider conditions and attribute
 *   mappings, evaluated with the real CEL engine, against the principals that hold the
 *   dataset's grants (`JobServiceDataset.access`), exactly as STS and IAM would;
 * - results leave through the verifier's `/v1/release`, as in the cloud.
 *
 * Local mode only: the deployed job service never loads this module.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CelScalar, celEnv, isCelError, mapType, parse, plan } from "@bufbuild/cel";
import { CompactSign, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey, JWK } from "jose";
// The verifier's own definitions: the local TEE must hash and evaluate exactly as it does.
import { toCel } from "../../attestation-verifier/src/policy";
import { releaseManifest } from "../../attestation-verifier/src/release";
import { DatasetAccessPath, JobServiceConfig, JobServiceDataset, providerKey } from "./config";
import { InstanceState, LaunchSpec, Launcher } from "./ports";

const ISSUER = "https://confidentialcomputing.googleapis.com";
const STS_AUDIENCE = "https://sts.googleapis.com";
/** The local project's number: STS principals name it; any fixed decimal string does. */
export const LOCAL_PROJECT_NUMBER = "100000000001";

export interface ImageSignatureClaim {
  readonly key_id: string;
  readonly signature: string;
  readonly signature_algorithm: string;
}

/** Claims of a production Confidential Space token on the room's hardware (reference §2, §6). */
export function teeClaims(
  config: JobServiceConfig,
  vm: { instanceName: string; instanceId: string; imageReference: string; imageDigest: string; signatures: readonly ImageSignatureClaim[]; env?: Record<string, string> },
  token: { audience: string; nonces?: readonly string[]; nowMs: number },
): Record<string, unknown> {
  const iat = Math.floor(token.nowMs / 1000);
  const hwmodel = config.launch.hardware[0] ?? "GCP_INTEL_TDX";
  const container: Record<string, unknown> = {
    image_reference: vm.imageReference,
    image_digest: vm.imageDigest,
    restart_policy: "Never",
    image_id: `sha256:${createHash("sha256").update(vm.imageDigest).digest("hex")}`,
    args: ["python3", "/opt/manatee/run.py"],
    env: { HOSTNAME: vm.instanceName, PYTHONPATH: "/workspace/.python" },
  };
  // Real tokens omit absent keys: no signatures, no key; no override, no key.
  if (vm.signatures.length > 0) container.image_signatures = vm.signatures;
  if (vm.env && Object.keys(vm.env).length > 0) container.env_override = vm.env;
  // The room's template boots the debug image exactly when the policy allows debug.
  const debug = config.launch.allowDebug;
  return {
    aud: token.audience,
    iss: ISSUER,
    iat,
    nbf: iat,
    exp: iat + 3600,
    sub: `https://www.googleapis.com/compute/v1/projects/${config.project}/zones/${config.zone}/instances/${vm.instanceName}`,
    eat_profile: "https://cloud.google.com/confidential-computing/confidential-space/docs/reference/token-claims",
    ...(token.nonces && token.nonces.length > 0 ? { eat_nonce: token.nonces.length === 1 ? token.nonces[0] : [...token.nonces] } : {}),
    secboot: true,
    oemid: 11129,
    hwmodel,
    ...(hwmodel === "GCP_INTEL_TDX" ? { attester_tcb: ["INTEL"] } : {}),
    swname: "CONFIDENTIAL_SPACE",
    swversion: ["250800"],
    dbgstat: debug ? "enabled" : "disabled-since-boot",
    submods: {
      confidential_space: debug
        ? { monitoring_enabled: { memory: false } }
        : { monitoring_enabled: { memory: false }, support_attributes: ["LATEST", "STABLE", "USABLE"] },
      container,
      gce: {
        zone: config.zone,
        project_id: config.project,
        project_number: LOCAL_PROJECT_NUMBER,
        instance_name: vm.instanceName,
        instance_id: vm.instanceId,
      },
    },
    google_service_accounts: [config.launch.teeServiceAccount],
  };
}

/** The attestation service: an RS256 key whose JWKS the local verifier trusts. */
export class LocalAttestationService {
  private constructor(
    private readonly privateKey: CryptoKey,
    readonly jwks: { keys: JWK[] },
    private readonly kid: string,
  ) {}

  static async create(): Promise<LocalAttestationService> {
    const { privateKey, publicKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
    const kid = randomBytes(20).toString("hex");
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
    return new LocalAttestationService(privateKey, { keys: [jwk] }, kid);
  }

  sign(claims: Record<string, unknown>): Promise<string> {
    return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: "RS256", kid: this.kid, typ: "JWT" })
      .sign(this.privateKey);
  }
}

const CEL_ENV = celEnv({ variables: { assertion: mapType(CelScalar.STRING, CelScalar.DYN) } });

type Program = (claims: unknown) => unknown;

function compile(expression: string, what: string): Program {
  let program: (ctx: { assertion: Map<string, never> }) => unknown;
  try {
    program = plan(CEL_ENV, parse(expression));
  } catch (err) {
    throw new Error(`${what} does not compile as CEL: ${err instanceof Error ? err.message : String(err)}`);
  }
  return (claims) => {
    try {
      const result = program({ assertion: toCel(claims) as Map<string, never> });
      return isCelError(result) ? undefined : result;
    } catch {
      return undefined;
    }
  };
}

function celValues(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (value && typeof value === "object" && Symbol.iterator in value) return [...(value as Iterable<unknown>)];
  return [value];
}

export interface AccessDecision {
  readonly granted: boolean;
  /** The path that granted access. */
  readonly via?: DatasetAccessPath;
  /** One line per path, saying why it did not grant. */
  readonly reasons: readonly string[];
}

/**
 * Google STS + IAM, as far as a dataset's grants go: a path grants when its provider's
 * condition holds, its mapping yields the granted principal, and the grant has not expired.
 */
export class LocalSts {
  private readonly plans = new Map<string, Program>();

  constructor(private readonly config: JobServiceConfig) {}

  private program(expression: string, what: string): Program {
    let p = this.plans.get(expression);
    if (!p) {
      p = compile(expression, what);
      this.plans.set(expression, p);
    }
    return p;
  }

  decide(dataset: string, claims: Record<string, unknown>, nowMs: number): AccessDecision {
    const ds: JobServiceDataset | undefined = this.config.datasets.find((d) => d.name === dataset);
    if (!ds) return { granted: false, reasons: [`dataset ${dataset} is not in the room`] };
    const reasons: string[] = [];
    for (const path of ds.access) {
      const where = `${path.kind} path (pool ${path.pool})`;
      if (claims.aud !== STS_AUDIENCE) {
        reasons.push(`${where}: token audience is not ${STS_AUDIENCE}`);
        continue;
      }
      const provider = this.config.providers[providerKey(path.pool, path.provider)];
      if (!provider) {
        reasons.push(`${where}: provider ${path.provider} is not in the room's providers`);
        continue;
      }
      const condition = this.program(provider.attributeCondition, `${where} attribute condition`)(claims);
      if (condition !== true) {
        reasons.push(`${where}: attribute condition is ${condition === undefined ? "an error (missing claim)" : "false"}`);
        continue;
      }
      const principal = path.principal;
      const target = principal.kind === "group" ? "google.groups" : `attribute.${principal.attribute}`;
      const expression = provider.attributeMapping[target];
      if (!expression) {
        reasons.push(`${where}: the provider maps no ${target}`);
        continue;
      }
      const mapped = this.program(expression, `${where} mapping of ${target}`)(claims);
      const matches = principal.kind === "group" ? celValues(mapped).includes(principal.value) : mapped === principal.value;
      if (!matches) {
        reasons.push(`${where}: ${target} does not name the granted principal ${principal.value}`);
        continue;
      }
      if (path.notAfter !== undefined && nowMs >= Date.parse(path.notAfter)) {
        reasons.push(`${where}: the grant expired at ${path.notAfter}`);
        continue;
      }
      return { granted: true, via: path, reasons };
    }
    if (ds.access.length === 0) reasons.push("no principal holds this dataset's grants");
    return { granted: false, reasons };
  }
}

/** What a launched job's container does, seen from outside: the executor's contract. */
export interface LocalJobRun {
  readonly instanceName: string;
  readonly jobUuid: string;
  readonly imageDigest: string;
  /** Datasets whose stage-2 data it obtained, and those refused with STS's reasons. */
  readonly granted: readonly string[];
  readonly refused: readonly { dataset: string; reasons: readonly string[] }[];
  readonly release?: { status: number; body: unknown };
}

export interface LocalLauncherOptions {
  readonly config: JobServiceConfig;
  readonly attestation: LocalAttestationService;
  /** Finds the signatures the launcher would put into the token (`cosign.launcherSignatures`). */
  readonly signatures: (repos: readonly string[], imageDigest: string) => Promise<ImageSignatureClaim[]>;
  /**
   * What the job's image knows about itself (its notebook and the datasets in the notebook's
   * metadata); the real executor reads them from its own workspace.
   */
  readonly job: (uuid: string) => Promise<{ notebook: string; datasets: readonly string[] } | undefined>;
  /** Reads a job image's workspace file (the notebook) so the stand-in executor can echo it. */
  readonly readWorkspaceFile: (imageReference: string, path: string) => Promise<Uint8Array | undefined>;
  /** Root of local buckets: `<dir>/<bucket>/<object>`. */
  readonly bucketsDir: string;
  /** The verifier's base URL (`/v1/release`). */
  readonly verifierUrl: string;
  readonly clock?: () => number;
  /** Called when a run ends (tests, the demo). */
  readonly onRun?: (run: LocalJobRun) => void;
}

/**
 * Compute Engine for the local mode. VM names are unique like GCE's: launching a name that
 * exists is a no-op, so a retried or crashed launch never starts a second VM. `inserts`
 * counts the VMs actually created.
 */
export class LocalLauncher implements Launcher {
  private readonly vms = new Map<string, { state: InstanceState; run?: Promise<void> }>();
  inserts = 0;
  readonly runs: LocalJobRun[] = [];
  private readonly sts: LocalSts;
  private readonly now: () => number;

  constructor(private readonly options: LocalLauncherOptions) {
    this.sts = new LocalSts(options.config);
    this.now = options.clock ?? Date.now;
  }

  async launch(spec: LaunchSpec): Promise<void> {
    if (this.vms.has(spec.instanceName)) return;
    const vm: { state: InstanceState; run?: Promise<void> } = { state: "RUNNING" };
    this.vms.set(spec.instanceName, vm);
    this.inserts++;
    vm.run = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.execute(spec))
      .then(
        (run) => {
          this.runs.push(run);
          this.options.onRun?.(run);
        },
        (err) => {
          this.runs.push({ instanceName: spec.instanceName, jobUuid: "", imageDigest: "", granted: [], refused: [{ dataset: "*", reasons: [String(err)] }] });
        },
      )
      // A production Confidential Space VM powers off when its workload exits.
      .finally(() => {
        vm.state = "TERMINATED";
      });
  }

  async status(instanceName: string): Promise<InstanceState> {
    return this.vms.get(instanceName)?.state ?? "NOT_FOUND";
  }

  async delete(instanceName: string): Promise<void> {
    const vm = this.vms.get(instanceName);
    if (vm?.run) await vm.run;
    this.vms.delete(instanceName);
  }

  /** Resolves when every launched VM has finished its run. */
  async idle(): Promise<void> {
    await Promise.all([...this.vms.values()].map((v) => v.run));
  }

  private async execute(spec: LaunchSpec): Promise<LocalJobRun> {
    const { config } = this.options;
    const imageDigest = spec.imageReference.slice(spec.imageReference.indexOf("@") + 1);
    const jobUuid = spec.instanceName.slice(config.launch.instancePrefix.length + 1);
    const signatures = await this.options.signatures(spec.signedImageRepos, imageDigest);
    const vm = { instanceName: spec.instanceName, instanceId: BigInt(`0x${createHash("sha256").update(spec.instanceName).digest("hex").slice(0, 15)}`).toString(), imageReference: spec.imageReference, imageDigest, signatures, env: spec.env };
    const job = await this.options.job(jobUuid);
    const datasets = job?.datasets ?? [];

    // 1. The default token (aud STS), exchanged per dataset as ManaTEE's SDK does.
    const stsClaims = teeClaims(config, vm, { audience: STS_AUDIENCE, nowMs: this.now() });
    const granted: string[] = [];
    const refused: { dataset: string; reasons: readonly string[] }[] = [];
    const read: { dataset: string; objects: { name: string; sha256: string }[] }[] = [];
    for (const dataset of datasets) {
      const decision = this.sts.decide(dataset, stsClaims, this.now());
      if (!decision.granted) {
        refused.push({ dataset, reasons: decision.reasons });
        continue;
      }
      granted.push(dataset);
      read.push({ dataset, objects: await this.readStage2(dataset) });
    }

    // 2. The stand-in executor: no Python here, so it writes the notebook back with an
    //    output cell naming what it could read. A job that cannot read its data fails.
    const notebookName = job?.notebook ?? "notebook.ipynb";
    const notebookBytes = await this.options.readWorkspaceFile(spec.imageReference, notebookName);
    if (refused.length > 0 || !notebookBytes) {
      return { instanceName: spec.instanceName, jobUuid, imageDigest, granted, refused };
    }
    const executed = executedNotebook(notebookBytes, read, imageDigest);
    const objects = [{ name: notebookName, bytes: executed }];
    const dir = join(this.options.bucketsDir, config.outputs.quarantineBucket, jobUuid);
    await mkdir(dir, { recursive: true });
    for (const o of objects) await writeFile(join(dir, o.name), o.bytes, { flag: "wx" });

    // 3. Release: a custom token whose nonce is the SHA-256 of the manifest of results.
    const listed = objects.map((o) => ({ name: o.name, sha256: createHash("sha256").update(o.bytes).digest("hex") }));
    const nonce = createHash("sha256").update(releaseManifest(jobUuid, listed)).digest("hex");
    const releaseClaims = teeClaims(config, vm, { audience: config.verifier.audience, nonces: [nonce], nowMs: this.now() });
    const token = await this.options.attestation.sign(releaseClaims);
    const response = await fetch(`${this.options.verifierUrl}/v1/release`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, job: jobUuid, datasets: granted, objects: listed }),
    });
    const body = await response.json().catch(() => undefined);
    return { instanceName: spec.instanceName, jobUuid, imageDigest, granted, refused, release: { status: response.status, body } };
  }

  private async readStage2(dataset: string): Promise<{ name: string; sha256: string }[]> {
    const dir = join(this.options.bucketsDir, stage2Bucket(this.options.config, dataset));
    const names = await readdir(dir).catch(() => [] as string[]);
    const out: { name: string; sha256: string }[] = [];
    for (const name of names.sort()) {
      out.push({ name, sha256: createHash("sha256").update(await readFile(join(dir, name))).digest("hex") });
    }
    return out;
  }
}

/** The local stage-2 bucket of a dataset (cloud bucket names come from the room's names). */
export function stage2Bucket(config: JobServiceConfig, dataset: string): string {
  return `${config.room}-${dataset}-stage2`;
}

function executedNotebook(bytes: Uint8Array, read: { dataset: string; objects: { name: string; sha256: string }[] }[], digest: string): Uint8Array {
  const notebook = JSON.parse(Buffer.from(bytes).toString("utf8")) as { cells?: unknown[] };
  const lines = [
    `Executed by the local TEE stand-in (no Python runs locally) as image ${digest}.\n`,
    ...read.map((r) => `stage-2 ${r.dataset}: ${r.objects.map((o) => `${o.name} sha256:${o.sha256}`).join(", ") || "(no objects)"}\n`),
  ];
  const cells = Array.isArray(notebook.cells) ? notebook.cells : [];
  cells.push({ cell_type: "markdown", metadata: { manatee: { executedBy: "local-tee" } }, source: lines });
  return Buffer.from(JSON.stringify({ ...notebook, cells }, null, 1));
}
