/**
 * The verifier bundle's zip: a valid archive holding exactly the tree's files, and the same
 * bytes whatever the mtimes, the readdir order or the machine.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { deterministicZip, readTree } from "../lib/internal/zip";

/** Read a zip through its central directory, inflating and CRC-checking every entry. */
function unzip(zip: Buffer): Map<string, Buffer> {
  const end = zip.length - 22;
  expect(zip.readUInt32LE(end)).toBe(0x06054b50);
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    expect(zip.readUInt32LE(at)).toBe(0x02014b50);
    const crc = zip.readUInt32LE(at + 16);
    const compressed = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const localOffset = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString("utf8");
    expect(zip.readUInt32LE(localOffset)).toBe(0x04034b50);
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const content = zlib.inflateRawSync(zip.subarray(dataStart, dataStart + compressed));
    expect(content.length).toBe(size);
    expect(zlib.crc32(content)).toBe(crc);
    out.set(name, content);
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return out;
}

function tree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "zip-test-"));
  fs.mkdirSync(path.join(dir, "node_modules", "jose"), { recursive: true });
  fs.writeFileSync(path.join(dir, "index.js"), 'module.exports = require("./src/entry");\n');
  fs.writeFileSync(path.join(dir, "package.json"), '{"main":"index.js"}\n');
  fs.writeFileSync(path.join(dir, "node_modules", "jose", "index.js"), "x".repeat(10_000));
  return dir;
}

describe("deterministicZip", () => {
  test("given a tree, when zipped, then the archive holds exactly its files with their bytes", () => {
    const dir = tree();
    const files = unzip(deterministicZip(readTree(dir)));
    expect([...files.keys()]).toEqual(["index.js", "node_modules/jose/index.js", "package.json"]);
    expect(files.get("node_modules/jose/index.js")?.toString()).toBe("x".repeat(10_000));
  });

  test("given touched mtimes, then the bytes do not change; given a changed byte, they do", () => {
    const dir = tree();
    const before = deterministicZip(readTree(dir));
    fs.utimesSync(path.join(dir, "index.js"), new Date("2031-05-05"), new Date("2031-05-05"));
    expect(deterministicZip(readTree(dir)).equals(before)).toBe(true);
    fs.writeFileSync(path.join(dir, "package.json"), '{"main":"index.js" }\n');
    expect(deterministicZip(readTree(dir)).equals(before)).toBe(false);
  });

  test("given a symlink in the tree, then it is refused with the path", () => {
    const dir = tree();
    fs.symlinkSync("/etc/hostname", path.join(dir, "leak"));
    expect(() => readTree(dir)).toThrow(`"${path.join(dir, "leak")}" is not a regular file or directory; a deployable bundle must not contain links.`);
  });
});
