/**
 * The output release (`POST /v1/release`): a TEE asks the verifier to move its job's
 * results from the quarantine bucket to the release bucket (or, for a dataset's provisioning
 * image, to that dataset's stage-1 bucket: destination.ts). The verifier releases only
 * when the attestation token is approved for every dataset the job read, the token comes
 * from the job's own VM, its eat_nonce is the hash of the manifest of results, and every
 * object in quarantine has the manifest's hash. Everything is checked before the first
 * write; each token releases once.
 */
import { AuditRecord } from "./audit";
import { BudgetCharge, BudgetLedger } from "./budget";
import { Decide, at } from "./decision";
import { releaseDestination } from "./destination";
import { VerifierResponse, errorResponse, jsonResponse } from "./http";
import { ObjectStore } from "./object-store";
import { VerifierReleaseSettings, canonicalJson, errorMessage, sha256Hex } from "./policy";
import { Reason, RequestErrorCode, reason } from "./reasons";
import { DatasetGrant, releaseReceiptClaims, signReceipt } from "./receipt";
import { ReceiptSigner } from "./signers";
import { KeyResolver, TokenRules, authenticate, checkTokenClaims } from "./token";

export const RELEASE_REQUEST_FIELDS = ["token", "job", "datasets", "objects"];
/** The receipt's name next to the objects: `<job>/receipt.jws` (`provisioned/<job>/receipt.jws` in a stage-1 bucket). */
export const RELEASE_RECEIPT_OBJECT = "receipt.jws";
/** Where a release's marker lives in the release bucket: `releases/<sha256 of the token>`. */
export const RELEASE_MARKER_PREFIX = "releases/";
/** Released objects are served as bytes, never as something a browser would render. */
const OBJECT_CONTENT_TYPE = "application/octet-stream";

/** ManaTEE's job uuid, lowercase: it ends the VM name and starts every object path. */
const JOB = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Portable object names: the manifest sorts and hashes the same in every language. */
const OBJECT_NAME = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const HEX64 = /^[0-9a-f]{64}$/;
const MAX_OBJECTS = 256;
const MAX_OBJECT_NAME_CHARS = 512;
const MAX_DATASETS = 64;
const MAX_DATASET_CHARS = 256;
/** Objects are held in memory between the hash check and the copy (so what is copied is what was hashed). */
export const DEFAULT_MAX_RELEASE_BYTES = 128 * 1024 * 1024;

export interface ReleaseObject {
  readonly name: string;
  /** Lowercase hex SHA-256 of the object's bytes. */
  readonly sha256: string;
}

export interface ReleaseRequest {
  readonly token: string;
  readonly job: string;
  readonly datasets: readonly string[];
  /** Sorted by name. */
  readonly objects: readonly ReleaseObject[];
}

/**
 * The bytes the token's nonce covers: canonical JSON of `{job, objects}`, objects sorted by
 * name, each `{name, sha256}`. In Python: `json.dumps({"job": job, "objects": sorted(objects,
 * key=lambda o: o["name"])}, sort_keys=True, separators=(",", ":"))`.
 */
export function releaseManifest(job: string, objects: readonly ReleaseObject[]): string {
  const sorted = [...objects].map((o) => ({ name: o.name, sha256: o.sha256 })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return canonicalJson({ job, objects: sorted });
}

/** Validate a parsed `/v1/release` body; the message names the field and what it must be. */
export function parseReleaseRequest(fields: Record<string, unknown>): { ok: true; request: ReleaseRequest } | { ok: false; message: string } {
  const bad = (message: string) => ({ ok: false as const, message });
  const { token, job, datasets, objects } = fields;
  if (typeof token !== "string" || token === "") return bad("token: expected a non-empty string (the attestation token).");
  if (typeof job !== "string" || !JOB.test(job)) return bad("job: expected the job's lowercase uuid.");
  if (!Array.isArray(datasets) || datasets.length === 0 || datasets.length > MAX_DATASETS) {
    return bad(`datasets: expected 1 to ${MAX_DATASETS} dataset names (every dataset the job read).`);
  }
  for (const d of datasets) {
    if (typeof d !== "string" || d === "" || d.length > MAX_DATASET_CHARS)
      return bad(`datasets: each must be a non-empty string of at most ${MAX_DATASET_CHARS} characters.`);
  }
  if (new Set(datasets).size !== datasets.length) return bad("datasets: a dataset is listed twice.");
  if (!Array.isArray(objects) || objects.length === 0 || objects.length > MAX_OBJECTS) {
    return bad(`objects: expected 1 to ${MAX_OBJECTS} objects {name, sha256}.`);
  }
  const names = new Set<string>();
  for (const o of objects) {
    if (o === null || typeof o !== "object" || Array.isArray(o)) return bad("objects: each must be an object {name, sha256}.");
    const extra = Object.keys(o).filter((k) => k !== "name" && k !== "sha256");
    if (extra.length > 0) return bad(`objects: unknown field ${JSON.stringify(extra[0].slice(0, 40))}; each object is {name, sha256}.`);
    const { name, sha256 } = o as Record<string, unknown>;
    if (
      typeof name !== "string" ||
      name.length > MAX_OBJECT_NAME_CHARS ||
      !OBJECT_NAME.test(name) ||
      name.split("/").some((p) => p === "." || p === "..")
    ) {
      return bad(
        `objects: name ${JSON.stringify(String(name).slice(0, 80))} is not a relative path of letters, digits, '.', '_', '-' ` +
          `separated by '/' (at most ${MAX_OBJECT_NAME_CHARS} characters, no '.' or '..' parts).`
      );
    }
    if (name === RELEASE_RECEIPT_OBJECT) return bad(`objects: ${RELEASE_RECEIPT_OBJECT} is the name of the release receipt.`);
    if (names.has(name)) return bad(`objects: ${JSON.stringify(name)} is listed twice.`);
    names.add(name);
    if (typeof sha256 !== "string" || !HEX64.test(sha256)) return bad(`objects: sha256 of ${JSON.stringify(name)} must be 64 lowercase hex.`);
  }
  // A name that is another's directory cannot exist in a file system (the local store).
  for (const name of names) {
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (names.has(parent)) return bad(`objects: ${JSON.stringify(parent)} is both an object and the directory of ${JSON.stringify(name)}.`);
    }
  }
  const sorted = (objects as ReleaseObject[])
    .map((o) => ({ name: o.name, sha256: o.sha256 }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { ok: true, request: { token, job, datasets: datasets as string[], objects: sorted } };
}

/** What the release needs from the verifier; built once by createVerifier. */
export interface ReleaseContext {
  readonly settings: VerifierReleaseSettings;
  readonly store: ObjectStore;
  readonly decide: Decide;
  readonly keys: KeyResolver;
  readonly rules: TokenRules;
  readonly signer: ReceiptSigner;
  readonly issuer: string;
  readonly cleanRoom: string;
  readonly policySha256: string;
  readonly maxBytes: number;
  /** Writes one audit record; false when the sink failed. */
  readonly audit: (record: Omit<AuditRecord, "clean_room" | "policy_sha256" | "component">) => boolean;
  /** The privacy-budget ledger, when the policy declares budgets. */
  readonly ledger?: BudgetLedger;
}

/**
 * Decide and carry out one release. Order matters, and is the safety argument:
 *   1. token, approvals, nonce and instance: no storage is touched for a bad token;
 *   2. every object read and hashed, kept in memory: nothing is written yet;
 *   3. the receipt signed: a signer outage consumes nothing;
 *   4. the marker created create-only: of two concurrent requests with one token, one wins;
 *   5. the decision logged, then the verified bytes copied and the receipt written last
 *      (its presence is what marks a release complete).
 */
export async function release(ctx: ReleaseContext, request: ReleaseRequest, nowMs: number): Promise<VerifierResponse> {
  const { token, job, datasets, objects } = request;
  const { settings, store } = ctx;
  const tokenSha256 = sha256Hex(token);
  const manifestSha256 = sha256Hex(releaseManifest(job, objects));
  const base = {
    operation: "release" as const,
    job,
    datasets: [...datasets],
    manifest_sha256: manifestSha256,
    token_sha256: tokenSha256,
  };

  const deny = (reasons: Reason[], imageDigest?: string): VerifierResponse => {
    ctx.audit({
      severity: "WARNING",
      message: `output release denied: ${reasons.map((r) => r.code).join(", ")}`,
      decision: "deny",
      reasons: reasons.map((r) => r.code),
      ...base,
      ...(imageDigest ? { image_digest: imageDigest } : {}),
    });
    return jsonResponse(200, { decision: "deny", reasons });
  };
  const fail = (code: RequestErrorCode, message: string, detail: string, extra: Partial<AuditRecord> = {}, headers: Record<string, string> = {}) => {
    ctx.audit({ severity: "ERROR", message: `output release failed: ${detail}`, decision: "error", reasons: [code], ...base, ...extra });
    return errorResponse(code, message, headers);
  };

  // 1. The token, exactly as for /v1/verify, then this release's own rules.
  const auth = await authenticate(token, ctx.keys);
  if (!auth.ok) return deny(auth.reasons);
  const claims = auth.claims;
  const reasons = checkTokenClaims(claims, ctx.rules, nowMs);
  const seen = new Set(reasons.map((r) => `${r.code}\n${r.message}`));
  const add = (r: Reason) => {
    const k = `${r.code}\n${r.message}`;
    if (!seen.has(k)) reasons.push(r), seen.add(k);
  };
  const grants: DatasetGrant[] = [];
  let imageDigest: string | undefined;
  for (const dataset of datasets) {
    // No request nonce here: the nonce of a release is the manifest hash, checked below.
    const decision = ctx.decide({ claims, dataset, nowMs });
    imageDigest ??= decision.imageDigest;
    decision.reasons.forEach(add);
    if (decision.grantedBy) grants.push({ dataset, grantedBy: decision.grantedBy, party: decision.party });
  }
  const eatNonce = claims.eat_nonce;
  const nonce = typeof eatNonce === "string" ? eatNonce : Array.isArray(eatNonce) && eatNonce.length === 1 ? eatNonce[0] : undefined;
  if (nonce !== manifestSha256) {
    add(
      reason(
        "manifest_nonce_mismatch",
        nonce === undefined
          ? `The token carries ${Array.isArray(eatNonce) ? `${eatNonce.length} nonces` : "no single nonce"}; the manifest hashes to ${manifestSha256}.`
          : `The manifest hashes to ${manifestSha256}.`
      )
    );
  }
  const instance = at(claims, "submods", "gce", "instance_name");
  const expectedInstance = `${settings.instancePrefix}-${job}`;
  if (instance !== expectedInstance) {
    add(
      reason(
        "instance_not_job",
        `Expected ${expectedInstance}, the token names ${typeof instance === "string" ? JSON.stringify(instance.slice(0, 80)) : "no instance"}.`
      )
    );
  }
  if (reasons.length > 0 || !imageDigest || grants.length !== datasets.length) return deny(reasons, imageDigest);
  // The destination follows from the image and the policy alone: a provisioning image's output
  // lands in its dataset's stage-1 bucket, everything else in the release bucket.
  const where = releaseDestination(settings, job, imageDigest, datasets);
  if (!where.ok) return deny([where.reason], imageDigest);
  const destination = where.destination;

  // 2. Replay (cheap early answer; the create-only marker below is the real guard), then the objects.
  const marker = `${RELEASE_MARKER_PREFIX}${tokenSha256}`;
  const storageDown = (err: unknown) =>
    fail(
      "storage_unavailable",
      "The object store could not be read; nothing was released and the token was not used. Retry.",
      errorMessage(err),
      { image_digest: imageDigest },
      { "retry-after": "5" }
    );
  try {
    if ((await store.read(settings.releaseBucket, marker)) !== undefined) return deny([reason("release_replayed")], imageDigest);
  } catch (err) {
    return storageDown(err);
  }
  const contents: Uint8Array[] = [];
  let total = 0;
  for (const [i, o] of objects.entries()) {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await store.read(settings.quarantineBucket, `${job}/${o.name}`);
    } catch (err) {
      return storageDown(err);
    }
    if (bytes === undefined) {
      add(reason("object_missing", `${settings.quarantineBucket}/${job}/${o.name}.`));
      continue;
    }
    total += bytes.byteLength;
    if (total > ctx.maxBytes) return deny([reason("release_too_large", `The limit is ${ctx.maxBytes} bytes.`)], imageDigest);
    const actual = sha256Hex(bytes);
    if (actual !== o.sha256) add(reason("object_hash_mismatch", `${o.name}: the manifest says ${o.sha256}, the object hashes to ${actual}.`));
    contents[i] = bytes;
  }
  if (reasons.length > 0) return deny(reasons, imageDigest);

  // 3. The privacy budget, charged before the receipt that states it; a charge is never undone
  //    (a later failure over-counts the spend, it never lets the budget be exceeded).
  let budget: BudgetCharge | undefined;
  try {
    budget = await ctx.ledger?.charge(grants, { job, imageDigest, tokenSha256, policySha256: ctx.policySha256, nowMs });
  } catch (err) {
    return storageDown(err);
  }
  if (budget && !budget.ok) return deny(budget.reasons, imageDigest);
  const spent = budget?.ok && budget.entries.length > 0 ? { budget: budget.entries } : {};

  // 3b. The receipt, before anything is consumed.
  const receiptClaims = releaseReceiptClaims({
    issuer: ctx.issuer,
    cleanRoom: ctx.cleanRoom,
    job,
    grants,
    imageDigest,
    objects,
    destination,
    nonce: manifestSha256,
    tokenSha256,
    policySha256: ctx.policySha256,
    claims,
    nowMs,
  });
  Object.assign(receiptClaims, spent);
  let receipt: string;
  try {
    receipt = await signReceipt(ctx.signer, receiptClaims);
  } catch (err) {
    return fail("signer_unavailable", "The receipt could not be signed; nothing was released. Retry later.", errorMessage(err), { image_digest: imageDigest }, {
      "retry-after": "5",
    });
  }

  // 4. The marker: create-only, so exactly one request per token gets past this line.
  const markerBody = Buffer.from(
    JSON.stringify({ job, token_sha256: tokenSha256, manifest_sha256: manifestSha256, receipt_jti: receiptClaims.jti, iat: receiptClaims.iat })
  );
  let won: boolean;
  try {
    won = await store.createIfAbsent(settings.releaseBucket, marker, markerBody, "application/json");
  } catch (err) {
    // Unknown whether the marker exists: a retry either proceeds or is refused as a replay.
    return storageDown(err);
  }
  if (!won) return deny([reason("release_replayed", "Another request with this token won the release.")], imageDigest);

  // 5. On the audit trail before the first byte is released.
  const logged = ctx.audit({
    severity: "INFO",
    message: `output released: job ${job}, ${objects.length} object(s) for ${imageDigest}`,
    decision: "allow",
    reasons: [],
    ...base,
    image_digest: imageDigest,
    receipt_jti: receiptClaims.jti,
    objects: receiptClaims.objects,
    ...spent,
  });
  if (!logged) {
    // The marker stays: this token is spent, and the TEE must ask for a new one.
    return errorResponse("verifier_unavailable", "The release could not be recorded; nothing was released. Retry with a new token.");
  }
  // The bytes copied are the ones hashed above, not a server-side copy that could race a change.
  // A failure midway leaves the marker in place on purpose: the token cannot be replayed
  // against a half-released job; the TEE releases again with a new token (same manifest).
  // Create-only: the verifier holds no delete, so nothing released is ever replaced. An object
  // already there with the same bytes is a copy of an earlier, interrupted release of this job
  // (same manifest, new token) and counts as copied; different bytes, or a receipt already
  // there, mean the job was released before, and nothing more is written.
  // On a stage-1 bucket the verifier may create only (no read), so nothing there counts as copied:
  // an interrupted provisioning release is made again by a new run (a new job, a new prefix).
  const copied: string[] = [];
  const { bucket, prefix } = destination;
  const place = async (name: string, bytes: Uint8Array, contentType: string, sameBytesIsDone: boolean) => {
    if (await store.createIfAbsent(bucket, name, bytes, contentType)) return;
    const existing = sameBytesIsDone && destination.readable ? await store.read(bucket, name) : undefined;
    if (!existing || sha256Hex(existing) !== sha256Hex(bytes)) {
      throw new Error(`${bucket}/${name} already exists${existing ? " with other content" : ""}: released results are never replaced`);
    }
  };
  try {
    for (let i = 0; i < objects.length; i++) {
      await place(`${prefix}${objects[i].name}`, contents[i], OBJECT_CONTENT_TYPE, true);
      copied.push(objects[i].name);
    }
    await place(`${prefix}${RELEASE_RECEIPT_OBJECT}`, Buffer.from(receipt, "ascii"), "application/jose", false);
  } catch (err) {
    return fail(
      "release_incomplete",
      `The release failed after ${copied.length} of ${objects.length} object(s) were copied and before the receipt was written; ` +
        "this token is spent. Release again with a new token over the same manifest.",
      `${errorMessage(err)} (copied: ${copied.join(", ") || "none"})`,
      { image_digest: imageDigest, receipt_jti: receiptClaims.jti }
    );
  }
  return jsonResponse(200, {
    decision: "released",
    receipt,
    objects: receiptClaims.objects,
  });
}
