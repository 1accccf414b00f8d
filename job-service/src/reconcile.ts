/**
 * The reconciler: moves jobs through build, review, approval and launch. Each pass reads jobs
 * in progress and makes at most one step per job; every step is a versioned store update
 * (a lost race means someone else moved the job: skip it) plus an audit record.
 *
 * Launch order matters: the job is first marked VMWaiting with its deterministic VM name,
 * then the VM is inserted. A crash in between leaves VMWaiting without `launchedAt`, and the
 * next pass inserts the same name again, which the launcher treats as success: never two VMs.
 */
import { createHash } from "node:crypto";
import type { JobServiceConfig } from "./config";
import {
  IN_PROGRESS_STATUSES,
  JobStatus,
  PreconditionFailedError,
  type ApprovalSource,
  type AuditLog,
  type BlobStore,
  type Builder,
  type Clock,
  type DatasetDecision,
  type JobPatch,
  type JobRecord,
  type JobStore,
  type LaunchSpec,
  type Launcher,
} from "./ports";

/** What a reconcile pass talks to. */
export interface ReconcileDeps {
  readonly config: JobServiceConfig;
  readonly store: JobStore;
  readonly blobs: BlobStore;
  readonly builder: Builder;
  readonly approvals: ApprovalSource;
  readonly launcher: Launcher;
  readonly audit?: AuditLog;
  readonly clock?: Clock;
}

/** What one pass did. */
export interface ReconcileResult {
  /** Jobs looked at. */
  readonly examined: number;
  /** Updates that went through. */
  readonly transitions: number;
  /** Jobs skipped because someone else updated them first. */
  readonly raced: number;
  /** Jobs whose step failed (audited; retried next pass). */
  readonly errors: number;
}

/** The review record an owner reads (`manatee jobs show`): written before status 10. */
export function reviewObjectName(uuid: string): string {
  return `reviews/${uuid}.json`;
}

/** One pass over every job in progress, and deleted jobs that may still have a VM. */
export async function reconcileOnce(deps: ReconcileDeps): Promise<ReconcileResult> {
  const audit: AuditLog = deps.audit ?? (() => undefined);
  const clock = deps.clock ?? { now: () => Date.now() };
  const jobs: JobRecord[] = [];
  // Read everything first: updates change statuses, which would shift later pages.
  for (let page = 1; ; page++) {
    const r = await deps.store.list({ statuses: IN_PROGRESS_STATUSES, includeDeleted: true }, page, 100);
    jobs.push(...r.jobs);
    if (r.jobs.length < 100) break;
  }
  let transitions = 0;
  let raced = 0;
  let errors = 0;
  const ctx = { ...deps, audit, clock, transitions: 0 };
  // Oldest first: first come, first built.
  for (const job of jobs.sort((a, b) => a.id - b.id)) {
    try {
      const before = ctx.transitions;
      await step(ctx, job);
      transitions += ctx.transitions - before;
    } catch (e) {
      if (e instanceof PreconditionFailedError) {
        raced++;
        continue;
      }
      errors++;
      audit({ event: "reconcile-error", job: job.id, uuid: job.uuid, status: job.status, error: (e as Error)?.message ?? String(e) });
    }
  }
  return { examined: jobs.length, transitions, raced, errors };
}

type Ctx = ReconcileDeps & { audit: AuditLog; clock: Clock; transitions: number };

const iso = (ctx: Ctx) => new Date(ctx.clock.now()).toISOString();

async function move(ctx: Ctx, job: JobRecord, patch: JobPatch, event: string, extra: Record<string, unknown> = {}): Promise<JobRecord> {
  const next = await ctx.store.update(job.id, job.version, patch);
  ctx.transitions++;
  ctx.audit({ event, job: job.id, uuid: job.uuid, creator: job.creator, from: job.status, to: next.status, ...extra });
  return next;
}

async function step(ctx: Ctx, job: JobRecord): Promise<void> {
  if (job.deleted) return stopDeleted(ctx, job);
  switch (job.status) {
    case JobStatus.Created:
      return startBuild(ctx, job);
    case JobStatus.ImageBuilding:
      return pollBuild(ctx, job);
    case JobStatus.AwaitingApproval:
      return checkApprovals(ctx, job);
    case JobStatus.VMWaiting:
    case JobStatus.VMRunning:
      return watchVm(ctx, job);
    default:
      return;
  }
}

async function stopDeleted(ctx: Ctx, job: JobRecord): Promise<void> {
  const name = job.launch?.instanceName;
  if (name && (await ctx.launcher.status(name)) !== "NOT_FOUND") await ctx.launcher.delete(name);
  // A deleted job never goes further: before launch it stops too, so it can never start later.
  await move(ctx, job, { status: JobStatus.VMKilled, error: name ? "deleted by its creator" : "deleted by its creator before launch" }, name ? "killed" : "cancelled", name ? { instance: name } : {});
}

async function startBuild(ctx: Ctx, job: JobRecord): Promise<void> {
  const base = ctx.config.images.defaultExecutorBase;
  if (!base) {
    await move(ctx, job, { status: JobStatus.ImageBuildingFailed, error: "the room has no executor base (images.defaultExecutorBase in the job service config)" }, "build-failed");
    return;
  }
  const workspace = await ctx.blobs.get(job.workspace.object);
  if (!workspace) {
    await move(ctx, job, { status: JobStatus.ImageBuildingFailed, error: `workspace ${job.workspace.object} is missing; submit the job again` }, "build-failed");
    return;
  }
  // What is built must be what was checked at submit.
  const sha = createHash("sha256").update(workspace).digest("hex");
  if (sha !== job.workspace.sha256) {
    await move(ctx, job, { status: JobStatus.ImageBuildingFailed, error: `workspace ${job.workspace.object} does not match its sha256; submit the job again` }, "build-failed");
    return;
  }
  const target = `${ctx.config.images.userImagesRepository}/job-${job.uuid}`;
  // A crash after start() and before the update starts a second build next pass: harmless, no VM.
  const buildId = await ctx.builder.start({ job, workspace, base, target });
  await move(ctx, job, { status: JobStatus.ImageBuilding, buildId, buildStartedAt: iso(ctx) }, "build-started", { buildId, target });
}

async function pollBuild(ctx: Ctx, job: JobRecord): Promise<void> {
  if (!job.buildId) {
    await move(ctx, job, { status: JobStatus.ImageBuildingFailed, error: "no build id recorded" }, "build-failed");
    return;
  }
  const s = await ctx.builder.poll(job.buildId);
  if (s.state === "running") return;
  if (s.state === "failed") {
    await move(ctx, job, { status: JobStatus.ImageBuildingFailed, error: s.error }, "build-failed", { buildId: job.buildId });
    return;
  }
  const record = s.record;
  if (!ctx.config.images.executorBases.includes(record.baseDigest)) {
    await move(ctx, job, { status: JobStatus.ImageBuildingFailed, error: `built on ${record.baseDigest}, which is not an approved executor base (images.executorBases)` }, "build-refused", { imageDigest: record.imageDigest });
    return;
  }
  if (!/^sha256:[0-9a-f]{64}$/.test(record.imageDigest) || !record.imageReference.endsWith(`@${record.imageDigest}`)) {
    await move(ctx, job, { status: JobStatus.ImageBuildingFailed, error: `build reported image ${record.imageReference} without its digest ${record.imageDigest}` }, "build-refused");
    return;
  }
  const review = {
    job: job.id,
    uuid: job.uuid,
    creator: job.creator,
    notebook: job.notebook,
    purpose: job.purpose,
    datasets: job.datasets,
    build: record,
    workspace: { object: job.workspace.object, sha256: job.workspace.sha256, size: job.workspace.size, files: job.workspace.files },
    dependencies: job.workspace.dependencies,
    envs: job.envs.map((e) => e.key),
  };
  // The review record exists before anyone can see status 10.
  await ctx.blobs.put(reviewObjectName(job.uuid), Buffer.from(JSON.stringify(review, null, 2)));
  await move(ctx, job, { status: JobStatus.AwaitingApproval, build: record }, "awaiting-approval", { imageDigest: record.imageDigest, review: reviewObjectName(job.uuid) });
}

async function checkApprovals(ctx: Ctx, job: JobRecord): Promise<void> {
  const build = job.build;
  if (!build) {
    await move(ctx, job, { status: JobStatus.ImageBuildingFailed, error: "awaiting approval without a build record" }, "build-failed");
    return;
  }
  const byName = new Map(ctx.config.datasets.map((d) => [d.name, d]));
  const missing = job.datasets.filter((d) => !byName.has(d));
  if (missing.length) {
    await move(ctx, job, { status: JobStatus.Rejected, error: `dataset ${missing.join(", ")} is no longer in the room` }, "rejected", { datasets: missing });
    return;
  }
  const decisions: Record<string, DatasetDecision> = {};
  for (const d of job.datasets) {
    if (byName.get(d)!.standingApprovals.includes(build.imageDigest)) {
      decisions[d] = { state: "approved", by: "room file", at: iso(ctx), source: "standing" };
    }
  }
  const signed = await ctx.approvals.decisions(build.imageDigest, job.datasets);
  for (const d of job.datasets) {
    const s = signed[d];
    // Only decisions for requested datasets count; a rejection wins over a standing approval.
    if (s && (s.state === "rejected" || !decisions[d])) decisions[d] = s;
  }
  const rejected = job.datasets.filter((d) => decisions[d]?.state === "rejected");
  if (rejected.length) {
    const reasons = rejected.map((d) => `${d}: ${decisions[d].reason ?? "no reason given"} (${decisions[d].by})`).join("; ");
    await move(ctx, job, { status: JobStatus.Rejected, decisions, error: `rejected by ${reasons}` }, "rejected", { datasets: rejected });
    return;
  }
  const approved = job.datasets.every((d) => decisions[d]?.state === "approved");
  if (!approved) {
    // Show progress (some owners approved) without bumping the version every pass.
    if (JSON.stringify(sortKeys(decisions)) !== JSON.stringify(sortKeys(job.decisions))) {
      await move(ctx, job, { decisions }, "decisions", { approved: Object.keys(decisions) });
    }
    return;
  }
  const instanceName = `${ctx.config.launch.instancePrefix}-${job.uuid}`;
  const waiting = await move(
    ctx,
    job,
    { status: JobStatus.VMWaiting, decisions, launch: { instanceName, requestedAt: iso(ctx) } },
    "launch-requested",
    { instance: instanceName, imageDigest: build.imageDigest, decisions },
  );
  await launch(ctx, waiting);
}

function sortKeys(o: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

/** The launch spec, derived only from the job and the config: the same on every retry. */
export function launchSpec(config: JobServiceConfig, job: JobRecord): LaunchSpec {
  if (!job.build || !job.launch) throw new Error(`job ${job.id}: launch needs a build and a launch record`);
  const allowed = new Set(config.launch.allowedEnvOverrides);
  const env: Record<string, string> = {};
  for (const e of job.envs) if (allowed.has(e.key)) env[e.key] = e.value;
  const repos = job.datasets.map((d) => {
    const ds = config.datasets.find((x) => x.name === d);
    if (!ds) throw new Error(`dataset ${d} is no longer in the room`);
    return ds.signatureRepository;
  });
  return {
    instanceName: job.launch.instanceName,
    imageReference: job.build.imageReference,
    signedImageRepos: [...new Set(repos)],
    env,
    labels: { room: config.room, job: job.uuid, creator: job.creator },
  };
}

async function launch(ctx: Ctx, job: JobRecord): Promise<void> {
  let spec: LaunchSpec;
  try {
    spec = launchSpec(ctx.config, job);
    await ctx.launcher.launch(spec);
  } catch (e) {
    await move(ctx, job, { status: JobStatus.VMLaunchFailed, error: `launch failed: ${(e as Error)?.message ?? String(e)}` }, "launch-failed", { instance: job.launch?.instanceName });
    return;
  }
  await move(ctx, job, { launch: { ...job.launch!, launchedAt: iso(ctx) } }, "launched", {
    instance: spec.instanceName,
    image: spec.imageReference,
    signedImageRepos: spec.signedImageRepos,
    envKeys: Object.keys(spec.env),
  });
}

async function watchVm(ctx: Ctx, job: JobRecord): Promise<void> {
  const l = job.launch;
  if (!l) {
    await move(ctx, job, { status: JobStatus.VMLaunchFailed, error: "no launch record" }, "launch-failed");
    return;
  }
  // Marked VMWaiting but the insert was never confirmed: insert again under the same name.
  if (!l.launchedAt) return launch(ctx, job);
  const state = await ctx.launcher.status(l.instanceName);
  if (state === "TERMINATED") {
    await ctx.launcher.delete(l.instanceName);
    await move(ctx, job, { status: JobStatus.VMFinished }, "finished", { instance: l.instanceName });
    return;
  }
  if (state === "NOT_FOUND") {
    await move(ctx, job, { status: JobStatus.VMFailed, error: `VM ${l.instanceName} disappeared before it finished` }, "vm-failed", { instance: l.instanceName });
    return;
  }
  const limitMs = ctx.config.launch.timeoutMinutes * 60_000;
  if (ctx.clock.now() - Date.parse(l.launchedAt) > limitMs) {
    // Delete first: if that fails the job stays in progress and the next pass tries again.
    await ctx.launcher.delete(l.instanceName);
    await move(ctx, job, { status: JobStatus.VMFailed, error: `timed out after ${ctx.config.launch.timeoutMinutes} minutes (launch.timeoutMinutes)` }, "timeout", { instance: l.instanceName });
    return;
  }
  if (state === "RUNNING" && job.status === JobStatus.VMWaiting) {
    await move(ctx, job, { status: JobStatus.VMRunning }, "running", { instance: l.instanceName });
  }
}
