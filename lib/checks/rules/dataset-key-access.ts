/**
 * MCR-KMS1: a dataset key (`component: dataset-key`) decrypts only inside an approved
 * image. Any grant that lets something else use or administer it — on the key, on its
 * key ring, or on the project — breaks attestation-bound access.
 */
import { COMPONENT } from "../../internal/common";
import { attestedOnlyCheck } from "../attested-access";
import { isIamResourceType, keysReached } from "../../analysis/iam";
import { Rule } from "../model";
import { componentOf } from "../../analysis/values";

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
  check: attestedOnlyCheck({
    what: "dataset key",
    opaqueWhat: "a dataset key",
    reached: keysReached,
    isProtected: (k) => componentOf(k) === COMPONENT.datasetKey,
    grantsAccess: grantsKeyUse,
    fix: "Only principalSet://…/attribute.image_digest/<approved digest> members (or a reader service account only they can impersonate) may use a dataset key: remove this grant, or grant roles/cloudkms.cryptoKeyDecrypter to the approved image's principal set. Data owners listed in the policy may hold roles/cloudkms.cryptoKeyEncrypter only.",
    ownerRole: ENCRYPT_ONLY_ROLE,
  }),
};
