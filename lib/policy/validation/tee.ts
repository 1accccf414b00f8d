/** The TEE the workloads run in (hardware, machine type, debug) and the verifier's token audience. */
import { DEFAULT_TEE_HARDWARE, STS_AUDIENCE, TEE_HARDWARE, TeeHardware } from "../model";
import { Checker, checkBoolean } from "./checker";
import { EXPECT } from "./expectations";
import { PolicyPath, describeValue } from "./issues";
import { AMD_FAMILIES, AMD_MODELS, FIELDS, MACHINE_TYPE, POLICY_LIMITS, TDX_FAMILIES } from "./vocabulary";

function machineFamily(machineType: string): string | undefined {
  return MACHINE_TYPE.exec(machineType)?.[1];
}

/** The TEE: hardware models, a Confidential Space machine type that runs on them, and allowDebug. */
export function checkTee(c: Checker, value: unknown): void {
  if (value === undefined) return;
  const tee = c.map(["tee"], value, "the TEE settings: { hardware, machineType, allowDebug }", FIELDS.tee);
  if (!tee) return;
  let hardware: readonly TeeHardware[] | undefined = DEFAULT_TEE_HARDWARE;
  if (tee.hardware !== undefined) {
    hardware = c.list(
      ["tee", "hardware"],
      tee.hardware,
      `a non-empty list of ${TEE_HARDWARE.join(", ")}`,
      (p, v) =>
        c.oneOf(p, v, TEE_HARDWARE, (found) =>
          found === "INTEL_TDX"
            ? 'INTEL_TDX is what Intel Trust Authority tokens carry; Google\'s attestation says "GCP_INTEL_TDX"'
            : undefined,
        ),
      { nonEmpty: true },
    );
    if (hardware && (tee.hardware as unknown[]).length !== hardware.length) hardware = undefined;
  }
  if (tee.machineType !== undefined) {
    const machineType = c.string(["tee", "machineType"], tee.machineType, EXPECT.machineType, (s) => {
      const family = machineFamily(s);
      return family !== undefined && [...TDX_FAMILIES, ...AMD_FAMILIES].includes(family as never);
    });
    const family = machineType && machineFamily(machineType);
    if (family && hardware) {
      const tdx = (TDX_FAMILIES as readonly string[]).includes(family);
      if (tdx && !hardware.includes("GCP_INTEL_TDX")) {
        c.fail(["tee", "machineType"], `an AMD SEV machine type (n2d-*, c2d-*, c3d-*) for tee.hardware [${hardware.join(", ")}]`, machineType, {
          found: `${describeValue(machineType)}, which runs Intel TDX; add GCP_INTEL_TDX to tee.hardware or pick an AMD machine type`,
        });
      } else if (!tdx && !hardware.some((h) => AMD_MODELS.includes(h))) {
        c.fail(["tee", "machineType"], `an Intel TDX machine type (c3-*, a3-*) for tee.hardware [${hardware.join(", ")}]`, machineType, {
          found: `${describeValue(machineType)}, which runs AMD SEV; add GCP_AMD_SEV to tee.hardware or pick a c3-* machine type`,
        });
      }
    }
  }
  if (tee.allowDebug !== undefined && typeof tee.allowDebug !== "boolean") {
    c.fail(["tee", "allowDebug"], "true or false (true only for non-production rooms)", tee.allowDebug);
  }
}

/** The verifier section: its custom token audience, and whether decisions need a nonce. */
export function checkVerifier(c: Checker, value: unknown): void {
  if (value === undefined) return;
  const verifier = c.map(["verifier"], value, "the verifier settings: { audience, requireNonce }", FIELDS.verifier);
  if (verifier?.audience !== undefined) checkAudience(c, ["verifier", "audience"], verifier.audience);
  checkBoolean(c, ["verifier", "requireNonce"], verifier?.requireNonce, "true or false (false only for test rooms: a receipt without a nonce binds no output)");
}

function checkAudience(c: Checker, path: PolicyPath, value: unknown): void {
  if (typeof value !== "string") {
    c.fail(path, EXPECT.audience, value);
    return;
  }
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== "https:" || !url.hostname || Buffer.byteLength(value, "utf8") > POLICY_LIMITS.maxAudienceBytes) {
    const bytes = Buffer.byteLength(value, "utf8");
    c.fail(path, EXPECT.audience, value, bytes > POLICY_LIMITS.maxAudienceBytes ? { found: `a string of ${bytes} bytes` } : {});
    return;
  }
  if (url.hostname === new URL(STS_AUDIENCE).hostname) {
    c.fail(
      path,
      `your verifier's own audience, not ${STS_AUDIENCE} (reserved for the default token Google STS accepts; a verifier accepting it would accept replayed STS tokens)`,
      value,
    );
  }
}
