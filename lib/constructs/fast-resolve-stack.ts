/**
 * A `TerraformStack` that synthesizes a large clean room in linear time: cdktf's own stack
 * synthesis, with `resolveTerraform` (lib/internal/fast-resolve.ts) doing the resolution, so the
 * token-free bulk of a room (principal sets, labels, lifecycle rules) is not scanned three times
 * per pass. The ready stacks extend it; a stack of your own can too.
 */
import { IConstruct } from "constructs";
import { TerraformElement, TerraformOutput, TerraformStack, Tokenization } from "cdktf";
import { resolveTerraform } from "../internal/fast-resolve";

/** cdktf's deepMerge (cdktf/lib/util.js, not exported from the package root), as toTerraform uses it. */
function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const key of Object.keys(source)) {
    const value = source[key];
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      if (typeof target[key] !== "object") target[key] = {};
      if (Tokenization.isResolvable(value)) {
        target[key] = value;
        continue;
      }
      deepMerge(target[key] as Record<string, unknown>, value as Record<string, unknown>);
    } else if (Array.isArray(value)) {
      target[key] = Array.isArray(target[key]) ? [...(target[key] as unknown[]), ...value] : value;
    } else if (value === undefined) {
      delete target[key];
    } else {
      target[key] = value;
    }
  }
}

/** The stack's own elements, in cdktf's order (not those of a nested stack). */
function elementsOf(node: IConstruct, into: TerraformElement[] = []): TerraformElement[] {
  if (TerraformElement.isTerraformElement(node)) into.push(node);
  for (const child of node.node.children) if (!TerraformStack.isStack(child)) elementsOf(child, into);
  return into;
}

/**
 * A `TerraformStack` whose synthesis gives the same Terraform JSON as cdktf's
 * (test/fast-resolve.test.ts compares the two on every shipped room) without scanning what holds
 * no token. `prepareStack` and `toTerraform` are cdktf 0.21's, step for step (cdktf is archived at
 * 0.21, and the peer range stays below 0.22); the HCL path (`toHclTerraform`) is cdktf's own.
 */
export class FastResolveStack extends TerraformStack {
  public prepareStack(): void {
    this.ensureBackendExists();
    // The preparing pass registers cross-stack references; every token still goes through cdktf.
    for (const e of elementsOf(this)) resolveTerraform(this, e.toTerraform(), true);
  }

  public toTerraform(): any {
    const internals = this as unknown as { rawOverrides: Record<string, unknown>; cdktfVersion: string };
    const rawOverrides = internals.rawOverrides;
    const metadata: Record<string, unknown> = {
      version: internals.cdktfVersion,
      stackName: this.node.id,
      backend: "local",
      cloud: undefined,
      ...(Object.keys(rawOverrides).length > 0 ? { overrides: { stack: Object.keys(rawOverrides) } } : {}),
    };
    const elements = elementsOf(this);
    for (const e of elements) deepMerge(metadata, resolveTerraform(this, e.toMetadata()) as Record<string, unknown>);
    const outputs: Record<string, unknown> = {};
    for (const e of elements) {
      if (!TerraformOutput.isTerraformOutput(e)) continue;
      const nested = e.node.path
        .split("/")
        .reduceRight<Record<string, unknown>>((inner, part) => (Object.keys(inner).length === 0 ? { [part]: e.friendlyUniqueId } : { [part]: inner }), {});
      deepMerge(outputs, nested);
    }
    const tf: Record<string, unknown> = { "//": { metadata, outputs } };
    for (const e of elements) deepMerge(tf, resolveTerraform(this, e.toTerraform()) as Record<string, unknown>);
    deepMerge(tf, rawOverrides);
    return resolveTerraform(this, tf);
  }
}
