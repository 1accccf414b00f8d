// #region readme-platform-pieces
import { App, TerraformStack } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import {
  CleanRoomApis, CleanRoomCluster, CleanRoomNetwork, ConfidentialSpaceWorkload, ImageRegistry, JobServiceIdentity, JobStateStore,
  StorageEncryptionKey, loadPolicyFile,
} from "manatee-cdktf";

export function platformPiecesStack(app: App): TerraformStack {
  const policy = loadPolicyFile("room.yaml");
  const stack = new TerraformStack(app, "platform");
  new GoogleProvider(stack, "google", { project: policy.project, region: policy.region });
  const apis = new CleanRoomApis(stack, "apis", { room: policy });
  const network = new CleanRoomNetwork(stack, "network", { room: policy, dependsOn: apis.dependables });
  const cluster = new CleanRoomCluster(stack, "cluster", { room: policy, network, dependsOn: apis.dependables });
  const registry = new ImageRegistry(stack, "registry", { room: policy });
  cluster.grantImagePull(registry.serviceImages);
  const tee = new ConfidentialSpaceWorkload(stack, "tee", { policy, subnetwork: network.teeSubnetworkSelfLink });
  const state = new JobStateStore(stack, "job-state", { room: policy, dependsOn: apis.dependables });
  // Build ≠ launch: the job service launches only from `tee`'s template; its builder has no compute permission.
  new JobServiceIdentity(stack, "job-identity", {
    room: policy,
    launch: { zone: tee.zone, templateNamePrefix: tee.templateNamePrefix },
    teeServiceAccount: tee, // its owner makes the actAs binding, in the TEE account's one IAM policy
    workspaceBucket: "dcr-insurance-study-hub",
    userImages: registry.userImages, executorBases: registry.executorBases,
    stateStore: state,
    encryptionKey: new StorageEncryptionKey(stack, "cmek", { room: policy }), // the build logs bucket is CMEK-encrypted
  });
  return stack;
}
// #endregion
