/** Audit records as JSON lines (Cloud Logging reads one structured record per line). */
import type { AuditLog, Clock } from "./ports";

const SECRET_KEY = /token|authorization|secret|password|credential|signed_?url|cookie/i;
const MAX_DEPTH = 8;

function redact(value: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) return "[too deep]";
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? "[redacted]" : redact(v, depth + 1)]));
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** The text of a caught error, for an audit record's `error` field (a thrown non-Error is stringified). */
export const errorText = (e: unknown): string => (e as Error)?.message ?? String(e);

/**
 * An AuditLog writing one JSON line per record: `{"time": RFC 3339, "event": …, …}`. Keys that
 * name credentials (token, authorization, secret, password, signed URLs) are redacted at any depth.
 * `write` gets one line without its newline (e.g. `(l) => process.stdout.write(l + "\n")`).
 */
export function jsonLineAudit(write: (line: string) => void, clock: Clock = { now: () => Date.now() }): AuditLog {
  return (record) => {
    const body = redact(record, 0) as Record<string, unknown>;
    delete body.time;
    let line: string;
    try {
      line = JSON.stringify({ time: new Date(clock.now()).toISOString(), ...body, event: record.event });
    } catch {
      line = JSON.stringify({ time: new Date(clock.now()).toISOString(), event: record.event, error: "record not serialisable" });
    }
    write(line);
  };
}
