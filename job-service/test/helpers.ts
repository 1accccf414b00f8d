/** Shared fixtures and small fakes of the job service's ports, for this package's tests. */
import { createHash } from "node:crypto";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { Header, create as tarCreate } from "tar";
import type { JobServiceConfig } from "../src/config";
import type {
  ApprovalSource,
  AuditLog,
  BlobStore,
  BuildRecord,
  BuildRequest,
  BuildState,
  Builder,
  Clock,
  DatasetDecision,
  InstanceState,
  LaunchSpec,
  Launcher,
  ReleasedOutputs,
} from "../src/ports";
import type { FirestoreLike, FsDocRef, FsQuery, FsSnapshot, FsTransaction } from "../src/firestore-store";

export const BASE_DIGEST = "sha256:" + "b".repeat(64);
export const OTHER_DIGEST = "sha256:" + "c".repeat(64);
export const IMAGE_DIGEST = "sha256:" + "a".repeat(64);

/** A two-dataset room config. */
export function testConfig(overrides: Partial<JobServiceConfig> = {}): JobServiceConfig {
  return {
    version: 1,
    room: "demo",
    project: "p",
    region: "europe-west4",
    zone: "europe-west4-a",
    launch: {
      instanceTemplate: "projects/p/global/instanceTemplates/demo-tee",
      instancePrefix: "demo-job",
      machineType: "n2d-standard-2",
      hardware: ["SEV"],
      allowDebug: false,
      teeServiceAccount: "tee@p.iam.gserviceaccount.com",
      allowedEnvOverrides: ["EPOCHS"],
      timeoutMinutes: 60,
    },
    images: {
      userImagesRepository: "europe-west4-docker.pkg.dev/p/demo-jobs",
      executorBases: [BASE_DIGEST],
      defaultExecutorBase: `europe-west4-docker.pkg.dev/p/bases/executor@${BASE_DIGEST}`,
      workspaceDir: "/workspace",
    },
    datasets: [
      { name: "insurance", owners: ["user:o1@x"], signatureRepository: "europe-west4-docker.pkg.dev/p/demo-insurance-approvals", standingApprovals: [], access: [] },
      { name: "health", owners: ["user:o2@x"], signatureRepository: "europe-west4-docker.pkg.dev/p/demo-health-approvals", standingApprovals: [], access: [] },
    ],
    providers: {},
    researchers: [],
    limits: { maxJobsInProgressPerResearcher: 3, maxWorkspaceBytes: 1024 * 1024 },
    verifier: { url: "https://verifier", audience: "v" },
    outputs: { quarantineBucket: "q", releaseBucket: "r" },
    ...overrides,
  };
}

/** A clock the test moves. */
export class FakeClock implements Clock {
  constructor(public t = Date.parse("2025-01-01T00:00:00Z")) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export class MemoryBlobs implements BlobStore {
  readonly objects = new Map<string, Uint8Array>();
  async put(name: string, bytes: Uint8Array): Promise<void> {
    this.objects.set(name, Uint8Array.from(bytes));
  }
  async get(name: string): Promise<Uint8Array | undefined> {
    return this.objects.get(name);
  }
}

export function sha256hex(b: Uint8Array | string): string {
  return createHash("sha256").update(b).digest("hex");
}

/** Builds complete immediately (or when told); records each request. */
export class FakeBuilder implements Builder {
  readonly requests: BuildRequest[] = [];
  readonly states = new Map<string, BuildState>();
  baseDigest = BASE_DIGEST;
  async start(request: BuildRequest): Promise<string> {
    this.requests.push(request);
    const id = `build-${this.requests.length}`;
    this.states.set(id, { state: "running" });
    return id;
  }
  async poll(buildId: string): Promise<BuildState> {
    return this.states.get(buildId) ?? { state: "failed", error: "unknown build" };
  }
  succeed(buildId: string, digest = IMAGE_DIGEST): BuildRecord {
    const req = this.requests[Number(buildId.split("-")[1]) - 1];
    const record: BuildRecord = {
      imageDigest: digest,
      imageReference: `${req.target}@${digest}`,
      baseDigest: this.baseDigest,
      files: req.job.workspace.files,
      dependencies: req.job.workspace.dependencies,
      buildId,
    };
    this.states.set(buildId, { state: "succeeded", record });
    return record;
  }
  fail(buildId: string, error: string): void {
    this.states.set(buildId, { state: "failed", error });
  }
}

export class FakeApprovals implements ApprovalSource {
  readonly byDigest = new Map<string, Record<string, DatasetDecision>>();
  calls = 0;
  async decisions(imageDigest: string, datasets: readonly string[]): Promise<Record<string, DatasetDecision>> {
    this.calls++;
    const all = this.byDigest.get(imageDigest) ?? {};
    return Object.fromEntries(Object.entries(all).filter(([d]) => datasets.includes(d)));
  }
  decide(digest: string, dataset: string, state: "approved" | "rejected", reason?: string): void {
    const cur = this.byDigest.get(digest) ?? {};
    cur[dataset] = { state, by: `owner-of-${dataset}`, at: "2025-01-01T00:00:00Z", source: "signature", reason };
    this.byDigest.set(digest, cur);
  }
}

/** A Compute Engine stand-in: VMs by name; `launch` of an existing name is success, as the contract says. */
export class FakeLauncher implements Launcher {
  readonly vms = new Map<string, InstanceState>();
  readonly specs: LaunchSpec[] = [];
  /** Every VM ever inserted (a second insert of a live name is not counted). */
  inserted = 0;
  deleted: string[] = [];
  failNext?: string;
  async launch(spec: LaunchSpec): Promise<void> {
    this.specs.push(spec);
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      throw new Error(e);
    }
    if (this.vms.has(spec.instanceName)) return;
    this.vms.set(spec.instanceName, "PENDING");
    this.inserted++;
  }
  async status(name: string): Promise<InstanceState> {
    return this.vms.get(name) ?? "NOT_FOUND";
  }
  async delete(name: string): Promise<void> {
    this.deleted.push(name);
    this.vms.delete(name);
  }
}

export class FakeOutputs implements ReleasedOutputs {
  readonly releases = new Map<string, { objects: { name: string; sha256: string }[]; receipt: string; receiptObject: string }>();
  readonly urls: { object: string; ttl: number }[] = [];
  async released(uuid: string) {
    return this.releases.get(uuid);
  }
  async downloadUrl(object: string, ttlSeconds: number): Promise<string> {
    this.urls.push({ object, ttl: ttlSeconds });
    return `https://storage.example/${object}?sig=1`;
  }
}

/** Collects audit records. */
export function memoryAudit(): AuditLog & { records: { event: string; [k: string]: unknown }[] } {
  const records: { event: string; [k: string]: unknown }[] = [];
  const log = ((r: { event: string; [k: string]: unknown }) => {
    records.push(r);
  }) as AuditLog & { records: typeof records };
  log.records = records;
  return log;
}

/** A notebook with optional manatee metadata and code cells. */
export function notebook(opts: { datasets?: string[]; purpose?: string; cells?: string[] } = {}): string {
  const manatee: Record<string, unknown> = {};
  if (opts.datasets) manatee.datasets = opts.datasets;
  if (opts.purpose) manatee.purpose = opts.purpose;
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: Object.keys(manatee).length ? { manatee } : {},
    cells: (opts.cells ?? ["print(1)"]).map((s) => ({ cell_type: "code", source: s.split(/(?<=\n)/), metadata: {}, outputs: [] })),
  });
}

/**
 * A tarball made the way the extension makes it: the home directory under
 * `<creator>-workspace/`, gzip. Written to disk and packed with the `tar` package.
 */
export async function workspaceTarball(creator: string, files: Record<string, string | Buffer>, links: Record<string, string> = {}): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), "ws-"));
  try {
    const top = `${creator}-workspace`;
    mkdirSync(join(dir, top));
    for (const [p, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, top, p)), { recursive: true });
      writeFileSync(join(dir, top, p), content);
    }
    const { symlinkSync } = await import("node:fs");
    for (const [p, target] of Object.entries(links)) symlinkSync(target, join(dir, top, p));
    const chunks: Buffer[] = [];
    const stream = tarCreate({ gzip: true, cwd: dir, portable: true }, [top]);
    for await (const c of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface RawEntry {
  path: string;
  type?: "File" | "Directory" | "SymbolicLink" | "Link" | "CharacterDevice" | "FIFO";
  mode?: number;
  content?: string | Buffer;
  linkpath?: string;
}

/** A tarball assembled header by header, for entries the `tar` package would never write (.., setuid, devices). */
export function rawTarball(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = typeof e.content === "string" ? Buffer.from(e.content) : (e.content ?? Buffer.alloc(0));
    const h = Buffer.alloc(512);
    new Header({
      path: e.path,
      type: e.type ?? "File",
      mode: e.mode ?? 0o644,
      size: data.length,
      linkpath: e.linkpath,
      mtime: new Date(0),
      uid: 1000,
      gid: 100,
    }).encode(h, 0);
    blocks.push(h);
    const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
    data.copy(padded);
    blocks.push(padded);
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

// ---------------------------------------------------------------------------------------------
// An in-memory Firestore with optimistic transactions: a transaction whose read documents
// changed before commit is retried, as the real client does on ABORTED.

interface Stored {
  data: Record<string, unknown>;
  rev: number;
}

class FakeSnap implements FsSnapshot {
  constructor(readonly exists: boolean, private readonly d?: Record<string, unknown>) {}
  data(): Record<string, unknown> | undefined {
    return this.d && structuredClone(this.d);
  }
}

class FakeRef implements FsDocRef {
  constructor(readonly db: FakeFirestore, readonly path: string) {}
  async get(): Promise<FsSnapshot> {
    await tick();
    const s = this.db.docs.get(this.path);
    return new FakeSnap(!!s, s?.data);
  }
}

type Filter = { field: string; op: "==" | "in"; value: unknown };

class FakeQuery implements FsQuery {
  constructor(
    readonly db: FakeFirestore,
    readonly coll: string,
    readonly filters: Filter[] = [],
    readonly order?: { field: string; dir: "asc" | "desc" },
    readonly lim?: number,
    readonly off = 0,
  ) {}
  where(field: string, op: "==" | "in", value: unknown): FsQuery {
    if (op === "in" && (!Array.isArray(value) || value.length > 30)) throw new Error("'in' takes a list of at most 30");
    return new FakeQuery(this.db, this.coll, [...this.filters, { field, op, value }], this.order, this.lim, this.off);
  }
  orderBy(field: string, dir: "asc" | "desc"): FsQuery {
    return new FakeQuery(this.db, this.coll, this.filters, { field, dir }, this.lim, this.off);
  }
  limit(n: number): FsQuery {
    return new FakeQuery(this.db, this.coll, this.filters, this.order, n, this.off);
  }
  offset(n: number): FsQuery {
    return new FakeQuery(this.db, this.coll, this.filters, this.order, this.lim, n);
  }
  private matching(): Record<string, unknown>[] {
    const prefix = this.coll + "/";
    let rows = [...this.db.docs.entries()]
      .filter(([p]) => p.startsWith(prefix) && !p.slice(prefix.length).includes("/"))
      .map(([, s]) => s.data)
      .filter((d) => this.filters.every((f) => (f.op === "==" ? d[f.field] === f.value : (f.value as unknown[]).includes(d[f.field]))));
    if (this.order) {
      const { field, dir } = this.order;
      rows = rows.sort((a, b) => ((a[field] as number) - (b[field] as number)) * (dir === "asc" ? 1 : -1));
    }
    return rows;
  }
  async get(): Promise<{ docs: FsSnapshot[] }> {
    await tick();
    const rows = this.matching().slice(this.off, this.lim === undefined ? undefined : this.off + this.lim);
    return { docs: rows.map((d) => new FakeSnap(true, d)) };
  }
  count() {
    return {
      get: async () => {
        await tick();
        const n = this.matching().length;
        return { data: () => ({ count: n }) };
      },
    };
  }
}

class FakeCollection extends FakeQuery {
  doc(id: string): FsDocRef {
    return new FakeRef(this.db, `${this.coll}/${id}`);
  }
}

class FakeTx implements FsTransaction {
  readonly reads = new Map<string, number>();
  readonly writes: { path: string; data: Record<string, unknown>; create: boolean }[] = [];
  constructor(readonly db: FakeFirestore) {}
  async get(ref: FsDocRef): Promise<FsSnapshot> {
    if (this.writes.length) throw new Error("Firestore transactions require all reads to be executed before all writes");
    await tick();
    const path = (ref as FakeRef).path;
    const s = this.db.docs.get(path);
    this.reads.set(path, s?.rev ?? 0);
    return new FakeSnap(!!s, s?.data);
  }
  set(ref: FsDocRef, data: Record<string, unknown>): this {
    this.writes.push({ path: (ref as FakeRef).path, data: structuredClone(data), create: false });
    return this;
  }
  create(ref: FsDocRef, data: Record<string, unknown>): this {
    this.writes.push({ path: (ref as FakeRef).path, data: structuredClone(data), create: true });
    return this;
  }
}

export class FakeFirestore implements FirestoreLike {
  readonly docs = new Map<string, Stored>();
  conflicts = 0;
  collection(path: string): FakeCollection {
    return new FakeCollection(this, path);
  }
  async runTransaction<T>(fn: (tx: FsTransaction) => Promise<T>): Promise<T> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const tx = new FakeTx(this);
      const result = await fn(tx);
      await tick();
      const stale = [...tx.reads].some(([p, rev]) => (this.docs.get(p)?.rev ?? 0) !== rev);
      if (stale) {
        this.conflicts++;
        continue;
      }
      for (const w of tx.writes) {
        if (w.create && this.docs.has(w.path)) throw new Error(`ALREADY_EXISTS: ${w.path}`);
        if (w.data && Object.values(w.data).some((v) => v === undefined)) throw new Error("Cannot use undefined as a Firestore value");
      }
      for (const w of tx.writes) this.docs.set(w.path, { data: w.data, rev: (this.docs.get(w.path)?.rev ?? 0) + 1 });
      return result;
    }
    throw new Error("ABORTED: too much contention");
  }
}

function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
