/**
 * MCR-APV1: only a dataset's owners may approve its jobs. An approval is a signature by the
 * dataset's approver key (`component: approver-key`) pushed to its signature repository
 * (`component: signature-repository`), so signing with the key, or writing to the repository,
 * is for the owners named in the policy alone — never the job service, whose approving its own
 * jobs is exactly what the design rules out (docs/job-path.md). Grants are checked at key, key
 * ring, repository and project level; reading (public key, pulling signatures) is not approval.
 */
import { COMPONENT } from "../../internal/common";
import { platformNames } from "../../policy/names";
import { IamBinding, iamDeclaration, isCustomRole, isIamResourceType, keysReached, serviceAccountRef } from "../../analysis/iam";
import { CheckContext, Rule, RuleResult } from "../model";
import { describeKind, Principal } from "../../analysis/principals";
import { ResourceIndex, TfResource } from "../../analysis/resource-index";
import { componentOf, datasetOf, readString } from "../../analysis/values";

/** Roles that sign with a key, or can grant that. */
function signs(role: string): boolean {
  return /^roles\/cloudkms\.(signer|signerVerifier|cryptoOperator|admin)$/.test(role) || role === "roles/owner" || role === "roles/editor";
}

/** Roles that push to a repository, or can grant that. */
function writes(role: string): boolean {
  return (
    /^roles\/artifactregistry\.(writer|repoAdmin|admin|createOnPushWriter|createOnPushRepoAdmin)$/.test(role) ||
    role === "roles/owner" ||
    role === "roles/editor"
  );
}

const SIGN_PERMISSION = /^cloudkms\.(cryptoKeyVersions\.useToSign|cryptoKeys\.setIamPolicy|keyRings\.setIamPolicy)$/;
const WRITE_PERMISSION = /^artifactregistry\.(repositories\.(uploadArtifacts|setIamPolicy)|tags\.(create|update)|manifests\.create)$/;

/** Whether a binding signs with a key it reaches (the receipt key rule judges the same way). */
export const signUse = (b: IamBinding) => use(b, signs, SIGN_PERMISSION);
/** Whether a binding pushes to a repository it reaches. */
export const writeUse = (b: IamBinding) => use(b, writes, WRITE_PERMISSION);

function use(b: IamBinding, predefined: (role: string) => boolean, permission: RegExp): "yes" | "maybe" | "no" {
  if (b.permissions) return b.permissions.some((p) => permission.test(p)) ? "yes" : "no";
  if (b.role === undefined || isCustomRole(b.role)) return "maybe";
  return predefined(b.role) ? "yes" : "no";
}

/** The signature repositories of this stack a binding reaches (repository or project level). */
function repositoriesReached(b: IamBinding, resource: TfResource, index: ResourceIndex, context: CheckContext): TfResource[] {
  const repos = index.ofType("google_artifact_registry_repository");
  if (b.targetKind === "project") {
    const p = readString(b.target);
    return p.state !== "known" || !context.project || p.value.replace(/^projects\//, "") === context.project ? repos : [];
  }
  if (!resource.type.startsWith("google_artifact_registry_repository_iam_")) return [];
  const raw = resource.config.repository;
  const ref = index.target(raw);
  if (ref) return ref.resource.type === "google_artifact_registry_repository" ? [ref.resource] : [];
  const id = readString(raw);
  if (id.state !== "known") return [];
  const name = id.value.replace(/^.*\/repositories\//, "");
  return repos.filter((r) => r.config.repository_id === name);
}

function judge(m: Principal, dataset: string | undefined, context: CheckContext, index: ResourceIndex): string | undefined {
  const policy = context.policy;
  if (policy) {
    const owners = policy.datasets.find((d) => d.name === dataset)?.owners ?? [];
    if (owners.includes(m.member)) return undefined;
    const jobService = platformNames(policy).jobServiceSaEmail;
    const sa = m.kind === "serviceAccount" ? serviceAccountRef(m.account ?? m.member, index, context) : undefined;
    if (sa?.email === jobService) return `${m.member} is the job service, which must never approve the jobs it runs`;
    return `${m.member} is not an owner of dataset "${dataset}" in the policy (${owners.length ? owners.join(", ") : "it has none"})`;
  }
  // Without the policy, owners are people and groups; anything else is never one.
  return m.kind === "person" ? undefined : `${m.member} is a ${describeKind(m)}, never a data owner`;
}

export const approverAccess: Rule = {
  id: "MCR-APV1",
  level: "error",
  title: "Only a dataset's owners may sign with its approver key or write to its signature repository",
  resourceTypes: (type) => isIamResourceType(type) && /^google_(kms_crypto_key|kms_key_ring|project|artifact_registry_repository)_iam_/.test(type),
  check(resource, index, context) {
    const decl = iamDeclaration(resource, index);
    if (!decl || decl.opaque) return [];
    const out: RuleResult[] = [];
    for (const b of decl.bindings) {
      const targets: { target: TfResource; what: string; how: "yes" | "maybe" | "no" }[] = [
        ...keysReached(b, index, context).resources
          .filter((k) => componentOf(k) === COMPONENT.approverKey)
          .map((k) => ({ target: k, what: "approver key", how: use(b, signs, SIGN_PERMISSION) })),
        ...repositoriesReached(b, resource, index, context)
          .filter((r) => componentOf(r) === COMPONENT.signatureRepository)
          .map((r) => ({ target: r, what: "signature repository", how: use(b, writes, WRITE_PERMISSION) })),
      ].filter((t) => t.how !== "no");
      for (const t of targets) {
        const dataset = datasetOf(t.target);
        for (const m of b.members) {
          const why = judge(m, dataset, context, index);
          if (!why) continue;
          const verb = t.what === "approver key" ? "sign approvals with" : "push approvals to";
          out.push({
            level: t.how === "maybe" || m.kind === "unknown" ? "warning" : undefined,
            message: `${m.member} holds ${b.role ?? "an unresolved role"} on ${t.what} ${t.target.address}${dataset ? ` (dataset "${dataset}")` : ""}: ${why}, yet it could ${verb} it and so approve jobs. Only the dataset's owners may hold roles/cloudkms.signerVerifier on the approver key and roles/artifactregistry.writer on the signature repository; give others roles/cloudkms.publicKeyViewer or roles/artifactregistry.reader.`,
          });
        }
      }
    }
    return out;
  },
};
