/**
 * The whole stage-2 path on one machine, offline: the job service's REST API, the local
 * registry and content-addressed builder, the owners' signature repositories, a local
 * Confidential Space + STS whose decisions are the room's compiled conditions (local-tee.ts),
 * and the attestation verifier for release. `manatee job-service --local` starts it; the demo
 * and the end-to-end tests drive it.
 *
 * State lives in one directory, so the owners' `manatee jobs approve --local DIR` (another
 * process) signs into the same registry the service reads:
 *
 *   registry/           job images, executor base, signature repositories
 *   blobs/              workspaces/<sha256>.tar.gz, reviews/<uuid>.json
 *   buckets/<bucket>/   stage-2 data, quarantine, release
 *   keys/<dataset>.pem  the owners' approver keys (stand-ins for their Cloud KMS keys)
 *   jobs.json           the job store
 *   config.json         the job service config in force
 */
import { randomBytes } from "node:crypto";
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createVerifier, generatedSigner, startLocalServer } from "../../attestation-verifier/src/index";
import { localObjectStore } from "../../attestation-verifier/src/object-store";
import type { LocalServer } from "../../attestation-verifier/src/node-server";
import type { VerifierPolicyDocument } from "../policy/document";
import { StaticTokenAuthenticator } from "../../job-service/src/auth";
import { JobServiceConfig, parseJobServiceConfig } from "../../job-service/src/config";
import { launcherSignatures } from "../../job-service/src/cosign";
import { LocalBuilder } from "../../job-service/src/local-builder";
import { LocalRegistry } from "../../job-service/src/local-registry";
import { LocalBlobStore, LocalReleasedOutputs } from "../../job-service/src/local-stores";
import { LocalAttestationService, LocalJobRun, LocalLauncher } from "../../job-service/src/local-tee";
import { parseDigestReference, readImageManifest, gunzipLayer, readTar } from "../../job-service/src/oci";
import { AuditLog, JobStore } from "../../job-service/src/ports";
import { createJobService } from "../../job-service/src/service";
import { SignatureApprovalSource } from "../../job-service/src/signature-approvals";
import { MemoryJobStore } from "../../job-service/src/store";

export interface LocalRoomOptions {
  /** The job service config (compiled from the room file with local keys and base). */
  readonly config: JobServiceConfig;
  /** The verifier policy document compiled from the same room (with `release`). */
  readonly verifierPolicy: VerifierPolicyDocument;
  readonly stateDir: string;
  /** Researcher usernames; each gets a bearer token for the local stand-in of the hub. */
  readonly researchers: readonly string[];
  /** TCP port of the job service; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** Reconcile period; 0 = never by itself (tests call reconcileOnce). @default 500 ms (ManaTEE's reconciler uses 10 s; locally nothing is slow) */
  readonly reconcileIntervalMs?: number;
  /** Where audit records go. @default nowhere */
  readonly audit?: AuditLog;
  /** Verifier decisions, one JSON line each. @default nowhere */
  readonly verifierLog?: (line: string) => void;
  readonly onRun?: (run: LocalJobRun) => void;
}

export interface LocalRoom {
  readonly url: string;
  readonly verifierUrl: string;
  /** researcher → token (`Authorization: token <t>`). */
  readonly tokens: Readonly<Record<string, string>>;
  readonly store: JobStore;
  readonly launcher: LocalLauncher;
  readonly registry: LocalRegistry;
  readonly config: JobServiceConfig;
  readonly bucketsDir: string;
  reconcileOnce(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the local room: verifier, JWKS of the local attestation service, job service. */
export async function startLocalRoom(options: LocalRoomOptions): Promise<LocalRoom> {
  const config = parseJobServiceConfig(options.config);
  const dir = options.stateDir;
  const bucketsDir = join(dir, "buckets");
  for (const path of [join(dir, "registry"), join(dir, "blobs"), bucketsDir]) mkdirSync(path, { recursive: true });

  const audit = options.audit ?? (() => undefined);
  const attestation = await LocalAttestationService.create();
  const jwks = await listen((_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(attestation.jwks));
  });

  const verifier = createVerifier({
    policy: options.verifierPolicy,
    signer: generatedSigner(),
    jwks: { url: `${jwks.url}/jwks`, cacheMaxAgeMs: 3_600_000 },
    objectStore: localObjectStore(bucketsDir),
    log: options.verifierLog ? (record) => options.verifierLog?.(JSON.stringify(record)) : () => undefined,
  });
  const verifierServer: LocalServer = await startLocalServer({ verifier, port: 0 });

  const registry = new LocalRegistry(join(dir, "registry"));
  const blobs = new LocalBlobStore(join(dir, "blobs"));
  const store = new MemoryJobStore({ path: join(dir, "jobs.json") });
  const tokens: Record<string, string> = {};
  for (const name of options.researchers) tokens[name] = randomBytes(24).toString("hex");
  const outputs = new LocalReleasedOutputs(bucketsDir, config.outputs.releaseBucket, "http://127.0.0.1");

  const launcher = new LocalLauncher({
    config,
    attestation,
    signatures: (repos, digest) => launcherSignatures(registry, repos, digest),
    job: async (uuid) => {
      const job = await store.getByUuid(uuid);
      return job && { notebook: job.notebook, datasets: job.datasets };
    },
    readWorkspaceFile: (reference, path) => readImageFile(registry, reference, `${config.images.workspaceDir.slice(1)}/${path}`),
    bucketsDir,
    verifierUrl: verifierServer.url,
    onRun: options.onRun,
  });

  const service = createJobService({
    config,
    store,
    auth: new StaticTokenAuthenticator(Object.fromEntries(Object.entries(tokens).map(([name, token]) => [token, name]))),
    blobs,
    builder: new LocalBuilder({ registry, workspaceDir: config.images.workspaceDir }),
    approvals: new SignatureApprovalSource({ registry, config }),
    launcher,
    outputs,
    audit,
  });
  const api = await listen(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (await outputs.objectRoute(url, res)) return;
    service.listener(req, res);
  }, options.port ?? 0);
  outputs.setBaseUrl(api.url);
  if ((options.reconcileIntervalMs ?? 500) > 0) service.start(options.reconcileIntervalMs ?? 500);

  return {
    url: api.url,
    verifierUrl: verifierServer.url,
    tokens,
    store,
    launcher,
    registry,
    config,
    bucketsDir,
    reconcileOnce: async () => {
      await service.reconcileOnce();
    },
    async close() {
      service.stop();
      await launcher.idle();
      await Promise.all([api.close(), jwks.close(), verifierServer.close()]);
    },
  };
}

/** One file of a job image's last (workspace) layer. */
async function readImageFile(registry: LocalRegistry, reference: string, path: string): Promise<Uint8Array | undefined> {
  const { repo, digest } = parseDigestReference(reference);
  const { manifest } = await readImageManifest(registry, repo, digest);
  const layer = manifest.layers[manifest.layers.length - 1];
  if (!layer) return undefined;
  const entries = readTar(gunzipLayer(await registry.getBlob(repo, layer.digest), "workspace layer"));
  const entry = entries.find((e) => e.path.replace(/^\.\//, "").replace(/\/$/, "") === path && e.type === "file");
  return entry?.content;
}

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
  port = 0,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch(() => {
      if (!res.headersSent) res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
