/**
 * MCR-OUT1: the TEE's service account may only add objects to the quarantine bucket, and may not
 * write the release bucket at all. Read or list on quarantine would let one job read another's
 * unreleased results; delete (which overwrite needs) or update would let a job change results after
 * its token covered their hashes; any write on release skips the verifier and its receipt.
 */
import { iamDeclaration, isBucketOrProjectIamType } from "../../analysis/iam";
import { Rule, RuleResult } from "../model";
import { isOneOf, outputReach, outputReleaseFacts, QUARANTINE_CREATE_ONLY, roleShown, storagePermissions, writes } from "../output-release";

export const outputTeeAccess: Rule = {
  id: "MCR-OUT1",
  level: "error",
  title: "The TEE only creates objects in the quarantine bucket and never writes the release bucket",
  resourceTypes: isBucketOrProjectIamType,
  check(resource, index, context) {
    const facts = outputReleaseFacts(index, context);
    if (facts.tee.length === 0) return [];
    const decl = iamDeclaration(resource, index);
    if (!decl) return [];
    const out: RuleResult[] = [];
    const first = decl.bindings.length === 0 ? outputReach(decl, index, context) : undefined;
    if (decl.opaque && first && (first.kinds.has("quarantine") || first.kinds.has("release"))) {
      out.push({ level: "warning", message: `Cannot tell whether the TEE's service account gains access to ${first.shown}: ${decl.opaque}.` });
    }
    for (const b of decl.bindings) {
      const tee = b.members.filter((m) => isOneOf(m, facts.tee, index, context));
      if (tee.length === 0) continue;
      const reach = outputReach(b, index, context);
      const who = tee.map((m) => m.member).join(", ");
      if (reach.unresolved) {
        out.push({ level: "warning", message: `The TEE's service account ${who} holds ${roleShown(b)} on ${reach.shown}, which cannot be resolved: it may be the quarantine or release bucket. Name the bucket literally or by reference.` });
        continue;
      }
      if (!reach.kinds.has("quarantine") && !reach.kinds.has("release")) continue;
      const perms = storagePermissions(b);
      if (perms === undefined) {
        out.push({ level: "warning", message: `The TEE's service account ${who} holds ${roleShown(b)} on ${reach.shown}; its permissions cannot be read here, so create-only cannot be checked. Use the output release's quarantine writer role (storage.objects.create only).` });
        continue;
      }
      if (reach.kinds.has("quarantine")) {
        const extra = [...perms].filter((p) => !QUARANTINE_CREATE_ONLY.has(p)).sort();
        if (extra.length > 0) {
          out.push({
            message:
              `The TEE's service account ${who} holds ${roleShown(b)} on ${reach.projectLevel ? `${reach.shown}, the quarantine bucket included` : reach.shown}, which allows ${extra.join(", ")}. ` +
              "On quarantine the TEE may only create objects: read or list exposes other jobs' unreleased results, and delete or update lets a job overwrite results after its token covered their hashes. " +
              "Grant only the output release's quarantine writer role (storage.objects.create), on the quarantine bucket.",
          });
        }
      }
      if (reach.kinds.has("release")) {
        const w = writes(perms);
        if (w.length > 0) {
          out.push({
            message:
              `The TEE's service account ${who} holds ${roleShown(b)} on ${reach.projectLevel ? `${reach.shown}, the release bucket included` : reach.shown}, which allows ${w.join(", ")}. ` +
              "Only the verifier writes the release bucket, after checking the token and the hashes, with a receipt; a TEE write there is a release nobody approved. Remove the grant.",
          });
        }
      }
    }
    return out;
  },
};
