/**
 * The provisioning pull loop against a fake Pub/Sub REST API (the PubsubRequest port): each pulled
 * message becomes at most one job and is acknowledged once handled; a message whose handler fails
 * is nacked and comes again; failed or empty pulls back off; stop() ends the loops.
 */
import { createProvisioningPuller, pullBackoffMs, type PubsubRequest } from "../src/provisioning-pull";
import type { PubsubMessage } from "../src/provisioning-trigger";
import { MemoryJobStore } from "../src/store";
import { memoryAudit } from "./helpers";
import { SUBSCRIPTION, notification, provisioningConfig, scheduledRun } from "./provisioning-fixtures";

const ENDPOINT = "https://pubsub.googleapis.com/v1";

/**
 * Pub/Sub for one subscription: `publish` queues a message; a pull returns what is queued and not
 * leased; an ack removes it; a nack (deadline 0) or an unacked pull makes it deliverable again.
 */
class FakePubsub {
  readonly calls: { verb: string; data: Record<string, unknown> }[] = [];
  private readonly queue: { ackId: string; message: PubsubMessage; leased: boolean }[] = [];
  private next = 0;
  failPulls = 0;

  publish(...messages: PubsubMessage[]): void {
    for (const message of messages) this.queue.push({ ackId: `ack-${++this.next}`, message, leased: false });
  }
  get pending(): number {
    return this.queue.length;
  }
  verbs(): string[] {
    return this.calls.map((c) => c.verb);
  }

  readonly request: PubsubRequest = async <T>(options: { url: string; method: "POST"; data: unknown }) => {
    const m = /^https:\/\/pubsub\.googleapis\.com\/v1\/(projects\/[^/]+\/subscriptions\/[^/:]+):(pull|acknowledge|modifyAckDeadline)$/.exec(options.url);
    if (!m || m[1] !== SUBSCRIPTION || options.method !== "POST") throw Object.assign(new Error(`404 ${options.url}`), { code: 404 });
    const data = options.data as Record<string, unknown>;
    this.calls.push({ verb: m[2], data });
    if (m[2] === "pull") {
      if (this.failPulls > 0 && this.failPulls--) throw Object.assign(new Error("503 unavailable"), { code: 503 });
      const batch = this.queue.filter((q) => !q.leased).slice(0, data.maxMessages as number);
      for (const q of batch) q.leased = true;
      return { data: (batch.length ? { receivedMessages: batch.map((q) => ({ ackId: q.ackId, message: q.message })) } : {}) as T };
    }
    const ids = new Set(data.ackIds as string[]);
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (!ids.has(this.queue[i].ackId)) continue;
      if (m[2] === "acknowledge") this.queue.splice(i, 1);
      else this.queue[i] = { ...this.queue[i], ackId: `ack-${++this.next}`, leased: false };
    }
    return { data: {} as T };
  };
}

function setup() {
  const pubsub = new FakePubsub();
  const store = new MemoryJobStore();
  const audit = memoryAudit();
  const puller = createProvisioningPuller({ config: provisioningConfig(), store, audit, request: pubsub.request, endpoint: ENDPOINT, backoff: { minMs: 1, maxMs: 5 } });
  const jobs = async () => (await store.list({}, 1, 100)).jobs;
  return { pubsub, store, audit, puller, jobs };
}

describe("createProvisioningPuller", () => {
  test("given a config with one provisioning dataset, then it pulls that dataset's subscription only", () => {
    expect(setup().puller.subscriptions).toEqual([SUBSCRIPTION]);
  });

  test("given a new stage-2 object's notification, when pulled, then exactly one job is made and the message is acknowledged", async () => {
    const s = setup();
    s.pubsub.publish(notification());

    const result = await s.puller.pullOnce(SUBSCRIPTION);

    expect(result).toEqual({ received: 1, acked: 1, failed: 0 });
    expect((await s.jobs()).map((j) => j.datasets)).toEqual([["insurance"]]);
    expect(s.pubsub.calls).toEqual([
      { verb: "pull", data: { maxMessages: 10 } },
      { verb: "acknowledge", data: { ackIds: ["ack-1"] } },
    ]);
    expect(s.pubsub.pending).toBe(0);
  });

  test("given the same notification delivered again (at least once), then it is acknowledged and no second job is made", async () => {
    const s = setup();
    s.pubsub.publish(notification());
    await s.puller.pullOnce(SUBSCRIPTION);
    s.pubsub.publish(notification());

    const again = await s.puller.pullOnce(SUBSCRIPTION);

    expect(again).toEqual({ received: 1, acked: 1, failed: 0 });
    expect(await s.jobs()).toHaveLength(1);
    expect(s.audit.records.map((r) => r.event)).toEqual(["provisioning-submitted", "provisioning-duplicate"]);
  });

  test("given a message the handler ignores (a deletion) and a scheduled run, then both are acknowledged and only the run makes a job", async () => {
    const s = setup();
    s.pubsub.publish(notification(undefined, undefined, { eventType: "OBJECT_DELETE" }), scheduledRun());

    expect(await s.puller.pullOnce(SUBSCRIPTION)).toEqual({ received: 2, acked: 2, failed: 0 });
    expect(s.pubsub.calls[1]).toEqual({ verb: "acknowledge", data: { ackIds: ["ack-1", "ack-2"] } });
    expect(await s.jobs()).toHaveLength(1);
    expect(s.pubsub.pending).toBe(0);
  });

  test("given a job store that fails, then the message is not acknowledged but nacked, and once the store is back its redelivery makes the one job", async () => {
    const s = setup();
    const create = s.store.create.bind(s.store);
    s.store.create = async () => {
      throw new Error("firestore unavailable");
    };
    s.pubsub.publish(notification());

    expect(await s.puller.pullOnce(SUBSCRIPTION)).toEqual({ received: 1, acked: 0, failed: 1 });
    expect(s.pubsub.verbs()).toEqual(["pull", "modifyAckDeadline"]);
    expect(s.pubsub.calls[1].data).toEqual({ ackIds: ["ack-1"], ackDeadlineSeconds: 0 });
    expect(s.pubsub.pending).toBe(1);
    expect(s.audit.records.find((r) => r.event === "provisioning-failed")).toMatchObject({ subscription: SUBSCRIPTION, error: "firestore unavailable" });

    s.store.create = create;
    expect(await s.puller.pullOnce(SUBSCRIPTION)).toEqual({ received: 1, acked: 1, failed: 0 });
    expect(await s.jobs()).toHaveLength(1);
    expect(s.pubsub.pending).toBe(0);
  });

  test("given a running loop, when messages arrive and pulls fail, then it keeps pulling (backing off) and handles them; stop() ends it and no pull follows", async () => {
    const s = setup();
    s.pubsub.failPulls = 2;
    s.puller.start();
    s.pubsub.publish(notification("a.csv", "1"), notification("b.csv", "2"));
    await until(async () => (await s.jobs()).length === 2 && s.pubsub.pending === 0);

    await s.puller.stop();
    const calls = s.pubsub.calls.length;
    await new Promise((r) => setTimeout(r, 30));

    expect(s.pubsub.calls.length).toBe(calls);
    expect(s.audit.records.filter((r) => r.event === "provisioning-pull-failed")).toHaveLength(2);
    expect(await s.jobs()).toHaveLength(2);
  });

  test("given a pull in flight, when stopped, then stop() does not wait for it and what it brings is left for redelivery", async () => {
    const s = setup();
    let answer: (v: { data: unknown }) => void = () => undefined;
    const hanging: PubsubRequest = <T>() => new Promise<{ data: T }>((resolve) => (answer = resolve as typeof answer));
    const puller = createProvisioningPuller({ config: provisioningConfig(), store: s.store, request: hanging });
    puller.start();
    await new Promise((r) => setTimeout(r, 5));

    await puller.stop();
    answer({ data: { receivedMessages: [{ ackId: "late", message: notification() }] } });
    await new Promise((r) => setTimeout(r, 5));

    expect(await s.jobs()).toHaveLength(0);
  });
});

describe("pullBackoffMs", () => {
  test("given consecutive failures, then the wait doubles from minMs up to maxMs, with jitter in its upper half", () => {
    const b = { minMs: 1000, maxMs: 60_000 };
    expect([1, 2, 3, 7, 50].map((n) => pullBackoffMs(n, b, () => 0))).toEqual([500, 1000, 2000, 30_000, 30_000]);
    expect([1, 2, 3, 7, 50].map((n) => pullBackoffMs(n, b, () => 0.999999))).toEqual([1000, 2000, 4000, 60_000, 60_000]);
    expect(new Set(Array.from({ length: 20 }, (_, i) => pullBackoffMs(4, b, () => i / 20))).size).toBe(20);
  });
});

async function until(condition: () => Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 2));
  }
}
