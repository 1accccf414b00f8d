/**
 * MCR-OUT2: only the verifier reads the quarantine bucket. Quarantined results are not released
 * yet: whoever else reads them (researchers, JupyterLab, the job service, a project-wide storage
 * role) takes results out of the room without an approved token, hash check or receipt.
 */
import { iamDeclaration, isBucketOrProjectIamType } from "../../analysis/iam";
import { Rule, RuleResult } from "../model";
import { describeKind } from "../../analysis/principals";
import { isOneOf, outputReach, outputReleaseFacts, READS_OBJECTS, roleShown, storagePermissions } from "../output-release";

const FIX = "Only the verifier's service account reads quarantine (roles/storage.objectViewer on the quarantine bucket); researchers get results from the release bucket through the job service.";

export const outputQuarantineRead: Rule = {
  id: "MCR-OUT2",
  level: "error",
  title: "Only the verifier's service account can read the quarantine bucket",
  resourceTypes: isBucketOrProjectIamType,
  check(resource, index, context) {
    const facts = outputReleaseFacts(index, context);
    if (facts.quarantineNames.size === 0 && facts.quarantineAddresses.size === 0) return [];
    const decl = iamDeclaration(resource, index);
    if (!decl) return [];
    const out: RuleResult[] = [];
    if (decl.opaque && outputReach(decl, index, context).kinds.has("quarantine")) {
      out.push({ level: "warning", message: `Cannot tell who can read the quarantine bucket through this resource: ${decl.opaque}. ${FIX}` });
    }
    for (const b of decl.bindings) {
      const reach = outputReach(b, index, context);
      if (!reach.kinds.has("quarantine")) continue;
      const others = b.members.filter((m) => !isOneOf(m, facts.verifier, index, context));
      if (others.length === 0) continue;
      const perms = storagePermissions(b);
      const where = reach.projectLevel ? `${reach.shown}, the quarantine bucket included` : reach.shown;
      if (perms === undefined) {
        out.push({ level: "warning", message: `${others.map((m) => m.member).join(", ")} hold(s) ${roleShown(b)} on ${where}; its permissions cannot be read here, so whether it reads unreleased results cannot be checked. ${FIX}` });
        continue;
      }
      const reads = [...perms].filter((p) => READS_OBJECTS.has(p)).sort();
      if (reads.length === 0) continue;
      for (const m of others) {
        if (m.kind === "unknown") {
          out.push({ level: "warning", message: `${m.member} holds ${roleShown(b)} (${reads.join(", ")}) on ${where} and cannot be resolved, so it cannot be shown to be the verifier's service account. ${FIX}` });
          continue;
        }
        const tee = isOneOf(m, facts.tee, index, context) ? " (the TEE's service account)" : "";
        out.push({
          message:
            `${m.member}, a ${describeKind(m)}${tee} and not the verifier's service account, can read the quarantine bucket through ${roleShown(b)} on ${where} (${reads.join(", ")}). ` +
            `Quarantined results are not released: reading them takes results out of the room without an approved token, hash check or receipt. ${FIX}`,
        });
      }
    }
    return out;
  },
};
