/**
 * What `npm pack` ships (issue 14): every runtime file the package root, the bins and the
 * constructs load, and no tests, fixtures, snapshots or TypeScript sources of tests. Read from
 * `npm pack --dry-run --json` (no build: `npm ci` ran `prepare`).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));

describe("npm pack contents", () => {
  let files: string[];
  beforeAll(() => {
    const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, encoding: "utf8", maxBuffer: 256 << 20 });
    files = (JSON.parse(out)[0].files as { path: string }[]).map((f) => f.path);
  }, 120_000);

  const has = (prefix: string) => files.some((f) => f === prefix || f.startsWith(`${prefix}/`));

  test("given the packed files, then every runtime directory and file is present", () => {
    const runtime = [
      "dist/lib/index.js",
      "dist/lib/index.d.ts",
      "dist/bin/manatee.js",
      "scripts/verifier.js",
      "dist/stacks/index.js",
      "dist/attestation-verifier/src/main.js",
      "dist/job-service/src",
      "attestation-verifier/build/index.js",
      "job-service/build",
      "lib/policy/schema.json",
      "stacks/example.cleanroom.yaml",
      "LICENSE",
      "CHANGELOG.md",
      "README.md",
      "package.json",
    ];
    expect(runtime.filter((f) => !has(f))).toEqual([]);
  });

  test("given the package's entry points, then main, types and every bin are shipped", () => {
    const entries = [pkg.main, pkg.types, ...Object.values<string>(pkg.bin)];
    expect(entries.filter((f) => !files.includes(f))).toEqual([]);
    expect(Object.keys(pkg.bin)).toEqual(expect.arrayContaining(["manatee", "manatee-verifier"]));
  });

  test("given the packed files, then no test, fixture, snapshot or example ships", () => {
    // The deploy bundles vendor third-party packages as npm installs them (build/node_modules/): not ours.
    const ours = files.filter((f) => !/^(attestation-verifier|job-service)\/build\/node_modules\//.test(f));
    const leaked = ours.filter(
      (f) =>
        /(^|\/)(test|tests|__tests__|__snapshots__|fixtures|examples)\//.test(f) ||
        /\.(test|spec)\.(ts|js|d\.ts)$/.test(f) ||
        (/\.ts$/.test(f) && !/\.d\.ts$/.test(f)) ||
        /\.tsbuildinfo/.test(f),
    );
    expect(leaked).toEqual([]);
  });

  test("given the optional Helm and Kubernetes peers, then they are marked optional and the others are ranges", () => {
    expect(pkg.peerDependenciesMeta["@cdktf/provider-helm"]).toEqual({ optional: true });
    expect(pkg.peerDependenciesMeta["@cdktf/provider-kubernetes"]).toEqual({ optional: true });
    expect(pkg.peerDependencies.cdktf).toBe("^0.21.0");
    expect(Object.values<string>(pkg.peerDependencies).every((r) => /[\^~<>]/.test(r))).toBe(true);
  });
});
