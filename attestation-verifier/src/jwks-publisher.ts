/**
 * Publishes the receipt JWKS where relying parties fetch it without credentials: one object
 * (`gs://<public JWKS bucket>/jwks.json`) in a bucket that holds nothing else and that the
 * deployment makes publicly readable. The function itself stays internal and IAM-gated.
 *
 * Written when an instance starts (a deploy starts one) and therefore on key rotation, which
 * deploys a revision with the next key version. Earlier keys are kept, so receipts they signed
 * still verify; a key already listed is not written again, so an old revision's instance never
 * rewrites a newer list. Cloud Storage over its JSON API with the metadata-server token, like the
 * policy read and the release store: no client library.
 */
import { AccessTokenSource, STORAGE_BASE_URL, fetchWithTimeout } from "./gcp";
import { errorMessage } from "./policy";
import { ReceiptPublicJwk } from "./signers";

/** Where the JWKS goes, and how it is read back (for merging). */
export interface JwksTarget {
  /** The current object's bytes, or undefined when there is none. */
  read(): Promise<Uint8Array | undefined>;
  /** Create or replace the object. */
  write(bytes: Uint8Array): Promise<void>;
  /** For the log line, e.g. `gs://bucket/jwks.json`. */
  readonly description: string;
}

/** Relying parties cache it at most this long (seconds): a rotated key is seen within minutes. */
export const JWKS_CACHE_SECONDS = 300;

// Alike in shape to GcsObjectStoreOptions (object-store.ts) on purpose: each client documents its own timeout.
export interface GcsJwksTargetOptions {
  readonly bucket: string;
  readonly object: string;
  readonly token: AccessTokenSource;
  /** @default STORAGE_BASE_URL */
  readonly storageBaseUrl?: string;
  /** @default 10_000 */
  readonly timeoutMs?: number;
}

/**
 * The object in Cloud Storage: read with `alt=media`, written with a multipart upload that sets
 * `Cache-Control` (a public object is cached an hour by default, too long after a rotation).
 */
export function gcsJwksTarget(options: GcsJwksTargetOptions): JwksTarget {
  const base = (options.storageBaseUrl ?? STORAGE_BASE_URL).replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { bucket, object } = options;
  const where = `gs://${bucket}/${object}`;
  return {
    description: where,
    async read() {
      const res = await fetchWithTimeout(
        `${base}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(object)}?alt=media`,
        { headers: { Authorization: `Bearer ${await options.token.token()}` } },
        timeoutMs,
        "Cloud Storage"
      );
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw new Error(`Cloud Storage: GET ${where} answered ${res.status}`);
      return bytes;
    },
    async write(bytes) {
      const boundary = `manatee-jwks-${Date.now().toString(36)}`;
      const metadata = JSON.stringify({ name: object, contentType: "application/json", cacheControl: `public, max-age=${JWKS_CACHE_SECONDS}` });
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n${metadata}\r\n--${boundary}\r\nContent-Type: application/json\r\n\r\n`),
        Buffer.from(bytes),
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      const res = await fetchWithTimeout(
        `${base}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=multipart`,
        {
          method: "POST",
          headers: { Authorization: `Bearer ${await options.token.token()}`, "Content-Type": `multipart/related; boundary=${boundary}` },
          body,
        },
        timeoutMs,
        "Cloud Storage"
      );
      await res.arrayBuffer().catch(() => undefined);
      if (res.status !== 200) throw new Error(`Cloud Storage: upload of ${where} answered ${res.status}`);
    },
  };
}

const B64URL = /^[A-Za-z0-9_-]+$/;

/** The receipt keys of a published JWKS that are well-formed ES256 P-256 public keys; others are dropped. */
function publishedKeys(bytes: Uint8Array | undefined): ReceiptPublicJwk[] {
  if (bytes === undefined) return [];
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return []; // unreadable: replaced by a good list
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) return [];
  return keys.flatMap((k): ReceiptPublicJwk[] => {
    const j = k as Record<string, unknown>;
    const ok =
      j !== null && typeof j === "object" && j.kty === "EC" && j.crv === "P-256" && j.alg === "ES256" && j.use === "sig" &&
      [j.x, j.y, j.kid].every((v) => typeof v === "string" && B64URL.test(v) && v.length <= 64) && !("d" in j);
    return ok ? [{ kty: "EC", crv: "P-256", x: j.x as string, y: j.y as string, kid: j.kid as string, alg: "ES256", use: "sig" }] : [];
  });
}

export interface PublishResult {
  /** True when this call wrote the object; false when the key was already published. */
  readonly written: boolean;
  /** The kids now published, current key last. */
  readonly kids: readonly string[];
}

/** Publish `current` into the JWKS at `target`, keeping the other keys already there. */
export async function publishReceiptJwks(target: JwksTarget, current: ReceiptPublicJwk): Promise<PublishResult> {
  const existing = publishedKeys(await target.read());
  const same = existing.find((k) => k.kid === current.kid);
  if (same && same.x === current.x && same.y === current.y) return { written: false, kids: existing.map((k) => k.kid) };
  const keys = [...existing.filter((k) => k.kid !== current.kid), current];
  await target.write(Buffer.from(`${JSON.stringify({ keys }, null, 2)}\n`));
  return { written: true, kids: keys.map((k) => k.kid) };
}

export interface JwksPublisher {
  /** Publish now; a failure is logged and retried later, never thrown. Resolves when this attempt ends. */
  publish(): Promise<void>;
  /** Whether the current key is known to be published. */
  readonly published: boolean;
}

export interface JwksPublisherOptions {
  readonly target: JwksTarget;
  readonly key: ReceiptPublicJwk;
  /** One JSON line per outcome (stdout in the cloud; no `decision` field, so not an audit record). */
  readonly log?: (line: Record<string, unknown>) => void;
  /** Retry a failed publication after this long. @default 60_000 */
  readonly retryMs?: number;
}

/** Publishes once, retrying on failure with an unref'd timer (it never keeps the process alive). */
export function jwksPublisher(options: JwksPublisherOptions): JwksPublisher {
  const log = options.log ?? ((line) => process.stdout.write(`${JSON.stringify(line)}\n`));
  const retryMs = options.retryMs ?? 60_000;
  let published = false;
  let running: Promise<void> | undefined;
  const attempt = async (): Promise<void> => {
    try {
      const result = await publishReceiptJwks(options.target, options.key);
      published = true;
      log({
        severity: "INFO",
        message: result.written ? `published receipt key ${options.key.kid} to ${options.target.description}` : `receipt key ${options.key.kid} already published at ${options.target.description}`,
        receipt_kids: result.kids,
        component: "manatee-attestation-verifier",
      });
    } catch (err) {
      log({
        severity: "ERROR",
        message: `cannot publish the receipt JWKS to ${options.target.description}: ${errorMessage(err)}; retrying in ${Math.round(retryMs / 1000)} s`,
        component: "manatee-attestation-verifier",
      });
      const timer = setTimeout(() => void self.publish(), retryMs);
      timer.unref?.();
    }
  };
  const self: JwksPublisher = {
    publish() {
      if (published) return Promise.resolve();
      running ??= attempt().finally(() => {
        running = undefined;
      });
      return running;
    },
    get published() {
      return published;
    },
  };
  return self;
}
