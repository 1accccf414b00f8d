/**
 * README examples are tests (Cloud Foundation Fabric style): every ```ts block after an
 * `<!-- example: name -->` marker is transpiled, run against the library's sources, and its
 * `stack` synthesized with the guardrails reporting no error.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { Aspects, TerraformStack, Testing } from "cdktf";
import { CleanRoomChecks } from "../lib/checks";

const ROOT = path.resolve(__dirname, "..");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

function examples(): [string, string][] {
  const found: [string, string][] = [];
  for (const m of README.matchAll(/<!-- example: ([\w-]+) -->\s*```ts\n([\s\S]*?)```/g)) found.push([m[1], m[2]]);
  return found;
}

function run(source: string): TerraformStack {
  const code = source
    .replace(/from "manatee-cdktf"/g, `from ${JSON.stringify(path.join(ROOT, "lib", "index"))}`)
    .replace(/from "\.\/test\/util"/g, `from ${JSON.stringify(path.join(ROOT, "test", "util"))}`);
  const js = ts.transpileModule(`${code}\nexports.__stack = stack;\n`, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  }).outputText;
  const module = { exports: {} as Record<string, unknown> };
  // Relative paths in the examples (configs, fixtures) are relative to the repository root.
  const cwd = process.cwd();
  process.chdir(ROOT);
  try {
    new Function("require", "module", "exports", js)(require, module, module.exports);
  } finally {
    process.chdir(cwd);
  }
  return module.exports.__stack as TerraformStack;
}

describe("README examples", () => {
  const all = examples();

  test("there is one example per catalog family", () => {
    expect(all.map(([name]) => name)).toEqual(["clean-room", "data-plane", "keys-and-buckets", "platform-pieces", "workloads", "verifier"]);
  });

  test.each(all)("example %s runs and synthesizes without guardrail errors", (_name, source) => {
    const stack = run(source);
    expect(stack).toBeInstanceOf(TerraformStack);
    if (!Aspects.of(stack).all.some((a) => a instanceof CleanRoomChecks)) {
      Aspects.of(stack).add(new CleanRoomChecks({ now: new Date("2026-12-01T00:00:00Z") }));
    }
    const json = JSON.parse(Testing.synth(stack));
    expect(Object.keys(json.resource ?? {}).length).toBeGreaterThan(0);
    const errors = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === "@cdktf/error").map((m) => `${c.node.path}: ${m.data}`));
    expect(errors).toEqual([]);
  });
});
