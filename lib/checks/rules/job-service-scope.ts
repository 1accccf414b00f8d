/**
 * The job service's rights, scoped (docs/job-path.md):
 * - MCR-JOB1: a right to create instances on the project holds only under a condition that
 *   admits the room's job VM names (`projects/P/zones/Z/instances/<room>-job-…`) and no other
 *   instance, judged by evaluating the IAM condition with a real CEL engine.
 * - MCR-JOB2: the job service's configuration names executor bases by digest only.
 * - MCR-JOB3: no service account both launches TEEs (creates instances, or acts as the TEE
 *   account) and pushes images: builds run as a separate identity with no compute and no actAs.
 */
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import { CleanRoomPolicy, operatorsOf } from "../../policy/model";
import { jobInstancePrefix, platformNames } from "../../policy/names";
import { IamBinding, iamDeclaration, isCustomRole, projectMatches, sameServiceAccount, serviceAccountRef, ServiceAccountRef } from "../../analysis/iam";
import { CheckContext, Rule, RuleResult } from "../model";
import { Principal } from "../../analysis/principals";
import { ResourceIndex } from "../../analysis/resource-index";
import { block } from "../../analysis/values";
import { writeUse } from "./approver-access";

const CREATE_ROLES = ["roles/compute.instanceAdmin", "roles/compute.instanceAdmin.v1", "roles/compute.admin", "roles/owner", "roles/editor"];

/** Whether a binding lets its members create instances. */
export function createsInstances(b: IamBinding): "yes" | "no" | "maybe" {
  if (b.permissions) return b.permissions.includes("compute.instances.create") ? "yes" : "no";
  if (b.role === undefined || isCustomRole(b.role)) return "maybe";
  return CREATE_ROLES.includes(b.role) ? "yes" : "no";
}

/** Whether an IAM condition admits creating `name`: a missing condition admits everything; an error nothing. */
function conditionAdmits(expression: string | undefined, name: string): boolean {
  if (expression === undefined) return true;
  const result = plan(celEnv(), parse(expression).expr)({ resource: { type: "compute.googleapis.com/Instance", name, service: "compute.googleapis.com" } } as never);
  return !isCelError(result) && result === true;
}

function instanceName(policy: CleanRoomPolicy, vm: string): string {
  return `projects/${policy.project}/zones/${policy.zone}/instances/${vm}`;
}

export const launcherScoped: Rule = {
  id: "MCR-JOB1",
  level: "error",
  title: "Instance creation is conditioned on the room's job VM name prefix",
  resourceTypes: ["google_project_iam_member", "google_project_iam_binding", "google_project_iam_policy"],
  check(resource, index, context) {
    const policy = context.policy;
    if (!policy) return [];
    const prefix = jobInstancePrefix(policy);
    const inside = instanceName(policy, `${prefix}-123e4567-e89b-42d3-a456-426614174000`);
    const outside = [instanceName(policy, "exfiltrate"), instanceName(policy, `x${prefix}-1`), `projects/${policy.project}/zones/${policy.zone}-b/instances/${prefix}-1`];
    const out: RuleResult[] = [];
    for (const b of iamDeclaration(resource, index)?.bindings ?? []) {
      const creates = createsInstances(b);
      if (creates === "no") continue;
      const members = b.members.filter((m) => !operatorsOf(policy).includes(m.member));
      if (members.length === 0) continue;
      let escapes: string | undefined;
      try {
        escapes = outside.find((name) => conditionAdmits(b.condition?.expression, name));
      } catch (err) {
        escapes = `(the condition is not CEL: ${(err as Error).message.split("\n")[0]})`;
      }
      if (!escapes) {
        if (!conditionAdmits(b.condition?.expression, inside)) out.push({ level: "warning", message: `The condition of ${b.role ?? "this role"} refuses the room's own job VM ${inside}: the job service cannot launch jobs.` });
        continue;
      }
      out.push({
        level: creates === "maybe" ? "warning" : undefined,
        message: `${members.map((m) => m.member).join(", ")} may create ${b.condition ? `the instance ${escapes}` : "any instance"} through ${b.role ?? "an unresolved role"}: a VM outside the room's job prefix can run any image as any account it may act as. Condition the grant on resource.name.startsWith("${instanceName(policy, `${prefix}-`)}") (with the disks and templates the launcher needs), as the TeeLauncher grant does.`,
      });
    }
    return out;
  },
};

/** Pinned by a literal digest, or by one the deploy's own build resolves at apply (`@${…}`). */
const PINNED = /(@sha256:[0-9a-f]{64}$|@\$\{)/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export const executorBasePinned: Rule = {
  id: "MCR-JOB2",
  level: "error",
  title: "The job service names executor bases by digest",
  resourceTypes: ["kubernetes_config_map_v1", "kubernetes_config_map"],
  check(resource) {
    const data = block(resource.config.data);
    const raw = data?.["job-service.json"];
    if (typeof raw !== "string") return [];
    // Read by pattern: at synth time other fields of the JSON are still unresolved tokens.
    const list = /"executorBases"\s*:\s*\[([^\]]*)\]/.exec(raw)?.[1];
    const bases: unknown[] = list === undefined ? [] : [...list.matchAll(/"([^"]*)"|([^\s,]+)/g)].map((m) => m[1] ?? m[2]);
    const config = { executorBases: bases, defaultExecutorBase: /"defaultExecutorBase"\s*:\s*("[^"]*"|[^\s,}]+)/.exec(raw)?.[1] };
    if (config.defaultExecutorBase?.startsWith('"')) config.defaultExecutorBase = config.defaultExecutorBase.slice(1, -1);
    const out: RuleResult[] = [];
    for (const base of Array.isArray(config.executorBases) ? config.executorBases : []) {
      if (typeof base !== "string" || !DIGEST.test(base)) out.push({ message: `executorBases lists ${JSON.stringify(base)}, not a sha256 digest: a tag can be moved to an image nobody approved. List digests (jobs.executorBases).` });
    }
    const ref = config.defaultExecutorBase;
    if (ref !== undefined && (typeof ref !== "string" || !PINNED.test(ref))) {
      out.push({ message: `defaultExecutorBase is ${JSON.stringify(ref)}, not pinned by digest: jobs would be built on whatever the tag points to. Use registry/repo@sha256:<digest> (jobs.executorBase).` });
    }
    return out;
  },
};

/** Service accounts that launch TEEs: create instances on the project, or act as the TEE account. */
function launchers(index: ResourceIndex, context: CheckContext): ServiceAccountRef[] {
  return index.cached(`launchers:${context.project ?? ""}`, () => {
    const tee: ServiceAccountRef | undefined = context.policy ? { email: platformNames(context.policy).teeSaEmail } : undefined;
    const out: ServiceAccountRef[] = [];
    for (const r of index.resources) {
      const decl = iamDeclaration(r, index);
      if (!decl) continue;
      for (const b of decl.bindings) {
        const onTee =
          tee !== undefined && b.targetKind === "service_account" && typeof b.target === "string" && sameServiceAccount(serviceAccountRef(b.target, index, context), tee);
        const launches = (b.targetKind === "project" && createsInstances(b) === "yes") || (onTee && b.role === "roles/iam.serviceAccountUser");
        if (launches) out.push(...accounts(b.members, index, context));
      }
    }
    return out;
  });
}

function accounts(members: readonly Principal[], index: ResourceIndex, context: CheckContext): ServiceAccountRef[] {
  return members.filter((m) => m.kind === "serviceAccount").map((m) => serviceAccountRef(m.account ?? m.member, index, context));
}

export const buildIdentitySeparate: Rule = {
  id: "MCR-JOB3",
  level: "error",
  title: "The identity that pushes images is not the one that launches TEEs",
  resourceTypes: (type) => /^google_(artifact_registry_repository|project)_iam_(member|binding|policy)$/.test(type),
  check(resource, index, context) {
    const out: RuleResult[] = [];
    for (const b of iamDeclaration(resource, index)?.bindings ?? []) {
      if (writeUse(b) !== "yes") continue;
      if (b.targetKind === "project" && !projectMatches(b.target, context)) continue;
      const launching = launchers(index, context);
      for (const m of b.members) {
        if (m.kind !== "serviceAccount") continue;
        const sa = serviceAccountRef(m.account ?? m.member, index, context);
        if (!launching.some((l) => sameServiceAccount(l, sa))) continue;
        out.push({
          message: `${m.member} launches TEEs (creates job VMs or acts as the TEE account) and also pushes images through ${b.role}: it could build an image and run it in one step, with no separate build identity in between. Push as the job build service account (no compute, no actAs) and let the launcher start builds as it.`,
        });
      }
    }
    return out;
  },
};
