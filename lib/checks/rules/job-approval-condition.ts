/**
 * MCR-WIF2: a per-job approval provider (docs/job-path.md) admits only what its dataset's
 * owners signed, run as reviewed: a signature by the dataset's approver key, no command or
 * environment override (beyond jobs.allowEnvOverrides), no restart, the room's project and TEE
 * service account, and (unless debug is allowed) a production image.
 *
 * A provider is a job provider when its mapping sets `google.groups` (the group grants name)
 * or its pool is a job pool of the policy. The whole condition is evaluated by @bufbuild/cel on
 * a production job token and on variants that each break one requirement: every variant must be
 * refused. Equivalent spellings therefore pass; a dropped or weakened clause does not.
 */
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import type { CelInput } from "@bufbuild/cel";
import { APPROVER_SIGNATURE_ALGORITHM } from "../../policy/condition";
import { jobsOf } from "../../policy/model";
import { dataPlaneNames, manateeContract } from "../../policy/names";
import { Rule, RuleResult } from "../model";
import { ResourceIndex, TfResource, isUnresolved } from "../../analysis/resource-index";
import { block, readString } from "../../analysis/values";

function toCel(value: unknown): CelInput {
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === "object") {
    return new Map(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toCel(v)]));
  }
  return value as CelInput;
}

function admits(condition: string, token: Record<string, unknown>): boolean {
  const result = plan(celEnv(), parse(condition))({ assertion: toCel(token) });
  // An evaluation error refuses the token, as STS does.
  return !isCelError(result) && result === true;
}

/** The pool id a provider belongs to (literal, or through a reference to a pool of this stack). */
function poolIdOf(provider: TfResource, index: ResourceIndex): string | undefined {
  const raw = provider.config.workload_identity_pool_id;
  const ref = index.target(raw);
  const value = ref ? ref.resource.config.workload_identity_pool_id : raw;
  const id = readString(value);
  return id.state === "known" ? id.value : undefined;
}

interface Facts {
  readonly project?: string;
  readonly serviceAccount?: string;
  readonly fingerprint?: string;
  readonly allowedEnv: readonly string[];
  readonly dataset?: string;
}

/** What a job token carries, from the policy when known, else from the condition itself. */
function facts(condition: string, poolId: string | undefined, context: Parameters<Rule["check"]>[2]): Facts {
  const policy = context.policy;
  const literal = (re: RegExp) => re.exec(condition)?.[1];
  const dataset = policy && poolId ? policy.datasets.find((d) => dataPlaneNames(policy).jobPoolId(d.name) === poolId) : undefined;
  return {
    project: policy?.project ?? context.project ?? literal(/project_id == '([^']+)'/),
    serviceAccount: policy ? manateeContract(policy.name, policy.project).teeServiceAccountEmail : literal(/'([^']+@[^']+)' in assertion\.google_service_accounts/),
    fingerprint: dataset ? dataset.approverKey?.fingerprint : literal(/key_id == '([0-9a-f]{64})'/),
    allowedEnv: policy ? jobsOf(policy).allowEnvOverrides : [],
    dataset: dataset?.name,
  };
}

function jobToken(f: Required<Pick<Facts, "project" | "serviceAccount" | "fingerprint">>): Record<string, any> {
  return {
    iss: "https://confidentialcomputing.googleapis.com",
    aud: "https://sts.googleapis.com",
    swname: "CONFIDENTIAL_SPACE",
    swversion: ["250800"],
    dbgstat: "disabled-since-boot",
    secboot: true,
    hwmodel: "GCP_INTEL_TDX",
    google_service_accounts: [f.serviceAccount],
    submods: {
      confidential_space: { support_attributes: ["LATEST", "STABLE", "USABLE"] },
      container: {
        image_digest: `sha256:${"1".repeat(64)}`,
        restart_policy: "Never",
        image_signatures: [{ key_id: f.fingerprint, signature: "MEUCIQ", signature_algorithm: APPROVER_SIGNATURE_ALGORITHM }],
      },
      gce: { project_id: f.project, project_number: "123456789012", instance_id: "1" },
    },
  };
}

/** Each requirement: how a token breaks it, and the clause that refuses it. */
function variants(base: Record<string, any>, f: Facts, allowDebug: boolean, hwmodels: readonly string[]) {
  const edit = (fn: (t: any) => void) => {
    const t = structuredClone(base);
    fn(t);
    return t;
  };
  const container = (fn: (c: any) => void) => edit((t) => fn(t.submods.container));
  const otherKey = f.fingerprint === "f".repeat(64) ? "e".repeat(64) : "f".repeat(64);
  const notAllowed = ["LD_PRELOAD", "MANATEE_NOT_ALLOWED"].find((n) => !f.allowedEnv.includes(n))!;
  const out: [string, Record<string, any>][] = [
    ["has(assertion.submods.container.image_signatures) && …image_signatures.exists(s, s.signature_algorithm == 'ECDSA_P256_SHA256' && s.key_id == '<the dataset's fingerprint>') (an unsigned image passes)", container((c) => delete c.image_signatures)],
    ["…image_signatures.exists(s, … s.key_id == '<the dataset's fingerprint>') (an image signed by another key passes)", container((c) => (c.image_signatures = [{ ...c.image_signatures[0], key_id: otherKey }]))],
    ["…image_signatures.exists(s, s.signature_algorithm == 'ECDSA_P256_SHA256' && …) (the algorithm is not checked)", container((c) => (c.image_signatures = [{ ...c.image_signatures[0], signature_algorithm: "RSASSA_PSS_SHA256" }]))],
    ["(!has(assertion.submods.container.cmd_override) || size(assertion.submods.container.cmd_override) == 0) (the operator may replace the command)", container((c) => (c.cmd_override = ["sh", "-c", "id"]))],
    [`(!has(assertion.submods.container.env_override) || …) (the operator may set ${notAllowed})`, container((c) => (c.env_override = { [notAllowed]: "1" }))],
    ["(!has(assertion.submods.container.restart_policy) || assertion.submods.container.restart_policy == 'Never') (a job may run again)", container((c) => (c.restart_policy = "Always"))],
    ["assertion.submods.gce.project_id == '<the room's project>' (VMs of any project pass)", edit((t) => (t.submods.gce.project_id = "attacker-project"))],
    ["'<the TEE service account>' in assertion.google_service_accounts (VMs of any service account pass)", edit((t) => (t.google_service_accounts = ["attacker@attacker-project.iam.gserviceaccount.com"]))],
    ["assertion.swname == 'CONFIDENTIAL_SPACE' (a plain VM passes)", edit((t) => (t.swname = "GCE"))],
    ["assertion.secboot == true", edit((t) => (t.secboot = false))],
  ];
  if (hwmodels.length > 0 && !hwmodels.includes("GCP_SHIELDED_VM")) {
    out.push(["assertion.hwmodel in [<the room's hardware>] (a non-confidential VM passes)", edit((t) => (t.hwmodel = "GCP_SHIELDED_VM"))]);
  }
  if (!allowDebug) {
    out.push(
      ["'STABLE' in assertion.submods.confidential_space.support_attributes && assertion.dbgstat == 'disabled-since-boot' (a debug image passes)", edit((t) => {
        t.dbgstat = "enabled";
        t.submods.confidential_space = {};
      })],
      ["assertion.dbgstat == 'disabled-since-boot' (a debug-enabled boot passes)", edit((t) => (t.dbgstat = "enabled"))],
    );
  }
  return out;
}

export const jobApprovalCondition: Rule = {
  id: "MCR-WIF2",
  level: "error",
  title: "Per-job approval providers admit only owner-signed, unmodified, run-once production jobs of the room",
  resourceTypes: ["google_iam_workload_identity_pool_provider"],
  check(provider, index, context) {
    const mapping = block(provider.config.attribute_mapping) ?? {};
    const poolId = poolIdOf(provider, index);
    const policy = context.policy;
    const isJobPool = !!policy && !!poolId && policy.datasets.some((d) => dataPlaneNames(policy).jobPoolId(d.name) === poolId);
    if (!("google.groups" in mapping) && !isJobPool) return [];
    const condition = readString(provider.config.attribute_condition);
    // A missing condition is MCR-WIF1's finding; an expression cannot be evaluated.
    if (condition.state !== "known" || condition.value.trim() === "") return [];
    if (isUnresolved(condition.value)) return [];
    try {
      parse(condition.value);
    } catch {
      return []; // MCR-WIF1 reports invalid CEL.
    }
    const f = facts(condition.value, poolId, context);
    const where = f.dataset ? ` of dataset "${f.dataset}"` : "";
    if (policy && isJobPool && !f.fingerprint) {
      return [{ message: `This job pool${where} exists but the policy names no approverKey.fingerprint for the dataset; remove the pool or add the fingerprint (manatee jobs approver-key --dataset ${f.dataset}).` }];
    }
    if (!f.fingerprint) {
      return [{ message: `The job approval provider's condition names no approver key (s.key_id == '<64 hex>'), so no dataset owner's signature is required. Use compileJobApprovalCondition(policy, dataset).` }];
    }
    if (!f.project || !f.serviceAccount) {
      return [{ message: `The job approval provider's condition does not pin the room's project (assertion.submods.gce.project_id == '…') and TEE service account ('…' in assertion.google_service_accounts). Use compileJobApprovalCondition(policy, dataset).` }];
    }
    const base = jobToken({ project: f.project, serviceAccount: f.serviceAccount, fingerprint: f.fingerprint });
    if (!admits(condition.value, base)) {
      return [{
        level: "warning",
        message: `The job approval provider${where} refuses a production job signed by the approver key ${f.fingerprint}${policy ? " named in the policy" : ""}: approvals would never work. Use compileJobApprovalCondition(policy, dataset).`,
      }];
    }
    const hardware = policy?.tee.hardware ?? [];
    const out: RuleResult[] = [];
    for (const [clause, token] of variants(base, f, context.allowDebug, hardware)) {
      if (admits(condition.value, token)) {
        out.push({ message: `The job approval provider${where} does not require ${clause}. Add the clause as its own top-level && conjunct, or use compileJobApprovalCondition(policy, dataset).` });
      }
    }
    return out;
  },
};
