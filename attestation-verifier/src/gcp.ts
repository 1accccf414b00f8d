/**
 * The few Google APIs the verifier calls, over plain REST (no client libraries, so the
 * zip stays small): the metadata server for an access token, and Cloud Storage for the
 * policy object. Base URLs are injectable so tests run against local fakes.
 */
import { errorMessage } from "./policy";

export const METADATA_BASE_URL = "http://metadata.google.internal";
export const STORAGE_BASE_URL = "https://storage.googleapis.com";
export const KMS_BASE_URL = "https://cloudkms.googleapis.com";

/** Hands out OAuth access tokens for the function's service account. */
export interface AccessTokenSource {
  token(): Promise<string>;
}

export interface MetadataTokenSourceOptions {
  /** @default METADATA_BASE_URL */
  readonly metadataBaseUrl?: string;
  /** @default 3_000 */
  readonly timeoutMs?: number;
  /** @default Date.now */
  readonly clock?: () => number;
}

/** Access tokens from the metadata server, reused until a minute before they expire. */
export function metadataTokenSource(options: MetadataTokenSourceOptions = {}): AccessTokenSource {
  const base = trimSlash(options.metadataBaseUrl ?? METADATA_BASE_URL);
  const clock = options.clock ?? Date.now;
  let cached: { token: string; refreshAtMs: number } | undefined;
  let pending: Promise<string> | undefined;
  const fetchToken = async (): Promise<string> => {
    const res = await fetchWithTimeout(
      `${base}/computeMetadata/v1/instance/service-accounts/default/token`,
      {
        headers: { "Metadata-Flavor": "Google" },
      },
      options.timeoutMs ?? 3_000,
      "metadata server"
    );
    // The header proves the answer came from the metadata server, not a proxy or captive portal.
    if (res.headers.get("metadata-flavor") !== "Google") throw new Error("metadata server: response lacks Metadata-Flavor: Google");
    const body = (await readJson(res, "metadata server")) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== "string" || typeof body.expires_in !== "number") {
      throw new Error("metadata server: token response lacks access_token or expires_in");
    }
    cached = { token: body.access_token, refreshAtMs: clock() + Math.max(0, body.expires_in - 60) * 1000 };
    return body.access_token;
  };
  return {
    token() {
      if (cached && clock() < cached.refreshAtMs) return Promise.resolve(cached.token);
      pending ??= fetchToken().finally(() => {
        pending = undefined;
      });
      return pending;
    },
  };
}

export interface GcsObjectRef {
  readonly bucket: string;
  readonly object: string;
}

/** Parse gs://bucket/path/to/object. */
export function parseGcsUri(uri: string): GcsObjectRef {
  const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])\/(.+)$/.exec(uri);
  if (!m) throw new Error("not of the form gs://BUCKET/OBJECT.");
  return { bucket: m[1], object: m[2] };
}

export interface GcsFetchOptions {
  readonly tokenSource: AccessTokenSource;
  /** @default STORAGE_BASE_URL */
  readonly storageBaseUrl?: string;
  /** @default 10_000 */
  readonly timeoutMs?: number;
}

/** Download an object's bytes through the JSON API as text. */
export async function fetchGcsObject(ref: GcsObjectRef, options: GcsFetchOptions): Promise<string> {
  const base = trimSlash(options.storageBaseUrl ?? STORAGE_BASE_URL);
  const url = `${base}/storage/v1/b/${encodeURIComponent(ref.bucket)}/o/${encodeURIComponent(ref.object)}?alt=media`;
  const res = await fetchWithTimeout(
    url,
    { headers: { Authorization: `Bearer ${await options.tokenSource.token()}` } },
    options.timeoutMs ?? 10_000,
    "Cloud Storage"
  );
  if (res.status !== 200) {
    throw new Error(`Cloud Storage: GET gs://${ref.bucket}/${ref.object} answered ${res.status} ${await snippet(res)}`);
  }
  return res.text();
}

export async function fetchWithTimeout(url: string, init: RequestInit, timeoutMs: number, what: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: "error", signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new Error(`${what}: ${url.split("?")[0]} unreachable (${errorMessage(err)})`);
  }
}

export async function readJson(res: Response, what: string): Promise<unknown> {
  if (res.status !== 200) throw new Error(`${what}: answered ${res.status} ${await snippet(res)}`);
  try {
    return await res.json();
  } catch {
    throw new Error(`${what}: answered with a body that is not JSON`);
  }
}

async function snippet(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
