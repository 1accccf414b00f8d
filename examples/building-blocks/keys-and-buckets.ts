// #region readme-keys-and-buckets
import { App, TerraformStack } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import {
  AttestationBoundKey, CleanRoomBucket, ConfidentialSpacePool, StorageEncryptionKey, datasetMembers, loadPolicyFile,
} from "manatee-cdktf";

export function keysAndBucketsStack(app: App): TerraformStack {
  const policy = loadPolicyFile("room.yaml");
  const stack = new TerraformStack(app, "keys");
  new GoogleProvider(stack, "google", { project: policy.project, region: policy.region });
  const pool = new ConfidentialSpacePool(stack, "pool", { policy });
  const storageKey = new StorageEncryptionKey(stack, "storage-key", { room: policy });
  const key = new AttestationBoundKey(stack, "insurance-key", { room: policy, dataset: "insurance" });
  key.grantDecryptToApprovedImages(datasetMembers(policy, "insurance", pool.poolRef), { dependsOn: [pool.oidcProvider] });
  const stage2 = new CleanRoomBucket(stack, "insurance-s2", {
    room: policy, purpose: "stage2", dataset: { name: "insurance", retentionDays: 30 }, encryptionKey: storageKey,
  });
  return stack;
}
// #endregion
