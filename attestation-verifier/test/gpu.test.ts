/**
 * Confidential GPUs on real signed tokens: the GPU room (stacks/gpu.cleanroom.yaml) compiled by
 * lib/policy, its condition evaluated by the verifier's CEL engine, plus the verifier's own
 * per-approval GPU check (docs/gpu.md).
 */
import { compileAttributeCondition } from "../../lib/policy/condition";
import { compileVerifierPolicy } from "../../lib/policy/document";
import { generatedSigner } from "../src/signers";
import { createVerifier, Verifier } from "../src/verifier";
import { VerifierPolicyDocument } from "../src/policy";
import { digestsOf, gpuRoom } from "../../test/gpu/fixtures";
import { NOW_MS, RsaKey, jwksServer, rsaKey, signToken, tokenClaims } from "./helpers";

const policy = gpuRoom();
const doc = compileVerifierPolicy(policy).document;
const { required, cpuOnly } = digestsOf(policy);
const NONCE = "a3f1c0de9b7e4d2a8c6f5e4d3c2b1a09";
let issued = 0;
let key: RsaKey;
let jwks: Awaited<ReturnType<typeof jwksServer>>;

/** A signed token of `digest`: on a GPU in `ccMode`, or on a CPU. */
async function token(digest: string, ccMode?: string): Promise<string> {
  const claims = tokenClaims(doc, NOW_MS, { eat_nonce: [NONCE, `token-${++issued}`] }) as Record<string, any>;
  claims.submods.container.image_digest = digest;
  if (ccMode !== undefined) {
    claims.submods.nvidia_gpu = { cc_feature: "SPT", cc_mode: ccMode, gpus: [{ hwmodel: "GCP_NVIDIA_H100" }] };
  }
  return signToken(claims, key);
}

function verifierFor(document: VerifierPolicyDocument): Verifier {
  return createVerifier({ policy: document, signer: generatedSigner(), jwks: { url: jwks.url }, clock: () => NOW_MS, log: () => undefined });
}

async function decide(v: Verifier, t: string) {
  const res = await v.handler({ method: "POST", path: "/v1/verify", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: t, dataset: "scans", nonce: NONCE }) });
  const body = JSON.parse(res.body) as { decision: string; reasons: { code: string }[] };
  return { decision: body.decision, codes: body.reasons.map((r) => r.code) };
}

beforeAll(async () => {
  key = await rsaKey("cs-key-1");
  jwks = await jwksServer([key.jwk]);
});
afterAll(() => jwks.close());

describe("given the GPU room's verifier document", () => {
  test("then the GPU approval carries its mode and the CPU approval carries none", () => {
    expect(doc.approvals.map((a) => a.gpu)).toEqual(["required", undefined]);
  });

  test("when the GPU-required image presents an H100 in CC mode, then it is allowed", async () => {
    expect(await decide(verifierFor(doc), await token(required, "ON"))).toEqual({ decision: "allow", codes: [] });
  });

  test.each([
    ["CC mode OFF", required, "OFF"],
    ["no GPU claims", required, undefined],
    ["GPU claims on the CPU-only image", cpuOnly, "ON"],
  ])("when the token shows %s, then it is denied by the condition and the GPU check", async (_, digest, cc) => {
    const r = await decide(verifierFor(doc), await token(digest, cc));
    expect(r.decision).toBe("deny");
    expect(r.codes).toEqual(expect.arrayContaining(["attribute_condition_false", "gpu_mismatch"]));
  });

  test("when the condition is hand-edited to forget GPUs, then the verifier's GPU check still denies CC off", async () => {
    const withoutGpu = compileAttributeCondition({ ...policy, tee: { ...policy.tee, gpu: undefined }, approvals: policy.approvals.map(({ gpu: _gpu, ...a }) => a) });
    const edited = verifierFor({ ...doc, attributeCondition: withoutGpu });
    const r = await decide(edited, await token(required, "OFF"));
    expect(r).toEqual({ decision: "deny", codes: expect.arrayContaining(["gpu_mismatch"]) });
    // The control: a CPU token of the CPU-only image passes that edited condition.
    expect(await decide(edited, await token(cpuOnly))).toEqual({ decision: "allow", codes: [] });
  });
});
