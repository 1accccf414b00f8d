/**
 * The `manatee` command line. Each command lives in lib/cli/<command>.ts and exports
 * `run(args, io)`; loading is lazy so `manatee policy` never pays for cdktf.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { EXIT, debugRequested, describeError, exitCodeFor, exitQuietlyOnClosedPipe } from "../lib/cli/exit";
import type { CliIo } from "../lib/cli/io";

export const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(args: string[], io: CliIo): Promise<number> }> }> = {
  policy: { summary: "print the verifier policy document of a clean-room config; sign: sign a party's approvals", load: () => import("../lib/cli/policy") },
  check: { summary: "run the clean-room guardrails on a synthesized config", load: () => import("../lib/cli/check") },
  report: { summary: "write the auditor's access report (Markdown)", load: () => import("../lib/cli/report") },
  budget: { summary: "print the privacy-budget ledger and what remains per dataset", load: () => import("../lib/cli/budget") },
  "verify-receipt": { summary: "verify a release receipt offline and print its claims", load: () => import("../lib/cli/verify-receipt") },
  jobs: { summary: "a data owner's review of a built job: show, approve, reject", load: () => import("../lib/cli/jobs") },
  "job-service": { summary: "run the room's stage-2 path on this machine (--local)", load: () => import("../lib/cli/job-service") },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(16)}${c.summary}`);
  return (
    `usage: manatee <command> [options]      (manatee <command> --help for its options)\n\ncommands:\n${lines.join("\n")}\n\n` +
    `global options:\n  --version       print the version\n  --debug         print stack traces (also MANATEE_DEBUG=1)\n\n` +
    `exit codes: ${EXIT.ok} ok, ${EXIT.findings} findings or deny, ${EXIT.usage} usage or input error, ${EXIT.internal} a bug in manatee\n`
  );
}

/** The package version, from the sources (bin/) and from the build (dist/bin/). */
export function packageVersion(): string {
  for (const up of ["..", path.join("..", "..")]) {
    const file = path.join(__dirname, up, "package.json");
    if (existsSync(file)) return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
  }
  return "unknown";
}

/**
 * Runs one command. Every failure ends here as one message and a documented exit code; a
 * stack trace only with --debug (or MANATEE_DEBUG=1).
 */
export async function main(argv: string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const debug = argv.includes("--debug") || debugRequested(env);
  const args = argv.filter((a) => a !== "--debug");
  const [name, ...rest] = args;
  if (name === "--version" || name === "-V" || name === "version") {
    io.stdout.write(`${packageVersion()}\n`);
    return EXIT.ok;
  }
  if (!name || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(usage());
    return name ? EXIT.ok : EXIT.usage;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`manatee: unknown command "${name}"\n\n${usage()}`);
    return EXIT.usage;
  }
  try {
    return await (await command.load()).run(rest, io);
  } catch (err) {
    io.stderr.write(`manatee ${name}: ${describeError(err, debug)}\n`);
    return exitCodeFor(err);
  }
}

if (require.main === module) {
  exitQuietlyOnClosedPipe(process.stdout);
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then((code) => {
    process.exitCode = code;
  });
}
