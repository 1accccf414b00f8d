import { execFileSync } from "node:child_process";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KeyManagementServiceClient } from "@google-cloud/kms";
import { jsonBytes, MediaType, sha256Digest } from "../src/oci";
import { LocalRegistry } from "../src/local-registry";
import {
  keyIdOf,
  launcherSignatures,
  pushSignature,
  rejectionPayload,
  rejectionTag,
  signatureTag,
  simpleSigningPayload,
  verifiedSignatures,
  SIGNATURE_ANNOTATION,
} from "../src/cosign";
import { crc32c, kmsApproverSigner, localApproverSigner, type KmsClientLike } from "../src/signers";
import { fakeKms as sharedFakeKms, type FakeKmsOptions } from "./fake-kms";

// Compile-time: the real KMS client satisfies the minimal interface the signer takes.
type RealKmsFits = KeyManagementServiceClient extends KmsClientLike ? true : never;
const realKmsFits: RealKmsFits = true;
void realKmsFits;

const tmp = () => mkdtempSync(join(tmpdir(), "cosign-test-"));
const IMAGE = sha256Digest(Buffer.from("job image manifest"));
const OTHER = sha256Digest(Buffer.from("another image"));
const REPO = "localhost/p/room-insurance-approvals";

describe("payloads and tags", () => {
  it("writes cosign simple signing with the key, the algorithm and who signed", () => {
    const signer = localApproverSigner();
    const bytes = simpleSigningPayload(IMAGE, { pubPem: signer.publicKeyPem, dockerReference: "r/p/job-1", extra: { dataset: "insurance", by: "owner@example.com", at: "2026-01-02T03:04:05Z" } });
    const p = JSON.parse(Buffer.from(bytes).toString());
    expect(p.critical).toEqual({ identity: { "docker-reference": "r/p/job-1" }, image: { "docker-manifest-digest": IMAGE }, type: "cosign container image signature" });
    const pub = p.optional["dev.cosignproject.cosign/pub"] as string;
    expect(pub).not.toMatch(/=$/);
    expect(Buffer.from(pub, "base64").toString()).toBe(signer.publicKeyPem);
    expect(p.optional).toMatchObject({ "dev.cosignproject.cosign/sigalg": "ECDSA_P256_SHA256", "manatee.dataset": "insurance", "manatee.by": "owner@example.com", "manatee.at": "2026-01-02T03:04:05Z" });
    const r = JSON.parse(Buffer.from(rejectionPayload(IMAGE, { pubPem: signer.publicKeyPem, reason: "exports raw rows" })).toString());
    expect(r.critical.type).toBe("manatee job rejection");
    expect(r.optional["manatee.reason"]).toBe("exports raw rows");
    expect(() => rejectionPayload(IMAGE, { pubPem: signer.publicKeyPem, reason: " " })).toThrow(/needs a reason/);
  });

  it("names the launcher's tag and the rejection tag, and refuses a non-digest", () => {
    expect(signatureTag(IMAGE)).toBe(`sha256-${IMAGE.slice(7)}.sig`);
    expect(rejectionTag(IMAGE)).toBe(`sha256-${IMAGE.slice(7)}.reject`);
    expect(() => signatureTag("latest")).toThrow(/not a sha256 digest/);
  });

  it("key_id is the SHA-256 of the DER public key, as openssl computes it", () => {
    const signer = localApproverSigner();
    const dir = tmp();
    writeFileSync(join(dir, "pub.pem"), signer.publicKeyPem);
    const der = execFileSync("openssl", ["pkey", "-pubin", "-in", join(dir, "pub.pem"), "-outform", "DER"]);
    expect(signer.keyId).toBe(createHash("sha256").update(der).digest("hex"));
    expect(keyIdOf(signer.publicKeyPem)).toBe(signer.keyId);
    expect(keyIdOf(createPrivateKey(signer.exportPrivateKeyPem()))).toBe(signer.keyId);
  });
});

describe("pushSignature and launcherSignatures", () => {
  async function signed(signer = localApproverSigner(), digest = IMAGE) {
    const payload = simpleSigningPayload(digest, { pubPem: signer.publicKeyPem });
    return { signer, payload, signature: await signer.sign(payload) };
  }

  it("appends one layer per signature, keeping the others, and the launcher verifies each", async () => {
    const reg = new LocalRegistry(tmp());
    const a = await signed();
    const b = await signed();
    await pushSignature(reg, REPO, IMAGE, a.payload, a.signature);
    await pushSignature(reg, REPO, IMAGE, b.payload, b.signature);
    await pushSignature(reg, REPO, IMAGE, a.payload, a.signature); // same signature again: no duplicate
    const m = JSON.parse(Buffer.from((await reg.getManifest(REPO, signatureTag(IMAGE)))!.bytes).toString());
    expect(m.layers).toHaveLength(2);
    expect(m.layers[0]).toMatchObject({ mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", annotations: { [SIGNATURE_ANNOTATION]: Buffer.from(a.signature).toString("base64") } });
    const config = JSON.parse(Buffer.from(await reg.getBlob(REPO, m.config.digest)).toString());
    expect(config.rootfs.diff_ids).toEqual(m.layers.map((l: { digest: string }) => l.digest));

    const claims = await launcherSignatures(reg, [REPO, "localhost/p/empty"], IMAGE);
    expect(claims).toEqual([
      { key_id: a.signer.keyId, signature: Buffer.from(a.signature).toString("base64"), signature_algorithm: "ECDSA_P256_SHA256" },
      { key_id: b.signer.keyId, signature: Buffer.from(b.signature).toString("base64"), signature_algorithm: "ECDSA_P256_SHA256" },
    ]);
    // A real ECDSA signature over the exact payload bytes.
    expect(verify("sha256", a.payload, createPublicKey(a.signer.publicKeyPem), Buffer.from(claims[0].signature, "base64"))).toBe(true);
  });

  it("drops, and logs, signatures that name another digest, do not verify, or use an unsupported algorithm", async () => {
    const reg = new LocalRegistry(tmp());
    const good = await signed();
    const wrongDigest = await signed(undefined, OTHER);
    const forged = await signed();
    const tampered = Buffer.from(forged.signature);
    tampered[tampered.length - 1] ^= 1;
    const otherKey = localApproverSigner();
    const badAlgPayload = jsonBytes({
      critical: { identity: { "docker-reference": "" }, image: { "docker-manifest-digest": IMAGE }, type: "cosign container image signature" },
      optional: { "dev.cosignproject.cosign/pub": Buffer.from(otherKey.publicKeyPem).toString("base64"), "dev.cosignproject.cosign/sigalg": "ED25519" },
    });
    await pushSignature(reg, REPO, IMAGE, wrongDigest.payload, wrongDigest.signature);
    await pushSignature(reg, REPO, IMAGE, forged.payload, tampered);
    await pushSignature(reg, REPO, IMAGE, badAlgPayload, await otherKey.sign(badAlgPayload));
    // A signature by one key over a payload that embeds another key.
    const swapped = simpleSigningPayload(IMAGE, { pubPem: otherKey.publicKeyPem });
    await pushSignature(reg, REPO, IMAGE, swapped, await good.signer.sign(swapped));
    await pushSignature(reg, REPO, IMAGE, good.payload, good.signature);
    const log: string[] = [];
    const claims = await launcherSignatures(reg, [REPO], IMAGE, { log: (m) => log.push(m) });
    expect(claims.map((c) => c.key_id)).toEqual([good.signer.keyId]);
    expect(log).toEqual([
      expect.stringMatching(/layer 0: skipped: payload names sha256:\w+, not sha256:/),
      expect.stringMatching(/layer 1: skipped: signature does not verify/),
      expect.stringMatching(/layer 2: skipped: .*"ED25519" is not one the launcher supports/),
      expect.stringMatching(/layer 3: skipped: signature does not verify/),
    ]);
    // A rejection is never read as a signature, nor a signature as a rejection.
    expect(await verifiedSignatures(reg, REPO, IMAGE, { kind: "rejection" })).toEqual([]);
  });

  it("accepts RSA-PSS signatures like the launcher", async () => {
    const reg = new LocalRegistry(tmp());
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
    const payload = jsonBytes({
      critical: { identity: { "docker-reference": "" }, image: { "docker-manifest-digest": IMAGE }, type: "cosign container image signature" },
      optional: { "dev.cosignproject.cosign/pub": Buffer.from(pem).toString("base64").replace(/=+$/, ""), "dev.cosignproject.cosign/sigalg": "RSASSA_PSS_SHA256" },
    });
    const sig = sign("sha256", payload, { key: privateKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 });
    await pushSignature(reg, REPO, IMAGE, payload, sig);
    expect(await launcherSignatures(reg, [REPO], IMAGE)).toEqual([{ key_id: keyIdOf(publicKey), signature: sig.toString("base64"), signature_algorithm: "RSASSA_PSS_SHA256" }]);
  });

  it("counts at most 300 signatures across repositories", async () => {
    const reg = new LocalRegistry(tmp());
    const s = localApproverSigner();
    const payload = simpleSigningPayload(IMAGE, { pubPem: s.publicKeyPem });
    const pd = await reg.putBlob(REPO, payload);
    const layers = [];
    for (let i = 0; i < 301; i++) layers.push({ mediaType: MediaType.cosignSimpleSigning, digest: pd, size: payload.length, annotations: { [SIGNATURE_ANNOTATION]: Buffer.from(await s.sign(payload)).toString("base64") } });
    const cfg = await reg.putBlob(REPO, jsonBytes({}));
    await reg.putManifest(REPO, signatureTag(IMAGE), jsonBytes({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: cfg, size: 2 }, layers }), MediaType.ociManifest);
    expect(await launcherSignatures(reg, [REPO, REPO], IMAGE)).toHaveLength(300);
  });

  it("refuses to overwrite a tag that holds something other than a manifest with layers", async () => {
    const reg = new LocalRegistry(tmp());
    await reg.putManifest(REPO, signatureTag(IMAGE), jsonBytes({ schemaVersion: 2 }), MediaType.ociManifest);
    const a = await signed();
    await expect(pushSignature(reg, REPO, IMAGE, a.payload, a.signature)).rejects.toThrow(/has no layers: refusing to overwrite it/);
  });
});

describe("localApproverSigner", () => {
  it("loads a P-256 PEM file with the same key id, and refuses other keys naming the file", () => {
    const generated = localApproverSigner();
    const dir = tmp();
    writeFileSync(join(dir, "approver.pem"), generated.exportPrivateKeyPem());
    expect(localApproverSigner({ pemFile: join(dir, "approver.pem") }).keyId).toBe(generated.keyId);
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    writeFileSync(join(dir, "rsa.pem"), rsa);
    expect(() => localApproverSigner({ pemFile: join(dir, "rsa.pem") })).toThrow(/rsa\.pem: an approver key must be EC P-256/);
    writeFileSync(join(dir, "junk.pem"), "junk");
    expect(() => localApproverSigner({ pemFile: join(dir, "junk.pem") })).toThrow(/junk\.pem: not a PEM private key.*openssl ecparam/);
  });
});

describe("kmsApproverSigner", () => {
  const VERSION = "projects/p/locations/europe-west4/keyRings/room/cryptoKeys/insurance-approver/cryptoKeyVersions/1";

  /** The shared fake KMS (./fake-kms) holding VERSION; every getPublicKey asks for VERSION. */
  const fakeKms = (opts: Omit<FakeKmsOptions, "keyVersion"> = {}) =>
    sharedFakeKms({ keyVersion: VERSION, onGetPublicKey: (req) => expect(req.name).toBe(VERSION), ...opts });

  it("computes CRC32C as Castagnoli", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
  });

  it("sends only the SHA-256 digest and returns a signature the launcher accepts", async () => {
    const kms = fakeKms();
    const signer = await kmsApproverSigner({ client: kms.client, keyVersion: VERSION });
    expect(signer.keyId).toBe(keyIdOf(kms.pem));
    const payload = simpleSigningPayload(IMAGE, { pubPem: signer.publicKeyPem });
    const sig = await signer.sign(payload);
    expect(Buffer.from(kms.signRequests[0].digest.sha256).toString("hex")).toBe(createHash("sha256").update(payload).digest("hex"));
    const reg = new LocalRegistry(tmp());
    await pushSignature(reg, REPO, IMAGE, payload, sig);
    expect((await launcherSignatures(reg, [REPO], IMAGE)).map((c) => c.key_id)).toEqual([signer.keyId]);
  });

  it("refuses a key that is not EC_SIGN_P256_SHA256, a corrupted request, and a signature by another key", async () => {
    await expect(kmsApproverSigner({ client: fakeKms({ algorithm: "RSA_SIGN_PSS_2048_SHA256" }).client, keyVersion: VERSION })).rejects.toThrow(/algorithm RSA_SIGN_PSS_2048_SHA256: approver keys must be EC_SIGN_P256_SHA256/);
    expect((await kmsApproverSigner({ client: fakeKms({ algorithm: 12 }).client, keyVersion: VERSION })).keyId).toMatch(/^[0-9a-f]{64}$/);
    await expect(kmsApproverSigner({ client: fakeKms().client, keyVersion: "insurance-approver" })).rejects.toThrow(/expected projects\/P\/locations/);
    const corrupt = await kmsApproverSigner({ client: fakeKms({ corruptDigestCrc: true }).client, keyVersion: VERSION });
    await expect(corrupt.sign(Buffer.from("x"))).rejects.toThrow(/digest arrived corrupted/);
    const wrong = await kmsApproverSigner({ client: fakeKms({ signWith: generateKeyPairSync("ec", { namedCurve: "P-256" }) }).client, keyVersion: VERSION });
    await expect(wrong.sign(Buffer.from("x"))).rejects.toThrow(/does not verify with the key version's public key/);
  });
});
