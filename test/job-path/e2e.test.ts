/**
 * The researcher's stage-2 path, end to end, on the local room (`manatee job-service --local`):
 * a notebook shaped like ManaTEE's tutorial, in a workspace tarball sent exactly as ManaTEE's
 * JupyterLab extension sends it; approval by the data owner's own key through the CLI; launch
 * from the room's template; data released by the room's compiled conditions (real CEL); result
 * released by the real verifier with a receipt; download by its researcher only.
 */
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify } from "jose";
import * as tar from "tar";
import { JobStatus } from "../../job-service/src/ports";
import { stage2Bucket } from "../../job-service/src/local-tee";
import { StartedLocal, startLocalFromFile } from "../../lib/cli/job-service";
import { run as jobsCli } from "../../lib/cli/jobs";

const EXAMPLE = join(__dirname, "..", "..", "stacks", "example.cleanroom.yaml");

/** ManaTEE's tutorial notebook, unchanged apart from its configuration cell and metadata. */
function tutorialNotebook(datasets: string[], variant: string): string {
  const cell = (source: string[]) => ({ cell_type: "code", execution_count: null, metadata: {}, outputs: [], source });
  return JSON.stringify({
    cells: [
      cell(["!pip install google-cloud-resource-manager google-cloud-storage pandas xgboost\n"]),
      cell([
        "import sdk\n",
        "project_id = 'acme-clean-room'\n",
        "pool_name = 'insurance-study-insurance-jobs'\n",
        "tee_sa = 'insurance-study-insurance-rd'\n",
        "sdk.gcp.init(project_id, pool_name, tee_sa)\n",
      ]),
      cell(["repo = sdk.DataRepo('gs://stage1', 'gs://stage2')\n", "df = repo.get_data('insurance.csv')\n", `# ${variant}\n`]),
    ],
    metadata: { manatee: { datasets, purpose: "XGBoost regression of insurance charges" }, kernelspec: { name: "python3" } },
    nbformat: 4,
    nbformat_minor: 5,
  });
}

/** The extension's tarball: the home directory under `<creator>-workspace/`, gzip'd. */
async function workspaceTarball(creator: string, files: Record<string, string>): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), "ws-"));
  const root = join(dir, `${creator}-workspace`);
  mkdirSync(root);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(root, name), content);
  const chunks: Buffer[] = [];
  const stream = tar.c({ gzip: true, cwd: dir, portable: true }, [`${creator}-workspace`]);
  for await (const c of stream as unknown as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  rmSync(dir, { recursive: true, force: true });
  return Buffer.concat(chunks);
}

/** POST as the extension does: no trailing slash, then follow the 307 by re-posting. */
async function extensionPost(base: string, path: string, token: string | undefined, body: FormData | object): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = token ? { Authorization: `token ${token}` } : {};
  const send = (url: string) =>
    fetch(url, {
      method: "POST",
      redirect: "manual",
      headers: body instanceof FormData ? headers : { ...headers, "content-type": "application/json" },
      body: body instanceof FormData ? body : JSON.stringify(body),
    });
  let response = await send(`${base}/${path}`);
  if (response.status === 307) response = await send(new URL(response.headers.get("location") ?? "", base).toString());
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, json };
}

let submissions = 0;

async function submit(room: StartedLocal["room"], researcher: string, datasets: string[]): Promise<string> {
  const tarball = await workspaceTarball(researcher, {
    // Each submission is different code: identical code builds the identical image, which an
    // earlier signature already approves (a signature names a digest, nothing else).
    "insurance.ipynb": tutorialNotebook(datasets, `variant ${++submissions}`),
    "requirements.txt": "scikit-learn==1.5.2\n",
  });
  const form = new FormData();
  form.set("file", new Blob([tarball], { type: "application/gzip" }), "workspace.tar.gz");
  form.set("envs", JSON.stringify([{ key: "EXECUTION_STAGE", value: "2" }]));
  form.set("creator", researcher);
  form.set("filename", "insurance.ipynb");
  const { json } = await extensionPost(room.url, "v1/job/submit", room.tokens[researcher], form);
  expect(json).toMatchObject({ code: 0 });
  return json.uuid as string;
}

async function waitForStatus(room: StartedLocal["room"], uuid: string, statuses: number[], timeoutMs = 15000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await room.reconcileOnce();
    const job = await room.store.getByUuid(uuid);
    if (job && statuses.includes(job.status)) return job.status;
    if (Date.now() > deadline) throw new Error(`job ${uuid} stayed in status ${job?.status} (${job?.error ?? ""}), wanted ${statuses}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function owner(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await jobsCli(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

describe("the researcher's stage-2 path on the local room", () => {
  let started: StartedLocal;
  let state: string;
  const researchers = ["alice", "bob"];

  beforeAll(async () => {
    state = mkdtempSync(join(tmpdir(), "manatee-e2e-"));
    started = await startLocalFromFile({ config: EXAMPLE, stateDir: state, researchers, reconcileIntervalMs: 0 });
    const data = join(started.room.bucketsDir, stage2Bucket(started.room.config, "insurance"));
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, "insurance.csv"), "age,sex,bmi,children,smoker,region,charges\n19,female,27.9,0,yes,southwest,16884.92\n");
  }, 60000);

  afterAll(async () => {
    await started.room.close();
    rmSync(state, { recursive: true, force: true });
  });

  test("submit → awaiting approval → denied while unapproved → approved by the owner → launched from the template → released → downloaded", async () => {
    const { room } = started;
    // Given a researcher's tutorial notebook asking for the insurance dataset
    const uuid = await submit(room, "alice", ["insurance"]);

    // When it is built, it waits for the owner: nothing launches
    await waitForStatus(room, uuid, [JobStatus.AwaitingApproval]);
    await room.reconcileOnce();
    expect(room.launcher.inserts).toBe(0);
    const built = await room.store.getByUuid(uuid);
    expect(built?.build?.imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);

    // The owner reviews exactly what was built
    const shown = await owner(["show", uuid, "--local", state]);
    expect(shown.code).toBe(0);
    const review = JSON.parse(shown.out);
    expect(review.job).toMatchObject({ uuid, creator: "alice", notebook: "insurance.ipynb", datasets: ["insurance"] });
    expect(review.imageCheck).toMatchObject({ ok: true, problems: [] });
    expect(review.job.build.files.map((f: { path: string }) => f.path)).toEqual(expect.arrayContaining(["insurance.ipynb", "requirements.txt"]));

    // And the owner of ANOTHER dataset cannot approve this job for insurance with their key
    const wrongDataset = await owner(["approve", uuid, "--dataset", "claims", "--local", state]);
    expect(wrongDataset.code).toBe(1);

    // When the owner approves with their own key
    const approved = await owner(["approve", uuid, "--dataset", "insurance", "--local", state, "--by", "data-owner@example.org"]);
    expect(approved.err).toBe("");
    expect(approved.code).toBe(0);

    // Then the job launches once, from the room's template name, reads insurance, and its result is released
    await waitForStatus(room, uuid, [JobStatus.VMFinished]);
    await room.launcher.idle();
    expect(room.launcher.inserts).toBe(1);
    const runRecord = room.launcher.runs.find((r) => r.jobUuid === uuid);
    expect(runRecord?.instanceName).toBe(`${room.config.launch.instancePrefix}-${uuid}`);
    expect(runRecord?.granted).toEqual(["insurance"]);
    expect(runRecord?.release?.body).toMatchObject({ decision: "released" });


    // And alice downloads the released notebook with its receipt; the receipt verifies
    const download = await extensionPost(room.url, "v1/job/output/download", room.tokens.alice, { id: built!.id });
    expect(download.json).toMatchObject({ code: 0, filename: `out-${built!.id}-insurance.ipynb` });
    const notebook = JSON.parse(await (await fetch(download.json.signed_url)).text());
    expect(JSON.stringify(notebook)).toContain("stage-2 insurance: insurance.csv sha256:");
    const attestation = await extensionPost(room.url, "v1/job/attestation", room.tokens.alice, { id: built!.id });
    const receipt = (await (await fetch(attestation.json.signed_url)).text()).trim();
    const jwks = (await (await fetch(`${room.verifierUrl}/v1/jwks`)).json()) as { keys: [] };
    const { payload } = await jwtVerify(receipt, createLocalJWKSet(jwks));
    expect(payload).toMatchObject({ job: uuid, image_digest: built!.build!.imageDigest, datasets: ["insurance"] });

    // But bob cannot list, download or delete alice's job
    const bobList = await extensionPost(room.url, "v1/job/query", room.tokens.bob, { page: 1, page_size: 10 });
    expect(bobList.json.jobs.map((j: { uuid: string }) => j.uuid)).not.toContain(uuid);
    const bobDownload = await extensionPost(room.url, "v1/job/output/download", room.tokens.bob, { id: built!.id });
    expect(bobDownload.json.code).not.toBe(0);
    const bobDelete = await extensionPost(room.url, "v1/job/delete", room.tokens.bob, { uuid });
    expect(bobDelete.json.code).not.toBe(0);
    expect((await room.store.getByUuid(uuid))?.deleted).toBe(false);

    // And without a valid credential nothing answers
    expect((await extensionPost(room.url, "v1/job/query", undefined, { page: 1, page_size: 10 })).status).toBe(401);
    expect((await extensionPost(room.url, "v1/job/query", "not-a-token", { page: 1, page_size: 10 })).status).toBe(401);
  }, 60000);

  test("an approval for insurance never opens claims: a job asking for both is launched only when both owners approved", async () => {
    const { room } = started;
    const uuid = await submit(room, "bob", ["insurance", "claims"]);
    await waitForStatus(room, uuid, [JobStatus.AwaitingApproval]);
    expect((await owner(["approve", uuid, "--dataset", "insurance", "--local", state])).code).toBe(0);
    await room.reconcileOnce();
    await room.reconcileOnce();
    expect((await room.store.getByUuid(uuid))?.status).toBe(JobStatus.AwaitingApproval);
    expect((await owner(["approve", uuid, "--dataset", "claims", "--local", state])).code).toBe(0);
    await waitForStatus(room, uuid, [JobStatus.VMFinished]);
    await room.launcher.idle();
    expect(room.launcher.runs.find((r) => r.jobUuid === uuid)?.granted).toEqual(["insurance", "claims"]);
  }, 60000);

  test("a rejected job never launches", async () => {
    const { room } = started;
    const before = room.launcher.inserts;
    const uuid = await submit(room, "alice", ["insurance"]);
    await waitForStatus(room, uuid, [JobStatus.AwaitingApproval]);
    const rejected = await owner(["reject", uuid, "--dataset", "insurance", "--reason", "reads more columns than the purpose needs", "--local", state]);
    expect(rejected.code).toBe(0);
    await waitForStatus(room, uuid, [JobStatus.Rejected]);
    await room.reconcileOnce();
    expect(room.launcher.inserts).toBe(before);
    expect((await room.store.getByUuid(uuid))?.decisions.insurance).toMatchObject({ state: "rejected", reason: "reads more columns than the purpose needs" });
  }, 60000);

  test("a crash between the launch and the status update does not start a second VM", async () => {
    const { room } = started;
    const uuid = await submit(room, "alice", ["insurance"]);
    await waitForStatus(room, uuid, [JobStatus.AwaitingApproval]);
    expect((await owner(["approve", uuid, "--dataset", "insurance", "--local", state])).code).toBe(0);
    // Given the job service dies right after instances.insert: the update recording the launch never lands
    const update = room.store.update.bind(room.store);
    room.store.update = async (id, version, patch) => {
      if (patch.launch?.launchedAt !== undefined) throw new Error("process killed after instances.insert");
      return update(id, version, patch);
    };
    const before = room.launcher.inserts;
    await room.reconcileOnce().catch(() => undefined);
    room.store.update = update;
    expect(room.launcher.inserts - before).toBe(1);
    const crashed = await room.store.getByUuid(uuid);
    expect(crashed?.status).toBe(JobStatus.VMWaiting);
    expect(crashed?.launch?.launchedAt).toBeUndefined();
    // When it restarts and reconciles again
    await waitForStatus(room, uuid, [JobStatus.VMFinished]);
    // Then the same VM name was found again: exactly one VM was ever created for the job
    expect(room.launcher.inserts - before).toBe(1);
  }, 60000);

  test("the key request of an unapproved job is denied by the room's conditions", async () => {
    const { room } = started;
    const uuid = await submit(room, "bob", ["insurance"]);
    await waitForStatus(room, uuid, [JobStatus.AwaitingApproval]);
    const job = await room.store.getByUuid(uuid);
    // Launch it anyway (as an operator with launch rights could): no signature, no data
    const name = `${room.config.launch.instancePrefix}-${uuid}`;
    await room.launcher.launch({ instanceName: name, imageReference: job!.build!.imageReference, signedImageRepos: room.config.datasets.map((d) => d.signatureRepository), env: {}, labels: {} });
    await room.launcher.idle();
    const run = room.launcher.runs.find((r) => r.instanceName === name);
    expect(run?.granted).toEqual([]);
    expect(run?.refused[0].dataset).toBe("insurance");
    expect(run?.refused[0].reasons.join("\n")).toMatch(/job path .*attribute condition is (false|an error)/);
    expect(run?.release).toBeUndefined();
  }, 60000);
});

describe("the same flow in an EU room", () => {
  test("registry, buckets and launch all stay in europe-west4", async () => {
    const dir = mkdtempSync(join(tmpdir(), "manatee-eu-"));
    const yaml = readFileSync(EXAMPLE, "utf8")
      .replace(/^region: .*$/m, "region: europe-west4")
      .replace(/^zone: .*$/m, "zone: europe-west4-a")
      .replace(/^residency: .*$/m, "residency: [europe-west4]")
      .replace(/^name: .*$/m, "name: eu-study");
    const file = join(dir, "eu.cleanroom.yaml");
    writeFileSync(file, yaml);
    const eu = await startLocalFromFile({ config: file, stateDir: join(dir, "state"), researchers: ["alice"], reconcileIntervalMs: 0 });
    try {
      const data = join(eu.room.bucketsDir, stage2Bucket(eu.room.config, "insurance"));
      mkdirSync(data, { recursive: true });
      writeFileSync(join(data, "insurance.csv"), "age,charges\n30,1000\n");
      expect(eu.room.config.images.userImagesRepository.startsWith("europe-west4-docker.pkg.dev/")).toBe(true);
      const uuid = await submit(eu.room, "alice", ["insurance"]);
      await waitForStatus(eu.room, uuid, [JobStatus.AwaitingApproval]);
      const job = await eu.room.store.getByUuid(uuid);
      expect(job?.build?.imageReference.startsWith("europe-west4-docker.pkg.dev/")).toBe(true);
      expect((await owner(["approve", uuid, "--dataset", "insurance", "--local", eu.stateDir])).code).toBe(0);
      await waitForStatus(eu.room, uuid, [JobStatus.VMFinished]);
      await eu.room.launcher.idle();
      expect(eu.room.launcher.runs[0]).toMatchObject({ granted: ["insurance"], release: { body: { decision: "released" } } });
    } finally {
      await eu.room.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60000);
});
