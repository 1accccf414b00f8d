/**
 * Authenticating a Confidential Space attestation token: header rules first (so alg
 * confusion never reaches key lookup), then the key from jose's rotation-aware remote
 * JWKS and an RS256 signature check, then every time and audience rule, collected.
 */
import { KeyObject, constants, verify as verifySignature, webcrypto } from "node:crypto";
import { createRemoteJWKSet } from "jose";
import type { CompactVerifyGetKey } from "jose";
import { CONFIDENTIAL_SPACE_ISSUER, errorMessage } from "./policy";
import { Reason, reason } from "./reasons";

/** Google's Confidential Space token signing keys. */
export const GOOGLE_CONFIDENTIAL_SPACE_JWKS_URL =
  "https://www.googleapis.com/service_accounts/v1/metadata/jwk/signer@confidentialspace-sign.iam.gserviceaccount.com";

/** How the verifier fetches and caches the token signing keys. */
export interface JwksOptions {
  /**
   * Where the token signing keys are published.
   * @default GOOGLE_CONFIDENTIAL_SPACE_JWKS_URL
   */
  readonly url?: string;
  /**
   * How long a fetched key set is used before it is fetched again. Short enough to drop a
   * revoked key within minutes, long enough that Google is not asked on every request.
   * @default 600_000 (10 minutes)
   */
  readonly cacheMaxAgeMs?: number;
  /**
   * Minimum time between two refetches triggered by an unknown `kid`. New keys are picked up
   * after at most this long, and a flood of tokens with made-up kids costs one fetch per period.
   * @default 30_000
   */
  readonly cooldownMs?: number;
  /**
   * Timeout of one key set fetch. When it passes, the request is denied (jwks_unavailable).
   * @default 3_000
   */
  readonly timeoutMs?: number;
}

export type KeyResolver = CompactVerifyGetKey & { reload(): Promise<void> };

class JwksUnavailable extends Error {}

/** jose's remote key set, with fetch failures told apart from unknown keys. */
export function remoteKeyResolver(options: JwksOptions = {}): KeyResolver {
  const url = options.url ?? GOOGLE_CONFIDENTIAL_SPACE_JWKS_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`jwks.url: ${JSON.stringify(url)} is not a URL. Use ${GOOGLE_CONFIDENTIAL_SPACE_JWKS_URL} or a local JWKS server.`);
  }
  if (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && isLoopback(parsed.hostname))) {
    throw new Error(`jwks.url: ${url} must use https (plain http is accepted for 127.0.0.1/localhost only, for tests).`);
  }
  const durations = {
    cacheMaxAgeMs: options.cacheMaxAgeMs ?? 600_000,
    cooldownMs: options.cooldownMs ?? 30_000,
    timeoutMs: options.timeoutMs ?? 3_000,
  };
  for (const [name, value] of Object.entries(durations)) {
    if (!Number.isInteger(value) || value < 0)
      throw new Error(`jwks.${name}: expected a non-negative integer of milliseconds, got ${value}.`);
  }
  const remote = createRemoteJWKSet(parsed, {
    cacheMaxAge: durations.cacheMaxAgeMs,
    cooldownDuration: durations.cooldownMs,
    timeoutDuration: durations.timeoutMs,
  });
  const resolve = (async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "ERR_JWKS_NO_MATCHING_KEY" || code === "ERR_JWKS_MULTIPLE_MATCHING_KEYS") throw err;
      throw new JwksUnavailable(errorMessage(err));
    }
  }) as KeyResolver;
  resolve.reload = () => remote.reload();
  return resolve;
}

function isLoopback(host: string): boolean {
  return host === "127.0.0.1" || host === "localhost" || host === "[::1]";
}

export interface TokenRules {
  readonly audience: string;
  /** Seconds of clock skew accepted on exp, nbf and iat. */
  readonly clockToleranceSec: number;
  /** Maximum now - iat, in seconds. */
  readonly maxTokenAgeSec: number;
}

export type Authenticated = { ok: true; claims: Record<string, unknown> } | { ok: false; reasons: Reason[] };

/** Header rules and signature. Any failure here ends the decision: the claims are untrusted. */
export async function authenticate(token: string, keys: KeyResolver): Promise<Authenticated> {
  const deny = (r: Reason): Authenticated => ({ ok: false, reasons: [r] });
  const parts = token.split(".");
  if (parts.length !== 3) {
    return deny(reason("token_malformed", parts.length === 5 ? "It looks like an encrypted JWE." : `It has ${parts.length} parts, not 3.`));
  }
  const [encodedHeader, encodedPayload, encodedSignature] = parts;
  const header = decodeJsonPart(encodedHeader);
  if (!header) return deny(reason("token_malformed", "The header is not base64url-encoded JSON object."));
  if (typeof header.alg !== "string") return deny(reason("token_malformed", "The header has no alg."));
  if (header.alg.toLowerCase() === "none") return deny(reason("token_alg_none"));
  if (header.alg !== "RS256") return deny(reason("token_alg_not_allowed", `Got ${JSON.stringify(header.alg.slice(0, 16))}.`));
  if (header.typ !== undefined && !isJwtTyp(header.typ)) return deny(reason("token_typ_invalid"));
  if (typeof header.kid !== "string" || header.kid === "") return deny(reason("token_kid_missing"));
  // RFC 7515 §4.1.11: an extension this verifier does not implement must not be ignored, and
  // Confidential Space tokens declare none.
  if (header.crit !== undefined) return deny(reason("token_malformed", "The header declares critical extensions (crit)."));
  if (!parts.every(isBase64url)) return deny(reason("token_malformed", "A part is empty or not base64url."));
  // The header and payload are signed as strings; the signature is not. Its unused bits must be
  // zero, or two token strings (two token hashes in two receipts) would carry one signature.
  const signature = Buffer.from(encodedSignature, "base64url");
  if (signature.toString("base64url") !== encodedSignature)
    return deny(reason("token_malformed", "The signature is not canonical base64url."));

  let key: KeyObject;
  try {
    const jws = { protected: encodedHeader, payload: encodedPayload, signature: encodedSignature };
    key = rsaVerificationKey(await keys(header as { alg: string }, jws));
  } catch (err) {
    if (err instanceof JwksUnavailable) return deny(reason("jwks_unavailable", err.message));
    switch ((err as { code?: string }).code) {
      case "ERR_JWKS_NO_MATCHING_KEY":
        return deny(reason("token_key_unknown"));
      case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
        return deny(reason("token_key_unknown", "Several keys match its kid."));
      default:
        return deny(reason("token_signature_invalid", `It could not be checked: ${errorMessage(err)}`));
    }
  }
  const signingInput = Buffer.from(token.slice(0, encodedHeader.length + 1 + encodedPayload.length), "latin1");
  if (!(await rs256Verify(signingInput, signature, key))) return deny(reason("token_signature_invalid"));
  const claims = parseObject(Buffer.from(encodedPayload, "base64url"));
  if (!claims) return deny(reason("token_payload_invalid"));
  return { ok: true, claims };
}

/**
 * RSASSA-PKCS1-v1_5 with SHA-256, in libuv's thread pool: the event loop is what limits
 * decisions per second, and handing the ~25 µs check to a pool thread costs it less than
 * doing it (measured on 2 cores, scripts/bench-verifier.js). Any error is a failed check.
 */
function rs256Verify(signingInput: Buffer, signature: Buffer, key: KeyObject): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      verifySignature("sha256", signingInput, { key, padding: constants.RSA_PKCS1_PADDING }, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}

/** Node keys for jose's imported CryptoKeys: converted once per key, dropped with the key set. */
const nodeKeys = new WeakMap<object, KeyObject>();

/** The key jose selected, as a node KeyObject fit for RS256 (RSA, at least 2048 bits), or throws. */
function rsaVerificationKey(key: unknown): KeyObject {
  if (key === null || typeof key !== "object") throw new Error("the key set returned no key");
  let keyObject = nodeKeys.get(key);
  if (!keyObject) {
    if (key instanceof KeyObject) keyObject = key;
    else if (isRs256CryptoKey(key)) keyObject = KeyObject.from(key);
    else throw new Error("the key set returned a key that is not an RS256 public key");
    const bits = keyObject.asymmetricKeyDetails?.modulusLength ?? 0;
    if (keyObject.type !== "public" || keyObject.asymmetricKeyType !== "rsa" || bits < 2048) {
      throw new Error("RS256 needs an RSA public key of at least 2048 bits");
    }
    nodeKeys.set(key, keyObject);
  }
  return keyObject;
}

/** jose imported it for RS256 (tag, not instanceof: CryptoKey classes differ between realms). */
function isRs256CryptoKey(key: object): key is webcrypto.CryptoKey {
  if ((key as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] !== "CryptoKey") return false;
  const { algorithm, usages } = key as webcrypto.CryptoKey;
  const { name, hash } = algorithm as webcrypto.RsaHashedKeyAlgorithm;
  return name === "RSASSA-PKCS1-v1_5" && hash?.name === "SHA-256" && usages.includes("verify");
}

/** Issuer, audience and time rules on authenticated claims: every failure is reported. */
export function checkTokenClaims(claims: Record<string, unknown>, rules: TokenRules, nowMs: number): Reason[] {
  const reasons: Reason[] = [];
  if (claims.iss !== CONFIDENTIAL_SPACE_ISSUER) reasons.push(reason("token_issuer_invalid", `Got ${short(claims.iss)}.`));
  const aud = claims.aud;
  const audOk =
    aud === rules.audience ||
    (Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === "string") && aud.includes(rules.audience));
  if (!audOk) reasons.push(reason("token_audience_invalid", `Expected ${JSON.stringify(rules.audience)}, got ${short(aud)}.`));

  const missing = ["exp", "nbf", "iat"].filter((c) => typeof claims[c] !== "number" || !Number.isFinite(claims[c]));
  if (missing.length > 0) {
    reasons.push(reason("token_time_claims_invalid", `Missing or not a number: ${missing.join(", ")}.`));
  }
  const now = nowMs / 1000;
  const tol = rules.clockToleranceSec;
  const { exp, nbf, iat } = claims as { exp: number; nbf: number; iat: number };
  if (!missing.includes("exp") && now >= exp + tol) reasons.push(reason("token_expired", `exp ${exp}, now ${Math.floor(now)}.`));
  if (!missing.includes("nbf") && now + tol < nbf) reasons.push(reason("token_not_yet_valid", `nbf ${nbf}, now ${Math.floor(now)}.`));
  if (!missing.includes("iat")) {
    if (now + tol < iat) reasons.push(reason("token_issued_in_future", `iat ${iat}, now ${Math.floor(now)}.`));
    else if (now - iat > rules.maxTokenAgeSec + tol) {
      reasons.push(reason("token_too_old", `Issued ${Math.floor(now - iat)} s ago; the limit is ${rules.maxTokenAgeSec} s.`));
    }
  }
  return reasons;
}

function isJwtTyp(typ: unknown): boolean {
  if (typeof typ !== "string") return false;
  const t = typ.toLowerCase();
  return t === "jwt" || t === "application/jwt";
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Non-empty, the base64url alphabet, and a length that decodes (4n + 1 characters never do). */
function isBase64url(part: string): boolean {
  return part.length > 0 && part.length % 4 !== 1 && BASE64URL.test(part);
}

function decodeJsonPart(part: string): Record<string, unknown> | undefined {
  if (!BASE64URL.test(part)) return undefined;
  return parseObject(Buffer.from(part, "base64url"));
}

/** A JSON object from UTF-8 bytes; undefined for anything else (invalid UTF-8 included). */
function parseObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(UTF8.decode(bytes));
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A claim value for a message: short, and never more than a claim (never the token). */
function short(v: unknown): string {
  const s = JSON.stringify(v) ?? "nothing";
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}
