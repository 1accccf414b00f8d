// #region readme-verifier
import { App, TerraformStack } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { AttestationVerifier, OutputRelease, StorageEncryptionKey, loadPolicyFile } from "manatee-cdktf";

export function verifierStack(app: App): TerraformStack {
  const policy = loadPolicyFile("room.yaml");
  const stack = new TerraformStack(app, "verifier");
  new GoogleProvider(stack, "google", { project: policy.project, region: policy.region });
  const cmek = new StorageEncryptionKey(stack, "cmek", { room: policy }); // the audit, quarantine and release buckets are CMEK-encrypted
  const verifier = new AttestationVerifier(stack, "verifier", {
    policy,
    encryptionKey: cmek,
    jobServiceMember: "serviceAccount:dcr-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com",
    // The policy has a job path (policy.jobs): the verifier releases job results from quarantine (CleanRoom wires this).
    outputRelease: new OutputRelease(stack, "output-release", { policy, encryptionKey: cmek }),
  });
  verifier.grantReadAudit("group:auditors@example.org");
  return stack;
}
// #endregion
