/**
 * The typed outputs of the composed constructs (`CleanRoom.outputs`, `CleanRoomWorkloads.outputs`,
 * `PartyDataPlane.outputs`) and the one table per construct that turns them into Terraform
 * outputs: each member has exactly one output name and description here, so what a composing
 * stack reads and what `terraform output` prints cannot disagree.
 */
import { TerraformOutput } from "cdktf";
import { Construct } from "constructs";
import type { DatasetDataPlane } from "./data-plane/dataset-holdings";

/**
 * What one dataset's data plane exposes (`dataset_<name>_*` Terraform outputs; dashes in the
 * dataset name become underscores there). Values are Terraform references (tokens) until applied.
 */
export interface DatasetOutputs {
  /** Bucket of the stage-1 (weakened) data: `dataset_<name>_stage1_bucket`. */
  readonly stage1Bucket: string;
  /** Bucket of the stage-2 (real) data: `dataset_<name>_stage2_bucket`. */
  readonly stage2Bucket: string;
  /** Id of the attestation-bound key of the stage-2 data: `dataset_<name>_key`. */
  readonly key: string;
  /** Id of the approver key (`manatee jobs approver-key` prints its fingerprint): `dataset_<name>_approver_key`. */
  readonly approverKey: string;
  /** Repository of the approvals (cosign signatures), `tee-signed-image-repos`: `dataset_<name>_signature_repository`. */
  readonly signatureRepository: string;
  /** Audience of the dataset's per-job approval provider: `dataset_<name>_job_provider`. Only for datasets with per-job approvals. */
  readonly jobProvider?: string;
  /** Emails of the reader service accounts: `dataset_<name>_readers`. Only in impersonation mode. */
  readonly readers?: readonly string[];
}

/** What a `CleanRoom` exposes: one member per Terraform output of the platform stack. */
export interface CleanRoomOutputs {
  /** GKE cluster of the job service and JupyterHub: `cluster_name`. */
  readonly clusterName: string;
  /** GKE cluster location: `cluster_location`. */
  readonly clusterLocation: string;
  /** Kubernetes API endpoint (the IAM-gated DNS endpoint by default): `cluster_endpoint`. */
  readonly clusterEndpoint: string;
  /** The job service's workspace bucket (workspace tarballs, review records): `hub_bucket`. */
  readonly hubBucket: string;
  /** Each dataset's outputs, keyed by dataset name: `dataset_<name>_*`. */
  readonly datasets: Readonly<Record<string, DatasetOutputs>>;
  /** Audience of the TEE workload's external_account credential: `workload_identity_provider`. */
  readonly workloadIdentityProvider: string;
  /** Service account attached to Confidential Space VMs: `tee_service_account`. */
  readonly teeServiceAccount: string;
  /** Registry of the job service and JupyterLab images: `service_images_registry`. */
  readonly serviceImagesRegistry: string;
  /** Registry of the executor bases: `executor_bases_registry`. */
  readonly executorBasesRegistry: string;
  /** Registry of the job images (built by the job builder): `user_images_registry`. */
  readonly userImagesRegistry: string;
  /** Firestore database of the job records: `job_state_database`. */
  readonly jobStateDatabase: string;
  /** Attestation verifier (`POST /v1/verify`): `verifier_url`. Absent with `verifier: false`. */
  readonly verifierUrl?: string;
  /** Public keys that verify release receipts: `receipts_jwks_url`. Absent with `verifier: false`. */
  readonly receiptsJwksUrl?: string;
  /** Job results before release: `quarantine_bucket`. Absent without an output release (`policy.jobs`). */
  readonly quarantineBucket?: string;
  /** Released job results and receipts: `release_bucket`. Absent without an output release (`policy.jobs`). */
  readonly releaseBucket?: string;
}

/** What a `CleanRoomWorkloads` exposes: one member per Terraform output of the workloads stack. */
export interface CleanRoomWorkloadsOutputs {
  /** The job service image built by this deploy: `job_service_image`. */
  readonly jobServiceImage: string;
  /** The JupyterLab single-user image built by this deploy: `jupyterlab_image`. */
  readonly jupyterlabImage: string;
  /** Digest of the deploy-built executor base (data owners add it to `jobs.executorBases`): `executor_base_digest`. */
  readonly executorBaseDigest: string;
}

/** What a `PartyDataPlane` exposes: one member per Terraform output of the party's stack. */
export interface PartyDataPlaneOutputs {
  /** Number of the party's project (the operator's job VMs name it in the STS audience): `project_number`. */
  readonly projectNumber: string;
  /** Audience of the party's provider for the room's job VMs: `workload_identity_provider`. */
  readonly workloadIdentityProvider: string;
  /** Each of the party's datasets' outputs, keyed by dataset name: `dataset_<name>_*`. */
  readonly datasets: Readonly<Record<string, DatasetOutputs>>;
}

/** A Terraform output to declare: its name, value and description. */
export interface TerraformOutputEntry {
  readonly id: string;
  readonly value: string | readonly string[];
  readonly description: string;
}

/** Name and description of one member's Terraform output. */
type Naming = readonly [id: string, description: string];

/**
 * The output of every member, in declaration order (the synthesized JSON keeps it): a leaf member
 * has its name and description, a nested one (the datasets) a function giving its outputs.
 * Mapped over every key, so a member without an output, or an output without a member, does not compile.
 */
export type OutputNames<T> = {
  readonly [K in keyof T]-?: NonNullable<T[K]> extends string | readonly string[] ? Naming : (value: NonNullable<T[K]>) => TerraformOutputEntry[];
};

/** The Terraform outputs of `values`, in the order of `names`; absent (optional) members have none. */
export function outputEntries<T extends object>(values: T, names: OutputNames<T>): TerraformOutputEntry[] {
  const entries: TerraformOutputEntry[] = [];
  for (const key of Object.keys(names) as (keyof T)[]) {
    const value = values[key];
    if (value === undefined) continue;
    const naming = names[key] as Naming | ((v: unknown) => TerraformOutputEntry[]);
    if (typeof naming === "function") entries.push(...naming(value));
    else entries.push({ id: naming[0], value: value as string | readonly string[], description: naming[1] });
  }
  return entries;
}

/** Declares `entries` as Terraform outputs of `scope` (ids fixed: deployed rooms keep their output names). */
export function declareTerraformOutputs(scope: Construct, entries: readonly TerraformOutputEntry[]): TerraformOutput[] {
  return entries.map((o) => new TerraformOutput(scope, o.id, { value: o.value, description: o.description, staticId: true }));
}

/** A dataset's Terraform outputs: `dataset_<name>_<suffix>`, dashes of the name as underscores. */
function datasetOutputNames(dataset: string): OutputNames<DatasetOutputs> {
  const id = (suffix: string) => `dataset_${dataset.replace(/-/g, "_")}_${suffix}`;
  return {
    stage1Bucket: [id("stage1_bucket"), `Stage-1 (weakened) data of ${dataset}`],
    stage2Bucket: [id("stage2_bucket"), `Stage-2 (real) data of ${dataset}`],
    key: [id("key"), `Attestation-bound key of ${dataset}`],
    approverKey: [id("approver_key"), `Approver key of ${dataset} (manatee jobs approver-key prints its fingerprint)`],
    signatureRepository: [id("signature_repository"), `Approvals (cosign signatures) of ${dataset}: tee-signed-image-repos`],
    jobProvider: [id("job_provider"), `Audience of ${dataset}'s per-job approval provider`],
    readers: [id("readers"), `Reader service accounts of ${dataset} (the access report says which approved image uses which)`],
  };
}

/** The Terraform outputs of every dataset, dataset by dataset. */
export function datasetOutputEntries(datasets: Readonly<Record<string, DatasetOutputs>>): TerraformOutputEntry[] {
  return Object.entries(datasets).flatMap(([name, values]) => outputEntries(values, datasetOutputNames(name)));
}

/** The typed outputs of each dataset's data plane, keyed by dataset name. */
export function datasetOutputsOf(datasets: Readonly<Record<string, DatasetDataPlane>>): Readonly<Record<string, DatasetOutputs>> {
  const out: Record<string, DatasetOutputs> = {};
  for (const [name, d] of Object.entries(datasets)) {
    out[name] = {
      stage1Bucket: d.stage1Bucket.bucketName,
      stage2Bucket: d.stage2Bucket.bucketName,
      key: d.key.cryptoKeyId,
      approverKey: d.approverKey.cryptoKeyId,
      signatureRepository: d.signatureRepository.url,
      ...(d.jobPool ? { jobProvider: d.jobPool.credentialAudience } : {}),
      // Impersonation mode: the workload's credential config names the reader its image may impersonate.
      ...(d.readers.length > 0 ? { readers: d.readers.map((r) => r.serviceAccount.email) } : {}),
    };
  }
  return out;
}

/** `CleanRoom`'s Terraform outputs, in the order the platform stack has always declared them. */
export const CLEAN_ROOM_OUTPUT_NAMES: OutputNames<CleanRoomOutputs> = {
  clusterName: ["cluster_name", "GKE cluster of the job service and JupyterHub"],
  clusterLocation: ["cluster_location", "GKE cluster location"],
  clusterEndpoint: ["cluster_endpoint", "Kubernetes API endpoint (IAM-gated DNS endpoint by default)"],
  hubBucket: ["hub_bucket", "Job service workspace bucket (workspace tarballs, review records)"],
  datasets: datasetOutputEntries,
  workloadIdentityProvider: ["workload_identity_provider", "Audience of the TEE workload's external_account credential"],
  teeServiceAccount: ["tee_service_account", "Service account attached to Confidential Space VMs"],
  serviceImagesRegistry: ["service_images_registry", "Job service and JupyterLab images (built by the workloads deploy)"],
  executorBasesRegistry: ["executor_bases_registry", "Executor bases (built by the workloads deploy)"],
  userImagesRegistry: ["user_images_registry", "Job images (built by the job builder)"],
  jobStateDatabase: ["job_state_database", "Firestore database of the job records"],
  verifierUrl: ["verifier_url", "Attestation verifier (POST /v1/verify)"],
  receiptsJwksUrl: ["receipts_jwks_url", "Public keys that verify release receipts (a public object: fetch it without credentials)"],
  quarantineBucket: ["quarantine_bucket", "Job results before release (job VMs create only; the verifier reads)"],
  releaseBucket: ["release_bucket", "Released job results and receipts (the verifier writes; the job service signs download URLs)"],
};

/** `CleanRoomWorkloads`' Terraform outputs. */
export const CLEAN_ROOM_WORKLOADS_OUTPUT_NAMES: OutputNames<CleanRoomWorkloadsOutputs> = {
  jobServiceImage: ["job_service_image", "Job service image (built by this deploy)"],
  jupyterlabImage: ["jupyterlab_image", "JupyterLab single-user image (built by this deploy)"],
  executorBaseDigest: [
    "executor_base_digest",
    "Digest of the deploy-built executor base: the data owners add it to jobs.executorBases to approve jobs built on it",
  ],
};

/** `PartyDataPlane`'s Terraform outputs; the descriptions name the party and its project. */
export function partyDataPlaneOutputNames(party: { readonly name: string; readonly project: string }): OutputNames<PartyDataPlaneOutputs> {
  return {
    projectNumber: ["project_number", `Project number of ${party.project} (publish it: the operator's job VMs name it in the STS audience)`],
    workloadIdentityProvider: ["workload_identity_provider", `Audience of ${party.name}'s provider for the room's job VMs`],
    datasets: datasetOutputEntries,
  };
}
