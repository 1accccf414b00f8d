#!/usr/bin/env node
/**
 * Benchmark of the attestation verifier (not a test): throughput and latency of the local
 * server against a bare node:http endpoint that only runs jose.jwtVerify on the same token
 * with the same remote JWKS, plus cold start of `node scripts/verifier.js`.
 *
 * Each server runs in its own child process, one at a time, so the load generator (this
 * process) and the server under test share the machine the same way in both runs; rounds
 * alternate the order and medians are reported, so load from anything else on the machine
 * hits both alike. Server CPU per decision (from /proc) is reported too: it is the figure
 * least disturbed by a busy machine. Everything listens on 127.0.0.1. Uses the compiled
 * code in dist/ (`npm run build`).
 *
 *   node scripts/bench-verifier.js [--duration-ms N] [--rounds N]    or    require(...).run({ durationMs, rounds })
 */
"use strict";
const { spawn } = require("node:child_process");
const { generateKeyPairSync } = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const DIST = path.join(ROOT, "dist");

/** The bare baseline: parse the body, jwtVerify against the remote JWKS, answer JSON. */
const BARE_SERVER = `
const http = require("node:http");
const { createRemoteJWKSet, jwtVerify } = require("jose");
const jwks = createRemoteJWKSet(new URL(process.env.JWKS_URL));
const options = { issuer: "https://confidentialcomputing.googleapis.com", audience: process.env.AUDIENCE, algorithms: ["RS256"] };
http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    let body;
    try {
      const { token } = JSON.parse(Buffer.concat(chunks).toString());
      await jwtVerify(token, jwks, options);
      body = '{"decision":"allow"}';
    } catch {
      body = '{"decision":"deny"}';
    }
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(Number(process.env.PORT), "127.0.0.1");
`;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = http.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function request(agent, port, method, pathName, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method,
        path: pathName,
        agent,
        headers: body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {},
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      }
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function waitFor(port, pathName, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await request(false, port, "GET", pathName);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`127.0.0.1:${port}${pathName} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** 32 keep-alive connections in closed loop: warm-up, then a measured window. */
async function drive(port, bodies, { connections, warmupMs, durationMs }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies = [];
  let errors = 0;
  const start = Date.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  const worker = async () => {
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      const sentAt = Date.now();
      let ok = false;
      try {
        const r = await request(agent, port, "POST", "/v1/verify", bodies.next());
        // A prefix check, not JSON.parse: the client's cost must not grow with the receipt's size.
        ok = r.status === 200 && r.body.startsWith('{"decision":"allow"');
      } catch {
        ok = false;
      }
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (sentAt >= measureFrom && sentAt < end) {
        if (ok) latencies.push(ms);
        else errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    decisionsPerSec: Math.round(latencies.length / (durationMs / 1000)),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    decisions: latencies.length,
    errors,
  };
}

function round(x) {
  return Math.round(x * 100) / 100;
}

/** Fixtures: the example clean room's policy, a Confidential Space-shaped token and its JWKS. */
async function fixtures(dir) {
  const must = ["attestation-verifier/src/main.js", "lib/policy/document.js", "lib/policy/model.js"];
  for (const f of must) {
    if (!fs.existsSync(path.join(DIST, f))) throw new Error(`dist/${f} is missing: run npm run build first`);
  }
  const { compileVerifierPolicy } = require(path.join(DIST, "lib/policy/document.js"));
  const { normalizePolicy } = require(path.join(DIST, "lib/policy/model.js"));
  const YAML = require("yaml");
  const { SignJWT, exportJWK } = require("jose");
  const compiled = compileVerifierPolicy(
    normalizePolicy(YAML.parse(fs.readFileSync(path.join(ROOT, "stacks/example.cleanroom.yaml"), "utf8")))
  );
  const doc = compiled.document;
  const policyFile = path.join(dir, "policy.json");
  fs.writeFileSync(policyFile, JSON.stringify(doc, null, 2));
  const keyFile = path.join(dir, "receipt-key.pem");
  fs.writeFileSync(keyFile, generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ format: "pem", type: "pkcs8" }));

  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid: "bench-key-1", alg: "RS256", use: "sig" };
  const jwksBody = JSON.stringify({ keys: [jwk] });
  const jwksServer = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(jwksBody);
  });
  await new Promise((r) => jwksServer.listen(0, "127.0.0.1", r));
  const jwksUrl = `http://127.0.0.1:${jwksServer.address().port}/jwks`;

  const approval = doc.approvals[0];
  const iat = Math.floor(Date.now() / 1000);
  const claims = {
    aud: doc.audience,
    sub: `https://www.googleapis.com/compute/v1/projects/${doc.project}/zones/us-central1-a/instances/manatee-job-1`,
    eat_profile: "https://cloud.google.com/confidential-computing/confidential-space/docs/reference/token-claims",
    secboot: true,
    oemid: 11129,
    hwmodel: "GCP_INTEL_TDX",
    attester_tcb: ["INTEL"],
    swname: "CONFIDENTIAL_SPACE",
    swversion: ["250800"],
    dbgstat: "disabled-since-boot",
    eat_nonce: "bench-output-sha256-0123456789abcdef",
    submods: {
      confidential_space: { monitoring_enabled: { memory: false }, support_attributes: ["LATEST", "STABLE", "USABLE"] },
      container: {
        image_reference: `us-central1-docker.pkg.dev/${doc.project}/manatee-jobs/job-1@${approval.imageDigest}`,
        image_digest: approval.imageDigest,
        restart_policy: "Never",
        image_id: "sha256:338bff3f9f38e9f0d2eb4772f07dcc77baac9b353b521c40344c04a62c003332",
        env: { HOSTNAME: "manatee-job-1" },
        args: ["/usr/local/bin/python", "/app/run.py"],
      },
      gce: {
        zone: "us-central1-a",
        project_id: doc.project,
        project_number: "889537417991",
        instance_name: "manatee-job-1",
        instance_id: "8114146583384593350",
      },
    },
    tdx: { gcp_attester_tcb_status: "UpToDate", gcp_attester_tcb_date: "2024-03-13T00:00:00Z" },
    google_service_accounts: [doc.teeServiceAccount],
  };
  // The verifier decides each token once (replay marker), so every request carries its own
  // token: a pool signed before the load, each with its own nonce; a run starts at its head.
  const sign = (i) =>
    new SignJWT({ ...claims, eat_nonce: `bench-output-sha256-${String(i).padStart(12, "0")}` })
      .setProtectedHeader({ alg: "RS256", kid: "bench-key-1", typ: "JWT" })
      .setIssuer("https://confidentialcomputing.googleapis.com")
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + 3600)
      .sign(privateKey)
      .then((token) => JSON.stringify({ token, dataset: approval.datasets[0], nonce: `bench-output-sha256-${String(i).padStart(12, "0")}` }));
  const pool = [];
  const bodies = {
    cursor: 0,
    /** At least n unused tokens from the head of the pool. */
    async ensure(n) {
      while (pool.length < n) pool.push(...(await Promise.all(Array.from({ length: Math.min(500, n - pool.length) }, (_, k) => sign(pool.length + k)))));
    },
    /** Starts a server run: tokens are unique per run, servers do not share markers. */
    reset() {
      this.cursor = 0;
    },
    /** Past the pool's end a token repeats: the verifier denies it and the run counts an error. */
    next() {
      return pool[this.cursor++ % pool.length];
    },
    get used() {
      return this.cursor;
    },
    get size() {
      return pool.length;
    },
  };
  // Enough for a few seconds at a few thousand decisions per second; measureServer grows it.
  await bodies.ensure(8000);
  return { compiled, policyFile, keyFile, jwksUrl, jwksServer, bodies, audience: doc.audience };
}

function verifierEnv(fx, port) {
  return {
    PATH: process.env.PATH,
    PORT: String(port),
    VERIFIER_POLICY_FILE: fx.policyFile,
    VERIFIER_JWKS_URL: fx.jwksUrl,
    VERIFIER_SIGNING_KEY_FILE: fx.keyFile,
  };
}

/** Decision logs go to a file: the write cost stays in the measurement, the parent does not pay to drain a pipe. */
function spawnVerifier(fx, port, logFile) {
  const out = fs.openSync(logFile, "a");
  const child = spawn(process.execPath, [path.join(ROOT, "scripts", "verifier.js")], {
    env: verifierEnv(fx, port),
    stdio: ["ignore", out, "inherit"],
  });
  fs.closeSync(out);
  return child;
}

async function coldStart(fx, dir, runs) {
  const health = [];
  const verify = [];
  for (let i = 0; i < runs; i++) {
    const port = await freePort();
    const t0 = process.hrtime.bigint();
    const child = spawnVerifier(fx, port, path.join(dir, `cold-${i}.log`));
    try {
      await waitFor(port, "/healthz", 10_000);
      health.push(Number(process.hrtime.bigint() - t0) / 1e6);
      fx.bodies.reset();
      const r = await request(false, port, "POST", "/v1/verify", fx.bodies.next());
      if (r.status !== 200 || JSON.parse(r.body).decision !== "allow")
        throw new Error(`cold start: first verify answered ${r.status} ${r.body}`);
      verify.push(Number(process.hrtime.bigint() - t0) / 1e6);
    } finally {
      await stop(child);
    }
  }
  const median = (xs) => round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]);
  return {
    runs,
    firstHealthzMs: median(health),
    firstVerifyMs: median(verify),
    samplesHealthzMs: health.map(round),
    samplesVerifyMs: verify.map(round),
  };
}

/** Server CPU time (user + system, µs) of a child process, from /proc; null where there is none. */
function cpuMicros(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

function spawnBare(fx, port) {
  return spawn(process.execPath, ["-e", BARE_SERVER], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      JWKS_URL: fx.jwksUrl,
      AUDIENCE: fx.audience,
      NODE_PATH: path.join(ROOT, "node_modules"),
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
}

/** One measured run of one server: start, warm up, measure, stop. */
async function measureServer(kind, fx, dir, load) {
  const port = await freePort();
  const logFile = path.join(dir, `${kind}-${port}.log`);
  const child = kind === "verifier" ? spawnVerifier(fx, port, logFile) : spawnBare(fx, port);
  try {
    await waitFor(port, kind === "verifier" ? "/healthz" : "/", 10_000);
    fx.bodies.reset();
    await drive(port, fx.bodies, { ...load, durationMs: load.warmupMs, warmupMs: 0 });
    const cpu0 = cpuMicros(child.pid);
    const result = await drive(port, fx.bodies, { ...load, warmupMs: 0 });
    const cpu1 = cpuMicros(child.pid);
    // Grow the pool for the next run when this one came close to repeating a token.
    if (fx.bodies.used * 1.5 > fx.bodies.size) await fx.bodies.ensure(Math.ceil(fx.bodies.used * 2));
    return { ...result, serverCpuUsPerDecision: cpu0 === null || cpu1 === null ? null : Math.round((cpu1 - cpu0) / result.decisions) };
  } finally {
    await stop(child);
  }
}

const median = (xs) => {
  const v = xs.filter((x) => x !== null).sort((a, b) => a - b);
  return v.length === 0 ? null : v[Math.floor(v.length / 2)];
};

/**
 * Alternating rounds (verifier then bare, then bare then verifier, ...) so that load from
 * anything else on the machine hits both alike; medians are reported.
 */
async function run({ durationMs = 5000, warmupMs = 1000, connections = 32, rounds = 3, coldStartRuns = 7, print = true } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-verifier-"));
  const fx = await fixtures(dir);
  const load = { connections, warmupMs, durationMs };
  try {
    const runs = { verifier: [], bare: [] };
    for (let i = 0; i < rounds; i++) {
      for (const kind of i % 2 === 0 ? ["verifier", "bare"] : ["bare", "verifier"])
        runs[kind].push(await measureServer(kind, fx, dir, load));
    }
    const summary = (rs) => ({
      decisionsPerSec: median(rs.map((r) => r.decisionsPerSec)),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
      serverCpuUsPerDecision: median(rs.map((r) => r.serverCpuUsPerDecision)),
      errors: rs.reduce((n, r) => n + r.errors, 0),
      rounds: rs.map((r) => r.decisionsPerSec),
    });
    const verifier = summary(runs.verifier);
    const bare = summary(runs.bare);
    const allowsLogged = fs
      .readdirSync(dir)
      .filter((f) => f.startsWith("verifier-"))
      .reduce(
        (n, f) =>
          n +
          fs
            .readFileSync(path.join(dir, f), "utf8")
            .split("\n")
            .filter((l) => l.includes('"decision":"allow"')).length,
        0
      );
    const cold = await coldStart(fx, dir, coldStartRuns);
    const results = {
      machine: { cpus: os.cpus().length, node: process.version, loadavg: os.loadavg().map(round) },
      load: { ...load, rounds, endpoint: "POST /v1/verify, valid approved token, keep-alive" },
      verifier: { ...verifier, auditLinesWritten: allowsLogged },
      bare,
      ratio: round(median(runs.verifier.map((v, i) => v.decisionsPerSec / runs.bare[i].decisionsPerSec))),
      cpuRatio:
        verifier.serverCpuUsPerDecision && bare.serverCpuUsPerDecision
          ? round(bare.serverCpuUsPerDecision / verifier.serverCpuUsPerDecision)
          : null,
      ratioTarget: 0.6,
      coldStart: { ...cold, targetMs: 500 },
    };
    if (print) printTable(results);
    return results;
  } finally {
    await new Promise((r) => fx.jwksServer.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function printTable(r) {
  const row = (cells) => `| ${cells.map((c, i) => String(c).padEnd(i === 0 ? 42 : 11)).join(" | ")} |`;
  const lines = [
    `attestation verifier benchmark: ${r.machine.cpus} CPUs (load average ${r.machine.loadavg.join(" ")}), node ${r.machine.node}`,
    `${r.load.connections} keep-alive connections, ${r.load.rounds} alternating rounds of ${r.load.durationMs} ms after ${r.load.warmupMs} ms warm-up; medians`,
    row(["endpoint", "decisions/s", "p50 ms", "p99 ms", "cpu µs/dec", "errors"]),
    row(["---", "---", "---", "---", "---", "---"]),
    row([
      "verifier (verify + CEL + receipt + audit)",
      r.verifier.decisionsPerSec,
      r.verifier.p50Ms,
      r.verifier.p99Ms,
      r.verifier.serverCpuUsPerDecision,
      r.verifier.errors,
    ]),
    row(["bare jose.jwtVerify", r.bare.decisionsPerSec, r.bare.p50Ms, r.bare.p99Ms, r.bare.serverCpuUsPerDecision, r.bare.errors]),
    `ratio verifier/bare: ${r.ratio} decisions/s, ${r.cpuRatio} server CPU per decision (target >= ${
      r.ratioTarget
    }); rounds verifier ${r.verifier.rounds.join(", ")} / bare ${r.bare.rounds.join(", ")}`,
    `cold start (median of ${r.coldStart.runs}): first /healthz ${r.coldStart.firstHealthzMs} ms, first /v1/verify ${r.coldStart.firstVerifyMs} ms (target < ${r.coldStart.targetMs} ms)`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

module.exports = { run };

if (require.main === module) {
  const args = process.argv.slice(2);
  const flag = (name) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : undefined);
  run({ durationMs: flag("--duration-ms"), rounds: flag("--rounds") }).then(
    (results) => process.stdout.write(`${JSON.stringify(results)}\n`),
    (err) => {
      process.stderr.write(`bench-verifier: ${err.message}\n`);
      process.exit(1);
    }
  );
}
