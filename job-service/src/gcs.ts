/**
 * Cloud Storage adapters of the job service: the workspace blob store (the room's hub bucket) and
 * the released outputs (the release bucket, written only by the verifier's release). They talk to
 * `@google-cloud/storage` through the small interfaces below, so tests pass fakes.
 */
import { createHash } from "node:crypto";
import type { BlobStore, ReleasedOutputs } from "./ports";

/** The subset of `@google-cloud/storage`'s `File` these adapters use. */
export interface GcsFileLike {
  readonly name: string;
  save(data: Buffer, options: { resumable: boolean; contentType: string; preconditionOpts?: { ifGenerationMatch: number } }): Promise<void>;
  download(): Promise<[Buffer]>;
  getSignedUrl(options: { version: "v4"; action: "read"; expires: number }): Promise<[string]>;
}

/** The subset of `@google-cloud/storage`'s `Bucket` these adapters use. */
export interface GcsBucketLike {
  file(name: string): GcsFileLike;
  getFiles(options: { prefix: string; autoPaginate: boolean; maxResults?: number }): Promise<[GcsFileLike[], ...unknown[]]>;
}

/** The release's receipt, next to the released objects (attestation-verifier RELEASE_RECEIPT_OBJECT). */
export const RECEIPT_OBJECT = "receipt.jws";

const OBJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,1023}$/;
const JOB_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function requireObjectName(name: string): void {
  if (!OBJECT_NAME.test(name) || name.split("/").some((p) => p === "" || p === "." || p === "..")) {
    throw new Error(`object name ${JSON.stringify(name)}: expected a relative path of [A-Za-z0-9._-] segments`);
  }
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: number } | undefined)?.code === 404;
}

function isPreconditionFailed(err: unknown): boolean {
  return (err as { code?: number } | undefined)?.code === 412;
}

/**
 * Workspace tarballs and review records. Names are content-addressed (`workspaces/<sha256>.tar.gz`),
 * so an object is written once: a second put of the same name is a no-op (create-only precondition).
 */
export class GcsBlobStore implements BlobStore {
  constructor(private readonly bucket: GcsBucketLike) {}

  async put(name: string, bytes: Uint8Array): Promise<void> {
    requireObjectName(name);
    try {
      await this.bucket.file(name).save(Buffer.from(bytes), {
        resumable: false,
        contentType: "application/octet-stream",
        preconditionOpts: { ifGenerationMatch: 0 },
      });
    } catch (err) {
      // Already there: same name, same content (content-addressed).
      if (!isPreconditionFailed(err)) throw err;
    }
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    requireObjectName(name);
    try {
      const [data] = await this.bucket.file(name).download();
      return new Uint8Array(data);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

/**
 * What the verifier released for a job: the objects under `<job uuid>/` in the release bucket, once
 * its receipt is there (the verifier writes the receipt last). Download URLs are V4 signed URLs,
 * signed by IAM signBlob as the job service's own account (no key file exists).
 */
export class GcsReleasedOutputs implements ReleasedOutputs {
  constructor(private readonly bucket: GcsBucketLike) {}

  async released(jobUuid: string): Promise<{ objects: { name: string; sha256: string }[]; receipt: string; receiptObject: string } | undefined> {
    if (!JOB_UUID.test(jobUuid)) return undefined;
    const [files] = await this.bucket.getFiles({ prefix: `${jobUuid}/`, autoPaginate: true });
    const receiptObject = `${jobUuid}/${RECEIPT_OBJECT}`;
    const receiptFile = files.find((f) => f.name === receiptObject);
    if (!receiptFile) return undefined;
    const objects: { name: string; sha256: string }[] = [];
    for (const f of [...files].filter((x) => x.name !== receiptObject).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const [data] = await f.download();
      objects.push({ name: f.name.slice(jobUuid.length + 1), sha256: createHash("sha256").update(data).digest("hex") });
    }
    const [receipt] = await receiptFile.download();
    return { objects, receipt: receipt.toString("ascii").trim(), receiptObject };
  }

  async downloadUrl(object: string, ttlSeconds: number): Promise<string> {
    requireObjectName(object);
    if (!JOB_UUID.test(object.split("/")[0])) throw new Error(`object ${JSON.stringify(object)}: only released objects (<job uuid>/…) can be downloaded`);
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 7 * 86_400) {
      throw new Error(`ttlSeconds ${ttlSeconds}: expected 1 to 604800 (V4 signed URLs live at most 7 days)`);
    }
    const [url] = await this.bucket.file(object).getSignedUrl({ version: "v4", action: "read", expires: Date.now() + ttlSeconds * 1000 });
    return url;
  }
}
