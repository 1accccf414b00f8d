/**
 * The synth's own resolution (lib/internal/fast-resolve.ts, lib/internal/literal-text.ts and the
 * authoritative policy's rendering) must give exactly what cdktf's gives: the same Terraform JSON
 * for every shipped room and a generated mid-size one, and the same value for every kind of
 * token cdktf knows, down to escapes, number tokens and list tokens.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { App, DefaultTokenResolver, Fn, Lazy, StringConcat, TerraformStack, Testing, Token, Tokenization } from "cdktf";
import { StorageBucket } from "@cdktf/provider-google/lib/storage-bucket";
import { StorageBucketObject } from "@cdktf/provider-google/lib/storage-bucket-object";
import { FastResolveStack } from "../lib";
import { isPlainText, resolveTerraform } from "../lib/internal/fast-resolve";
import { terraformText } from "../lib/internal/literal-text";
import { loadPolicyFile, parsePolicy } from "../lib/policy/load";
import { createCleanRoomStacks } from "../stacks";
import { stacksOptionsFromPolicy } from "../stacks/config";
import { CleanRoomPolicy } from "../lib/policy/model";
import { withoutTokenCreationTraces } from "../bin/main";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { largeConfigYaml } = require("../scripts/gen-large-config");

const STACKS = join(__dirname, "..", "stacks");
const RESOLVER = new DefaultTokenResolver(new StringConcat());

/** Every stack's Terraform JSON, prepared and rendered by `mode`'s methods. */
function rendered(policy: CleanRoomPolicy, configFile: string, mode: "ours" | "cdktf"): Record<string, unknown> {
  return withoutTokenCreationTraces(() => {
    const app = Testing.app();
    createCleanRoomStacks(app, policy, stacksOptionsFromPolicy(policy, configFile));
    const stacks = app.node.children.filter(TerraformStack.isStack);
    for (const s of stacks) {
      expect(s).toBeInstanceOf(FastResolveStack);
      if (mode === "ours") s.prepareStack();
      else TerraformStack.prototype.prepareStack.call(s);
    }
    return Object.fromEntries(
      stacks.map((s) => [s.node.id, JSON.parse(JSON.stringify(mode === "ours" ? s.toTerraform() : TerraformStack.prototype.toTerraform.call(s)))]),
    );
  });
}

describe("FastResolveStack", () => {
  const shipped = readdirSync(STACKS).filter((f) => f.endsWith(".cleanroom.yaml"));

  test.each(shipped)("given %s, when its stacks are synthesized by our resolution and by cdktf's, then the JSON is identical", (name) => {
    const file = join(STACKS, name);
    const policy = loadPolicyFile(file);
    expect(rendered(policy, file, "ours")).toEqual(rendered(policy, file, "cdktf"));
  });

  test("given a generated room of 20 datasets and 100 approvals, when synthesized both ways, then the JSON is identical", () => {
    const policy = parsePolicy(largeConfigYaml({ datasets: 20, approvals: 100 }), "generated.cleanroom.yaml");
    const ours = rendered(policy, "generated.cleanroom.yaml", "ours");
    expect(JSON.stringify(ours).length).toBeGreaterThan(100_000);
    expect(ours).toEqual(rendered(policy, "generated.cleanroom.yaml", "cdktf"));
  });
});

describe("resolveTerraform", () => {
  const stack = () => new TerraformStack(Testing.app(), "s");
  const cdktf = (scope: TerraformStack, v: unknown) => Tokenization.resolve(v, { scope, resolver: RESOLVER, preparing: false });

  test("given values with every kind of token, when resolved, then the result equals cdktf's", () => {
    const s = stack();
    const bucket = new StorageBucket(s, "b", { name: "b", location: "EU" });
    const value = {
      plain: "text ${var.x} and } and $${escaped} %{if}",
      digest: "sha256:1e5f00e3a9",
      reference: bucket.name,
      inText: `gs://${bucket.name}/path`,
      numberToken: `${Token.asNumber(bucket.name)}`,
      number: 42,
      list: [bucket.name, "plain", undefined],
      listToken: Token.asList(bucket.name),
      numberList: Token.asNumberList(bucket.name),
      map: bucket.labels,
      fn: Fn.join(",", [bucket.name, "x"]),
      lazy: Lazy.anyValue({ produce: () => ({ a: bucket.name, b: undefined }) }),
      nested: { a: [{ b: undefined, c: "d" }], e: undefined, f: null, g: false, h: new Date(0) },
    };
    expect(resolveTerraform(s, value)).toEqual(cdktf(s, value));
  });

  test("given Terraform expressions with no token in them, then they are plain (cdktf returns them unchanged)", () => {
    const s = stack();
    for (const text of ["${a.b}", "$${a}", "${a}}", "{${x}", "%{if}", "}}", "${", "${ ${a} }", "x ${a.b} y ${c}", "${jsonencode({a=1})}", "sha256:00e1ab"]) {
      expect(isPlainText(text)).toBe(true);
      expect(cdktf(s, text)).toBe(text);
    }
    expect(isPlainText(String(Token.asString(Lazy.stringValue({ produce: () => "x" }))))).toBe(false);
    expect(isPlainText(`${Token.asNumber(Lazy.numberValue({ produce: () => 1 }))}`)).toBe(false);
  });
});

describe("terraformText", () => {
  test("given a document with references, number tokens, template syntax and hex digests, when synthesized, then it is cdktf's text with template syntax escaped", () => {
    const app = new App({ outdir: Testing.app().outdir });
    const s = new TerraformStack(app, "s");
    const bucket = new StorageBucket(s, "b", { name: "b", location: "EU" });
    const count = Token.asNumber(Lazy.numberValue({ produce: () => 7 }));
    const doc = JSON.stringify({ bucket: bucket.name, count: `${count}`, template: "${not.a.reference} %{if x}", digest: "sha256:1e5f3e2e9" });
    new StorageBucketObject(s, "o", { bucket: bucket.name, name: "doc.json", content: terraformText(doc) });
    const json = JSON.parse(Testing.synth(s));
    expect(JSON.parse(json.resource.google_storage_bucket_object.o.content.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{"))).toEqual({
      bucket: "${google_storage_bucket.b.name}",
      count: "7",
      template: "${not.a.reference} %{if x}",
      digest: "sha256:1e5f3e2e9",
    });
    expect(json.resource.google_storage_bucket_object.o.content).toContain('"$${not.a.reference} %%{if x}"');
  });
});
