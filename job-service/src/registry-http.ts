/**
 * The OCI distribution API, both ways: `RemoteRegistry` is a client (Artifact Registry at
 * `https://<region>-docker.pkg.dev` with an OAuth token, or any registry speaking the API) and
 * `serveRegistry` exposes any `Registry` (a LocalRegistry) over the same API, so the local mode
 * and the tests use the real wire protocol. Only monolithic blob uploads (POST then one PUT).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { MANIFEST_MEDIA_TYPES, RegistryNotFoundError, isDigest, sha256Digest, verifyDigest, DigestMismatchError, type Registry, type StoredManifest } from "./oci";
import { assertRepo, assertTag } from "./local-registry";

export class RegistryHttpError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
    this.name = "RegistryHttpError";
  }
}

export interface RemoteRegistryOptions {
  /** `https://europe-west4-docker.pkg.dev`, or `http://127.0.0.1:<port>` for a local registry. */
  readonly baseUrl: string;
  /** An OAuth access token (e.g. google-auth-library's `GoogleAuth.getAccessToken`); sent as Bearer. */
  readonly token?: () => Promise<string | null | undefined>;
  readonly fetch?: typeof fetch;
}

/**
 * A registry client over HTTP. Repository names may include the registry host of `baseUrl`
 * (`europe-west4-docker.pkg.dev/p/repo/name`, as in the room config), which is stripped; a
 * different host is refused. Every manifest and blob read is re-hashed against its digest.
 */
export class RemoteRegistry implements Registry {
  private readonly base: URL;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: RemoteRegistryOptions) {
    this.base = new URL(options.baseUrl);
    if (this.base.protocol !== "https:" && !(this.base.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(this.base.hostname))) {
      throw new Error(`registry baseUrl ${options.baseUrl}: expected https:// (plain http only for 127.0.0.1 or localhost)`);
    }
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** The repository path on this registry (`p/repo/name`) for a name with or without this registry's host. */
  path(repo: string): string {
    assertRepo(repo);
    const [first, ...rest] = repo.split("/");
    if (rest.length > 0 && (first.includes(".") || first.includes(":") || first === "localhost")) {
      if (first !== this.base.host) throw new Error(`repository ${repo} is on ${first}, but this registry client talks to ${this.base.host}: use a client for that host`);
      return rest.join("/");
    }
    return repo;
  }

  async getManifest(repo: string, reference: string): Promise<StoredManifest | undefined> {
    if (!isDigest(reference)) assertTag(reference);
    const res = await this.request("GET", `/v2/${this.path(repo)}/manifests/${reference}`, { accept: MANIFEST_MEDIA_TYPES.join(", ") });
    if (res.status === 404) return undefined;
    await this.ok(res, `GET manifest ${repo}:${reference}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const digest = sha256Digest(bytes);
    if (isDigest(reference)) verifyDigest(bytes, reference, `${repo}@${reference}`);
    const claimed = res.headers.get("docker-content-digest");
    if (claimed && claimed !== digest) throw new DigestMismatchError(`${repo}:${reference}: registry says ${claimed} but the manifest hashes to ${digest}: refusing it`);
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0].trim();
    return { bytes, mediaType: mediaType || mediaTypeOf(bytes), digest };
  }

  async putManifest(repo: string, tag: string | undefined, bytes: Uint8Array, mediaType: string): Promise<string> {
    if (tag !== undefined) assertTag(tag);
    const digest = sha256Digest(bytes);
    const res = await this.request("PUT", `/v2/${this.path(repo)}/manifests/${tag ?? digest}`, { "content-type": mediaType }, bytes);
    await this.ok(res, `PUT manifest ${repo}:${tag ?? digest}`);
    const claimed = res.headers.get("docker-content-digest");
    if (claimed && claimed !== digest) throw new DigestMismatchError(`${repo}: registry stored the manifest as ${claimed}, expected ${digest}`);
    return digest;
  }

  async getBlob(repo: string, digest: string): Promise<Uint8Array> {
    if (!isDigest(digest)) throw new Error(`blob ${JSON.stringify(digest)}: expected a sha256: digest`);
    const res = await this.request("GET", `/v2/${this.path(repo)}/blobs/${digest}`, {});
    if (res.status === 404) throw new RegistryNotFoundError(`${repo}: blob ${digest} not found`);
    await this.ok(res, `GET blob ${repo}@${digest}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    verifyDigest(bytes, digest, `${repo} blob ${digest}`);
    return bytes;
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await this.request("HEAD", `/v2/${this.path(repo)}/blobs/${digest}`, {});
    if (res.status === 404) return false;
    await this.ok(res, `HEAD blob ${repo}@${digest}`);
    return true;
  }

  async putBlob(repo: string, bytes: Uint8Array): Promise<string> {
    const digest = sha256Digest(bytes);
    if (await this.hasBlob(repo, digest)) return digest;
    const start = await this.request("POST", `/v2/${this.path(repo)}/blobs/uploads/`, {});
    await this.ok(start, `POST blob upload ${repo}`);
    const location = start.headers.get("location");
    if (!location) throw new RegistryHttpError(`POST blob upload ${repo}: the registry returned no Location`, start.status);
    const url = new URL(location, this.base);
    url.searchParams.set("digest", digest);
    const put = await this.request("PUT", url, { "content-type": "application/octet-stream" }, bytes);
    await this.ok(put, `PUT blob ${repo}@${digest}`);
    return digest;
  }

  async listTags(repo: string): Promise<string[]> {
    const res = await this.request("GET", `/v2/${this.path(repo)}/tags/list`, {});
    if (res.status === 404) return [];
    await this.ok(res, `GET tags ${repo}`);
    const body = (await res.json()) as { tags?: string[] | null };
    return [...(body.tags ?? [])].sort();
  }

  private async request(method: string, path: string | URL, headers: Record<string, string>, body?: Uint8Array): Promise<Response> {
    const url = typeof path === "string" ? new URL(path, this.base) : path;
    if (url.origin !== this.base.origin) throw new Error(`registry sent an upload location on ${url.origin}, not ${this.base.origin}: refusing to send credentials there`);
    const token = this.options.token ? await this.options.token() : undefined;
    return this.fetchImpl(url, {
      method,
      headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined,
    });
  }

  private async ok(res: Response, what: string): Promise<void> {
    if (res.status >= 200 && res.status < 300) return;
    const text = await res.text().catch(() => "");
    const hint =
      res.status === 401 || res.status === 403
        ? " (check the credentials: reading needs roles/artifactregistry.reader, pushing roles/artifactregistry.writer on the repository)"
        : "";
    throw new RegistryHttpError(`${what}: HTTP ${res.status}${hint}${text ? `: ${text.slice(0, 300)}` : ""}`, res.status);
  }
}

function mediaTypeOf(bytes: Uint8Array): string {
  try {
    return String((JSON.parse(Buffer.from(bytes).toString("utf8")) as { mediaType?: string }).mediaType ?? "");
  } catch {
    return "";
  }
}

export interface ServeRegistryOptions {
  /** Largest request body accepted. @default 512 MiB */
  readonly maxBodyBytes?: number;
}

/**
 * An HTTP listener exposing `registry` over the OCI distribution API (for `http.createServer`):
 * `GET /v2/`, GET/HEAD/PUT manifests, GET/HEAD blobs, POST + PUT monolithic uploads, tags list.
 * No authentication: bind it to 127.0.0.1.
 */
export function serveRegistry(registry: Registry, options: ServeRegistryOptions = {}): RequestListener {
  const maxBody = options.maxBodyBytes ?? 512 * 1024 * 1024;
  const uploads = new Map<string, string>();
  return (req, res) => {
    handle(req, res).catch((e: Error) => {
      const status = e instanceof RegistryNotFoundError ? 404 : e instanceof DigestMismatchError ? 400 : e instanceof HttpFailure ? e.status : 500;
      const code = status === 404 ? "BLOB_UNKNOWN" : e instanceof DigestMismatchError ? "DIGEST_INVALID" : status === 400 ? "UNSUPPORTED" : "UNKNOWN";
      if (!res.headersSent) res.writeHead(status, { "content-type": "application/json" });
      res.end(req.method === "HEAD" ? undefined : JSON.stringify({ errors: [{ code, message: e.message }] }));
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://registry.invalid");
    const method = req.method ?? "GET";
    if (url.pathname === "/v2/" || url.pathname === "/v2") return send(res, 200, "application/json", Buffer.from("{}"), method);
    const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\/(.*)$/.exec(url.pathname);
    if (!m) throw new HttpFailure(404, `no route for ${url.pathname}`);
    const [, name, kind, rest] = m;
    try {
      assertRepo(name);
    } catch (e) {
      throw new HttpFailure(400, (e as Error).message);
    }
    if (kind === "manifests") {
      if (method === "GET" || method === "HEAD") {
        const found = await registry.getManifest(name, rest);
        if (!found) throw new RegistryNotFoundError(`manifest ${name}:${rest} not found`);
        res.setHeader("docker-content-digest", found.digest);
        return send(res, 200, found.mediaType, found.bytes, method);
      }
      if (method === "PUT") {
        const body = await readBody(req, maxBody);
        const mediaType = (req.headers["content-type"] ?? "").split(";")[0].trim();
        if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) throw new HttpFailure(400, `manifest media type ${mediaType || "(none)"} is not supported`);
        if (isDigest(rest)) verifyDigest(body, rest, `manifest ${name}@${rest}`);
        const digest = await registry.putManifest(name, isDigest(rest) ? undefined : rest, body, mediaType);
        res.setHeader("docker-content-digest", digest);
        res.setHeader("location", `/v2/${name}/manifests/${digest}`);
        return send(res, 201, "text/plain", Buffer.alloc(0), method);
      }
    }
    if (kind === "blobs") {
      if (rest === "uploads/" && method === "POST") {
        const id = randomUUID();
        uploads.set(id, name);
        res.setHeader("location", `/v2/${name}/blobs/uploads/${id}`);
        return send(res, 202, "text/plain", Buffer.alloc(0), method);
      }
      const up = /^uploads\/([0-9a-f-]{36})$/.exec(rest);
      if (up && method === "PUT") {
        if (uploads.get(up[1]) !== name) throw new HttpFailure(404, `upload ${up[1]} is unknown for ${name}`);
        const digest = url.searchParams.get("digest") ?? "";
        if (!isDigest(digest)) throw new HttpFailure(400, "a monolithic upload needs ?digest=sha256:…");
        const body = await readBody(req, maxBody);
        verifyDigest(body, digest, `blob upload to ${name}`);
        uploads.delete(up[1]);
        await registry.putBlob(name, body);
        res.setHeader("docker-content-digest", digest);
        res.setHeader("location", `/v2/${name}/blobs/${digest}`);
        return send(res, 201, "text/plain", Buffer.alloc(0), method);
      }
      if (isDigest(rest) && (method === "GET" || method === "HEAD")) {
        if (method === "HEAD" && registry.hasBlob && !(await registry.hasBlob(name, rest))) throw new RegistryNotFoundError(`blob ${rest} not found`);
        const bytes = await registry.getBlob(name, rest);
        res.setHeader("docker-content-digest", rest);
        return send(res, 200, "application/octet-stream", bytes, method);
      }
    }
    if (kind === "tags" && rest === "list" && method === "GET") {
      const tags = registry.listTags ? await registry.listTags(name) : [];
      return send(res, 200, "application/json", Buffer.from(JSON.stringify({ name, tags })), method);
    }
    throw new HttpFailure(405, `${method} ${url.pathname} is not supported`);
  }
}

class HttpFailure extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: Uint8Array, method: string): void {
  res.writeHead(status, { "content-type": contentType, "content-length": String(body.byteLength) });
  res.end(method === "HEAD" ? undefined : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new HttpFailure(413, `request body larger than ${max} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
