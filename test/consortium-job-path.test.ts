/**
 * The job path of a consortium (issue 13): the job service's configuration sends each party's
 * datasets through the party's own pools, in the party's project, with the STS audience built
 * from the party's project number (which the operator cannot look up), and the party's own
 * signature repository, key and bucket. Checked against what the party's stack synthesizes.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Testing } from "cdktf";
import { RUNNER_SOURCE } from "../job-service/src/executor-base";
import { createCleanRoomStacks } from "../stacks";
import { stacksOptionsFromPolicy } from "../stacks/config";
import { datasetAudiences, parseJobServiceConfig, providerKey, type JobServiceConfig } from "../job-service/src/config";
import { JobServiceConfigCompileError, compileJobServiceConfig } from "../lib/policy/job-service-config";
import { loadPolicyFile } from "../lib/policy/load";
import { CleanRoomPolicy } from "../lib/policy/model";
import { manateeContract } from "../lib/policy/names";
import { evaluateAttributeCondition, productionTdxClaims } from "./cel";
import { SynthJson, iamGrants, resources, synthStack } from "./util";

const OPERATOR = "consortium-operator";
const NUMBERS: Record<string, string> = { "hospital-a": "418203957164", "hospital-b": "736019284451" };
const PROJECTS: Record<string, string> = { "hospital-a": "hospital-a-cleanroom", "hospital-b": "hospital-b-cleanroom" };
const DEPLOYMENT = {
  instanceTemplate: `projects/${OPERATOR}/global/instanceTemplates/oncology-tee-1`,
  userImagesRepository: `europe-west4-docker.pkg.dev/${OPERATOR}/oncology-jobs`,
  verifierUrl: "https://europe-west4-consortium-operator.cloudfunctions.net/oncology-verifier",
  quarantineBucket: "oncology-quarantine",
  releaseBucket: "oncology-release",
};

const shipped = (): CleanRoomPolicy => loadPolicyFile("stacks/consortium.cleanroom.yaml");
const withoutNumber = (policy: CleanRoomPolicy, party: string): CleanRoomPolicy => ({
  ...policy,
  parties: policy.parties!.map((p) => (p.name === party ? { name: p.name, project: p.project, approvalsKey: p.approvalsKey, approvalsSignature: p.approvalsSignature } : p)),
});

describe("the job service's configuration of a consortium", () => {
  const policy = shipped();
  const config: JobServiceConfig = compileJobServiceConfig(policy, DEPLOYMENT);
  const stacks = createCleanRoomStacks(Testing.app(), policy, stacksOptionsFromPolicy(policy));
  const partyJson: Record<string, SynthJson> = Object.fromEntries(Object.entries(stacks.parties).map(([p, s]) => [p, synthStack(s)]));

  test("given the shipped room, then its parties' project numbers are loaded from the room file and the party file", () => {
    expect(Object.fromEntries(policy.parties!.map((p) => [p.name, p.projectNumber]))).toEqual(NUMBERS);
  });

  test("given each party dataset, then every access path is the party's pool in the party's project, with the STS audience of the party's project number", () => {
    const datasets = config.datasets.filter((d) => d.party !== undefined);
    expect(datasets.map((d) => [d.name, d.party])).toEqual([["scans", "hospital-a"], ["pathology", "hospital-a"], ["outcomes", "hospital-b"]]);
    for (const d of datasets) {
      expect(d.access.length).toBeGreaterThan(0);
      for (const path of d.access) {
        expect(path.project).toBe(PROJECTS[d.party!]);
        expect(path.audience).toBe(
          `//iam.googleapis.com/projects/${NUMBERS[d.party!]}/locations/global/workloadIdentityPools/${path.pool}/providers/${path.provider}`,
        );
      }
    }
    // outcomes has an approver key: a standing path (the shared digest) and a per-job path, both in hospital-b's project.
    expect(config.datasets.find((d) => d.name === "outcomes")!.access.map((p) => p.kind)).toEqual(["standing", "job"]);
  });

  test("given each access path, then the party's stack has that pool and provider with the same condition and mapping, and grants the path's principal", () => {
    for (const d of config.datasets) {
      const json = partyJson[d.party!];
      const pools = resources(json, "google_iam_workload_identity_pool").map(([, c]) => c.workload_identity_pool_id);
      const members = iamGrants(json).map((g) => g.member);
      for (const path of d.access) {
        expect(pools).toContain(path.pool);
        const provider = config.providers[providerKey(path.pool, path.provider)];
        const same = resources(json, "google_iam_workload_identity_pool_provider").filter(
          ([, c]) => c.attribute_condition === provider.attributeCondition && c.workload_identity_pool_provider_id === path.provider,
        );
        expect({ dataset: d.name, kind: path.kind, providers: same.length }).toEqual({ dataset: d.name, kind: path.kind, providers: 1 });
        expect(same[0][1].attribute_mapping).toEqual(provider.attributeMapping);
        const suffix = path.principal.kind === "group" ? `/group/${path.principal.value}` : `/attribute.${path.principal.attribute}/${path.principal.value}`;
        expect(members.some((m) => m.includes(`/workloadIdentityPools/${path.pool}${suffix}`))).toBe(true);
      }
    }
  });

  test("given each party dataset, then its signature repository, key and stage-2 bucket are the ones its party's stack creates, in the party's project", () => {
    for (const d of config.datasets) {
      const json = partyJson[d.party!];
      expect(d.signatureRepository).toMatch(new RegExp(`^europe-west4-docker\\.pkg\\.dev/${PROJECTS[d.party!]}/`));
      const repos = resources(json, "google_artifact_registry_repository").map(([, c]) => c.repository_id);
      expect(repos).toContain(d.signatureRepository.split("/").pop());
      expect(d.holdings!.project).toBe(PROJECTS[d.party!]);
      expect(resources(json, "google_storage_bucket").map(([, c]) => c.name)).toContain(d.holdings!.stage2Bucket);
      expect(resources(json, "google_kms_crypto_key").map(([, c]) => c.name)).toContain(d.holdings!.key);
      expect(resources(json, "google_kms_key_ring").map(([, c]) => c.name)).toContain(d.holdings!.keyRing);
    }
  });

  test("given a production token of the operator's TEE for the shared digest, when each party's standing condition is evaluated by CEL, then it is admitted", () => {
    const teeSa = manateeContract("oncology", OPERATOR).teeServiceAccountEmail;
    const claims = productionTdxClaims({ project: OPERATOR, serviceAccount: teeSa, imageDigest: "sha256:1580f84f1585dbecd84479ae867b6d586de31a19bbc9e551f2fbc20f9df59ec9" });
    for (const d of config.datasets) {
      const standing = d.access.find((p) => p.kind === "standing")!;
      expect({ dataset: d.name, allowed: evaluateAttributeCondition(config.providers[providerKey(standing.pool, standing.provider)].attributeCondition, claims).allowed }).toEqual({ dataset: d.name, allowed: true });
    }
  });

  test("given a job over datasets of both parties, then the runner's audiences need one exchange per party's pool (hospital-a's two datasets share one)", () => {
    const audiences = datasetAudiences(config);
    expect(audiences.scans).toEqual(audiences.pathology);
    expect(audiences.scans).toHaveLength(1);
    expect(audiences.scans[0]).toContain(`/projects/${NUMBERS["hospital-a"]}/`);
    expect(audiences.outcomes[0]).toContain(`/projects/${NUMBERS["hospital-b"]}/`);
    expect(new Set([audiences.scans[0], audiences.outcomes[0]]).size).toBe(2);
  });

  test("given a job over scans, pathology and outcomes, when the TEE runner writes its credentials, then one config per pool: hospital-a's two datasets share one, each naming its audience and the default token", () => {
    const dir = mkdtempSync(join(tmpdir(), "runner-"));
    writeFileSync(join(dir, "runner.py"), RUNNER_SOURCE);
    // What the executor base's ENV carries: compact JSON (the deploy refuses settings with spaces).
    const env = JSON.stringify(datasetAudiences(config));
    expect(env).not.toContain(" ");
    const python = `import sys, json, os; sys.path.insert(0, ${JSON.stringify(dir)}); import runner
out = runner.credential_configs(["scans", "pathology", "outcomes"], json.loads(sys.argv[1]), ${JSON.stringify(join(dir, "creds"))})
sys.stdout.write(json.dumps({"map": out, "files": {p: json.load(open(p)) for p in sorted(set(f for fs in out.values() for f in fs))}}))`;
    const { map, files } = JSON.parse(execFileSync("python3", ["-c", python, env], { encoding: "utf8" })) as { map: Record<string, string[]>; files: Record<string, any> };
    expect(map.scans).toEqual(map.pathology);
    expect(map.outcomes).toHaveLength(2); // hospital-b's pool (standing) and outcomes' per-job pool
    expect(Object.keys(files)).toHaveLength(3);
    for (const [dataset, paths] of Object.entries(map)) {
      expect(paths.map((f) => files[f].audience)).toEqual(datasetAudiences(config)[dataset]);
    }
    for (const file of Object.values(files)) {
      expect(file).toEqual({
        type: "external_account",
        audience: expect.stringMatching(/^\/\/iam\.googleapis\.com\/projects\/(418203957164|736019284451)\//),
        subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
        token_url: "https://sts.googleapis.com/v1/token",
        credential_source: { file: "/run/container_launcher/attestation_verifier_claims_token" },
      });
    }
  });

  test("given the compiled config, then the job service accepts it; with a party path's audience removed or forged, it refuses it", () => {
    expect(parseJobServiceConfig(JSON.parse(JSON.stringify(config))).datasets).toHaveLength(3);
    const tampered = structuredClone(config) as any;
    delete tampered.datasets[2].access[1].audience;
    expect(() => parseJobServiceConfig(tampered)).toThrow("job service config: datasets[2].access: expected an audience on every path of party hospital-b's dataset");
    const forged = structuredClone(config) as any;
    forged.datasets[0].access[0].audience = "https://sts.googleapis.com";
    expect(() => parseJobServiceConfig(forged)).toThrow("datasets[0].access[0].audience: expected //iam.googleapis.com/projects/<number>/");
  });
});

describe("a consortium without a party's project number", () => {
  test("given hospital-b's projectNumber missing, when the stacks' options are built, then the error names the party, the field and where to find it", () => {
    const policy = withoutNumber(shipped(), "hospital-b");
    expect(() => stacksOptionsFromPolicy(policy, "stacks/consortium.cleanroom.yaml")).toThrow(JobServiceConfigCompileError);
    expect(() => stacksOptionsFromPolicy(policy, "stacks/consortium.cleanroom.yaml")).toThrow(
      /^stacks\/consortium\.cleanroom\.yaml: parties\.hospital-b\.projectNumber: the operator's workloads stack needs party "hospital-b"'s project number \(project hospital-b-cleanroom\).*project_number output/s,
    );
  });

  test("given hospital-a's projectNumber missing, when the job service config is compiled, then it is refused naming hospital-a (no audience is guessed)", () => {
    expect(() => compileJobServiceConfig(withoutNumber(shipped(), "hospital-a"), DEPLOYMENT)).toThrow(/parties\.hospital-a\.projectNumber/);
  });
});
