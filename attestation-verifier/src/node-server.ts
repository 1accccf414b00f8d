/**
 * node:http adapter: streams the body with the 64 KiB cap enforced while reading, so an
 * oversized request is refused without being buffered, then hands a plain request to the
 * core handler.
 */
import { IncomingMessage, Server, ServerResponse, createServer } from "node:http";
import { AddressInfo } from "node:net";
import { MAX_BODY_BYTES, VerifierRequest, VerifierResponse, errorResponse } from "./http";
import { Verifier } from "./verifier";

export interface LocalServerOptions {
  readonly verifier: Verifier;
  /**
   * TCP port; 0 picks a free one.
   * @default 8080
   */
  readonly port?: number;
  /**
   * Interface to listen on. Loopback by default: the local server is for development and tests.
   * @default "127.0.0.1"
   */
  readonly host?: string;
}

export interface LocalServer {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** A node:http request listener around the verifier handler. */
export function requestListener(verifier: Verifier): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const tooLarge = () => {
      // Close the connection: the rest of the body is never read.
      send(res, errorResponse("payload_too_large", `The body exceeds ${MAX_BODY_BYTES} bytes.`), true);
      req.resume();
    };
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > MAX_BODY_BYTES) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on("data", (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        refused = true;
        chunks.length = 0;
        tooLarge();
      } else chunks.push(chunk);
    });
    req.on("error", () => req.destroy());
    req.on("end", () => {
      if (refused) return;
      const request: VerifierRequest = {
        method: req.method ?? "",
        path: req.url ?? "/",
        headers: req.headers,
        body: Buffer.concat(chunks, size),
      };
      verifier.handler(request).then(
        (response) => send(res, response, false),
        () => send(res, errorResponse("internal_error", "The verifier failed; nothing was released."), true)
      );
    });
  };
}

function send(res: ServerResponse, response: VerifierResponse, close: boolean): void {
  if (res.headersSent || res.destroyed) return;
  // Assigned, not spread around named keys (V8's slow path for such literals, per response).
  const headers: Record<string, string | number> = { ...response.headers };
  headers["content-length"] = Buffer.byteLength(response.body);
  if (close) headers.connection = "close";
  res.writeHead(response.status, headers);
  res.end(response.body);
}

/** Listen on host:port (loopback by default). */
export function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const server = createServer(requestListener(options.verifier));
  // Deliberate limits: a slow client cannot hold a connection open for minutes.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  const host = options.host ?? "127.0.0.1";
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8080, host, () => {
      server.off("error", reject);
      const port = (server.address() as AddressInfo).port;
      resolve({
        server,
        port,
        url: `http://${host}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
