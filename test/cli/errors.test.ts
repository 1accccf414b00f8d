/**
 * Every kind of failure ends the same way in every entry point: one clean message (no stack
 * trace unless --debug / MANATEE_DEBUG=1) and the documented exit code (0 ok, 1 findings or
 * deny, 2 usage or input error, 3 a bug). Driven through the real CLI: in-process for the
 * error classes, as real processes for what only a process shows (EPIPE, --version, synth).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../bin/manatee";
import { EXIT, describeError, exitCodeFor } from "../../lib/cli/exit";
import { summarise, ExternalError, InternalError, InvalidInputError, InvalidPropsError, LimitExceededError, ManateeError, UnresolvedTokenError, UsageError } from "../../lib/errors";
import { PolicyError } from "../../lib/policy/validate";
import { manatee } from "./run";

const STACK_FRAME = /\n\s+at /;
const EXAMPLE = "stacks/example.cleanroom.yaml";
const env = { ...process.env, CHECKPOINT_DISABLE: "1", MANATEE_DEBUG: "" };

function oneMessage(stderr: string): void {
  expect(stderr).not.toMatch(STACK_FRAME);
  expect(stderr.trim().length).toBeGreaterThan(0);
}

describe("exit codes and messages through the CLI", () => {
  test("given an unknown command, then usage on stderr and exit 2", async () => {
    const r = await manatee("frobnicate");
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/^manatee: unknown command "frobnicate"/);
    oneMessage(r.stderr);
  });

  test("given an unknown option, then exit 2 with the option named", async () => {
    const r = await manatee("policy", "--confg", EXAMPLE);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain("--confg");
    oneMessage(r.stderr);
  });

  test("given a config that does not exist, then exit 2 and no stack trace", async () => {
    const r = await manatee("policy", "--config", "no/such/room.yaml");
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain("no/such/room.yaml");
    oneMessage(r.stderr);
  });

  test("given an invalid config, then the located errors, exit 2", async () => {
    const r = await manatee("policy", "--config", "test/fixtures/policies/many-errors.cleanroom.yaml");
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/many-errors\.cleanroom\.yaml:\d+:\d+: /);
    oneMessage(r.stderr);
  });

  test("given --version, then the package version on stdout, exit 0", async () => {
    const r = await manatee("--version");
    expect(r).toEqual({ code: EXIT.ok, stdout: `${JSON.parse(readFileSync("package.json", "utf8")).version}\n`, stderr: "" });
  });

  test("given --help, then the exit codes are documented", async () => {
    const r = await manatee("--help");
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toContain("exit codes: 0 ok, 1 findings or deny, 2 usage or input error, 3 a bug in manatee");
  });
});

describe("a command that throws", () => {
  // A command module that throws what real commands throw, loaded through main's catch.
  async function runThrowing(err: unknown, argv: string[] = []): Promise<{ code: number; stderr: string }> {
    let stderr = "";
    const io = { stdout: { write: () => true }, stderr: { write: (c: string) => ((stderr += c), true) } };
    const mod = await import("../../bin/manatee");
    const load = jest.spyOn(mod.COMMANDS.policy, "load").mockResolvedValue({ run: () => Promise.reject(err) });
    try {
      const code = await main(["policy", ...argv], io, { MANATEE_DEBUG: "" });
      return { code, stderr };
    } finally {
      load.mockRestore();
    }
  }

  test.each([
    ["InvalidPropsError", new InvalidPropsError("ipRanges.pods overlaps ipRanges.nodes.", { constructPath: "room/Network", property: "ipRanges" })],
    ["InvalidInputError", new InvalidInputError("suppressions.json: entry 2 has no reason.")],
    ["UsageError", new UsageError("--config is required.")],
    ["LimitExceededError", new LimitExceededError("The compiled attribute condition is 4,200 characters; Google's limit is 4,096.")],
    ["UnresolvedTokenError", new UnresolvedTokenError("the verifier function's name must be a literal.")],
    ["ExternalError", new ExternalError("--jwks https://verifier.example/jwks.json answered 503")],
    ["PolicyError", new PolicyError([{ path: "name", expected: "a room name", found: '"Bad Name"', message: 'room.yaml:1:7: name: expected a room name, found "Bad Name"' }])],
  ])("given a %s, then one line with the command name, exit 2", async (_name, err) => {
    const r = await runThrowing(err);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toBe(`manatee policy: ${(err as ManateeError).message}\n`);
    expect((err as ManateeError).code).toMatch(/^MANATEE_[A-Z_]+$/);
  });

  test("given an error with a construct path and property, then the message names both", () => {
    const err = new InvalidPropsError("overlaps ipRanges.nodes.", { constructPath: "room/Network", property: "ipRanges.pods", fix: "Pick disjoint ranges." });
    expect(err.message).toBe("room/Network: ipRanges.pods: overlaps ipRanges.nodes. Pick disjoint ranges.");
    expect([err.constructPath, err.property, err.code]).toEqual(["room/Network", "ipRanges.pods", "MANATEE_INVALID_PROPS"]);
  });

  test("given an InternalError (a broken invariant), then exit 3 with the message asking for a report", async () => {
    const r = await runThrowing(new InternalError("job path of claims names pool x"));
    expect(r.code).toBe(EXIT.internal);
    expect(r.stderr).toBe("manatee policy: job path of claims names pool x (this is a bug in manatee-cdktf; please report it)\n");
  });

  test("given an unexpected error, then exit 3 and a hint, the stack only with --debug", async () => {
    const plain = await runThrowing(new TypeError("x is undefined"));
    expect(plain.code).toBe(EXIT.internal);
    expect(plain.stderr).toMatch(/^manatee policy: x is undefined \(unexpected; rerun with --debug/);
    oneMessage(plain.stderr);
    const debug = await runThrowing(new TypeError("x is undefined"), ["--debug"]);
    expect(debug.stderr).toMatch(STACK_FRAME);
  });

  test("given a file-system error on a user path, then it is an input error, not a bug", () => {
    const enoent = Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });
    expect(exitCodeFor(enoent)).toBe(EXIT.usage);
    expect(describeError(enoent, false)).toBe("ENOENT: no such file");
  });

  test("given 20,001 problems, then 20 are listed and the rest counted", () => {
    const lines = Array.from({ length: 20_001 }, (_, i) => `problem ${i}`);
    const out = summarise(lines);
    expect(out).toHaveLength(21);
    expect(out[20]).toBe("… and 19981 more");
    expect(summarise(lines.slice(0, 20))).toHaveLength(20);
  });
});

describe("as real processes", () => {
  beforeAll(() => {
    expect(existsSync("dist/bin/manatee.js") ? "built" : "dist/ is missing: run `npm run build` (npm ci runs it)").toBe("built");
  });

  test("given `manatee policy | head -c 100` on a large room, then the closed pipe ends it quietly with exit 0", () => {
    const dir = mkdtempSync(join(tmpdir(), "manatee-epipe-"));
    const config = join(dir, "large.cleanroom.yaml");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    writeFileSync(config, require("../../scripts/gen-large-config").largeConfigYaml({ datasets: 40, approvals: 400 }));
    const r = spawnSync("bash", ["-c", `node bin/manatee.js policy --config '${config}' | head -c 100 >/dev/null; echo "status=\${PIPESTATUS[0]}"`], {
      encoding: "utf8",
      env,
    });
    expect(r.stdout.trim()).toBe("status=0");
    expect(r.stderr).not.toContain("EPIPE");
  });

  test("given an invalid room for `npm run synth`'s app, then the located errors, exit 2, no stack trace", () => {
    const r = spawnSync(process.execPath, ["dist/bin/main.js"], {
      encoding: "utf8",
      env: { ...env, CLEANROOM_CONFIG: "test/fixtures/policies/many-errors.cleanroom.yaml" },
    });
    expect(r.status).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/many-errors\.cleanroom\.yaml:\d+:\d+: /);
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });
});

describe("a synth the guardrails refuse", () => {
  test("given cdktf's refusal over error annotations, then it is a finding (exit 1) printed without the bug hint", () => {
    const refusal = new Error("[room/x] [MCR-GCS1] ...\n\nEither fix the issues above, or set the environment variable CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS to ignore these annotations.");
    expect(exitCodeFor(refusal)).toBe(EXIT.findings);
    expect(describeError(refusal, false)).toBe(refusal.message);
  });
});
