/**
 * A deterministic zip of a directory tree: entries in sorted path order, a fixed timestamp,
 * fixed permissions, raw DEFLATE. The same files give the same bytes on every machine,
 * which a content-addressed deploy object needs (cdktf's own archiver records mtimes and
 * readdir order, so a rebuild or another machine would change the bytes under the same name).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { InvalidInputError, LimitExceededError } from "../errors";

/** A file of the tree: its POSIX path relative to the root, and its bytes. */
export interface TreeFile {
  readonly path: string;
  readonly content: Buffer;
}

/** Every regular file below `dir`, sorted by relative path. Symlinks are refused: a zip of a function must be self-contained. */
export function readTree(dir: string): TreeFile[] {
  const files: TreeFile[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel))) {
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const stat = fs.lstatSync(path.join(dir, relPath));
      if (stat.isDirectory()) walk(relPath);
      else if (stat.isFile()) files.push({ path: relPath, content: fs.readFileSync(path.join(dir, relPath)) });
      else throw new InvalidInputError(`"${path.join(dir, relPath)}" is not a regular file or directory; a deployable bundle must not contain links.`);
    }
  };
  walk("");
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

// 1980-01-01 00:00:00, the earliest DOS date: no build time leaks into the archive.
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const REGULAR_FILE_0644 = (0o100644 << 16) >>> 0;
const VERSION_MADE_BY_UNIX = (3 << 8) | 20;

/** The zip of `files` (already sorted), byte-for-byte reproducible. */
export function deterministicZip(files: readonly TreeFile[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const file of files) {
    const name = Buffer.from(file.path, "utf8");
    const data = zlib.deflateRawSync(file.content, { level: 9 });
    const crc = zlib.crc32(file.content);
    if (file.content.length >= 0xffffffff || offset >= 0xffffffff) throw new LimitExceededError("deterministicZip: bundle too large for a zip without ZIP64");

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(file.content.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, data);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(VERSION_MADE_BY_UNIX, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(file.content.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(REGULAR_FILE_0644, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);

    offset += local.length + name.length + data.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  if (files.length > 0xffff) throw new LimitExceededError("deterministicZip: more than 65,535 files needs ZIP64");
  return Buffer.concat([...locals, ...centrals, end]);
}
