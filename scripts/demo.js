#!/usr/bin/env node
/**
 * `npm run demo`: the clean room's stage-2 path end to end on this laptop, offline, with no
 * cloud account. It starts `manatee job-service --local` on the example room, then plays the
 * three people of the path:
 *
 *   researcher  submits ManaTEE's tutorial notebook exactly as the JupyterLab extension does
 *   data owner  reviews the built job (`manatee jobs show`) and approves it with their own key
 *   researcher  downloads the released result and checks its receipt
 *
 * Every decision on the way is made by the real components: the room's compiled conditions
 * (CEL) decide the key release, the verifier releases the result and signs the receipt.
 * Uses the compiled code in dist/ (`npm ci` builds it).
 */
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const DIST = path.join(ROOT, "dist");

function say(quiet, text) {
  if (!quiet) process.stdout.write(`${text}\n`);
}

/** ManaTEE's insurance tutorial notebook, with the room's configuration cell. */
function tutorialNotebook() {
  const cell = (source) => ({ cell_type: "code", execution_count: null, metadata: {}, outputs: [], source });
  return JSON.stringify({
    cells: [
      cell(["!pip install google-cloud-resource-manager google-cloud-storage pandas xgboost\n"]),
      cell(["import sdk\n", "sdk.gcp.init('acme-clean-room', 'insurance-study-insurance-jobs', 'insurance-study-insurance-rd')\n"]),
      cell(["repo = sdk.DataRepo('gs://stage1', 'gs://stage2')\n", "df = repo.get_data('insurance.csv')\n", "df.describe()\n"]),
    ],
    metadata: { manatee: { datasets: ["insurance"], purpose: "XGBoost regression of insurance charges" } },
    nbformat: 4,
    nbformat_minor: 5,
  });
}

async function workspaceTarball(creator) {
  const tar = require("tar");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "manatee-ws-"));
  const root = path.join(dir, `${creator}-workspace`);
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(root, "insurance.ipynb"), tutorialNotebook());
  fs.writeFileSync(path.join(root, "requirements.txt"), "xgboost==2.1.1\n");
  const chunks = [];
  for await (const c of tar.c({ gzip: true, cwd: dir, portable: true }, [`${creator}-workspace`])) chunks.push(Buffer.from(c));
  fs.rmSync(dir, { recursive: true, force: true });
  return Buffer.concat(chunks);
}

/** As the extension does: the path without the trailing slash, then the 307's Location. */
async function post(base, route, token, body) {
  const headers = { Authorization: `token ${token}` };
  const send = (url) =>
    fetch(url, {
      method: "POST",
      redirect: "manual",
      headers: body instanceof FormData ? headers : { ...headers, "content-type": "application/json" },
      body: body instanceof FormData ? body : JSON.stringify(body),
    });
  let res = await send(`${base}/${route}`);
  if (res.status === 307) res = await send(new URL(res.headers.get("location"), base).toString());
  return res.json();
}

async function status(room, uuid) {
  await room.reconcileOnce();
  return (await room.store.getByUuid(uuid)).status;
}

async function waitFor(room, uuid, wanted, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(room, uuid);
    if (wanted.includes(s)) return s;
    if (Date.now() > deadline) throw new Error(`job ${uuid} stayed in status ${s}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The walk itself; the benchmark times it. */
async function walk({ room, state, jobs, quiet = false }) {
  const researcher = Object.keys(room.tokens)[0];
  const token = room.tokens[researcher];
  const io = quiet ? { stdout: { write() {} }, stderr: { write: (s) => process.stderr.write(s) } } : { stdout: process.stdout, stderr: process.stderr };

  say(quiet, `\n1. ${researcher} submits insurance.ipynb from JupyterLab (multipart, Authorization: token …)`);
  const form = new FormData();
  form.set("file", new Blob([await workspaceTarball(researcher)], { type: "application/gzip" }), "workspace.tar.gz");
  form.set("envs", JSON.stringify([{ key: "EXECUTION_STAGE", value: "2" }]));
  form.set("creator", researcher);
  form.set("filename", "insurance.ipynb");
  const submitted = await post(room.url, "v1/job/submit", token, form);
  if (submitted.code !== 0) throw new Error(`submit refused: ${submitted.msg}`);
  const uuid = submitted.uuid;
  say(quiet, `   job ${uuid} accepted`);

  await waitFor(room, uuid, [10]);
  const built = await room.store.getByUuid(uuid);
  say(quiet, `2. built ${built.build.imageReference}\n   status 10: awaiting approval; the job cannot read stage-2 data yet`);

  say(quiet, `3. the data owner reviews it: manatee jobs show ${uuid} --local ${state}`);
  if ((await jobs(["show", uuid, "--local", state], quiet ? io : { stdout: { write() {} }, stderr: process.stderr })) !== 0) throw new Error("review failed");
  say(quiet, `   base ${built.build.baseDigest}, ${built.build.files.length} files, dependencies: ${built.workspace.dependencies.join(", ")}`);
  say(quiet, `4. and approves it with the insurance key: manatee jobs approve ${uuid} --dataset insurance --local ${state}`);
  if ((await jobs(["approve", uuid, "--dataset", "insurance", "--local", state, "--by", "data-owner@example.org"], io)) !== 0) throw new Error("approval failed");

  await waitFor(room, uuid, [5, 7, 9]);
  await room.launcher.idle();
  const run = room.launcher.runs.find((r) => r.jobUuid === uuid);
  say(quiet, `5. launched ${run.instanceName} from the room's template; key released for: ${run.granted.join(", ")}`);
  if (!run.release || run.release.body.decision !== "released") throw new Error(`release refused: ${JSON.stringify(run.release && run.release.body)}`);
  say(quiet, `6. the verifier released ${run.release.body.objects.length} object(s) from quarantine with a signed receipt`);

  const download = await post(room.url, "v1/job/output/download", token, { id: built.id });
  if (download.code !== 0) throw new Error(`download refused: ${download.msg}`);
  const result = await (await fetch(download.signed_url)).text();
  const attestation = await post(room.url, "v1/job/attestation", token, { id: built.id });
  const receipt = (await (await fetch(attestation.signed_url)).text()).trim();
  const { createLocalJWKSet, jwtVerify } = await import("jose");
  const jwks = await (await fetch(`${room.verifierUrl}/v1/jwks`)).json();
  const { payload } = await jwtVerify(receipt, createLocalJWKSet(jwks));
  say(quiet, `7. ${researcher} downloaded ${download.filename} (${result.length} bytes); its receipt verifies:`);
  say(quiet, `   image ${payload.image_digest}, datasets ${payload.datasets}, objects ${payload.objects.map((o) => `${o.name} sha256:${o.sha256.slice(0, 12)}…`).join(", ")}`);
  return { uuid, receipt: payload };
}

async function main() {
  if (!fs.existsSync(path.join(DIST, "lib", "cli", "job-service.js"))) {
    process.stderr.write("demo: dist/ is missing; run `npm ci` (or `npm run build`) first\n");
    process.exit(2);
  }
  const { startLocalFromFile } = require(path.join(DIST, "lib", "cli", "job-service.js"));
  const { run: jobs } = require(path.join(DIST, "lib", "cli", "jobs.js"));
  const { stage2Bucket } = require(path.join(DIST, "job-service", "src", "local-tee.js"));
  const config = process.env.CLEANROOM_CONFIG || path.join(ROOT, "stacks", "example.cleanroom.yaml");
  const state = fs.mkdtempSync(path.join(os.tmpdir(), "manatee-demo-"));
  say(false, `manatee-cdktf demo: the stage-2 path of ${path.relative(ROOT, config)} on this machine (state in ${state})`);
  const { room } = await startLocalFromFile({ config, stateDir: state, reconcileIntervalMs: 0 });
  try {
    for (const [name, token] of Object.entries(room.tokens)) say(false, `researcher ${name} token ${token}`);
    const data = path.join(room.bucketsDir, stage2Bucket(room.config, "insurance"));
    fs.mkdirSync(data, { recursive: true });
    fs.writeFileSync(path.join(data, "insurance.csv"), "age,sex,bmi,children,smoker,region,charges\n19,female,27.9,0,yes,southwest,16884.924\n18,male,33.77,1,no,southeast,1725.5523\n");
    say(false, `the data owner uploaded insurance.csv to the stage-2 bucket (${path.relative(state, data)})`);
    await walk({ room, state, jobs });
    say(false, "\ndone: the result left the clean room only through the verifier's release, with a receipt.");
  } finally {
    await room.close();
    fs.rmSync(state, { recursive: true, force: true });
  }
}

module.exports = { walk };

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`demo: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
