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
    writeEntryFields(local, 4, crc, data.length, file.content.length, name.length);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, data);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(VERSION_MADE_BY_UNIX, 4);
    writeEntryFields(central, 6, crc, data.length, file.content.length, name.length);
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

/**
 * The fields a local header and its central directory entry share, in the same order (APPNOTE
 * 4.3.7, 4.3.12): version needed, flags, method, time, date, CRC, sizes, name length.
 */
function writeEntryFields(header: Buffer, at: number, crc: number, compressedSize: number, size: number, nameLength: number): void {
  header.writeUInt16LE(20, at); // version needed
  header.writeUInt16LE(0x0800, at + 2); // UTF-8 names
  header.writeUInt16LE(8, at + 4); // deflate
  header.writeUInt16LE(DOS_TIME, at + 6);
  header.writeUInt16LE(DOS_DATE, at + 8);
  header.writeUInt32LE(crc, at + 10);
  header.writeUInt32LE(compressedSize, at + 14);
  header.writeUInt32LE(size, at + 18);
  header.writeUInt16LE(nameLength, at + 22);
}
