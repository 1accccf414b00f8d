/**
 * MCR-PTY3: a party's data pool (`<room>-<party>`, in the party's project) admits only the
 * operator's TEE VMs: its provider's condition pins the operator's project
 * (`submods.gce.project_id`) and TEE service account (`google_service_accounts`), each as its own
 * top-level `&&` conjunct, judged with the CEL engine as MCR-WIF4 judges the room's data pool.
 * Without both, a VM in another project, or running as another account, could present an approved
 * image's token and read the party's data. Needs a policy with `parties`.
 */
import { isConsortium, partiesOf } from "../../policy/consortium";
import { partyPoolId } from "../../analysis/parties";
import { readString } from "../../analysis/values";
import { Rule } from "../model";
import { operatorPins, parses, providerPoolId } from "./data-pool";
import { conditionRequires } from "./wif-condition";

export const partyProviderPinned: Rule = {
  id: "MCR-PTY3",
  level: "error",
  title: "A party pool's provider pins the operator's project and TEE service account",
  resourceTypes: ["google_iam_workload_identity_pool_provider"],
  check(provider, index, context) {
    const policy = context.policy;
    if (!policy || !isConsortium(policy)) return [];
    const poolId = providerPoolId(provider, index);
    const party = partiesOf(policy).find((p) => partyPoolId(policy.name, p.name) === poolId);
    if (!party) return [];
    const condition = readString(provider.config.attribute_condition);
    // MCR-WIF1 reports a missing condition.
    if (condition.state === "absent") return [];
    if (condition.state !== "known" || !parses(condition.value)) {
      return [{ message: `Cannot verify that party ${party.name}'s provider pins the operator's project and TEE service account: attribute_condition is ${condition.state === "known" ? "not valid CEL" : "an expression"}. Use the literal condition compiled for the party pool.` }];
    }
    return operatorPins(policy)
      .filter((req) => !conditionRequires(condition.value, req))
      .map((req) => ({
        message: `Party ${party.name}'s pool ${poolId} provider does not require ${req.clause} (${req.meaning}): a VM elsewhere, or as another account, with an approved image could read ${party.name}'s data. Add it as its own top-level && conjunct.`,
      }));
  },
};
