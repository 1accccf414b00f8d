/**
 * How every entry point (the `manatee` commands, `npm run synth`, `cdktf synth`) ends: one
 * documented set of exit codes and one way to print a failure — the message, no stack trace
 * unless asked for with `--debug` or `MANATEE_DEBUG=1`.
 */
import { InternalError, ManateeError } from "../errors";

/** Exit codes, identical across commands. */
export const EXIT = {
  /** Done; no findings; the decision was allow. */
  ok: 0,
  /** Ran to the end and found something: guardrail findings, a deny, an invalid receipt. */
  findings: 1,
  /** Could not run as asked: bad arguments, an unreadable or invalid config or input file. */
  usage: 2,
  /** A bug in manatee-cdktf (an error it did not expect). Rerun with --debug and report it. */
  internal: 3,
} as const;

/** Node's errors for a path the user gave: reported as input errors, not bugs. */
const INPUT_ERRNO = new Set(["ENOENT", "EISDIR", "ENOTDIR", "EACCES", "EPERM", "ELOOP", "ENAMETOOLONG"]);

export function debugRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.MANATEE_DEBUG === "1" || env.MANATEE_DEBUG === "true";
}

/**
 * cdktf's refusal to synthesize a stack with error annotations: the guardrails ran and found
 * something. A finding (exit 1), printed as cdktf lists it, not a bug.
 */
export function isGuardrailRefusal(err: unknown): boolean {
  return err instanceof Error && err.message.includes("CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS");
}

/** The exit code a thrown error maps to. */
export function exitCodeFor(err: unknown): number {
  if (isGuardrailRefusal(err)) return EXIT.findings;
  if (err instanceof InternalError) return EXIT.internal;
  if (err instanceof ManateeError) return EXIT.usage;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === "string" && INPUT_ERRNO.has(code)) return EXIT.usage;
  return EXIT.internal;
}

/** One message for a thrown error: what the user can act on, the stack only for bugs in debug mode. */
export function describeError(err: unknown, debug: boolean): string {
  if (debug && err instanceof Error && err.stack) return err.stack;
  if (err instanceof ManateeError || isGuardrailRefusal(err)) return (err as Error).message;
  const message = err instanceof Error ? err.message : String(err);
  if (exitCodeFor(err) === EXIT.usage) return message;
  return `${message} (unexpected; rerun with --debug or MANATEE_DEBUG=1 for the stack trace, and report it)`;
}

/**
 * A closed pipe (`manatee report … | head`) ends the command quietly instead of crashing
 * with EPIPE: the reader has what it wanted.
 */
export function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream, exit: (code: number) => void = process.exit): void {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") exit(EXIT.ok);
    else throw err;
  });
}
