/**
 * Once-only decisions: before /v1/verify allows a token, it creates `replay/<sha256(token)>` in
 * the audit bucket with the object store's create-only upload (ifGenerationMatch=0 on Cloud
 * Storage, the same mechanism as the release marker). The precondition is evaluated by the
 * bucket, so of any number of verifier instances sharing it exactly one decides a given token.
 */
import { ObjectStore, memoryObjectStore } from "./object-store";

/** Markers live under this prefix of the audit bucket; the verifier may create objects there only. */
export const REPLAY_MARKER_PREFIX = "replay/";

/** Where the verifier's once-only markers are created. */
export interface ReplayStore {
  /** A store whose createIfAbsent is atomic (gcsObjectStore, localObjectStore). */
  readonly store: ObjectStore;
  /** The audit bucket (or, locally, its directory under the store). */
  readonly bucket: string;
}

export interface ReplayGuard {
  /**
   * Mark the token decided: true when this call created the marker, false when the token was
   * already decided (here or on another instance). Throws when the store fails.
   */
  claim(tokenSha256: string, record: Record<string, unknown>): Promise<boolean>;
  /** Where the markers live, for the start-up line. */
  readonly description: string;
}

export function replayGuard(replay: ReplayStore | undefined): ReplayGuard {
  const { store, bucket } = replay ?? { store: memoryObjectStore(), bucket: "memory" };
  if (typeof store?.createIfAbsent !== "function" || typeof bucket !== "string" || bucket === "") {
    throw new Error("replayStore: expected { store: ObjectStore, bucket: <audit bucket name> }.");
  }
  return {
    description: `${store.description ?? "custom object store"}, bucket ${bucket}, ${REPLAY_MARKER_PREFIX}<token sha256>`,
    claim: (tokenSha256, record) =>
      store.createIfAbsent(bucket, `${REPLAY_MARKER_PREFIX}${tokenSha256}`, Buffer.from(`${JSON.stringify(record)}\n`), "application/json"),
  };
}
