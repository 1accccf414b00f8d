/**
 * Two CleanRooms in one stack (issue 14): each keeps its own outputs, and the guardrails judge
 * each room's grants by that room's policy, not by the policy the checks were given.
 */
import { TerraformStack, Testing } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { KmsCryptoKeyIamMember } from "@cdktf/provider-google/lib/kms-crypto-key-iam-member";
import { CleanRoom } from "../lib/constructs/clean-room";
import { CleanRoomChecks } from "../lib/checks";
import { principalSetForDigest } from "../lib/policy/members";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B, examplePolicy } from "./util";

const A = examplePolicy({ name: "room-a", project: "acme-a" });
const B = examplePolicy({
  name: "room-b",
  project: "acme-b",
  approvals: [{ imageDigest: EXAMPLE_DIGEST_B, datasets: ["insurance", "claims"], purpose: "B's study", approvedBy: "owner@example.org" }],
});

function twoRooms(tamper?: (b: CleanRoom) => void) {
  const app = Testing.app();
  const stack = new TerraformStack(app, "two");
  const rooms = [A, B].map((policy) => {
    const provider = new GoogleProvider(stack, `google-${policy.name}`, { alias: policy.name, project: policy.project, region: policy.region });
    return new CleanRoom(stack, policy.name, { policy, provider, verifier: { sourceDir: "test/fixtures/verifier-build" } });
  });
  tamper?.(rooms[1]);
  CleanRoomChecks.applyTo(app, { policy: A, now: new Date("2026-12-01T00:00:00Z") });
  const json = JSON.parse(Testing.synth(stack, true));
  const errors = stack.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === "@cdktf/error").map((m) => `${c.node.path}: ${m.data}`));
  return { json, errors };
}

describe("two CleanRooms in one stack", () => {
  test("given two rooms, when synthesized, then each has its own outputs, prefixed by its name, and no guardrail error", () => {
    const { json, errors } = twoRooms();
    expect(errors).toEqual([]);
    const outputs = Object.keys(json.output);
    expect(outputs).toContain("room_a_cluster_name");
    expect(outputs).toContain("room_b_cluster_name");
    expect(outputs.filter((o) => !o.startsWith("room_a_") && !o.startsWith("room_b_"))).toEqual([]);
    expect(json.output.room_a_dataset_insurance_stage2_bucket.value).not.toEqual(json.output.room_b_dataset_insurance_stage2_bucket.value);
  });

  test("given room B's key granted to an image only room A approved, when checked with A's policy, then B's policy flags it", () => {
    const { errors } = twoRooms((b) => {
      const key = b.dataPlane.datasets.insurance.key;
      new KmsCryptoKeyIamMember(b, "smuggled", {
        cryptoKeyId: key.cryptoKeyId,
        role: "roles/cloudkms.cryptoKeyDecrypter",
        member: principalSetForDigest(b.dataPlane.pool.poolRef, EXAMPLE_DIGEST_A),
      });
    });
    expect(errors.filter((e) => e.includes("MCR-KMS1"))).toEqual([expect.stringContaining("room-b/smuggled")]);
  });
});
