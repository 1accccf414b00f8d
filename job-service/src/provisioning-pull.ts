/**
 * The pull loop of the stage-1 provisioning triggers: for each dataset whose config names a
 * `provisioning.subscription`, pulls its messages over the Pub/Sub REST API (v1 `:pull`), hands
 * each to handleProvisioningNotification and acknowledges it once handled. A message whose handler
 * throws (the job store failed) is not acknowledged but nacked (ack deadline 0), so Pub/Sub
 * delivers it again; the handler is idempotent, so a redelivery of a handled message makes no job.
 *
 * A failed or empty pull backs off (exponential, bounded, with jitter), per subscription.
 */
import { errorText } from "./audit";
import type { JobServiceConfig } from "./config";
import type { AuditLog, JobStore } from "./ports";
import { handleProvisioningNotification, type ProvisioningOutcome, type PubsubMessage } from "./provisioning-trigger";

/**
 * An authorized POST to the Pub/Sub API (main.ts passes google-auth-library's `GoogleAuth.request`,
 * as for Compute; tests pass a fake). Rejects on HTTP errors.
 */
export type PubsubRequest = <T>(options: { url: string; method: "POST"; data: unknown }) => Promise<{ data: T }>;

/** Bounds of the wait after a failed or empty pull. */
export interface PullBackoff {
  /** First wait. @default 1000 */
  readonly minMs?: number;
  /** Longest wait (a new object starts its run at most this late after an idle spell). @default 60000 */
  readonly maxMs?: number;
}

export interface ProvisioningPullerOptions {
  readonly config: JobServiceConfig;
  readonly store: JobStore;
  readonly request: PubsubRequest;
  /** @default - no audit */
  readonly audit?: AuditLog;
  /** @default "https://pubsub.googleapis.com/v1" */
  readonly endpoint?: string;
  /** Messages per pull (each becomes at most one job). @default 10 */
  readonly maxMessages?: number;
  /** @default { minMs: 1000, maxMs: 60000 } */
  readonly backoff?: PullBackoff;
  /** Uniform in [0, 1): the jitter. @default Math.random */
  readonly random?: () => number;
}

/** What one pull did. */
export interface PullResult {
  readonly received: number;
  readonly acked: number;
  /** Messages left for redelivery: their handler threw, or their acknowledgement failed. */
  readonly failed: number;
}

export interface ProvisioningPuller {
  /** The subscriptions pulled (config order). */
  readonly subscriptions: readonly string[];
  /** One pull of `subscription`: handles and acknowledges what it received. Rejects when the pull fails. */
  pullOnce(subscription: string): Promise<PullResult>;
  /** One loop per subscription until stop(). */
  start(): void;
  /** Ends the loops: waits for messages being handled, abandons a pull in flight (its messages come again). */
  stop(): Promise<void>;
}

interface ReceivedMessage {
  readonly ackId: string;
  readonly message: PubsubMessage;
}

/**
 * The wait after `failures` consecutive failed or empty pulls (1, 2, …): half of min(max, min·2^(n-1))
 * plus a random part of the other half, so rooms started together do not pull in step.
 */
export function pullBackoffMs(failures: number, backoff: PullBackoff = {}, random: () => number = Math.random): number {
  const min = backoff.minMs ?? 1000;
  const max = backoff.maxMs ?? 60_000;
  const ceiling = Math.min(max, min * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** The subscriptions the config names, one per dataset with provisioning. */
export function provisioningSubscriptions(config: JobServiceConfig): string[] {
  return config.datasets.flatMap((d) => (d.provisioning?.subscription ? [d.provisioning.subscription] : []));
}

export function createProvisioningPuller(options: ProvisioningPullerOptions): ProvisioningPuller {
  const { config, store, request } = options;
  const audit: AuditLog = options.audit ?? (() => undefined);
  const endpoint = (options.endpoint ?? "https://pubsub.googleapis.com/v1").replace(/\/+$/, "");
  const maxMessages = options.maxMessages ?? 10;
  if (!Number.isInteger(maxMessages) || maxMessages < 1 || maxMessages > 1000) throw new RangeError(`maxMessages: expected 1 to 1000, got ${maxMessages}`);
  const { minMs = 1000, maxMs = 60_000 } = options.backoff ?? {};
  if (!(minMs >= 0 && maxMs >= minMs)) throw new RangeError(`backoff: expected 0 <= minMs <= maxMs, got ${minMs} and ${maxMs}`);
  const subscriptions = provisioningSubscriptions(config);
  const post = <T>(subscription: string, verb: string, data: unknown) => request<T>({ url: `${endpoint}/${subscription}:${verb}`, method: "POST", data });

  let running = false;
  let stopping = false;
  // stop() resolves it: the sleeping loops wake, and the wait for a pull in flight ends.
  let wake: () => void = () => undefined;
  const pending = () => new Promise<void>((resolve) => (wake = resolve));
  let woken = pending();
  let loops: Promise<void>[] = [];
  const handling = new Set<Promise<unknown>>();

  /** Hands each message to the handler; the ack ids to acknowledge and to nack. */
  async function handleAll(subscription: string, received: readonly ReceivedMessage[]) {
    const ack: string[] = [];
    const nack: string[] = [];
    for (const { ackId, message } of received) {
      let outcome: ProvisioningOutcome;
      try {
        outcome = await handleProvisioningNotification({ config, store, audit }, subscription, message);
      } catch (e) {
        audit({ event: "provisioning-failed", subscription, messageId: message?.messageId, error: errorText(e) });
        nack.push(ackId);
        continue;
      }
      // The handler audits submitted and ignored messages.
      if (outcome.action === "duplicate") audit({ event: "provisioning-duplicate", subscription, messageId: message.messageId, job: outcome.job.id });
      ack.push(ackId);
    }
    return { ack, nack };
  }

  async function pullOnce(subscription: string): Promise<PullResult> {
    const pulled = post<{ receivedMessages?: ReceivedMessage[] }>(subscription, "pull", { maxMessages });
    const response = await Promise.race([pulled, woken.then(() => undefined)]);
    // Stopped during the pull: what it brings is left unacknowledged and comes again.
    if (response === undefined || stopping) {
      pulled.catch(() => undefined);
      return { received: 0, acked: 0, failed: 0 };
    }
    const received = (response.data?.receivedMessages ?? []).filter((m) => typeof m?.ackId === "string");
    if (received.length === 0) return { received: 0, acked: 0, failed: 0 };
    const work = handleAll(subscription, received).then(async ({ ack, nack }): Promise<PullResult> => {
      let acked = ack.length;
      if (ack.length > 0) {
        try {
          await post(subscription, "acknowledge", { ackIds: ack });
        } catch (e) {
          // Redelivered once the deadline passes; the handler then finds the job it made.
          audit({ event: "provisioning-ack-failed", subscription, count: ack.length, error: errorText(e) });
          acked = 0;
        }
      }
      if (nack.length > 0) {
        // Optional: without it the message comes again when its ack deadline passes.
        await post(subscription, "modifyAckDeadline", { ackIds: nack, ackDeadlineSeconds: 0 }).catch((e) =>
          audit({ event: "provisioning-nack-failed", subscription, count: nack.length, error: errorText(e) }),
        );
      }
      return { received: received.length, acked, failed: received.length - acked };
    });
    handling.add(work);
    try {
      return await work;
    } finally {
      handling.delete(work);
    }
  }

  async function loop(subscription: string): Promise<void> {
    let failures = 0;
    while (!stopping) {
      let result: PullResult | undefined;
      try {
        result = await pullOnce(subscription);
      } catch (e) {
        audit({ event: "provisioning-pull-failed", subscription, error: errorText(e) });
      }
      if (stopping) break;
      failures = result && result.received > 0 && result.failed === 0 ? 0 : failures + 1;
      if (failures > 0) await sleep(pullBackoffMs(failures, { minMs, maxMs }, options.random));
    }
  }

  function sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), woken]).finally(() => clearTimeout(timer));
  }

  return {
    subscriptions,
    pullOnce,
    start() {
      if (running) return;
      running = true;
      loops = subscriptions.map((s) => loop(s));
      audit({ event: "provisioning-pull-started", subscriptions });
    },
    async stop() {
      if (!running) return;
      stopping = true;
      wake();
      await Promise.all([...loops, ...handling]);
      loops = [];
      running = stopping = false;
      woken = pending();
    },
  };
}
