/**
 * `manatee verify-receipt RECEIPT --jwks URL_OR_FILE [--object [NAME=]FILE …]`: verify a receipt
 * offline (ES256, explicit receipt typ, the verifier's published keys) and print its claims; with
 * `--object`, also check that each file is, byte for byte, an object the output release receipt
 * lists (its SHA-256 against the receipt's `objects`). Auditors and researchers run it; it never
 * talks to anything but the JWKS location they name.
 */
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import { createLocalJWKSet, jwtVerify } from "jose";
import type { JSONWebKeySet, JWK } from "jose";
import { CliIo, parseArgs } from "./io";
import { ExternalError, InvalidInputError, UsageError } from "../errors";
import { EXIT } from "./exit";

/** The receipt's JOSE typ; equal to RECEIPT_TYP in attestation-verifier/src/receipt.ts (a test pins it). */
export const RECEIPT_TYP = "manatee-receipt+jwt";

const USAGE = `usage: manatee verify-receipt RECEIPT --jwks URL_OR_FILE [--issuer ISS] [--policy-sha256 HEX]
                              [--object [NAME=]FILE ...]

Verify a receipt offline and print its claims as JSON.
  RECEIPT          the receipt (compact JWS), a file holding it, or - to read stdin
  --jwks           the verifier's key set: its /v1/jwks URL (https; http only on
                   localhost) or a file holding that JSON
  --issuer         also require this iss (the verifier's audience)
  --policy-sha256  also require the receipt to be issued under this policy (the
                   hash \`manatee policy\` and the verifier print)
  --object         a downloaded result to check against an output release receipt
                   (repeatable): its SHA-256 must equal that of the object the receipt
                   lists under the file's name (the object name's last segment), or
                   under NAME with NAME=FILE (e.g. results/summary.csv=summary.csv).
                   Prints one line per matching object instead of the claims.
Exit codes: 0 valid (and every object matches), 1 invalid receipt, a file that
does not match or an object the receipt does not list (reasons on stderr),
2 usage error.
`;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const HEX64 = /^[0-9a-f]{64}$/;
/** Claims every receipt carries; a receipt without them binds nothing. */
const REQUIRED = ["iss", "jti", "iat", "clean_room", "image_digest", "token_sha256", "policy_sha256"];

/** An object an output release receipt lists: its name under `<job>/` and the SHA-256 the verifier checked. */
export interface ReceiptObject {
  readonly name: string;
  readonly sha256: string;
}

/** A `--object` argument: the file, and the object name it claims to be when given as NAME=FILE. */
interface ObjectArg {
  readonly file: string;
  readonly name?: string;
  readonly arg: string;
}

class Usage extends UsageError {}
/** A receipt that does not verify: bad signature, wrong key, missing or malformed claims, another policy. */
export class InvalidReceiptError extends InvalidInputError {}

export async function run(args: string[], io: CliIo & { readonly stdin?: AsyncIterable<string | Buffer> }): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(USAGE);
    return 0;
  }
  const { objectArgs, rest, objectErrors } = takeObjects(args);
  const { options, positional, errors } = parseArgs(rest, ["jwks", "issuer", "policy-sha256", "object"]);
  errors.push(...objectErrors);
  if (positional.length === 0) errors.push("missing RECEIPT");
  if (positional.length > 1) errors.push(`unexpected argument "${positional[1]}"`);
  if (options.jwks === undefined) errors.push("missing --jwks URL_OR_FILE");
  const pin = options["policy-sha256"]?.toLowerCase();
  if (pin !== undefined && !HEX64.test(pin)) errors.push("--policy-sha256 expects 64 hex characters");
  if (errors.length > 0) {
    io.stderr.write(`${errors.map((e) => `manatee verify-receipt: ${e}`).join("\n")}\n\n${USAGE}`);
    return 2;
  }
  try {
    const receipt = await readReceipt(positional[0], io.stdin ?? process.stdin);
    const jwks = await readJwks(options.jwks);
    const claims = await verifyReceipt(receipt, { jwks, issuer: options.issuer, policySha256: pin });
    if (objectArgs.length === 0) {
      io.stdout.write(`${JSON.stringify(claims, null, 2)}\n`);
      return 0;
    }
    return await checkObjects(claims, objectArgs, io);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof Usage) {
      io.stderr.write(`manatee verify-receipt: ${message}\n\n${USAGE}`);
      return 2;
    }
    io.stderr.write(`manatee verify-receipt: ${err instanceof InvalidReceiptError ? "invalid receipt" : "cannot verify"}: ${message}\n`);
    // An invalid receipt is a finding; a receipt that cannot be checked (unreadable, JWKS unreachable) is an input error.
    return err instanceof InvalidReceiptError ? EXIT.findings : EXIT.usage;
  }
}

/**
 * Pull every `--object VALUE` / `--object=VALUE` out of the arguments (parseArgs keeps one value
 * per option). VALUE is `NAME=FILE` when it holds a `=` and is not itself an existing file.
 */
function takeObjects(args: string[]): { objectArgs: ObjectArg[]; rest: string[]; objectErrors: string[] } {
  const objectArgs: ObjectArg[] = [];
  const rest: string[] = [];
  const objectErrors: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    let value: string | undefined;
    if (a === "--object") {
      value = args[++i];
      if (value === undefined) {
        objectErrors.push("option --object needs a value");
        continue;
      }
    } else if (a.startsWith("--object=")) {
      value = a.slice("--object=".length);
    } else {
      rest.push(a);
      continue;
    }
    const eq = value.indexOf("=");
    if (eq > 0 && !isFile(value)) {
      const name = value.slice(0, eq);
      const file = value.slice(eq + 1);
      if (file === "") objectErrors.push(`--object ${value}: missing FILE after "="`);
      else objectArgs.push({ name, file, arg: value });
    } else if (value === "") {
      objectErrors.push("--object needs a FILE or NAME=FILE");
    } else {
      objectArgs.push({ file: value, arg: value });
    }
  }
  return { objectArgs, rest, objectErrors };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The `objects` of an output release receipt (validated), or why there are none. */
function receiptObjects(claims: Record<string, unknown>): readonly ReceiptObject[] {
  if (claims.release !== true) {
    throw new InvalidReceiptError(
      `it is a key-release receipt (dataset ${JSON.stringify(claims.dataset)}), which lists no objects; --object needs an output release receipt (<job>/receipt.jws in the release bucket)`,
    );
  }
  return claims.objects as ReceiptObject[];
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new Usage(`--object ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  return hash.digest("hex");
}

const lastSegment = (name: string) => name.slice(name.lastIndexOf("/") + 1);

/**
 * Check each file against the receipt's objects. Every file is checked (and every problem
 * reported) before the exit code is decided: 0 when all match, 1 otherwise.
 */
async function checkObjects(claims: Record<string, unknown>, args: readonly ObjectArg[], io: CliIo): Promise<number> {
  const objects = receiptObjects(claims);
  const job = String(claims.job);
  const listed = objects.map((o) => o.name).join(", ");
  const problems: string[] = [];
  const matched: string[] = [];
  const seen = new Map<string, string>();
  for (const a of args) {
    let object: ReceiptObject | undefined;
    if (a.name !== undefined) {
      object = objects.find((o) => o.name === a.name);
      if (!object) {
        problems.push(`--object ${a.arg}: the receipt of job ${job} lists no object "${a.name}" (it lists: ${listed})`);
        await sha256File(a.file); // an unreadable file is a usage error either way
        continue;
      }
    } else {
      const base = basename(a.file);
      const candidates = objects.filter((o) => lastSegment(o.name) === base);
      if (candidates.length === 0) {
        problems.push(`--object ${a.arg}: the receipt of job ${job} lists no object named "${base}" (it lists: ${listed}); name it with --object NAME=${a.file}`);
        await sha256File(a.file);
        continue;
      }
      if (candidates.length > 1) {
        problems.push(`--object ${a.arg}: "${base}" is the name of ${candidates.length} objects (${candidates.map((o) => o.name).join(", ")}); say which with --object NAME=${a.file}`);
        await sha256File(a.file);
        continue;
      }
      object = candidates[0];
    }
    const actual = await sha256File(a.file);
    const earlier = seen.get(object.name);
    if (earlier !== undefined) {
      problems.push(`--object ${a.arg}: object ${object.name} is already checked against ${earlier}`);
      continue;
    }
    seen.set(object.name, a.file);
    if (actual !== object.sha256) {
      problems.push(`${a.file} does not match ${object.name}: the file's SHA-256 is ${actual}, the receipt of job ${job} says ${object.sha256}`);
      continue;
    }
    matched.push(`match ${object.name} sha256:${actual} ${a.file}`);
  }
  for (const line of matched) io.stdout.write(`${line}\n`);
  const datasets = Array.isArray(claims.datasets) ? claims.datasets.join(", ") : "";
  if (problems.length > 0) {
    for (const p of problems) io.stderr.write(`manatee verify-receipt: object mismatch: ${p}\n`);
    io.stderr.write(`manatee verify-receipt: ${matched.length} of ${args.length} file(s) match the receipt of job ${job}\n`);
    return 1;
  }
  io.stdout.write(
    `manatee verify-receipt: valid receipt; ${matched.length} file(s) are objects released for job ${job} (image ${String(claims.image_digest)}, datasets ${datasets}, policy ${String(claims.policy_sha256)})\n`,
  );
  return 0;
}

async function readReceipt(arg: string, stdin: AsyncIterable<string | Buffer>): Promise<string> {
  if (arg === "-") {
    let text = "";
    for await (const chunk of stdin) {
      text += chunk.toString();
      if (text.length > 1024 * 1024) throw new Usage("stdin holds more than 1 MiB; a receipt is a few KiB");
    }
    return text.trim();
  }
  if (COMPACT_JWS.test(arg)) return arg;
  try {
    return readFileSync(arg, "utf8").trim();
  } catch {
    throw new Usage(`RECEIPT "${arg.slice(0, 80)}" is neither a compact JWS nor a readable file`);
  }
}

async function readJwks(location: string): Promise<JSONWebKeySet> {
  let text: string;
  if (/^https?:\/\//i.test(location)) {
    const url = new URL(location);
    const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
    if (url.protocol !== "https:" && !loopback) throw new Usage(`--jwks ${location}: use https (plain http only on localhost)`);
    let res: Response;
    try {
      res = await fetch(url, { redirect: "error", signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      throw new ExternalError(`--jwks ${location} is unreachable (${err instanceof Error ? err.message : String(err)})`);
    }
    if (res.status !== 200) throw new ExternalError(`--jwks ${location} answered ${res.status}`);
    text = await res.text();
  } else {
    try {
      text = readFileSync(location, "utf8");
    } catch (err) {
      throw new Usage(`--jwks ${location}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  }
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch {
    throw new ExternalError(`--jwks ${location} is not JSON`);
  }
  if (!jwks || typeof jwks !== "object" || !Array.isArray((jwks as { keys?: unknown }).keys)) {
    throw new ExternalError(`--jwks ${location} is not a JWKS ({"keys": [...]})`);
  }
  return jwks as JSONWebKeySet;
}

export interface VerifyReceiptOptions {
  /** The verifier's published key set (its public JWKS object). */
  readonly jwks: { readonly keys: readonly JWK[] };
  /** The verifier's URL the receipt must name as `iss`. @default - any issuer */
  readonly issuer?: string;
  /** The verifier policy's sha256 (`manatee policy` prints it) the receipt must have been issued under. @default - any policy */
  readonly policySha256?: string;
}

/**
 * Verify a receipt offline, as `manatee verify-receipt` does: ES256 signature by a key of the set,
 * the receipt type, the required claims (and for a release, its job, datasets and objects), and
 * optionally the issuer and the policy hash. Returns the claims; throws InvalidReceiptError naming
 * what is wrong.
 */
export async function verifyReceipt(receipt: string, options: VerifyReceiptOptions): Promise<Record<string, unknown>> {
  const claims = await verify(receipt, { keys: [...options.jwks.keys] }, options.issuer);
  if (options.policySha256 !== undefined && claims.policy_sha256 !== options.policySha256) {
    throw new InvalidReceiptError(`issued under policy ${String(claims.policy_sha256)}, not ${options.policySha256}`);
  }
  return claims;
}

async function verify(receipt: string, jwks: JSONWebKeySet, issuer: string | undefined): Promise<Record<string, unknown>> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(receipt, createLocalJWKSet(jwks), {
      algorithms: ["ES256"],
      typ: RECEIPT_TYP,
      ...(issuer !== undefined ? { issuer } : {}),
      requiredClaims: REQUIRED,
    }));
  } catch (err) {
    throw new InvalidReceiptError(explain(err));
  }
  for (const claim of ["token_sha256", "policy_sha256"]) {
    if (typeof payload[claim] !== "string" || !HEX64.test(payload[claim] as string)) throw new InvalidReceiptError(`${claim} is not a hex SHA-256`);
  }
  if (payload.release === true) {
    // An output release receipt (attestation-verifier/src/receipt.ts ReleaseReceiptClaims).
    for (const claim of ["job", "datasets", "objects", "nonce"]) {
      if (payload[claim] === undefined) throw new InvalidReceiptError(`missing required "${claim}" claim`);
    }
    if (typeof payload.job !== "string" || payload.job === "") throw new InvalidReceiptError("job is not a job id");
    if (!Array.isArray(payload.datasets) || payload.datasets.length === 0 || payload.datasets.some((d) => typeof d !== "string")) {
      throw new InvalidReceiptError("datasets is not a list of dataset names");
    }
    const objects = payload.objects;
    if (
      !Array.isArray(objects) ||
      objects.length === 0 ||
      objects.some((o) => o === null || typeof o !== "object" || typeof o.name !== "string" || typeof o.sha256 !== "string" || !HEX64.test(o.sha256))
    ) {
      throw new InvalidReceiptError("objects is not a list of {name, sha256} with hex SHA-256s");
    }
  } else if (payload.dataset === undefined) {
    throw new InvalidReceiptError('missing required "dataset" claim');
  }
  return payload;
}

function explain(err: unknown): string {
  const e = err as { code?: string; message?: string };
  switch (e.code) {
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "the signature does not verify with the key set";
    case "ERR_JWKS_NO_MATCHING_KEY":
      return "no key in the key set has the receipt's kid";
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "it is not signed with ES256";
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
      return `it is not a compact JWS receipt (${e.message})`;
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return e.message ?? "a claim is invalid";
    default:
      return e.message ?? String(err);
  }
}
