/**
 * MCR-KMS2: only the verifier signs release receipts. Anyone else who can sign with the receipt
 * key (`component: receipt-key`) can forge a receipt for outputs the verifier never released.
 * Checked at key, key ring and project level.
 */
import { COMPONENT } from "../../internal/common";
import { platformNames } from "../../policy/names";
import { iamDeclaration, keysReached, sameServiceAccount, serviceAccountRef, ServiceAccountRef } from "../../analysis/iam";
import { CheckContext, Rule, RuleResult } from "../model";
import { ResourceIndex } from "../../analysis/resource-index";
import { componentOf, dig } from "../../analysis/values";
import { signUse } from "./approver-access";

/** The verifier's identity: the policy's, and the service account its function runs as. */
function verifierAccounts(index: ResourceIndex, context: CheckContext): ServiceAccountRef[] {
  const out: ServiceAccountRef[] = context.policy ? [{ email: platformNames(context.policy).verifierSaEmail }] : [];
  for (const fn of index.ofType("google_cloudfunctions2_function")) {
    const raw = dig(fn.config, "service_config.service_account_email");
    if (typeof raw === "string") out.push(serviceAccountRef(raw, index, context));
  }
  return out;
}

export const receiptKeySigners: Rule = {
  id: "MCR-KMS2",
  level: "error",
  title: "Only the verifier can sign with the receipt key",
  resourceTypes: (type) => /^google_(kms_crypto_key|kms_key_ring|project)_iam_(member|binding|policy)$/.test(type),
  check(resource, index, context) {
    const out: RuleResult[] = [];
    for (const b of iamDeclaration(resource, index)?.bindings ?? []) {
      const keys = keysReached(b, index, context).resources.filter((k) => componentOf(k) === COMPONENT.receiptKey);
      const how = keys.length ? signUse(b) : "no";
      if (how === "no") continue;
      const verifier = verifierAccounts(index, context);
      for (const m of b.members) {
        const sa = m.kind === "serviceAccount" ? serviceAccountRef(m.account ?? m.member, index, context) : undefined;
        if (sa && verifier.some((v) => sameServiceAccount(sa, v))) continue;
        out.push({
          level: how === "maybe" || m.kind === "unknown" ? "warning" : undefined,
          message: `${m.member} holds ${b.role ?? "an unresolved role"} on receipt key ${keys.map((k) => k.address).join(", ")}: it could sign release receipts for outputs the verifier never released. Only the verifier's service account holds roles/cloudkms.signerVerifier on the receipt key; give others roles/cloudkms.publicKeyViewer.`,
        });
      }
    }
    return out;
  },
};
