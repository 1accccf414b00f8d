import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { jsonLineAudit } from "../src/audit";
import { HubAuthenticator, StaticTokenAuthenticator, parseAuthorization } from "../src/auth";
import { FakeClock } from "./helpers";

/** A fake JupyterHub: `GET /hub/api/user` answers for known tokens, 403 otherwise. */
class FakeHub {
  server!: Server;
  url = "";
  requests: IncomingMessage["headers"][] = [];
  users: Record<string, { kind: string; name: string }> = {
    "alice-server-token": { kind: "user", name: "alice" },
    "bob-server-token": { kind: "user", name: "bob" },
    "service-token": { kind: "service", name: "announcement" },
  };
  failWith?: number;
  async start() {
    this.server = createServer((req, res) => {
      this.requests.push(req.headers);
      if (this.failWith) {
        res.writeHead(this.failWith).end("oops");
        return;
      }
      const m = /^token (\S+)$/.exec(req.headers.authorization ?? "");
      const user = req.url === "/hub/api/user" && m ? this.users[m[1]] : undefined;
      if (!user) {
        res.writeHead(403, { "content-type": "application/json" }).end(JSON.stringify({ status: 403, message: "Forbidden" }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ...user, admin: false, groups: [], scopes: ["access:servers!server=alice/"] }));
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hub/api`;
  }
  stop() {
    return new Promise((r) => this.server.close(r));
  }
}

describe("HubAuthenticator against a hub on 127.0.0.1", () => {
  const hub = new FakeHub();
  let clock: FakeClock;
  beforeAll(() => hub.start());
  afterAll(() => hub.stop());
  beforeEach(() => {
    hub.requests = [];
    hub.failWith = undefined;
    hub.users["alice-server-token"] = { kind: "user", name: "alice" };
    clock = new FakeClock();
  });

  test("a valid server token names its user; the hub gets `token <t>` whatever scheme the client used", async () => {
    const auth = new HubAuthenticator({ hubApiUrl: hub.url + "/", clock });
    expect(await auth.authenticate("token alice-server-token")).toEqual({ name: "alice" });
    expect(await auth.authenticate("Bearer bob-server-token")).toEqual({ name: "bob" });
    expect(await auth.authenticate("TOKEN   bob-server-token ")).toEqual({ name: "bob" });
    expect(hub.requests.map((h) => h.authorization)).toEqual(["token alice-server-token", "token bob-server-token"]);
  });

  test("invalid token (hub 403), missing header, bare token and other schemes are refused", async () => {
    const refusals: string[] = [];
    const auth = new HubAuthenticator({ hubApiUrl: hub.url, clock, onRefusal: (r) => refusals.push(r) });
    expect(await auth.authenticate("token nope")).toBeUndefined();
    expect(await auth.authenticate(undefined)).toBeUndefined();
    expect(await auth.authenticate("alice-server-token")).toBeUndefined();
    expect(await auth.authenticate("Basic YWxpY2U6eA==")).toBeUndefined();
    expect(hub.requests).toHaveLength(1); // malformed headers never reach the hub
    expect(refusals).toEqual(["hub refused the token"]);
  });

  test("a service token (kind service) owns no jobs", async () => {
    const auth = new HubAuthenticator({ hubApiUrl: hub.url, clock });
    expect(await auth.authenticate("token service-token")).toBeUndefined();
  });

  test("researchers list: other hub users are refused", async () => {
    const auth = new HubAuthenticator({ hubApiUrl: hub.url, clock, researchers: ["alice"] });
    expect(await auth.authenticate("token alice-server-token")).toEqual({ name: "alice" });
    expect(await auth.authenticate("token bob-server-token")).toBeUndefined();
  });

  test("a verified answer is reused within the TTL, asked again after it", async () => {
    const auth = new HubAuthenticator({ hubApiUrl: hub.url, clock, cacheTtlSeconds: 30 });
    await auth.authenticate("token alice-server-token");
    clock.advance(29_000);
    expect(await auth.authenticate("bearer alice-server-token")).toEqual({ name: "alice" });
    expect(hub.requests).toHaveLength(1);
    clock.advance(2_000);
    delete hub.users["alice-server-token"]; // revoked meanwhile
    expect(await auth.authenticate("token alice-server-token")).toBeUndefined();
    expect(hub.requests).toHaveLength(2);
  });

  test("fails closed on hub errors and does not cache them", async () => {
    const auth = new HubAuthenticator({ hubApiUrl: hub.url, clock });
    hub.failWith = 503;
    expect(await auth.authenticate("token alice-server-token")).toBeUndefined();
    hub.failWith = undefined;
    expect(await auth.authenticate("token alice-server-token")).toEqual({ name: "alice" });
    const down = new HubAuthenticator({ hubApiUrl: "http://127.0.0.1:1/hub/api", clock });
    expect(await down.authenticate("token alice-server-token")).toBeUndefined();
  });

  test("never keeps the token itself", async () => {
    const auth = new HubAuthenticator({ hubApiUrl: hub.url, clock });
    await auth.authenticate("token alice-server-token");
    const cache = (auth as unknown as { cache: Map<string, unknown> }).cache;
    expect(JSON.stringify([...cache])).not.toContain("alice-server-token");
  });

  test("configuration errors name the option", () => {
    expect(() => new HubAuthenticator({ hubApiUrl: "hub:8081" })).toThrow(/hubApiUrl: expected http/);
    expect(() => new HubAuthenticator({ hubApiUrl: "http://hub", cacheTtlSeconds: 3600 })).toThrow(/cacheTtlSeconds: expected 0-300/);
  });
});

describe("StaticTokenAuthenticator", () => {
  const auth = new StaticTokenAuthenticator({ "0123456789abcdef-alice": "alice", "0123456789abcdef-bob": "bob" });
  test("maps tokens to names, refuses others", async () => {
    expect(await auth.authenticate("token 0123456789abcdef-alice")).toEqual({ name: "alice" });
    expect(await auth.authenticate("bearer 0123456789abcdef-bob")).toEqual({ name: "bob" });
    expect(await auth.authenticate("token 0123456789abcdef-alicf")).toBeUndefined();
    expect(await auth.authenticate("")).toBeUndefined();
  });
  test("refuses short tokens at construction", () => {
    expect(() => new StaticTokenAuthenticator({ abc: "alice" })).toThrow(/shorter than 16 characters/);
  });
});

test("parseAuthorization", () => {
  expect(parseAuthorization("token a b")).toBeUndefined();
  expect(parseAuthorization("bearer x\u00e9")).toBeUndefined();
  expect(parseAuthorization("Token abc")).toBe("abc");
});

test("jsonLineAudit: one line per record, time first, credentials redacted", () => {
  const lines: string[] = [];
  const audit = jsonLineAudit((l) => lines.push(l), new FakeClock());
  audit({ event: "submitted", job: 1, headers: { Authorization: "token s3cret" }, token: "s3cret", nested: [{ signed_url: "https://x?sig" }] });
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toContain("s3cret");
  expect(lines[0]).not.toContain("https://x");
  expect(lines[0].startsWith('{"time":"2025-01-01T00:00:00.000Z"')).toBe(true);
  expect(JSON.parse(lines[0])).toMatchObject({ event: "submitted", job: 1, token: "[redacted]" });
});
