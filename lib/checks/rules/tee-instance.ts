/**
 * A Confidential Space VM (boot image from `confidential-space-images`, or `tee-*` metadata):
 * - MCR-TEE1: runs a production image unless debug is allowed (a debug image gives the operator
 *   a root shell next to the decrypted data), and `tee-*` metadata only on a Confidential Space image;
 * - MCR-TEE2: with confidential computing (without it there is no TEE at all);
 * - MCR-TEE3: with Secure Boot (tokens carry secboot=true, which the condition requires).
 */
import { bootImage, imageFacts } from "../../analysis/confidential-space";
import { Rule, RuleResult } from "../model";
import { ResourceIndex, TfResource } from "../../analysis/resource-index";
import { block, dig, readBool, readString } from "../../analysis/values";

export const TEE_RESOURCE_TYPES = ["google_compute_instance_template", "google_compute_region_instance_template", "google_compute_instance"];
const CONFIDENTIAL_TYPES = new Set(["SEV", "SEV_SNP", "TDX"]);

/** The VM's Confidential Space image, when it is (or claims, by tee-* metadata, to be) a Confidential Space VM. */
function confidentialSpaceImage(vm: TfResource, index: ResourceIndex): ReturnType<typeof imageFacts> | undefined {
  const image = imageFacts(bootImage(vm), index);
  const metadata = block(vm.config.metadata) ?? {};
  const teeMetadata = Object.keys(metadata).some((k) => k.startsWith("tee-"));
  if (!image || image.confidentialSpace === "no") return undefined;
  if (image.confidentialSpace === "unknown" && !teeMetadata) return undefined;
  return image;
}

export const teeInstance: Rule = {
  id: "MCR-TEE1",
  level: "error",
  title: "Confidential Space VMs boot a production Confidential Space image",
  resourceTypes: TEE_RESOURCE_TYPES,
  check(vm, index, context) {
    const image = imageFacts(bootImage(vm), index);
    const metadata = block(vm.config.metadata) ?? {};
    const teeMetadata = Object.keys(metadata).some((k) => k.startsWith("tee-"));
    if (!image || image.confidentialSpace === "no") {
      return teeMetadata
        ? [{ message: `The VM carries tee-* metadata but boots ${image ? image.shown : "no declared image"}, which is not a Confidential Space image: the workload runs without attestation. Boot from project confidential-space-images, family confidential-space.` }]
        : [];
    }
    if (image.confidentialSpace === "unknown" && !teeMetadata) return [];
    const out: RuleResult[] = [];
    if (image.confidentialSpace === "unknown") {
      out.push({ level: "warning", message: `The VM carries tee-* metadata but its image ${image.shown} cannot be resolved, so production vs debug cannot be checked. Use a google_compute_image data source with a literal project and family.` });
    }
    if (image.debug && !context.allowDebug) {
      out.push({
        message: `The VM boots the debug image ${image.shown}: the operator gets a root shell beside the decrypted data and tokens say dbgstat=enabled. Use family confidential-space (production), or allow debug in the policy (tee.allowDebug) for a non-production room.`,
      });
    }
    return out;
  },
};

export const teeConfidentialCompute: Rule = {
  id: "MCR-TEE2",
  level: "error",
  title: "Confidential Space VMs run with confidential computing",
  resourceTypes: TEE_RESOURCE_TYPES,
  check(vm, index) {
    if (!confidentialSpaceImage(vm, index)) return [];
    const cic = block(vm.config.confidential_instance_config);
    const enabled = readBool(cic?.enable_confidential_compute);
    const type = readString(cic?.confidential_instance_type);
    if (enabled.state === "unknown" || type.state === "unknown") {
      return [{ level: "warning", message: "Cannot tell whether confidential computing is on: confidential_instance_config is an expression." }];
    }
    if ((enabled.state === "known" && enabled.value) || (type.state === "known" && CONFIDENTIAL_TYPES.has(type.value))) return [];
    return [
      {
        message: `The VM has no confidential computing (confidential_instance_config ${cic ? JSON.stringify(cic) : "is missing"}): memory is not encrypted and there is no hardware attestation. Set confidential_instance_config { confidential_instance_type = "TDX" } (or "SEV" on N2D).`,
      },
    ];
  },
};

export const teeSecureBoot: Rule = {
  id: "MCR-TEE3",
  level: "error",
  title: "Confidential Space VMs run with Secure Boot",
  resourceTypes: TEE_RESOURCE_TYPES,
  check(vm, index) {
    if (!confidentialSpaceImage(vm, index)) return [];
    const secureBoot = readBool(dig(vm.config, "shielded_instance_config.enable_secure_boot"));
    if (secureBoot.state === "unknown") {
      return [{ level: "warning", message: "Cannot tell whether Secure Boot is on: shielded_instance_config.enable_secure_boot is an expression." }];
    }
    if (secureBoot.state === "known" && secureBoot.value) return [];
    return [{ message: "Secure Boot is off: set shielded_instance_config { enable_secure_boot = true } (tokens then carry secboot=true, which the attribute condition requires)." }];
  },
};
