/**
 * Approver signers: what signs an approval. A dataset's approver key is a Cloud KMS
 * `EC_SIGN_P256_SHA256` key only its owners may use (`kmsApproverSigner`); the local mode and
 * tests use a P-256 key from a PEM file or generated in memory (`localApproverSigner`).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, verify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { keyIdOf } from "./cosign";

export interface ApproverSigner {
  /** Lowercase hex SHA-256 of the DER public key: must equal the dataset's `approverKey.fingerprint`. */
  readonly keyId: string;
  readonly publicKeyPem: string;
  /** ECDSA P-256 over SHA-256 of `bytes`; the DER-encoded signature (what cosign stores, base64). */
  sign(bytes: Uint8Array): Promise<Uint8Array>;
}

export interface LocalApproverSigner extends ApproverSigner {
  /** The private key as PKCS#8 PEM, to save a generated key (keep it as secret as the data). */
  exportPrivateKeyPem(): string;
}

/**
 * A P-256 signer from a PEM private key (`{pemFile}` or `{privateKeyPem}`), or a new key when
 * called without one. Throws naming the file when the key is not EC P-256.
 */
export function localApproverSigner(source?: { readonly pemFile: string } | { readonly privateKeyPem: string }): LocalApproverSigner {
  let key: KeyObject;
  const what = source && "pemFile" in source ? source.pemFile : "the private key";
  if (!source) key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  else {
    const pem = "pemFile" in source ? readFileSync(source.pemFile, "utf8") : source.privateKeyPem;
    try {
      key = createPrivateKey(pem);
    } catch (e) {
      throw new Error(`${what}: not a PEM private key (${(e as Error).message}); create one with: openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt`);
    }
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error(`${what}: an approver key must be EC P-256 (ECDSA_P256_SHA256), found ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ""}`);
  }
  const publicKey = createPublicKey(key);
  return {
    keyId: keyIdOf(publicKey),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    async sign(bytes) {
      return nodeSign("sha256", bytes, key);
    },
    exportPrivateKeyPem: () => key.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

/** The two methods of `@google-cloud/kms`'s `KeyManagementServiceClient` a signer uses. */
export interface KmsClientLike {
  getPublicKey(request: { name: string }): Promise<[{ pem?: string | null; algorithm?: string | number | null; name?: string | null; pemCrc32c?: { value?: unknown } | null }, ...unknown[]]>;
  asymmetricSign(request: { name: string; digest: { sha256: Uint8Array }; digestCrc32c: { value: number } }): Promise<
    [{ signature?: Uint8Array | string | null; verifiedDigestCrc32c?: boolean | null; signatureCrc32c?: { value?: unknown } | null; name?: string | null }, ...unknown[]]
  >;
}

/** `CryptoKeyVersionAlgorithm.EC_SIGN_P256_SHA256` by name and by enum number. */
const KMS_P256 = new Set<string | number>(["EC_SIGN_P256_SHA256", 12]);
const KEY_VERSION = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+\/cryptoKeyVersions\/\d+$/;

/**
 * A signer backed by a Cloud KMS key version (`EC_SIGN_P256_SHA256`): KMS receives only the
 * SHA-256 digest of the payload. Requests and responses are checked with CRC32C where KMS returns
 * them, and every signature is verified locally against the key's public key before it is used.
 */
export async function kmsApproverSigner(options: { readonly client: KmsClientLike; readonly keyVersion: string }): Promise<ApproverSigner> {
  const { client, keyVersion } = options;
  if (!KEY_VERSION.test(keyVersion)) throw new Error(`KMS key version ${JSON.stringify(keyVersion)}: expected projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N`);
  const [pub] = await client.getPublicKey({ name: keyVersion });
  if (!KMS_P256.has(pub.algorithm ?? "")) {
    throw new Error(`KMS key version ${keyVersion} has algorithm ${pub.algorithm}: approver keys must be EC_SIGN_P256_SHA256 (create the key with --default-algorithm ec-sign-p256-sha256)`);
  }
  if (!pub.pem) throw new Error(`KMS key version ${keyVersion}: getPublicKey returned no PEM`);
  if (pub.pemCrc32c?.value !== undefined && pub.pemCrc32c.value !== null && Number(pub.pemCrc32c.value) !== crc32c(Buffer.from(pub.pem, "utf8"))) {
    throw new Error(`KMS key version ${keyVersion}: the public key arrived corrupted (CRC32C mismatch); retry`);
  }
  const publicKey = createPublicKey(pub.pem);
  return {
    keyId: keyIdOf(publicKey),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    async sign(bytes) {
      const digest = createHash("sha256").update(bytes).digest();
      const [res] = await client.asymmetricSign({ name: keyVersion, digest: { sha256: digest }, digestCrc32c: { value: crc32c(digest) } });
      if (res.verifiedDigestCrc32c === false) throw new Error(`KMS ${keyVersion}: the digest arrived corrupted (verifiedDigestCrc32c false); retry`);
      if (res.name && res.name !== keyVersion) throw new Error(`KMS signed with ${res.name}, not ${keyVersion}`);
      if (!res.signature) throw new Error(`KMS ${keyVersion}: asymmetricSign returned no signature`);
      const signature = typeof res.signature === "string" ? Buffer.from(res.signature, "base64") : Buffer.from(res.signature);
      if (res.signatureCrc32c?.value !== undefined && res.signatureCrc32c.value !== null && Number(res.signatureCrc32c.value) !== crc32c(signature)) {
        throw new Error(`KMS ${keyVersion}: the signature arrived corrupted (CRC32C mismatch); retry`);
      }
      if (!verify("sha256", bytes, publicKey, signature)) throw new Error(`KMS ${keyVersion}: the signature does not verify with the key version's public key`);
      return signature;
    },
  };
}

let table: Uint32Array | undefined;
/** CRC32C (Castagnoli), as Cloud KMS uses for integrity checks. */
export function crc32c(bytes: Uint8Array): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of bytes) crc = table[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
