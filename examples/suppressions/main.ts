import { App, TerraformStack } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { StorageBucket } from "@cdktf/provider-google/lib/storage-bucket";
import { CleanRoom, CleanRoomChecks, CleanRoomSuppressions, loadPolicyFile } from "manatee-cdktf";

const app = new App();
const stack = new TerraformStack(app, "credit");
const policy = loadPolicyFile("room.yaml");
new GoogleProvider(stack, "google", { project: policy.project, region: policy.region });
const room = new CleanRoom(stack, "room", { policy });
// A bootstrap bucket of yours whose public access prevention an organization policy enforces.
const bootstrap = new StorageBucket(stack, "bootstrap", {
  name: "acme-credit-bootstrap", location: "US-EAST4", uniformBucketLevelAccess: true, publicAccessPrevention: "inherited",
});

// #region readme-suppressions
// A suppression names the rule and says why; it is recorded in the synthesized JSON for reviewers.
CleanRoomSuppressions.add(bootstrap, [{ id: "MCR-GCS5", reason: "Org policy enforces public access prevention on this project" }]);
// On the room's typed members: one dataset's approver key, so the rule still warns for the other.
const loansApproverKey = room.dataPlane.datasets.loans.approverKey;
CleanRoomSuppressions.add(loansApproverKey, [{ id: "MCR-APV2", reason: "loans uses standing approvals only (risk committee, RC-7)" }], {
  applyToChildren: true,
});
// #endregion

CleanRoomChecks.applyTo(app, { policy });
app.synth();
