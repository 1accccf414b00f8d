/**
 * MCR-KMS1: a dataset key (`component: dataset-key`) decrypts only inside an approved
 * image. Any grant that lets something else use or administer it — on the key, on its
 * key ring, or on the project — breaks attestation-bound access.
 */
import { COMPONENT } from "../../common";
import { attestedOnlyResults } from "../attested-access";
import { iamDeclaration, isIamResourceType, keysReached } from "../iam";
import { Rule, RuleResult } from "../model";
import { TfResource } from "../resource-index";
import { componentOf } from "../values";

/** Roles that use a key's material or can grant that use (admin sets IAM policy). */
export function grantsKeyUse(role: string): boolean {
  return /^roles\/cloudkms\.(cryptoKey(Encrypter|Decrypter)|cryptoOperator|admin$)/.test(role) || role === "roles/owner" || role === "roles/editor";
}

export const ENCRYPT_ONLY_ROLE = "roles/cloudkms.cryptoKeyEncrypter";

export const datasetKeyAccess: Rule = {
  id: "MCR-KMS1",
  level: "error",
  title: "Only attested principal sets of approved images may use a dataset key",
  resourceTypes: (type) => isIamResourceType(type) && /^google_(kms_crypto_key|kms_key_ring|project)_iam_/.test(type),
  check(resource, index, context) {
    const decl = iamDeclaration(resource, index);
    if (!decl) return [];
    const isDatasetKey = (k: TfResource) => componentOf(k) === COMPONENT.datasetKey;
    if (decl.opaque) {
      const reach = keysReached(decl, index, context);
      return reach.resources.some(isDatasetKey)
        ? [{ level: "warning", message: `Cannot read the grants of ${resource.address} (${decl.opaque}), which reaches a dataset key. Use a literal policy or a google_iam_policy data source so the grants can be checked.` }]
        : [];
    }
    const out: RuleResult[] = [];
    for (const binding of decl.bindings) {
      out.push(
        ...attestedOnlyResults(
          binding,
          keysReached(binding, index, context),
          isDatasetKey,
          "dataset key",
          grantsKeyUse,
          index,
          context,
          "Only principalSet://…/attribute.image_digest/<approved digest> members (or a reader service account only they can impersonate) may use a dataset key: remove this grant, or grant roles/cloudkms.cryptoKeyDecrypter to the approved image's principal set. Data owners listed in the policy may hold roles/cloudkms.cryptoKeyEncrypter only.",
          ENCRYPT_ONLY_ROLE,
        ),
      );
    }
    return out;
  },
};
