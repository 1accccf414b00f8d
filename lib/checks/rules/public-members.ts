/**
 * MCR-IAM1: nothing in a clean room is granted to `allUsers` or
 * `allAuthenticatedUsers` — through IAM on any resource, or through storage ACLs. One reasoned
 * exception: `allUsers` may read the verifier's receipt JWKS from its one dedicated bucket
 * (lib/checks/public-jwks.ts), so receipts can be checked without credentials.
 */
import { iamDeclaration, isIamResourceType } from "../../analysis/iam";
import { PUBLIC_JWKS_MEMBER, PUBLIC_JWKS_ROLE, bucketTarget, isLabelledPublicJwksBucket, publicJwksBucketProblem } from "../public-jwks";
import { Rule, RuleResult } from "../model";

const PUBLIC = /^(allUsers|allAuthenticatedUsers)$/;
const ACL_ENTITY_TYPES = new Set([
  "google_storage_bucket_access_control",
  "google_storage_default_object_access_control",
  "google_storage_object_access_control",
]);
const ACL_LIST_TYPES = new Set(["google_storage_bucket_acl", "google_storage_default_object_acl", "google_storage_object_acl"]);

const FIX =
  "Remove the public member; grant the role to the specific principals that need it (the verifier's callers authenticate with their own identity).";

export const publicMembers: Rule = {
  id: "MCR-IAM1",
  level: "error",
  title: "No allUsers / allAuthenticatedUsers anywhere",
  resourceTypes: (type) => isIamResourceType(type) || ACL_ENTITY_TYPES.has(type) || ACL_LIST_TYPES.has(type),
  check(resource, index) {
    const out: RuleResult[] = [];
    if (ACL_ENTITY_TYPES.has(resource.type)) {
      const entity = resource.config.entity;
      if (typeof entity === "string" && PUBLIC.test(entity)) out.push({ message: `The ACL entry grants ${resource.config.role ?? "access"} to ${entity}. ${FIX}` });
      return out;
    }
    if (ACL_LIST_TYPES.has(resource.type)) {
      const entries = [resource.config.role_entity, resource.config.default_acl]
        .flatMap((v) => (Array.isArray(v) ? v : []))
        .filter((e): e is string => typeof e === "string" && /:(allUsers|allAuthenticatedUsers)$/.test(e));
      for (const e of entries) out.push({ message: `The ACL entry ${e} makes objects public. ${FIX}` });
      const predefined = resource.config.predefined_acl;
      if (typeof predefined === "string" && /^public/.test(predefined)) out.push({ message: `predefined_acl "${predefined}" makes objects public. ${FIX}` });
      return out;
    }
    const decl = iamDeclaration(resource, index);
    const bucket = decl?.targetKind === "bucket" ? bucketTarget(decl.target, index) : undefined;
    for (const b of decl?.bindings ?? []) {
      for (const m of b.members) {
        if (m.kind !== "public") continue;
        if (bucket && isLabelledPublicJwksBucket(bucket)) {
          // The receipt JWKS exception: exactly this member, role and bucket, nothing more.
          const problem =
            publicJwksBucketProblem(bucket, index) ??
            (m.member !== PUBLIC_JWKS_MEMBER || b.role !== PUBLIC_JWKS_ROLE || b.condition
              ? `only ${PUBLIC_JWKS_MEMBER} → ${PUBLIC_JWKS_ROLE}, unconditioned, is allowed on it (found ${m.member} → ${b.role ?? "an unresolved role"}${b.condition ? " with a condition" : ""})`
              : undefined);
          if (problem === undefined) continue;
          out.push({ message: `${m.member} holds ${b.role ?? "an unresolved role"} on the receipt JWKS bucket, but ${problem}. ${FIX}` });
          continue;
        }
        out.push({ message: `${m.member} holds ${b.role ?? "an unresolved role"}: anyone${m.member === "allAuthenticatedUsers" ? " with any Google account" : " on the internet"} gets it. ${FIX}` });
      }
    }
    return out;
  },
};
