/**
 * The environment variables the container entry (main.ts) reads and the deployment
 * (lib/constructs/workloads/job-service/workload.ts) sets: the one definition both import. No imports here, so lib
 * can load it at synth time without loading the service or its Google client libraries.
 */
export const JOB_SERVICE_ENV = {
  configFile: "MANATEE_JOB_SERVICE_CONFIG",
  port: "PORT",
  hubApiUrl: "JUPYTERHUB_API_URL",
  project: "GOOGLE_CLOUD_PROJECT",
  firestoreDatabase: "MANATEE_FIRESTORE_DATABASE",
  workspaceBucket: "MANATEE_WORKSPACE_BUCKET",
  builderServiceAccount: "MANATEE_BUILDER_SERVICE_ACCOUNT",
  buildLogsBucket: "MANATEE_BUILD_LOGS_BUCKET",
  buildStepGcloud: "MANATEE_BUILD_STEP_GCLOUD",
  buildStepCrane: "MANATEE_BUILD_STEP_CRANE",
} as const;
