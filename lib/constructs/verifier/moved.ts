/**
 * Terraform `moved` blocks for the verifier's stateful resources that moved under library
 * constructs (the audit bucket under CleanRoomBucket, the receipt key and its signer grant under
 * ReceiptKey). Without them Terraform would plan to destroy and recreate them: refused for the
 * prevent-destroy key and the retention-locked bucket, and a revoked-then-granted signer binding.
 */
import { TerraformResource, TerraformStack } from "cdktf";
import { Construct } from "constructs";
// cdktf's own logical-id function (HashedAddressingScheme), so the former address is exactly what
// earlier versions synthesized; the verifier's snapshot test pins the result.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { makeUniqueId } = require("cdktf/lib/private/unique") as { makeUniqueId(components: string[]): string };

/** Tell Terraform that `resource` is the one formerly synthesized at `<scope>/<formerId>`. */
export function movedFrom(resource: TerraformResource, scope: Construct, formerId: string): void {
  const stack = TerraformStack.of(scope);
  const scopes = scope.node.scopes;
  const components = [...scopes.slice(scopes.indexOf(stack) + 1).map((c) => c.node.id), formerId];
  resource.moveFromId(`${resource.terraformResourceType}.${makeUniqueId(components)}`);
}
