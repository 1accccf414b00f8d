/**
 * Test fixtures: real RSA keys, a JWKS served over node:http on 127.0.0.1, tokens shaped
 * like a real production Confidential Space token on TDX (reference/confidential-space.md
 * §6, the EIGENX fixture) and the example clean room's compiled policy.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";
import { CompactSign, exportJWK, generateKeyPair, JWK } from "jose";
import type { CryptoKey } from "jose";
import { compileVerifierPolicy, CompiledVerifierPolicy } from "../../lib/policy/document";
import { EXAMPLE_DIGEST_A, examplePolicy } from "../../test/util";

export type RsaKey = { privateKey: CryptoKey; publicKey: CryptoKey; kid: string; jwk: JWK };

export async function rsaKey(kid: string): Promise<RsaKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  return { privateKey, publicKey, kid, jwk };
}

/** The example clean room's verifier policy, compiled by lib/policy (the real compiler). */
export function examplePolicyDocument(policy = examplePolicy()): CompiledVerifierPolicy {
  return compileVerifierPolicy(policy);
}

/** A fixed "now" inside approval A's validity (it expires 2027-01-31). */
export const NOW_MS = Date.parse("2026-06-01T12:00:00Z");

/** Claims of a production Confidential Space token on TDX, aimed at this clean room. */
export function tokenClaims(
  doc: CompiledVerifierPolicy["document"],
  nowMs = NOW_MS,
  overrides: Record<string, unknown> = {}
): Record<string, unknown> {
  const iat = Math.floor(nowMs / 1000) - 60;
  return {
    aud: doc.audience,
    exp: iat + 3600,
    iat,
    nbf: iat,
    iss: "https://confidentialcomputing.googleapis.com",
    sub: `https://www.googleapis.com/compute/v1/projects/${doc.project}/zones/us-central1-a/instances/manatee-job-42`,
    eat_profile: "https://cloud.google.com/confidential-computing/confidential-space/docs/reference/token-claims",
    secboot: true,
    oemid: 11129,
    hwmodel: "GCP_INTEL_TDX",
    attester_tcb: ["INTEL"],
    swname: "CONFIDENTIAL_SPACE",
    swversion: ["250800"],
    dbgstat: "disabled-since-boot",
    eat_nonce: ["thisIsAcustomNonce", "a3f1c0de9b7e4d2a8c6f5e4d3c2b1a09"],
    submods: {
      confidential_space: { monitoring_enabled: { memory: false }, support_attributes: ["LATEST", "STABLE", "USABLE"] },
      container: {
        image_reference: `us-central1-docker.pkg.dev/${doc.project}/manatee-jobs/job-42@${EXAMPLE_DIGEST_A}`,
        image_digest: EXAMPLE_DIGEST_A,
        restart_policy: "Never",
        image_id: "sha256:338bff3f9f38e9f0d2eb4772f07dcc77baac9b353b521c40344c04a62c003332",
        env: { HOSTNAME: "manatee-job-42", PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
        args: ["/usr/local/bin/python", "/app/run.py"],
      },
      gce: {
        zone: "us-central1-a",
        project_id: doc.project,
        project_number: "889537417991",
        instance_name: "manatee-job-42",
        instance_id: "8114146583384593350",
      },
    },
    tdx: { gcp_attester_tcb_status: "UpToDate", gcp_attester_tcb_date: "2024-03-13T00:00:00Z" },
    google_service_accounts: [doc.teeServiceAccount],
    ...overrides,
  };
}

/** Sign claims as Confidential Space does: RS256, kid, typ JWT. */
export async function signToken(claims: unknown, key: RsaKey, header: Record<string, unknown> = {}): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "JWT", ...header } as { alg: string })
    .sign(key.privateKey);
}

/** An unsigned compact JWS with any header: for alg none and alg confusion. */
export function rawJws(header: unknown, claims: unknown, signature = ""): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${b64(header)}.${b64(claims)}.${signature}`;
}

export interface TestServer {
  readonly url: string;
  readonly hits: () => number;
  close(): Promise<void>;
}

/** A node:http server on 127.0.0.1 (port 0). */
export async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void
): Promise<TestServer & { server: Server }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handler(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A JWKS endpoint whose key set the test can change (rotation). */
export async function jwksServer(keys: JWK[]): Promise<TestServer & { setKeys(keys: JWK[]): void }> {
  let current = keys;
  const s = await serve((_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ keys: current }));
  });
  return { ...s, url: `${s.url}/jwks`, setKeys: (k) => (current = k) };
}

/** Deterministic PRNG (mulberry32) for the property tests: failures replay. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
