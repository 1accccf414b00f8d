/** Where each stack keeps its Terraform state. */
import { GcsBackend, LocalBackend, TerraformStack } from "cdktf";
import { CleanRoomPolicy } from "../lib/policy/model";

/**
 * GCS remote state when the config names a bucket; otherwise local state in the project
 * root — where cdktf puts it by default — but as a path relative to the stack's working
 * directory (`cdktf.out/stacks/<stack>/`) instead of this machine's absolute path, so the
 * synthesized JSON is the same on every machine and the other stack's remote state finds it.
 */
export function configureStateBackend(stack: TerraformStack, policy: CleanRoomPolicy, part: "platform" | "workloads" | `party-${string}`): void {
  if (policy.backend) {
    new GcsBackend(stack, { bucket: policy.backend.bucket, prefix: `${policy.backend.prefix}/${part}` });
  } else {
    new LocalBackend(stack, { path: `../../../terraform.${stack.node.id}.tfstate` });
  }
}
