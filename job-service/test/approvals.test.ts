import { createServer, type Server } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseJobServiceConfig, type JobServiceConfig } from "../src/config";
import type { JobRecord } from "../src/ports";
import { createLayer, jsonBytes, MediaType, readImageConfig, readImageManifest, sha256Hex, type Registry } from "../src/oci";
import { LocalRegistry } from "../src/local-registry";
import { RemoteRegistry, serveRegistry } from "../src/registry-http";
import { createLocalExecutorBase } from "../src/executor-base";
import { LocalBuilder } from "../src/local-builder";
import { launcherSignatures, pushSignature, rejectionPayload, rejectionTag, signatureTag, simpleSigningPayload } from "../src/cosign";
import { localApproverSigner } from "../src/signers";
import { SignatureApprovalSource } from "../src/signature-approvals";
import { approveJob, rejectJob, OwnerActionError } from "../src/owner-actions";

const EXECUTOR = "p/room-images/executor";
const JOBS = "p/room-images/job-1";
const keyA = localApproverSigner();
const keyB = localApproverSigner();
const clock = { now: () => Date.parse("2026-03-04T05:06:07Z") };

function roomConfig(baseDigest: string): JobServiceConfig {
  const dataset = (name: string, fingerprint?: string) => ({
    name,
    owners: [`user:${name}-owner@example.com`],
    ...(fingerprint ? { approverKey: { algorithm: "ECDSA_P256_SHA256" as const, fingerprint } } : {}),
    signatureRepository: `p/room-${name}-approvals`,
    standingApprovals: [],
    access: [],
  });
  return parseJobServiceConfig({
    version: 1,
    room: "room",
    project: "p",
    region: "europe-west4",
    zone: "europe-west4-a",
    launch: { instanceTemplate: "projects/p/global/instanceTemplates/room-tee", instancePrefix: "room-job", machineType: "n2d-standard-2", hardware: ["SEV"], allowDebug: false, teeServiceAccount: "tee@p.iam.gserviceaccount.com", allowedEnvOverrides: [], timeoutMinutes: 60 },
    images: { userImagesRepository: "p/room-images", executorBases: [baseDigest], defaultExecutorBase: `${EXECUTOR}@${baseDigest}`, workspaceDir: "/workspace" },
    datasets: [dataset("insurance", keyA.keyId), dataset("claims", keyB.keyId), dataset("census")],
    researchers: [],
    limits: { maxJobsInProgressPerResearcher: 3, maxWorkspaceBytes: 1 << 20 },
    verifier: { url: "https://verifier.example", audience: "room-verifier" },
    outputs: { quarantineBucket: "q", releaseBucket: "r" },
  });
}

function job(tarball: Buffer): JobRecord {
  return {
    id: 1, uuid: "u-1", creator: "alice", notebook: "a.ipynb", status: 1, datasets: ["insurance", "claims"], purpose: "p", envs: [],
    workspace: { object: "o", sha256: sha256Hex(tarball), size: tarball.length, files: [], dependencies: [] },
    decisions: {}, createdAt: "", updatedAt: "", deleted: false, version: 1,
  };
}

/** A room: the owner's CLI talks to a registry over HTTP (RemoteRegistry → serveRegistry(LocalRegistry)). */
async function room() {
  const local = new LocalRegistry(mkdtempSync(join(tmpdir(), "approvals-test-")));
  const server: Server = createServer(serveRegistry(local));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const registry: Registry = new RemoteRegistry({ baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}` });
  const base = await createLocalExecutorBase(registry, EXECUTOR);
  const tarball = Buffer.from(
    createLayer([
      { path: "alice-workspace", mode: 0o755, type: "dir" },
      { path: "alice-workspace/a.ipynb", mode: 0o644, type: "file", content: Buffer.from('{"cells":[]}') },
    ]).tarGz,
  );
  const builder = new LocalBuilder({ registry });
  const state = await builder.poll(await builder.start({ job: job(tarball), workspace: tarball, base: base.reference, target: JOBS }));
  if (state.state !== "succeeded") throw new Error(JSON.stringify(state));
  const config = roomConfig(base.digest);
  const source = new SignatureApprovalSource({ registry, config });
  return { registry, local, server, base, config, record: state.record, source };
}

describe("approval by signature", () => {
  let r: Awaited<ReturnType<typeof room>>;
  beforeEach(async () => (r = await room()));
  afterEach(() => new Promise<void>((done) => r.server.close(() => done())));

  it("approve pushes a signature that the approval source and the launcher accept, for that dataset only", async () => {
    const { registry, config, record, source } = r;
    expect(await source.decisions(record.imageDigest, ["insurance", "claims", "census"])).toEqual({});
    const result = await approveJob({ registry, config, dataset: "insurance", imageRepo: JOBS, imageDigest: record.imageDigest, signer: keyA, by: "insurance-owner@example.com", clock, reviewFiles: record.files });
    expect(result).toMatchObject({ tag: signatureTag(record.imageDigest), keyId: keyA.keyId, review: { ok: true, files: record.files } });

    expect(await source.decisions(record.imageDigest, ["insurance", "claims", "census"])).toEqual({
      insurance: { state: "approved", by: "insurance-owner@example.com", at: "2026-03-04T05:06:07Z", keyFingerprint: keyA.keyId, source: "signature" },
    });
    const claims = await launcherSignatures(registry, ["p/room-insurance-approvals", "p/room-claims-approvals"], record.imageDigest);
    expect(claims).toEqual([{ key_id: keyA.keyId, signature: expect.any(String), signature_algorithm: "ECDSA_P256_SHA256" }]);
    // The signature names this digest only.
    expect(await launcherSignatures(registry, ["p/room-insurance-approvals"], r.base.digest)).toEqual([]);

    // The second owner's approval appends; both datasets approved.
    await approveJob({ registry, config, dataset: "claims", imageRepo: JOBS, imageDigest: record.imageDigest, signer: keyB, by: "claims-owner@example.com", clock });
    expect(Object.keys(await source.decisions(record.imageDigest, ["insurance", "claims"]))).toEqual(["insurance", "claims"]);
  });

  it("dataset A's key cannot approve for B; a signature by A's key in B's repository does not count for B", async () => {
    const { registry, config, record, source } = r;
    await expect(approveJob({ registry, config, dataset: "claims", imageRepo: JOBS, imageDigest: record.imageDigest, signer: keyA, by: "insurance-owner@example.com" })).rejects.toThrow(
      new RegExp(`signing key ${keyA.keyId} is not dataset claims's approver key: expected the key with fingerprint ${keyB.keyId}`),
    );
    expect(await registry.getManifest("p/room-claims-approvals", signatureTag(record.imageDigest))).toBeUndefined();

    // Pushed around the CLI: valid, and the launcher carries it, but B's key is required for B.
    const payload = simpleSigningPayload(record.imageDigest, { pubPem: keyA.publicKeyPem });
    await pushSignature(registry, "p/room-claims-approvals", record.imageDigest, payload, await keyA.sign(payload));
    expect((await launcherSignatures(registry, ["p/room-claims-approvals"], record.imageDigest)).map((c) => c.key_id)).toEqual([keyA.keyId]);
    expect(await source.decisions(record.imageDigest, ["claims"])).toEqual({});
  });

  it("a dataset without an approver key never gets a signature approval", async () => {
    const { registry, config, record, source } = r;
    await expect(approveJob({ registry, config, dataset: "census", imageRepo: JOBS, imageDigest: record.imageDigest, signer: keyA, by: "x" })).rejects.toThrow(
      /per-job approval is off for dataset census: put its approver key's fingerprint in datasets\.census\.approverKey\.fingerprint/,
    );
    const payload = simpleSigningPayload(record.imageDigest, { pubPem: keyA.publicKeyPem });
    await pushSignature(registry, "p/room-census-approvals", record.imageDigest, payload, await keyA.sign(payload));
    expect(await source.decisions(record.imageDigest, ["census"])).toEqual({});
    await expect(source.decisions(record.imageDigest, ["nope"])).rejects.toThrow(/dataset "nope" is not in the room \(datasets: insurance, claims, census\)/);
  });

  it("refuses a tampered image and pushes nothing", async () => {
    const { registry, config, record } = r;
    // Same base and workspace layer, plus a label: a different digest whose config changed.
    const { manifest } = await readImageManifest(registry, JOBS, record.imageDigest);
    const cfg = await readImageConfig(registry, JOBS, manifest);
    const tamperedConfig = jsonBytes({ ...cfg, config: { ...cfg.config, Labels: { ...cfg.config?.Labels, "tee.launch_policy.allow_cmd_override": "true" } } });
    const cd = await registry.putBlob(JOBS, tamperedConfig);
    const tampered = await registry.putManifest(JOBS, undefined, jsonBytes({ ...manifest, config: { ...manifest.config, digest: cd, size: tamperedConfig.length } }), MediaType.ociManifest);
    const attempt = approveJob({ registry, config, dataset: "insurance", imageRepo: JOBS, imageDigest: tampered, signer: keyA, by: "o" });
    await expect(attempt).rejects.toBeInstanceOf(OwnerActionError);
    await expect(attempt).rejects.toThrow(/not approvable for dataset insurance; nothing was signed:\n  - config\.Labels: label tee\.launch_policy\.allow_cmd_override added/);
    expect(await registry.getManifest("p/room-insurance-approvals", signatureTag(tampered))).toBeUndefined();
  });

  it("refuses an image whose files differ from the review record", async () => {
    const { registry, config, record } = r;
    const reviewFiles = record.files.map((f) => (f.path === "a.ipynb" ? { ...f, sha256: "0".repeat(64) } : f));
    await expect(approveJob({ registry, config, dataset: "insurance", imageRepo: JOBS, imageDigest: record.imageDigest, signer: keyA, by: "o", reviewFiles })).rejects.toThrow(
      /file a\.ipynb: changed since review/,
    );
    expect(await registry.getManifest("p/room-insurance-approvals", signatureTag(record.imageDigest))).toBeUndefined();
  });

  it("a signed rejection by the dataset's key rejects, with its reason, and wins over an approval; another key's does not", async () => {
    const { registry, config, record, source } = r;
    await approveJob({ registry, config, dataset: "insurance", imageRepo: JOBS, imageDigest: record.imageDigest, signer: keyA, by: "o1", clock });
    // A rejection signed by B's key, pushed into A's repository, is ignored.
    const foreign = rejectionPayload(record.imageDigest, { pubPem: keyB.publicKeyPem, reason: "not yours" });
    await pushSignature(registry, "p/room-insurance-approvals", record.imageDigest, foreign, await keyB.sign(foreign), "rejection");
    expect((await source.decisions(record.imageDigest, ["insurance"])).insurance.state).toBe("approved");

    const out = await rejectJob({ registry, config, dataset: "insurance", imageDigest: record.imageDigest, signer: keyA, by: "o2", reason: "prints raw rows", clock });
    expect(out.tag).toBe(rejectionTag(record.imageDigest));
    expect(await source.decisions(record.imageDigest, ["insurance"])).toEqual({
      insurance: { state: "rejected", by: "o2", at: "2026-03-04T05:06:07Z", reason: "prints raw rows", keyFingerprint: keyA.keyId, source: "signature" },
    });
    await expect(rejectJob({ registry, config, dataset: "claims", imageDigest: record.imageDigest, signer: keyA, by: "o", reason: "x" })).rejects.toThrow(/expected the key with fingerprint/);
  });
});
