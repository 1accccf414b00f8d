/**
 * MCR-OUT3: the only outputs path is the quarantine bucket. A TEE, or any attested identity (a
 * principal set of the room's workload identity pools — approved images, a job pool's
 * `group/job-approved`, a whole pool — or a reader service account they impersonate), that can
 * create or update objects anywhere else (another bucket, or every bucket through a project-level
 * role) can write results where researchers read them, and the release (approved token, hash
 * check, receipt) is bypassed.
 */
import { iamDeclaration, isBucketOrProjectIamType } from "../../analysis/iam";
import { Rule, RuleResult } from "../model";
import { attestedIdentity, isOneOf, objectWrites, outputReach, outputReleaseFacts, roleShown, storagePermissions } from "../output-release";

export const outputBypass: Rule = {
  id: "MCR-OUT3",
  level: "error",
  title: "The TEE and attested identities write objects to no bucket but the quarantine bucket",
  resourceTypes: isBucketOrProjectIamType,
  check(resource, index, context) {
    const facts = outputReleaseFacts(index, context);
    const out: RuleResult[] = [];
    for (const b of iamDeclaration(resource, index)?.bindings ?? []) {
      const named: string[] = [];
      const tee = b.members.filter((m) => isOneOf(m, facts.tee, index, context));
      if (tee.length > 0) named.push(`The TEE's service account ${tee.map((m) => m.member).join(", ")}`);
      for (const m of b.members) {
        if (tee.includes(m)) continue;
        const shown = attestedIdentity(m, index, context);
        if (shown) named.push(shown.charAt(0).toUpperCase() + shown.slice(1));
      }
      if (named.length === 0) continue;
      const reach = outputReach(b, index, context);
      if (!reach.unresolved && !reach.kinds.has("other") && !reach.kinds.has("release")) continue;
      const perms = storagePermissions(b);
      for (const who of named) {
        if (perms === undefined) {
          out.push({ level: "warning", message: `${who} holds ${roleShown(b)} on ${reach.shown}; its permissions cannot be read here, so whether it opens an outputs path around the release cannot be checked.` });
          continue;
        }
        const w = objectWrites(perms);
        if (w.length === 0) continue;
        if (reach.unresolved) {
          out.push({ level: "warning", message: `${who} can ${w.join(", ")} on ${reach.shown}, which cannot be resolved: unless it is the quarantine bucket, results leave the room without the release.` });
          continue;
        }
        out.push({
          message:
            `${who} can ${w.join(", ")} on ${reach.shown} through ${roleShown(b)}: results written there bypass the release (no approved token over their hashes, no receipt). ` +
            "Results leave a TEE only through the quarantine bucket, where only the TEE's service account creates; the verifier copies approved results to the release bucket. Remove the grant" +
            (reach.projectLevel ? ", and grant the quarantine writer role on the quarantine bucket only." : "."),
        });
      }
    }
    return out;
  },
};
