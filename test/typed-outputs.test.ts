/**
 * The typed `outputs` members of CleanRoom, CleanRoomWorkloads and PartyDataPlane: a stack composing
 * them reads the same Terraform expressions the `terraform output` names hold, optional members exist
 * exactly when their feature does, and every declared Terraform output is a member (an output declared
 * any other way fails here).
 */
import * as path from "node:path";
import { DefaultTokenResolver, StringConcat, TerraformOutput, TerraformStack, Testing, Tokenization } from "cdktf";
import { CleanRoom, CleanRoomProps } from "../lib/constructs/clean-room";
import { CleanRoomPolicy } from "../lib/policy/model";
import { loadPolicyFile } from "../lib/policy/load";
import { createCleanRoomStacks } from "../stacks";
import { stacksOptionsFromPolicy } from "../stacks/config";
import { SynthJson, examplePolicy, synthStack, synthWith } from "./util";

const VERIFIER_BUILD = path.join(__dirname, "fixtures", "verifier-build");
const JOB_SERVICE_BUILD = path.join(__dirname, "fixtures", "job-service-build");

/** A user's stack with a CleanRoom in it; `extend` adds the user's own resources. */
function userStack(props: Partial<CleanRoomProps> = {}, policy: CleanRoomPolicy = examplePolicy(), extend?: (stack: TerraformStack, room: CleanRoom) => void) {
  let room!: CleanRoom;
  let stack!: TerraformStack;
  const json = synthWith((s) => {
    stack = s;
    room = new CleanRoom(s, "room", { policy, verifier: { sourceDir: VERIFIER_BUILD }, ...props });
    extend?.(s, room);
  });
  return { json, room, stack };
}

/** A value as the stack's JSON holds it (references as `${…}` expressions). */
const resolve = (stack: TerraformStack, v: unknown) =>
  Tokenization.resolve(v, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });

/** Every leaf value of a typed outputs object (datasets flattened), as the stack resolves it. */
function resolvedLeaves(stack: TerraformStack, outputs: object): string[] {
  const leaves: unknown[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === "string" || Array.isArray(v)) leaves.push(v);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(outputs);
  return leaves.map((v) => JSON.stringify(resolve(stack, v))).sort();
}

/** The values of the stack's Terraform outputs, leaving out cdktf's own cross-stack outputs. */
function declaredValues(json: SynthJson, except: string[] = []): string[] {
  return Object.entries(json.output ?? {})
    .filter(([id]) => !id.startsWith("cross-stack-output-") && !except.includes(id))
    .map(([, o]) => JSON.stringify(o.value))
    .sort();
}

describe("CleanRoom.outputs", () => {
  test("given a user stack composing a CleanRoom, when it outputs room.outputs.datasets.insurance.stage2Bucket, then it holds the expression of dataset_insurance_stage2_bucket", () => {
    const { json, room } = userStack({}, examplePolicy(), (stack, r) => {
      new TerraformOutput(stack, "my_stage2", { value: r.outputs.datasets.insurance.stage2Bucket });
      new TerraformOutput(stack, "my_key", { value: r.outputs.datasets.insurance.key });
    });
    const out = json.output!;
    expect(out.my_stage2.value).toBe("acme-clean-room-insurance-study-insurance-s2");
    expect(out.my_stage2.value).toBe(out.dataset_insurance_stage2_bucket.value);
    expect(out.my_stage2.value).not.toBe(out.dataset_claims_stage2_bucket.value);
    // A reference stays a reference: the user's output waits for the key like the room's does.
    expect(out.my_key.value).toMatch(/^\$\{google_kms_crypto_key\.[^.]+\.id\}$/);
    expect(out.my_key.value).toBe(out.dataset_insurance_key.value);
    expect(Object.keys(room.outputs.datasets).sort()).toEqual(["claims", "insurance"]);
  });

  test("given the example room, then every declared Terraform output is a member and every member an output", () => {
    const { json, room, stack } = userStack();
    expect(declaredValues(json)).toHaveLength(Object.keys(json.output!).length);
    expect(declaredValues(json)).toEqual(resolvedLeaves(stack, room.outputs));
  });

  test("given a stack that declares one more output under the room, then the outputs and the members disagree", () => {
    // What the check above catches: an output added beside the table, without a member.
    const { json, room, stack } = userStack({}, examplePolicy(), (_s, r) => {
      new TerraformOutput(r, "stray_bucket", { value: r.dataPlane.datasets.insurance.stage1Bucket.bucket.id, staticId: true });
    });
    expect(declaredValues(json)).not.toEqual(resolvedLeaves(stack, room.outputs));
    expect(declaredValues(json, ["stray_bucket"])).toEqual(resolvedLeaves(stack, room.outputs));
  });

  test("given the verifier and the output release, then their members are present; without them, absent, and so are their outputs", () => {
    const on = userStack();
    expect(on.room.outputs).toEqual(expect.objectContaining({ verifierUrl: expect.any(String), receiptsJwksUrl: expect.any(String) }));
    expect(on.room.outputs).toEqual(expect.objectContaining({ quarantineBucket: expect.any(String), releaseBucket: expect.any(String) }));
    expect(on.json.output).toEqual(expect.objectContaining({ verifier_url: expect.anything(), quarantine_bucket: expect.anything() }));

    const off = userStack({ verifier: false }, { ...examplePolicy(), jobs: undefined });
    for (const member of ["verifierUrl", "receiptsJwksUrl", "quarantineBucket", "releaseBucket"]) expect(Object.keys(off.room.outputs)).not.toContain(member);
    for (const output of ["verifier_url", "receipts_jwks_url", "quarantine_bucket", "release_bucket"]) expect(Object.keys(off.json.output!)).not.toContain(output);
    expect(declaredValues(off.json)).toEqual(resolvedLeaves(off.stack, off.room.outputs));
  });

  test("given a dataset with an approver key and one in impersonation mode, then jobProvider and readers exist exactly where the feature does", () => {
    const { room, json } = userStack();
    const { insurance, claims } = room.outputs.datasets;
    expect(Object.keys(insurance)).toContain("jobProvider");
    expect(Object.keys(insurance)).not.toContain("readers");
    expect(Object.keys(claims)).not.toContain("jobProvider");
    expect(claims.readers).toHaveLength(1);
    expect(Object.keys(json.output!)).toEqual(expect.arrayContaining(["dataset_insurance_job_provider", "dataset_claims_readers"]));
    expect(Object.keys(json.output!)).not.toEqual(expect.arrayContaining(["dataset_claims_job_provider"]));
  });

  test("given outputs: false, then the members are still set and no Terraform output is declared", () => {
    const { room, json } = userStack({ outputs: false });
    expect(json.output).toBeUndefined();
    expect(room.outputs.hubBucket).toEqual(expect.any(String));
  });
});

describe("CleanRoomWorkloads.outputs and PartyDataPlane.outputs", () => {
  test("given the example room's stacks, then every workloads output is a member and every member an output", () => {
    const policy = examplePolicy();
    const options = stacksOptionsFromPolicy(policy);
    const stacks = createCleanRoomStacks(Testing.app(), policy, {
      ...options,
      platform: { ...options.platform, verifier: { sourceDir: VERIFIER_BUILD } },
      workloads: { ...options.workloads, imageSources: { jobService: JOB_SERVICE_BUILD } },
      checks: false,
    });
    const json = synthStack(stacks.workloads);
    const workloads = stacks.workloads.workloads;
    expect(declaredValues(json)).toEqual(resolvedLeaves(stacks.workloads, workloads.outputs));
    expect(json.output!.executor_base_digest.value).toBe(resolve(stacks.workloads, workloads.outputs.executorBaseDigest));
  });

  test("given the shipped consortium, then each party stack's outputs are its data plane's members", () => {
    const policy = loadPolicyFile("stacks/consortium.cleanroom.yaml");
    const stacks = createCleanRoomStacks(Testing.app(), policy, { ...stacksOptionsFromPolicy(policy), checks: false });
    expect(Object.keys(stacks.parties).length).toBeGreaterThan(1);
    for (const stack of Object.values(stacks.parties)) {
      const json = synthStack(stack);
      const party = stack.dataPlane;
      expect(declaredValues(json)).toEqual(resolvedLeaves(stack, party.outputs));
      expect(Object.keys(party.outputs.datasets).sort()).toEqual(policy.datasets.filter((d) => d.party === party.party.name).map((d) => d.name).sort());
    }
  });
});
