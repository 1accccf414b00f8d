/**
 * MCR-IAM1: nothing in a clean room is granted to `allUsers` or
 * `allAuthenticatedUsers` — through IAM on any resource, or through storage ACLs.
 */
import { iamDeclaration, isIamResourceType } from "../iam";
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
    for (const b of decl?.bindings ?? []) {
      for (const m of b.members) {
        if (m.kind === "public") out.push({ message: `${m.member} holds ${b.role ?? "an unresolved role"}: anyone${m.member === "allAuthenticatedUsers" ? " with any Google account" : " on the internet"} gets it. ${FIX}` });
      }
    }
    return out;
  },
};
