/**
 * The deployable directory: deterministic, self-contained (it runs from a directory with
 * no node_modules above it), and its `verify` entry point answers a real request.
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { examplePolicyDocument, jwksServer, rsaKey, signToken, tokenClaims } from "./helpers";

const { build } = require("../scripts/build.js") as {
  build(o: { out: string }): {
    dir: string;
    sha256: string;
    files: number;
    entryPoint: string;
    runtime: string;
    dependencies: Record<string, string>;
  };
};

const work = mkdtempSync(join(tmpdir(), "verifier-build-"));

describe("given the build script", () => {
  let first: ReturnType<typeof build>;

  beforeAll(() => {
    first = build({ out: join(work, "a") });
  });

  it("when run twice, then both directories hash the same (deterministic)", () => {
    const second = build({ out: join(work, "b") });
    expect(second.sha256).toBe(first.sha256);
    expect(second.files).toBe(first.files);
  });

  it("then it lays out the entry module, the compiled sources, the manifest, the lock and the pinned dependencies", () => {
    expect(first).toMatchObject({
      entryPoint: "verify",
      runtime: "nodejs22",
      dependencies: {
        jose: "6.2.18",
        "@bufbuild/cel": "0.6.1",
        "@bufbuild/cel-spec": "0.6.1",
        "@bufbuild/re2": "0.6.1",
        "@bufbuild/protobuf": "2.17.0",
      },
    });
    for (const f of [
      "index.js",
      "src/function-entry.js",
      "src/verifier.js",
      "node_modules/jose/package.json",
      "node_modules/@bufbuild/cel/package.json",
    ]) {
      expect(existsSync(join(first.dir, f))).toBe(true);
    }
    expect(existsSync(join(first.dir, "src/verifier.d.ts"))).toBe(false);
    const pkg = JSON.parse(readFileSync(join(first.dir, "package.json"), "utf8"));
    expect(pkg).toMatchObject({ main: "index.js", dependencies: { jose: "6.2.18", "@bufbuild/cel": "0.6.1" } });
    expect(pkg.scripts).toBeUndefined(); // nothing for the buildpack to run
    const lock = JSON.parse(readFileSync(join(first.dir, "package-lock.json"), "utf8"));
    expect(lock.packages["node_modules/jose"]).toMatchObject({ version: "6.2.18", integrity: expect.stringMatching(/^sha512-/) });
    // No compiled file reaches outside the zip (lib/ is shared as a type only).
    expect(readFileSync(join(first.dir, "src/policy.js"), "utf8")).not.toMatch(/require\("\.\.\//);
  });

  it("when its verify function runs from the copied directory alone, then it answers a real request", async () => {
    const doc = examplePolicyDocument();
    const cs = await rsaKey("cs-key-1");
    const jwks = await jwksServer([cs.jwk]);
    try {
      const policyFile = join(work, "policy.json");
      writeFileSync(policyFile, JSON.stringify(doc.document));
      const keyFile = join(work, "receipt.pem");
      writeFileSync(keyFile, generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ format: "pem", type: "pkcs8" }));
      const token = await signToken(tokenClaims(doc.document, Date.now()), cs);
      const script = `
        const { verify } = require(${JSON.stringify(join(first.dir, "index.js"))});
        const body = Buffer.from(JSON.stringify({ token: process.env.TOKEN, dataset: "insurance", nonce: "thisIsAcustomNonce" }));
        const res = { statusCode: 0, headers: {}, setHeader(k, v) { this.headers[k] = v; }, end(b) { process.stderr.write(JSON.stringify({ status: this.statusCode, body: JSON.parse(b) })); } };
        verify({ method: "POST", path: "/v1/verify", headers: { "content-type": "application/json" }, rawBody: body }, res);
      `;
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ["-e", script], {
        cwd: work,
        env: {
          PATH: process.env.PATH,
          TOKEN: token,
          VERIFIER_POLICY_FILE: policyFile,
          VERIFIER_POLICY_SHA256: doc.sha256,
          VERIFIER_SIGNING_KEY_FILE: keyFile,
          VERIFIER_JWKS_URL: jwks.url,
        },
      });
      const answer = JSON.parse(stderr);
      expect(answer.status).toBe(200);
      expect(answer.body.decision).toBe("allow");
      // The decision went to stdout as one structured audit line, without the token.
      const audit = stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(audit).toEqual([expect.objectContaining({ severity: "INFO", decision: "allow", policy_sha256: doc.sha256 })]);
      expect(stdout).not.toContain(token);
    } finally {
      await jwks.close();
    }
  });
});
