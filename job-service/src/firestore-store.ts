/**
 * The job store on Cloud Firestore (native mode). Jobs are documents `<collection>/<id>`;
 * ids come from a counter document updated in the same transaction as the insert, and
 * updates read the version inside a transaction, so two reconcilers (or a reconciler and a
 * researcher's delete) can never both win.
 *
 * Queries need composite indexes on (deleted, creator, id desc), (deleted, status, id desc)
 * and (creator, deleted, status): Firestore names the missing one in its error.
 */
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
import { JobNotFoundError, checkPaging, checkPatch, definedOnly } from "./store";

/** The subset of a Firestore document snapshot this store reads. */
export interface FsSnapshot {
  readonly exists: boolean;
  data(): Record<string, unknown> | undefined;
}

/** The subset of `DocumentReference` this store uses. */
export interface FsDocRef {
  get(): Promise<FsSnapshot>;
}

/** The subset of `Query` this store uses. */
export interface FsQuery {
  where(field: string, op: "==" | "in", value: unknown): FsQuery;
  orderBy(field: string, direction: "asc" | "desc"): FsQuery;
  limit(n: number): FsQuery;
  offset(n: number): FsQuery;
  get(): Promise<{ readonly docs: readonly FsSnapshot[] }>;
  count(): { get(): Promise<{ data(): { count: number } }> };
}

/** The subset of `CollectionReference` this store uses. */
export interface FsCollection extends FsQuery {
  doc(id: string): FsDocRef;
}

/** The subset of `Transaction` this store uses (reads before writes, as Firestore requires). */
export interface FsTransaction {
  get(ref: FsDocRef): Promise<FsSnapshot>;
  set(ref: FsDocRef, data: Record<string, unknown>): unknown;
  create(ref: FsDocRef, data: Record<string, unknown>): unknown;
}

/** The subset of `@google-cloud/firestore`'s `Firestore` this store uses; tests pass a fake. */
export interface FirestoreLike {
  collection(path: string): FsCollection;
  runTransaction<T>(fn: (tx: FsTransaction) => Promise<T>): Promise<T>;
}

export interface FirestoreJobStoreOptions {
  /** Collection of job documents. @default "jobs" */
  readonly collection?: string;
  /** Collection holding the id counter document `jobs`. @default "counters" */
  readonly counters?: string;
  readonly clock?: Clock;
}

/** JobStore on Firestore. */
export class FirestoreJobStore implements JobStore {
  private readonly jobs: FsCollection;
  private readonly counter: FsDocRef;
  private readonly clock: Clock;

  constructor(private readonly db: FirestoreLike, opts: FirestoreJobStoreOptions = {}) {
    this.jobs = db.collection(opts.collection ?? "jobs");
    this.counter = db.collection(opts.counters ?? "counters").doc(opts.collection ?? "jobs");
    this.clock = opts.clock ?? { now: () => Date.now() };
  }

  private iso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  async create(job: NewJob): Promise<JobRecord> {
    if (typeof job.uuid !== "string" || !job.uuid) throw new TypeError("new job: uuid is required (crypto.randomUUID())");
    return this.db.runTransaction(async (tx) => {
      const c = await tx.get(this.counter);
      const last = c.exists ? Number(c.data()?.last ?? 0) : 0;
      const id = last + 1;
      const now = this.iso();
      const record: JobRecord = { ...(definedOnly(job) as NewJob), id, version: 1, createdAt: now, updatedAt: now };
      tx.set(this.counter, { last: id });
      // create() fails if the document exists: a counter reset never overwrites a job.
      tx.create(this.jobs.doc(String(id)), toDoc(record));
      return record;
    });
  }

  async get(id: number): Promise<JobRecord | undefined> {
    if (!Number.isInteger(id) || id < 1) return undefined;
    const s = await this.jobs.doc(String(id)).get();
    return s.exists ? fromDoc(s) : undefined;
  }

  async getByUuid(uuid: string): Promise<JobRecord | undefined> {
    const r = await this.jobs.where("uuid", "==", uuid).limit(1).get();
    return r.docs[0] ? fromDoc(r.docs[0]) : undefined;
  }

  async list(
    filter: { creator?: string; statuses?: readonly JobStatus[]; includeDeleted?: boolean },
    page: number,
    pageSize: number,
  ): Promise<{ jobs: JobRecord[]; total: number }> {
    checkPaging(page, pageSize);
    let q: FsQuery = this.jobs;
    if (!filter.includeDeleted) q = q.where("deleted", "==", false);
    if (filter.creator !== undefined) q = q.where("creator", "==", filter.creator);
    if (filter.statuses) {
      if (filter.statuses.length === 0) return { jobs: [], total: 0 };
      q = q.where("status", "in", [...filter.statuses]);
    }
    const total = (await q.count().get()).data().count;
    const r = await q.orderBy("id", "desc").offset((page - 1) * pageSize).limit(pageSize).get();
    return { jobs: r.docs.map(fromDoc), total };
  }

  async countInProgress(creator: string): Promise<number> {
    const q = this.jobs.where("creator", "==", creator).where("deleted", "==", false).where("status", "in", [...IN_PROGRESS_STATUSES]);
    return (await q.count().get()).data().count;
  }

  async update(id: number, expectedVersion: number, patch: JobPatch): Promise<JobRecord> {
    checkPatch(patch);
    const ref = this.jobs.doc(String(id));
    return this.db.runTransaction(async (tx) => {
      const s = await tx.get(ref);
      if (!s.exists) throw new JobNotFoundError(id);
      const current = fromDoc(s);
      if (current.version !== expectedVersion) throw new PreconditionFailedError(id, expectedVersion);
      const next: JobRecord = { ...current, ...(definedOnly(patch) as JobPatch), version: current.version + 1, updatedAt: this.iso() };
      tx.set(ref, toDoc(next));
      return next;
    });
  }
}

// Firestore refuses `undefined` anywhere in a document; JSON keeps exactly what a record means.
function toDoc(r: JobRecord): Record<string, unknown> {
  return JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
}

function fromDoc(s: FsSnapshot): JobRecord {
  return s.data() as unknown as JobRecord;
}
