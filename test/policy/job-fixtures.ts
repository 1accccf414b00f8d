import { CleanRoomPolicy, normalizePolicy } from "../../lib/policy/model";
import { examplePolicy } from "../util";

// Fingerprints of two real P-256 keys (lowercase hex SHA-256 of the DER SubjectPublicKeyInfo).
export const FINGERPRINT_A = "a3771ff85319c4040df7299b86aa579ede391a3a4afe755b442335d324911dd4";
export const FINGERPRINT_B = "3d2e388615ff4ee3c6e18410353402dc726fda76349a38e049300bf49fc4cb14";

/** The example room with approver keys on both datasets. */
export function jobPolicy(jobs: Parameters<typeof normalizePolicy>[0]["jobs"] = {}): CleanRoomPolicy {
  const base = examplePolicy();
  return examplePolicy({
    datasets: {
      insurance: { ...base.datasets[0], approverKey: { fingerprint: FINGERPRINT_A } },
      claims: { ...base.datasets[1], approverKey: { fingerprint: FINGERPRINT_B } },
    },
    jobs,
  });
}


/** The example room with no approver key fingerprint on any dataset: per-job approval off everywhere. */
export function noApproverKeys(overrides: Partial<Parameters<typeof normalizePolicy>[0]> = {}): CleanRoomPolicy {
  const base = examplePolicy();
  const { approverKey: _a, ...insurance } = base.datasets[0];
  const { approverKey: _b, ...claims } = base.datasets[1];
  return examplePolicy({ datasets: { insurance, claims }, ...overrides });
}
