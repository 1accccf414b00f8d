/**
 * ManaTEE's job REST API, as the unchanged JupyterLab extension calls it (paths, fields,
 * the 307 to the trailing-slash path, `{code, msg}` answers with HTTP 200), with what
 * ManaTEE's API lacks: every call is authenticated at the hub, the creator is the verified
 * name, and a researcher sees only their own jobs.
 */
import { createHash, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import busboy from "busboy";
import { errorText } from "./audit";
import type { JobServiceConfig } from "./config";
import { JobStatus, PreconditionFailedError, type AuditLog, type Authenticator, type BlobStore, type Clock, type JobRecord, type JobStore, type ReleasedOutputs } from "./ports";
import { parseWorkspace, WorkspaceError } from "./workspace";

/** `code` values of `{code, msg}` answers. 0 is success, as in ManaTEE. */
export const ApiCode = {
  Ok: 0,
  BadRequest: 10001,
  LimitReached: 10002,
  NotFound: 10004,
  NotReady: 10005,
  TooLarge: 10013,
  Unauthorized: 10401,
  Forbidden: 10403,
  NotFoundRoute: 10404,
  MethodNotAllowed: 10405,
  Internal: 10500,
} as const;

/** What the API needs; the service wires the real ports. */
export interface JobApiDeps {
  readonly config: JobServiceConfig;
  readonly store: JobStore;
  readonly auth: Authenticator;
  readonly blobs: BlobStore;
  readonly outputs: ReleasedOutputs;
  readonly audit?: AuditLog;
  readonly clock?: Clock;
  /** @default crypto.randomUUID */
  readonly newUuid?: () => string;
  /** Largest JSON body. @default 65536 */
  readonly maxJsonBytes?: number;
  /** Lifetime of download URLs (ManaTEE: 1 h). @default 3600 */
  readonly downloadTtlSeconds?: number;
}

/** An answer other than success: HTTP status (200 for ManaTEE's app errors), code, message. */
class ApiError extends Error {
  constructor(readonly code: number, message: string, readonly http = 200) {
    super(message);
  }
}

const ROUTES = ["/v1/job/submit/", "/v1/job/query/", "/v1/job/delete/", "/v1/job/output/download/", "/v1/job/attestation/"] as const;
type Route = (typeof ROUTES)[number];

const ENV_KEY = /^[A-Z_][A-Z0-9_]*$/;
const MAX_ENVS = 50;
const MAX_ENV_VALUE = 4096;
const MAX_PAGE_SIZE = 100;
const NOT_FOUND = "job not found";

/** The request listener for `http.createServer`. Never throws; bad input never answers 500. */
export function createJobApi(deps: JobApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const audit: AuditLog = deps.audit ?? (() => undefined);
  const newUuid = deps.newUuid ?? randomUUID;
  const maxJson = deps.maxJsonBytes ?? 65536;
  const ttl = deps.downloadTtlSeconds ?? 3600;
  const roomDatasets = deps.config.datasets.map((d) => d.name);
  const researchers = new Set(deps.config.researchers);
  // Submissions of one researcher run one at a time, so two cannot both pass the limit.
  const locks = new Map<string, Promise<unknown>>();
  const withLock = <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const prev = locks.get(key) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    const tail = run.catch(() => undefined);
    locks.set(key, tail);
    void tail.then(() => locks.get(key) === tail && locks.delete(key));
    return run;
  };

  async function ownJob(name: string, id: unknown): Promise<JobRecord> {
    const n = typeof id === "number" ? id : typeof id === "string" && /^\d{1,15}$/.test(id) ? Number(id) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) throw new ApiError(ApiCode.BadRequest, "id: expected the job's numeric id (from the jobs list)");
    const job = await deps.store.get(n);
    // Another researcher's job answers exactly like a missing one.
    if (!job || job.creator !== name || job.deleted) throw new ApiError(ApiCode.NotFound, NOT_FOUND);
    return job;
  }

  function checkCreator(body: Record<string, unknown>, name: string): void {
    if (body.creator !== undefined && body.creator !== name) {
      throw new ApiError(ApiCode.Forbidden, `creator: "${String(body.creator)}" differs from the signed-in user; the creator comes from the credential, not the request`);
    }
  }

  const handlers: Record<Route, (req: IncomingMessage, name: string) => Promise<Record<string, unknown>>> = {
    "/v1/job/submit/": (req, name) => submit(req, name),

    "/v1/job/query/": async (req, name) => {
      const body = await readJson(req, maxJson);
      checkCreator(body, name);
      const page = body.page ?? 1;
      const pageSize = body.page_size ?? 10;
      if (!Number.isInteger(page) || (page as number) < 1) throw new ApiError(ApiCode.BadRequest, "page: expected an integer ≥ 1");
      if (!Number.isInteger(pageSize) || (pageSize as number) < 1 || (pageSize as number) > MAX_PAGE_SIZE) {
        throw new ApiError(ApiCode.BadRequest, `page_size: expected an integer from 1 to ${MAX_PAGE_SIZE}`);
      }
      const { jobs, total } = await deps.store.list({ creator: name }, page as number, pageSize as number);
      return {
        jobs: jobs.map((j) => ({
          id: j.id,
          uuid: j.uuid,
          creator: j.creator,
          job_status: j.status,
          jupyter_file_name: j.notebook,
          created_at: j.createdAt,
          updated_at: j.updatedAt,
        })),
        total,
      };
    },

    "/v1/job/delete/": async (req, name) => {
      const body = await readJson(req, maxJson);
      checkCreator(body, name);
      if (typeof body.uuid !== "string" || !body.uuid) throw new ApiError(ApiCode.BadRequest, "uuid: expected the job's uuid (from the jobs list)");
      for (let attempt = 0; attempt < 5; attempt++) {
        const job = await deps.store.getByUuid(body.uuid);
        if (!job || job.creator !== name || job.deleted) throw new ApiError(ApiCode.NotFound, NOT_FOUND);
        try {
          await deps.store.update(job.id, job.version, { deleted: true });
        } catch (e) {
          if (e instanceof PreconditionFailedError) continue; // the reconciler moved it: read again
          throw e;
        }
        // The reconciler stops its VM (status 6) on its next pass.
        audit({ event: "deleted", job: job.id, uuid: job.uuid, creator: name, status: job.status });
        return {};
      }
      throw new ApiError(ApiCode.Internal, "the job kept changing; try again", 200);
    },

    "/v1/job/output/download/": async (req, name) => {
      const body = await readJson(req, maxJson);
      checkCreator(body, name);
      const job = await ownJob(name, body.id);
      const rel = await deps.outputs.released(job.uuid);
      if (!rel || rel.objects.length === 0) throw new ApiError(ApiCode.NotReady, "no released output yet");
      const pick = rel.objects.find((o) => o.name.split("/").pop() === job.notebook) ?? rel.objects[0];
      const url = await deps.outputs.downloadUrl(pick.name, ttl);
      audit({ event: "download", job: job.id, uuid: job.uuid, creator: name, object: pick.name, sha256: pick.sha256 });
      return { signed_url: url, filename: `out-${job.id}-${job.notebook}` };
    },

    "/v1/job/attestation/": async (req, name) => {
      const body = await readJson(req, maxJson);
      checkCreator(body, name);
      const job = await ownJob(name, body.id);
      const rel = await deps.outputs.released(job.uuid);
      if (!rel || !rel.receiptObject) throw new ApiError(ApiCode.NotReady, "no attestation yet: the job's results have not been released");
      const url = await deps.outputs.downloadUrl(rel.receiptObject, ttl);
      audit({ event: "attestation", job: job.id, uuid: job.uuid, creator: name, object: rel.receiptObject });
      return { signed_url: url };
    },
  };

  async function submit(req: IncomingMessage, name: string): Promise<Record<string, unknown>> {
    const limits = deps.config.limits;
    const form = await readMultipart(req, limits.maxWorkspaceBytes);
    checkCreator(form.fields, name);
    const filename = form.fields.filename;
    if (typeof filename !== "string" || !/\.ipynb$/.test(filename) || filename.length >= 128 || /[/\\\x00-\x1f]/.test(filename) || filename.includes("..")) {
      throw new ApiError(ApiCode.BadRequest, "filename: expected a notebook name ending in .ipynb, under 128 characters, without '/' or '..' (submit a notebook at the home directory's root)");
    }
    const envs = parseEnvs(form.fields.envs);
    if (!form.file) throw new ApiError(ApiCode.BadRequest, "file: missing; upload the workspace as a gzip tarball in the multipart field `file`");
    const bytes = form.file;

    return withLock(name, async () => {
      const inProgress = await deps.store.countInProgress(name);
      if (inProgress >= limits.maxJobsInProgressPerResearcher) {
        throw new ApiError(
          ApiCode.LimitReached,
          `you have ${inProgress} jobs in progress; the room allows ${limits.maxJobsInProgressPerResearcher} (limits.maxJobsInProgressPerResearcher): wait for one to finish or delete one`,
        );
      }
      let ws;
      try {
        ws = await parseWorkspace(bytes, { notebook: filename, maxBytes: limits.maxWorkspaceBytes });
      } catch (e) {
        if (e instanceof WorkspaceError) throw new ApiError(ApiCode.BadRequest, e.message);
        throw e;
      }
      const datasets = chooseDatasets(ws.datasets, envs);
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      // Content-addressed: one object per distinct upload, never shared by name between jobs.
      const object = `workspaces/${sha256}.tar.gz`;
      await deps.blobs.put(object, bytes);
      const job = await deps.store.create({
        uuid: newUuid(),
        creator: name,
        notebook: filename,
        status: JobStatus.Created,
        datasets,
        purpose: ws.purpose ?? "",
        envs,
        workspace: { object, sha256, size: bytes.length, files: ws.files, dependencies: ws.dependencies },
        decisions: {},
        deleted: false,
      });
      audit({
        event: "submitted",
        job: job.id,
        uuid: job.uuid,
        creator: name,
        notebook: filename,
        datasets,
        purpose: job.purpose,
        workspace: { sha256, size: bytes.length, files: ws.files.length },
        dependencies: ws.dependencies,
        envKeys: envs.map((e) => e.key),
      });
      return { uuid: job.uuid };
    });
  }

  function chooseDatasets(fromNotebook: string[] | undefined, envs: { key: string; value: string }[]): string[] {
    const fromEnv = envs.find((e) => e.key === "DATASETS")?.value;
    let chosen: string[];
    if (fromNotebook && fromNotebook.length) chosen = fromNotebook;
    else if (fromEnv !== undefined && fromEnv.trim()) chosen = fromEnv.split(",").map((s) => s.trim()).filter(Boolean);
    else if (roomDatasets.length === 1) chosen = [roomDatasets[0]];
    else {
      throw new ApiError(
        ApiCode.BadRequest,
        `datasets: name the datasets the job reads in the notebook metadata (metadata.manatee.datasets) or in MANATEE_EXTRA_ENV_DATASETS; this room has ${roomDatasets.join(", ")}`,
      );
    }
    const unknown = chosen.filter((d) => !roomDatasets.includes(d));
    if (unknown.length) throw new ApiError(ApiCode.BadRequest, `datasets: ${unknown.join(", ")} not in this room; it has ${roomDatasets.join(", ")}`);
    return [...new Set(chosen)];
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let path: string;
    let search: string;
    try {
      const u = new URL(req.url ?? "/", "http://localhost");
      path = u.pathname;
      search = u.search;
    } catch {
      return send(req, res, 400, { code: ApiCode.BadRequest, msg: "bad request URL" });
    }
    if (path === "/health") {
      if (req.method !== "GET" && req.method !== "HEAD") return send(req, res, 405, { code: ApiCode.MethodNotAllowed, msg: "use GET" });
      return send(req, res, 200, { message: "pong" });
    }
    // Hertz answers the path without its trailing slash with 307; the extension re-posts.
    if ((ROUTES as readonly string[]).includes(path + "/")) {
      res.setHeader("Location", path + "/" + search);
      return send(req, res, 307, { code: ApiCode.Ok, msg: "redirect" });
    }
    if (!(ROUTES as readonly string[]).includes(path)) {
      return send(req, res, 404, { code: ApiCode.NotFoundRoute, msg: `no such route ${path}` });
    }
    const route = path as Route;
    const researcher = await deps.auth.authenticate(req.headers.authorization);
    if (!researcher) {
      audit({ event: "unauthenticated", route, remote: req.socket.remoteAddress, header: req.headers.authorization ? "invalid" : "missing" });
      return send(req, res, 401, {
        code: ApiCode.Unauthorized,
        msg: "authentication required: send `Authorization: token <JupyterHub server token>` (the room sets USER_TOKEN for the extension)",
      });
    }
    if (researchers.size > 0 && !researchers.has(researcher.name)) {
      audit({ event: "refused", route, creator: researcher.name, reason: "not a researcher of this room" });
      return send(req, res, 403, { code: ApiCode.Forbidden, msg: "you are not a researcher of this room (researchers in the room file)" });
    }
    if (req.method !== "POST") return send(req, res, 405, { code: ApiCode.MethodNotAllowed, msg: "use POST" });
    try {
      const result = await handlers[route](req, researcher.name);
      send(req, res, 200, { code: ApiCode.Ok, msg: "success", ...result });
    } catch (e) {
      if (e instanceof ApiError) {
        audit({ event: "refused", route, creator: researcher.name, code: e.code, reason: e.message });
        return send(req, res, e.http, { code: e.code, msg: e.message });
      }
      audit({ event: "error", route, creator: researcher.name, error: errorText(e) });
      send(req, res, 500, { code: ApiCode.Internal, msg: "internal error; the operator's log has the details" });
    }
  }

  return (req, res) => {
    handle(req, res).catch((e) => {
      audit({ event: "error", error: errorText(e) });
      if (!res.headersSent) send(req, res, 500, { code: ApiCode.Internal, msg: "internal error" });
      else res.destroy();
    });
  };
}

/** JSON answer. A request body still arriving is drained (small) or the connection closed. */
function send(req: IncomingMessage, res: ServerResponse, status: number, body: Record<string, unknown>): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  const unread = !req.complete;
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    ...(unread ? { Connection: "close" } : {}),
  });
  res.end(text);
  // Discard what the client still sends (a 307 or 401 before the upload), without buffering it.
  if (unread) req.resume();
}

async function readJson(req: IncomingMessage, max: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > max) throw new ApiError(ApiCode.TooLarge, `body: over ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new ApiError(ApiCode.TooLarge, `body: over ${max} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (!text.trim()) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(ApiCode.BadRequest, "body: not valid JSON; send a JSON object such as {\"id\": 1}");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new ApiError(ApiCode.BadRequest, "body: expected a JSON object");
  return value as Record<string, unknown>;
}

function parseEnvs(raw: string | undefined): { key: string; value: string }[] {
  if (raw === undefined || raw.trim() === "") return [];
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ApiError(ApiCode.BadRequest, 'envs: not valid JSON; expected a list like [{"key": "EPOCHS", "value": "3"}]');
  }
  if (value === null) return [];
  if (!Array.isArray(value)) throw new ApiError(ApiCode.BadRequest, 'envs: expected a list like [{"key": "EPOCHS", "value": "3"}]');
  if (value.length > MAX_ENVS) throw new ApiError(ApiCode.BadRequest, `envs: ${value.length} entries; at most ${MAX_ENVS}`);
  const seen = new Set<string>();
  return value.map((e: unknown, i: number) => {
    const { key, value: v } = (e ?? {}) as { key?: unknown; value?: unknown };
    if (typeof key !== "string" || !ENV_KEY.test(key)) throw new ApiError(ApiCode.BadRequest, `envs[${i}].key: expected an upper-case name matching [A-Z_][A-Z0-9_]*`);
    if (typeof v !== "string") throw new ApiError(ApiCode.BadRequest, `envs[${i}].value (${key}): expected a string`);
    if (v.length > MAX_ENV_VALUE) throw new ApiError(ApiCode.BadRequest, `envs[${i}].value (${key}): over ${MAX_ENV_VALUE} characters`);
    if (seen.has(key)) throw new ApiError(ApiCode.BadRequest, `envs[${i}].key: ${key} appears twice`);
    seen.add(key);
    return { key, value: v };
  });
}

/** Multipart upload: text fields and the single `file` part, bytes counted as they stream. */
function readMultipart(req: IncomingMessage, maxFileBytes: number): Promise<{ fields: Record<string, string>; file?: Buffer }> {
  const wrong = "submit: expected multipart/form-data with fields file, envs, creator, filename";
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    // busboy also reads urlencoded forms; a workspace upload is multipart only.
    if (!/^multipart\/form-data\s*;/i.test(req.headers["content-type"] ?? "")) return reject(new ApiError(ApiCode.BadRequest, wrong));
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fields: 10, parts: 12, fieldSize: 64 * 1024, fileSize: maxFileBytes, headerPairs: 50 } });
    } catch {
      return reject(new ApiError(ApiCode.BadRequest, wrong));
    }
    const fields: Record<string, string> = {};
    const chunks: Buffer[] = [];
    let gotFile = false;
    let failed = false;
    const fail = (e: ApiError) => {
      if (failed) return;
      failed = true;
      req.unpipe(bb);
      reject(e);
    };
    bb.on("field", (name, value, info) => {
      if (info.valueTruncated) return fail(new ApiError(ApiCode.BadRequest, `${name}: over 64 KiB`));
      if (name in fields) return fail(new ApiError(ApiCode.BadRequest, `${name}: sent twice`));
      fields[name] = value;
    });
    bb.on("file", (name, stream) => {
      if (name !== "file") {
        stream.resume();
        return fail(new ApiError(ApiCode.BadRequest, `${name}: unexpected file field; upload the workspace as \`file\``));
      }
      gotFile = true;
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("limit", () => {
        fail(
          new ApiError(
            ApiCode.TooLarge,
            `file: the workspace is over ${maxFileBytes} bytes (limits.maxWorkspaceBytes); move data and large files out of the home directory`,
          ),
        );
        stream.resume();
      });
    });
    bb.on("filesLimit", () => fail(new ApiError(ApiCode.BadRequest, "file: only one file per submission")));
    bb.on("fieldsLimit", () => fail(new ApiError(ApiCode.BadRequest, wrong)));
    bb.on("partsLimit", () => fail(new ApiError(ApiCode.BadRequest, wrong)));
    bb.on("error", (e: Error) => fail(new ApiError(ApiCode.BadRequest, `${wrong} (${e.message})`)));
    bb.on("close", () => {
      if (failed) return;
      resolve({ fields, file: gotFile ? Buffer.concat(chunks) : undefined });
    });
    req.on("error", () => fail(new ApiError(ApiCode.BadRequest, "upload interrupted")));
    req.pipe(bb);
  });
}
