/**
 * Receipt signers, both ES256: a Cloud KMS key (production) through the REST API, and a
 * local key (development). Both hand back JOSE's raw r||s signature and a public JWK
 * whose kid is its RFC 7638 thumbprint.
 */
import { KeyObject, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { AccessTokenSource, KMS_BASE_URL, fetchWithTimeout, readJson } from "./gcp";
import { errorMessage } from "./policy";

/** The public half of a receipt key, as served on /v1/jwks. */
export interface ReceiptPublicJwk {
  readonly kty: "EC";
  readonly crv: "P-256";
  readonly x: string;
  readonly y: string;
  readonly kid: string;
  readonly alg: "ES256";
  readonly use: "sig";
}

export interface ReceiptSigner {
  readonly alg: "ES256";
  readonly kid: string;
  readonly publicJwk: ReceiptPublicJwk;
  /** ES256 over the JWS signing input: 64 bytes, r||s. */
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
  /** Where the key lives, for the start-up line (never key material). */
  readonly description: string;
}

/** RFC 7638 thumbprint of an EC public key. */
export function ecThumbprint(jwk: { crv: string; kty: string; x: string; y: string }): string {
  const canonical = `{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}","y":"${jwk.y}"}`;
  return createHash("sha256").update(canonical).digest("base64url");
}

function publicJwkOf(key: KeyObject, what: string): ReceiptPublicJwk {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    const detail =
      key.asymmetricKeyType === "ec" ? `EC ${key.asymmetricKeyDetails?.namedCurve}` : String(key.asymmetricKeyType ?? key.type);
    throw new Error(`${what}: expected an EC P-256 key for ES256 receipts, got ${detail}.`);
  }
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const jwk = pub.export({ format: "jwk" }) as { kty: string; crv: string; x: string; y: string };
  return { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, kid: ecThumbprint(jwk), alg: "ES256", use: "sig" };
}

/** A signer holding an EC P-256 private key in memory. */
export function localSigner(privateKey: KeyObject, description = "local key"): ReceiptSigner {
  if (privateKey.type !== "private") throw new Error(`${description}: expected a private key, got a ${privateKey.type} key.`);
  const publicJwk = publicJwkOf(privateKey, description);
  return {
    alg: "ES256",
    kid: publicJwk.kid,
    publicJwk,
    description,
    // The callback form signs in libuv's thread pool: the event loop is what limits decisions
    // per second, and dispatching costs it less than signing (scripts/bench-verifier.js, 2 cores).
    sign: (input) =>
      new Promise<Uint8Array>((resolve, reject) =>
        sign("sha256", input, { key: privateKey, dsaEncoding: "ieee-p1363" }, (err, signature) => (err ? reject(err) : resolve(signature)))
      ),
  };
}

/** A fresh key for this process only: receipts stop verifying once it exits. */
export function generatedSigner(): ReceiptSigner {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return localSigner(privateKey, "generated key (ephemeral: set VERIFIER_SIGNING_KEY_FILE to keep receipts verifiable)");
}

/** Load a PKCS#8 (or SEC1) PEM, or a private JWK in JSON, from `path`. */
export function fileSigner(path: string): ReceiptSigner {
  const what = `VERIFIER_SIGNING_KEY_FILE (${path})`;
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim();
  } catch (err) {
    throw new Error(`${what}: cannot read it (${errorMessage(err)}).`);
  }
  let key: KeyObject;
  try {
    key = text.startsWith("{") ? createPrivateKey({ key: JSON.parse(text), format: "jwk" }) : createPrivateKey(text);
  } catch {
    // The parser's message may quote key material; say what is expected instead.
    throw new Error(`${what}: not a private key. Expected a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") or a private EC JWK (with "d").`);
  }
  return localSigner(key, what);
}

export interface KmsSignerOptions {
  /** projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V, algorithm EC_SIGN_P256_SHA256. */
  readonly keyVersionName: string;
  readonly tokenSource: AccessTokenSource;
  /** @default KMS_BASE_URL */
  readonly kmsBaseUrl?: string;
  /** @default 5_000 */
  readonly timeoutMs?: number;
}

const KEY_VERSION = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+\/cryptoKeyVersions\/[^/]+$/;

/**
 * A Cloud KMS asymmetric signing key version. The public key is fetched (and its CRC32C
 * checked) once at start; every signature is integrity-checked both ways and verified
 * locally before it leaves, so a wrong key or a corrupted answer never yields a receipt.
 */
export async function kmsSigner(options: KmsSignerOptions): Promise<ReceiptSigner> {
  const name = options.keyVersionName;
  if (!KEY_VERSION.test(name)) {
    throw new Error(
      `VERIFIER_KMS_KEY_VERSION: ${JSON.stringify(name)} is not a key version name ` +
        "(projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V)."
    );
  }
  const base = (options.kmsBaseUrl ?? KMS_BASE_URL).replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 5_000;
  const authHeaders = async () => ({ Authorization: `Bearer ${await options.tokenSource.token()}`, "Content-Type": "application/json" });

  const pub = (await readJson(
    await fetchWithTimeout(`${base}/v1/${name}/publicKey`, { headers: await authHeaders() }, timeoutMs, "Cloud KMS"),
    "Cloud KMS publicKey"
  )) as { pem?: unknown; algorithm?: unknown; pemCrc32c?: unknown; name?: unknown };
  if (pub.algorithm !== "EC_SIGN_P256_SHA256") {
    throw new Error(`Cloud KMS: ${name} has algorithm ${String(pub.algorithm)}; receipts need EC_SIGN_P256_SHA256.`);
  }
  if (typeof pub.pem !== "string") throw new Error("Cloud KMS publicKey: response has no pem.");
  if (pub.pemCrc32c !== undefined && String(pub.pemCrc32c) !== String(crc32c(Buffer.from(pub.pem)))) {
    throw new Error("Cloud KMS publicKey: pemCrc32c does not match the pem (corrupted in transit).");
  }
  const publicKey = createPublicKey(pub.pem);
  const publicJwk = publicJwkOf(publicKey, `Cloud KMS key ${name}`);

  return {
    alg: "ES256",
    kid: publicJwk.kid,
    publicJwk,
    description: `Cloud KMS ${name}`,
    async sign(input) {
      const digest = createHash("sha256").update(input).digest();
      const res = await fetchWithTimeout(
        `${base}/v1/${name}:asymmetricSign`,
        {
          method: "POST",
          headers: await authHeaders(),
          body: JSON.stringify({ digest: { sha256: digest.toString("base64") }, digestCrc32c: String(crc32c(digest)) }),
        },
        timeoutMs,
        "Cloud KMS"
      );
      const body = (await readJson(res, "Cloud KMS asymmetricSign")) as {
        signature?: unknown;
        signatureCrc32c?: unknown;
        verifiedDigestCrc32c?: unknown;
        name?: unknown;
      };
      if (typeof body.signature !== "string") throw new Error("Cloud KMS asymmetricSign: response has no signature.");
      if (body.verifiedDigestCrc32c !== true) throw new Error("Cloud KMS asymmetricSign: the digest was corrupted on the way to KMS.");
      if (body.name !== undefined && body.name !== name)
        throw new Error(`Cloud KMS asymmetricSign: signed with ${String(body.name)}, not ${name}.`);
      const der = Buffer.from(body.signature, "base64");
      if (body.signatureCrc32c !== undefined && String(body.signatureCrc32c) !== String(crc32c(der))) {
        throw new Error("Cloud KMS asymmetricSign: signatureCrc32c does not match (corrupted in transit).");
      }
      const raw = derToJose(der);
      if (!verify("sha256", input, { key: publicKey, dsaEncoding: "ieee-p1363" }, raw)) {
        throw new Error("Cloud KMS asymmetricSign: the signature does not verify with the key version's public key.");
      }
      return raw;
    },
  };
}

/**
 * ECDSA-Sig-Value (DER SEQUENCE of two INTEGERs, as KMS returns it) to JOSE's fixed-size
 * r||s (RFC 7518 §3.4). Strict: any deviation from DER throws.
 */
export function derToJose(der: Uint8Array, size = 32): Uint8Array {
  let pos = 0;
  const fail = (why: string): never => {
    throw new Error(`ECDSA signature is not DER: ${why}`);
  };
  const readLength = (): number => {
    if (pos >= der.length) fail("truncated length");
    const first = der[pos++];
    if (first < 0x80) return first;
    const bytes = first & 0x7f;
    if (bytes !== 1) fail("unsupported long-form length");
    if (pos >= der.length) fail("truncated length");
    const len = der[pos++];
    if (len < 0x80) fail("non-minimal length");
    return len;
  };
  const readInteger = (): Uint8Array => {
    if (der[pos++] !== 0x02) fail("expected INTEGER");
    const len = readLength();
    if (len === 0 || pos + len > der.length) fail("bad INTEGER length");
    let value = der.subarray(pos, pos + len);
    pos += len;
    if (value[0] & 0x80) fail("negative INTEGER");
    if (value.length > 1 && value[0] === 0 && !(value[1] & 0x80)) fail("non-minimal INTEGER");
    if (value[0] === 0) value = value.subarray(1);
    if (value.length > size) fail("INTEGER larger than the curve order");
    const out = new Uint8Array(size);
    out.set(value, size - value.length);
    return out;
  };
  if (der[pos++] !== 0x30) fail("expected SEQUENCE");
  const seqLen = readLength();
  if (pos + seqLen !== der.length) fail("trailing or missing bytes");
  const r = readInteger();
  const s = readInteger();
  if (pos !== der.length) fail("trailing bytes in SEQUENCE");
  const out = new Uint8Array(size * 2);
  out.set(r, 0);
  out.set(s, size);
  return out;
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli), the checksum Cloud KMS uses for end-to-end integrity. */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC32C_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
