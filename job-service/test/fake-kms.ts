/**
 * A fake Cloud KMS for tests (job-service/test/cosign.test.ts, test/cli/jobs-cloud.test.ts): one
 * P-256 key version that signs the raw SHA-256 DIGEST it receives, DER-encoded, as KMS does
 * (node:crypto's sign would hash it again, hence the raw ECDSA below).
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { keyIdOf } from "../src/cosign";
import { crc32c, type KmsClientLike } from "../src/signers";

/** ECDSA P-256 over a precomputed digest (BigInt arithmetic), DER-encoded: what Cloud KMS returns. */
export function ecdsaSignDigest(key: KeyObject, digest: Uint8Array): Buffer {
  const p = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
  const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const a = p - 3n;
  const G: [bigint, bigint] = [0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n, 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n];
  const mod = (x: bigint, m: bigint) => ((x % m) + m) % m;
  const inv = (x: bigint, m: bigint) => {
    let [r0, r1, s0, s1] = [mod(x, m), m, 1n, 0n];
    while (r1) [r0, r1, s0, s1] = [r1, r0 % r1, s1, s0 - (r0 / r1) * s1];
    return mod(s0, m);
  };
  type Pt = [bigint, bigint] | null;
  const add = (P: Pt, Q: Pt): Pt => {
    if (!P) return Q;
    if (!Q) return P;
    if (P[0] === Q[0] && mod(P[1] + Q[1], p) === 0n) return null;
    const l = P[0] === Q[0] && P[1] === Q[1] ? mod((3n * P[0] * P[0] + a) * inv(2n * P[1], p), p) : mod((Q[1] - P[1]) * inv(Q[0] - P[0], p), p);
    const x = mod(l * l - P[0] - Q[0], p);
    return [x, mod(l * (P[0] - x) - P[1], p)];
  };
  const mul = (k: bigint, P: Pt): Pt => {
    let R: Pt = null;
    for (; k > 0n; k >>= 1n, P = add(P, P)) if (k & 1n) R = add(R, P);
    return R;
  };
  const big = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString("hex")}`);
  const d = big(Buffer.from(key.export({ format: "jwk" }).d!, "base64url"));
  const z = big(digest);
  for (;;) {
    const k = mod(big(randomBytes(40)), n - 1n) + 1n;
    const r = mod(mul(k, G)![0], n);
    const s = mod(inv(k, n) * (z + r * d), n);
    if (r === 0n || s === 0n) continue;
    const int = (v: bigint) => {
      let h = v.toString(16);
      if (h.length % 2) h = `0${h}`;
      if (parseInt(h.slice(0, 2), 16) & 0x80) h = `00${h}`;
      const b = Buffer.from(h, "hex");
      return Buffer.concat([Buffer.from([0x02, b.length]), b]);
    };
    const body = Buffer.concat([int(r), int(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
  }
}

export interface FakeKmsOptions {
  /** The one key version the fake holds; any other name is NOT_FOUND. */
  readonly keyVersion: string;
  /** The algorithm getPublicKey reports. @default "EC_SIGN_P256_SHA256" */
  readonly algorithm?: string | number;
  /** Report the request's digest as corrupted (verifiedDigestCrc32c: false). */
  readonly corruptDigestCrc?: boolean;
  /** Sign with this key instead of the key version's own (the signature then fails to verify). */
  readonly signWith?: { readonly privateKey: KeyObject };
  /** Sees every getPublicKey request before it is answered. */
  readonly onGetPublicKey?: (request: { name: string }) => void;
}

type SignRequest = Parameters<KmsClientLike["asymmetricSign"]>[0];

/** A fake Cloud KMS holding one P-256 key version: it signs the DIGEST it receives, as KMS does. */
export function fakeKms(opts: FakeKmsOptions) {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
  /** Every call, as "method name". */
  const calls: string[] = [];
  /** Every asymmetricSign request, as received. */
  const signRequests: SignRequest[] = [];
  const client: KmsClientLike = {
    async getPublicKey(req) {
      calls.push(`getPublicKey ${req.name}`);
      opts.onGetPublicKey?.(req);
      if (req.name !== opts.keyVersion) throw new Error(`5 NOT_FOUND: ${req.name}`);
      return [{ pem, algorithm: opts.algorithm ?? "EC_SIGN_P256_SHA256", name: opts.keyVersion, pemCrc32c: { value: String(crc32c(Buffer.from(pem))) } }];
    },
    async asymmetricSign(req) {
      calls.push(`asymmetricSign ${req.name}`);
      signRequests.push(req);
      const ok = crc32c(req.digest.sha256) === req.digestCrc32c.value && !opts.corruptDigestCrc;
      const signature = ecdsaSignDigest(opts.signWith?.privateKey ?? privateKey, req.digest.sha256);
      return [{ signature, verifiedDigestCrc32c: ok, signatureCrc32c: { value: crc32c(signature) }, name: opts.keyVersion }];
    },
  };
  return { client, pem, fingerprint: keyIdOf(publicKey), calls, signRequests };
}
