/**
 * The in-memory job store (tests, `--local` mode), optionally persisted to one JSON file.
 * Semantics shared with FirestoreJobStore: ids from 1, optimistic versions, newest first.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import {
  IN_PROGRESS_STATUSES,
  PreconditionFailedError,
  type Clock,
  type JobPatch,
  type JobRecord,
  type JobStatus,
  type JobStore,
  type NewJob,
} from "./ports";

/** A job id or uuid the store does not hold. */
export class JobNotFoundError extends Error {
  constructor(readonly jobId: number | string) {
    super(`job ${jobId} not found`);
    this.name = "JobNotFoundError";
  }
}

/** Checks shared by both stores; throws RangeError naming the argument. */
export function checkPaging(page: number, pageSize: number): void {
  if (!Number.isInteger(page) || page < 1) throw new RangeError(`page: expected an integer ≥ 1, got ${page}`);
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize: expected an integer ≥ 1, got ${pageSize}`);
}

/** Drops keys whose value is undefined: a patch never clears a field by accident. */
export function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Fields a patch may not change, whatever the caller's types say. */
export function checkPatch(patch: JobPatch): void {
  for (const k of ["id", "uuid", "creator", "version", "createdAt"]) {
    if (k in patch) throw new TypeError(`job patch: ${k} cannot be changed`);
  }
}

interface Persisted {
  readonly nextId: number;
  readonly jobs: JobRecord[];
}

export interface MemoryJobStoreOptions {
  /** JSON file to load at start and rewrite (write + rename) after every change. */
  readonly path?: string;
  readonly clock?: Clock;
}

/** Job store in memory, optionally persisted to a JSON file for local mode. */
export class MemoryJobStore implements JobStore {
  private readonly jobs = new Map<number, JobRecord>();
  /** Ids per creator, ascending: a researcher's query reads only their jobs (the common call). */
  private readonly byCreator = new Map<string, number[]>();
  private nextId = 1;
  private readonly clock: Clock;
  private readonly path?: string;
  private writes: Promise<void> = Promise.resolve();

  constructor(opts: MemoryJobStoreOptions = {}) {
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.path = opts.path;
    if (this.path) this.load(this.path);
  }

  private load(path: string): void {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        mkdirSync(dirname(path), { recursive: true });
        return;
      }
      throw e;
    }
    let data: Persisted;
    try {
      data = JSON.parse(text) as Persisted;
    } catch (e) {
      throw new Error(`job store ${path}: not valid JSON (${(e as Error).message}); restore it or move it away to start empty`);
    }
    if (!Number.isInteger(data.nextId) || !Array.isArray(data.jobs)) {
      throw new Error(`job store ${path}: expected {nextId, jobs}; restore it or move it away to start empty`);
    }
    for (const j of [...data.jobs].sort((a, b) => a.id - b.id)) this.index(j);
    this.nextId = data.nextId;
  }

  // Writes are chained so the file always holds the latest state; rename makes each one atomic.
  private persist(): Promise<void> {
    const path = this.path;
    if (!path) return Promise.resolve();
    const snapshot = JSON.stringify({ nextId: this.nextId, jobs: [...this.jobs.values()] } satisfies Persisted);
    this.writes = this.writes
      .catch(() => undefined)
      .then(async () => {
        const tmp = `${path}.${process.pid}.tmp`;
        await writeFile(tmp, snapshot, { mode: 0o600 });
        await rename(tmp, path);
      });
    return this.writes;
  }

  private iso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  async create(job: NewJob): Promise<JobRecord> {
    if (typeof job.uuid !== "string" || !job.uuid) throw new TypeError("new job: uuid is required (crypto.randomUUID())");
    for (const j of this.jobs.values()) if (j.uuid === job.uuid) throw new Error(`job uuid ${job.uuid} already exists`);
    const now = this.iso();
    const record: JobRecord = { ...clone(definedOnly(job) as NewJob), id: this.nextId++, version: 1, createdAt: now, updatedAt: now };
    this.index(record);
    await this.persist();
    return clone(record);
  }

  async get(id: number): Promise<JobRecord | undefined> {
    const j = this.jobs.get(id);
    return j && clone(j);
  }

  async getByUuid(uuid: string): Promise<JobRecord | undefined> {
    for (const j of this.jobs.values()) if (j.uuid === uuid) return clone(j);
    return undefined;
  }

  async list(
    filter: { creator?: string; statuses?: readonly JobStatus[]; includeDeleted?: boolean },
    page: number,
    pageSize: number,
  ): Promise<{ jobs: JobRecord[]; total: number }> {
    checkPaging(page, pageSize);
    const candidates =
      filter.creator === undefined ? [...this.jobs.values()] : (this.byCreator.get(filter.creator) ?? []).map((id) => this.jobs.get(id) as JobRecord);
    const all: JobRecord[] = [];
    // Ids only grow, so walking backwards is newest first without a sort.
    for (let i = candidates.length - 1; i >= 0; i--) {
      const j = candidates[i];
      if ((filter.includeDeleted || !j.deleted) && (!filter.statuses || filter.statuses.includes(j.status))) all.push(j);
    }
    if (filter.creator === undefined) all.sort((a, b) => b.id - a.id);
    return { jobs: all.slice((page - 1) * pageSize, page * pageSize).map(clone), total: all.length };
  }

  private index(job: JobRecord): void {
    this.jobs.set(job.id, job);
    const ids = this.byCreator.get(job.creator);
    if (ids) ids.push(job.id);
    else this.byCreator.set(job.creator, [job.id]);
  }

  async countInProgress(creator: string): Promise<number> {
    let n = 0;
    for (const id of this.byCreator.get(creator) ?? []) {
      const j = this.jobs.get(id) as JobRecord;
      if (!j.deleted && IN_PROGRESS_STATUSES.includes(j.status)) n++;
    }
    return n;
  }

  async update(id: number, expectedVersion: number, patch: JobPatch): Promise<JobRecord> {
    checkPatch(patch);
    const current = this.jobs.get(id);
    if (!current) throw new JobNotFoundError(id);
    if (current.version !== expectedVersion) throw new PreconditionFailedError(id, expectedVersion);
    const next: JobRecord = { ...current, ...clone(definedOnly(patch)), version: current.version + 1, updatedAt: this.iso() };
    this.jobs.set(id, next);
    await this.persist();
    return clone(next);
  }
}

function clone<T>(v: T): T {
  return structuredClone(v);
}
