/**
 * Consortium room files (docs/consortium-contract.md): loading `parties` inline and from party
 * files, every rule refusing with the location of the file the problem is in, the normalized
 * policy, party names, operator facts, the party data-pool condition (real CEL) and the verifier
 * document.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compilePartyAttributeCondition } from "../../lib/policy/condition";
import { compileVerifierPolicy, partyApprovalsPayload } from "../../lib/policy/document";
import { loadPolicyFile } from "../../lib/policy/load";
import { CleanRoomPolicy, normalizePolicy } from "../../lib/policy/model";
import { dataPlaneNames, platformNames } from "../../lib/policy/names";
import { dataPlaneNamesOf, operatorFacts, partyDataPlaneNames } from "../../lib/policy/party-names";
import { PolicyError, assertValidPolicy, validatePolicy } from "../../lib/policy/validate";
import { evaluateAttributeCondition, productionTdxClaims, withClaim } from "../cel";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B, examplePolicy } from "../util";

const FIXTURE = "test/fixtures/policies/consortium.cleanroom.yaml";
const B_JWK = { kty: "EC", crv: "P-256", x: "Xo7iys29_wGexoeG-FJt4b3DM74fqZA_vywWAkw6xUs", y: "62CRVqKnubhieWMnhgytW0NAobyh_pyy_4PSwU7925E" } as const;

const ROOM = `name: oncology-consortium
project: consortium-operator
region: europe-west4
zone: europe-west4-a
parties:
  hospital-a:
    project: hospital-a-cleanroom
    datasets:
      scans: { stage1: { kind: none } }
    approvals:
      - { imageDigest: "${EXAMPLE_DIGEST_A}", datasets: [scans], purpose: p, approvedBy: dpo@a.example.org }
  hospital-b:
    file: b.party.yaml
`;
const PARTY_B = `project: hospital-b-cleanroom
datasets:
  labs: { stage1: { kind: none } }
approvals:
  - { imageDigest: "${EXAMPLE_DIGEST_A}", datasets: [labs], purpose: p, approvedBy: dpo@b.example.org }
`;

/** Write a room file and its party files into a fresh directory; the room file's path. */
function roomDir(room: string, files: Record<string, string> = { "b.party.yaml": PARTY_B }): string {
  const dir = mkdtempSync(join(tmpdir(), "manatee-consortium-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, "room.yaml"), room);
  return join(dir, "room.yaml");
}

/** The messages of the PolicyError loading `file` throws, with the temp directory written as `<dir>`. */
function errorsOf(file: string): string[] {
  const dir = file.slice(0, -"room.yaml".length);
  try {
    loadPolicyFile(file);
  } catch (err) {
    if (err instanceof PolicyError) return err.issues.map((i) => i.message.split(dir).join("<dir>/"));
    throw err;
  }
  throw new Error("expected a PolicyError, but the room loaded");
}

describe("loading a consortium room file", () => {
  test("given the fixture (one inline party, one in its own file, signed), when loaded, then it equals the same room built in TypeScript", () => {
    const policy = loadPolicyFile(FIXTURE);
    const signature = loadPolicyFile(FIXTURE).parties![1].approvalsSignature!;
    expect(signature).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    const scans = { retentionDays: 30, stage1: { kind: "sample" as const, fraction: 0.01 }, owners: ["user:dpo@hospital-a.example"] };
    expect(policy).toEqual(
      normalizePolicy({
        name: "oncology-consortium",
        project: "consortium-operator",
        region: "europe-west4",
        zone: "europe-west4-a",
        residency: ["europe-west4"],
        researchers: ["group:researchers@consortium.example"],
        parties: {
          "hospital-a": {
            project: "hospital-a-cleanroom",
            datasets: { scans },
            approvals: [
              { imageDigest: EXAMPLE_DIGEST_A, datasets: ["scans"], purpose: "Tumour-size regression across both hospitals", approvedBy: "dpo@hospital-a.example" },
              { imageDigest: EXAMPLE_DIGEST_B, datasets: ["scans"], purpose: "Scan-quality statistics for hospital-a only", approvedBy: "dpo@hospital-a.example", expires: "2027-12-31", allowedEnv: ["EXECUTION_STAGE"] },
            ],
          },
          "hospital-b": {
            project: "hospital-b-cleanroom",
            approvalsKey: { jwk: B_JWK },
            approvalsSignature: signature,
            datasets: { labs: { stage1: { kind: "dp-synthetic", mechanism: "mst", epsilon: 1 }, owners: ["user:dpo@hospital-b.example"] } },
            approvals: [{ imageDigest: EXAMPLE_DIGEST_A, datasets: ["labs"], purpose: "Tumour-size regression across both hospitals", approvedBy: "dpo@hospital-b.example" }],
          },
        },
      }),
    );
    // Flat lists, each entry saying whose it is; parties in declaration order.
    expect(policy.datasets.map((d) => [d.name, d.party])).toEqual([["scans", "hospital-a"], ["labs", "hospital-b"]]);
    expect(policy.approvals.map((a) => [a.imageDigest, a.party])).toEqual([
      [EXAMPLE_DIGEST_A, "hospital-a"],
      [EXAMPLE_DIGEST_B, "hospital-a"],
      [EXAMPLE_DIGEST_A, "hospital-b"],
    ]);
    expect(policy.parties!.map((p) => p.name)).toEqual(["hospital-a", "hospital-b"]);
    // What the constructs re-check on their input: the normalized consortium is valid too.
    expect(validatePolicy(policy)).toEqual([]);
  });

  test("given a single-project room, when normalized, then it has no parties key (its snapshots and document hash are unchanged)", () => {
    const policy = examplePolicy();
    expect("parties" in policy).toBe(false);
    expect(policy.datasets.every((d) => !("party" in d))).toBe(true);
  });

  test("given a normalized consortium whose dataset names a party that does not exist, when validated, then it is refused", () => {
    const policy = loadPolicyFile(FIXTURE);
    const tampered: CleanRoomPolicy = { ...policy, datasets: policy.datasets.map((d) => (d.name === "labs" ? { ...d, party: "hospital-c" } : d)) };
    expect(() => assertValidPolicy(tampered)).toThrow(/a party named "hospital-c"/);
  });

  test("given an approvalsSignature that is an inline compact JWS, when loaded, then it is kept as written", () => {
    const jws = loadPolicyFile(FIXTURE).parties![1].approvalsSignature!;
    const inline = PARTY_B + `approvalsKey: { jwk: ${JSON.stringify(B_JWK)} }\napprovalsSignature: ${jws}\n`;
    expect(loadPolicyFile(roomDir(ROOM, { "b.party.yaml": inline })).parties![1].approvalsSignature).toBe(jws);
  });
});

describe("every consortium rule refuses bad input, located in the file the problem is in", () => {
  const party = (name: string, project: string, extra = "") =>
    `  ${name}:\n    project: ${project}\n    datasets:\n      ${name}-data: { stage1: { kind: none } }\n${extra}`;
  // [case, room file, party file b.party.yaml, expected messages]
  const cases: [string, string, string, string[]][] = [
    ["a party name too long for pool ids", ROOM + party("hospital-centre", "hospital-c-room"), PARTY_B, [
      "<dir>/room.yaml:14:3: parties.hospital-centre: expected a party name: 1-12 lowercase letters, digits or '-', starting with a letter (it goes into pool ids and stack names), found the string \"hospital-centre\"",
    ]],
    ["root datasets in a consortium", ROOM + "datasets:\n  extra: { stage1: { kind: none } }\n", PARTY_B, [
      "<dir>/room.yaml:15:3: datasets: a consortium room's operator holds no data: move each dataset under the party whose project holds it (parties.<party>.datasets)",
    ]],
    ["root approvals in a consortium", ROOM + `approvals:\n  - { imageDigest: "${EXAMPLE_DIGEST_A}", datasets: [scans], purpose: p, approvedBy: o@a.example.org }\n`, PARTY_B, [
      "<dir>/room.yaml:15:3: approvals: every approval of a consortium room belongs to the party whose datasets it names: move it under parties.<party>.approvals",
    ]],
    ["a party in the operator's project (in the party file)", ROOM, PARTY_B.replace("hospital-b-cleanroom", "consortium-operator"), [
      "<dir>/b.party.yaml:1:10: parties.hospital-b.project: the project \"consortium-operator\" is already the operator (the room's root)'s; each party keeps its data in its own project, distinct from the operator's and every other party's",
    ]],
    ["two parties in one project", ROOM + party("hospital-c", "hospital-a-cleanroom"), PARTY_B, [
      "<dir>/room.yaml:15:14: parties.hospital-c.project: the project \"hospital-a-cleanroom\" is already party \"hospital-a\"'s; each party keeps its data in its own project, distinct from the operator's and every other party's",
    ]],
    ["a dataset name of another party (in the party file)", ROOM, PARTY_B.replace("labs:", "scans:").replace("[labs]", "[scans]"), [
      "<dir>/b.party.yaml:3:3: parties.hospital-b.datasets.scans: the dataset name \"scans\" is already declared by party \"hospital-a\"; dataset names are unique across the whole room, rename one of them",
      "<dir>/b.party.yaml:5:106: parties.hospital-b.approvals[0].datasets[0]: the dataset \"scans\" is party \"hospital-a\"'s: each party approves only its own datasets, so party \"hospital-a\" approves this image for \"scans\" in its own section",
    ]],
    ["an approval of another party's dataset", ROOM.replace("datasets: [scans]", "datasets: [labs]"), PARTY_B, [
      "<dir>/room.yaml:11:110: parties.hospital-a.approvals[0].datasets[0]: the dataset \"labs\" is party \"hospital-b\"'s: each party approves only its own datasets, so party \"hospital-b\" approves this image for \"labs\" in its own section",
    ]],
    ["file: beside other keys", ROOM.replace("    file: b.party.yaml\n", "    file: b.party.yaml\n    project: hospital-b-cleanroom\n"), PARTY_B, [
      "<dir>/room.yaml:14:5: parties.hospital-b.project: \"file\" names the party's whole section, so \"project\" cannot be set here too; move it into the party's file",
    ]],
    ["a party file naming another file", ROOM, `file: c.party.yaml\n${PARTY_B}`, [
      "<dir>/b.party.yaml:1:1: file: a party file cannot name another file: put the party's settings (project, datasets, approvals, ...) in <dir>/b.party.yaml itself",
    ]],
    ["a party file that does not exist", ROOM.replace("b.party.yaml", "missing.yaml"), PARTY_B, [
      expect.stringMatching(/^<dir>\/room\.yaml:13:11: parties\.hospital-b\.file: cannot read the party file <dir>\/missing\.yaml: ENOENT/) as unknown as string,
    ]],
    ["a YAML error in the party file", ROOM, "project: [unclosed\n", [
      expect.stringMatching(/^<dir>\/b\.party\.yaml:\d+:\d+: YAML syntax error: /) as unknown as string,
    ]],
    ["approvalsKey without a signature", ROOM, PARTY_B + `approvalsKey: { jwk: ${JSON.stringify(B_JWK)} }\n`, [
      "<dir>/b.party.yaml:6:1: parties.hospital-b.approvalsKey: approvalsKey is set, so approvalsSignature is required: sign the party's approvals with `manatee policy sign --config <room file> --party hospital-b --key <private key>` and set approvalsSignature to the JWS or its file",
    ]],
    ["a signature without approvalsKey", ROOM, PARTY_B + "approvalsSignature: eyJhbGciOiJFUzI1NiJ9.eyJ9.c2ln\n", [
      "<dir>/b.party.yaml:6:1: parties.hospital-b.approvalsSignature: approvalsSignature is set but approvalsKey is not: nobody could check the signature; pin the party's public key in approvalsKey, or remove approvalsSignature",
    ]],
    ["a signature file that does not exist", ROOM, PARTY_B + `approvalsKey: { jwk: ${JSON.stringify(B_JWK)} }\napprovalsSignature: b.jws\n`, [
      expect.stringMatching(/^<dir>\/b\.party\.yaml:7:21: parties\.hospital-b\.approvalsSignature: cannot read the approvals signature <dir>\/b\.jws: ENOENT/) as unknown as string,
    ]],
    ["a pinned key off the P-256 curve", ROOM, PARTY_B + `approvalsKey: { jwk: ${JSON.stringify({ ...B_JWK, y: "A".repeat(43) })} }\napprovalsSignature: eyJhbGciOiJFUzI1NiJ9.eyJ9.c2ln\n`, [
      expect.stringMatching(/^<dir>\/b\.party\.yaml:6:22: parties\.hospital-b\.approvalsKey\.jwk: x and y are not a point of the P-256 curve/) as unknown as string,
    ]],
    ["a project number YAML reads as a number (unquoted)", ROOM, PARTY_B + "projectNumber: 736019284451\n", [
      "<dir>/b.party.yaml:6:16: parties.hospital-b.projectNumber: expected the party's project number as a quoted string of digits, e.g. \"123456789012\" (its stack's project_number output), found the number 736019284451; quote it",
    ]],
    ["a project number that is not digits", ROOM.replace("    project: hospital-a-cleanroom\n", "    project: hospital-a-cleanroom\n    projectNumber: hospital-a\n"), PARTY_B, [
      "<dir>/room.yaml:8:20: parties.hospital-a.projectNumber: expected the party's project number as a quoted string of digits, e.g. \"123456789012\" (its stack's project_number output), found the string \"hospital-a\"",
    ]],
  ];

  test.each(cases)("%s", (_case, room, partyB, expected) => {
    expect(errorsOf(roomDir(room, { "b.party.yaml": partyB }))).toEqual(expected);
  });
});

describe("party names, operator facts and the party's data-pool condition", () => {
  const policy = loadPolicyFile(FIXTURE);

  test("given a party, then its pool is <room>-<party> within Google's 32 characters in its own project, its buckets prefixed by its project", () => {
    const a = partyDataPlaneNames(policy, "hospital-a");
    expect(a.poolId).toBe("oncology-consortium-hospital-a");
    expect(a.providerId).toBe("attestation-verifier");
    expect(a.project).toBe("hospital-a-cleanroom");
    expect(a.datasetBucket("scans", "stage2")).toBe("hospital-a-cleanroom-oncology-consortium-scans-s2");
    // Room-level names other than the pool and the project prefix stay as the single-project room's.
    expect(a.datasetKeyRing).toBe(dataPlaneNames(policy).datasetKeyRing);
    // A long room and party name is fitted, not truncated into a collision.
    const long = { ...policy, name: "a-very-long-room-nam", parties: [{ name: "party-number", project: "p-room-one" }, { name: "party-numbex", project: "p-room-two" }] };
    const [one, two] = ["party-number", "party-numbex"].map((p) => partyDataPlaneNames(long, p).poolId);
    expect([one.length <= 32, two.length <= 32, one !== two]).toEqual([true, true, true]);
    expect(dataPlaneNamesOf(policy, "labs").datasetBucket("labs", "stage1")).toBe("hospital-b-cleanroom-oncology-consortium-labs-s1");
    expect(() => partyDataPlaneNames(policy, "hospital-c")).toThrow('room "oncology-consortium" has no party "hospital-c"; its parties are hospital-a, hospital-b.');
  });

  test("given the room, then the operator facts are plain strings from the room file", () => {
    expect(operatorFacts(policy)).toEqual({
      room: "oncology-consortium",
      project: "consortium-operator",
      teeServiceAccountEmail: "dcr-oncology-consortium-cvm-sa@consortium-operator.iam.gserviceaccount.com",
      verifierServiceAccountEmail: platformNames(policy).verifierSaEmail,
      jobServiceAccountEmail: platformNames(policy).jobServiceSaEmail,
      jupyterServiceAccountEmail: platformNames(policy).jupyterSaEmail,
    });
  });

  const claims = (over: Partial<{ project: string; serviceAccount: string; imageDigest: string }> = {}) =>
    productionTdxClaims({ project: "consortium-operator", serviceAccount: operatorFacts(policy).teeServiceAccountEmail, imageDigest: EXAMPLE_DIGEST_B, ...over });

  test("given a production token from the operator's TEE, when each party's condition is evaluated by CEL, then both admit it", () => {
    for (const party of ["hospital-a", "hospital-b"]) {
      expect({ party, allowed: evaluateAttributeCondition(compilePartyAttributeCondition(policy, party), claims()).allowed }).toEqual({ party, allowed: true });
    }
  });

  test.each([
    ["a VM in the party's own project", withClaim(claims(), "submods.gce.project_id", "hospital-a-cleanroom")],
    ["another service account", withClaim(claims(), "google_service_accounts", ["intruder@consortium-operator.iam.gserviceaccount.com"])],
    ["a debug image", withClaim(withClaim(claims(), "dbgstat", "enabled"), "submods.confidential_space.support_attributes", undefined)],
    ["a tee-cmd override", withClaim(claims(), "submods.container.cmd_override", ["sh"])],
  ])("given %s, when a party's condition is evaluated by CEL, then it is refused", (_case, token) => {
    expect(evaluateAttributeCondition(compilePartyAttributeCondition(policy, "hospital-b"), token).allowed).toBe(false);
  });

  test("given hospital-a's approval allowing EXECUTION_STAGE on its image, then hospital-a's pool admits that override and hospital-b's does not", () => {
    const overridden = withClaim(claims(), "submods.container.env_override", { EXECUTION_STAGE: "2" });
    expect(evaluateAttributeCondition(compilePartyAttributeCondition(policy, "hospital-a"), overridden).allowed).toBe(true);
    expect(evaluateAttributeCondition(compilePartyAttributeCondition(policy, "hospital-b"), overridden).allowed).toBe(false);
    // Only for the approved image: another digest with the same override is refused by hospital-a too.
    const other = withClaim(overridden, "submods.container.image_digest", EXAMPLE_DIGEST_A);
    expect(evaluateAttributeCondition(compilePartyAttributeCondition(policy, "hospital-a"), other).allowed).toBe(false);
  });
});

describe("the verifier document of a consortium", () => {
  const policy = loadPolicyFile(FIXTURE);
  const { document } = compileVerifierPolicy(policy);

  test("given the fixture, then the document lists the parties, their datasets and key, and every approval's party", () => {
    expect(document.parties).toEqual([
      { name: "hospital-a", project: "hospital-a-cleanroom", datasets: ["scans"] },
      { name: "hospital-b", project: "hospital-b-cleanroom", datasets: ["labs"], approvalsKey: B_JWK, approvalsJws: policy.parties![1].approvalsSignature },
    ]);
    expect(document.approvals.map((a) => [a.imageDigest, a.datasets, a.party])).toEqual([
      [EXAMPLE_DIGEST_A, ["scans"], "hospital-a"],
      [EXAMPLE_DIGEST_B, ["scans"], "hospital-a"],
      [EXAMPLE_DIGEST_A, ["labs"], "hospital-b"],
    ]);
    expect(document.project).toBe("consortium-operator");
  });

  test("given a party, then its signed payload is the canonical JSON of its approvals exactly as the document carries them", () => {
    const payload = JSON.parse(partyApprovalsPayload(policy, "hospital-a"));
    expect(payload).toEqual({ room: "oncology-consortium", party: "hospital-a", approvals: document.approvals.filter((a) => a.party === "hospital-a") });
    expect(partyApprovalsPayload(policy, "hospital-a")).toMatch(/^\{"approvals":\[\{"approvedBy":/);
  });

  test("given a single-project room, then its document has no parties and no approval names a party", () => {
    const single = compileVerifierPolicy(examplePolicy()).document;
    expect("parties" in single).toBe(false);
    expect(single.approvals.every((a) => !("party" in a))).toBe(true);
  });
});
