// Each construct family on its own, one stack each (the README's construct catalog shows these files).
import { App } from "cdktf";
import { dataPlaneStack } from "./data-plane";
import { keysAndBucketsStack } from "./keys-and-buckets";
import { platformPiecesStack } from "./platform-pieces";
import { verifierStack } from "./verifier";
import { workloadsStack } from "./workloads";
import { CleanRoomChecks, loadPolicyFile } from "manatee-cdktf";

const app = new App();
dataPlaneStack(app);
keysAndBucketsStack(app);
platformPiecesStack(app);
workloadsStack(app);
verifierStack(app);
CleanRoomChecks.applyTo(app, { policy: loadPolicyFile("room.yaml") });
app.synth();
