/**
 * The verifier's deployable bundle: the content hash of a directory tree, the reproducible zip
 * uploaded as the function's source, and where the package keeps the built bundle.
 *
 * Why its own file: hashing and zipping the bundle is file-system work independent of the
 * construct, and `directoryHash` is shared with the deploy's image builds (lib/constructs/platform/registry/).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as os from "node:os";
import { TreeFile, deterministicZip, readTree } from "../../internal/zip";

/**
 * SHA-256 (hex) over the sorted (relative path, content) pairs of a directory tree, so
 * the hash depends on bytes and names only — not on readdir order, mtimes or the OS.
 */
export function directoryHash(dir: string): string {
  return treeHash(readTree(dir));
}

function treeHash(files: readonly TreeFile[]): string {
  const hash = createHash("sha256");
  // NUL-terminated path and length (no path contains NUL): no two trees give the same
  // stream. Same encoding as attestation-verifier/scripts/build.js prints.
  for (const f of files) hash.update(`${f.path}\0${f.content.length}\0`).update(f.content);
  return hash.digest("hex");
}

/**
 * The bundle's zip, reproducible byte for byte and cached by tree hash, so every synth on
 * every machine uploads the same object under the same content-addressed name.
 */
export function bundleZip(sourceDir: string): { hash: string; zipPath: string } {
  const files = readTree(sourceDir);
  const hash = treeHash(files);
  const cacheDir = path.join(os.tmpdir(), "manatee-cdktf");
  const zipPath = path.join(cacheDir, `verifier-${hash}.zip`);
  if (!fs.existsSync(zipPath)) {
    fs.mkdirSync(cacheDir, { recursive: true });
    const partial = `${zipPath}.${process.pid}.partial`;
    fs.writeFileSync(partial, deterministicZip(files));
    fs.renameSync(partial, zipPath);
  }
  return { hash, zipPath };
}

/** `attestation-verifier/build` of the package this file belongs to (from lib/constructs/verifier/ or dist/lib/constructs/verifier/). */
export function defaultSourceDir(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "attestation-verifier"))) {
      return path.join(dir, "attestation-verifier", "build");
    }
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(__dirname, "..", "..", "attestation-verifier", "build");
    dir = parent;
  }
}
