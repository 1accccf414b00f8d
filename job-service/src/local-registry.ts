/**
 * A registry on local disk for the `--local` mode, tests and the demo: blobs are content-addressed
 * (`blobs/sha256/<hex>`, shared by all repositories), each repository keeps the manifests it holds
 * (`repos/<name>/manifests/<hex>` = media type) and its tags (`repos/<name>/tags/<tag>` = digest).
 * Every read re-hashes the bytes, so a file changed on disk is refused, never served.
 */
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { RegistryNotFoundError, digestHex, isDigest, sha256Digest, verifyDigest, type Registry, type StoredManifest } from "./oci";

const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** Validates a tag (the distribution spec's grammar); throws naming it otherwise. */
export function assertTag(tag: string): void {
  if (!TAG.test(tag)) throw new Error(`tag ${JSON.stringify(tag)}: expected 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'`);
}

/** Validates a repository name (path components of lowercase letters, digits, separators; a host may lead). */
export function assertRepo(repo: string): void {
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repo)) {
    throw new Error(`repository ${JSON.stringify(repo)}: expected lowercase path components such as europe-west4-docker.pkg.dev/project/repo/name`);
  }
}

export class LocalRegistry implements Registry {
  constructor(readonly dir: string) {}

  async getManifest(repo: string, reference: string): Promise<StoredManifest | undefined> {
    assertRepo(repo);
    let digest = reference;
    if (!isDigest(reference)) {
      assertTag(reference);
      const tagged = await readText(join(this.repoDir(repo), "tags", reference));
      if (tagged === undefined) return undefined;
      digest = tagged.trim();
    }
    const mediaType = await readText(join(this.repoDir(repo), "manifests", digestHex(digest)));
    if (mediaType === undefined) return undefined;
    const bytes = await this.readBlob(digest, `${repo}@${digest}`);
    if (!bytes) throw new RegistryNotFoundError(`${repo}@${digest}: manifest is listed but its blob is missing from ${this.dir}`);
    return { bytes, mediaType: mediaType.trim(), digest };
  }

  async putManifest(repo: string, tag: string | undefined, bytes: Uint8Array, mediaType: string): Promise<string> {
    assertRepo(repo);
    if (tag !== undefined) assertTag(tag);
    const digest = await this.writeBlob(bytes);
    await writeAtomic(join(this.repoDir(repo), "manifests", digestHex(digest)), mediaType);
    if (tag !== undefined) await writeAtomic(join(this.repoDir(repo), "tags", tag), digest);
    return digest;
  }

  async getBlob(repo: string, digest: string): Promise<Uint8Array> {
    assertRepo(repo);
    const bytes = await this.readBlob(digest, `${repo} blob ${digest}`);
    if (!bytes) throw new RegistryNotFoundError(`${repo}: blob ${digest} not found in ${this.dir}`);
    return bytes;
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    assertRepo(repo);
    return exists(this.blobPath(digest));
  }

  async putBlob(repo: string, bytes: Uint8Array): Promise<string> {
    assertRepo(repo);
    return this.writeBlob(bytes);
  }

  async listTags(repo: string): Promise<string[]> {
    assertRepo(repo);
    try {
      return (await fs.readdir(join(this.repoDir(repo), "tags"))).filter((t) => TAG.test(t)).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
  }

  private repoDir(repo: string): string {
    // assertRepo admits only [a-z0-9._:/-]; ':' and '/' are encoded so each repository is one directory.
    return join(this.dir, "repos", encodeURIComponent(repo));
  }

  private blobPath(digest: string): string {
    return join(this.dir, "blobs", "sha256", digestHex(digest));
  }

  private async readBlob(digest: string, what: string): Promise<Uint8Array | undefined> {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(this.blobPath(digest));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    verifyDigest(bytes, digest, what);
    return bytes;
  }

  private async writeBlob(bytes: Uint8Array): Promise<string> {
    const digest = sha256Digest(bytes);
    const path = this.blobPath(digest);
    if (!(await exists(path))) await writeAtomic(path, bytes);
    return digest;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

let counter = 0;
/** Write then rename: a reader never sees half a blob or an empty tag. */
async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await fs.mkdir(join(path, ".."), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${counter++}`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, path);
}
