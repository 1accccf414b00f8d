// #region readme-two-rooms
import { App, TerraformStack } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { CleanRoom, CleanRoomChecks, normalizePolicy } from "manatee-cdktf";

// Two rooms built in TypeScript: same shape, own project, own data, own approvals.
const room = (name: string, project: string, dataset: string, digest: string) =>
  normalizePolicy({
    name, project, region: "us-central1", zone: "us-central1-a",
    verifier: { audience: `https://verifier.${project}.example.org/release` },
    datasets: { [dataset]: { retentionDays: 30, stage1: { kind: "sample", fraction: 0.1 } } },
    approvals: [{ imageDigest: digest, datasets: [dataset], purpose: `Study of ${dataset}`, approvedBy: "dpo@example.org", expires: "2027-06-30" }],
    researchers: [`group:${name}@example.org`],
  });
const cardio = room("cardio", "acme-cardio", "ecg", `sha256:${"a1".repeat(32)}`);
const oncology = room("oncology", "acme-oncology", "biopsies", `sha256:${"b2".repeat(32)}`);

const app = new App();
const stack = new TerraformStack(app, "hospital");
// One provider per project; each room uses its own.
const provider = (p: typeof cardio) => new GoogleProvider(stack, `google-${p.name}`, { alias: p.name, project: p.project, region: p.region });
new CleanRoom(stack, "cardio", { policy: cardio, provider: provider(cardio) });
new CleanRoom(stack, "oncology", { policy: oncology, provider: provider(oncology) });
// Outputs are per room (`cardio_cluster_name`, `oncology_cluster_name`, …) when a stack holds several.
// The guardrails judge each room's grants by that room's policy (approved digests, owners, retention).
CleanRoomChecks.applyTo(app, { policy: cardio });
app.synth();
// #endregion
