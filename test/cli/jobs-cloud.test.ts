/**
 * `manatee jobs` against a deployed room (`--config room.yaml`), every Google client faked at its
 * interface: Artifact Registry is a `serveRegistry(LocalRegistry)` server on 127.0.0.1 spoken to
 * by the real RemoteRegistry, Cloud KMS signs digests with a local P-256 key (as KMS does), and
 * the review record comes from a fake Cloud Storage reader. The job image is a real LocalBuilder
 * build on the local executor base, pushed where the deployed room keeps its executor base.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { launcherSignatures, verifiedSignatures } from "../../job-service/src/cosign";
import { createLocalExecutorBase } from "../../job-service/src/executor-base";
import { LocalBuilder } from "../../job-service/src/local-builder";
import { LocalRegistry } from "../../job-service/src/local-registry";
import { jsonBytes, readImageConfig, readImageManifest, type ImageConfig } from "../../job-service/src/oci";
import type { BuildRecord, JobRecord } from "../../job-service/src/ports";
import { serveRegistry } from "../../job-service/src/registry-http";
import { fakeKms as sharedFakeKms } from "../../job-service/test/fake-kms";
import { workspaceTarball } from "../../job-service/test/helpers";
import { run as jobsCli } from "../../lib/cli/jobs";
import { HostAliasRegistry, adcToken, approverKeyVersionName, kmsDatasetSigner, gcsJsonApiReader, ownerExecutorBases, ownerJobServiceConfig, type CloudClients } from "../../lib/cli/jobs-cloud";
import { loadPolicyFile } from "../../lib/policy/load";
import { dataPlaneNames, jobPathNames } from "../../lib/policy/names";

// The cloud path must load the heavy Google clients lazily: every test here injects fakes, so
// requiring either module at all (statically or eagerly) fails the suite.
jest.mock("@google-cloud/kms", () => {
  throw new Error("@google-cloud/kms was loaded although a KMS client was injected");
});
jest.mock("google-auth-library", () => {
  throw new Error("google-auth-library was loaded although a token source was injected");
});

const EXAMPLE = join(__dirname, "..", "..", "stacks", "example.cleanroom.yaml");
const HOST = "us-central1-docker.pkg.dev";
const KEY_VERSION = "projects/acme-clean-room/locations/us-central1/keyRings/insurance-study-datasets/cryptoKeys/insurance-approver/cryptoKeyVersions/1";
const SIGNATURES = `${HOST}/acme-clean-room/insurance-study-insurance-approvals`;
const UUID = "0b7c4f1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e";
const TAMPERED_UUID = "1c8d5a2f-3e4b-4c6d-9e0f-1a2b3c4d5e6f";
const MISMATCH_UUID = "2d9e6b3a-4f5c-4d7e-8f1a-2b3c4d5e6f70";

/** The shared fake KMS (job-service/test/fake-kms.ts) holding the room's approver key version. */
const fakeKms = (algorithm?: string | number) => sharedFakeKms({ keyVersion: KEY_VERSION, algorithm });

function io() {
  const out = { stdout: "", stderr: "" };
  return { out, io: { stdout: { write: (c: string) => (out.stdout += c) }, stderr: { write: (c: string) => (out.stderr += c) } } };
}

describe("manatee jobs against a deployed room (--config)", () => {
  let dir: string;
  let server: Server;
  let registryUrl: string;
  let store: LocalRegistry;
  /** The room's registry as the job service sees it: names on us-central1-docker.pkg.dev. */
  let registry: HostAliasRegistry;
  let roomFile: string;
  const kms = fakeKms();
  const authorizations: string[] = [];
  const reviews = new Map<string, Uint8Array>();
  const gcsReads: string[] = [];
  let built: BuildRecord;
  let tampered: BuildRecord;

  const clients = (): CloudClients => ({
    kms: kms.client,
    token: async () => "owner-access-token",
    registryUrl,
    gcs: async (bucket, object) => {
      gcsReads.push(`gs://${bucket}/${object}`);
      return reviews.get(`gs://${bucket}/${object}`);
    },
  });
  const jobs = async (...args: string[]) => {
    const { out, io: cliIo } = io();
    const code = await jobsCli(args, cliIo, { clients: clients() });
    return { code, ...out };
  };
  const putReview = (uuid: string, build: BuildRecord) =>
    reviews.set(
      `gs://dcr-insurance-study-hub/reviews/${uuid}.json`,
      Buffer.from(JSON.stringify({ id: 1, uuid, creator: "alice", notebook: "analysis.ipynb", purpose: "XGBoost regression of insurance charges", datasets: ["insurance"], build })),
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "jobs-cloud-"));
    store = new LocalRegistry(join(dir, "registry"));
    const serve = serveRegistry(store);
    server = createServer((req, res) => {
      authorizations.push(req.headers.authorization ?? "");
      serve(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    registryUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    registry = new HostAliasRegistry(store, HOST);

    // The deploy-built executor base stands where the deployed room keeps it.
    const room = { name: "insurance-study", project: "acme-clean-room", region: "us-central1" };
    const base = await createLocalExecutorBase(registry, jobPathNames(room).executorBaseImageRepository);
    const doc = parse(readFileSync(EXAMPLE, "utf8"));
    doc.datasets.insurance.approverKey = { fingerprint: kms.fingerprint };
    doc.jobs.executorBases = [base.digest];
    roomFile = join(dir, "room.yaml");
    writeFileSync(roomFile, stringify(doc));

    // A real job build, as the job service's builder pushes it.
    const builder = new LocalBuilder({ registry });
    const job = { uuid: UUID, workspace: { dependencies: ["pandas==2.2.2"] } } as unknown as JobRecord;
    const workspace = await workspaceTarball("alice", { "analysis.ipynb": '{"cells":[]}', "data/model.py": "print('model')\n" });
    const id = await builder.start({ job, workspace, base: base.reference, target: `${jobPathNames(room).userImagesRepository}/job-${UUID}` });
    const state = await builder.poll(id);
    if (state.state !== "succeeded") throw new Error(`build failed: ${JSON.stringify(state)}`);
    built = state.record;
    putReview(UUID, built);

    // The same image with one changed setting in its configuration (an LD_PRELOAD into the workspace).
    const repo = `${jobPathNames(room).userImagesRepository}/job-${TAMPERED_UUID}`;
    const jobRepo = built.imageReference.slice(0, built.imageReference.indexOf("@"));
    const { manifest } = await readImageManifest(registry, jobRepo, built.imageDigest);
    const config: ImageConfig = await readImageConfig(registry, jobRepo, manifest);
    const evil = { ...config, config: { ...config.config, Env: [...(config.config?.Env ?? []), "LD_PRELOAD=/workspace/data/hook.so"] } };
    const evilConfig = jsonBytes(evil);
    for (const l of manifest.layers) await registry.putBlob(repo, await registry.getBlob(jobRepo, l.digest));
    const configDigest = await registry.putBlob(repo, evilConfig);
    const evilManifest = { ...manifest, config: { ...manifest.config, digest: configDigest, size: evilConfig.length } };
    const digest = await registry.putManifest(repo, "latest", jsonBytes(evilManifest), manifest.mediaType!);
    tampered = { ...built, imageDigest: digest, imageReference: `${repo}@${digest}` };
    putReview(TAMPERED_UUID, tampered);

    // A review record whose files are not the image's.
    putReview(MISMATCH_UUID, { ...built, files: built.files.map((f) => (f.path === "data/model.py" ? { ...f, sha256: "0".repeat(64) } : f)) });
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  test("names: the approver key version on the dataset key ring in the room's region, the executor base in the executor-bases repository", () => {
    const policy = loadPolicyFile(roomFile);
    expect(approverKeyVersionName(policy, "insurance")).toBe(KEY_VERSION);
    expect(approverKeyVersionName(policy, "insurance", 3)).toBe(KEY_VERSION.replace(/1$/, "3"));
    expect(dataPlaneNames(policy).datasetKeyRing).toBe("insurance-study-datasets");
    expect(ownerExecutorBases(policy)).toEqual([{ digest: built.baseDigest, repo: `${HOST}/acme-clean-room/dcr-insurance-study-executor-bases/executor-base` }]);
    const config = ownerJobServiceConfig(policy);
    expect(config.images).toMatchObject({ userImagesRepository: `${HOST}/acme-clean-room/dcr-insurance-study-user-images`, executorBases: [built.baseDigest], workspaceDir: "/workspace" });
    expect(config.datasets.find((d) => d.name === "insurance")).toMatchObject({
      signatureRepository: SIGNATURES,
      approverKey: { fingerprint: kms.fingerprint, kmsKeyVersion: KEY_VERSION },
    });
  });

  test("show: reads the review record from the hub bucket's reviews/ and checks the image", async () => {
    const r = await jobs("show", UUID, "--config", roomFile);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).imageCheck).toEqual({ ok: true, baseDigest: built.baseDigest, problems: [] });
    expect(gcsReads).toContain(`gs://dcr-insurance-study-hub/reviews/${UUID}.json`);
  });

  test("approve: signs with the dataset's KMS key and pushes a signature the launcher accepts, key_id = the dataset fingerprint", async () => {
    authorizations.length = 0;
    const r = await jobs("approve", UUID, "--config", roomFile, "--dataset", "insurance", "--by", "data-owner@example.org");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`approved job ${UUID} for dataset insurance: ${built.imageDigest} signed by key ${kms.fingerprint}`);
    const claims = await launcherSignatures(registry, [SIGNATURES], built.imageDigest);
    expect(claims.map((c) => [c.key_id, c.signature_algorithm])).toEqual([[kms.fingerprint, "ECDSA_P256_SHA256"]]);
    expect(kms.calls).toContain(`asymmetricSign ${KEY_VERSION}`);
    // Every registry request carried the owner's token.
    expect(authorizations.length).toBeGreaterThan(0);
    expect(new Set(authorizations)).toEqual(new Set(["Bearer owner-access-token"]));
  });

  test("approve refuses a tampered image and a review record that is not the image, pushing nothing", async () => {
    const before = await store.listTags("acme-clean-room/insurance-study-insurance-approvals");
    const r = await jobs("approve", TAMPERED_UUID, "--config", roomFile, "--dataset", "insurance");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not approvable for dataset insurance; nothing was signed/);
    expect(r.stderr).toMatch(/Env/);
    expect(await launcherSignatures(registry, [SIGNATURES], tampered.imageDigest)).toEqual([]);
    const m = await jobs("approve", MISMATCH_UUID, "--config", roomFile, "--dataset", "insurance");
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/data\/model\.py/);
    expect(await store.listTags("acme-clean-room/insurance-study-insurance-approvals")).toEqual(before);
  });

  test("reject: pushes a rejection signed by the dataset's key, with the reason", async () => {
    const r = await jobs("reject", TAMPERED_UUID, "--config", roomFile, "--dataset", "insurance", "--reason", "changes the image configuration", "--by", "data-owner@example.org");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rejections = await verifiedSignatures(registry, SIGNATURES, tampered.imageDigest, { kind: "rejection" });
    expect(rejections.map((s) => s.keyId)).toEqual([kms.fingerprint]);
    expect(JSON.stringify(rejections[0].payload)).toContain("changes the image configuration");
    expect(await launcherSignatures(registry, [SIGNATURES], tampered.imageDigest)).toEqual([]);
  });

  test("refusals: no review record yet, a dataset the job does not ask for, a key that is not the room file's", async () => {
    const none = await jobs("approve", "9f9f9f9f-9f9f-4f9f-8f9f-9f9f9f9f9f9f", "--config", roomFile, "--dataset", "insurance");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/has no review record yet \(gs:\/\/dcr-insurance-study-hub\/reviews\/9f9f9f9f-/);
    const other = await jobs("approve", UUID, "--config", roomFile, "--dataset", "claims");
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/does not ask for dataset "claims"/);
    const doc = parse(readFileSync(roomFile, "utf8"));
    doc.datasets.insurance.approverKey = { fingerprint: "ab".repeat(32) };
    const otherRoom = join(dir, "other-key.yaml");
    writeFileSync(otherRoom, stringify(doc));
    const wrongKey = await jobs("approve", UUID, "--config", otherRoom, "--dataset", "insurance");
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(new RegExp(`signing key ${kms.fingerprint} is not dataset insurance's approver key.*${KEY_VERSION.replace(/\//g, "\\/")}`));
  });

  test("approver-key prints the fingerprint from a PEM file (offline) and from Cloud KMS", async () => {
    const pemFile = join(dir, "approver.pem");
    writeFileSync(pemFile, kms.pem);
    const offline = await jobs("approver-key", "--dataset", "insurance", "--public-key", pemFile);
    expect(offline.code).toBe(0);
    expect(offline.stdout).toBe(`datasets.insurance.approverKey.fingerprint: ${kms.fingerprint}\n`);
    expect(offline.stdout).toMatch(/^datasets\.insurance\.approverKey\.fingerprint: [0-9a-f]{64}\n$/);
    kms.calls.length = 0;
    const cloud = await jobs("approver-key", "--dataset", "insurance", "--config", roomFile);
    expect(cloud.code).toBe(0);
    expect(cloud.stdout).toBe(offline.stdout);
    expect(kms.calls).toEqual([`getPublicKey ${KEY_VERSION}`]);
  });

  test("approver-key refuses a key that is not EC_SIGN_P256_SHA256, from KMS or from a file", async () => {
    const rsa = fakeKms("RSA_SIGN_PSS_2048_SHA256");
    const { out, io: cliIo } = io();
    const code = await jobsCli(["approver-key", "--dataset", "insurance", "--config", roomFile], cliIo, { clients: { ...clients(), kms: rsa.client } });
    expect(code).toBe(1);
    expect(out.stdout).toBe("");
    expect(out.stderr).toMatch(/algorithm RSA_SIGN_PSS_2048_SHA256: approver keys must be EC_SIGN_P256_SHA256/);
    const rsaPem = join(dir, "rsa.pem");
    writeFileSync(rsaPem, generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "pem" }).toString());
    const file = await jobs("approver-key", "--dataset", "insurance", "--public-key", rsaPem);
    expect(file.code).toBe(1);
    expect(file.stderr).toMatch(/must be EC P-256 \(Cloud KMS EC_SIGN_P256_SHA256\), found rsa/);
    const p384 = join(dir, "p384.pem");
    writeFileSync(p384, generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey.export({ type: "spki", format: "pem" }).toString());
    expect((await jobs("approver-key", "--dataset", "insurance", "--public-key", p384)).code).toBe(1);
    const unknown = await jobs("approver-key", "--dataset", "nosuch", "--config", roomFile);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/dataset "nosuch" is not in room insurance-study/);
  });

  test("usage: the help shows the gcloud command of the offline path; bad combinations exit 2", async () => {
    const help = await jobs("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("gcloud kms keys versions get-public-key 1");
    expect(help.stdout).toContain("--key NAME-approver --keyring ROOM-datasets");
    expect((await jobs("approver-key", "--dataset", "insurance")).code).toBe(2);
    expect((await jobs("approver-key", "--dataset", "insurance", "--config", roomFile, "--public-key", "x.pem")).code).toBe(2);
    expect((await jobs("show", UUID)).code).toBe(2);
    expect((await jobs("show", UUID, "--config", roomFile, "--local", dir)).code).toBe(2);
    expect((await jobs("approve", UUID, "--config", roomFile, "--dataset", "insurance", "--key-version", "0")).code).toBe(2);
  });
});

describe("lazy Google clients", () => {
  test("the real clients are required only when no fake is given (here the mocks throw on require)", async () => {
    await expect(adcToken()()).rejects.toThrow(/google-auth-library was loaded/);
    const policy = loadPolicyFile(EXAMPLE);
    await expect(kmsDatasetSigner(policy, "insurance")).rejects.toThrow(/@google-cloud\/kms was loaded/);
  });
});

describe("gcsJsonApiReader", () => {
  test("GETs the object with alt=media and the bearer token; 404 is no object; 403 names the grant", async () => {
    const seen: { url: string; auth: string | null }[] = [];
    const fakeFetch = (async (url: string | URL, init?: RequestInit) => {
      seen.push({ url: String(url), auth: new Headers(init?.headers).get("authorization") });
      if (String(url).includes("missing")) return new Response("not found", { status: 404 });
      if (String(url).includes("forbidden")) return new Response("denied", { status: 403 });
      return new Response("{\"uuid\":\"x\"}", { status: 200 });
    }) as typeof fetch;
    const read = gcsJsonApiReader(async () => "tok", fakeFetch);
    expect(Buffer.from((await read("dcr-room-hub", `reviews/${UUID}.json`))!).toString()).toBe('{"uuid":"x"}');
    expect(seen[0]).toEqual({ url: `https://storage.googleapis.com/storage/v1/b/dcr-room-hub/o/reviews%2F${UUID}.json?alt=media`, auth: "Bearer tok" });
    expect(await read("dcr-room-hub", "reviews/missing.json")).toBeUndefined();
    await expect(read("dcr-room-hub", "reviews/forbidden.json")).rejects.toThrow(/roles\/storage\.objectViewer on the hub bucket's reviews\/ objects/);
  });
});
