/**
 * Cloud Functions (gen2, Node.js) adapter. Entry point: `verify`. The Functions Framework
 * passes Express-like req/res and has already read the body; its raw bytes are in
 * req.rawBody. Configuration comes from the environment (config.ts); until it loads, or
 * when it cannot, every request gets 503 and nothing is released.
 */
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { MAX_BODY_BYTES, VerifierResponse, errorResponse } from "./http";
import { errorMessage } from "./policy";
import { Verifier } from "./verifier";

/** The parts of the Functions Framework's request the adapter reads. */
export interface FunctionRequest {
  readonly method?: string;
  readonly path?: string;
  readonly url?: string;
  readonly originalUrl?: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody?: Buffer;
  readonly body?: unknown;
}

/** A failed start is retried no sooner than this, so a bad config does not hammer GCS or KMS. */
const RETRY_AFTER_MS = 10_000;

export function cloudFunction(
  load: () => Promise<Verifier>,
  now: () => number = Date.now
): (req: FunctionRequest, res: ServerResponse) => Promise<void> {
  let loading: Promise<Verifier> | undefined;
  let failedAt = -Infinity;
  const verifier = (): Promise<Verifier> => {
    if (!loading && now() - failedAt >= RETRY_AFTER_MS) {
      loading = load().catch((err: unknown) => {
        failedAt = now();
        loading = undefined;
        process.stdout.write(
          `${JSON.stringify({
            severity: "ERROR",
            message: `attestation verifier cannot start: ${errorMessage(err)}`,
            component: "manatee-attestation-verifier",
          })}\n`
        );
        throw err;
      });
    }
    return loading ?? Promise.reject(new Error("start failed recently"));
  };
  // Start loading at cold start, not on the first request.
  verifier().catch(() => undefined);

  return async (req, res) => {
    let response: VerifierResponse;
    try {
      const v = await verifier().catch(() => undefined);
      if (!v)
        response = errorResponse(
          "verifier_unavailable",
          "The verifier is not configured correctly; nothing can be released. See its logs.",
          { "retry-after": "10" }
        );
      else {
        const body = rawBody(req);
        response =
          body.byteLength > MAX_BODY_BYTES
            ? errorResponse("payload_too_large", `The body exceeds ${MAX_BODY_BYTES} bytes.`)
            : await v.handler({ method: req.method ?? "", path: req.path ?? req.url ?? "/", headers: req.headers, body });
      }
    } catch {
      response = errorResponse("internal_error", "The verifier failed; nothing was released.");
    }
    res.statusCode = response.status;
    for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
    res.end(response.body);
  };
}

/** The bytes the client sent: rawBody when the framework kept it, else what it parsed. */
function rawBody(req: FunctionRequest): Uint8Array {
  if (Buffer.isBuffer(req.rawBody)) return req.rawBody;
  if (typeof req.body === "string") return Buffer.from(req.body);
  if (Buffer.isBuffer(req.body)) return req.body;
  // Parsed without rawBody (framework variant): re-serialise so the handler still validates it.
  if (req.body !== undefined && req.body !== null && typeof req.body === "object" && Object.keys(req.body).length > 0) {
    return Buffer.from(JSON.stringify(req.body));
  }
  return Buffer.alloc(0);
}
