/**
 * The `manatee` command line. Each command lives in lib/cli/<command>.ts and exports
 * `run(args, io)`; loading is lazy so `manatee policy` never pays for cdktf.
 */
import type { CliIo } from "../lib/cli/io";

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(args: string[], io: CliIo): Promise<number> }> }> = {
  policy: { summary: "print the verifier policy document of a clean-room config", load: () => import("../lib/cli/policy") },
  check: { summary: "run the clean-room guardrails on a synthesized config", load: () => import("../lib/cli/check") },
  report: { summary: "write the auditor's access report (Markdown)", load: () => import("../lib/cli/report") },
  "verify-receipt": { summary: "verify a release receipt offline and print its claims", load: () => import("../lib/cli/verify-receipt") },
  jobs: { summary: "a data owner's review of a built job: show, approve, reject", load: () => import("../lib/cli/jobs") },
  "job-service": { summary: "run the room's stage-2 path on this machine (--local)", load: () => import("../lib/cli/job-service") },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(16)}${c.summary}`);
  return `usage: manatee <command> [options]\n\ncommands:\n${lines.join("\n")}\n`;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`manatee: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await command.load()).run(rest, io);
}

if (require.main === module) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`manatee: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
