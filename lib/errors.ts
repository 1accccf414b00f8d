/**
 * One error base for everything the library throws at a user. Each error has a stable
 * `code` (documented, safe to match on), and where it applies the construct path and the
 * property that is wrong, plus how to fix it. The CLI prints `message` alone; the stack is
 * for `--debug` / `MANATEE_DEBUG=1`.
 */

/** Stable error codes. Adding one is fine; renaming one is a breaking change. */
export const ERROR_CODES = {
  /** A construct was given props it cannot build (missing, out of range, inconsistent). */
  invalidProps: "MANATEE_INVALID_PROPS",
  /** The clean-room policy (room file) breaks a rule; `issues` lists every finding. */
  invalidPolicy: "MANATEE_INVALID_POLICY",
  /** A compiled artefact would exceed a Google limit (attribute condition, IAM policy size). */
  limitExceeded: "MANATEE_LIMIT_EXCEEDED",
  /** A value the construct needs at synth is an unresolved token. */
  unresolvedToken: "MANATEE_UNRESOLVED_TOKEN",
  /** A file the library reads (suppressions, synthesized stacks, receipts) is missing or malformed. */
  invalidInput: "MANATEE_INVALID_INPUT",
  /** A command line that cannot be run as given. */
  usage: "MANATEE_USAGE",
  /** A call to an outside system (Google API, registry, local server) failed. */
  external: "MANATEE_EXTERNAL",
  /** A bug in the library: an invariant that cannot fail did. Please report it. */
  internal: "MANATEE_INTERNAL",
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export interface ManateeErrorOptions {
  /** Construct path (`node.path`) of the construct that refused its props. */
  readonly constructPath?: string;
  /** The offending property, as the user wrote it (`datasets.insurance.location`, `props.ipRanges`). */
  readonly property?: string;
  /** What to do about it, one sentence. Appended to the message. */
  readonly fix?: string;
  readonly cause?: unknown;
}

export class ManateeError extends Error {
  readonly code: ErrorCode;
  readonly constructPath?: string;
  readonly property?: string;
  readonly fix?: string;

  constructor(code: ErrorCode, what: string, options: ManateeErrorOptions = {}) {
    super(formatMessage(what, options), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.constructPath = options.constructPath;
    this.property = options.property;
    this.fix = options.fix;
  }
}

function formatMessage(what: string, { constructPath, property, fix }: ManateeErrorOptions): string {
  const where = [constructPath, property].filter(Boolean).join(": ");
  const head = where && !what.startsWith(where) ? `${where}: ${what}` : what;
  return fix ? `${head} ${fix}` : head;
}

// The subclasses below are alike in shape on purpose: one named class per code, for `instanceof` and the docs.
/** Props a construct cannot build. Thrown from constructors, before any resource exists. */
export class InvalidPropsError extends ManateeError {
  constructor(what: string, options: ManateeErrorOptions = {}) {
    super(ERROR_CODES.invalidProps, what, options);
  }
}

/** A compiled artefact over a Google limit. */
export class LimitExceededError extends ManateeError {
  constructor(what: string, options: ManateeErrorOptions = {}) {
    super(ERROR_CODES.limitExceeded, what, options);
  }
}

/** A synth-time value that is an unresolved token. */
export class UnresolvedTokenError extends ManateeError {
  constructor(what: string, options: ManateeErrorOptions = {}) {
    super(ERROR_CODES.unresolvedToken, what, options);
  }
}

/** A file or document the library reads that is missing or malformed. */
export class InvalidInputError extends ManateeError {
  constructor(what: string, options: ManateeErrorOptions = {}) {
    super(ERROR_CODES.invalidInput, what, options);
  }
}

/** A command line that cannot be run as given. */
export class UsageError extends ManateeError {
  constructor(what: string, options: ManateeErrorOptions = {}) {
    super(ERROR_CODES.usage, what, options);
  }
}

/** An outside system refused or failed. */
export class ExternalError extends ManateeError {
  constructor(what: string, options: ManateeErrorOptions = {}) {
    super(ERROR_CODES.external, what, options);
  }
}

/** An invariant of the library itself broke. */
export class InternalError extends ManateeError {
  constructor(what: string, options: ManateeErrorOptions = {}) {
    super(ERROR_CODES.internal, `${what} (this is a bug in manatee-cdktf; please report it)`, options);
  }
}

/** How many problems one error message lists before it counts the rest. */
export const MAX_LISTED_PROBLEMS = 20;

/**
 * At most `max` lines of a long list of problems, then how many more: one mistake repeated in
 * 20,000 approvals is one screen, not 20,000 lines. Every error that carries a list uses it.
 */
export function summarise(lines: readonly string[], max = MAX_LISTED_PROBLEMS): string[] {
  if (lines.length <= max) return [...lines];
  return [...lines.slice(0, max), `… and ${lines.length - max} more`];
}

/** True for errors the CLI prints as one clean message (exit 2). */
export function isManateeError(err: unknown): err is ManateeError {
  return err instanceof ManateeError;
}
