/**
 * The verifier core: `createVerifier(...)` validates everything once and returns a pure
 * `handler(request) → response`. Routes:
 *   POST /v1/verify   {"token", "dataset", "nonce"} → {"decision", "reasons", "receipt"?}
 *                     (nonce optional only when the policy says requireNonce: false; each token is decided once)
 *   POST /v1/release  {"token", "job", "datasets", "objects"} → {"decision": "released", "receipt", "objects"}
 *                     or {"decision": "deny", "reasons"} (release.ts)
 *   GET  /v1/jwks     the receipt public keys
 *   GET  /healthz     liveness
 */
import { AuditRecord, AuditSink, stdoutSink } from "./audit";
import { budgetLedger } from "./budget";
import { Decide, decisionFor } from "./decision";
import { verifyPartySignatures } from "./party-approvals";
import { ObjectStore } from "./object-store";
import { DEFAULT_MAX_RELEASE_BYTES, RELEASE_REQUEST_FIELDS, parseReleaseRequest, release } from "./release";
import { MAX_BODY_BYTES, VerifierRequest, VerifierResponse, errorResponse, header, jsonResponse, jsonTextResponse } from "./http";
import { VerifierPolicyDocument, errorMessage, preparePolicy, requiresNonce, sha256Hex } from "./policy";
import { Reason, RequestErrorCode, reason } from "./reasons";
import { ReplayStore, replayGuard } from "./replay";
import { receiptClaims, signReceipt } from "./receipt";
import { ReceiptPublicJwk, ReceiptSigner } from "./signers";
import { GOOGLE_CONFIDENTIAL_SPACE_JWKS_URL, JwksOptions, authenticate, checkTokenClaims, remoteKeyResolver } from "./token";

export interface VerifierOptions {
  /** The verifier policy document (`npx manatee policy`); validated here, and refused when invalid. */
  readonly policy: VerifierPolicyDocument | unknown;
  /** Signs release receipts (Cloud KMS in production, a local key in development). */
  readonly signer: ReceiptSigner;
  /**
   * Where and how the Confidential Space token signing keys are fetched.
   * @default Google's Confidential Space JWKS, 10 min cache, 30 s cooldown, 3 s timeout
   */
  readonly jwks?: JwksOptions;
  /**
   * The receipts' `iss`.
   * @default the policy's audience (the verifier's own identity toward the TEE)
   */
  readonly receiptIssuer?: string;
  /**
   * Accepted clock skew on exp, nbf and iat, in seconds (at most 60).
   * @default 30
   */
  readonly clockToleranceSec?: number;
  /**
   * Maximum token age (now - iat) in seconds (at most 3600, a Confidential Space token's lifetime).
   * @default 3600
   */
  readonly maxTokenAgeSec?: number;
  /**
   * The verifier's clock in epoch milliseconds (token times, approval expiry, receipt iat).
   * @default Date.now
   */
  readonly clock?: () => number;
  /**
   * Where audit records go.
   * @default one JSON line per record on stdout (Cloud Logging's structured format)
   */
  readonly log?: AuditSink;
  /**
   * Fetch the token signing keys at creation, so the first request does not wait for them.
   * @default true
   */
  readonly prefetchJwks?: boolean;
  /**
   * Where `POST /v1/release` reads quarantined outputs and writes released ones (the buckets
   * are the policy's `release`). Without it, or without `release` in the policy, the route
   * answers 404 release_not_configured.
   * @default none
   */
  readonly objectStore?: ObjectStore;
  /**
   * Largest total size of one release's objects, in bytes (they are held in memory between
   * the hash check and the copy).
   * @default 128 MiB
   */
  readonly maxReleaseBytes?: number;
  /**
   * Where once-only markers `replay/<sha256(token)>` are created before a token is allowed: the
   * audit bucket, shared by every instance (replay.ts).
   * @default this process's memory: a replay reaching another instance is not caught (tests, local use)
   */
  readonly replayStore?: ReplayStore;
}

export interface Verifier {
  readonly handler: (request: VerifierRequest) => Promise<VerifierResponse>;
  readonly policy: VerifierPolicyDocument;
  /** Hex SHA-256 of the canonical policy: equal to `manatee policy`'s. */
  readonly policySha256: string;
  readonly jwksUrl: string;
  readonly receiptJwks: { readonly keys: readonly ReceiptPublicJwk[] };
  /** Where the receipt key lives (Cloud KMS key version, file, or ephemeral), never key material. */
  readonly receiptSigner: string;
  /** Where releases read and write, when `POST /v1/release` is configured. */
  readonly releaseStore?: string;
  /** Where the once-only markers of /v1/verify decisions are created. */
  readonly replayStore: string;
}

const REQUEST_FIELDS = ["token", "dataset", "nonce"];
const UTF8 = new TextDecoder("utf-8", { fatal: true });
const MAX_DATASET_CHARS = 256;
const MAX_NONCE_CHARS = 512;

export function createVerifier(options: VerifierOptions): Verifier {
  const { document: policy, sha256: sha, condition, jobConditions } = preparePolicy(options.policy);
  const tolerance = options.clockToleranceSec ?? 30;
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > 60) {
    throw new Error(
      `clockToleranceSec: expected 0 to 60 seconds, got ${tolerance}. Larger skews hide clock problems; fix the clock instead.`
    );
  }
  const maxAge = options.maxTokenAgeSec ?? 3600;
  if (!Number.isFinite(maxAge) || maxAge <= 0 || maxAge > 3600) {
    throw new Error(`maxTokenAgeSec: expected 1 to 3600 seconds, got ${maxAge}. Confidential Space tokens live one hour.`);
  }
  const signer = options.signer;
  if (!signer || signer.alg !== "ES256" || typeof signer.sign !== "function") {
    throw new Error("signer: expected an ES256 ReceiptSigner (kmsSigner, fileSigner or generatedSigner).");
  }
  const keys = remoteKeyResolver(options.jwks);
  if (options.prefetchJwks ?? true) keys.reload().catch(() => undefined); // a failure is retried, and reported, per request
  const clock = options.clock ?? Date.now;
  const log = options.log ?? stdoutSink;
  const issuer = options.receiptIssuer ?? policy.audience;
  const rules = { audience: policy.audience, clockToleranceSec: tolerance, maxTokenAgeSec: maxAge };
  const maxReleaseBytes = options.maxReleaseBytes ?? DEFAULT_MAX_RELEASE_BYTES;
  if (!Number.isInteger(maxReleaseBytes) || maxReleaseBytes <= 0) {
    throw new Error(`maxReleaseBytes: expected a positive integer, got ${maxReleaseBytes}.`);
  }
  const store = options.objectStore;
  if (store !== undefined && (typeof store.read !== "function" || typeof store.createIfAbsent !== "function" || typeof store.write !== "function")) {
    throw new Error("objectStore: expected an ObjectStore (localObjectStore or gcsObjectStore).");
  }
  const replay = replayGuard(options.replayStore);
  const nonceRequired = requiresNonce(policy);
  const receiptJwks = { keys: [signer.publicJwk] };
  const receiptJwksBody = JSON.stringify(receiptJwks);

  /** Record one decision; false when the sink failed. */
  const context = { clean_room: policy.cleanRoom, policy_sha256: sha, component: "manatee-attestation-verifier" } as const;
  const audit = (record: Omit<AuditRecord, "clean_room" | "policy_sha256" | "component">): boolean => {
    try {
      // Completed in place: each caller passes a fresh literal, and copying it with a spread of
      // varying shapes cost ~3 µs per decision on the event loop.
      log(Object.assign(record, context));
      return true;
    } catch {
      return false;
    }
  };
  // The parties' approvals signatures are verified once, now; decisions wait for the result
  // (jose verifies asynchronously). A void signature is logged here and named in each denial.
  const decisionReady: Promise<Decide> = verifyPartySignatures(policy).then((signatures) => {
    for (const [party, s] of signatures) {
      if (s.state === "void") {
        audit({ severity: "WARNING", message: `party ${party}: approvals void, ${s.why}`, decision: "error", reasons: ["party_approvals_unsigned"] });
      }
    }
    return decisionFor(policy, condition, jobConditions, signatures);
  });
  let decideNow: Decide | undefined;
  const decision = async (): Promise<Decide> => (decideNow ??= await decisionReady);

  const reject = (
    code: RequestErrorCode,
    message: string,
    extra: { token_sha256?: string; dataset?: string } = {},
    headers: Record<string, string> = {}
  ): VerifierResponse => {
    audit({ severity: "WARNING", message: `request rejected: ${code}`, decision: "rejected", reasons: [code], ...extra });
    return errorResponse(code, message, headers);
  };

  /** The JSON object a POST carries, or the 4xx that refuses it. Strict: only `allowed` fields. */
  function readBody(
    req: VerifierRequest,
    allowed: readonly string[],
    shape: string
  ): { fields: Record<string, unknown> } | { refused: VerifierResponse } {
    const body = req.body ?? "";
    const size = typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
    const refuse = (code: RequestErrorCode, message: string) => ({ refused: reject(code, message) });
    if (size > MAX_BODY_BYTES) return refuse("payload_too_large", `The body exceeds ${MAX_BODY_BYTES} bytes.`);
    const contentType = header(req, "content-type")?.split(";")[0].trim().toLowerCase();
    if (contentType !== "application/json") {
      return refuse("unsupported_media_type", "Send the request as Content-Type: application/json.");
    }
    let text: string;
    try {
      text = typeof body === "string" ? body : UTF8.decode(body);
    } catch {
      return refuse("invalid_json", "The body is not UTF-8.");
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Never echo the parser's message: it quotes the body, and the body holds the token.
      return refuse("invalid_json", "The body is not JSON.");
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      return refuse("invalid_request", `The body must be a JSON object ${shape}.`);
    }
    const fields = parsed as Record<string, unknown>;
    const unknown = Object.keys(fields).filter((k) => !allowed.includes(k));
    if (unknown.length > 0) {
      // Strict, so a misspelt "nonces" is never silently ignored (and the release unbound).
      return refuse(
        "unknown_field",
        `Unknown field(s) ${unknown
          .slice(0, 5)
          .map((k) => JSON.stringify(k.slice(0, 40)))
          .join(", ")}; allowed: ${allowed.join(", ")}.`
      );
    }
    return { fields };
  }

  async function verify(req: VerifierRequest): Promise<VerifierResponse> {
    const nowMs = clock();
    const read = readBody(req, REQUEST_FIELDS, '{"token", "dataset", "nonce"?}');
    if ("refused" in read) return read.refused;
    const { token, dataset, nonce } = read.fields;
    if (typeof token !== "string" || token === "")
      return reject("invalid_request", "token: expected a non-empty string (the attestation token).");
    const tokenSha256 = sha256Hex(token);
    if (typeof dataset !== "string" || dataset === "" || dataset.length > MAX_DATASET_CHARS) {
      return reject("invalid_request", `dataset: expected a non-empty string of at most ${MAX_DATASET_CHARS} characters.`, {
        token_sha256: tokenSha256,
      });
    }
    if (nonce !== undefined && (typeof nonce !== "string" || nonce === "" || nonce.length > MAX_NONCE_CHARS)) {
      return reject("invalid_request", `nonce: when present, expected a non-empty string of at most ${MAX_NONCE_CHARS} characters.`, {
        token_sha256: tokenSha256,
        dataset,
      });
    }

    const nonceField = nonce === undefined ? {} : { nonce: nonce as string };
    const deny = (reasons: Reason[], imageDigest?: string): VerifierResponse => {
      audit({
        severity: "WARNING",
        message: `release denied: ${reasons.map((r) => r.code).join(", ")}`,
        decision: "deny",
        reasons: reasons.map((r) => r.code),
        dataset,
        ...(imageDigest ? { image_digest: imageDigest } : {}),
        token_sha256: tokenSha256,
        ...nonceField,
      });
      return jsonResponse(200, { decision: "deny", reasons });
    };
    // Before the token is even authenticated: a request without a nonce cannot be allowed.
    if (nonce === undefined && nonceRequired) return deny([reason("nonce_required")]);

    const auth = await authenticate(token, keys);
    if (!auth.ok) return deny(auth.reasons);
    const reasons = checkTokenClaims(auth.claims, rules, nowMs);
    const decide = await decision();
    const decided = decide({ claims: auth.claims, dataset, nonce: nonce as string | undefined, nowMs });
    reasons.push(...decided.reasons);
    if (reasons.length > 0 || !decided.grantedBy || !decided.imageDigest) return deny(reasons, decided.imageDigest);

    const claims = receiptClaims({
      issuer,
      cleanRoom: policy.cleanRoom,
      dataset,
      imageDigest: decided.imageDigest,
      nonce: nonce as string | undefined,
      tokenSha256,
      policySha256: sha,
      claims: auth.claims,
      grantedBy: decided.grantedBy,
      party: decided.party,
      nowMs,
    });
    let receipt: string;
    try {
      receipt = await signReceipt(signer, claims);
    } catch (err) {
      audit({
        severity: "ERROR",
        message: `release allowed by policy but the receipt could not be signed: ${errorMessage(err)}`,
        decision: "error",
        reasons: ["signer_unavailable"],
        dataset,
        image_digest: decided.imageDigest,
        token_sha256: tokenSha256,
      });
      return errorResponse("signer_unavailable", "The receipt could not be signed; retry later.", { "retry-after": "5" });
    }
    // Signed first, so a signer outage does not spend the token; marked before anyone sees the receipt.
    let first: boolean;
    try {
      first = await replay.claim(tokenSha256, { decision: "allow", token_sha256: tokenSha256, receipt_jti: claims.jti, dataset, ...nonceField, policy_sha256: sha, at: claims.iat });
    } catch (err) {
      audit({
        severity: "ERROR",
        message: `release allowed by policy but the once-only marker could not be created: ${errorMessage(err)}`,
        decision: "error",
        reasons: ["storage_unavailable"],
        dataset,
        image_digest: decided.imageDigest,
        token_sha256: tokenSha256,
        ...nonceField,
      });
      // Unknown whether the marker exists: a retry is either allowed or refused as a replay.
      return errorResponse("storage_unavailable", "The decision could not be marked once-only; nothing was released. Retry later.", {
        "retry-after": "5",
      });
    }
    if (!first) return deny([reason("token_replayed")], decided.imageDigest);
    const recorded = audit({
      severity: "INFO",
      message: `release allowed: ${dataset} for ${decided.imageDigest}`,
      decision: "allow",
      reasons: [],
      dataset,
      image_digest: decided.imageDigest,
      token_sha256: tokenSha256,
      receipt_jti: claims.jti,
      ...nonceField,
    });
    // An allow that is not on the audit trail is not released (and the token is spent: retry with a new one).
    if (!recorded)
      return errorResponse("verifier_unavailable", "The decision could not be recorded; nothing was released. Retry later with a new token.", {
        "retry-after": "5",
      });
    // A compact JWS is base64url and dots, nothing JSON must escape: the body is written, not serialised.
    return jsonTextResponse(200, `{"decision":"allow","reasons":[],"receipt":"${receipt}"}`);
  }

  const releaseContext =
    policy.release && store
      ? {
          settings: policy.release,
          store,
          keys,
          rules,
          signer,
          issuer,
          cleanRoom: policy.cleanRoom,
          policySha256: sha,
          maxBytes: maxReleaseBytes,
          audit,
          // Next to the replay markers, in the audit bucket shared by every instance.
          ...(policy.budgets ? { ledger: budgetLedger(policy.budgets, options.replayStore) } : {}),
        }
      : undefined;

  async function releaseRoute(req: VerifierRequest): Promise<VerifierResponse> {
    const nowMs = clock();
    if (!releaseContext) {
      return reject(
        "release_not_configured",
        policy.release
          ? "This verifier has no object store for releases; nothing can be released."
          : "The policy has no release settings (no job path in this room); nothing can be released."
      );
    }
    const read = readBody(req, RELEASE_REQUEST_FIELDS, '{"token", "job", "datasets", "objects"}');
    if ("refused" in read) return read.refused;
    const parsed = parseReleaseRequest(read.fields);
    if (!parsed.ok) {
      const token = read.fields.token;
      return reject("invalid_request", parsed.message, typeof token === "string" && token !== "" ? { token_sha256: sha256Hex(token) } : {});
    }
    return release({ ...releaseContext, decide: await decision() }, parsed.request, nowMs);
  }

  const routes: Record<string, { method: string; run: (req: VerifierRequest) => Promise<VerifierResponse> | VerifierResponse }> = {
    "/v1/verify": { method: "POST", run: verify },
    "/v1/release": { method: "POST", run: releaseRoute },
    "/v1/jwks": {
      method: "GET",
      run: () => ({
        status: 200,
        headers: {
          "content-type": "application/jwk-set+json",
          "cache-control": "public, max-age=300",
          "x-content-type-options": "nosniff",
        },
        body: receiptJwksBody,
      }),
    },
    "/healthz": { method: "GET", run: () => jsonResponse(200, { status: "ok", policy_sha256: sha }) },
  };

  async function handler(req: VerifierRequest): Promise<VerifierResponse> {
    try {
      const path = typeof req.path === "string" ? req.path.split("?")[0] : "";
      const route = Object.prototype.hasOwnProperty.call(routes, path) ? routes[path] : undefined;
      if (!route)
        return reject(
          "not_found",
          `No route ${JSON.stringify(path.slice(0, 100))}; the routes are POST /v1/verify, POST /v1/release, GET /v1/jwks, GET /healthz.`
        );
      if (req.method !== route.method) {
        return reject("method_not_allowed", `${path} accepts ${route.method} only.`, {}, { allow: route.method });
      }
      return await route.run(req);
    } catch (err) {
      audit({ severity: "ERROR", message: `internal error: ${errorMessage(err)}`, decision: "error", reasons: ["internal_error"] });
      return errorResponse("internal_error", "The verifier failed; nothing was released.");
    }
  }

  return {
    handler,
    policy,
    policySha256: sha,
    jwksUrl: options.jwks?.url ?? GOOGLE_CONFIDENTIAL_SPACE_JWKS_URL,
    receiptJwks,
    receiptSigner: signer.description,
    replayStore: replay.description,
    ...(releaseContext ? { releaseStore: store?.description ?? "custom object store" } : {}),
  };
}
