/**
 * `manatee policy --config FILE`: print the verifier policy document of a clean-room
 * config. The output is canonical JSON re-indented (keys sorted), so the verifier can
 * recompute the policy hash as sha256(canonicalJson(parsed)).
 */
import { compileVerifierPolicy } from "../policy/document";
import { loadPolicyFile } from "../policy/load";
import { PolicyError } from "../policy/validate";
import { CliIo, parseArgs } from "./io";
import { EXIT } from "./exit";

const USAGE = `usage: manatee policy --config FILE
       manatee policy sign --config FILE --party NAME --key KEY.pem [--out FILE]

Print the verifier policy document (JSON) of the clean-room config FILE; \`sign\`: a consortium
party signs its approvals (manatee policy sign --help).
Exit codes: 0 printed, 2 invalid config or usage error.
`;

export async function run(args: string[], io: CliIo): Promise<number> {
  // Loaded on use: printing the document never pays for jose.
  if (args[0] === "sign") return (await import("./policy-sign")).run(args.slice(1), io);
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(USAGE);
    return 0;
  }
  const { options, positional, errors } = parseArgs(args, ["config"]);
  if (positional.length > 0) errors.push(`unexpected argument "${positional[0]}"`);
  if (errors.length === 0 && options.config === undefined) errors.push("missing --config FILE");
  if (errors.length > 0) {
    io.stderr.write(`${errors.map((e) => `manatee policy: ${e}`).join("\n")}\n\n${USAGE}`);
    return 2;
  }
  const file = options.config;
  try {
    const compiled = compileVerifierPolicy(loadPolicyFile(file));
    io.stdout.write(`${JSON.stringify(JSON.parse(compiled.json), null, 2)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof PolicyError) {
      const n = err.issues.length;
      io.stderr.write(`${err.message}\nmanatee policy: ${n} problem${n === 1 ? "" : "s"} in ${file}\n`);
    } else if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "EISDIR") {
      io.stderr.write(`manatee policy: cannot read ${file}: ${(err as Error).message}\n`);
    } else {
      io.stderr.write(`manatee policy: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    return EXIT.usage;
  }
}
