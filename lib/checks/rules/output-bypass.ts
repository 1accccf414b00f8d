/**
 * MCR-OUT3: the TEE's only outputs path is the quarantine bucket. A TEE that can create or update
 * objects anywhere else (another bucket, or every bucket through a project-level role) can write
 * results where researchers read them, and the release (approved token, hash check, receipt) is
 * bypassed.
 */
import { iamDeclaration, isIamResourceType } from "../iam";
import { Rule, RuleResult } from "../model";
import { isOneOf, objectWrites, outputReach, outputReleaseFacts, roleShown, storagePermissions } from "../output-release";

export const outputBypass: Rule = {
  id: "MCR-OUT3",
  level: "error",
  title: "The TEE writes objects to no bucket but the quarantine bucket",
  resourceTypes: (type) => isIamResourceType(type) && /^google_(storage_bucket|project)_iam_/.test(type),
  check(resource, index, context) {
    const facts = outputReleaseFacts(index, context);
    if (facts.tee.length === 0) return [];
    const out: RuleResult[] = [];
    for (const b of iamDeclaration(resource, index)?.bindings ?? []) {
      const tee = b.members.filter((m) => isOneOf(m, facts.tee, index, context));
      if (tee.length === 0) continue;
      const who = tee.map((m) => m.member).join(", ");
      const reach = outputReach(b, index, context);
      if (!reach.unresolved && !reach.kinds.has("other") && !reach.kinds.has("release")) continue;
      const perms = storagePermissions(b);
      if (perms === undefined) {
        out.push({ level: "warning", message: `The TEE's service account ${who} holds ${roleShown(b)} on ${reach.shown}; its permissions cannot be read here, so whether it opens an outputs path around the release cannot be checked.` });
        continue;
      }
      const w = objectWrites(perms);
      if (w.length === 0) continue;
      if (reach.unresolved) {
        out.push({ level: "warning", message: `The TEE's service account ${who} can ${w.join(", ")} on ${reach.shown}, which cannot be resolved: unless it is the quarantine bucket, results leave the room without the release.` });
        continue;
      }
      out.push({
        message:
          `The TEE's service account ${who} can ${w.join(", ")} on ${reach.shown} through ${roleShown(b)}: results written there bypass the release (no approved token over their hashes, no receipt). ` +
          "The TEE writes only to the quarantine bucket, create-only; the verifier copies approved results to the release bucket. Remove the grant" +
          (reach.projectLevel ? ", and grant the quarantine writer role on the quarantine bucket only." : "."),
      });
    }
    return out;
  },
};
