import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Firestore } from "@google-cloud/firestore";
import { FirestoreJobStore, type FirestoreLike } from "../src/firestore-store";
import { PreconditionFailedError, type JobStore, type NewJob } from "../src/ports";
import { MemoryJobStore } from "../src/store";
import { FakeClock, FakeFirestore } from "./helpers";

// The real client must satisfy the subset the store uses (checked by `tsc`, not at runtime).
export const realFirestoreFits = (db: Firestore): FirestoreLike => db;

function newJob(creator: string, n: number, status: NewJob["status"] = 0): NewJob {
  return {
    uuid: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}-${creator}`,
    creator,
    notebook: "a.ipynb",
    status,
    datasets: ["insurance"],
    purpose: "",
    envs: [],
    workspace: { object: "workspaces/x.tar.gz", sha256: "x", size: 1, files: [], dependencies: [] },
    decisions: {},
    deleted: false,
  };
}

const stores: [string, (clock: FakeClock) => { store: JobStore; firestore?: FakeFirestore }][] = [
  ["MemoryJobStore", (clock) => ({ store: new MemoryJobStore({ clock }) })],
  [
    "FirestoreJobStore",
    (clock) => {
      const firestore = new FakeFirestore();
      return { store: new FirestoreJobStore(firestore, { clock }), firestore };
    },
  ],
];

describe.each(stores)("%s (JobStore contract)", (_name, make) => {
  let clock: FakeClock;
  let store: JobStore;
  let firestore: FakeFirestore | undefined;
  beforeEach(() => {
    clock = new FakeClock();
    ({ store, firestore } = make(clock));
  });

  test("ids increase from 1; version 1; timestamps from the clock", async () => {
    const a = await store.create(newJob("alice", 1));
    clock.advance(1000);
    const b = await store.create(newJob("alice", 2));
    expect([a.id, b.id]).toEqual([1, 2]);
    expect(a.version).toBe(1);
    expect(a.createdAt).toBe("2025-01-01T00:00:00.000Z");
    expect(b.updatedAt).toBe("2025-01-01T00:00:01.000Z");
    expect(await store.get(1)).toEqual(a);
    expect(await store.getByUuid(b.uuid)).toEqual(b);
    expect(await store.get(99)).toBeUndefined();
    expect(await store.getByUuid("nope")).toBeUndefined();
  });

  test("concurrent creates get distinct ids", async () => {
    const jobs = await Promise.all(Array.from({ length: 8 }, (_, i) => store.create(newJob("alice", i))));
    expect(jobs.map((j) => j.id).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    if (firestore) expect(firestore.conflicts).toBeGreaterThan(0); // the counter transaction really retried
  });

  test("update enforces the expected version, bumps version and updatedAt", async () => {
    const j = await store.create(newJob("alice", 1));
    clock.advance(5000);
    const u = await store.update(j.id, 1, { status: 1, buildId: "b1" });
    expect(u).toMatchObject({ status: 1, buildId: "b1", version: 2, updatedAt: "2025-01-01T00:00:05.000Z", createdAt: j.createdAt });
    await expect(store.update(j.id, 1, { status: 2 })).rejects.toBeInstanceOf(PreconditionFailedError);
    expect((await store.get(j.id))!.status).toBe(1);
    // undefined in a patch changes nothing (Firestore would refuse it anyway)
    const v = await store.update(j.id, 2, { error: undefined, status: 10 });
    expect(v.buildId).toBe("b1");
    expect("error" in v).toBe(false);
  });

  test("of two racing updates from the same version exactly one wins", async () => {
    const j = await store.create(newJob("alice", 1));
    const results = await Promise.allSettled([store.update(j.id, 1, { status: 1 }), store.update(j.id, 1, { status: 2 })]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(PreconditionFailedError);
    expect((await store.get(j.id))!.version).toBe(2);
  });

  test("update of an unknown job and of immutable fields is refused", async () => {
    await expect(store.update(42, 1, { status: 1 })).rejects.toThrow(/job 42 not found/);
    const j = await store.create(newJob("alice", 1));
    await expect(store.update(j.id, 1, { creator: "mallory" } as never)).rejects.toThrow(/creator cannot be changed/);
  });

  test("list: newest first, filters, excludes deleted unless asked, pages", async () => {
    for (let i = 1; i <= 5; i++) await store.create(newJob(i % 2 ? "alice" : "bob", i, i === 5 ? 2 : 0));
    await store.update(3, 1, { deleted: true });
    const alice = await store.list({ creator: "alice" }, 1, 10);
    expect(alice.jobs.map((j) => j.id)).toEqual([5, 1]);
    expect(alice.total).toBe(2);
    const withDeleted = await store.list({ creator: "alice", includeDeleted: true }, 1, 10);
    expect(withDeleted.jobs.map((j) => j.id)).toEqual([5, 3, 1]);
    const p1 = await store.list({}, 1, 2);
    const p2 = await store.list({}, 2, 2);
    expect(p1).toMatchObject({ total: 4 });
    expect(p1.jobs.map((j) => j.id)).toEqual([5, 4]);
    expect(p2.jobs.map((j) => j.id)).toEqual([2, 1]);
    expect((await store.list({}, 3, 2)).jobs).toEqual([]);
    expect((await store.list({ statuses: [2] }, 1, 10)).jobs.map((j) => j.id)).toEqual([5]);
    expect((await store.list({ statuses: [] }, 1, 10)).total).toBe(0);
    await expect(store.list({}, 0, 10)).rejects.toThrow(/page: expected an integer ≥ 1/);
  });

  test("countInProgress counts 0,1,3,4,10 of that creator, not deleted ones", async () => {
    const statuses = [0, 1, 2, 3, 4, 5, 10, 11] as const;
    for (const [i, s] of statuses.entries()) await store.create(newJob("alice", i, s));
    await store.create(newJob("bob", 100, 0));
    expect(await store.countInProgress("alice")).toBe(5);
    await store.update(1, 1, { deleted: true });
    expect(await store.countInProgress("alice")).toBe(4);
    expect(await store.countInProgress("carol")).toBe(0);
  });

  test("returned records are copies: mutating one does not change the store", async () => {
    const j = await store.create(newJob("alice", 1));
    (j.datasets as string[]).push("health");
    (j as { status: number }).status = 4;
    expect(await store.get(j.id)).toMatchObject({ status: 0, datasets: ["insurance"] });
  });
});

describe("MemoryJobStore persisted to a file", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "store-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("survives a restart: jobs and the id counter", async () => {
    const path = join(dir, "sub", "jobs.json");
    const a = new MemoryJobStore({ path });
    await a.create(newJob("alice", 1));
    await a.update(1, 1, { status: 1 });
    const b = new MemoryJobStore({ path });
    expect(await b.get(1)).toMatchObject({ status: 1, version: 2 });
    expect((await b.create(newJob("alice", 2))).id).toBe(2);
    expect(JSON.parse(readFileSync(path, "utf8")).nextId).toBe(3);
  });

  test("a damaged file is an error naming the file and the fix", () => {
    const path = join(dir, "jobs.json");
    require("node:fs").writeFileSync(path, "{oops");
    expect(() => new MemoryJobStore({ path })).toThrow(/jobs\.json: not valid JSON .*move it away/);
  });
});
