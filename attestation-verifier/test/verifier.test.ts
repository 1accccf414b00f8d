/**
 * The verifier's decisions on real signed tokens: real RSA keys, a JWKS served over HTTP,
 * the example clean room's compiled policy (its CEL condition evaluated by @bufbuild/cel),
 * and receipts checked with jose against the verifier's own JWKS endpoint.
 */
import { KeyObject, createHash, createPublicKey, generateKeyPairSync, sign as nodeSign, webcrypto } from "node:crypto";
import { createLocalJWKSet, exportSPKI, jwtVerify } from "jose";
import { AuditRecord } from "../src/audit";
import { generatedSigner } from "../src/signers";
import { createVerifier, Verifier } from "../src/verifier";
import { RECEIPT_TYP } from "../src/receipt";
import { REASONS } from "../src/reasons";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B } from "../../test/util";
import { NOW_MS, RsaKey, examplePolicyDocument, jwksServer, rawJws, rsaKey, signToken, tokenClaims } from "./helpers";
import { noApproverKeys } from "../../test/policy/job-fixtures";

// The standing-approval rules, alone: the example room with per-job approval off. The per-job
// (signature) route is exercised in release.test.ts and at the end of this file.
const compiled = examplePolicyDocument(noApproverKeys());
const doc = compiled.document;
const UNAPPROVED = `sha256:${"ab".repeat(32)}`;
/** The output hash the TEE asked to be bound; every request names it unless a test says otherwise. */
const NONCE = "a3f1c0de9b7e4d2a8c6f5e4d3c2b1a09";
let issued = 0;

let key: RsaKey;
let impostor: RsaKey;
let next: RsaKey;
let jwks: Awaited<ReturnType<typeof jwksServer>>;
let verifier: Verifier;
let now = NOW_MS;
const logs: AuditRecord[] = [];
const tokens: string[] = [];

/**
 * A fresh token: RS256 is deterministic, so each carries one more nonce of its own (as each real
 * token differs), or the verifier would rightly refuse a test's second allow as a replay.
 */
async function token(overrides: Record<string, unknown> = {}, signWith?: RsaKey, header: Record<string, unknown> = {}): Promise<string> {
  const unique = "eat_nonce" in overrides ? {} : { eat_nonce: ["thisIsAcustomNonce", NONCE, `token-${++issued}`] };
  const t = await signToken(tokenClaims(doc, now, { ...unique, ...overrides }), signWith ?? key, header);
  tokens.push(t);
  return t;
}

/** POST /v1/verify; the body names NONCE unless it has a `nonce` key (undefined: none sent). */
async function ask(v: Verifier, body: Record<string, unknown>) {
  if (typeof body.token === "string") tokens.push(body.token);
  const res = await v.handler({
    method: "POST",
    path: "/v1/verify",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify("nonce" in body ? body : { ...body, nonce: NONCE }),
  });
  return {
    status: res.status,
    body: JSON.parse(res.body) as { decision: string; reasons: { code: string; message: string }[]; receipt?: string },
  };
}

const codes = (r: { body: { reasons: { code: string }[] } }) => r.body.reasons.map((x) => x.code);

beforeAll(async () => {
  [key, impostor, next] = await Promise.all([rsaKey("cs-key-1"), rsaKey("cs-key-1"), rsaKey("cs-key-2")]);
  jwks = await jwksServer([key.jwk]);
  verifier = createVerifier({
    policy: doc,
    signer: generatedSigner(),
    jwks: { url: jwks.url },
    clock: () => now,
    log: (r) => logs.push(r),
  });
});

afterAll(() => jwks.close());

beforeEach(() => {
  now = NOW_MS;
});

describe("given a production TDX token of an approved image", () => {
  it("when it asks for a dataset it is approved for, with a nonce it carries, then it is allowed with a verifiable receipt", async () => {
    const t = await token();
    const res = await ask(verifier, { token: t, dataset: "insurance", nonce: NONCE });

    expect(res.status).toBe(200);
    expect(res.body.decision).toBe("allow");
    expect(res.body.reasons).toEqual([]);
    const receipt = res.body.receipt!;

    // The receipt verifies with the keys the verifier publishes, and only as a receipt.
    const served = await verifier.handler({ method: "GET", path: "/v1/jwks", headers: {} });
    expect(served.status).toBe(200);
    const { payload, protectedHeader } = await jwtVerify(receipt, createLocalJWKSet(JSON.parse(served.body)), {
      algorithms: ["ES256"],
      typ: RECEIPT_TYP,
      issuer: doc.audience,
      currentDate: new Date(now),
    });
    expect(protectedHeader).toEqual({ alg: "ES256", kid: verifier.receiptJwks.keys[0].kid, typ: RECEIPT_TYP });
    expect(payload).toEqual({
      iss: doc.audience,
      sub: `https://www.googleapis.com/compute/v1/projects/acme-clean-room/zones/us-central1-a/instances/manatee-job-42`,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      iat: Math.floor(NOW_MS / 1000),
      clean_room: "insurance-study",
      dataset: "insurance",
      image_digest: EXAMPLE_DIGEST_A,
      image_reference: `us-central1-docker.pkg.dev/acme-clean-room/manatee-jobs/job-42@${EXAMPLE_DIGEST_A}`,
      nonce: NONCE,
      token_sha256: createHash("sha256").update(t).digest("hex"),
      token_iat: Math.floor(NOW_MS / 1000) - 60,
      token_exp: Math.floor(NOW_MS / 1000) - 60 + 3600,
      // The same hash `manatee policy` prints for this clean room.
      policy_sha256: compiled.sha256,
      hwmodel: "GCP_INTEL_TDX",
      swversion: ["250800"],
      approval: {
        source: "standing",
        purpose: "XGBoost regression of insurance charges",
        approved_by: "owner@example.org",
        not_after: "2027-02-01T00:00:00Z",
      },
    });

    // The audit record names the token by hash, the receipt by jti, and the nonce it binds.
    expect(logs.at(-1)).toEqual({
      severity: "INFO",
      message: `release allowed: insurance for ${EXAMPLE_DIGEST_A}`,
      decision: "allow",
      reasons: [],
      dataset: "insurance",
      image_digest: EXAMPLE_DIGEST_A,
      token_sha256: payload.token_sha256,
      receipt_jti: payload.jti,
      nonce: NONCE,
      clean_room: "insurance-study",
      policy_sha256: compiled.sha256,
      component: "manatee-attestation-verifier",
    });
  });

  it("when the nonce is a single string (one nonce requested), then it matches", async () => {
    const res = await ask(verifier, {
      token: await token({ eat_nonce: "thisIsAcustomNonce" }),
      dataset: "insurance",
      nonce: "thisIsAcustomNonce",
    });
    expect(res.body.decision).toBe("allow");
  });

  it("when no nonce is requested, then it is denied before the token is even authenticated: the policy requires one", async () => {
    const res = await ask(verifier, { token: await token(), dataset: "insurance", nonce: undefined });
    expect(res.body).toEqual({ decision: "deny", reasons: [{ code: "nonce_required", message: REASONS.nonce_required }] });
    expect(logs.at(-1)).toMatchObject({ decision: "deny", reasons: ["nonce_required"], dataset: "insurance" });
    expect(logs.at(-1)).not.toHaveProperty("nonce");
  });

  it("when image B asks for claims, then the second approval (no expiry) allows it", async () => {
    const res = await ask(verifier, {
      token: await token({ submods: { ...(tokenClaims(doc).submods as object), container: { image_digest: EXAMPLE_DIGEST_B } } }),
      dataset: "claims",
    });
    expect(res.body.decision).toBe("allow");
    const payload = JSON.parse(Buffer.from(res.body.receipt!.split(".")[1], "base64url").toString());
    expect(payload.approval).toEqual({
      source: "standing",
      purpose: "Descriptive statistics of claims by region",
      approved_by: "owner@example.org",
    });
  });

  it("when the token expired 10 s ago, then the 30 s clock tolerance still accepts it", async () => {
    const iat = Math.floor(now / 1000) - 1800;
    const res = await ask(verifier, { token: await token({ iat, nbf: iat, exp: Math.floor(now / 1000) - 10 }), dataset: "insurance" });
    expect(res.body.decision).toBe("allow");
  });
});

describe("given a token that is not authentic, then the decision stops at the first failure", () => {
  const cases: [string, () => Promise<string>, string][] = [
    ["a signature by another key with the same kid", () => token({}, impostor), "token_signature_invalid"],
    ["alg none", async () => rawJws({ alg: "none", typ: "JWT", kid: "cs-key-1" }, tokenClaims(doc, now)), "token_alg_none"],
    [
      "HS256 keyed with the RSA public key (algorithm confusion)",
      async () => {
        const { createHmac } = await import("node:crypto");
        const pem = await exportSPKI(key.publicKey);
        const unsigned = rawJws({ alg: "HS256", typ: "JWT", kid: "cs-key-1" }, tokenClaims(doc, now)).slice(0, -1);
        return `${unsigned}.${createHmac("sha256", pem).update(unsigned).digest("base64url")}`;
      },
      "token_alg_not_allowed",
    ],
    ["a kid the JWKS does not have", () => token({}, undefined, { kid: "not-a-google-key" }), "token_key_unknown"],
    ["no kid", async () => rawJws({ alg: "RS256", typ: "JWT" }, tokenClaims(doc, now), "c2ln"), "token_kid_missing"],
    ["typ other than JWT", () => token({}, undefined, { typ: "at+jwt" }), "token_typ_invalid"],
    ["a JWE-shaped string", async () => "a.b.c.d.e", "token_malformed"],
    [
      "a signature with non-canonical base64url padding bits",
      async () => {
        const t = await token();
        const sig = t.split(".")[2];
        const last = sig.at(-1)!;
        // 256-byte signature: the last character carries 2 unused bits; setting one keeps the bytes.
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const twin = alphabet[alphabet.indexOf(last) ^ 1];
        expect(Buffer.from(sig.slice(0, -1) + twin, "base64url")).toEqual(Buffer.from(sig, "base64url"));
        return t.slice(0, -1) + twin;
      },
      "token_malformed",
    ],
  ];
  it.each(cases)("%s → deny", async (_name, make, code) => {
    const res = await ask(verifier, { token: await make(), dataset: "insurance" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ decision: "deny", reasons: [{ code, message: expect.any(String) }] });
    expect(logs.at(-1)).toMatchObject({ severity: "WARNING", decision: "deny", reasons: [code] });
    // Claims of an unauthenticated token are not trusted, not even for the audit record.
    expect(logs.at(-1)).not.toHaveProperty("image_digest");
  });
});

describe("given an authentic token, then every failing rule is reported", () => {
  const s = Math.floor(NOW_MS / 1000);
  const submods = tokenClaims(doc).submods as Record<string, Record<string, unknown>>;
  const withContainer = (container: Record<string, unknown>) => ({
    submods: { ...submods, container: { ...submods.container, ...container } },
  });
  const cases: [string, Record<string, unknown>, Record<string, unknown>, string[]][] = [
    ["another issuer", { iss: "https://portal.trustauthority.intel.com" }, {}, ["token_issuer_invalid"]],
    ["the STS audience (a token meant for Google, replayed)", { aud: "https://sts.googleapis.com" }, {}, ["token_audience_invalid"]],
    ["an expired token", { iat: s - 1800, nbf: s - 1800, exp: s - 100 }, {}, ["token_expired"]],
    ["a token not valid for another 5 minutes", { iat: s, nbf: s + 300, exp: s + 3600 }, {}, ["token_not_yet_valid"]],
    ["a token issued 2 h ago", { iat: s - 7200, nbf: s - 7200, exp: s + 600 }, {}, ["token_too_old"]],
    ["a token issued in the future", { iat: s + 600, nbf: s, exp: s + 3600 }, {}, ["token_issued_in_future"]],
    ["no exp", { exp: undefined }, {}, ["token_time_claims_invalid"]],
    [
      "a debug image (dbgstat enabled, no support attributes)",
      { dbgstat: "enabled", submods: { ...submods, confidential_space: { monitoring_enabled: { memory: false } } } },
      {},
      // CEL's && is commutative over errors: dbgstat == 'disabled-since-boot' is false, so the whole is false.
      ["attribute_condition_false", "debug_image"],
    ],
    [
      "no support attributes although dbgstat claims production",
      { submods: { ...submods, confidential_space: { monitoring_enabled: { memory: false } } } },
      {},
      ["attribute_condition_error", "debug_image"],
    ],
    [
      "an image that is not STABLE (EXPERIMENTAL only)",
      { submods: { ...submods, confidential_space: { support_attributes: ["EXPERIMENTAL"] } } },
      {},
      ["attribute_condition_false"],
    ],
    ["a VM of another project", withContainerGce({ project_id: "someone-else" }), {}, ["attribute_condition_false"]],
    [
      "another service account",
      { google_service_accounts: ["889537417991-compute@developer.gserviceaccount.com"] },
      {},
      ["attribute_condition_false"],
    ],
    ["AMD SEV hardware, not allowed by the policy", { hwmodel: "GCP_AMD_SEV" }, {}, ["attribute_condition_false"]],
    ["an unapproved digest", withContainer({ image_digest: UNAPPROVED }), {}, ["image_not_approved"]],
    ["a digest approved only for another dataset", {}, { dataset: "claims" }, ["image_not_approved_for_dataset"]],
    ["an unknown dataset", {}, { dataset: "payroll" }, ["dataset_unknown"]],
    ["a nonce mismatch (array form)", {}, { nonce: "some-other-output-hash" }, ["nonce_mismatch"]],
    ["a nonce mismatch (string form)", { eat_nonce: "thisIsAcustomNonce" }, { nonce: "some-other-output-hash" }, ["nonce_mismatch"]],
    ["a nonce requested from a token without eat_nonce", { eat_nonce: undefined }, { nonce: "thisIsAcustomNonce" }, ["nonce_mismatch"]],
    ["image_digest as an array", withContainer({ image_digest: [EXAMPLE_DIGEST_A] }), {}, ["image_digest_invalid"]],
    ["image_digest without the sha256: prefix", withContainer({ image_digest: EXAMPLE_DIGEST_A.slice(7) }), {}, ["image_digest_invalid"]],
    ["eat_nonce as a number", { eat_nonce: 42 }, {}, ["eat_nonce_invalid"]],
    [
      "eat_nonce as an array holding a number",
      { eat_nonce: ["thisIsAcustomNonce", 7] },
      { nonce: "thisIsAcustomNonce" },
      ["eat_nonce_invalid"],
    ],
    [
      "support_attributes as a string",
      { submods: { ...submods, confidential_space: { support_attributes: "STABLE" } } },
      {},
      ["attribute_condition_error", "debug_image"],
    ],
    ["secboot as the string 'true'", { secboot: "true" }, {}, ["attribute_condition_false"]],
    [
      "the STS audience, an unapproved image and a wrong nonce at once",
      { aud: "https://sts.googleapis.com", ...withContainer({ image_digest: UNAPPROVED }) },
      { nonce: "some-other-output-hash" },
      ["token_audience_invalid", "image_not_approved", "nonce_mismatch"],
    ],
  ];

  function withContainerGce(gce: Record<string, unknown>) {
    return { submods: { ...submods, gce: { ...submods.gce, ...gce } } };
  }

  it.each(cases)("%s → deny", async (_name, claims, request, expected) => {
    const res = await ask(verifier, { token: await token(claims), dataset: "insurance", ...request });
    expect(res.status).toBe(200);
    expect(res.body.decision).toBe("deny");
    expect(res.body).not.toHaveProperty("receipt");
    expect(codes(res)).toEqual(expected);
    expect(logs.at(-1)).toMatchObject({ severity: "WARNING", decision: "deny", reasons: expected });
  });

  it("when the approval's last day has passed (notAfter is the first instant it no longer holds), then it is denied", async () => {
    now = Date.parse("2027-01-31T23:59:59Z");
    expect((await ask(verifier, { token: await token(), dataset: "insurance" })).body.decision).toBe("allow");
    now = Date.parse("2027-02-01T00:00:00Z");
    const res = await ask(verifier, { token: await token(), dataset: "insurance" });
    expect(codes(res)).toEqual(["approval_expired"]);
    expect(res.body.reasons[0].message).toContain("2027-02-01T00:00:00Z");
  });
});

describe("given a token signed by the right key but framed unusually, then it is still refused", () => {
  /** Sign any header and payload text with a real key: jose's signer would refuse most of these. */
  const signRaw = (header: unknown, payloadPart: string, privateKey = KeyObject.from(key.privateKey as unknown as webcrypto.CryptoKey)) => {
    const signingInput = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${payloadPart}`;
    return `${signingInput}.${nodeSign("sha256", Buffer.from(signingInput), privateKey).toString("base64url")}`;
  };
  const claimsPart = () => Buffer.from(JSON.stringify(tokenClaims(doc, now))).toString("base64url");
  const HEADER = { alg: "RS256", kid: "cs-key-1", typ: "JWT" };

  it("when the header marks an extension critical (crit), then it is malformed: no extension is understood, none is ignored", async () => {
    for (const crit of [["urn:example:binding"], ["b64"], "b64", []]) {
      const res = await ask(verifier, { token: signRaw({ ...HEADER, crit, b64: true }, claimsPart()), dataset: "insurance" });
      expect(res.body).toEqual({
        decision: "deny",
        reasons: [{ code: "token_malformed", message: `${REASONS.token_malformed} The header declares critical extensions (crit).` }],
      });
    }
  });

  it("when the payload part has 4n + 1 characters (not decodable base64url), then it is malformed although the signature covers it", async () => {
    let part = claimsPart();
    while (part.length % 4 !== 1) part += "A";
    const res = await ask(verifier, { token: signRaw(HEADER, part), dataset: "insurance" });
    expect(res.body.reasons).toEqual([
      { code: "token_malformed", message: `${REASONS.token_malformed} A part is empty or not base64url.` },
    ]);
  });

  it("when the header is not UTF-8, then it is malformed", async () => {
    const header = Buffer.concat([Buffer.from('{"alg":"RS256","kid":"cs-key-1","x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const signingInput = `${header.toString("base64url")}.${claimsPart()}`;
    const signature = nodeSign("sha256", Buffer.from(signingInput), KeyObject.from(key.privateKey as unknown as webcrypto.CryptoKey));
    const res = await ask(verifier, { token: `${signingInput}.${signature.toString("base64url")}`, dataset: "insurance" });
    expect(codes(res)).toEqual(["token_malformed"]);
  });

  it("when the signature is valid and the payload is not UTF-8, then the payload is invalid", async () => {
    const payload = Buffer.concat([Buffer.from('{"iss":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]).toString("base64url");
    const res = await ask(verifier, { token: signRaw(HEADER, payload), dataset: "insurance" });
    expect(codes(res)).toEqual(["token_payload_invalid"]);
  });

  it("when the signature is cut to half its length (still canonical base64url), then it does not verify", async () => {
    const [h, p, sig] = signRaw(HEADER, claimsPart()).split(".");
    const half = Buffer.from(sig, "base64url").subarray(0, 128).toString("base64url");
    const res = await ask(verifier, { token: `${h}.${p}.${half}`, dataset: "insurance" });
    expect(res.body.reasons).toEqual([{ code: "token_signature_invalid", message: REASONS.token_signature_invalid }]);
  });

  it("when the JWKS publishes the kid with a 1024-bit RSA key, then the signature is not trusted (RS256 needs 2048 bits)", async () => {
    const weak = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const weakJwks = await jwksServer([{ ...weak.publicKey.export({ format: "jwk" }), kid: "cs-weak", alg: "RS256", use: "sig" }]);
    try {
      const v = createVerifier({
        policy: doc,
        signer: generatedSigner(),
        jwks: { url: weakJwks.url },
        clock: () => now,
        log: (r) => logs.push(r),
      });
      const res = await ask(v, { token: signRaw({ ...HEADER, kid: "cs-weak" }, claimsPart(), weak.privateKey), dataset: "insurance" });
      expect(codes(res)).toEqual(["token_signature_invalid"]);
      expect(res.body.reasons[0].message).toContain("RS256 needs an RSA public key of at least 2048 bits");
    } finally {
      await weakJwks.close();
    }
  });
});

describe("given the JWKS endpoint", () => {
  it("when it is down before any key was fetched, then the verifier denies (fails closed)", async () => {
    const down = await jwksServer([key.jwk]);
    await down.close();
    const v = createVerifier({
      policy: doc,
      signer: generatedSigner(),
      jwks: { url: down.url, timeoutMs: 1000 },
      clock: () => now,
      log: (r) => logs.push(r),
    });
    const res = await ask(v, { token: await token(), dataset: "insurance" });
    expect(res.body.decision).toBe("deny");
    expect(codes(res)).toEqual(["jwks_unavailable"]);
  });

  it("when it goes down and the cached keys grow stale, then the verifier denies instead of trusting old keys", async () => {
    const flaky = await jwksServer([key.jwk]);
    const v = createVerifier({
      policy: doc,
      signer: generatedSigner(),
      jwks: { url: flaky.url, cacheMaxAgeMs: 50 },
      clock: () => now,
      log: (r) => logs.push(r),
      prefetchJwks: false,
    });
    expect((await ask(v, { token: await token(), dataset: "insurance" })).body.decision).toBe("allow");
    await flaky.close();
    await new Promise((r) => setTimeout(r, 80));
    expect(codes(await ask(v, { token: await token(), dataset: "insurance" }))).toEqual(["jwks_unavailable"]);
  });

  it("when Google rotates to a new kid, then tokens signed with it are accepted once the cooldown has passed", async () => {
    const rotating = await jwksServer([key.jwk]);
    const v = createVerifier({
      policy: doc,
      signer: generatedSigner(),
      jwks: { url: rotating.url, cooldownMs: 200 },
      clock: () => now,
      log: (r) => logs.push(r),
      prefetchJwks: false,
    });
    try {
      expect((await ask(v, { token: await token(), dataset: "insurance" })).body.decision).toBe("allow");
      rotating.setKeys([key.jwk, next.jwk]);
      // Within the cooldown the cached set is kept: an unknown kid cannot force a refetch per request.
      expect(codes(await ask(v, { token: await token({}, next), dataset: "insurance" }))).toEqual(["token_key_unknown"]);
      expect(rotating.hits()).toBe(1);
      await new Promise((r) => setTimeout(r, 250));
      expect((await ask(v, { token: await token({}, next), dataset: "insurance" })).body.decision).toBe("allow");
      expect(rotating.hits()).toBe(2);
      // The old key keeps working while it is still published.
      expect((await ask(v, { token: await token(), dataset: "insurance" })).body.decision).toBe("allow");
    } finally {
      await rotating.close();
    }
  });
});

describe("given an audit sink that fails", () => {
  it("when the policy allows, then nothing is released: an allow must be on the audit trail first", async () => {
    const v = createVerifier({
      policy: doc,
      signer: generatedSigner(),
      jwks: { url: jwks.url },
      clock: () => now,
      log: () => {
        throw new Error("disk full");
      },
    });
    const res = await v.handler({
      method: "POST",
      path: "/v1/verify",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: await token(), dataset: "insurance", nonce: NONCE }),
    });
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toEqual({
      error: { code: "verifier_unavailable", message: "The decision could not be recorded; nothing was released. Retry later with a new token." },
    });
  });
});

describe("given the verifier's construction", () => {
  it("when the clock tolerance exceeds 60 s, then it refuses naming the option", () => {
    expect(() => createVerifier({ policy: doc, signer: generatedSigner(), clockToleranceSec: 120 })).toThrow(
      "clockToleranceSec: expected 0 to 60 seconds, got 120. Larger skews hide clock problems; fix the clock instead."
    );
  });

  it("when the JWKS URL is plain http to a remote host, then it refuses", () => {
    expect(() => createVerifier({ policy: doc, signer: generatedSigner(), jwks: { url: "http://example.org/jwks" } })).toThrow(
      "jwks.url: http://example.org/jwks must use https (plain http is accepted for 127.0.0.1/localhost only, for tests)."
    );
  });

  it("when the policy is not a valid document, then it refuses before answering anything", () => {
    expect(() => createVerifier({ policy: { ...doc, version: 2 }, signer: generatedSigner() })).toThrow(
      "policy.version: expected 1, got number 2. Regenerate it with `npx manatee policy` from the clean-room config."
    );
  });
});

describe("given malformed requests that carry a real token", () => {
  it.each<[string, (t: string) => string]>([
    ["truncated JSON", (t) => `{"token":"${t}","dataset":"insurance"`],
    ["a numeric dataset", (t) => JSON.stringify({ token: t, dataset: 7 })],
    ["the token under an unknown field", (t) => JSON.stringify({ token: "x.y.z", dataset: "insurance", tokens: [t] })],
    ["the token as the dataset", (t) => JSON.stringify({ token: t, dataset: t })],
  ])("when the body is %s, then it is rejected (and logged) without the token", async (_name, body) => {
    const t = await token();
    const res = await verifier.handler({
      method: "POST",
      path: "/v1/verify",
      headers: { "content-type": "application/json" },
      body: body(t),
    });
    expect(res.status).toBe(400);
    expect(logs.at(-1)).toMatchObject({ severity: "WARNING", decision: "rejected" });
    // Errors name the problem, never the parser's view of the input.
    expect(res.body).not.toContain(t.split(".")[2]);
  });
});

describe("given everything above was logged", () => {
  it("then every decision is one structured record, and no token ever appears in any of them", () => {
    expect(logs.length).toBeGreaterThan(40);
    const text = logs.map((l) => JSON.stringify(l)).join("\n");
    for (const t of tokens) {
      expect(text).not.toContain(t);
      // Not even the signature part, the piece that makes the token a credential.
      const signature = t.split(".")[2];
      if (signature && signature.length > 20) expect(text).not.toContain(signature);
    }
    for (const l of logs) {
      expect(["INFO", "WARNING", "ERROR"]).toContain(l.severity);
      expect(l.policy_sha256).toBe(compiled.sha256);
      expect(l.clean_room).toBe("insurance-study");
    }
  });
});

describe("given the receipt key", () => {
  it("then /v1/jwks serves only the public half, with an RFC 7638 thumbprint kid", async () => {
    const res = await verifier.handler({ method: "GET", path: "/v1/jwks", headers: {} });
    const { keys } = JSON.parse(res.body);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toEqual({
      kty: "EC",
      crv: "P-256",
      x: expect.any(String),
      y: expect.any(String),
      kid: expect.any(String),
      alg: "ES256",
      use: "sig",
    });
    expect(keys[0]).not.toHaveProperty("d");
    const thumb = createHash("sha256").update(`{"crv":"P-256","kty":"EC","x":"${keys[0].x}","y":"${keys[0].y}"}`).digest("base64url");
    expect(keys[0].kid).toBe(thumb);
    expect(createPublicKey({ key: keys[0], format: "jwk" }).asymmetricKeyType).toBe("ec");
  });
});

describe("given the example room, where insurance also takes per-job approvals", () => {
  it("when an unapproved image without a signature asks for insurance, then both routes' reasons are reported", async () => {
    const withJobs = examplePolicyDocument();
    expect(withJobs.document.jobApprovals?.map((j) => j.dataset)).toEqual(["insurance"]);
    const key = await rsaKey("kid-jobs");
    const jwks = await jwksServer([key.jwk]);
    try {
      const v = createVerifier({ policy: withJobs.document, signer: generatedSigner(), jwks: { url: jwks.url }, clock: () => NOW_MS, log: () => undefined });
      const claims = tokenClaims(withJobs.document);
      const container = (claims.submods as Record<string, Record<string, unknown>>).container;
      const digest = `sha256:${"7".repeat(64)}`;
      const token = await signToken({ ...claims, submods: { ...(claims.submods as object), container: { ...container, image_digest: digest } } }, key);
      const res = await v.handler({ method: "POST", path: "/v1/verify", headers: { "content-type": "application/json" }, body: JSON.stringify({ token, dataset: "insurance", nonce: NONCE }) });
      const body = JSON.parse(res.body) as { decision: string; reasons: { code: string }[] };
      expect(body.decision).toBe("deny");
      expect(body.reasons.map((r) => r.code)).toEqual(expect.arrayContaining(["image_not_approved", "job_signature_missing"]));
    } finally {
      await jwks.close();
    }
  });
});
