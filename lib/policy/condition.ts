/**
 * The workload identity provider's attribute condition (CEL). The same string goes
 * into the verifier policy document, so Google's STS and our verifier decide on
 * exactly the same expression. Image digests are NOT part of it: they live in the
 * principal sets (members.ts), so the condition's length does not grow with approvals
 * (except an approval that allows `tee-env-*` names for its image).
 */
import { approvalsOfParty } from "./consortium";
import { Approval, CleanRoomPolicy, approvalGpu, jobsOf } from "./model";
import { manateeContract } from "./names";
import { requireParty } from "./party-names";
import { ERROR_CODES, ManateeError } from "../errors";

/** Google's limit on `attribute_condition` (IAM API, WorkloadIdentityPoolProvider). */
export const ATTRIBUTE_CONDITION_MAX_LENGTH = 4096;

export class AttributeConditionTooLongError extends ManateeError {
  constructor(readonly length: number) {
    super(
      ERROR_CODES.limitExceeded,
      `The compiled attribute condition is ${length} characters; Google's limit is ` +
        `${ATTRIBUTE_CONDITION_MAX_LENGTH}. Reduce tee.hardware, shorten approvals' allowedEnv or shorten the project id.`,
    );
  }
}

/** A CEL single-quoted string literal. */
export function celString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** Each clause of the condition with a plain-words explanation (used by the access report). */
export interface ConditionClause {
  readonly cel: string;
  readonly meaning: string;
}

export function attributeConditionClauses(policy: CleanRoomPolicy): ConditionClause[] {
  return [...productionClauses(policy), CMD_OVERRIDE_CLAUSE, standingEnvClause(policy.approvals), ...gpuApprovalClauses(policy)];
}

/**
 * A consortium party's data pool (docs/consortium-contract.md): the room's clauses, pinned to the
 * operator's project and TEE service account (a consortium's `project` is the operator's), and
 * `tee-env-*` names only as this party's own approvals allow them: another party's approval
 * never widens what this party's pool admits.
 */
export function partyAttributeConditionClauses(policy: CleanRoomPolicy, party: string): ConditionClause[] {
  const own = requireParty(policy, party);
  return [...productionClauses(policy), CMD_OVERRIDE_CLAUSE, standingEnvClause(approvalsOfParty(policy, own.name)), ...gpuApprovalClauses(policy)];
}

/** Compile a party's data-pool condition; throws AttributeConditionTooLongError past 4096 characters. */
export function compilePartyAttributeCondition(policy: CleanRoomPolicy, party: string): string {
  return joinWithinLimit(partyAttributeConditionClauses(policy, party));
}

function joinWithinLimit(clauses: readonly ConditionClause[]): string {
  const condition = clauses.map((c) => c.cel).join(" && ");
  if (condition.length > ATTRIBUTE_CONDITION_MAX_LENGTH) throw new AttributeConditionTooLongError(condition.length);
  return condition;
}

/** What every pool of the room requires: production Confidential Space in the room's project, as its TEE account. */
function productionClauses(policy: CleanRoomPolicy): ConditionClause[] {
  const teeSa = manateeContract(policy.name, policy.project).teeServiceAccountEmail;
  const clauses: ConditionClause[] = [
    {
      cel: `assertion.swname == ${celString("CONFIDENTIAL_SPACE")}`,
      meaning: "The VM runs Google's Confidential Space image (not a plain VM).",
    },
  ];
  if (!policy.tee.allowDebug) {
    clauses.push(
      {
        cel: STABLE_IMAGE,
        meaning:
          "The Confidential Space image is a supported production release (STABLE); debug images carry no support attributes.",
      },
      {
        cel: `assertion.dbgstat == ${celString("disabled-since-boot")}`,
        meaning: "Debugging has been disabled since boot: no operator shell, no SSH into the TEE.",
      },
    );
  }
  clauses.push(
    {
      cel: `assertion.secboot == true`,
      meaning: "The VM booted with Secure Boot.",
    },
    {
      cel: `assertion.hwmodel in [${policy.tee.hardware.map(celString).join(", ")}]`,
      meaning: `The hardware is one of the allowed confidential computing technologies: ${policy.tee.hardware.join(", ")}.`,
    },
    {
      cel: `assertion.submods.gce.project_id == ${celString(policy.project)}`,
      meaning: `The VM runs in the clean room's project ${policy.project}.`,
    },
    {
      cel: `${celString(teeSa)} in assertion.google_service_accounts`,
      meaning: `The VM runs as the clean room's TEE service account ${teeSa}.`,
    },
  );
  return clauses;
}

const CONTAINER = "assertion.submods.container";
const SUPPORT_ATTRIBUTES = "assertion.submods.confidential_space.support_attributes";
const STABLE_IMAGE = `${celString("STABLE")} in ${SUPPORT_ATTRIBUTES}`;

// ---- confidential GPUs (docs/gpu.md)

/**
 * The token's GPU claims (Google's token reference: `submods.nvidia_gpu.cc_mode`, OFF | ON |
 * DEVTOOLS, Preview). https://cloud.google.com/confidential-computing/confidential-space/docs/reference/token-claims
 */
const NVIDIA_GPU = "assertion.submods.nvidia_gpu";
const GPU_CC_ON = `has(${NVIDIA_GPU}) && ${NVIDIA_GPU}.cc_mode == ${celString("ON")}`;

/** A room whose conditions speak about GPUs; every other room's conditions (and hashes) stay as they were. */
export function gpuRoom(policy: Pick<CleanRoomPolicy, "tee" | "approvals">): boolean {
  return policy.tee.gpu !== undefined || policy.approvals.some((a) => approvalGpu(a) !== "none");
}

/**
 * Per image digest, since the data pool's one condition serves every approval: a token without
 * GPU claims must not come from a `gpu: required` image; a token with GPU claims must come from a
 * `required`/`allowed` image and show CC mode ON. `none` (CPU-only) images thus refuse GPU tokens.
 */
function gpuApprovalClauses(policy: CleanRoomPolicy): ConditionClause[] {
  if (!gpuRoom(policy)) return [];
  const digests = (modes: readonly string[]) => [...new Set(policy.approvals.filter((a) => modes.includes(approvalGpu(a))).map((a) => a.imageDigest))];
  const required = digests(["required"]);
  const gpuCapable = digests(["required", "allowed"]);
  const list = (d: string[]) => `[${d.map(celString).join(", ")}]`;
  const withoutGpu = required.length === 0 ? `!has(${NVIDIA_GPU})` : `(!has(${NVIDIA_GPU}) && !(${CONTAINER}.image_digest in ${list(required)}))`;
  return [
    {
      cel: `(${withoutGpu} || (${GPU_CC_ON} && ${CONTAINER}.image_digest in ${list(gpuCapable)}))`,
      meaning:
        "A token with GPU claims comes from an image approved for GPUs (gpu: required or allowed) and shows the GPU in confidential computing mode (cc_mode ON); " +
        (required.length > 0 ? `an image that requires a GPU (${required.join(", ")}) is refused without one.` : "no approval requires a GPU."),
    },
  ];
}

/** A job (digest unknown in advance) may run on a GPU only in CC mode. */
function gpuJobClauses(policy: CleanRoomPolicy): ConditionClause[] {
  if (!gpuRoom(policy)) return [];
  return [{ cel: `(!has(${NVIDIA_GPU}) || ${NVIDIA_GPU}.cc_mode == ${celString("ON")})`, meaning: "A job on a GPU runs with the GPU in confidential computing mode (cc_mode ON)." }];
}
/** Real tokens omit absent keys, so each override clause tests `has` first. */
const NO_ENV_OVERRIDE = `!has(${CONTAINER}.env_override) || size(${CONTAINER}.env_override) == 0`;
const envNamesIn = (names: readonly string[]) => `${CONTAINER}.env_override.all(k, k in [${names.map(celString).join(", ")}])`;

const CMD_OVERRIDE_CLAUSE: ConditionClause = {
  cel: `(!has(${CONTAINER}.cmd_override) || size(${CONTAINER}.cmd_override) == 0)`,
  meaning: "The operator did not replace the image's command (no tee-cmd): the job runs what was reviewed.",
};

/**
 * The data pool admits no `tee-env-*` override, except, per approval that lists `allowedEnv`,
 * exactly those names on that image. Only such approvals lengthen the condition.
 */
function standingEnvClause(approvals: readonly Approval[]): ConditionClause {
  const allowing = approvals.filter((a) => (a.allowedEnv ?? []).length > 0);
  if (allowing.length === 0) {
    return { cel: `(${NO_ENV_OVERRIDE})`, meaning: "The operator set no environment variable at launch (no tee-env-*)." };
  }
  const perImage = allowing.map((a) => `(${CONTAINER}.image_digest == ${celString(a.imageDigest)} && ${envNamesIn(a.allowedEnv!)})`);
  return {
    cel: `(${[NO_ENV_OVERRIDE, ...perImage].join(" || ")})`,
    meaning:
      "The operator set no environment variable at launch, except the names an approval lists for its image: " +
      allowing.map((a) => `${a.allowedEnv!.join(", ")} on ${a.imageDigest}`).join("; ") +
      ".",
  };
}

/** Compile the attribute condition; throws AttributeConditionTooLongError past 4096 characters. */
export function compileAttributeCondition(policy: CleanRoomPolicy): string {
  return joinWithinLimit(attributeConditionClauses(policy));
}

/**
 * The provider's attribute mapping. `google.subject` uses Google's compact `gcpcs::`
 * form: the VM selfLink in `assertion.sub` can exceed the 127-byte limit.
 * gcpcs:: (7) + digest (71) + :: + project number (<= 19) + :: + instance id (<= 20) = 121 bytes max.
 */
export const ATTRIBUTE_MAPPING: Readonly<Record<string, string>> = {
  "google.subject":
    '"gcpcs::" + assertion.submods.container.image_digest + "::" + assertion.submods.gce.project_number + "::" + assertion.submods.gce.instance_id',
  "attribute.image_digest": "assertion.submods.container.image_digest",
  "attribute.hwmodel": "assertion.hwmodel",
  "attribute.swversion": "assertion.swversion[0]",
};

// ---- per-job approval (docs/job-path.md)

/**
 * The group a job pool's provider maps every admitted token to. Duplicated from
 * job-service/src/config.ts (JOB_APPROVED_GROUP): lib may not import job-service code;
 * test/policy/job-service-config.test.ts pins the two equal.
 */
export const JOB_APPROVED_GROUP = "job-approved";
/** The one algorithm approver keys sign with (Cloud KMS EC_SIGN_P256_SHA256). */
export const APPROVER_SIGNATURE_ALGORITHM = "ECDSA_P256_SHA256";

/**
 * A job pool's mapping: the compact subject (as the room's pool) and the constant group that
 * grants name. The signer cannot be mapped (pitfall 15): it is in the condition instead.
 */
export const JOB_APPROVAL_ATTRIBUTE_MAPPING: Readonly<Record<string, string>> = {
  "google.subject": ATTRIBUTE_MAPPING["google.subject"],
  "google.groups": `[${JSON.stringify(JOB_APPROVED_GROUP)}]`,
};

export class JobApprovalConditionError extends ManateeError {
  constructor(message: string) {
    super(ERROR_CODES.invalidPolicy, message);
  }
}

/**
 * The job pool condition of `dataset`: the room's clauses, no command or environment override
 * (beyond jobs.allowEnvOverrides), no restart, and a signature by the dataset's approver key.
 */
export function jobApprovalConditionClauses(policy: CleanRoomPolicy, dataset: string): ConditionClause[] {
  const d = policy.datasets.find((x) => x.name === dataset);
  if (!d) {
    throw new JobApprovalConditionError(
      `dataset "${dataset}" is not declared; declare it under datasets (one of ${policy.datasets.map((x) => x.name).join(", ")}).`,
    );
  }
  const fingerprint = d.approverKey?.fingerprint;
  if (fingerprint === undefined || !/^[0-9a-f]{64}$/.test(fingerprint)) {
    throw new JobApprovalConditionError(
      `datasets.${dataset}.approverKey.fingerprint is ${fingerprint === undefined ? "missing" : JSON.stringify(fingerprint)}: ` +
        `per-job approval needs the approver key's fingerprint (64 lowercase hex digits); print it with ` +
        `\`manatee jobs approver-key --dataset ${dataset}\` after the first deploy and add it to the room file.`,
    );
  }
  const allowedEnv = jobsOf(policy).allowEnvOverrides;
  const env: ConditionClause =
    allowedEnv.length === 0
      ? { cel: `(${NO_ENV_OVERRIDE})`, meaning: "The operator set no environment variable at launch (no tee-env-*)." }
      : {
          cel: `(!has(${CONTAINER}.env_override) || ${envNamesIn(allowedEnv)})`,
          meaning: `The operator set no environment variable at launch other than ${allowedEnv.join(", ")}.`,
        };
  return [
    ...productionClauses(policy),
    CMD_OVERRIDE_CLAUSE,
    env,
    {
      cel: `(!has(${CONTAINER}.restart_policy) || ${CONTAINER}.restart_policy == 'Never')`,
      meaning: "The job runs once: no restart after it exits.",
    },
    {
      cel: `has(${CONTAINER}.image_signatures)`,
      meaning: "The launcher verified at least one signature of the image.",
    },
    {
      cel:
        `${CONTAINER}.image_signatures.exists(s, s.signature_algorithm == ${celString(APPROVER_SIGNATURE_ALGORITHM)} && ` +
        `s.key_id == ${celString(fingerprint)})`,
      meaning: `The image digest is signed by dataset ${dataset}'s approver key (fingerprint ${fingerprint}): its owner approved this job.`,
    },
    ...gpuJobClauses(policy),
  ];
}

/** Compile the job pool condition of `dataset`; throws past Google's 4096 characters. */
export function compileJobApprovalCondition(policy: CleanRoomPolicy, dataset: string): string {
  const condition = jobApprovalConditionClauses(policy, dataset)
    .map((c) => c.cel)
    .join(" && ");
  if (condition.length > ATTRIBUTE_CONDITION_MAX_LENGTH) {
    throw new JobApprovalConditionError(
      `The job approval condition of dataset "${dataset}" is ${condition.length} characters; Google's limit is ` +
        `${ATTRIBUTE_CONDITION_MAX_LENGTH}. Shorten jobs.allowEnvOverrides, reduce tee.hardware or shorten the project id.`,
    );
  }
  return condition;
}

/** Datasets whose owners have put their approver key's fingerprint in the room file. */
export function jobApprovalDatasets(policy: CleanRoomPolicy): string[] {
  return policy.datasets.filter((d) => d.approverKey !== undefined).map((d) => d.name);
}
