/**
 * The Lambda-style contract every adapter speaks: a plain request in, a plain response
 * out. No framework types, so the core runs the same under node:http, the Functions
 * Framework and a test.
 */
import { REQUEST_ERRORS, RequestErrorCode } from "./reasons";

export interface VerifierRequest {
  readonly method: string;
  /** Path, optionally with a query string (ignored). */
  readonly path: string;
  /** Header names in any case. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body?: string | Uint8Array;
}

export interface VerifierResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Requests larger than this are refused before they are parsed (tokens are ~2 KiB). */
export const MAX_BODY_BYTES = 64 * 1024;

const BASE_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
};

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): VerifierResponse {
  return jsonTextResponse(status, JSON.stringify(body), headers);
}

/** A response whose JSON body the caller has already written. */
export function jsonTextResponse(status: number, json: string, headers: Record<string, string> = {}): VerifierResponse {
  return { status, headers: { ...BASE_HEADERS, ...headers }, body: json };
}

export function errorResponse(code: RequestErrorCode, message: string, headers: Record<string, string> = {}): VerifierResponse {
  return jsonResponse(REQUEST_ERRORS[code], { error: { code, message } }, headers);
}

/** A header's value, whatever the case of its name; the first one if repeated. */
export function header(req: VerifierRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const k of Object.keys(req.headers)) {
    if (k.toLowerCase() === wanted) {
      const v = req.headers[k];
      return typeof v === "string" ? v : v?.[0];
    }
  }
  return undefined;
}
