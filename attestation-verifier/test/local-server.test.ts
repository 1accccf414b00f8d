/**
 * `npm run verifier` (scripts/verifier.js) as a process: it prints one JSON line when
 * listening, fails fast on bad configuration, and says what to do when dist/ is missing.
 * It runs the compiled code, so this test needs `npm run build` (npm ci runs it).
 */
import { ChildProcess, execFile, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { examplePolicyDocument } from "./helpers";
import { approverKey, jobPathPolicy, JOB } from "./release-fixtures";

const ROOT = resolve(__dirname, "../..");
const SCRIPT = join(ROOT, "scripts", "verifier.js");
const work = mkdtempSync(join(tmpdir(), "verifier-local-"));
const compiled = examplePolicyDocument();
const policyFile = join(work, "policy.json");
writeFileSync(policyFile, JSON.stringify(compiled.document, null, 2));
const run = promisify(execFile);

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist/attestation-verifier/src/main.js")))
    throw new Error("dist/ is missing: run `npm run build` before this test");
});

describe("given scripts/verifier.js", () => {
  let child: ChildProcess | undefined;
  afterEach(() => child?.kill());

  /** Starts the script on port 0 with `env` (and a JWKS URL nothing answers); resolves with its parsed listening line. */
  async function start(env: Record<string, string>): Promise<any> {
    child = spawn(process.execPath, [SCRIPT], {
      env: { PATH: process.env.PATH, PORT: "0", VERIFIER_JWKS_URL: "http://127.0.0.1:9/jwks", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const line = await new Promise<string>((done, fail) => {
      let buf = "";
      child!.stdout!.on("data", (c: Buffer) => {
        buf += c.toString();
        if (buf.includes("\n")) done(buf.split("\n")[0]);
      });
      child!.once("exit", (code) => fail(new Error(`exited ${code}`)));
    });
    return JSON.parse(line);
  }

  it("when started with a policy file, then it prints one listening line and serves /healthz on 127.0.0.1", async () => {
    const ready = await start({ VERIFIER_POLICY_FILE: policyFile });
    expect(ready).toMatchObject({
      severity: "INFO",
      message: "attestation verifier listening",
      url: `http://127.0.0.1:${ready.port}`,
      jwks_url: "http://127.0.0.1:9/jwks",
      policy_sha256: compiled.sha256,
      receipt_signer: expect.stringContaining("ephemeral"),
    });
    const health = await fetch(`${ready.url}/healthz`);
    expect(health.status).toBe(200);
  });

  it("when VERIFIER_RELEASE_DIR is set with a job-path policy, then /v1/release is served from that directory", async () => {
    const jobPolicy = join(work, "job-policy.json");
    writeFileSync(jobPolicy, JSON.stringify(jobPathPolicy({ insurance: approverKey(), claims: approverKey() })));
    const buckets = join(work, "buckets");
    const ready = await start({ VERIFIER_POLICY_FILE: jobPolicy, VERIFIER_RELEASE_DIR: buckets });
    expect(ready.release_store).toBe(`local directory ${buckets}`);
    // Configured: a malformed release is a 400 about the request, not release_not_configured.
    const res = await fetch(`${ready.url}/v1/release`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: "x.y.z", job: JOB, datasets: [], objects: [] }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_request");
  });

  it("when the policy is invalid, then it exits 1 before listening, naming the field", async () => {
    const bad = join(work, "bad-policy.json");
    writeFileSync(bad, JSON.stringify({ ...compiled.document, issuer: "https://evil.example" }));
    const err = await run(process.execPath, [SCRIPT], { env: { PATH: process.env.PATH, VERIFIER_POLICY_FILE: bad } }).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toBe(
      'attestation-verifier: policy.issuer: expected exactly "https://confidentialcomputing.googleapis.com", got "https://evil.example". Regenerate it with `npx manatee policy` from the clean-room config.\n'
    );
  });

  it("when dist/ was never built, then it says how to build and exits 2", async () => {
    const fresh = join(work, "checkout");
    mkdirSync(join(fresh, "scripts"), { recursive: true });
    copyFileSync(SCRIPT, join(fresh, "scripts", "verifier.js"));
    const err = await run(process.execPath, [join(fresh, "scripts", "verifier.js")], { cwd: fresh }).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toBe("attestation-verifier: dist/attestation-verifier/src/main.js is missing. Build it first: npm run build\n");
  });
});
