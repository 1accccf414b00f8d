/**
 * The object store port of the output release, and its two adapters: a local directory
 * (`npm run verifier`, tests) and Cloud Storage over its JSON API (fetch + a
 * metadata-server token, no client library, like the KMS signer).
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { AccessTokenSource, STORAGE_BASE_URL, fetchWithTimeout } from "./gcp";

/**
 * Where quarantined outputs are read and released ones written. Every method throws when
 * the store itself fails; "not there" and "already there" are answers, not errors.
 */
export interface ObjectStore {
  /** The object's bytes, or undefined when it does not exist. */
  read(bucket: string, name: string): Promise<Uint8Array | undefined>;
  /** Create the object only if it does not exist: true when this call created it, false when it existed. */
  createIfAbsent(bucket: string, name: string, bytes: Uint8Array, contentType: string): Promise<boolean>;
  /** Create or overwrite the object. */
  write(bucket: string, name: string, bytes: Uint8Array, contentType: string): Promise<void>;
  /** Where the objects live, for the start-up line (never a credential). */
  readonly description?: string;
}

/** Bucket names as GCS allows them; anything else would be a path, not a bucket. */
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

/** Refuse names that are not plain relative `/`-separated paths, whatever the caller checked. */
function checkName(bucket: string, name: string): void {
  if (!BUCKET.test(bucket) || bucket.includes("..")) throw new Error(`bucket ${JSON.stringify(bucket.slice(0, 80))} is not a bucket name`);
  if (
    name === "" ||
    name.startsWith("/") ||
    name.includes("\\") ||
    name.includes("\0") ||
    name.split("/").some((p) => p === "" || p === "." || p === "..")
  ) {
    throw new Error(`object name ${JSON.stringify(name.slice(0, 80))} is not a plain relative name`);
  }
}

/**
 * Objects as files `<dir>/<bucket>/<name>`: the layout the job service's local stores use.
 * createIfAbsent opens with the `wx` flag, so of two racing creators exactly one wins.
 */
export function localObjectStore(dir: string): ObjectStore {
  const root = resolve(dir);
  const pathOf = (bucket: string, name: string): string => {
    checkName(bucket, name);
    const path = resolve(join(root, bucket, ...name.split("/")));
    if (!path.startsWith(join(root, bucket) + sep)) throw new Error(`object name ${JSON.stringify(name.slice(0, 80))} leaves its bucket`);
    return path;
  };
  return {
    description: `local directory ${root}`,
    async read(bucket, name) {
      try {
        return await readFile(pathOf(bucket, name));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A name whose parent is a file is as absent as a missing one.
        if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return undefined;
        throw err;
      }
    },
    async createIfAbsent(bucket, name, bytes) {
      const path = pathOf(bucket, name);
      await mkdir(dirname(path), { recursive: true });
      let handle;
      try {
        handle = await open(path, "wx");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw err;
      }
      try {
        await handle.writeFile(bytes);
      } finally {
        await handle.close();
      }
      return true;
    },
    async write(bucket, name, bytes) {
      const path = pathOf(bucket, name);
      await mkdir(dirname(path), { recursive: true });
      // Written aside and renamed: a reader never sees half an object.
      const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
      try {
        await writeFile(tmp, bytes);
        await rename(tmp, path);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },
  };
}

/**
 * Objects in this process's memory: the verifier's replay markers when no shared store is
 * configured (tests, local development). Replays are then caught by this instance only.
 */
export function memoryObjectStore(): ObjectStore {
  const objects = new Map<string, Uint8Array>();
  const key = (bucket: string, name: string) => {
    checkName(bucket, name);
    return `${bucket}/${name}`;
  };
  return {
    description: "this process's memory (not shared between instances)",
    async read(bucket, name) {
      return objects.get(key(bucket, name));
    },
    async createIfAbsent(bucket, name, bytes) {
      const k = key(bucket, name);
      if (objects.has(k)) return false;
      objects.set(k, Uint8Array.from(bytes));
      return true;
    },
    async write(bucket, name, bytes) {
      objects.set(key(bucket, name), Uint8Array.from(bytes));
    },
  };
}

export interface GcsObjectStoreOptions {
  /** OAuth tokens of the verifier's service account (metadataTokenSource in the cloud). */
  readonly token: AccessTokenSource;
  /** @default STORAGE_BASE_URL */
  readonly storageBaseUrl?: string;
  /**
   * Timeout of one request (objects are read and written whole).
   * @default 60_000
   */
  readonly timeoutMs?: number;
}

/**
 * Cloud Storage through the JSON API. createIfAbsent uploads with `ifGenerationMatch=0`,
 * which GCS applies atomically: a second creator gets 412, never a second object.
 */
export function gcsObjectStore(options: GcsObjectStoreOptions): ObjectStore {
  const base = (options.storageBaseUrl ?? STORAGE_BASE_URL).replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 60_000;
  const auth = async () => ({ Authorization: `Bearer ${await options.token.token()}` });
  const upload = async (bucket: string, name: string, bytes: Uint8Array, contentType: string, ifAbsent: boolean) => {
    checkName(bucket, name);
    const query = `uploadType=media&name=${encodeURIComponent(name)}${ifAbsent ? "&ifGenerationMatch=0" : ""}`;
    const res = await fetchWithTimeout(
      `${base}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?${query}`,
      { method: "POST", headers: { ...(await auth()), "Content-Type": contentType }, body: bytes },
      timeoutMs,
      "Cloud Storage"
    );
    await res.arrayBuffer().catch(() => undefined); // drain, so the connection is reused
    return res.status;
  };
  return {
    description: `Cloud Storage ${base}`,
    async read(bucket, name) {
      checkName(bucket, name);
      const res = await fetchWithTimeout(
        `${base}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}?alt=media`,
        { headers: await auth() },
        timeoutMs,
        "Cloud Storage"
      );
      if (res.status === 404) {
        await res.arrayBuffer().catch(() => undefined);
        return undefined;
      }
      if (res.status !== 200) throw new Error(`Cloud Storage: GET gs://${bucket}/${name} answered ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    },
    async createIfAbsent(bucket, name, bytes, contentType) {
      const status = await upload(bucket, name, bytes, contentType, true);
      if (status === 200) return true;
      if (status === 412) return false;
      throw new Error(`Cloud Storage: create-only upload of gs://${bucket}/${name} answered ${status}`);
    },
    async write(bucket, name, bytes, contentType) {
      const status = await upload(bucket, name, bytes, contentType, false);
      if (status !== 200) throw new Error(`Cloud Storage: upload of gs://${bucket}/${name} answered ${status}`);
    },
  };
}
