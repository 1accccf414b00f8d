/**
 * Property: whatever arrives — random bytes, random JSON, mutated or forged tokens, odd
 * datasets — the verifier answers with well-formed JSON, never a 5xx, never a crash, and
 * never an allow the policy does not grant. Seeded, so a failure replays.
 */
import { request as httpRequest } from "node:http";
import { generatedSigner } from "../src/signers";
import { startLocalServer, LocalServer } from "../src/node-server";
import { createVerifier, Verifier } from "../src/verifier";
import { EXAMPLE_DIGEST_A } from "../../test/util";
import { NOW_MS, RsaKey, examplePolicyDocument, jwksServer, prng, rawJws, rsaKey, signToken, tokenClaims } from "./helpers";

const doc = examplePolicyDocument().document;
const SEED = 20260601;
let key: RsaKey;
let impostor: RsaKey;
let jwks: Awaited<ReturnType<typeof jwksServer>>;
let verifier: Verifier;
let server: LocalServer;
let valid: string;

beforeAll(async () => {
  [key, impostor] = await Promise.all([rsaKey("cs-key-1"), rsaKey("cs-key-1")]);
  jwks = await jwksServer([key.jwk]);
  verifier = createVerifier({ policy: doc, signer: generatedSigner(), jwks: { url: jwks.url }, clock: () => NOW_MS, log: () => undefined });
  server = await startLocalServer({ verifier, port: 0 });
  valid = await signToken(tokenClaims(doc), key);
});

afterAll(async () => {
  await server.close();
  await jwks.close();
});

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function generators(rand: () => number) {
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const str = (n: number, alphabet = B64URL + '.=+/ {}"\\\u0000é😀') => Array.from({ length: int(n) }, () => pick([...alphabet])).join("");
  const json = (depth: number): unknown => {
    switch (depth <= 0 ? int(5) : int(7)) {
      case 0:
        return null;
      case 1:
        return rand() < 0.5;
      case 2:
        return pick([0, -1, 1e308, -0, 3.14, 2 ** 53 + 1, 11129]);
      case 3:
        return str(20);
      case 4:
        return pick(["insurance", "claims", "__proto__", "constructor", EXAMPLE_DIGEST_A, "STABLE", "JWT", "RS256"]);
      case 5:
        return Array.from({ length: int(4) }, () => json(depth - 1));
      default:
        return Object.fromEntries(
          Array.from({ length: int(4) }, () => [pick(["token", "dataset", "nonce", "alg", "kid", "__proto__", str(6)]), json(depth - 1)])
        );
    }
  };
  const mutate = (t: string): string => {
    const i = int(t.length);
    switch (int(8)) {
      case 0:
        return t.slice(0, i) + pick([...B64URL]) + t.slice(i + 1);
      case 1:
        return t.slice(0, i) + t.slice(i + 1);
      case 2:
        return t.slice(0, i) + pick([...B64URL, ".", "=", " "]) + t.slice(i);
      case 3: {
        const [h, p, s] = t.split(".");
        return pick([`${p}.${h}.${s}`, `${h}.${h}.${s}`, `${h}.${p}`, `${h}.${p}.${s}.${s}`, `${h}..${s}`]);
      }
      case 4:
        return t.slice(0, int(t.length));
      case 5: {
        const [, p, s] = t.split(".");
        const header = {
          alg: pick(["RS256", "rs256", "none", "NONE", "HS256", "ES256", "PS256", "", null, ["RS256"]]),
          kid: pick(["cs-key-1", "", 7, null, str(300)]),
          typ: pick(["JWT", "jwt", undefined, 1]),
        };
        return `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${p}.${s}`;
      }
      case 6: {
        const [h, , s] = t.split(".");
        return `${h}.${Buffer.from(JSON.stringify(json(3))).toString("base64url")}.${s}`;
      }
      default:
        return str(int(3) === 0 ? 3000 : 200, B64URL + ".");
    }
  };
  return { int, pick, str, json, mutate };
}

describe("given a stream of random and adversarial requests", () => {
  it("when each goes to the handler, then every answer is well-formed JSON, never 5xx, never an allow", async () => {
    const rand = prng(SEED);
    const g = generators(rand);
    const forged = await Promise.all([
      signToken(tokenClaims(doc), impostor),
      signToken(tokenClaims(doc, NOW_MS, { aud: "https://sts.googleapis.com" }), impostor),
    ]);
    const tokens = () =>
      g.pick([
        () => g.mutate(valid),
        () => g.mutate(g.mutate(valid)),
        () => g.pick(forged),
        () => rawJws({ alg: "none", kid: "cs-key-1" }, tokenClaims(doc)),
        () => g.str(120),
        () => g.json(2),
      ])();
    const seen = new Map<number, number>();
    let allows = 0;
    for (let i = 0; i < 800; i++) {
      const kind = g.int(4);
      const body =
        kind === 0
          ? Buffer.from(Array.from({ length: g.int(400) }, () => g.int(256)))
          : kind === 1
          ? JSON.stringify(g.json(4))
          : JSON.stringify({
              token: tokens(),
              dataset: g.pick(["insurance", "claims", "payroll", "__proto__", "constructor", g.str(10), 5]),
              ...(g.int(2) ? { nonce: g.pick(["thisIsAcustomNonce", g.str(30), [], 0]) } : {}),
            });
      const res = await verifier.handler({ method: "POST", path: "/v1/verify", headers: { "content-type": "application/json" }, body });
      seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
      expect(res.status).toBeLessThan(500);
      const parsed = JSON.parse(res.body);
      if (res.status === 200) {
        expect(parsed.decision).toBe("deny");
        expect(parsed.receipt).toBeUndefined();
        expect(parsed.reasons.length).toBeGreaterThan(0);
      } else {
        expect(typeof parsed.error.code).toBe("string");
      }
      if (parsed.decision === "allow") allows++;
    }
    expect(allows).toBe(0);
    // The stream really exercised both the request validation and the decision paths.
    expect(seen.get(200)).toBeGreaterThan(200);
    expect(seen.get(400)).toBeGreaterThan(100);
    // And the untouched token is still allowed: the denials above are not a broken verifier.
    const ok = await verifier.handler({
      method: "POST",
      path: "/v1/verify",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: valid, dataset: "insurance", nonce: "thisIsAcustomNonce" }),
    });
    expect(JSON.parse(ok.body).decision).toBe("allow");
  });

  it("when random methods, paths, headers and bytes go over the socket, then the server answers each and keeps serving", async () => {
    const rand = prng(SEED + 1);
    const g = generators(rand);
    for (let i = 0; i < 120; i++) {
      const method = g.pick(["POST", "GET", "PUT", "PATCH", "OPTIONS", "DELETE"]);
      const path = g.pick(["/v1/verify", "/v1/jwks", "/healthz", "/", `/${g.str(20, B64URL)}`, "/v1/verify?x=1", "/%2e%2e/etc"]);
      const contentType = g.pick(["application/json", "application/json; charset=utf-8", "text/plain", "APPLICATION/JSON", undefined]);
      const body = Buffer.from(g.int(2) ? JSON.stringify({ token: g.mutate(valid), dataset: "insurance" }) : g.str(g.int(2000)));
      const status = await new Promise<number>((resolve, reject) => {
        const headers: Record<string, string> = contentType ? { "content-type": contentType } : {};
        const framed = method !== "GET" && method !== "DELETE" && method !== "OPTIONS";
        const req = httpRequest(
          `${server.url}${path}`,
          { method, headers: framed ? { ...headers, "content-length": String(body.length) } : headers },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              expect(() => JSON.parse(Buffer.concat(chunks).toString())).not.toThrow();
              resolve(res.statusCode!);
            });
          }
        );
        req.on("error", reject);
        req.end(framed ? body : undefined);
      });
      expect(status).toBeLessThan(500);
      expect([200, 400, 404, 405, 413, 415]).toContain(status);
    }
  });
});
