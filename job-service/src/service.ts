/** The job service: the API listener and the reconcile loop over the same ports. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createJobApi } from "./api";
import type { JobServiceConfig } from "./config";
import type { ApprovalSource, AuditLog, Authenticator, BlobStore, Builder, Clock, JobStore, Launcher, ReleasedOutputs } from "./ports";
import { reconcileOnce, type ReconcileResult } from "./reconcile";

export interface JobServiceDeps {
  readonly config: JobServiceConfig;
  readonly store: JobStore;
  readonly auth: Authenticator;
  readonly blobs: BlobStore;
  readonly builder: Builder;
  readonly approvals: ApprovalSource;
  readonly launcher: Launcher;
  readonly outputs: ReleasedOutputs;
  readonly audit?: AuditLog;
  readonly clock?: Clock;
}

export interface JobService {
  /** For `http.createServer(listener)`. */
  readonly listener: (req: IncomingMessage, res: ServerResponse) => void;
  /** One reconcile pass (the loop calls it; tests and `--once` too). */
  reconcileOnce(): Promise<ReconcileResult>;
  /** Runs passes every `intervalMs` (ManaTEE: 10 s), never two at once. */
  start(intervalMs?: number): void;
  /** Stops the loop and waits for a running pass. */
  stop(): Promise<void>;
}

/** Wires the API and the reconciler. */
export function createJobService(deps: JobServiceDeps): JobService {
  const audit: AuditLog = deps.audit ?? (() => undefined);
  const listener = createJobApi({ config: deps.config, store: deps.store, auth: deps.auth, blobs: deps.blobs, outputs: deps.outputs, audit, clock: deps.clock });
  const once = () => reconcileOnce({ ...deps, audit });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = true;

  const loop = (intervalMs: number) => {
    if (stopped) return;
    running = once()
      .catch((e) => audit({ event: "reconcile-error", error: (e as Error)?.message ?? String(e) }))
      .finally(() => {
        running = undefined;
        // Scheduled after the pass ends, so a slow pass never overlaps the next.
        if (!stopped) timer = setTimeout(() => loop(intervalMs), intervalMs);
      });
  };

  return {
    listener,
    reconcileOnce: once,
    start(intervalMs = 10_000) {
      if (!Number.isFinite(intervalMs) || intervalMs < 100) throw new RangeError(`intervalMs: expected at least 100, got ${intervalMs}`);
      if (!stopped) return;
      stopped = false;
      loop(intervalMs);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
