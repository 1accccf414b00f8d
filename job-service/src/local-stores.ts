/**
 * Local adapters of the job service's storage ports: blobs and released outputs in a
 * directory, download URLs signed with a per-process HMAC key (the local stand-in for GCS
 * V4 signed URLs). Used by `manatee job-service --local`, the demo and the tests.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, readFile, readdir, rename, writeFile } from "node:fs/promises";
import { dirname, join, normalize, sep } from "node:path";
import { BlobStore, ReleasedOutputs } from "./ports";

/** A name inside a store: relative, `/`-separated, no `..`, no empty parts. */
function safeJoin(root: string, name: string): string {
  if (!name || name.startsWith("/") || name.split("/").some((p) => p === "" || p === "." || p === "..") || name.includes("\\")) {
    throw new Error(`object name ${JSON.stringify(name)} is not a plain relative name`);
  }
  const path = normalize(join(root, ...name.split("/")));
  if (!path.startsWith(normalize(root) + sep)) throw new Error(`object name ${JSON.stringify(name)} leaves its store`);
  return path;
}

/** Blobs as files under `dir`; written by rename so a reader never sees half a blob. */
export class LocalBlobStore implements BlobStore {
  constructor(private readonly dir: string) {}

  async put(name: string, bytes: Uint8Array): Promise<void> {
    const path = safeJoin(this.dir, name);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(safeJoin(this.dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }
}

export const RECEIPT_OBJECT = "receipt.jws";

/**
 * Released outputs in a local release bucket (`<bucketsDir>/<releaseBucket>/<job uuid>/…`,
 * written only by the verifier's release), with capability URLs served by `objectRoute`.
 */
export class LocalReleasedOutputs implements ReleasedOutputs {
  private readonly key = randomBytes(32);

  constructor(
    private readonly bucketsDir: string,
    private readonly releaseBucket: string,
    /** Where `objectRoute` is served, e.g. `http://127.0.0.1:8090`. */
    private baseUrl: string,
    private readonly clock: () => number = Date.now,
  ) {}

  setBaseUrl(url: string): void {
    this.baseUrl = url;
  }

  async released(jobUuid: string): Promise<{ objects: { name: string; sha256: string }[]; receipt: string; receiptObject: string } | undefined> {
    const dir = safeJoin(join(this.bucketsDir, this.releaseBucket), jobUuid);
    const names = await readdir(dir).catch(() => undefined);
    if (!names || !names.includes(RECEIPT_OBJECT)) return undefined;
    const objects: { name: string; sha256: string }[] = [];
    for (const name of names.filter((n) => n !== RECEIPT_OBJECT).sort()) {
      objects.push({ name: `${jobUuid}/${name}`, sha256: createHash("sha256").update(await readFile(join(dir, name))).digest("hex") });
    }
    const receipt = (await readFile(join(dir, RECEIPT_OBJECT), "utf8")).trim();
    return { objects, receipt, receiptObject: `${jobUuid}/${RECEIPT_OBJECT}` };
  }

  async downloadUrl(object: string, ttlSeconds: number): Promise<string> {
    safeJoin(this.bucketsDir, object);
    const expires = Math.floor(this.clock() / 1000) + ttlSeconds;
    const path = `/local/objects/${this.releaseBucket}/${object}`;
    return `${this.baseUrl}${path}?expires=${expires}&signature=${this.sign(path, expires)}`;
  }

  private sign(path: string, expires: number): string {
    return createHmac("sha256", this.key).update(`${path}\n${expires}`).digest("hex");
  }

  /**
   * Serves a signed URL: the object's bytes, or 403 for a bad or expired signature and 404
   * for an object that was never released. Returns false for paths it does not own.
   */
  async objectRoute(url: URL, res: { statusCode: number; setHeader(n: string, v: string): void; end(b?: Uint8Array | string): void }): Promise<boolean> {
    const prefix = `/local/objects/${this.releaseBucket}/`;
    if (!url.pathname.startsWith(prefix)) return false;
    const expires = Number(url.searchParams.get("expires"));
    const given = Buffer.from(url.searchParams.get("signature") ?? "", "hex");
    const wanted = Buffer.from(this.sign(url.pathname, expires), "hex");
    if (!Number.isInteger(expires) || expires * 1000 < this.clock() || given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
      res.statusCode = 403;
      res.end("signature invalid or expired\n");
      return true;
    }
    let bytes: Uint8Array | undefined;
    try {
      bytes = await readFile(safeJoin(join(this.bucketsDir, this.releaseBucket), decodeURIComponent(url.pathname.slice(prefix.length))));
    } catch {
      bytes = undefined;
    }
    if (!bytes) {
      res.statusCode = 404;
      res.end("no such released object\n");
      return true;
    }
    res.statusCode = 200;
    res.setHeader("content-type", "application/octet-stream");
    res.end(bytes);
    return true;
  }
}
