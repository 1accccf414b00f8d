/**
 * The verifier's receipt-signing key: an asymmetric EC P-256 signing key whose one signer is the
 * verifier's service account. Auditors check every receipt against it, so nobody else may sign:
 * the construct has no grant method, and the signer is fixed at construction.
 *
 * Why its own file: keys.ts covers the data plane's keys (dataset, approver, storage); its base
 * class is not exported, and this key differs in what matters (one service-account signer, no
 * dataset, the receipt-key label the guardrails look for).
 */
import { ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { KmsCryptoKey } from "@cdktf/provider-google/lib/kms-crypto-key";
import { KmsCryptoKeyIamMember } from "@cdktf/provider-google/lib/kms-crypto-key-iam-member";
import { COMPONENT, cleanRoomLabels } from "../../internal/common";
import { InvalidPropsError } from "../../errors";
import { DEFAULT_DESTROY_SCHEDULED_DURATION, KMS_ROLES } from "../data-plane/keys";
import type { ReceiptKeyProtection } from "./props";

/** Cloud KMS algorithm of receipt keys: ES256 receipts. */
export const RECEIPT_KEY_ALGORITHM = "EC_SIGN_P256_SHA256";

export interface ReceiptKeyProps {
  /** Name of the clean room (labels). */
  readonly room: string;
  /** The key ring, `projects/P/locations/L/keyRings/R` (or its reference). */
  readonly keyRingId: string;
  readonly keyName: string;
  /** The one principal that signs receipts: the verifier's service account (`serviceAccount:…`). */
  readonly signer: string;
  /** @default "HSM" */
  readonly protectionLevel?: ReceiptKeyProtection;
  /** @default "2592000s" (30 days) */
  readonly destroyScheduledDuration?: string;
  /** Refuse `terraform destroy` (a destroyed key invalidates every receipt). @default true */
  readonly preventDestroy?: boolean;
  /** @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

export class ReceiptKey extends Construct {
  public readonly key: KmsCryptoKey;
  /** `projects/P/locations/L/keyRings/R/cryptoKeys/K` */
  public readonly cryptoKeyId: string;
  /** `roles/cloudkms.signerVerifier` (sign + public key for the JWKS) for the signer, on this key only. */
  public readonly signerGrant: KmsCryptoKeyIamMember;

  constructor(scope: Construct, id: string, props: ReceiptKeyProps) {
    super(scope, id);
    if (!Token.isUnresolved(props.signer) && !props.signer.startsWith("serviceAccount:")) {
      throw new InvalidPropsError(
        `signer "${props.signer}" is not a service account. Only the verifier's own service account signs receipts; pass its member ("serviceAccount:<email>").`,
        { constructPath: this.node.path, property: "signer" },
      );
    }
    // No rotation_period: Cloud KMS rotates only symmetric keys. Rotate by adding a version
    // and moving receiptKey.version (see ReceiptKeyOptions.version).
    this.key = new KmsCryptoKey(this, "key", {
      provider: props.provider,
      name: props.keyName,
      keyRing: props.keyRingId,
      purpose: "ASYMMETRIC_SIGN",
      versionTemplate: { algorithm: RECEIPT_KEY_ALGORITHM, protectionLevel: props.protectionLevel ?? "HSM" },
      destroyScheduledDuration: props.destroyScheduledDuration ?? DEFAULT_DESTROY_SCHEDULED_DURATION,
      labels: cleanRoomLabels(props.room, COMPONENT.receiptKey),
      lifecycle: { preventDestroy: props.preventDestroy ?? true },
      dependsOn: props.dependsOn && props.dependsOn.length > 0 ? props.dependsOn : undefined,
    });
    this.cryptoKeyId = this.key.id;
    this.signerGrant = new KmsCryptoKeyIamMember(this, "signer", {
      provider: props.provider,
      cryptoKeyId: this.cryptoKeyId,
      role: KMS_ROLES.signerVerifier,
      member: props.signer,
    });
  }
}
