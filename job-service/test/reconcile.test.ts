import { randomUUID } from "node:crypto";
import type { JobServiceConfig } from "../src/config";
import { JobStatus, type JobPatch, type JobRecord, type JobStore } from "../src/ports";
import { reconcileOnce, reviewObjectName, type ReconcileDeps } from "../src/reconcile";
import { createJobService } from "../src/service";
import { MemoryJobStore } from "../src/store";
import { StaticTokenAuthenticator } from "../src/auth";
import { BASE_DIGEST, FakeApprovals, FakeBuilder, FakeClock, FakeLauncher, FakeOutputs, IMAGE_DIGEST, MemoryBlobs, OTHER_DIGEST, memoryAudit, sha256hex, testConfig } from "./helpers";

const MIN = 60_000;

function setup(config: JobServiceConfig = testConfig(), store?: JobStore) {
  const clock = new FakeClock();
  const deps = {
    config,
    store: store ?? new MemoryJobStore({ clock }),
    blobs: new MemoryBlobs(),
    builder: new FakeBuilder(),
    approvals: new FakeApprovals(),
    launcher: new FakeLauncher(),
    audit: memoryAudit(),
    clock,
  };
  return { ...deps, run: () => reconcileOnce(deps as ReconcileDeps) };
}

async function addJob(s: ReturnType<typeof setup>, datasets = ["insurance", "health"], envs = [{ key: "EPOCHS", value: "3" }, { key: "SECRET_URL", value: "http://x" }]): Promise<JobRecord> {
  const tarball = Buffer.from("pretend tar.gz " + Math.random());
  const sha = sha256hex(tarball);
  await s.blobs.put(`workspaces/${sha}.tar.gz`, tarball);
  return s.store.create({
    uuid: randomUUID(),
    creator: "alice",
    notebook: "analysis.ipynb",
    status: 0,
    datasets,
    purpose: "claims model",
    envs,
    workspace: { object: `workspaces/${sha}.tar.gz`, sha256: sha, size: tarball.length, files: [{ path: "analysis.ipynb", sha256: "x", size: 1 }], dependencies: ["pandas==2.2.2"] },
    decisions: {},
    deleted: false,
  });
}

const get = async (s: ReturnType<typeof setup>, id: number) => (await s.store.get(id))!;

/** Drive a job to status 10 (built, review written). */
async function toAwaitingApproval(s: ReturnType<typeof setup>, datasets?: string[]) {
  const job = await addJob(s, datasets);
  await s.run();
  s.builder.succeed((await get(s, job.id)).buildId!);
  await s.run();
  expect((await get(s, job.id)).status).toBe(JobStatus.AwaitingApproval);
  return job;
}

describe("reconcileOnce", () => {
  test("full walk: build, review, partial then full approval, launch, running, finished", async () => {
    const s = setup();
    const job = await addJob(s);

    await s.run();
    let j = await get(s, job.id);
    expect(j).toMatchObject({ status: JobStatus.ImageBuilding, buildId: "build-1", buildStartedAt: "2025-01-01T00:00:00.000Z" });
    expect(s.builder.requests[0]).toMatchObject({
      base: testConfig().images.defaultExecutorBase,
      target: `europe-west4-docker.pkg.dev/p/demo-jobs/job-${job.uuid}`,
    });
    expect(sha256hex(s.builder.requests[0].workspace)).toBe(job.workspace.sha256);

    await s.run(); // still building: nothing changes
    expect((await get(s, job.id)).version).toBe(j.version);

    const record = s.builder.succeed("build-1");
    await s.run();
    j = await get(s, job.id);
    expect(j).toMatchObject({ status: JobStatus.AwaitingApproval, build: record });
    const review = JSON.parse(Buffer.from((await s.blobs.get(reviewObjectName(job.uuid)))!).toString());
    expect(review).toMatchObject({ job: job.id, uuid: job.uuid, creator: "alice", notebook: "analysis.ipynb", purpose: "claims model", datasets: ["insurance", "health"], build: record, dependencies: ["pandas==2.2.2"] });
    expect(review.workspace.files).toEqual(job.workspace.files);

    s.approvals.decide(IMAGE_DIGEST, "insurance", "approved");
    await s.run();
    j = await get(s, job.id);
    expect(j.status).toBe(JobStatus.AwaitingApproval);
    expect(j.decisions.insurance).toMatchObject({ state: "approved", source: "signature" });
    const v = j.version;
    await s.run(); // same decisions: no churn
    expect((await get(s, job.id)).version).toBe(v);
    expect(s.launcher.specs).toEqual([]);

    s.approvals.decide(IMAGE_DIGEST, "health", "approved");
    s.clock.advance(MIN);
    await s.run();
    j = await get(s, job.id);
    const name = `demo-job-${job.uuid}`;
    expect(j).toMatchObject({ status: JobStatus.VMWaiting, launch: { instanceName: name, requestedAt: "2025-01-01T00:01:00.000Z", launchedAt: "2025-01-01T00:01:00.000Z" } });
    expect(s.launcher.specs).toEqual([
      {
        instanceName: name,
        imageReference: `europe-west4-docker.pkg.dev/p/demo-jobs/job-${job.uuid}@${IMAGE_DIGEST}`,
        signedImageRepos: ["europe-west4-docker.pkg.dev/p/demo-insurance-approvals", "europe-west4-docker.pkg.dev/p/demo-health-approvals"],
        env: { EPOCHS: "3" }, // SECRET_URL is not in launch.allowedEnvOverrides
        labels: { room: "demo", job: job.uuid, creator: "alice" },
      },
    ]);
    const events = s.audit.records.map((r) => r.event);
    expect(events.indexOf("launch-requested")).toBeLessThan(events.indexOf("launched"));

    s.launcher.vms.set(name, "RUNNING");
    await s.run();
    expect((await get(s, job.id)).status).toBe(JobStatus.VMRunning);
    s.launcher.vms.set(name, "TERMINATED");
    await s.run();
    expect((await get(s, job.id)).status).toBe(JobStatus.VMFinished);
    expect(s.launcher.deleted).toEqual([name]);
    expect(s.launcher.inserted).toBe(1);
    const r = await s.run();
    expect(r.examined).toBe(0);
    expect(events).toEqual(expect.arrayContaining(["build-started", "awaiting-approval", "decisions", "launch-requested", "launched"]));
  });

  test("a rejection by any owner: status 11, never launches, even if the other approved", async () => {
    const s = setup();
    const job = await toAwaitingApproval(s);
    s.approvals.decide(IMAGE_DIGEST, "insurance", "approved");
    s.approvals.decide(IMAGE_DIGEST, "health", "rejected", "reads identifiers");
    await s.run();
    const j = await get(s, job.id);
    expect(j.status).toBe(JobStatus.Rejected);
    expect(j.error).toMatch(/health: reads identifiers/);
    s.approvals.decide(IMAGE_DIGEST, "health", "approved");
    await s.run();
    expect((await get(s, job.id)).status).toBe(JobStatus.Rejected);
    expect(s.launcher.specs).toEqual([]);
  });

  test("standing approvals count for their dataset only; a signed rejection still wins", async () => {
    const cfg = testConfig();
    const config = { ...cfg, datasets: cfg.datasets.map((d) => (d.name === "insurance" ? { ...d, standingApprovals: [IMAGE_DIGEST] } : d)) };
    const s = setup(config);
    const job = await toAwaitingApproval(s);
    await s.run();
    expect((await get(s, job.id)).decisions.insurance).toMatchObject({ state: "approved", source: "standing" });
    expect(s.launcher.specs).toEqual([]); // health still needs its owner
    s.approvals.decide(IMAGE_DIGEST, "health", "approved");
    await s.run();
    expect((await get(s, job.id)).status).toBe(JobStatus.VMWaiting);

    const s2 = setup(config);
    const job2 = await toAwaitingApproval(s2, ["insurance"]);
    s2.approvals.decide(IMAGE_DIGEST, "insurance", "rejected", "no");
    await s2.run();
    expect((await get(s2, job2.id)).status).toBe(JobStatus.Rejected);
  });

  test("a build on a base that is not approved, or a failed build, is status 2 and never reviewed", async () => {
    const s = setup();
    const a = await addJob(s);
    const b = await addJob(s);
    await s.run();
    s.builder.baseDigest = OTHER_DIGEST;
    s.builder.succeed("build-1");
    s.builder.fail("build-2", "pip: no matching distribution for pandas==99");
    await s.run();
    expect(await get(s, a.id)).toMatchObject({ status: JobStatus.ImageBuildingFailed, error: expect.stringMatching(/not an approved executor base/) });
    expect(await get(s, b.id)).toMatchObject({ status: JobStatus.ImageBuildingFailed, error: "pip: no matching distribution for pandas==99" });
    expect(await s.blobs.get(reviewObjectName(a.uuid))).toBeUndefined();
    expect(BASE_DIGEST).not.toBe(OTHER_DIGEST);
  });

  test("a workspace that changed since submit is not built", async () => {
    const s = setup();
    const job = await addJob(s);
    await s.blobs.put(job.workspace.object, Buffer.from("swapped"));
    await s.run();
    expect(await get(s, job.id)).toMatchObject({ status: JobStatus.ImageBuildingFailed, error: expect.stringMatching(/does not match its sha256/) });
    expect(s.builder.requests).toEqual([]);
  });

  test("crash after the insert, before launchedAt is recorded: next pass re-launches the same name, one VM", async () => {
    const clock = new FakeClock();
    const inner = new MemoryJobStore({ clock });
    let crash = true;
    // The process 'dies' when it tries to record launchedAt.
    const store: JobStore = Object.assign(Object.create(inner) as JobStore, {
      update: (id: number, v: number, patch: JobPatch) => {
        if (crash && patch.launch?.launchedAt) {
          crash = false;
          return Promise.reject(new Error("process killed"));
        }
        return inner.update(id, v, patch);
      },
    });
    const s = setup(testConfig(), store);
    const job = await toAwaitingApproval(s, ["insurance"]);
    s.approvals.decide(IMAGE_DIGEST, "insurance", "approved");
    const r1 = await s.run();
    expect(r1.errors).toBe(1);
    let j = await get(s, job.id);
    expect(j.status).toBe(JobStatus.VMWaiting);
    expect(j.launch?.launchedAt).toBeUndefined();
    expect(s.launcher.inserted).toBe(1);

    await s.run();
    j = await get(s, job.id);
    expect(j.launch?.launchedAt).toBeDefined();
    expect(s.launcher.specs.map((x) => x.instanceName)).toEqual([`demo-job-${job.uuid}`, `demo-job-${job.uuid}`]);
    expect(s.launcher.inserted).toBe(1);
    expect(s.launcher.vms.size).toBe(1);
  });

  test("crash between the VMWaiting update and the insert: the next pass inserts it, once", async () => {
    const s = setup();
    const job = await toAwaitingApproval(s, ["insurance"]);
    const j = await get(s, job.id);
    await s.store.update(j.id, j.version, { status: JobStatus.VMWaiting, launch: { instanceName: `demo-job-${job.uuid}`, requestedAt: "2025-01-01T00:00:00Z" } });
    await s.run();
    await s.run();
    expect(s.launcher.inserted).toBe(1);
    expect(s.launcher.specs).toHaveLength(1);
    expect((await get(s, job.id)).launch?.launchedAt).toBeDefined();
  });

  test("launch error: status 9 with the error", async () => {
    const s = setup();
    const job = await toAwaitingApproval(s, ["insurance"]);
    s.approvals.decide(IMAGE_DIGEST, "insurance", "approved");
    s.launcher.failNext = "QUOTA_EXCEEDED";
    await s.run();
    expect(await get(s, job.id)).toMatchObject({ status: JobStatus.VMLaunchFailed, error: "launch failed: QUOTA_EXCEEDED" });
  });

  test("timeout counts from launch, not submission; the VM is deleted", async () => {
    const s = setup();
    const job = await toAwaitingApproval(s, ["insurance"]);
    s.clock.advance(5 * 60 * MIN); // approval took five hours: does not count
    s.approvals.decide(IMAGE_DIGEST, "insurance", "approved");
    await s.run();
    const name = `demo-job-${job.uuid}`;
    s.launcher.vms.set(name, "RUNNING");
    s.clock.advance(59 * MIN);
    await s.run();
    expect((await get(s, job.id)).status).toBe(JobStatus.VMRunning);
    s.clock.advance(2 * MIN);
    await s.run();
    expect(await get(s, job.id)).toMatchObject({ status: JobStatus.VMFailed, error: expect.stringMatching(/timed out after 60 minutes/) });
    expect(s.launcher.vms.has(name)).toBe(false);
  });

  test("a VM that disappears after launch: status 7", async () => {
    const s = setup();
    const job = await toAwaitingApproval(s, ["insurance"]);
    s.approvals.decide(IMAGE_DIGEST, "insurance", "approved");
    await s.run();
    s.launcher.vms.clear();
    await s.run();
    expect((await get(s, job.id)).status).toBe(JobStatus.VMFailed);
  });

  test("deleted jobs: a running VM is deleted (6); a job not yet launched never launches", async () => {
    const s = setup();
    const running = await toAwaitingApproval(s, ["insurance"]);
    s.approvals.decide(IMAGE_DIGEST, "insurance", "approved");
    await s.run();
    const name = `demo-job-${running.uuid}`;
    s.launcher.vms.set(name, "RUNNING");
    await s.run();
    const pending = await addJob(s, ["health"]);
    for (const id of [running.id, pending.id]) {
      const j = await get(s, id);
      await s.store.update(id, j.version, { deleted: true });
    }
    await s.run();
    expect((await get(s, running.id)).status).toBe(JobStatus.VMKilled);
    expect((await get(s, pending.id)).status).toBe(JobStatus.VMKilled);
    expect(s.launcher.deleted).toEqual([name]);
    expect(s.builder.requests).toHaveLength(1); // only the first job was ever built
  });

  test("precondition race: someone else moved the job, the pass skips it", async () => {
    const s = setup();
    const job = await addJob(s);
    const start = s.builder.start.bind(s.builder);
    // The researcher deletes the job while its build is being started.
    s.builder.start = async (req) => {
      await s.store.update(req.job.id, req.job.version, { deleted: true });
      return start(req);
    };
    const r = await s.run();
    expect(r).toMatchObject({ raced: 1, transitions: 0, errors: 0 });
    expect(await get(s, job.id)).toMatchObject({ status: JobStatus.Created, deleted: true });
    await s.run();
    expect((await get(s, job.id)).status).toBe(JobStatus.VMKilled);
    expect(s.launcher.specs).toEqual([]);
  });

  test("one job's error does not stop the others", async () => {
    const s = setup();
    const a = await addJob(s);
    const b = await addJob(s);
    let first = true;
    const start = s.builder.start.bind(s.builder);
    s.builder.start = async (req) => {
      if (first) {
        first = false;
        throw new Error("Cloud Build unavailable");
      }
      return start(req);
    };
    const r = await s.run();
    expect(r.errors).toBe(1);
    expect((await get(s, a.id)).status).toBe(JobStatus.Created);
    expect((await get(s, b.id)).status).toBe(JobStatus.ImageBuilding);
    expect(s.audit.records.find((x) => x.event === "reconcile-error")).toMatchObject({ job: a.id, error: "Cloud Build unavailable" });
    await s.run();
    expect((await get(s, a.id)).status).toBe(JobStatus.ImageBuilding);
  });
});

test("createJobService: start runs passes until stop", async () => {
  const s = setup();
  await addJob(s);
  const svc = createJobService({
    config: s.config,
    store: s.store,
    blobs: s.blobs,
    builder: s.builder,
    approvals: s.approvals,
    launcher: s.launcher,
    outputs: new FakeOutputs(),
    auth: new StaticTokenAuthenticator({}),
    audit: s.audit,
    clock: s.clock,
  });
  expect(typeof svc.listener).toBe("function");
  svc.start(100);
  await new Promise((r) => setTimeout(r, 250));
  await svc.stop();
  expect(s.builder.requests).toHaveLength(1);
  expect(() => svc.start(5)).toThrow(/intervalMs: expected at least 100/);
});
