#!/usr/bin/env node
/**
 * Benchmark of the job service (not a test):
 *
 *   query latency   1,000 jobs in the store (20 for each of 50 researchers); 50 researchers query
 *                   their first page concurrently, each with its own token, against the real API
 *                   (auth, store, paging, ManaTEE's answer shape). Baseline, in the same run: a
 *                   bare node:http server answering a fixed body of the same size. p50/p99 and
 *                   the ratio of medians are reported.
 *   end to end      one local run of the whole stage-2 path (manatee job-service --local):
 *                   submit → build → owner approves → launch → key release → result release →
 *                   download; wall time from submit to the downloaded result.
 *
 * Uses the compiled code in dist/ (`npm run build`). Everything listens on 127.0.0.1; request
 * loops are bounded in count and time.
 *
 *   node scripts/bench-job-service.js [--requests N]   or   require(...).run({ requests })
 */
"use strict";
const http = require("node:http");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { randomBytes, randomUUID } = require("node:crypto");

const ROOT = path.resolve(__dirname, "..");
const DIST = path.join(ROOT, "dist");
const RESEARCHERS = 50;
const JOBS = 1000;

const percentile = (xs, p) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] : null;
};
const round = (x, d = 2) => (x === null ? null : Math.round(x * 10 ** d) / 10 ** d);

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.keepAliveTimeout = 5000;
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

/** `requests` POSTs spread over 50 concurrent researchers with keep-alive agents; latency in ms. */
async function load(url, tokens, requests) {
  const perClient = Math.ceil(requests / tokens.length);
  const latencies = [];
  const started = process.hrtime.bigint();
  await Promise.all(
    tokens.map(async (token) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < perClient; i++) {
        const t0 = process.hrtime.bigint();
        await new Promise((resolve, reject) => {
          const body = JSON.stringify({ page: 1, page_size: 10 });
          const req = http.request(`${url}/v1/job/query/`, { method: "POST", agent, headers: { authorization: `token ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString();
              if (res.statusCode !== 200 || !text.includes('"code":0')) reject(new Error(`query answered ${res.statusCode}: ${text.slice(0, 200)}`));
              else resolve();
            });
          });
          req.on("error", reject);
          req.end(body);
        });
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      agent.destroy();
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { requests: latencies.length, perSec: round(latencies.length / seconds, 0), p50Ms: round(percentile(latencies, 50)), p99Ms: round(percentile(latencies, 99)) };
}

async function queryLatency(requests) {
  const { createJobApi } = require(path.join(DIST, "job-service", "src", "api.js"));
  const { MemoryJobStore } = require(path.join(DIST, "job-service", "src", "store.js"));
  const { StaticTokenAuthenticator } = require(path.join(DIST, "job-service", "src", "auth.js"));
  const names = Array.from({ length: RESEARCHERS }, (_, i) => `researcher-${i}`);
  const tokens = Object.fromEntries(names.map((n) => [randomBytes(24).toString("hex"), n]));
  const store = new MemoryJobStore();
  for (let i = 0; i < JOBS; i++) {
    await store.create({
      uuid: randomUUID(),
      creator: names[i % RESEARCHERS],
      notebook: "insurance.ipynb",
      status: [0, 1, 5, 10][i % 4],
      datasets: ["insurance"],
      purpose: "bench",
      envs: [],
      workspace: { object: `workspaces/${i}.tar.gz`, sha256: "0".repeat(64), size: 1, files: [], dependencies: [] },
      decisions: {},
      deleted: false,
    });
  }
  const config = { limits: { maxJobsInProgressPerResearcher: 3, maxWorkspaceBytes: 1 << 20 }, datasets: [{ name: "insurance" }] };
  const api = createJobApi({
    config,
    store,
    auth: new StaticTokenAuthenticator(Object.fromEntries(Object.entries(tokens).map(([t, n]) => [t, n]))),
    blobs: { put: async () => undefined, get: async () => undefined },
    outputs: { released: async () => undefined, downloadUrl: async () => "" },
  });
  const service = await listen(api);
  const tokenList = Object.keys(tokens);
  // The same body size as a real answer, from a fixed string: what HTTP alone costs.
  const sample = await new Promise((resolve) => {
    const body = JSON.stringify({ page: 1, page_size: 10 });
    http.request(`${service.url}/v1/job/query/`, { method: "POST", headers: { authorization: `token ${tokenList[0]}`, "content-type": "application/json" } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks)));
    }).end(body);
  });
  const bare = await listen((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": sample.length });
      res.end(sample);
    });
  });
  await load(bare.url, tokenList, 500); // warm-up, both
  await load(service.url, tokenList, 500);
  const rounds = [];
  for (let i = 0; i < 3; i++) {
    const b = await load(bare.url, tokenList, requests);
    const s = await load(service.url, tokenList, requests);
    rounds.push({ bare: b, service: s });
  }
  service.server.close();
  bare.server.close();
  service.server.closeAllConnections();
  bare.server.closeAllConnections();
  const med = (f) => round(percentile(rounds.map(f), 50));
  return {
    jobs: JOBS,
    researchers: RESEARCHERS,
    requestsPerRound: requests,
    service: { p50Ms: med((r) => r.service.p50Ms), p99Ms: med((r) => r.service.p99Ms), perSec: med((r) => r.service.perSec) },
    bare: { p50Ms: med((r) => r.bare.p50Ms), p99Ms: med((r) => r.bare.p99Ms), perSec: med((r) => r.bare.perSec) },
    p50Ratio: round(med((r) => r.service.p50Ms) / med((r) => r.bare.p50Ms)),
  };
}

async function endToEnd() {
  const { startLocalFromFile } = require(path.join(DIST, "lib", "cli", "job-service.js"));
  const { run: jobs } = require(path.join(DIST, "lib", "cli", "jobs.js"));
  const { stage2Bucket } = require(path.join(DIST, "job-service", "src", "local-tee.js"));
  const demo = require(path.join(ROOT, "scripts", "demo.js"));
  const state = fs.mkdtempSync(path.join(os.tmpdir(), "manatee-bench-e2e-"));
  const t0 = process.hrtime.bigint();
  const { room } = await startLocalFromFile({ config: path.join(ROOT, "stacks", "example.cleanroom.yaml"), stateDir: state, researchers: ["alice"], reconcileIntervalMs: 100 });
  const startSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  try {
    const dir = path.join(room.bucketsDir, stage2Bucket(room.config, "insurance"));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "insurance.csv"), "age,charges\n19,16884.92\n");
    const t1 = process.hrtime.bigint();
    await demo.walk({ room, state, jobs, quiet: true });
    return { startSeconds: round(startSeconds), submitToDownloadSeconds: round(Number(process.hrtime.bigint() - t1) / 1e9) };
  } finally {
    await room.close();
    fs.rmSync(state, { recursive: true, force: true });
  }
}

async function run({ requests = 5000, print = true } = {}) {
  if (!fs.existsSync(path.join(DIST, "job-service", "src", "api.js"))) throw new Error("dist/job-service is missing: npm run build");
  const result = { query: await queryLatency(requests), endToEnd: await endToEnd() };
  if (print) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  return result;
}

module.exports = { run };

if (require.main === module) {
  const args = process.argv.slice(2);
  const i = args.indexOf("--requests");
  run({ requests: i >= 0 ? Number(args[i + 1]) : 5000 }).catch((err) => {
    process.stderr.write(`bench-job-service: ${err.stack || err}\n`);
    process.exitCode = 1;
  });
}
