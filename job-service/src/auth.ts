/**
 * Researchers at the job API. The JupyterLab extension sends `USER_TOKEN` as the
 * `Authorization` header; the room sets it to `token $(JUPYTERHUB_API_TOKEN)`, the user
 * server's own hub token, which the hub verifies at `GET /hub/api/user`. The creator of a
 * job is the name the hub answers, never a request field.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Authenticator, Clock, Researcher } from "./ports";

/** `token <t>` or `bearer <t>` (any case), or undefined. */
export function parseAuthorization(header: string | undefined): string | undefined {
  if (typeof header !== "string" || header.length > 8192) return undefined;
  const m = /^\s*(?:token|bearer)\s+([\x21-\x7e]+)\s*$/i.exec(header);
  return m?.[1];
}

function tokenKey(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export interface HubAuthenticatorOptions {
  /** The hub's API, e.g. `http://hub:8081/hub/api` (JUPYTERHUB_API_URL). */
  readonly hubApiUrl: string;
  /** Hub usernames allowed; empty or absent = any hub user. */
  readonly researchers?: readonly string[];
  /** How long a verified answer is reused. At most 300 (HubAuth's default). @default 60 */
  readonly cacheTtlSeconds?: number;
  /** Request timeout. @default 5000 */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  readonly clock?: Clock;
  /** Told about refusals without the token (e.g. to the audit log). */
  readonly onRefusal?: (reason: string) => void;
}

const MAX_CACHE = 10_000;

/** Verifies JupyterHub tokens at the hub; fails closed on any doubt. */
export class HubAuthenticator implements Authenticator {
  private readonly url: string;
  private readonly researchers: ReadonlySet<string>;
  private readonly ttlMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly clock: Clock;
  // Keyed by SHA-256 of the token: the token itself is never kept.
  private readonly cache = new Map<string, { name: string; until: number }>();

  constructor(private readonly opts: HubAuthenticatorOptions) {
    let u: URL;
    try {
      u = new URL(opts.hubApiUrl);
    } catch {
      throw new TypeError(`hubApiUrl: expected the hub API URL, e.g. http://hub:8081/hub/api, got "${opts.hubApiUrl}"`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new TypeError(`hubApiUrl: expected http(s), got ${u.protocol}`);
    this.url = opts.hubApiUrl.replace(/\/+$/, "") + "/user";
    const ttl = opts.cacheTtlSeconds ?? 60;
    if (!(ttl >= 0 && ttl <= 300)) throw new RangeError(`cacheTtlSeconds: expected 0-300 (the hub's token may be revoked), got ${ttl}`);
    this.ttlMs = ttl * 1000;
    this.researchers = new Set(opts.researchers ?? []);
    this.fetchFn = opts.fetch ?? fetch;
    this.clock = opts.clock ?? { now: () => Date.now() };
  }

  async authenticate(authorization: string | undefined): Promise<Researcher | undefined> {
    const token = parseAuthorization(authorization);
    if (!token) return undefined;
    const key = tokenKey(token);
    const now = this.clock.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return this.allowed(hit.name);
    if (hit) this.cache.delete(key);

    let name: string;
    try {
      const res = await this.fetchFn(this.url, {
        headers: { Authorization: `token ${token}`, Accept: "application/json" },
        redirect: "error",
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
      });
      if (res.status !== 200) {
        await res.body?.cancel();
        this.opts.onRefusal?.(res.status === 403 || res.status === 401 ? "hub refused the token" : `hub answered HTTP ${res.status}`);
        return undefined;
      }
      const body = (await res.json()) as { kind?: unknown; name?: unknown };
      // Service and server tokens answer with another kind: only a user owns jobs.
      if (body?.kind !== "user" || typeof body.name !== "string" || !body.name) {
        this.opts.onRefusal?.(`hub token is not a user's (kind ${String(body?.kind)})`);
        return undefined;
      }
      name = body.name;
    } catch (e) {
      this.opts.onRefusal?.(`hub unreachable (${(e as Error).name})`);
      return undefined;
    }
    if (this.ttlMs > 0) {
      if (this.cache.size >= MAX_CACHE) this.evict(now);
      this.cache.set(key, { name, until: now + this.ttlMs });
    }
    return this.allowed(name);
  }

  private allowed(name: string): Researcher | undefined {
    if (this.researchers.size > 0 && !this.researchers.has(name)) {
      this.opts.onRefusal?.(`hub user ${name} is not a researcher of this room`);
      return undefined;
    }
    return { name };
  }

  private evict(now: number): void {
    for (const [k, v] of this.cache) if (v.until <= now) this.cache.delete(k);
    // Still full: drop the oldest entries (Map keeps insertion order).
    for (const k of this.cache.keys()) {
      if (this.cache.size < MAX_CACHE) break;
      this.cache.delete(k);
    }
  }
}

/** Fixed tokens for `--local` mode and tests: token → username. */
export class StaticTokenAuthenticator implements Authenticator {
  private readonly entries: { digest: Buffer; name: string }[];

  constructor(tokens: Readonly<Record<string, string>>) {
    this.entries = Object.entries(tokens).map(([token, name]) => {
      if (token.length < 16) throw new RangeError(`StaticTokenAuthenticator: the token for ${name} is shorter than 16 characters; use a random one (openssl rand -hex 32)`);
      return { digest: createHash("sha256").update(token).digest(), name };
    });
  }

  async authenticate(authorization: string | undefined): Promise<Researcher | undefined> {
    const token = parseAuthorization(authorization);
    if (!token) return undefined;
    // Equal-length digests compared in constant time, all of them, so timing says nothing.
    const d = createHash("sha256").update(token).digest();
    let found: string | undefined;
    for (const e of this.entries) if (timingSafeEqual(d, e.digest) && found === undefined) found = e.name;
    return found === undefined ? undefined : { name: found };
  }
}
