/**
 * A provisioning image's release lands in its dataset's stage-1 bucket (issue 16), decided by the
 * real verifier from the compiled policy of stacks/provisioning.cleanroom.yaml, on real signed
 * tokens (RSA, local JWKS); the object store records every create; receipts are checked offline
 * with `manatee verify-receipt`'s verifyReceipt against the verifier's JWKS.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROVISIONED_OBJECT_PREFIX, compileVerifierPolicy, VerifierPolicyDocument } from "../../lib/policy/document";
import { PROVISIONED_PREFIX } from "../src/destination";
import { loadPolicyFile } from "../../lib/policy/load";
import { dataPlaneNames } from "../../lib/policy/names";
import { verifyReceipt } from "../../lib/cli/verify-receipt";
import { ObjectStore, localObjectStore } from "../src/object-store";
import { PolicyError, preparePolicy } from "../src/policy";
import { releaseManifest } from "../src/release";
import { generatedSigner } from "../src/signers";
import { Verifier, createVerifier } from "../src/verifier";
import { NOW_MS, RsaKey, jwksServer, rsaKey, signToken } from "./helpers";
import { jobClaims } from "./release-fixtures";

const CONFIG = join(__dirname, "..", "..", "stacks", "provisioning.cleanroom.yaml");
const AUDIT = "stage1-study-verifier-audit";
const policy = loadPolicyFile(CONFIG);
const compiled = compileVerifierPolicy(policy);
const provisioningDigest = policy.datasets.find((d) => d.name === "insurance")!.provisioning!.imageDigest;
const researchDigest = policy.approvals.find((a) => a.purpose !== "stage1-provisioning")!.imageDigest;
const stage1Bucket = dataPlaneNames(policy).datasetBucket("insurance", "stage1");
const releaseBucket = compiled.document.release!.releaseBucket;
const quarantineBucket = compiled.document.release!.quarantineBucket;

const sha256 = (b: string | Uint8Array) => createHash("sha256").update(b).digest("hex");
type Body = { decision?: string; receipt?: string; reasons?: { code: string }[]; objects?: { name: string; bucket: string; object: string }[]; error?: { code: string } };

/** Confidential Space's token key, served by a local JWKS. */
let cs: RsaKey;
let jwks: Awaited<ReturnType<typeof jwksServer>>;
beforeAll(async () => void (jwks = await jwksServer([(cs = await rsaKey("cs-key-1")).jwk])));
afterAll(() => jwks.close());

/** A verifier on `doc` over a local store that records every create as `bucket/object`. */
function room(doc: VerifierPolicyDocument = compiled.document) {
  const dir = mkdtempSync(join(tmpdir(), "verifier-provisioning-"));
  const inner = localObjectStore(dir);
  const created: string[] = [];
  const store: ObjectStore = {
    read: (b, n) => inner.read(b, n),
    createIfAbsent: async (b, n, bytes, ct) => {
      const won = await inner.createIfAbsent(b, n, bytes, ct);
      if (won) created.push(`${b}/${n}`);
      return won;
    },
    write: (b, n, bytes, ct) => inner.write(b, n, bytes, ct),
  };
  const verifier = createVerifier({ policy: doc, signer: generatedSigner(), jwks: { url: jwks.url }, clock: () => NOW_MS, log: () => true, objectStore: store, replayStore: { store, bucket: AUDIT } });
  /** The job's results in quarantine, then a token of the job's VM running `digest` over their manifest. */
  const token = async (job: string, digest: string, files: Record<string, string>) => {
    const objects = Object.entries(files).map(([name, content]) => {
      mkdirSync(join(dir, quarantineBucket, job), { recursive: true });
      writeFileSync(join(dir, quarantineBucket, job, name), content);
      return { name, sha256: sha256(content) };
    });
    const claims = jobClaims(doc, { job, digest, nonce: sha256(releaseManifest(job, objects)), signatures: [], instanceName: `${doc.release!.instancePrefix}-${job}` });
    return { token: await signToken(claims, cs), objects };
  };
  const release = async (v: Verifier, body: unknown) => {
    const res = await v.handler({ method: "POST", path: "/v1/release", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: res.status, body: JSON.parse(res.body) as Body };
  };
  return { dir, created, verifier, token, release: (body: unknown) => release(verifier, body) };
}

const JOB_1 = "11111111-2222-4333-8444-555555555555";
const JOB_2 = "22222222-3333-4444-8555-666666666666";

describe("given the compiled policy of the provisioning room", () => {
  it("when compiled, then the release settings name the insurance stage-1 bucket as its provisioning image's destination", () => {
    expect(compiled.document.release!.provisioning).toEqual([{ dataset: "insurance", imageDigest: provisioningDigest, stage1Bucket }]);
    expect(stage1Bucket).not.toBe(releaseBucket);
    // The data plane's grant is conditioned on the prefix the verifier writes under.
    expect(PROVISIONED_PREFIX).toBe(PROVISIONED_OBJECT_PREFIX);
  });

  it("when the provisioning image releases its output, then it lands create-only in the stage-1 bucket under provisioned/<job>/, with a receipt naming it that verifies offline, and the budget is charged", async () => {
    const r = room();
    const { token, objects } = await r.token(JOB_1, provisioningDigest, { "synthetic.csv": "age,region\n41,north\n" });
    const res = await r.release({ token, job: JOB_1, datasets: ["insurance"], objects });

    expect(res.body.decision).toBe("released");
    expect(r.created.filter((c) => !c.startsWith(`${AUDIT}/`) && !c.startsWith(`${releaseBucket}/releases/`))).toEqual([
      `${stage1Bucket}/provisioned/${JOB_1}/synthetic.csv`,
      `${stage1Bucket}/provisioned/${JOB_1}/receipt.jws`,
    ]);
    expect(readFileSync(join(r.dir, stage1Bucket, "provisioned", JOB_1, "synthetic.csv"), "utf8")).toBe("age,region\n41,north\n");
    expect(res.body.objects).toEqual([{ name: "synthetic.csv", sha256: objects[0].sha256, bucket: stage1Bucket, object: `provisioned/${JOB_1}/synthetic.csv` }]);

    const claims = await verifyReceipt(res.body.receipt!, { jwks: r.verifier.receiptJwks as never, policySha256: compiled.sha256 });
    expect(claims).toMatchObject({
      release: true,
      job: JOB_1,
      image_digest: provisioningDigest,
      release_bucket: stage1Bucket,
      stage1_dataset: "insurance",
      objects: [{ name: "synthetic.csv", sha256: objects[0].sha256, bucket: stage1Bucket, object: `provisioned/${JOB_1}/synthetic.csv` }],
      approvals: [{ dataset: "insurance", source: "standing", purpose: "stage1-provisioning" }],
      // stage1.epsilon 1 of the budget of 4.
      budget: [{ dataset: "insurance", seq: 0, epsilon: 1, remaining_epsilon: 3 }],
    });
  });

  it("when the same job is released again, with the same token or a new one, then it is refused and the stage-1 object is never replaced", async () => {
    const r = room();
    const first = await r.token(JOB_1, provisioningDigest, { "synthetic.csv": "v1" });
    expect((await r.release({ token: first.token, job: JOB_1, datasets: ["insurance"], objects: first.objects })).body.decision).toBe("released");

    const replay = await r.release({ token: first.token, job: JOB_1, datasets: ["insurance"], objects: first.objects });
    expect(replay.body.decision).toBe("deny");
    expect(replay.body.reasons!.map((x) => x.code)).toEqual(["release_replayed"]);

    writeFileSync(join(r.dir, quarantineBucket, JOB_1, "synthetic.csv"), "v2");
    const second = await r.token(JOB_1, provisioningDigest, { "synthetic.csv": "v2" });
    const again = await r.release({ token: second.token, job: JOB_1, datasets: ["insurance"], objects: second.objects });
    expect(again.status).toBe(409);
    expect(again.body.error!.code).toBe("release_incomplete");
    expect(readFileSync(join(r.dir, stage1Bucket, "provisioned", JOB_1, "synthetic.csv"), "utf8")).toBe("v1");
  });

  it("when the research image releases its results, then they land in the release bucket as before, nothing in stage 1, and its spend is charged", async () => {
    const r = room();
    const { token, objects } = await r.token(JOB_2, researchDigest, { "counts.csv": "region,n\nnorth,12\n" });
    const res = await r.release({ token, job: JOB_2, datasets: ["insurance"], objects });

    expect(res.body.decision).toBe("released");
    expect(r.created).toContain(`${releaseBucket}/${JOB_2}/counts.csv`);
    expect(r.created).toContain(`${releaseBucket}/${JOB_2}/receipt.jws`);
    expect(r.created.filter((c) => c.startsWith(`${stage1Bucket}/`))).toEqual([]);
    const claims = await verifyReceipt(res.body.receipt!, { jwks: r.verifier.receiptJwks as never, policySha256: compiled.sha256 });
    expect(claims.release_bucket).toBe(releaseBucket);
    expect(claims.stage1_dataset).toBeUndefined();
    expect(claims.budget).toEqual([{ dataset: "insurance", seq: 0, epsilon: 0.5, remaining_epsilon: 3.5 }]);
  });
});

describe("given a room where the provisioning image is also approved for a second dataset", () => {
  // Tampered document: a second dataset whose owner approved the provisioning digest for research.
  const doc: VerifierPolicyDocument = {
    ...compiled.document,
    datasets: [...compiled.document.datasets, "claims"],
    approvals: [...compiled.document.approvals, { imageDigest: provisioningDigest, datasets: ["claims"], purpose: "research", approvedBy: "owner@example.org" }],
  };

  it.each([
    ["the other dataset alone", ["claims"]],
    ["both datasets", ["insurance", "claims"]],
  ])("when its release names %s, then it is denied provisioning_scope and nothing is written outside the ledger", async (_name, datasets) => {
    const r = room(doc);
    const { token, objects } = await r.token(JOB_1, provisioningDigest, { "synthetic.csv": "x" });
    const res = await r.release({ token, job: JOB_1, datasets, objects });
    expect(res.body.decision).toBe("deny");
    expect(res.body.reasons!.map((x) => x.code)).toEqual(["provisioning_scope"]);
    expect(r.created).toEqual([]);
  });
});

describe("given a policy document's release.provisioning", () => {
  const release = compiled.document.release!;
  it.each([
    ["an unknown dataset", [{ dataset: "genomes", imageDigest: provisioningDigest, stage1Bucket }], "release.provisioning[0].dataset"],
    ["the release bucket as stage-1 bucket", [{ dataset: "insurance", imageDigest: provisioningDigest, stage1Bucket: releaseBucket }], "release.provisioning[0].stage1Bucket"],
    ["a bad digest", [{ dataset: "insurance", imageDigest: "sha256:x", stage1Bucket }], "release.provisioning[0].imageDigest"],
    ["an unknown field", [{ dataset: "insurance", imageDigest: provisioningDigest, stage1Bucket, prefix: "/" }], "release.provisioning[0].prefix"],
    ["an empty list", [], "release.provisioning"],
  ])("when it has %s, then the verifier refuses to start", (_name, provisioning, field) => {
    const doc = { ...compiled.document, release: { ...release, provisioning } };
    expect(() => preparePolicy(doc)).toThrow(PolicyError);
    expect(() => preparePolicy(doc)).toThrow(field);
  });
});
