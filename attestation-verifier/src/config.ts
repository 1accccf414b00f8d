/**
 * Configuration from the environment, shared by the local server and the Cloud Function.
 * Everything is checked before the verifier answers anything; a bad setting stops the
 * start with a message that names the variable.
 */
import { readFileSync } from "node:fs";
import { fetchGcsObject, metadataTokenSource, parseGcsUri } from "./gcp";
import { gcsJwksTarget, jwksPublisher } from "./jwks-publisher";
import { ObjectStore, gcsObjectStore, localObjectStore } from "./object-store";
import { PolicyError, VerifierPolicyDocument, errorMessage, parsePolicyDocument } from "./policy";
import { ReplayStore } from "./replay";
import { ReceiptSigner, fileSigner, generatedSigner, kmsSigner } from "./signers";
import { Verifier, VerifierOptions, createVerifier } from "./verifier";

/** Every variable the verifier reads. Any other VERIFIER_* variable is refused as a typo. */
export const ENV_VARS = {
  VERIFIER_POLICY_FILE: "path of the policy document JSON (`npx manatee policy > policy.json`)",
  VERIFIER_POLICY_URI: "gs://BUCKET/OBJECT of the policy document (the cloud deployment)",
  VERIFIER_POLICY_SHA256: "hex SHA-256 of the canonical policy; required with VERIFIER_POLICY_URI, checked when set",
  VERIFIER_JWKS_URL: "Confidential Space token signing keys (default: Google's JWKS)",
  VERIFIER_KMS_KEY_VERSION: "Cloud KMS EC_SIGN_P256_SHA256 key version that signs receipts",
  VERIFIER_PUBLIC_JWKS_URI: "gs://BUCKET/OBJECT the receipt JWKS is published to at start (a public object; earlier keys are kept)",
  VERIFIER_SIGNING_KEY_FILE: "local receipt key: PKCS#8 PEM or private EC P-256 JWK (development)",
  VERIFIER_RECEIPT_ISSUER: "the receipts' iss (default: the policy audience)",
  VERIFIER_RELEASE_DIR: "local directory holding the buckets of POST /v1/release as <dir>/<bucket>/<object> (development)",
  VERIFIER_AUDIT_BUCKET: "the audit bucket: /v1/verify creates its once-only markers replay/<token sha256> there (required with VERIFIER_POLICY_URI)",
  VERIFIER_AUDIT_DIR: "local directory holding VERIFIER_AUDIT_BUCKET as <dir>/<bucket>/replay/… instead of Cloud Storage (development)",
  VERIFIER_METADATA_URL: "metadata server base URL (default http://metadata.google.internal; tests)",
  VERIFIER_STORAGE_URL: "Cloud Storage base URL (default https://storage.googleapis.com; tests)",
  VERIFIER_KMS_URL: "Cloud KMS base URL (default https://cloudkms.googleapis.com; tests)",
} as const;

export interface EnvConfigOptions {
  /**
   * Start with a throw-away receipt key when neither VERIFIER_KMS_KEY_VERSION nor
   * VERIFIER_SIGNING_KEY_FILE is set. Local development only: in the cloud every instance
   * would sign with a different key that dies with it.
   * @default false
   */
  readonly allowEphemeralKey?: boolean;
  /** Options that take precedence over the environment (clock, log, jwks timings). */
  readonly overrides?: Partial<Omit<VerifierOptions, "policy" | "signer">>;
  /** Where the JWKS publisher logs its outcome. @default one JSON line on stdout */
  readonly publishLog?: (line: Record<string, unknown>) => void;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export async function verifierFromEnv(env: NodeJS.ProcessEnv = process.env, options: EnvConfigOptions = {}): Promise<Verifier> {
  const unknown = Object.keys(env).filter((k) => k.startsWith("VERIFIER_") && !(k in ENV_VARS));
  if (unknown.length > 0) {
    throw new ConfigError(`${unknown.join(", ")}: unknown setting(s). The verifier reads ${Object.keys(ENV_VARS).join(", ")}.`);
  }
  const get = (name: keyof typeof ENV_VARS) => {
    const v = env[name];
    return v === undefined || v === "" ? undefined : v;
  };
  const tokenSource = metadataTokenSource({ metadataBaseUrl: get("VERIFIER_METADATA_URL") });

  // Checked first: a missing audit bucket stops the start before anything is fetched.
  const replay = replayStore(get, tokenSource);
  const policy = await loadPolicy(get, tokenSource);
  const signer = await loadSigner(get, tokenSource, options.allowEphemeralKey ?? false);
  const objectStore = releaseStore(get, policy.document, tokenSource);
  const publishUri = get("VERIFIER_PUBLIC_JWKS_URI");
  if (publishUri !== undefined) {
    let ref;
    try {
      ref = parseGcsUri(publishUri);
    } catch (err) {
      throw new ConfigError(`VERIFIER_PUBLIC_JWKS_URI (${publishUri}): ${errorMessage(err)}`);
    }
    // Before the first answer: a failure is logged and retried, never stops the verifier.
    await jwksPublisher({
      target: gcsJwksTarget({ bucket: ref.bucket, object: ref.object, token: tokenSource, storageBaseUrl: get("VERIFIER_STORAGE_URL") }),
      key: signer.publicJwk,
      ...(options.publishLog ? { log: options.publishLog } : {}),
    }).publish();
  }
  return createVerifier({
    policy: policy.document,
    signer,
    ...(objectStore ? { objectStore } : {}),
    ...(replay ? { replayStore: replay } : {}),
    jwks: { ...options.overrides?.jwks, url: get("VERIFIER_JWKS_URL") ?? options.overrides?.jwks?.url },
    receiptIssuer: get("VERIFIER_RECEIPT_ISSUER"),
    ...withoutJwks(options.overrides),
  });
}

function withoutJwks(overrides: EnvConfigOptions["overrides"]): Partial<VerifierOptions> {
  if (!overrides) return {};
  const { jwks: _jwks, ...rest } = overrides;
  return rest;
}

type Get = (name: keyof typeof ENV_VARS) => string | undefined;

async function loadPolicy(
  get: Get,
  tokenSource: ReturnType<typeof metadataTokenSource>
): Promise<{ document: VerifierPolicyDocument; sha256: string }> {
  const file = get("VERIFIER_POLICY_FILE");
  const uri = get("VERIFIER_POLICY_URI");
  const pin = get("VERIFIER_POLICY_SHA256");
  if (pin !== undefined && !/^[0-9a-fA-F]{64}$/.test(pin)) {
    throw new ConfigError(
      `VERIFIER_POLICY_SHA256: expected 64 hex characters (as printed by \`npx manatee policy\`), got ${JSON.stringify(pin.slice(0, 80))}.`
    );
  }
  if (file && uri) throw new ConfigError("VERIFIER_POLICY_FILE and VERIFIER_POLICY_URI are both set; set exactly one.");
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new ConfigError(`VERIFIER_POLICY_FILE (${file}): cannot read it (${errorMessage(err)}).`);
    }
    return parsePolicyDocument(text, `VERIFIER_POLICY_FILE (${file})`, pin);
  }
  if (uri) {
    if (!pin) {
      throw new ConfigError(
        "VERIFIER_POLICY_SHA256 is required with VERIFIER_POLICY_URI: the verifier only runs the policy that was deployed."
      );
    }
    let text: string;
    try {
      text = await fetchGcsObject(parseGcsUri(uri), { tokenSource, storageBaseUrl: get("VERIFIER_STORAGE_URL") });
    } catch (err) {
      throw new ConfigError(`VERIFIER_POLICY_URI (${uri}): ${errorMessage(err)}`);
    }
    return parsePolicyDocument(text, `VERIFIER_POLICY_URI (${uri})`, pin);
  }
  throw new ConfigError(
    "No policy: set VERIFIER_POLICY_FILE (the JSON printed by `npx manatee policy`) or VERIFIER_POLICY_URI + VERIFIER_POLICY_SHA256."
  );
}

/**
 * The release's object store: a local directory when VERIFIER_RELEASE_DIR is set, else Cloud
 * Storage with the metadata-server token when the policy has release settings, else none.
 */
function releaseStore(get: Get, policy: VerifierPolicyDocument, tokenSource: ReturnType<typeof metadataTokenSource>): ObjectStore | undefined {
  const dir = get("VERIFIER_RELEASE_DIR");
  if (dir !== undefined) {
    if (!policy.release) {
      throw new ConfigError("VERIFIER_RELEASE_DIR is set, but the policy has no release settings; unset it or regenerate the policy.");
    }
    return localObjectStore(dir);
  }
  if (!policy.release) return undefined;
  return gcsObjectStore({ token: tokenSource, storageBaseUrl: get("VERIFIER_STORAGE_URL") });
}

/**
 * The once-only markers' store: the audit bucket on Cloud Storage, or a local directory. Required
 * in the cloud (the policy from VERIFIER_POLICY_URI), where instances come and go: a replay could
 * otherwise reach an instance that has not seen the token. Locally, none means this process's memory.
 */
function replayStore(get: Get, tokenSource: ReturnType<typeof metadataTokenSource>): ReplayStore | undefined {
  const bucket = get("VERIFIER_AUDIT_BUCKET");
  const dir = get("VERIFIER_AUDIT_DIR");
  if (bucket === undefined) {
    if (dir !== undefined) throw new ConfigError("VERIFIER_AUDIT_DIR is set without VERIFIER_AUDIT_BUCKET; name the bucket its directory holds.");
    // (Both policy sources set is loadPolicy's error to report.)
    if (get("VERIFIER_POLICY_URI") !== undefined && get("VERIFIER_POLICY_FILE") === undefined) {
      throw new ConfigError(
        "VERIFIER_AUDIT_BUCKET is required with VERIFIER_POLICY_URI: without the shared audit bucket a replayed token could be allowed by another instance."
      );
    }
    return undefined;
  }
  if (!/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket)) {
    throw new ConfigError(`VERIFIER_AUDIT_BUCKET: expected a bucket name (not a gs:// URL), got ${JSON.stringify(bucket.slice(0, 80))}.`);
  }
  const store = dir !== undefined ? localObjectStore(dir) : gcsObjectStore({ token: tokenSource, storageBaseUrl: get("VERIFIER_STORAGE_URL") });
  return { store, bucket };
}

async function loadSigner(
  get: Get,
  tokenSource: ReturnType<typeof metadataTokenSource>,
  allowEphemeralKey: boolean
): Promise<ReceiptSigner> {
  const kms = get("VERIFIER_KMS_KEY_VERSION");
  const file = get("VERIFIER_SIGNING_KEY_FILE");
  if (kms && file) throw new ConfigError("VERIFIER_KMS_KEY_VERSION and VERIFIER_SIGNING_KEY_FILE are both set; set exactly one.");
  try {
    if (kms) return await kmsSigner({ keyVersionName: kms, tokenSource, kmsBaseUrl: get("VERIFIER_KMS_URL") });
    if (file) return fileSigner(file);
  } catch (err) {
    throw new ConfigError(errorMessage(err));
  }
  if (!allowEphemeralKey) {
    throw new ConfigError("No receipt key: set VERIFIER_KMS_KEY_VERSION (Cloud KMS, EC_SIGN_P256_SHA256) or VERIFIER_SIGNING_KEY_FILE.");
  }
  return generatedSigner();
}

export { PolicyError };
