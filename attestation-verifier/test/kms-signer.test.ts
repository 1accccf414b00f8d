/**
 * The Cloud KMS receipt signer against a local fake of KMS and the metadata server. The
 * fake signs the digest it is sent with a real P-256 key (raw ECDSA, since KMS signs a
 * digest, not a message) and answers DER, as KMS does: the receipt must still verify.
 */
import { createPublicKey, generateKeyPairSync, KeyObject, randomBytes, sign as nodeSign, verify as nodeVerify } from "node:crypto";
import { createLocalJWKSet, jwtVerify } from "jose";
import { AuditRecord } from "../src/audit";
import { metadataTokenSource } from "../src/gcp";
import { RECEIPT_TYP } from "../src/receipt";
import { crc32c, derToJose, ecThumbprint, kmsSigner } from "../src/signers";
import { createVerifier } from "../src/verifier";
import { NOW_MS, RsaKey, examplePolicyDocument, jwksServer, rsaKey, serve, signToken, tokenClaims, TestServer } from "./helpers";

const KEY_VERSION =
  "projects/acme-clean-room/locations/us-central1/keyRings/insurance-study-verifier/cryptoKeys/receipts/cryptoKeyVersions/1";

// --- raw ECDSA over P-256 (FIPS 186-4), only what the fake KMS needs ---
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const G: [bigint, bigint] = [
  0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
];
const mod = (a: bigint, m: bigint) => ((a % m) + m) % m;
function inv(a: bigint, m: bigint): bigint {
  let [r0, r1, t0, t1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1, t0, t1] = [r1, r0 - q * r1, t1, t0 - q * t1];
  }
  return mod(t0, m);
}
type Pt = [bigint, bigint] | null;
function add(a: Pt, b: Pt): Pt {
  if (!a) return b;
  if (!b) return a;
  if (a[0] === b[0] && mod(a[1] + b[1], P) === 0n) return null;
  const l = a[0] === b[0] ? mod((3n * a[0] * a[0] - 3n) * inv(2n * a[1], P), P) : mod((b[1] - a[1]) * inv(b[0] - a[0], P), P);
  const x = mod(l * l - a[0] - b[0], P);
  return [x, mod(l * (a[0] - x) - a[1], P)];
}
function mul(k: bigint, p: Pt): Pt {
  let r: Pt = null;
  for (let q = p; k > 0n; k >>= 1n, q = add(q, q)) if (k & 1n) r = add(r, q);
  return r;
}
const big = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString("hex") || "0"}`);
function derInt(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, "hex");
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}
function signDigestDer(digest: Buffer, key: KeyObject): Buffer {
  const d = big(Buffer.from((key.export({ format: "jwk" }) as { d: string }).d, "base64url"));
  const e = big(digest);
  for (;;) {
    const k = mod(big(randomBytes(32)), N);
    if (k === 0n) continue;
    const r = mod(mul(k, G)![0], N);
    const s = mod(inv(k, N) * (e + r * d), N);
    if (r === 0n || s === 0n) continue;
    const body = Buffer.concat([derInt(r), derInt(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
  }
}

// --- fakes of the metadata server and Cloud KMS ---
interface FakeKms extends TestServer {
  readonly signs: () => number;
  corruptNext(): void;
}

async function fakeMetadata(): Promise<TestServer> {
  return serve((req, res) => {
    if (req.url !== "/computeMetadata/v1/instance/service-accounts/default/token" || req.headers["metadata-flavor"] !== "Google") {
      res.statusCode = 403;
      return res.end("missing Metadata-Flavor");
    }
    res.setHeader("metadata-flavor", "Google");
    res.setHeader("content-type", "application/json");
    return res.end(JSON.stringify({ access_token: "ya29.fake-access-token", expires_in: 3599, token_type: "Bearer" }));
  });
}

async function fakeKms(key: KeyObject, algorithm = "EC_SIGN_P256_SHA256"): Promise<FakeKms> {
  let signs = 0;
  let corrupt = false;
  const pem = createPublicKey(key).export({ format: "pem", type: "spki" }).toString();
  const s = await serve((req, res, body) => {
    res.setHeader("content-type", "application/json");
    if (req.headers.authorization !== "Bearer ya29.fake-access-token") {
      res.statusCode = 401;
      return res.end('{"error":{"code":401}}');
    }
    if (req.method === "GET" && req.url === `/v1/${KEY_VERSION}/publicKey`) {
      return res.end(JSON.stringify({ pem, algorithm, pemCrc32c: String(crc32c(Buffer.from(pem))), name: KEY_VERSION }));
    }
    if (req.method === "POST" && req.url === `/v1/${KEY_VERSION}:asymmetricSign`) {
      signs++;
      const { digest, digestCrc32c } = JSON.parse(body.toString()) as { digest: { sha256: string }; digestCrc32c: string };
      const bytes = Buffer.from(digest.sha256, "base64");
      const der = signDigestDer(bytes, key);
      const crc = (crc32c(der) ^ (corrupt ? 1 : 0)) >>> 0;
      corrupt = false;
      return res.end(
        JSON.stringify({
          signature: der.toString("base64"),
          signatureCrc32c: String(crc),
          verifiedDigestCrc32c: digestCrc32c === String(crc32c(bytes)),
          name: KEY_VERSION,
          protectionLevel: "HSM",
        })
      );
    }
    res.statusCode = 404;
    return res.end('{"error":{"code":404}}');
  });
  return { ...s, signs: () => signs, corruptNext: () => (corrupt = true) };
}

let metadata: TestServer;
let kms: FakeKms;
let receiptKey: KeyObject;
let cs: RsaKey;
let jwks: TestServer;
const doc = examplePolicyDocument().document;

beforeAll(async () => {
  receiptKey = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
  cs = await rsaKey("cs-key-1");
  [metadata, kms, jwks] = await Promise.all([fakeMetadata(), fakeKms(receiptKey), jwksServer([cs.jwk])]);
});

afterAll(async () => {
  await Promise.all([metadata.close(), kms.close(), jwks.close()]);
});

describe("given the fake KMS signs with a real P-256 key and answers DER", () => {
  it("when the verifier allows a release, then the receipt (DER converted to r||s) verifies with the served JWKS", async () => {
    const signer = await kmsSigner({
      keyVersionName: KEY_VERSION,
      kmsBaseUrl: kms.url,
      tokenSource: metadataTokenSource({ metadataBaseUrl: metadata.url }),
    });
    const jwk = receiptKey.export({ format: "jwk" }) as { kty: string; crv: string; x: string; y: string };
    expect(signer.kid).toBe(ecThumbprint(jwk));
    const logs: AuditRecord[] = [];
    const v = createVerifier({ policy: doc, signer, jwks: { url: jwks.url }, clock: () => NOW_MS, log: (r) => logs.push(r) });
    for (let i = 0; i < 3; i++) {
      const res = await v.handler({
        method: "POST",
        path: "/v1/verify",
        headers: { "content-type": "application/json" },
        // A token of its own each time (a repeated token is refused as a replay).
        body: JSON.stringify({ token: await signToken(tokenClaims(doc, NOW_MS, { eat_nonce: `output-${i}` }), cs), dataset: "insurance", nonce: `output-${i}` }),
      });
      const { decision, receipt } = JSON.parse(res.body);
      expect(decision).toBe("allow");
      const served = JSON.parse((await v.handler({ method: "GET", path: "/v1/jwks", headers: {} })).body);
      const { payload, protectedHeader } = await jwtVerify(receipt, createLocalJWKSet(served), { algorithms: ["ES256"], typ: RECEIPT_TYP });
      expect(protectedHeader.kid).toBe(signer.kid);
      expect(payload.dataset).toBe("insurance");
    }
    expect(kms.signs()).toBe(3);
    // One access token from the metadata server serves every KMS call while it is fresh.
    expect(metadata.hits()).toBe(1);
  });

  it("when a signature arrives corrupted (CRC32C mismatch), then no receipt is issued: 503, logged as an ERROR", async () => {
    const signer = await kmsSigner({
      keyVersionName: KEY_VERSION,
      kmsBaseUrl: kms.url,
      tokenSource: metadataTokenSource({ metadataBaseUrl: metadata.url }),
    });
    const logs: AuditRecord[] = [];
    const v = createVerifier({ policy: doc, signer, jwks: { url: jwks.url }, clock: () => NOW_MS, log: (r) => logs.push(r) });
    kms.corruptNext();
    const request = {
      method: "POST",
      path: "/v1/verify",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: await signToken(tokenClaims(doc), cs), dataset: "insurance", nonce: "thisIsAcustomNonce" }),
    };
    const res = await v.handler(request);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toEqual({
      error: { code: "signer_unavailable", message: "The receipt could not be signed; retry later." },
    });
    expect(logs.at(-1)).toMatchObject({
      severity: "ERROR",
      decision: "error",
      reasons: ["signer_unavailable"],
      message:
        "release allowed by policy but the receipt could not be signed: Cloud KMS asymmetricSign: signatureCrc32c does not match (corrupted in transit).",
    });
    // Signed before it is marked once-only: the outage did not spend the token, so the retry is allowed.
    expect(JSON.parse((await v.handler(request)).body).decision).toBe("allow");
  });

  it("when the key version is not EC_SIGN_P256_SHA256, then the signer refuses to start", async () => {
    const rsaKms = await fakeKms(receiptKey, "RSA_SIGN_PKCS1_2048_SHA256");
    try {
      await expect(
        kmsSigner({
          keyVersionName: KEY_VERSION,
          kmsBaseUrl: rsaKms.url,
          tokenSource: metadataTokenSource({ metadataBaseUrl: metadata.url }),
        })
      ).rejects.toThrow(`Cloud KMS: ${KEY_VERSION} has algorithm RSA_SIGN_PKCS1_2048_SHA256; receipts need EC_SIGN_P256_SHA256.`);
    } finally {
      await rsaKms.close();
    }
  });

  it("when the key version name is not one, then it says what the name looks like", async () => {
    await expect(kmsSigner({ keyVersionName: "projects/p/cryptoKeys/k", tokenSource: { token: async () => "t" } })).rejects.toThrow(
      'VERIFIER_KMS_KEY_VERSION: "projects/p/cryptoKeys/k" is not a key version name (projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V).'
    );
  });

  it("when the metadata server does not answer as the metadata server, then no token is used", async () => {
    const impostor = await serve((_req, res) => res.end(JSON.stringify({ access_token: "stolen", expires_in: 3600 })));
    try {
      await expect(metadataTokenSource({ metadataBaseUrl: impostor.url }).token()).rejects.toThrow(
        "metadata server: response lacks Metadata-Flavor: Google"
      );
    } finally {
      await impostor.close();
    }
  });
});

describe("given DER signatures", () => {
  it("when 1000 real ECDSA signatures (some with short or padded integers) are converted, then every one verifies as r||s", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    let short = 0;
    // A DER signature shorter than 70 bytes (an integer with leading zero bytes) comes about
    // once in 250: keep signing past 1000 until one has been converted, so the case is always covered.
    for (let i = 0; i < 1000 || (short === 0 && i < 50_000); i++) {
      const data = randomBytes(32);
      const der = nodeSign("sha256", data, privateKey);
      if (der.length < 70) short++;
      const raw = derToJose(der);
      expect(raw).toHaveLength(64);
      expect(nodeVerify("sha256", data, { key: publicKey, dsaEncoding: "ieee-p1363" }, raw)).toBe(true);
    }
    expect(short).toBeGreaterThan(0);
  });

  it.each([
    ["trailing bytes", "3006020101020101" + "00", "ECDSA signature is not DER: trailing or missing bytes"],
    ["a negative integer", "3006020181020101", "ECDSA signature is not DER: negative INTEGER"],
    ["a non-minimal integer", "300702020001020101", "ECDSA signature is not DER: non-minimal INTEGER"],
    ["not a SEQUENCE", "3106020101020101", "ECDSA signature is not DER: expected SEQUENCE"],
    [
      "an integer longer than the curve order",
      `3026022101${"ff".repeat(32)}020101`,
      "ECDSA signature is not DER: INTEGER larger than the curve order",
    ],
  ])("when it has %s, then it is refused", (_name, hex, message) => {
    expect(() => derToJose(Buffer.from(hex, "hex"))).toThrow(message);
  });

  it("then CRC32C matches the Castagnoli check value", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
  });
});
