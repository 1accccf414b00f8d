// #region readme-own-stack
import { App, TerraformOutput, TerraformStack } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member";
import { CleanRoom, CleanRoomChecks, loadPolicyFile } from "manatee-cdktf";

const app = new App();
const stack = new TerraformStack(app, "retail");
const policy = loadPolicyFile("room.yaml");
new GoogleProvider(stack, "google", { project: policy.project, region: policy.region });

// The room, beside your own resources; its members are typed (buckets, keys, cluster, verifier).
const room = new CleanRoom(stack, "room", { policy });
const baskets = room.dataPlane.datasets.baskets;

// Your ETL writes the weakened (stage-1) extract; it never reads stage-2 data.
const etl = new ServiceAccount(stack, "etl", { accountId: "retail-etl", displayName: "Nightly stage-1 extract" });
new StorageBucketIamMember(stack, "etl-writes-stage1", {
  bucket: baskets.stage1Bucket.bucket.name, // a reference, so Terraform orders the grant after the bucket
  role: "roles/storage.objectCreator",
  member: etl.member,
});
new TerraformOutput(stack, "stage1_upload_bucket", { value: baskets.stage1Bucket.bucketName });

// The guardrails check your resources too (cdktf 0.21 ignores Aspects on the App: use applyTo).
CleanRoomChecks.applyTo(app, { policy });
app.synth();
// #endregion
