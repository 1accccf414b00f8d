/**
 * Container entry of the job service in a room (the image lib/constructs/clean-room-workloads.ts builds):
 * reads the compiled `JobServiceConfig` and the deployment's environment (env.ts
 * JOB_SERVICE_ENV), wires the Google adapters into the ports, serves the API on $PORT with
 * `GET /health`, runs the reconcile loop (service.ts) and, when a dataset has stage-1
 * provisioning, pulls its trigger subscription (provisioning-pull.ts). Thin on purpose: every decision lives
 * in the modules it wires.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { Firestore } from "@google-cloud/firestore";
import { Storage } from "@google-cloud/storage";
import { CloudBuildClient } from "@google-cloud/cloudbuild";
import { GoogleAuth } from "google-auth-library";
import { jsonLineAudit } from "./audit";
import { HubAuthenticator } from "./auth";
import { CloudBuildBuilder, type CloudBuildClientLike } from "./cloud-build-builder";
import { parseJobServiceConfig, type JobServiceConfig } from "./config";
import { FirestoreJobStore, type FirestoreLike } from "./firestore-store";
import { GceLauncher, type ComputeRequest } from "./gce-launcher";
import { GcsBlobStore, GcsReleasedOutputs, type GcsBucketLike } from "./gcs";
import type { AuditLog } from "./ports";
import { createProvisioningPuller, provisioningSubscriptions, type ProvisioningPuller } from "./provisioning-pull";
import { RemoteRegistry } from "./registry-http";
import { createJobService, type JobService } from "./service";
import { SignatureApprovalSource } from "./signature-approvals";
import { JOB_SERVICE_ENV } from "./env";

/** The environment the deployment sets (job-service/src/env.ts, shared with lib/constructs/workloads/job-service/workload.ts). */
export { JOB_SERVICE_ENV };

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function required(env: Env, name: string): string {
  const v = env[name];
  if (v === undefined || v.trim() === "") throw new StartupError(`${name} is not set; the deployment (lib/constructs/workloads/job-service/index.ts) sets it.`);
  return v;
}

/** The config from `MANATEE_JOB_SERVICE_CONFIG`: a file path, or the JSON itself. */
export function loadConfig(env: Env): JobServiceConfig {
  const value = required(env, JOB_SERVICE_ENV.configFile);
  let text: string;
  try {
    text = value.trimStart().startsWith("{") ? value : readFileSync(value, "utf8");
  } catch (err) {
    throw new StartupError(`${JOB_SERVICE_ENV.configFile}: cannot read ${value}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new StartupError(`${JOB_SERVICE_ENV.configFile}: not JSON: ${(err as Error).message}`);
  }
  return parseJobServiceConfig(parsed);
}

/** The job service with every port wired to Google. */
export interface Services {
  readonly config: JobServiceConfig;
  readonly audit: AuditLog;
  readonly service: JobService;
  /** Pulls the provisioning triggers' subscriptions; absent when no dataset has provisioning. */
  readonly provisioning?: ProvisioningPuller;
}

export function createServices(env: Env = process.env): Services {
  const config = loadConfig(env);
  const project = required(env, JOB_SERVICE_ENV.project);
  if (project !== config.project) throw new StartupError(`${JOB_SERVICE_ENV.project} is ${project} but the config's project is ${config.project}.`);
  const audit = jsonLineAudit((line) => process.stdout.write(`${line}\n`));
  const auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
  const token = async () => (await auth.getAccessToken()) ?? undefined;
  const storage = new Storage({ projectId: project });
  const bucket = (name: string) => storage.bucket(name) as unknown as GcsBucketLike;
  // Job images and signature repositories are regional Artifact Registry repositories of the room.
  const registry = new RemoteRegistry({ baseUrl: `https://${config.region}-docker.pkg.dev`, token });

  const store = new FirestoreJobStore(new Firestore({ projectId: project, databaseId: required(env, JOB_SERVICE_ENV.firestoreDatabase) }) as unknown as FirestoreLike);
  const builder = new CloudBuildBuilder({
    client: new CloudBuildClient() as unknown as CloudBuildClientLike,
    project,
    region: config.region,
    serviceAccount: required(env, JOB_SERVICE_ENV.builderServiceAccount),
    workspaceBucket: required(env, JOB_SERVICE_ENV.workspaceBucket),
    registry,
    images: { gcloud: required(env, JOB_SERVICE_ENV.buildStepGcloud), crane: required(env, JOB_SERVICE_ENV.buildStepCrane) },
    workspaceDir: config.images.workspaceDir,
  });
  const approvals = new SignatureApprovalSource({ registry, config, log: (message) => audit({ event: "signature_skipped", message }) });
  const request: ComputeRequest = async <T>(options: { url: string; method: "GET" | "POST" | "DELETE"; data?: unknown }) => {
    const r = await auth.request<T>({ url: options.url, method: options.method, data: options.data });
    return { data: r.data };
  };
  const launcher = new GceLauncher({ config, request });
  const service = createJobService({
    config,
    store,
    builder,
    approvals,
    launcher,
    auth: new HubAuthenticator({
      hubApiUrl: required(env, JOB_SERVICE_ENV.hubApiUrl),
      researchers: config.researchers,
      onRefusal: (reason) => audit({ event: "auth_refused", reason }),
    }),
    blobs: new GcsBlobStore(bucket(required(env, JOB_SERVICE_ENV.workspaceBucket))),
    outputs: new GcsReleasedOutputs(bucket(config.outputs.releaseBucket)),
    audit,
  });
  // The job service's account is each subscription's only subscriber (Stage1ProvisioningTrigger);
  // the pod's egress allows Google APIs on 443 (JobService's EgressPolicy).
  const provisioning = provisioningSubscriptions(config).length > 0 ? createProvisioningPuller({ config, store, request, audit }) : undefined;
  return { config, audit, service, provisioning };
}

/** Serves the API and `GET /health` on $PORT (default 8080); resolves once listening. */
export async function main(env: Env = process.env): Promise<Server> {
  let services: Services;
  try {
    services = createServices(env);
  } catch (err) {
    process.stderr.write(`job service: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const server = createServer((req, res) => {
    if (req.method === "GET" && (req.url === "/health" || req.url === "/health/")) {
      res.writeHead(200, { "content-type": "application/json" }).end('{"message":"pong"}');
      return;
    }
    services.service.listener(req, res);
  });
  const port = Number(env[JOB_SERVICE_ENV.port] ?? "8080");
  await new Promise<void>((resolve) => server.listen(port, "0.0.0.0", resolve));
  // One loop per room: the Deployment runs one replica with the Recreate strategy.
  services.service.start();
  services.provisioning?.start();
  services.audit({ event: "started", room: services.config.room, port });
  const stop = () => {
    server.close();
    void Promise.all([services.service.stop(), services.provisioning?.stop()]).finally(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  return server;
}

if (require.main === module) void main();
