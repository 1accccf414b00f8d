// #region readme-data-plane
import { App, TerraformStack } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { CleanRoomDataPlane, normalizePolicy, assertValidPolicy } from "manatee-cdktf";

export function dataPlaneStack(app: App): TerraformStack {
  const policy = normalizePolicy({
    name: "genomics", project: "acme-genomics", region: "europe-west4", zone: "europe-west4-a",
    datasets: { variants: { stage1: { kind: "dp-synthetic", mechanism: "aim", epsilon: 0.5 } } },
    approvals: [{ imageDigest: "sha256:" + "0".repeat(64), datasets: ["variants"], purpose: "GWAS", approvedBy: "dpo@example.org", expires: "2027-06-30" }],
    researchers: ["group:geneticists@example.org"],
  });
  assertValidPolicy(policy);
  const stack = new TerraformStack(app, "data");
  new GoogleProvider(stack, "google", { project: policy.project, region: policy.region });
  const data = new CleanRoomDataPlane(stack, "data", { policy });
  // Decrypt on the dataset key and read on its stage-2 bucket: only the approved image's principal set.
  data.grantStage1Read("serviceAccount:notebooks@acme-genomics.iam.gserviceaccount.com");
  return stack;
}
// #endregion
