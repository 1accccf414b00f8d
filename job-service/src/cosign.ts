/**
 * Cosign "simple signing" signatures as the Confidential Space launcher reads them: tag
 * `sha256-<hex>.sig` in a signature repository, one manifest layer per signature, the layer blob is
 * the payload and the base64 signature is the layer annotation `dev.cosignproject.cosign/signature`.
 * The payload carries its own public key (`optional["dev.cosignproject.cosign/pub"]`); `key_id` is
 * the hex SHA-256 of its DER SubjectPublicKeyInfo. Owners' rejections use the same format under
 * `sha256-<hex>.reject`, which the launcher never reads.
 */
import { constants, createHash, createPublicKey, verify, type KeyObject } from "node:crypto";
import { APPROVER_SIGNATURE_ALGORITHM } from "./config";
import { digestHex, isDigest, jsonBytes, MediaType, type Descriptor, type ImageManifest, type Registry } from "./oci";

export const COSIGN_SIGNATURE_TYPE = "cosign container image signature";
export const REJECTION_TYPE = "manatee job rejection";
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
export const PUB_KEY_OPTION = "dev.cosignproject.cosign/pub";
export const SIGALG_OPTION = "dev.cosignproject.cosign/sigalg";
/** The launcher counts at most this many signatures per image. */
export const MAX_SIGNATURES = 300;

export type SignatureAlgorithm = "ECDSA_P256_SHA256" | "RSASSA_PSS_SHA256" | "RSASSA_PKCS1V15_SHA256";

export interface SimpleSigningPayload {
  readonly critical: {
    readonly identity: { readonly "docker-reference": string };
    readonly image: { readonly "docker-manifest-digest": string };
    readonly type: string;
  };
  readonly optional?: Readonly<Record<string, string>>;
}

/** Who signed and when, carried as `manatee.*` keys of the payload's `optional` map. */
export interface PayloadExtra {
  readonly dataset?: string;
  readonly by?: string;
  /** RFC 3339. */
  readonly at?: string;
}

export interface PayloadOptions {
  /** The signer's public key (PEM SPKI); embedded so the launcher can verify without a key list. */
  readonly pubPem: string;
  readonly extra?: PayloadExtra;
  /** `critical.identity.docker-reference` (the launcher ignores it). @default "" */
  readonly dockerReference?: string;
}

/** The payload of an approval: a cosign signature of `imageDigest`, as bytes to sign. */
export function simpleSigningPayload(imageDigest: string, options: PayloadOptions): Uint8Array {
  return payload(COSIGN_SIGNATURE_TYPE, imageDigest, options, {});
}

/** The payload of a signed rejection (same format, `critical.type` `manatee job rejection`). */
export function rejectionPayload(imageDigest: string, options: PayloadOptions & { readonly reason: string }): Uint8Array {
  if (!options.reason?.trim()) throw new Error("a rejection needs a reason (manatee jobs reject <job> --reason …)");
  return payload(REJECTION_TYPE, imageDigest, options, { "manatee.reason": options.reason });
}

function payload(type: string, imageDigest: string, options: PayloadOptions, more: Record<string, string>): Uint8Array {
  digestHex(imageDigest);
  createPublicKey(options.pubPem); // refuse a bad key before anything is signed
  const optional: Record<string, string> = {
    [PUB_KEY_OPTION]: Buffer.from(options.pubPem, "utf8").toString("base64").replace(/=+$/, ""),
    [SIGALG_OPTION]: APPROVER_SIGNATURE_ALGORITHM,
  };
  for (const [k, v] of Object.entries(options.extra ?? {})) if (v !== undefined) optional[`manatee.${k}`] = v;
  Object.assign(optional, more);
  const p: SimpleSigningPayload = {
    critical: { identity: { "docker-reference": options.dockerReference ?? "" }, image: { "docker-manifest-digest": imageDigest }, type },
    optional,
  };
  return jsonBytes(p);
}

/** `sha256-<hex>.sig`: where the launcher looks for signatures of `digest`. */
export function signatureTag(digest: string): string {
  return `sha256-${digestHex(digest)}.sig`;
}

/** `sha256-<hex>.reject`: where owners' signed rejections of `digest` are kept. */
export function rejectionTag(digest: string): string {
  return `sha256-${digestHex(digest)}.reject`;
}

/** Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo: the launcher's `key_id`, the room file's fingerprint. */
export function keyIdOf(publicKey: KeyObject | string): string {
  const key = typeof publicKey === "string" ? createPublicKey(publicKey) : publicKey;
  const der = (key.type === "private" ? createPublicKey(key) : key).export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("hex");
}

/**
 * Adds a signature (or, with kind `rejection`, a signed rejection) to the manifest under the
 * image's tag in `repo`: APPENDS a layer, keeping every signature already there (other owners',
 * other keys'). Two writers racing on one tag can lose one append; each dataset has its own repo.
 */
export async function pushSignature(
  registry: Registry,
  repo: string,
  imageDigest: string,
  payloadBytes: Uint8Array,
  signatureDer: Uint8Array,
  kind: "signature" | "rejection" = "signature",
): Promise<{ tag: string; manifestDigest: string }> {
  const tag = kind === "signature" ? signatureTag(imageDigest) : rejectionTag(imageDigest);
  const existing = await registry.getManifest(repo, tag);
  let layers: Descriptor[] = [];
  if (existing) {
    let m: ImageManifest;
    try {
      m = JSON.parse(Buffer.from(existing.bytes).toString("utf8")) as ImageManifest;
    } catch {
      throw new Error(`${repo}:${tag} exists but is not a JSON manifest: refusing to overwrite it (delete the tag if it is garbage)`);
    }
    if (!Array.isArray(m.layers)) throw new Error(`${repo}:${tag} exists but has no layers: refusing to overwrite it`);
    layers = [...m.layers];
  }
  const payloadDigest = await registry.putBlob(repo, payloadBytes);
  const signature = Buffer.from(signatureDer).toString("base64");
  if (!layers.some((l) => l.digest === payloadDigest && l.annotations?.[SIGNATURE_ANNOTATION] === signature)) {
    layers.push({ mediaType: MediaType.cosignSimpleSigning, digest: payloadDigest, size: payloadBytes.length, annotations: { [SIGNATURE_ANNOTATION]: signature } });
  }
  // As cosign writes it: payloads are uncompressed, so diff_ids are the layer digests.
  const config = jsonBytes({
    architecture: "",
    created: "0001-01-01T00:00:00Z",
    history: layers.map(() => ({ created: "0001-01-01T00:00:00Z" })),
    os: "",
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
    config: {},
  });
  const configDigest = await registry.putBlob(repo, config);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: configDigest, size: config.length }, layers };
  const manifestDigest = await registry.putManifest(repo, tag, jsonBytes(manifest), MediaType.ociManifest);
  return { tag, manifestDigest };
}

/** One signature that verified: over its payload, with its embedded key, naming the image. */
export interface VerifiedSignature {
  readonly keyId: string;
  /** Base64, as in the annotation and the token's `image_signatures`. */
  readonly signature: string;
  readonly algorithm: SignatureAlgorithm;
  readonly payload: SimpleSigningPayload;
}

export interface ReadSignaturesOptions {
  /** `signature` (tag `.sig`) or `rejection` (tag `.reject`). @default "signature" */
  readonly kind?: "signature" | "rejection";
  /** Where skipped signatures are reported (the launcher logs and skips). */
  readonly log?: (message: string) => void;
  /** @default MAX_SIGNATURES */
  readonly limit?: number;
}

/**
 * The valid signatures of `imageDigest` in one repository. Invalid ones (bad signature, other
 * digest, missing or unsupported key or algorithm, unreadable payload) are logged and skipped.
 */
export async function verifiedSignatures(registry: Registry, repo: string, imageDigest: string, options: ReadSignaturesOptions = {}): Promise<VerifiedSignature[]> {
  const kind = options.kind ?? "signature";
  const log = options.log ?? (() => undefined);
  const limit = options.limit ?? MAX_SIGNATURES;
  const tag = kind === "signature" ? signatureTag(imageDigest) : rejectionTag(imageDigest);
  const expectedType = kind === "signature" ? COSIGN_SIGNATURE_TYPE : REJECTION_TYPE;
  const found = await registry.getManifest(repo, tag);
  if (!found) return [];
  const manifest = JSON.parse(Buffer.from(found.bytes).toString("utf8")) as ImageManifest;
  const out: VerifiedSignature[] = [];
  for (const [i, layer] of (Array.isArray(manifest.layers) ? manifest.layers : []).entries()) {
    if (out.length >= limit) break;
    const where = `${repo}:${tag} layer ${i}`;
    try {
      const signature = layer.annotations?.[SIGNATURE_ANNOTATION];
      if (!signature) throw new Error(`no ${SIGNATURE_ANNOTATION} annotation`);
      if (!isDigest(layer.digest)) throw new Error("layer digest is not sha256");
      const bytes = await registry.getBlob(repo, layer.digest);
      const p = JSON.parse(Buffer.from(bytes).toString("utf8")) as SimpleSigningPayload;
      if (p?.critical?.type !== expectedType) throw new Error(`critical.type is ${JSON.stringify(p?.critical?.type)}, not ${JSON.stringify(expectedType)}`);
      if (p.critical.image?.["docker-manifest-digest"] !== imageDigest) throw new Error(`payload names ${p.critical.image?.["docker-manifest-digest"]}, not ${imageDigest}`);
      const pub = p.optional?.[PUB_KEY_OPTION];
      if (!pub) throw new Error(`no ${PUB_KEY_OPTION} in the payload`);
      const key = createPublicKey(Buffer.from(pub, "base64").toString("utf8"));
      const algorithm = p.optional?.[SIGALG_OPTION] as SignatureAlgorithm | undefined;
      if (!verifySignature(key, algorithm, bytes, Buffer.from(signature, "base64"))) throw new Error("signature does not verify with the embedded key");
      out.push({ keyId: keyIdOf(key), signature, algorithm: algorithm!, payload: p });
    } catch (e) {
      log(`${where}: skipped: ${(e as Error).message}`);
    }
  }
  return out;
}

function verifySignature(key: KeyObject, algorithm: string | undefined, data: Uint8Array, signature: Buffer): boolean {
  switch (algorithm) {
    case "ECDSA_P256_SHA256":
      if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") throw new Error("ECDSA_P256_SHA256 needs a P-256 key");
      return verify("sha256", data, key, signature);
    case "RSASSA_PKCS1V15_SHA256":
      if (key.asymmetricKeyType !== "rsa") throw new Error(`${algorithm} needs an RSA key`);
      return verify("sha256", data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    case "RSASSA_PSS_SHA256":
      if (key.asymmetricKeyType !== "rsa") throw new Error(`${algorithm} needs an RSA key`);
      return verify("sha256", data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signature);
    default:
      throw new Error(`${SIGALG_OPTION} ${JSON.stringify(algorithm)} is not one the launcher supports`);
  }
}

/** An entry of the token's `submods.container.image_signatures`. */
export interface ImageSignatureClaim {
  readonly key_id: string;
  readonly signature: string;
  readonly signature_algorithm: SignatureAlgorithm;
}

/**
 * What the launcher would put into `image_signatures` for `imageDigest` launched with
 * `tee-signed-image-repos` = `repos`: every valid signature in each repository's `.sig` tag, at
 * most 300; a repository that cannot be read is logged and skipped (access then fails closed).
 */
export async function launcherSignatures(registry: Registry, repos: readonly string[], imageDigest: string, options: { readonly log?: (message: string) => void } = {}): Promise<ImageSignatureClaim[]> {
  const log = options.log ?? (() => undefined);
  const out: ImageSignatureClaim[] = [];
  for (const repo of repos) {
    if (out.length >= MAX_SIGNATURES) break;
    try {
      for (const s of await verifiedSignatures(registry, repo, imageDigest, { log, limit: MAX_SIGNATURES - out.length })) {
        out.push({ key_id: s.keyId, signature: s.signature, signature_algorithm: s.algorithm });
      }
    } catch (e) {
      log(`${repo}: signatures not read: ${(e as Error).message}`);
    }
  }
  return out;
}
