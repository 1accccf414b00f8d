/**
 * Owners' decisions read from the datasets' signature repositories: the job service's view of
 * what the launcher will see. It holds no approver key and cannot write there, so it cannot approve.
 */
import type { JobServiceConfig, JobServiceDataset } from "./config";
import type { ApprovalSource, DatasetDecision } from "./ports";
import { verifiedSignatures, type VerifiedSignature } from "./cosign";
import type { Registry } from "./oci";

export interface SignatureApprovalSourceOptions {
  readonly registry: Registry;
  readonly config: JobServiceConfig;
  /** Where skipped (invalid) signatures are reported. */
  readonly log?: (message: string) => void;
}

/**
 * For each requested dataset, reads its signature repository: a valid signature counts only when
 * its `key_id` equals the dataset's `approverKey.fingerprint` (a valid signature by any other key,
 * another dataset's included, does not); a valid signed rejection by that key makes the dataset
 * `rejected` and wins over an approval. Datasets without an approver key never get a signature
 * decision (per-job approval is off for them); datasets with no decision are absent from the result.
 */
export class SignatureApprovalSource implements ApprovalSource {
  constructor(private readonly options: SignatureApprovalSourceOptions) {}

  async decisions(imageDigest: string, datasets: readonly string[]): Promise<Record<string, DatasetDecision>> {
    const out: Record<string, DatasetDecision> = {};
    for (const name of datasets) {
      const dataset = this.dataset(name);
      const fingerprint = dataset.approverKey?.fingerprint;
      if (!fingerprint) continue;
      const read = async (kind: "signature" | "rejection") => {
        try {
          return (await verifiedSignatures(this.options.registry, dataset.signatureRepository, imageDigest, { kind, log: this.options.log })).filter((s) => s.keyId === fingerprint);
        } catch (e) {
          throw new Error(`dataset ${name}: cannot read ${kind}s from ${dataset.signatureRepository}: ${(e as Error).message}`);
        }
      };
      const rejection = (await read("rejection"))[0];
      if (rejection) {
        out[name] = { ...decision("rejected", rejection), reason: rejection.payload.optional?.["manatee.reason"] ?? "" };
        continue;
      }
      const approval = (await read("signature"))[0];
      if (approval) out[name] = decision("approved", approval);
    }
    return out;
  }

  private dataset(name: string): JobServiceDataset {
    const d = this.options.config.datasets.find((x) => x.name === name);
    if (!d) throw new Error(`dataset ${JSON.stringify(name)} is not in the room (datasets: ${this.options.config.datasets.map((x) => x.name).join(", ")})`);
    return d;
  }
}

function decision(state: "approved" | "rejected", s: VerifiedSignature): DatasetDecision {
  return {
    state,
    by: s.payload.optional?.["manatee.by"] ?? "unknown",
    at: s.payload.optional?.["manatee.at"] ?? "unknown",
    keyFingerprint: s.keyId,
    source: "signature",
  };
}
