// #region readme-yaml-room
import { App } from "cdktf";
import { createCleanRoomStacks, loadPolicyFile, stacksOptionsFromPolicy } from "manatee-cdktf";

// Everything comes from room.yaml: the policy, and how JupyterHub and the cluster are run.
const policy = loadPolicyFile("room.yaml");
const app = new App();
// `<name>-platform` (Google) and `<name>-workloads` (Kubernetes, Helm), guardrails on.
createCleanRoomStacks(app, policy, stacksOptionsFromPolicy(policy, "room.yaml"));
app.synth();
// #endregion
