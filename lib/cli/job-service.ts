/**
 * `manatee job-service --local --config room.yaml [--port N] [--state DIR]`: the room's whole
 * stage-2 path on this machine, offline (lib/cli/local-room.ts). Prints, as the local stand-in
 * for JupyterHub, one `researcher <name> token <token>` line per researcher; then runs until
 * interrupted.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { jsonLineAudit } from "../../job-service/src/audit";
import { loadPolicyFile } from "../policy/load";
import { PolicyError } from "../policy/validate";
import { CliIo, parseArgs } from "./io";
import { LocalRoom, startLocalRoom } from "./local-room";
import { prepareLocalRoom } from "./local-prepare";
import { stage2Bucket } from "../../job-service/src/local-tee";
import { EXIT } from "./exit";

const USAGE = `usage: manatee job-service --local --config FILE [--port N] [--state DIR] [--researcher NAME ...]

Run the clean room's stage-2 path on this machine, offline: the job service's REST API
(ManaTEE's), a content-addressed builder, the owners' signature repositories, a local
Confidential Space whose key requests are decided by the room's compiled conditions, and the
attestation verifier for release.
  --local       required: the cloud job service runs in the room (see README)
  --config      the clean-room config (YAML)
  --port        the job service's port (default: a free one)
  --state       state directory (default: a new temporary directory); reuse it to keep jobs
  --researcher  a researcher username (default: the room's jupyterhub.users, else "researcher")
Prints one line "researcher <name> token <token>" per researcher, then serves until interrupted.
Exit codes: 1 invalid config, 2 usage error.
`;

export interface StartedLocal {
  readonly room: LocalRoom;
  readonly stateDir: string;
}

/** Starts the local room from a room file (used by the command, the demo and the tests). */
export async function startLocalFromFile(options: { config: string; stateDir?: string; port?: number; researchers?: string[]; audit?: (line: string) => void; reconcileIntervalMs?: number }): Promise<StartedLocal> {
  const policy = loadPolicyFile(options.config);
  const stateDir = resolve(options.stateDir ?? mkdtempSync(join(tmpdir(), "manatee-local-")));
  const prepared = await prepareLocalRoom(policy, stateDir);
  const researchers = options.researchers?.length
    ? options.researchers
    : prepared.config.researchers.length
      ? [...prepared.config.researchers]
      : ["researcher"];
  const room = await startLocalRoom({
    config: prepared.config,
    verifierPolicy: prepared.verifierPolicy,
    stateDir,
    researchers,
    port: options.port,
    reconcileIntervalMs: options.reconcileIntervalMs,
    audit: options.audit ? jsonLineAudit(options.audit) : undefined,
  });
  return { room, stateDir };
}

export async function run(args: string[], io: CliIo): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(USAGE);
    return 0;
  }
  const researchers: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--researcher") researchers.push(args[++i] ?? "");
    else if (args[i] === "--local") rest.push("--local=yes");
    else rest.push(args[i]);
  }
  const { options, positional, errors } = parseArgs(rest, ["local", "config", "port", "state"]);
  if (positional.length > 0) errors.push(`unexpected argument "${positional[0]}"`);
  if (options.local === undefined) errors.push("only --local is supported here: in a deployed room the job service runs in the cluster");
  if (options.config === undefined) errors.push("missing --config FILE");
  const port = options.port === undefined ? 0 : Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) errors.push(`--port: expected 0-65535, found "${options.port}"`);
  if (researchers.some((r) => !/^[a-z][a-z0-9-]{0,25}$/.test(r))) errors.push("--researcher: expected a username of 1-26 lowercase letters, digits or '-'");
  if (errors.length > 0) {
    io.stderr.write(`${errors.map((e) => `manatee job-service: ${e}`).join("\n")}\n\n${USAGE}`);
    return 2;
  }
  let started: StartedLocal;
  try {
    started = await startLocalFromFile({ config: options.config, stateDir: options.state, port, researchers, audit: (line) => io.stderr.write(`${line}\n`) });
  } catch (err) {
    if (err instanceof PolicyError) {
      io.stderr.write(`${err.message}\n`);
      return EXIT.usage;
    }
    throw err;
  }
  const { room, stateDir } = started;
  io.stdout.write(`job-service ${room.url}\n`);
  io.stdout.write(`verifier ${room.verifierUrl}\n`);
  io.stdout.write(`state ${stateDir}\n`);
  for (const d of room.config.datasets) io.stdout.write(`dataset ${d.name} stage2 ${join(room.bucketsDir, stage2Bucket(room.config, d.name))}\n`);
  for (const [name, token] of Object.entries(room.tokens)) io.stdout.write(`researcher ${name} token ${token}\n`);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      room.close().then(done, done);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  return 0;
}
