/**
 * The HTTP contract through the real adapters: node:http (with the 64 KiB cap enforced
 * while streaming) and the Cloud Functions adapter (Express-like req/res, rawBody).
 */
import { request as httpRequest } from "node:http";
import { ServerResponse, IncomingMessage } from "node:http";
import { Socket } from "node:net";
import { cloudFunction, FunctionRequest } from "../src/cloud-function";
import { AuditRecord } from "../src/audit";
import { startLocalServer, LocalServer } from "../src/node-server";
import { generatedSigner } from "../src/signers";
import { createVerifier, Verifier } from "../src/verifier";
import { NOW_MS, RsaKey, examplePolicyDocument, jwksServer, rsaKey, signToken, tokenClaims } from "./helpers";

const doc = examplePolicyDocument().document;
let key: RsaKey;
let jwks: Awaited<ReturnType<typeof jwksServer>>;
let verifier: Verifier;
let server: LocalServer;
const logs: AuditRecord[] = [];

beforeAll(async () => {
  key = await rsaKey("cs-key-1");
  jwks = await jwksServer([key.jwk]);
  verifier = createVerifier({
    policy: doc,
    signer: generatedSigner(),
    jwks: { url: jwks.url },
    clock: () => NOW_MS,
    log: (r) => logs.push(r),
  });
  server = await startLocalServer({ verifier, port: 0 });
});

afterAll(async () => {
  await server.close();
  await jwks.close();
});

type Reply = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

function send(
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: Buffer | string; chunks?: Buffer[] } = {}
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${server.url}${path}`, { method, headers: opts.headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString() }));
    });
    // The server may close after answering an oversized body; the answer is what counts.
    req.on("error", (err) =>
      (err as NodeJS.ErrnoException).code === "EPIPE" || (err as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(err)
    );
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else req.end(opts.body);
  });
}

const JSON_HEADERS = { "content-type": "application/json" };
const error = (r: Reply) => JSON.parse(r.body).error as { code: string; message: string };

describe("given the local node:http server", () => {
  it("when a valid token is posted, then it answers allow with a receipt", async () => {
    const token = await signToken(tokenClaims(doc), key);
    const r = await send("POST", "/v1/verify", { headers: JSON_HEADERS, body: JSON.stringify({ token, dataset: "insurance", nonce: "thisIsAcustomNonce" }) });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(r.headers["cache-control"]).toBe("no-store");
    expect(JSON.parse(r.body)).toEqual({ decision: "allow", reasons: [], receipt: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) });
  });

  it.each([
    ["not JSON", JSON_HEADERS, "{token:", 400, "invalid_json", "The body is not JSON."],
    ["garbage bytes", JSON_HEADERS, Buffer.from([0xff, 0xfe, 0x00, 0x9c, 0x80, 0x81]), 400, "invalid_json", "The body is not UTF-8."],
    ["a JSON array", JSON_HEADERS, "[1,2]", 400, "invalid_request", 'The body must be a JSON object {"token", "dataset", "nonce"?}.'],
    [
      "no token",
      JSON_HEADERS,
      '{"dataset":"insurance"}',
      400,
      "invalid_request",
      "token: expected a non-empty string (the attestation token).",
    ],
    [
      "a numeric dataset",
      JSON_HEADERS,
      '{"token":"x.y.z","dataset":7}',
      400,
      "invalid_request",
      "dataset: expected a non-empty string of at most 256 characters.",
    ],
    [
      "a null nonce",
      JSON_HEADERS,
      '{"token":"x.y.z","dataset":"insurance","nonce":null}',
      400,
      "invalid_request",
      "nonce: when present, expected a non-empty string of at most 512 characters.",
    ],
    [
      "a misspelt field",
      JSON_HEADERS,
      '{"token":"x.y.z","dataset":"insurance","nonces":["a"]}',
      400,
      "unknown_field",
      'Unknown field(s) "nonces"; allowed: token, dataset, nonce.',
    ],
    [
      "a form post",
      { "content-type": "application/x-www-form-urlencoded" },
      "token=x",
      415,
      "unsupported_media_type",
      "Send the request as Content-Type: application/json.",
    ],
  ] as const)("when the body is %s, then it answers 4xx with a JSON error", async (_name, headers, body, status, code, message) => {
    const r = await send("POST", "/v1/verify", { headers, body });
    expect(r.status).toBe(status);
    expect(error(r)).toEqual({ code, message });
    expect(logs.at(-1)).toMatchObject({ severity: "WARNING", decision: "rejected", reasons: [code] });
  });

  it("when the body exceeds 64 KiB with a Content-Length, then it answers 413 without reading it", async () => {
    const r = await send("POST", "/v1/verify", { headers: JSON_HEADERS, body: Buffer.alloc(65 * 1024, 0x61) });
    expect(r.status).toBe(413);
    expect(error(r).code).toBe("payload_too_large");
    expect(r.headers.connection).toBe("close");
  });

  it("when a chunked body grows past 64 KiB while streaming, then it answers 413", async () => {
    const chunks = Array.from({ length: 40 }, () => Buffer.alloc(4096, 0x61)); // 160 KiB, no Content-Length
    const r = await send("POST", "/v1/verify", { headers: { ...JSON_HEADERS, "transfer-encoding": "chunked" }, chunks });
    expect(r.status).toBe(413);
    expect(error(r).code).toBe("payload_too_large");
  });

  it("when a body of exactly 64 KiB arrives, then it is parsed (the cap is inclusive)", async () => {
    const filler = "a".repeat(64 * 1024 - '{"token":"","dataset":"insurance","nonce":"n"}'.length);
    const r = await send("POST", "/v1/verify", { headers: JSON_HEADERS, body: `{"token":"${filler}","dataset":"insurance","nonce":"n"}` });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).reasons[0].code).toBe("token_malformed");
  });

  it.each([
    ["GET", "/v1/verify", 405, "POST"],
    ["PUT", "/v1/verify", 405, "POST"],
    ["POST", "/v1/jwks", 405, "GET"],
    ["DELETE", "/healthz", 405, "GET"],
  ])("when %s %s, then it answers %i with Allow: %s", async (method, path, status, allow) => {
    // Bodies only where node's client frames them (it sends GET/DELETE bodies unframed).
    const r = await send(method, path, method === "GET" || method === "DELETE" ? {} : { headers: JSON_HEADERS, body: "{}" });
    expect(r.status).toBe(status);
    expect(r.headers.allow).toBe(allow);
    expect(error(r).code).toBe("method_not_allowed");
  });

  it.each(["/", "/v1/verify/", "/v2/verify", "/__proto__", "/constructor", "/v1/JWKS"])(
    "when the path is %s, then it answers 404",
    async (path) => {
      const r = await send("GET", path);
      expect(r.status).toBe(404);
      expect(error(r).code).toBe("not_found");
    }
  );

  it("when asked for /healthz and /v1/jwks (with a query string), then both answer 200", async () => {
    const health = await send("GET", "/healthz?probe=1");
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: "ok", policy_sha256: verifier.policySha256 });
    const keys = await send("GET", "/v1/jwks");
    expect(keys.status).toBe(200);
    expect(keys.headers["content-type"]).toBe("application/jwk-set+json");
    expect(JSON.parse(keys.body).keys[0].kid).toBe(verifier.receiptJwks.keys[0].kid);
  });

  it("then after all the abuse above the process still answers", async () => {
    expect((await send("GET", "/healthz")).status).toBe(200);
  });
});

/** A ServerResponse that records what the adapter wrote. */
function fakeResponse(): { res: ServerResponse; done: Promise<{ status: number; headers: Record<string, unknown>; body: string }> } {
  const res = new ServerResponse(new IncomingMessage(new Socket()));
  const written: Buffer[] = [];
  const done = new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve) => {
    res.end = ((body?: string) => {
      if (body) written.push(Buffer.from(body));
      resolve({ status: res.statusCode, headers: res.getHeaders(), body: Buffer.concat(written).toString() });
      return res;
    }) as ServerResponse["end"];
  });
  return { res, done };
}

describe("given the Cloud Functions adapter", () => {
  it("when the Functions Framework hands over a parsed body and its rawBody, then the raw bytes are verified", async () => {
    const fn = cloudFunction(async () => verifier);
    // Not the token of the node:http test above: the verifier decides each token once.
    const token = await signToken(tokenClaims(doc, undefined, { eat_nonce: ["thisIsAcustomNonce", "cloud-function"] }), key);
    const raw = Buffer.from(JSON.stringify({ token, dataset: "insurance", nonce: "thisIsAcustomNonce" }));
    const req: FunctionRequest = {
      method: "POST",
      path: "/v1/verify",
      headers: { "content-type": "application/json" },
      rawBody: raw,
      body: { ignored: true },
    };
    const { res, done } = fakeResponse();
    await fn(req, res);
    const out = await done;
    expect(out.status).toBe(200);
    expect(JSON.parse(out.body).decision).toBe("allow");
  });

  it("when only a parsed body is available, then it is re-serialised and still validated strictly", async () => {
    const fn = cloudFunction(async () => verifier);
    const { res, done } = fakeResponse();
    await fn(
      {
        method: "POST",
        path: "/v1/verify",
        headers: { "content-type": "application/json" },
        body: { token: "x.y.z", dataset: "insurance", extra: 1 },
      },
      res
    );
    const out = await done;
    expect(out.status).toBe(400);
    expect(JSON.parse(out.body).error.code).toBe("unknown_field");
  });

  it("when the configuration cannot load, then every request gets 503 and it retries only after 10 s", async () => {
    let clock = 0;
    let attempts = 0;
    const stdout = jest.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      const fn = cloudFunction(
        async () => {
          attempts++;
          throw new Error("VERIFIER_POLICY_URI (gs://b/p.json): sha256 mismatch");
        },
        () => clock
      );
      for (let i = 0; i < 3; i++) {
        const { res, done } = fakeResponse();
        await fn({ method: "POST", path: "/v1/verify", headers: {}, rawBody: Buffer.from("{}") }, res);
        const out = await done;
        expect(out.status).toBe(503);
        expect(out.headers["retry-after"]).toBe("10");
        expect(JSON.parse(out.body).error.code).toBe("verifier_unavailable");
      }
      expect(attempts).toBe(1);
      clock = 10_000;
      const { res, done } = fakeResponse();
      await fn({ method: "GET", path: "/healthz", headers: {} }, res);
      expect((await done).status).toBe(503);
      expect(attempts).toBe(2);
      const logged = stdout.mock.calls.map((c) => JSON.parse(String(c[0])));
      expect(logged[0]).toEqual({
        severity: "ERROR",
        message: "attestation verifier cannot start: VERIFIER_POLICY_URI (gs://b/p.json): sha256 mismatch",
        component: "manatee-attestation-verifier",
      });
    } finally {
      stdout.mockRestore();
    }
  });
});
