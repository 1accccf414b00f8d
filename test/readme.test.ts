/**
 * README examples are excerpts of the consumer projects in examples/ (issue 14): every ```ts block
 * follows an `<!-- example: FILE#REGION -->` marker and is identical to the lines between
 * `// #region REGION` and `// #endregion` in FILE. Those projects are compiled, synthesized and
 * tested against the packed package by test/examples.test.ts, so a README example that does not
 * work fails there, and one that drifts from its file fails here.
 */
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

interface Excerpt {
  readonly file: string;
  readonly region: string;
  readonly text: string;
}

/** The README's marked blocks. */
function excerpts(readme: string): Excerpt[] {
  return [...readme.matchAll(/<!-- example: ([\w./-]+)#([\w-]+) -->\n```ts\n([\s\S]*?)```/g)].map((m) => ({ file: m[1], region: m[2], text: m[3] }));
}

/** The lines of `region` in `source`, or undefined when it has no such region. */
function regionOf(source: string, region: string): string | undefined {
  const m = new RegExp(`^// #region ${region}\\n([\\s\\S]*?)^// #endregion$`, "m").exec(source);
  return m?.[1];
}

/** Every `readme-*` region of the example projects, as `file#region`. */
function exampleRegions(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && e.name !== "node_modules" && e.name !== "cdktf.out") walk(p);
      else if (e.name.endsWith(".ts")) {
        const rel = path.relative(ROOT, p).split(path.sep).join("/");
        for (const m of fs.readFileSync(p, "utf8").matchAll(/^\/\/ #region (readme-[\w-]+)$/gm)) out.push(`${rel}#${m[1]}`);
      }
    }
  };
  walk(path.join(ROOT, "examples"));
  return out.sort();
}

describe("README examples", () => {
  const all = excerpts(README);

  test("given the README, then every TypeScript block is a marked excerpt", () => {
    const blocks = README.match(/^```ts$/gm) ?? [];
    expect(all.length).toBe(blocks.length);
    expect(all.length).toBeGreaterThanOrEqual(9);
  });

  test("given the README, then its excerpts cover the YAML room, a room in your stack, two rooms and suppressions", () => {
    expect(all.map((e) => e.region)).toEqual(expect.arrayContaining(["readme-yaml-room", "readme-own-stack", "readme-two-rooms", "readme-suppressions"]));
  });

  test.each(all.map((e) => [`${e.file}#${e.region}`, e] as const))("excerpt %s is identical to its region in the example file", (_name, e) => {
    const file = path.join(ROOT, e.file);
    expect(fs.existsSync(file)).toBe(true);
    expect(e.text).toEqual(regionOf(fs.readFileSync(file, "utf8"), e.region));
  });

  test("given the example projects, then every readme region is shown in the README", () => {
    expect(exampleRegions()).toEqual(all.map((e) => `${e.file}#${e.region}`).sort());
  });

  test("given the excerpts, then none imports test helpers or relative library paths", () => {
    expect(all.filter((e) => /from "\.\.?\/(test|lib)|test\/util|fixtures/.test(e.text)).map((e) => e.region)).toEqual([]);
  });

  test("given an excerpt that drifted from its file, then the comparison sees it", () => {
    const [first] = all;
    const source = fs.readFileSync(path.join(ROOT, first.file), "utf8");
    expect(regionOf(source, first.region)).toEqual(first.text);
    expect(regionOf(source.replace(first.text, first.text.replace(/\n/, "\n// edited\n")), first.region)).not.toEqual(first.text);
  });
});
