// #region readme-workloads
import { App, TerraformStack } from "cdktf";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import { HelmProvider } from "@cdktf/provider-helm/lib/provider";
import { JobService, JupyterHub, jobServiceConfigFor, loadPolicyFile } from "manatee-cdktf";

export function workloadsStack(app: App): TerraformStack {
  const policy = loadPolicyFile("room.yaml");
  const stack = new TerraformStack(app, "workloads");
  new KubernetesProvider(stack, "k8s", { host: "https://cluster.example" });
  new HelmProvider(stack, "helm", { kubernetes: { host: "https://cluster.example" } });
  const registry = "us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-images";
  // CleanRoomWorkloads builds the images and passes references to the room's template and verifier.
  const config = jobServiceConfigFor(policy, {
    instanceTemplate: "projects/acme-clean-room/global/instanceTemplates/dcr-insurance-study-tee-20260101000000000000000001",
    templateNamePrefix: "dcr-insurance-study-tee-",
    userImagesRepository: "us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-user-images",
    verifierUrl: "https://insurance-study-verifier-abc123-uc.a.run.app",
    quarantineBucket: "acme-clean-room-insurance-study-quarantine", releaseBucket: "acme-clean-room-insurance-study-release",
  });
  new JobService(stack, "job-service", {
    room: policy,
    image: `${registry}/job-service:5b0a777cbf05f286bdd03e7e38d04dcd`, // tag = content hash, immutable
    config,
    // Job build steps by digest (CleanRoomWorkloads mirrors them into the room at deploy and passes these).
    buildStepImages: {
      gcloud: `us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-executor-bases/build-step-gcloud@sha256:${"1".repeat(64)}`,
      crane: `us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-executor-bases/build-step-gcrane@sha256:${"2".repeat(64)}`,
    },
    google: {
      firestoreDatabase: "insurance-study-jobs", workspaceBucket: "dcr-insurance-study-hub",
      builderServiceAccount: "dcr-insurance-study-build@acme-clean-room.iam.gserviceaccount.com",
      buildLogsBucket: "acme-clean-room-insurance-study-job-builds",
    },
    serviceAccounts: {
      jobService: "dcr-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com",
      jupyter: "jupyter-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com",
    },
  });
  // The OAuth client secret lives in a Kubernetes Secret created out of band, never in Terraform.
  new JupyterHub(stack, "jupyterhub", {
    room: policy, createNamespace: false,
    singleUserImage: `${registry}/jupyterlab-singleuser:059cf67f490bc664c6196fe2ae43ca16`,
    authenticator: {
      type: "google", clientId: "000000000000-example.apps.googleusercontent.com",
      clientSecret: { secretName: "jupyterhub-oauth" }, callbackUrl: "http://localhost:8080/hub/oauth_callback",
      hostedDomains: ["example.org"],
    },
    researchers: { "alice@example.org": "alice" },
  });
  return stack;
}
// #endregion
