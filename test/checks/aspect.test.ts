/**
 * The Aspect front end and suppressions: what reaches the user at synth (annotations,
 * a failing `fullSynth`), what is recorded in cdk.tf.json, and that the Aspect and the
 * JSON engine (`manatee check`) reach the same verdicts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AnnotationMetadataEntryType, Aspects, TerraformStack, TerraformVariable, Testing } from "cdktf";
import { Construct } from "constructs";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { KmsCryptoKeyIamMember } from "@cdktf/provider-google/lib/kms-crypto-key-iam-member";
import { StorageBucket } from "@cdktf/provider-google/lib/storage-bucket";
import { CleanRoomChecks } from "../../lib/checks/aspect";
import { checkContext } from "../../lib/checks/context";
import { checkTerraform } from "../../lib/checks/engine";
import { Rule } from "../../lib/checks/model";
import { CleanRoomSuppressions } from "../../lib/checks/suppressions";
import { check, errors, of } from "./harness";

const SAFE = { location: "us-central1", uniformBucketLevelAccess: true, publicAccessPrevention: "enforced" };

function newStack(id = "room") {
  const app = Testing.app();
  const stack = new TerraformStack(app, id);
  new GoogleProvider(stack, "google", { project: "acme-clean-room", region: "us-central1" });
  return { app, stack };
}

const annotations = (c: Construct, type: AnnotationMetadataEntryType) => c.node.metadata.filter((m) => m.type === type).map((m) => m.data as string);

describe("CleanRoomChecks as an Aspect", () => {
  test("given an unsafe bucket, then its construct carries the error and fullSynth throws naming rule and path", () => {
    const { stack } = newStack();
    const bucket = new StorageBucket(stack, "scratch", { name: "scratch", location: "us-central1" });
    CleanRoomChecks.applyTo(stack);
    Testing.synth(stack);
    expect(annotations(bucket, AnnotationMetadataEntryType.ERROR)).toEqual([
      expect.stringMatching(/^\[MCR-GCS4\] uniform_bucket_level_access is not set/),
      expect.stringMatching(/^\[MCR-GCS5\] public_access_prevention is not set/),
    ]);
    expect(() => Testing.fullSynth(stack)).toThrow(/\[room\/scratch\] \[MCR-GCS4\] uniform_bucket_level_access is not set/);
  });

  test("given two syntheses, then annotations are not duplicated", () => {
    const { stack } = newStack();
    const bucket = new StorageBucket(stack, "scratch", { name: "scratch", location: "us-central1" });
    CleanRoomChecks.applyTo(stack);
    Testing.synth(stack);
    Testing.synth(stack);
    expect(annotations(bucket, AnnotationMetadataEntryType.ERROR)).toHaveLength(2);
  });

  test("given a fix applied between syntheses, then the second run re-checks the new state", () => {
    const { stack } = newStack();
    const bucket = new StorageBucket(stack, "b", { name: "b", ...SAFE, publicAccessPrevention: "inherited" });
    const checks = CleanRoomChecks.applyTo(stack);
    Testing.synth(stack);
    expect(of(checks.findings(stack), "MCR-GCS5")).toHaveLength(1);
    bucket.publicAccessPrevention = "enforced";
    Testing.synth(stack);
    expect(of(checks.findings(stack), "MCR-GCS5")).toEqual([]);
  });

  test("given the checks added to the App, then cdktf 0.21 never runs them — applyTo(app) adds them to every stack", () => {
    // Pins the cdktf behaviour CleanRoomChecks.applyTo exists for: aspects on the App are not invoked.
    const { app, stack } = newStack();
    new StorageBucket(stack, "scratch", { name: "scratch", location: "us-central1" });
    const onApp = new CleanRoomChecks();
    Aspects.of(app).add(onApp);
    Testing.synth(stack);
    expect(onApp.findings(stack)).toEqual([]);

    const applied = CleanRoomChecks.applyTo(app);
    Testing.synth(stack);
    expect(errors(applied.findings(stack)).map((f) => f.ruleId)).toEqual(["MCR-GCS4", "MCR-GCS5"]);
  });

  test("given a stack created after applyTo(app), then app synthesis fails naming the unchecked stack", () => {
    const { app } = newStack("first");
    CleanRoomChecks.applyTo(app);
    new TerraformStack(app, "late");
    expect(() => app.synth()).toThrow(/Stack late was created after CleanRoomChecks.applyTo\(app\) and was not checked/);
  });

  test("given an app without stacks, then applyTo throws with the fix", () => {
    expect(() => CleanRoomChecks.applyTo(Testing.app())).toThrow("CleanRoomChecks.applyTo(app): the app has no stacks yet. Create the stacks first, then apply the checks.");
  });

  test("given a rule that throws, then a validation-failure error instead of a crash, and other rules still run", () => {
    const broken: Rule = { id: "MCR-TEST1", level: "error", title: "broken", resourceTypes: ["google_storage_bucket"], check: () => { throw new Error("boom"); } };
    const { findings } = check((s) => new StorageBucket(s, "b", { name: "b", location: "us-central1" }), {
      rules: [broken, ...new CleanRoomChecks().rules],
    });
    expect(of(findings, "MCR-VALIDATION")[0].message).toMatch(/^Rule MCR-TEST1 could not check this resource \(boom\), so it was NOT checked\./);
    expect(errors(findings).map((f) => f.ruleId)).toEqual(["MCR-VALIDATION", "MCR-GCS4", "MCR-GCS5"]);
  });

  test("given unresolved tokens everywhere, then the checks skip or warn and never crash", () => {
    const { findings } = check((s) => {
      const v = new TerraformVariable(s, "loc", { type: "string" });
      const b = new StorageBucket(s, "b", { name: v.stringValue, location: v.stringValue, uniformBucketLevelAccess: true, publicAccessPrevention: "enforced", labels: { component: "stage2" } });
      new KmsCryptoKeyIamMember(s, "m", { cryptoKeyId: v.stringValue, role: v.stringValue, member: v.stringValue });
      b.addOverride("lifecycle_rule", v.stringValue);
    }, { residency: ["us-central1"] });
    expect(of(findings, "MCR-VALIDATION")).toEqual([]);
    expect(of(findings, "MCR-LOC1", "info")[0].message).toBe('Skipped: location is the expression "${var.loc}".');
  });
});

describe("CleanRoomSuppressions", () => {
  test("given a reason shorter than 10 characters, then add throws naming the rule and the length", () => {
    const { stack } = newStack();
    const b = new StorageBucket(stack, "b", { name: "b", location: "us-central1" });
    expect(() => CleanRoomSuppressions.add(b, [{ id: "MCR-GCS2", reason: "legacy " }])).toThrow(
      "Suppression of MCR-GCS2 on room/b needs a reason of at least 10 characters (got 6): say why the finding does not apply here.",
    );
  });

  test("given an unknown rule id, then add throws listing the known ids", () => {
    const { stack } = newStack();
    const b = new StorageBucket(stack, "b", { name: "b", location: "us-central1" });
    expect(() => CleanRoomSuppressions.add(b, [{ id: "MCR-GCS9", reason: "a long enough reason" }])).toThrow(/^Cannot suppress unknown rule "MCR-GCS9" on room\/b: use one of MCR-KMS1, MCR-GCS1, .*, MCR-VALIDATION\.$/);
  });

  test("given a plain construct without applyToChildren, then add throws: it would match nothing", () => {
    const { stack } = newStack();
    const group = new Construct(stack, "group");
    expect(() => CleanRoomSuppressions.add(group, [{ id: "MCR-GCS2", reason: "a long enough reason" }])).toThrow(
      "room/group is not a Terraform resource, so a suppression on it alone matches no finding. Pass { applyToChildren: true } to suppress on the resources under it, or suppress on the resource itself.",
    );
  });

  test("given a good reason, then the finding is info, synthesis succeeds, and cdk.tf.json records the suppression", () => {
    const { stack } = newStack();
    const b = new StorageBucket(stack, "tfstate", { name: "tfstate", location: "us-central1", uniformBucketLevelAccess: true });
    const reason = "Terraform state bucket managed by the org's bootstrap; public access prevention is inherited from the org policy.";
    CleanRoomSuppressions.add(b, [{ id: "MCR-GCS5", reason }]);
    const checks = CleanRoomChecks.applyTo(stack);
    const out = Testing.fullSynth(stack);
    const [f] = checks.findings(stack).filter((x) => x.ruleId === "MCR-GCS5");
    expect(f).toMatchObject({ level: "info", suppressed: { level: "error", reason } });
    expect(annotations(b, AnnotationMetadataEntryType.INFO)).toEqual([expect.stringContaining(`[MCR-GCS5] suppressed (error): ${reason} — public_access_prevention`)]);
    const json = JSON.parse(readFileSync(join(out, "stacks", "room", "cdk.tf.json"), "utf8"));
    expect(json.resource.google_storage_bucket.tfstate["//"].manatee).toEqual({ suppressions: [{ id: "MCR-GCS5", reason }] });
  });

  test("given a suppression for one rule, then another rule on the same resource still fails", () => {
    const { findings } = check((s) => {
      const b = new StorageBucket(s, "b", { name: "b", location: "US" });
      CleanRoomSuppressions.add(b, [{ id: "MCR-GCS5", reason: "org policy enforces public access prevention" }]);
    }, { residency: ["us-central1"] });
    expect(errors(findings).map((f) => f.ruleId)).toEqual(["MCR-GCS4", "MCR-LOC1"]);
  });

  test("given a suppression by rule id and construct path, then that resource's finding is info and another resource's finding of the same rule still fails", () => {
    const { stack } = newStack();
    const group = new Construct(stack, "legacy");
    const reason = "legacy bucket, object ACLs migrated in PLAT-42";
    CleanRoomSuppressions.add(group, [{ id: "MCR-GCS4", reason, resource: "room/legacy/old" }], { applyToChildren: true });
    new StorageBucket(group, "old", { name: "old", location: "us-central1", publicAccessPrevention: "enforced" });
    new StorageBucket(group, "new", { name: "new", location: "us-central1", publicAccessPrevention: "enforced" });
    const checks = CleanRoomChecks.applyTo(stack);
    Testing.synth(stack);
    const json = stack.toTerraform();
    expect(checks.findings(stack).filter((f) => f.suppressed).map((f) => [f.ruleId, f.path, f.level, f.suppressed?.reason])).toEqual([
      ["MCR-GCS4", "room/legacy/old", "info", reason],
    ]);
    expect(errors(checks.findings(stack)).map((f) => [f.ruleId, f.path])).toEqual([["MCR-GCS4", "room/legacy/new"]]);
    const recorded = Object.values(json.resource.google_storage_bucket as Record<string, any>).map((b) => [b["//"].metadata.path, b["//"].manatee]);
    expect(recorded.sort()).toEqual([
      ["room/legacy/new", undefined],
      ["room/legacy/old", { suppressions: [{ id: "MCR-GCS4", reason, resource: "room/legacy/old" }] }],
    ]);
  });

  test("given a suppression whose resource is not under the construct, or is another resource, then add throws: it would match nothing", () => {
    const { stack } = newStack();
    const group = new Construct(stack, "legacy");
    const b = new StorageBucket(stack, "b", { name: "b", location: "us-central1" });
    const reason = "a long enough reason";
    expect(() => CleanRoomSuppressions.add(group, [{ id: "MCR-GCS4", reason, resource: "room/elsewhere/bucket" }], { applyToChildren: true })).toThrow(
      'Suppression of MCR-GCS4 on room/legacy names resource "room/elsewhere/bucket", which is not under room/legacy: it would match nothing.',
    );
    expect(() => CleanRoomSuppressions.add(b, [{ id: "MCR-GCS4", reason, resource: "google_storage_bucket.other" }])).toThrow(
      'Suppression of MCR-GCS4 on room/b names resource "google_storage_bucket.other", but the suppression is on room/b alone (google_storage_bucket.b): it would match nothing.',
    );
    expect(() => CleanRoomSuppressions.add(b, [{ id: "MCR-GCS4", reason, resource: "google_storage_bucket.b" }])).not.toThrow();
  });

  test("given applyToChildren on a group, then resources added later are suppressed and recorded too", () => {
    const { stack } = newStack();
    const group = new Construct(stack, "legacy");
    CleanRoomSuppressions.add(group, [{ id: "MCR-GCS4", reason: "legacy buckets, migration tracked in PLAT-42" }], { applyToChildren: true });
    new StorageBucket(group, "old", { name: "old", location: "us-central1", publicAccessPrevention: "enforced" });
    new StorageBucket(group, "older", { name: "older", location: "us-central1", publicAccessPrevention: "enforced" });
    const checks = CleanRoomChecks.applyTo(stack);
    Testing.synth(stack);
    expect(checks.findings(stack).filter((f) => f.ruleId === "MCR-GCS4").map((f) => f.level)).toEqual(["info", "info"]);
    const dir = Testing.fullSynth(stack);
    const full = JSON.parse(readFileSync(join(dir, "stacks", "room", "cdk.tf.json"), "utf8"));
    const [old] = Object.values(full.resource.google_storage_bucket) as any[];
    expect(old["//"].manatee.suppressions[0].id).toBe("MCR-GCS4");
  });
});

describe("one rule pack, two front ends", () => {
  test("given the JSON the Aspect checked, then the JSON engine (manatee check) reaches the same findings", () => {
    const { stack } = newStack();
    new StorageBucket(stack, "scratch", { name: "scratch", location: "US" });
    const ok = new StorageBucket(stack, "legacy", { name: "legacy", location: "us-central1" });
    CleanRoomSuppressions.add(ok, [
      { id: "MCR-GCS4", reason: "reviewed: legacy bucket, no room data" },
      { id: "MCR-GCS5", reason: "reviewed: legacy bucket, no room data" },
    ]);
    const checks = CleanRoomChecks.applyTo(stack, { residency: ["us-central1"] });
    Testing.synth(stack);
    const fromAspect = checks.findings(stack).map(({ path: _p, ...f }) => f);
    const fromJson = checkTerraform(stack.toTerraform(), checkContext({ residency: ["us-central1"] })).map(({ path: _p, ...f }) => f);
    expect(fromJson).toEqual(fromAspect);
    expect(fromJson.filter((f) => f.level === "error").length).toBe(3);
    expect(fromJson.filter((f) => f.suppressed).length).toBe(2);
  });
});
