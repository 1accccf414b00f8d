/**
 * The room's data pool (the workload identity pool whose principal sets hold stage-2 grants)
 * holds exactly one provider, pinned to what the policy compiles:
 * - MCR-WIF3: no provider in the data pool but the room's (`attestation-verifier`). Any other
 *   provider's tokens map into the same `attribute.image_digest/<digest>` principal sets.
 * - MCR-WIF4: the room's provider keeps Confidential Space's issuer, the STS audience, the
 *   `google.subject` and `attribute.image_digest` mappings, and every clause of the compiled
 *   condition beyond MCR-WIF1's (Secure Boot, hardware, project, TEE account, no `tee-cmd`,
 *   no `tee-env-*` but an approval's `allowedEnv`), each judged with a real CEL engine.
 * In a consortium each party's data pool is held to the same (its condition compiles from the
 * room with that party's approvals). Both need the policy: without it a data pool cannot be told
 * from other pools.
 */
import { parse } from "@bufbuild/cel";
import { ATTRIBUTE_MAPPING } from "../../policy/condition";
import { CleanRoomPolicy, CONFIDENTIAL_SPACE_ISSUER, STS_AUDIENCE, TEE_HARDWARE } from "../../policy/model";
import { approvalsOfParty, partiesOf } from "../../policy/consortium";
import { dataPlaneNames, manateeContract } from "../../policy/names";
import { partyPoolId } from "../../policy/party-names";
import { Rule, RuleResult } from "../model";
import { ResourceIndex, TfResource } from "../../analysis/resource-index";
import { block, dig, readString } from "../../analysis/values";
import { ABSENT, ClaimRequirement, ClaimValues, claimRequirement, conditionRequires } from "./wif-condition";

/** The pool id a provider (or a grant's pool reference) names, when it can be read. */
export function providerPoolId(provider: TfResource, index: ResourceIndex): string | undefined {
  const raw = provider.config.workload_identity_pool_id;
  const ref = index.target(raw);
  const value = ref ? ref.resource.config.workload_identity_pool_id : raw;
  const id = readString(value);
  return id.state === "known" ? id.value.replace(/^.*\/workloadIdentityPools\//, "") : undefined;
}

/**
 * The data pool a provider is in: the room's, or in a consortium a party's (its own data pool,
 * whose condition compiles from the room with that party's approvals). Undefined for any other pool.
 */
function dataPoolOf(provider: TfResource, index: ResourceIndex, policy: CleanRoomPolicy): { poolId: string; compiledFrom: CleanRoomPolicy } | undefined {
  const id = providerPoolId(provider, index);
  if (id === undefined) return undefined;
  if (id === dataPlaneNames(policy).poolId) return { poolId: id, compiledFrom: policy };
  const party = partiesOf(policy).find((p) => partyPoolId(policy.name, p.name) === id);
  return party ? { poolId: id, compiledFrom: { ...policy, approvals: approvalsOfParty(policy, party.name) } } : undefined;
}

export const dataPoolSingleProvider: Rule = {
  id: "MCR-WIF3",
  level: "error",
  title: "The room's data pool holds exactly one provider: the room's",
  resourceTypes: ["google_iam_workload_identity_pool_provider"],
  check(provider, index, context) {
    const policy = context.policy;
    const pool = policy && dataPoolOf(provider, index, policy);
    if (!policy || !pool) return [];
    const names = { ...dataPlaneNames(policy), poolId: pool.poolId };
    const id = readString(provider.config.workload_identity_pool_provider_id);
    if (id.state === "known" && id.value === names.providerId) return [];
    return [
      {
        message: `The data pool ${names.poolId} has a provider ${id.state === "known" ? `"${id.value}"` : "with an unresolved id"} besides the room's "${names.providerId}". Its tokens map into the same attribute.image_digest principal sets that hold the stage-2 grants, under its own issuer and condition. Remove it; a data pool holds exactly one provider, compiled from the policy.`,
      },
    ];
  },
};

const ZERO_DIGEST = `sha256:${"0".repeat(64)}`;
const CONTAINER = "submods.container";
/** An adversarial token from a conjunct's literal, unless the literal is a good value. */
const other = (good: readonly string[]) => (lit: string) => (good.includes(lit) ? undefined : lit);

/**
 * The clauses that pin tokens to the room's (in a consortium, the operator's) project and TEE service
 * account: the data pool's, and every party pool's (MCR-PTY3).
 */
export function operatorPins(policy: CleanRoomPolicy): ClaimRequirement[] {
  const teeSa = manateeContract(policy.name, policy.project).teeServiceAccountEmail;
  return [
    claimRequirement("submods.gce.project_id", {
      clause: `assertion.submods.gce.project_id == '${policy.project}'`,
      meaning: "the VM runs in the room's (in a consortium, the operator's) project, not one an outsider controls",
      good: [policy.project],
      bad: [`${policy.project}-other`, "", ABSENT],
      adversarial: other([policy.project]),
    }),
    claimRequirement("google_service_accounts", {
      clause: `'${teeSa}' in assertion.google_service_accounts`,
      meaning: "the VM runs as the room's (the operator's) TEE service account",
      good: [[teeSa]],
      bad: [[], [`rogue@${policy.project}.iam.gserviceaccount.com`], ABSENT],
      adversarial: (lit) => (lit === teeSa ? undefined : [lit]),
    }),
  ];
}

/** The condition clauses of the data pool beyond MCR-WIF1's, as CEL-judged requirements. */
export function dataPoolRequirements(policy: CleanRoomPolicy): ClaimRequirement[] {
  const hardware = policy.tee.hardware as readonly string[];
  const allowing = policy.approvals.filter((a) => (a.allowedEnv ?? []).length > 0);
  const envRefused: ClaimValues[] = [
    { [`${CONTAINER}.env_override`]: { INJECTED: "1" }, [`${CONTAINER}.image_digest`]: ZERO_DIGEST },
    ...policy.approvals.map((a) => ({ [`${CONTAINER}.env_override`]: { INJECTED: "1" }, [`${CONTAINER}.image_digest`]: a.imageDigest })),
  ];
  return [
    claimRequirement("secboot", { clause: "assertion.secboot == true", meaning: "the VM booted with Secure Boot", good: [true], bad: [false, ABSENT, "true"] }),
    claimRequirement("hwmodel", {
      clause: `assertion.hwmodel in [${hardware.map((h) => `'${h}'`).join(", ")}]`,
      meaning: "the hardware is one the policy allows",
      good: hardware,
      bad: [...TEE_HARDWARE.filter((h) => !hardware.includes(h)), "GCP_SHIELDED_VM", "", ABSENT],
      adversarial: other(hardware),
    }),
    ...operatorPins(policy),
    claimRequirement(`${CONTAINER}.cmd_override`, {
      clause: "(!has(assertion.submods.container.cmd_override) || size(assertion.submods.container.cmd_override) == 0)",
      meaning: "the operator did not replace the image's command (tee-cmd)",
      good: [ABSENT, []],
      bad: [["/bin/sh", "-c", "cat /secrets"]],
      adversarial: (lit) => [lit],
    }),
    {
      claims: [`${CONTAINER}.env_override`, `${CONTAINER}.image_digest`],
      clause: "(!has(assertion.submods.container.env_override) || size(assertion.submods.container.env_override) == 0)",
      meaning: `the operator set no tee-env-* variable${allowing.length ? " beyond an approval's allowedEnv, on that approval's image" : ""}`,
      good: [{ [`${CONTAINER}.env_override`]: ABSENT, [`${CONTAINER}.image_digest`]: ZERO_DIGEST }],
      bad: envRefused,
      // A name the condition mentions is refused on an image no approval lists it for.
      adversarial: (lit) => ({ [`${CONTAINER}.env_override`]: { [lit]: "1" }, [`${CONTAINER}.image_digest`]: ZERO_DIGEST }),
      unlessDebugAllowed: false,
    },
  ];
}

const ISSUER = new Set([CONFIDENTIAL_SPACE_ISSUER, `${CONFIDENTIAL_SPACE_ISSUER}/`]);
/** The mappings principal sets and subjects depend on. */
const PINNED_MAPPINGS = ["google.subject", "attribute.image_digest"] as const;

export const dataPoolPinned: Rule = {
  id: "MCR-WIF4",
  level: "error",
  title: "The room's data pool provider is pinned to the policy: issuer, audience, mapping and every condition clause",
  resourceTypes: ["google_iam_workload_identity_pool_provider"],
  check(provider, index, context) {
    const policy = context.policy;
    const pool = policy && dataPoolOf(provider, index, policy);
    if (!policy || !pool) return [];
    const out: RuleResult[] = [];
    const issuer = readString(dig(provider.config, "oidc.issuer_uri"));
    if (issuer.state !== "known" || !ISSUER.has(issuer.value)) {
      out.push({ message: `oidc.issuer_uri is ${JSON.stringify(dig(provider.config, "oidc.issuer_uri") ?? null)}, not Confidential Space's ${CONFIDENTIAL_SPACE_ISSUER}/: tokens of another issuer would map into the data pool's principal sets. Set it back.` });
    }
    const audiences = dig(provider.config, "oidc.allowed_audiences");
    if (!Array.isArray(audiences) || audiences.length !== 1 || audiences[0] !== STS_AUDIENCE) {
      out.push({ message: `oidc.allowed_audiences is ${JSON.stringify(audiences ?? null)}, not ["${STS_AUDIENCE}"]: tokens minted for another audience would be accepted. Set it to ["${STS_AUDIENCE}"].` });
    }
    const mapping = block(provider.config.attribute_mapping) ?? {};
    for (const key of PINNED_MAPPINGS) {
      if (mapping[key] !== ATTRIBUTE_MAPPING[key]) {
        out.push({ message: `attribute_mapping["${key}"] is ${JSON.stringify(mapping[key] ?? null)}, not ${JSON.stringify(ATTRIBUTE_MAPPING[key])}: the principal sets holding stage-2 grants would match workloads by another claim. Use ATTRIBUTE_MAPPING from lib/policy/condition.ts.` });
      }
    }
    const condition = readString(provider.config.attribute_condition);
    // MCR-WIF1 reports a missing, unresolved or unparsable condition.
    if (condition.state !== "known" || !parses(condition.value)) return out;
    for (const req of dataPoolRequirements(pool.compiledFrom)) {
      if (!conditionRequires(condition.value, req)) {
        out.push({ message: `attribute_condition does not require ${req.clause} (${req.meaning}), as compiled from the policy. Each clause must be its own top-level && conjunct; use compileAttributeCondition(policy).` });
      }
    }
    return out;
  },
};

/** Whether a condition is CEL (MCR-WIF1 reports it when not). */
export function parses(condition: string): boolean {
  try {
    parse(condition);
    return true;
  } catch {
    return false;
  }
}
