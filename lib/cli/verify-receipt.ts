/**
 * `manatee verify-receipt RECEIPT --jwks URL_OR_FILE`: verify a release receipt offline
 * (ES256, explicit receipt typ, the verifier's published keys) and print its claims.
 * Auditors run it; it never talks to anything but the JWKS location they name.
 */
import { readFileSync } from "node:fs";
import { createLocalJWKSet, jwtVerify } from "jose";
import type { JSONWebKeySet } from "jose";
import { CliIo, parseArgs } from "./io";

/** The receipt's JOSE typ; equal to RECEIPT_TYP in attestation-verifier/src/receipt.ts (a test pins it). */
export const RECEIPT_TYP = "manatee-receipt+jwt";

const USAGE = `usage: manatee verify-receipt RECEIPT --jwks URL_OR_FILE [--issuer ISS] [--policy-sha256 HEX]

Verify a release receipt offline and print its claims as JSON.
  RECEIPT          the receipt (compact JWS), a file holding it, or - to read stdin
  --jwks           the verifier's key set: its /v1/jwks URL (https; http only on
                   localhost) or a file holding that JSON
  --issuer         also require this iss (the verifier's audience)
  --policy-sha256  also require the receipt to be issued under this policy (the
                   hash \`manatee policy\` and the verifier print)
Exit codes: 0 valid, 1 invalid (reason on stderr), 2 usage error.
`;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const HEX64 = /^[0-9a-f]{64}$/;
/** Claims every receipt carries; a receipt without them binds nothing. */
const REQUIRED = ["iss", "jti", "iat", "clean_room", "dataset", "image_digest", "token_sha256", "policy_sha256"];

class Usage extends Error {}
class Invalid extends Error {}

export async function run(args: string[], io: CliIo & { readonly stdin?: AsyncIterable<string | Buffer> }): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(USAGE);
    return 0;
  }
  const { options, positional, errors } = parseArgs(args, ["jwks", "issuer", "policy-sha256"]);
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
    const claims = await verify(receipt, jwks, options.issuer);
    if (pin !== undefined && claims.policy_sha256 !== pin) {
      throw new Invalid(`issued under policy ${String(claims.policy_sha256)}, not ${pin}`);
    }
    io.stdout.write(`${JSON.stringify(claims, null, 2)}\n`);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof Usage) {
      io.stderr.write(`manatee verify-receipt: ${message}\n\n${USAGE}`);
      return 2;
    }
    io.stderr.write(`manatee verify-receipt: ${err instanceof Invalid ? "invalid receipt" : "cannot verify"}: ${message}\n`);
    return 1;
  }
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
      throw new Error(`--jwks ${location} is unreachable (${err instanceof Error ? err.message : String(err)})`);
    }
    if (res.status !== 200) throw new Error(`--jwks ${location} answered ${res.status}`);
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
    throw new Error(`--jwks ${location} is not JSON`);
  }
  if (!jwks || typeof jwks !== "object" || !Array.isArray((jwks as { keys?: unknown }).keys)) {
    throw new Error(`--jwks ${location} is not a JWKS ({"keys": [...]})`);
  }
  return jwks as JSONWebKeySet;
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
    throw new Invalid(explain(err));
  }
  for (const claim of ["token_sha256", "policy_sha256"]) {
    if (typeof payload[claim] !== "string" || !HEX64.test(payload[claim] as string)) throw new Invalid(`${claim} is not a hex SHA-256`);
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
