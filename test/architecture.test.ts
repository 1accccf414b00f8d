/**
 * Import boundaries (docs/architecture.md, issue 15). Every import, export-from, require and
 * dynamic import in the repository's TypeScript and JavaScript sources is mapped to the layer
 * it comes from and the layer it reaches; a lower layer reaching a higher one, or anything
 * outside lib/ reaching lib/internal/, fails with the exact file and specifier.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

const ROOT = path.resolve(__dirname, "..");

type Layer =
  | "errors"
  | "policy"
  | "internal"
  | "analysis"
  | "constructs"
  | "composition"
  | "checks"
  | "report"
  | "cli"
  | "root"
  | "job-service-src"
  | "verifier-src"
  | "stacks"
  | "outside";

/** The layer of a repository path (posix, without extension; `dist/` mirrors the sources). */
function layerOf(repoPath: string): Layer {
  const p = repoPath.replace(/^dist\//, "").replace(/\.(d\.ts|ts|js|json)$/, "");
  if (p === "lib" || p === "lib/index") return "root";
  if (p === "lib/errors") return "errors";
  const lib = /^lib\/([^/]+)(\/|$)/.exec(p);
  if (lib) {
    if (/^lib\/constructs\/clean-room(-workloads)?$/.test(p)) return "composition";
    const known: Record<string, Layer> = {
      policy: "policy",
      internal: "internal",
      analysis: "analysis",
      constructs: "constructs",
      checks: "checks",
      report: "report",
      cli: "cli",
    };
    return known[lib[1]] ?? "outside";
  }
  if (/^job-service\/src(\/|$)/.test(p)) return "job-service-src";
  if (/^attestation-verifier\/src(\/|$)/.test(p)) return "verifier-src";
  if (p === "stacks" || p.startsWith("stacks/")) return "stacks";
  return "outside";
}

/**
 * What each lib/ layer may import (relative imports; npm packages are checked below). Lower
 * layers first: policy <- internal <- constructs <- composition; analysis <- checks <- report;
 * cli on top; the package root (lib/index.ts) re-exports from all of them and the ready stacks.
 */
const ALLOWED: Record<Exclude<Layer, "job-service-src" | "verifier-src" | "stacks" | "outside">, readonly Layer[]> = {
  errors: ["errors"],
  policy: ["policy", "errors"],
  internal: ["internal", "policy", "errors"],
  analysis: ["analysis", "internal", "policy", "errors"],
  // The services' contracts (job-service/src config, env, executor base) are imported, not copied.
  constructs: ["constructs", "internal", "policy", "errors", "job-service-src"],
  composition: ["composition", "constructs", "internal", "policy", "errors", "job-service-src"],
  checks: ["checks", "analysis", "internal", "policy", "errors"],
  report: ["report", "checks", "analysis", "internal", "policy", "errors"],
  cli: ["cli", "report", "checks", "analysis", "composition", "constructs", "internal", "policy", "errors", "job-service-src", "verifier-src"],
  root: ["root", "cli", "report", "checks", "analysis", "composition", "constructs", "internal", "policy", "errors", "stacks"],
};

/** npm packages a layer must not load. */
const FORBIDDEN_PACKAGES: Partial<Record<Layer, RegExp>> = {
  policy: /^(cdktf|constructs|@cdktf\/)/,
  "job-service-src": /^(cdktf|constructs|@cdktf\/)/,
  "verifier-src": /^(cdktf|constructs|@cdktf\/)/,
};

/** Layers the services (deployed as their own bundles) must not reach. */
const SERVICE_FORBIDDEN: readonly Layer[] = ["constructs", "composition", "root", "checks", "report", "cli", "internal"];

interface Exception {
  readonly from: string;
  readonly to: string;
  /** The exception holds only while the import is `import type` (no runtime coupling). */
  readonly typeOnly?: boolean;
  readonly reason: string;
}

/** Documented exceptions (docs/architecture.md). Each is one file and one target. */
const EXCEPTIONS: readonly Exception[] = [
  {
    from: "lib/policy/job-service-config.ts",
    to: "job-service/src/config",
    typeOnly: true,
    reason: "the policy compiles the job service's config; the shape is the service's own contract, erased at build",
  },
  // Unit tests of internal algorithms that have no public entry point.
  { from: "test/zip.test.ts", to: "lib/internal/zip", reason: "deterministic zip bytes are tested directly" },
  { from: "test/dependency-graph.test.ts", to: "lib/internal/api-services", reason: "the API table is checked against every synthesized type" },
  { from: "test/fast-resolve.test.ts", to: "lib/internal/fast-resolve", reason: "resolveTerraform is held equal to cdktf's on each kind of token" },
  { from: "test/fast-resolve.test.ts", to: "lib/internal/literal-text", reason: "terraformText is held to cdktf's text on references, number tokens and template syntax" },
  // These two can move to the package root (both names are public there); see docs/architecture.md.
  { from: "test/verifier-construct.test.ts", to: "lib/internal/common", reason: "builds the expected IAM condition block" },
  { from: "test/report/cross-check.test.ts", to: "lib/internal/common", reason: "labels hand-made resources with the label contract" },
];

interface SourceFile {
  /** Repository path, posix. */
  readonly path: string;
  readonly text: string;
}

interface ImportRef {
  readonly specifier: string;
  readonly typeOnly: boolean;
  readonly line: number;
}

/** Every module a file loads: import/export-from (type-only noted), require(), import(). */
function importsOf(file: SourceFile): ImportRef[] {
  const kind = file.path.endsWith(".js") ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const source = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.ES2022, true, kind);
  const out: ImportRef[] = [];
  const add = (node: ts.Node, specifier: string, typeOnly: boolean) =>
    out.push({ specifier, typeOnly, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const namedTypes =
        clause?.namedBindings && ts.isNamedImports(clause.namedBindings) && !clause.name
          ? clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly)
          : false;
      add(node, node.moduleSpecifier.text, !!clause && (clause.isTypeOnly || namedTypes));
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node, node.moduleSpecifier.text, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.arguments.length === 1) {
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === "require";
      if (isRequire || node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const arg = node.arguments[0];
        if (ts.isStringLiteralLike(arg)) add(node, arg.text, false);
        // require(path.join(DIST, "lib", "cli", "jobs.js")): the literal parts, joined, name the target.
        else if (ts.isCallExpression(arg)) {
          const parts = arg.arguments.filter(ts.isStringLiteralLike).map((a) => a.text);
          if (parts.length > 0) add(node, `<joined>/${parts.join("/")}`, false);
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** The repository path an import reaches, or undefined for an npm package. */
function resolve(from: string, specifier: string): string | undefined {
  if (specifier.startsWith("<joined>/")) {
    // Only the literal tail is known; anchor it at its first lib/ or dist/ segment.
    const tail = specifier.slice("<joined>/".length).replace(/\/+/g, "/");
    const m = /(?:^|\/)((?:dist\/)?(?:lib|stacks|job-service|attestation-verifier)(?:\/.*)?)$/.exec(tail);
    return m ? m[1].replace(/\.(js|ts)$/, "") : undefined;
  }
  if (!specifier.startsWith(".")) return undefined;
  return path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier)).replace(/\.(js|ts)$/, "").replace(/\/index$/, "");
}

const isException = (from: string, to: string, typeOnly: boolean) =>
  EXCEPTIONS.some((e) => e.from === from && e.to === to && (!e.typeOnly || typeOnly));

/** Every boundary violation in `files`, as `file:line imports "specifier": rule`. */
function boundaryViolations(files: readonly SourceFile[]): string[] {
  const violations: string[] = [];
  for (const file of files) {
    const fromLayer = layerOf(file.path);
    for (const ref of importsOf(file)) {
      const at = `${file.path}:${ref.line} imports "${ref.specifier}"`;
      const target = resolve(file.path, ref.specifier);
      if (target === undefined) {
        const pkg = FORBIDDEN_PACKAGES[fromLayer];
        if (pkg?.test(ref.specifier)) violations.push(`${at}: ${fromLayer} must not load ${ref.specifier.split("/")[0]}`);
        continue;
      }
      const toLayer = layerOf(target);
      const to = target.replace(/^dist\//, "");
      if (isException(file.path, to, ref.typeOnly)) continue;
      if (fromLayer in ALLOWED) {
        const allowed = ALLOWED[fromLayer as keyof typeof ALLOWED];
        if (toLayer === "outside") violations.push(`${at}: lib/ must not import ${to} (outside the library)`);
        else if (!allowed.includes(toLayer)) violations.push(`${at}: ${fromLayer} must not import ${toLayer}`);
        continue;
      }
      if (toLayer === "internal") violations.push(`${at}: lib/internal/ is private to lib/`);
      else if ((fromLayer === "job-service-src" || fromLayer === "verifier-src") && SERVICE_FORBIDDEN.includes(toLayer)) {
        violations.push(`${at}: ${fromLayer} must not import ${toLayer}`);
      } else if (fromLayer === "stacks" && toLayer === "root") {
        violations.push(`${at}: stacks/ must import lib modules, not the package root (which re-exports stacks/)`);
      }
    }
  }
  return violations.sort();
}

function sourceFiles(): SourceFile[] {
  const dirs = [
    "lib",
    "test",
    "stacks",
    "bin",
    "scripts",
    "attestation-verifier/src",
    "attestation-verifier/test",
    "attestation-verifier/scripts",
    "job-service/src",
    "job-service/test",
    "job-service/scripts",
  ];
  const out: SourceFile[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules" && entry.name !== "fixtures" && entry.name !== "build") walk(rel);
      } else if (/\.(ts|js)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) {
        out.push({ path: rel, text: fs.readFileSync(path.join(ROOT, rel), "utf8") });
      }
    }
  };
  for (const dir of dirs) if (fs.existsSync(path.join(ROOT, dir))) walk(dir);
  return out;
}

describe("import boundaries", () => {
  const files = sourceFiles();

  test("given the repository, then every lib/ file maps to a known layer", () => {
    const unknown = files.filter((f) => f.path.startsWith("lib/") && layerOf(f.path) === "outside").map((f) => f.path);
    expect(files.filter((f) => f.path.startsWith("lib/")).length).toBeGreaterThan(100);
    expect(unknown).toEqual([]);
  });

  test("given every source file, when its imports are checked, then no layer reaches a higher one and nothing outside lib/ reaches lib/internal/", () => {
    expect(boundaryViolations(files)).toEqual([]);
  });

  test("given the documented exceptions, then each is still needed (an unused one is removed, not kept)", () => {
    const used = (e: Exception) => {
      const file = files.find((f) => f.path === e.from);
      return !!file && importsOf(file).some((r) => resolve(e.from, r.specifier)?.replace(/^dist\//, "") === e.to);
    };
    expect(EXCEPTIONS.filter((e) => !used(e)).map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });
});

describe("the boundary checker itself", () => {
  const check = (p: string, text: string) => boundaryViolations([{ path: p, text }]);

  test("given a policy module importing a construct and cdktf, then both are reported with file and line", () => {
    const text = 'import { Construct } from "constructs";\n\nimport { CleanRoom } from "../constructs/clean-room";\n';
    expect(check("lib/policy/bad.ts", text)).toEqual([
      'lib/policy/bad.ts:1 imports "constructs": policy must not load constructs',
      'lib/policy/bad.ts:3 imports "../constructs/clean-room": policy must not import composition',
    ]);
  });

  test("given a construct importing the checks, an analysis importing the report, and a report importing the cli, then each is reported", () => {
    expect(check("lib/constructs/platform/x.ts", 'export { CleanRoomChecks } from "../../checks";')).toEqual([
      'lib/constructs/platform/x.ts:1 imports "../../checks": constructs must not import checks',
    ]);
    expect(check("lib/analysis/x.ts", 'const r = require("../report/markdown");')).toEqual([
      'lib/analysis/x.ts:1 imports "../report/markdown": analysis must not import report',
    ]);
    expect(check("lib/report/x.ts", 'const io = import("../cli/io");')).toEqual([
      'lib/report/x.ts:1 imports "../cli/io": report must not import cli',
    ]);
  });

  test("given a construct family importing the composition, then it is reported (clean-room.ts composes the families, not the reverse)", () => {
    expect(check("lib/constructs/data-plane/x.ts", 'import { CleanRoom } from "../clean-room";')).toEqual([
      'lib/constructs/data-plane/x.ts:1 imports "../clean-room": constructs must not import composition',
    ]);
  });

  test("given files outside lib/ reaching lib/internal/, then each is reported; the public root is fine", () => {
    expect(check("test/x.test.ts", 'import { grantIdFor } from "../lib/internal/common";\nimport { CleanRoom } from "../lib";')).toEqual([
      'test/x.test.ts:1 imports "../lib/internal/common": lib/internal/ is private to lib/',
    ]);
    expect(check("scripts/x.js", 'const z = require(path.join(DIST, "lib", "internal", "zip.js"));')).toEqual([
      'scripts/x.js:1 imports "<joined>/lib/internal/zip.js": lib/internal/ is private to lib/',
    ]);
  });

  test("given the ready stacks importing the package root, then it is reported (the root re-exports stacks/: a cycle)", () => {
    expect(check("stacks/x.ts", 'import { CleanRoom } from "../lib";\nimport { CleanRoomChecks } from "../lib/checks";')).toEqual([
      'stacks/x.ts:1 imports "../lib": stacks/ must import lib modules, not the package root (which re-exports stacks/)',
    ]);
  });

  test("given a service importing cdktf or a construct, then it is reported; importing the policy document is fine", () => {
    const text = 'import { App } from "cdktf";\nimport { AttestationVerifier } from "../../lib/constructs/verifier";\nimport type { VerifierPolicyDocument } from "../../lib/policy/document";';
    expect(check("attestation-verifier/src/x.ts", text)).toEqual([
      'attestation-verifier/src/x.ts:1 imports "cdktf": verifier-src must not load cdktf',
      'attestation-verifier/src/x.ts:2 imports "../../lib/constructs/verifier": verifier-src must not import constructs',
    ]);
  });

  test("given the type-only exception used as a runtime import, then it is reported", () => {
    const typeOnly = 'import type { JobServiceConfig } from "../../job-service/src/config";';
    const runtime = 'import { JobServiceConfig } from "../../job-service/src/config";';
    expect(check("lib/policy/job-service-config.ts", typeOnly)).toEqual([]);
    expect(check("lib/policy/job-service-config.ts", runtime)).toEqual([
      'lib/policy/job-service-config.ts:1 imports "../../job-service/src/config": policy must not import job-service-src',
    ]);
  });
});
