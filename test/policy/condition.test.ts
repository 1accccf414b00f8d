import { isCelError } from "@bufbuild/cel";
import {
  ATTRIBUTE_CONDITION_MAX_LENGTH,
  ATTRIBUTE_MAPPING,
  AttributeConditionTooLongError,
  attributeConditionClauses,
  compileAttributeCondition,
} from "../../lib/policy/condition";
import { CleanRoomPolicy, TEE_HARDWARE } from "../../lib/policy/model";
import { manateeContract } from "../../lib/policy/names";
import { validatePolicy } from "../../lib/policy/validate";
import { debugTdxClaims, evaluateAttributeCondition, evaluateCel, productionTdxClaims, withClaim } from "../cel";
import { examplePolicy } from "../util";

const policy = examplePolicy();
const condition = compileAttributeCondition(policy);
const teeServiceAccount = manateeContract(policy.name, policy.project).teeServiceAccountEmail;
const claimsFor = (p: CleanRoomPolicy) => ({
  project: p.project,
  serviceAccount: manateeContract(p.name, p.project).teeServiceAccountEmail,
});
const production = productionTdxClaims(claimsFor(policy));
const debug = debugTdxClaims(claimsFor(policy));

describe("the attribute condition, evaluated by a real CEL engine against real-shaped tokens", () => {
  test("given the example room's TEE service account, then it is the one the ManaTEE images hard-code", () => {
    expect(teeServiceAccount).toBe("dcr-insurance-study-cvm-sa@acme-clean-room.iam.gserviceaccount.com");
  });

  test("given a production TDX token from the room's TEE service account in the room's project, then STS would accept it", () => {
    expect(evaluateAttributeCondition(condition, production)).toEqual({ allowed: true, result: true });
  });

  // Each case changes one claim of the production token.
  const denied: [string, Record<string, any>][] = [
    ["a debug image (dbgstat enabled, no support_attributes)", debug],
    ["dbgstat enabled on an otherwise production token", withClaim(production, "dbgstat", "enabled")],
    ["AMD SEV hardware when only TDX is allowed", withClaim(production, "hwmodel", "GCP_AMD_SEV")],
    ["the ITA literal INTEL_TDX", withClaim(production, "hwmodel", "INTEL_TDX")],
    ["a shielded VM, not a confidential one", withClaim(production, "hwmodel", "GCP_SHIELDED_VM")],
    ["no service account claim", withClaim(production, "google_service_accounts", undefined)],
    ["the project's default compute service account", withClaim(production, "google_service_accounts", ["889537417991-compute@developer.gserviceaccount.com"])],
    ["a same-named service account in another project", withClaim(production, "google_service_accounts", [teeServiceAccount.replace("acme-clean-room", "evil-project")])],
    ["a plain Confidential VM (swname GCE)", withClaim(production, "swname", "GCE")],
    ["only EXPERIMENTAL support (preview image)", withClaim(production, "submods.confidential_space.support_attributes", ["EXPERIMENTAL"])],
    ["an out-of-support image (USABLE only)", withClaim(production, "submods.confidential_space.support_attributes", ["USABLE"])],
    ["secure boot off", withClaim(production, "secboot", false)],
    ["secure boot as the string 'true'", withClaim(production, "secboot", "true")],
    ["another project", withClaim(production, "submods.gce.project_id", "evil-project")],
  ];

  test.each(denied)("given %s, then the condition denies", (_case, claims) => {
    expect(evaluateAttributeCondition(condition, claims).allowed).toBe(false);
  });

  test("given a token missing support_attributes but otherwise production, then `in` raises and the error counts as deny", () => {
    const claims = withClaim(production, "submods.confidential_space.support_attributes", undefined);
    const decision = evaluateAttributeCondition(condition, claims);
    expect(isCelError(decision.result)).toBe(true);
    expect(decision.allowed).toBe(false);
  });

  test("given the real ITA token of reference §6 re-pointed at the room, then it is denied (INTEL_TDX, EXPERIMENTAL only)", () => {
    const ita = {
      ...production,
      iss: "https://portal.trustauthority.intel.com",
      hwmodel: "INTEL_TDX",
      submods: { ...production.submods, confidential_space: { monitoring_enabled: { memory: false }, support_attributes: ["EXPERIMENTAL"] } },
    };
    expect(evaluateAttributeCondition(condition, ita).allowed).toBe(false);
  });

  test("given the real Confidential VM token of reference §6 (swname GCE, secboot false), then it is denied", () => {
    const cvm = {
      aud: "<YOURAUDIENCE>",
      iss: "https://confidentialcomputing.googleapis.com",
      secboot: false,
      oemid: 11129,
      hwmodel: "GCP_AMD_SEV",
      swname: "GCE",
      dbgstat: "enabled",
      submods: { gce: { zone: "us-central1-c", project_id: policy.project, project_number: "470652426305" } },
      google_service_accounts: [teeServiceAccount],
    };
    expect(evaluateAttributeCondition(condition, cvm).allowed).toBe(false);
  });

  describe("given a non-production room with allowDebug: true", () => {
    const debugRoom = examplePolicy({ tee: { hardware: ["GCP_INTEL_TDX"], allowDebug: true } });
    const debugCondition = compileAttributeCondition(debugRoom);

    test("then the debug token passes, and so does the production one", () => {
      expect(evaluateAttributeCondition(debugCondition, debugTdxClaims(claimsFor(debugRoom))).allowed).toBe(true);
      expect(evaluateAttributeCondition(debugCondition, productionTdxClaims(claimsFor(debugRoom))).allowed).toBe(true);
    });

    test("then everything but debug is still enforced", () => {
      const claims = debugTdxClaims(claimsFor(debugRoom));
      for (const [path, value] of [
        ["swname", "GCE"],
        ["hwmodel", "GCP_AMD_SEV"],
        ["secboot", false],
        ["submods.gce.project_id", "evil-project"],
        ["google_service_accounts", ["other@acme-clean-room.iam.gserviceaccount.com"]],
      ] as const) {
        expect({ path, allowed: evaluateAttributeCondition(debugCondition, withClaim(claims, path, value)).allowed }).toEqual({ path, allowed: false });
      }
    });
  });

  test("given a room that allows AMD SEV and TDX, then tokens of both pass and SEV_ES does not", () => {
    const mixed = examplePolicy({ tee: { hardware: ["GCP_AMD_SEV", "GCP_INTEL_TDX"] } });
    const cond = compileAttributeCondition(mixed);
    const claims = productionTdxClaims(claimsFor(mixed));
    expect(evaluateAttributeCondition(cond, claims).allowed).toBe(true);
    expect(evaluateAttributeCondition(cond, withClaim(claims, "hwmodel", "GCP_AMD_SEV")).allowed).toBe(true);
    expect(evaluateAttributeCondition(cond, withClaim(claims, "hwmodel", "GCP_AMD_SEV_ES")).allowed).toBe(false);
  });

  test("given each clause alone, then each is true on the production token (no clause is dead)", () => {
    for (const clause of attributeConditionClauses(policy)) {
      expect({ cel: clause.cel, allowed: evaluateAttributeCondition(clause.cel, production).allowed }).toEqual({ cel: clause.cel, allowed: true });
    }
  });
});

describe("the attribute mapping, evaluated on the production token", () => {
  test("then google.subject is the compact gcpcs:: form within Google's 127-byte limit, and the digest maps to attribute.image_digest", () => {
    const mapped = Object.fromEntries(
      Object.entries(ATTRIBUTE_MAPPING).map(([attr, expr]) => [attr, evaluateCel(expr, { assertion: production }).result]),
    );
    expect(mapped).toEqual({
      "google.subject": `gcpcs::${production.submods.container.image_digest}::889537417991::8114146583384593350`,
      "attribute.image_digest": production.submods.container.image_digest,
      "attribute.hwmodel": "GCP_INTEL_TDX",
      "attribute.swversion": "250800",
    });
    expect(Buffer.byteLength(mapped["google.subject"] as string)).toBeLessThanOrEqual(127);
  });
});

describe("the 4096-character limit", () => {
  test("given the example room, then its condition is far below the limit", () => {
    expect(condition.length).toBeLessThan(ATTRIBUTE_CONDITION_MAX_LENGTH / 4);
  });

  test("given the longest policy the loader accepts, then its condition still fits (validation makes the limit unreachable)", () => {
    const longest = examplePolicy({
      name: "a".repeat(20),
      project: `p${"x".repeat(29)}`,
      tee: { hardware: [...TEE_HARDWARE] },
    });
    expect(validatePolicy(longest)).toEqual([]);
    expect(compileAttributeCondition(longest).length).toBeLessThan(ATTRIBUTE_CONDITION_MAX_LENGTH / 2);
  });

  test("given an over-long policy object built directly, then AttributeConditionTooLongError names the length and the limit", () => {
    const overLong = examplePolicy({ project: `p${"x".repeat(4100)}` });
    let error: unknown;
    try {
      compileAttributeCondition(overLong);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AttributeConditionTooLongError);
    const { length, message } = error as AttributeConditionTooLongError;
    expect(length).toBeGreaterThan(ATTRIBUTE_CONDITION_MAX_LENGTH);
    expect(message).toBe(
      `The compiled attribute condition is ${length} characters; Google's limit is 4096. Reduce tee.hardware, shorten approvals' allowedEnv or shorten the project id.`,
    );
  });
});
