/**
 * `manatee policy sign`: a consortium party signs its approvals with the key the room file pins;
 * the JWS verifies (jose) against that key over exactly `partyApprovalsPayload`, and the verifier
 * document carries it.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compactVerify, importJWK } from "jose";
import { compileVerifierPolicy, partyApprovalsPayload } from "../../lib/policy/document";
import { loadPolicyFile } from "../../lib/policy/load";
import { EXAMPLE_DIGEST_A } from "../util";
import { manatee } from "./run";

/** A fresh EC P-256 key pair: the private key as PKCS#8 PEM, the public one as a JWK. */
function p256() {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const { kty, crv, x, y } = publicKey.export({ format: "jwk" });
  return { pem: privateKey.export({ type: "pkcs8", format: "pem" }) as string, jwk: { kty, crv, x, y } };
}

/** A consortium room in a fresh directory: hospital-a inline (unsigned), hospital-b in b.party.yaml pinning `jwk`. */
function room(jwk: object, key: string) {
  const dir = mkdtempSync(join(tmpdir(), "manatee-sign-"));
  const approval = (dataset: string, by: string) => `  - { imageDigest: "${EXAMPLE_DIGEST_A}", datasets: [${dataset}], purpose: shared study, approvedBy: ${by} }\n`;
  writeFileSync(
    join(dir, "room.yaml"),
    `name: oncology-consortium\nproject: consortium-operator\nregion: europe-west4\nzone: europe-west4-a\nparties:\n` +
      `  hospital-a:\n    project: hospital-a-cleanroom\n    datasets: { scans: { stage1: { kind: none } } }\n    approvals:\n  ${approval("scans", "dpo@a.example.org")}` +
      `  hospital-b: { file: b.party.yaml }\n`,
  );
  writeFileSync(
    join(dir, "b.party.yaml"),
    `project: hospital-b-cleanroom\napprovalsKey: { jwk: ${JSON.stringify(jwk)} }\napprovalsSignature: b.approvals.jws\n` +
      `datasets: { labs: { stage1: { kind: none } } }\napprovals:\n${approval("labs", "dpo@b.example.org")}`,
  );
  writeFileSync(join(dir, "key.pem"), key);
  return { dir, config: join(dir, "room.yaml"), key: join(dir, "key.pem"), out: join(dir, "b.approvals.jws") };
}

describe("manatee policy sign", () => {
  test("given the pinned key, when hospital-b signs, then the room loads, the JWS verifies against the pinned key over partyApprovalsPayload and the document carries it", async () => {
    const { pem, jwk } = p256();
    const r = room(jwk, pem);
    const { code, stdout, stderr } = await manatee("policy", "sign", "--config", r.config, "--party", "hospital-b", "--key", r.key, "--out", r.out);
    expect({ code, stdout }).toEqual({ code: 0, stdout: "" });
    expect(stderr).toContain(`wrote ${r.out}`);
    const jws = readFileSync(r.out, "utf8").trim();
    const policy = loadPolicyFile(r.config);
    const verified = await compactVerify(jws, await importJWK(jwk, "ES256"));
    expect(verified.protectedHeader).toEqual({ alg: "ES256", typ: "manatee-approvals+jws" });
    expect(new TextDecoder().decode(verified.payload)).toBe(partyApprovalsPayload(policy, "hospital-b"));
    expect(JSON.parse(new TextDecoder().decode(verified.payload))).toMatchObject({ room: "oncology-consortium", party: "hospital-b" });
    const b = compileVerifierPolicy(policy).document.parties!.find((p) => p.name === "hospital-b")!;
    expect(b).toEqual({ name: "hospital-b", project: "hospital-b-cleanroom", datasets: ["labs"], approvalsKey: jwk, approvalsJws: jws });
  });

  test("given no --out, then the JWS goes to stdout and verifies; a changed approval no longer matches the signed payload", async () => {
    const { pem, jwk } = p256();
    const r = room(jwk, pem);
    const { code, stdout } = await manatee("policy", "sign", "--config", r.config, "--party", "hospital-b", "--key", r.key);
    expect(code).toBe(0);
    const verified = await compactVerify(stdout.trim(), await importJWK(jwk, "ES256"));
    writeFileSync(r.out, stdout);
    const partyFile = join(r.dir, "b.party.yaml");
    writeFileSync(partyFile, readFileSync(partyFile, "utf8").replace("shared study", "another study"));
    expect(new TextDecoder().decode(verified.payload)).not.toBe(partyApprovalsPayload(loadPolicyFile(r.config), "hospital-b"));
  });

  test("given the committed fixture, then its signature verifies against hospital-b's pinned key over the fixture's payload (the fixture is in step)", async () => {
    const policy = loadPolicyFile("test/fixtures/policies/consortium.cleanroom.yaml");
    const b = policy.parties!.find((p) => p.name === "hospital-b")!;
    const verified = await compactVerify(b.approvalsSignature!, await importJWK(b.approvalsKey!.jwk, "ES256"));
    expect(new TextDecoder().decode(verified.payload)).toBe(partyApprovalsPayload(policy, "hospital-b"));
  });

  test("given a key that is not the pinned one, then it refuses with exit 2 and writes nothing", async () => {
    const r = room(p256().jwk, p256().pem);
    const { code, stdout, stderr } = await manatee("policy", "sign", "--config", r.config, "--party", "hospital-b", "--key", r.key);
    expect({ code, stdout }).toEqual({ code: 2, stdout: "" });
    expect(stderr).toContain(`the public part of ${r.key} is not the key ${r.config} pins for party "hospital-b" (parties.hospital-b.approvalsKey.jwk)`);
  });

  test.each([
    ["a party that pins no key", "hospital-a", undefined, 'party "hospital-a" pins no approvalsKey'],
    ["a party the room does not have", "hospital-c", undefined, 'room "oncology-consortium" has no party "hospital-c"; its parties are hospital-a, hospital-b.'],
    ["an RSA key", "hospital-b", generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }) as string, "is not an EC P-256 key (found RSA)"],
    ["a file that is not a key", "hospital-b", "hello\n", "is not a PEM private key"],
  ])("given %s, then it refuses with exit 2", async (_case, party, key, message) => {
    const { pem, jwk } = p256();
    const r = room(jwk, key ?? pem);
    // hospital-b's signature exists (a well-formed JWS: the loader leaves verifying it to the verifier).
    writeFileSync(r.out, "eyJhbGciOiJFUzI1NiJ9.eyJ9.c2ln\n");
    const { code, stdout, stderr } = await manatee("policy", "sign", "--config", r.config, "--party", party, "--key", r.key);
    expect({ code, stdout }).toEqual({ code: 2, stdout: "" });
    expect(stderr).toContain(message);
  });

  test.each([
    [["--config", "room.yaml", "--key", "k.pem"], "manatee policy sign: missing --party NAME"],
    [["--config", "room.yaml", "--party", "b"], "manatee policy sign: missing --key FILE"],
    [["--config", "room.yaml", "--party", "b", "--key", "k.pem", "--kid", "x"], "manatee policy sign: unknown option --kid (known: --config, --party, --key, --out)"],
  ])("given arguments %j, then usage goes to stderr, exit 2", async (args, first) => {
    const { code, stdout, stderr } = await manatee("policy", "sign", ...args);
    expect({ code, stdout }).toEqual({ code: 2, stdout: "" });
    expect(stderr.split("\n")[0]).toBe(first);
    expect(stderr).toContain("usage: manatee policy sign --config FILE --party NAME --key KEY.pem [--out FILE]");
  });
});
