import { CleanRoomCluster } from "../lib/constructs/platform/cluster";
import { CleanRoomNetwork } from "../lib/constructs/platform/network";
import { manateeContract } from "../lib/policy/names";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ContainerImageBuild, ContainerImageBuildProps, DeployImageBuilder, ImageRegistry, ImageRegistryProps } from "../lib/constructs/platform/registry";
import { directoryHash } from "../lib/constructs/verifier";
import { SynthJson, dataSources, examplePolicy, iamGrants, resourceConfigs, resources, synthWith } from "./util";

const policy = examplePolicy();
const contract = manateeContract(policy.name, policy.project);

function synthRegistry(props: Partial<ImageRegistryProps> = {}, capture?: (r: ImageRegistry) => void): SynthJson {
  return synthWith((stack) => {
    const registry = new ImageRegistry(stack, "registry", { room: policy, ...props });
    capture?.(registry);
  });
}

function build(props: Partial<ImageRegistryProps>): () => void {
  return () => synthRegistry(props);
}

const repo = (json: SynthJson, id: string) => resourceConfigs(json, "google_artifact_registry_repository").find((r) => r.repository_id === id);

// ---- Artifact Registry cleanup: which image versions a repository's policies delete ----

interface ImageVersion {
  readonly pkg: string;
  readonly tags: readonly string[];
  readonly ageDays: number;
  /** 0 for the newest version of its package. */
  readonly rank: number;
}

const seconds = (d: string) => Number(d.replace(/s$/, "")) / 86_400;

function matches(condition: any, v: ImageVersion): boolean {
  const state = condition.tag_state ?? "ANY";
  if (state === "TAGGED" && v.tags.length === 0) return false;
  if (state === "UNTAGGED" && v.tags.length > 0) return false;
  if (condition.package_name_prefixes && !condition.package_name_prefixes.some((p: string) => v.pkg.startsWith(p))) return false;
  if (condition.older_than && !(v.ageDays > seconds(condition.older_than))) return false;
  if (condition.newer_than && !(v.ageDays < seconds(condition.newer_than))) return false;
  return true;
}

/** Cleanup semantics: a version is deleted when a DELETE policy matches it and no KEEP policy does (KEEP wins). */
function deleted(repository: any, v: ImageVersion): boolean {
  if (repository.cleanup_policy_dry_run !== false) return false;
  const policies: any[] = repository.cleanup_policies ?? [];
  const kept = policies.some((p) => {
    if (p.action !== "KEEP") return false;
    if (p.most_recent_versions) {
      const prefixes: string[] | undefined = p.most_recent_versions.package_name_prefixes;
      return (!prefixes || prefixes.some((x) => v.pkg.startsWith(x))) && v.rank < p.most_recent_versions.keep_count;
    }
    return matches(p.condition ?? {}, v);
  });
  return !kept && policies.some((p) => p.action === "DELETE" && matches(p.condition ?? {}, v));
}

describe("ImageRegistry with defaults", () => {
  let json: SynthJson;
  let registry!: ImageRegistry;
  let users: any;
  let services: any;
  let bases: any;
  beforeAll(() => {
    json = synthRegistry({}, (r) => (registry = r));
    users = repo(json, contract.userImagesRepository);
    services = repo(json, "dcr-insurance-study-images");
    bases = repo(json, "dcr-insurance-study-executor-bases");
  });

  test("given the example policy, then all three repositories sit in the room's region — never the `us` multi-region", () => {
    for (const r of [users, services, bases]) expect(r).toMatchObject({ location: "us-central1", format: "DOCKER", mode: "STANDARD_REPOSITORY" });
    expect(resourceConfigs(json, "google_artifact_registry_repository").map((r) => r.location)).not.toContain("us");
    expect(registry.userImages.url).toBe("us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-user-images");
    expect(registry.serviceImages.url).toBe("us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-images");
    expect(registry.executorBases.url).toBe("us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-executor-bases");
  });

  test("then deploy-built images have immutable tags (a content-hash tag names one image); job images are launched by digest", () => {
    expect(services.docker_config).toEqual({ immutable_tags: true });
    expect(bases.docker_config).toEqual({ immutable_tags: true });
    expect(users.docker_config).toEqual({ immutable_tags: false });
  });

  test("then cleanup policies act for real and scanning is inherited", () => {
    for (const r of [users, services, bases]) {
      expect(r.cleanup_policy_dry_run).toBe(false);
      expect(r.cleanup_policies.length).toBeGreaterThan(0);
      expect(r.vulnerability_scanning_config).toEqual({ enablement_config: "INHERITED" });
      expect(r.labels).toMatchObject({ "clean-room": "insurance-study", "managed-by": "manatee-cdktf" });
    }
  });

  test("then per-job images go after 30 days", () => {
    const job = (ageDays: number) => ({ pkg: "job-2f1c9a4e-8c1e-41ef-9f2b-0242ac120002", tags: ["latest"], ageDays, rank: 0 });
    expect(deleted(users, job(5))).toBe(false);
    expect(deleted(users, job(31))).toBe(true);
    expect(deleted(users, { pkg: "job-x", tags: [], ageDays: 8, rank: 4 })).toBe(true);
  });

  test("then service images and executor bases keep their last five versions and lose older untagged ones after a week", () => {
    for (const r of [services, bases]) {
      expect(deleted(r, { pkg: "job-service", tags: ["5b0a777c"], ageDays: 300, rank: 0 })).toBe(false);
      expect(deleted(r, { pkg: "job-service", tags: [], ageDays: 300, rank: 4 })).toBe(false);
      expect(deleted(r, { pkg: "job-service", tags: [], ageDays: 8, rank: 5 })).toBe(true);
      expect(deleted(r, { pkg: "job-service", tags: [], ageDays: 2, rank: 5 })).toBe(false);
    }
  });

  test("snapshot", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("ImageRegistry grants", () => {
  test("given pull and push grants, then each is repository-level on one repository, never project-wide", () => {
    const json = synthWith((stack) => {
      const registry = new ImageRegistry(stack, "registry", { room: policy });
      const network = new CleanRoomNetwork(stack, "network", { room: policy });
      const cluster = new CleanRoomCluster(stack, "cluster", { room: policy, network });
      registry.userImages.grantPull(`serviceAccount:${contract.teeServiceAccountEmail}`);
      registry.serviceImages.grantPull(cluster.nodeServiceAccountMember);
    });
    const grants = iamGrants(json).filter((g) => g.role.startsWith("roles/artifactregistry."));
    expect(grants.every((g) => g.type === "google_artifact_registry_repository_iam_member")).toBe(true);
    const summary = grants.map((g) => [g.role, g.config.location, g.config.repository.replace(/_[0-9A-F]+\.name/, ".name"), g.member]);
    expect(summary).toEqual(
      expect.arrayContaining([
        [
          "roles/artifactregistry.reader",
          "us-central1",
          "${google_artifact_registry_repository.registry_user-images_repository.name}",
          `serviceAccount:${contract.teeServiceAccountEmail}`,
        ],
        [
          "roles/artifactregistry.reader",
          "us-central1",
          "${google_artifact_registry_repository.registry_service-images_repository.name}",
          expect.stringMatching(/^serviceAccount:\$\{google_service_account\./),
        ],
      ]),
    );
    expect(grants).toHaveLength(2);
  });

  test("given a condition, then the pull grant carries it, and the same grant twice is one binding", () => {
    const condition = { title: "until-2027", description: "Temporary reader", expression: 'request.time < timestamp("2027-01-01T00:00:00Z")' };
    const json = synthRegistry({}, (r) => {
      r.userImages.grantPull("group:auditors@example.org", condition);
      r.userImages.grantPull("group:auditors@example.org", { condition });
    });
    const grants = resourceConfigs(json, "google_artifact_registry_repository_iam_member");
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatchObject({ role: "roles/artifactregistry.reader", member: "group:auditors@example.org", condition });
  });

  test("given a public or malformed member, then the grant is refused", () => {
    expect(() => synthRegistry({}, (r) => r.userImages.grantPull("allUsers"))).toThrow(
      'member "allUsers" would make clean-room data public. Grant a named principal ' +
        "(user:, group:, serviceAccount:, or a principalSet of one approved image digest).",
    );
    expect(() => synthRegistry({}, (r) => r.serviceImages.grantPush("ci@acme.iam.gserviceaccount.com"))).toThrow(
      'member "ci@acme.iam.gserviceaccount.com" is not an IAM principal. Prefix it with its kind, e.g. "serviceAccount:sa@project.iam.gserviceaccount.com".',
    );
  });
});

describe("ImageRegistry options and validation", () => {
  test("given mutable tags, no scanning, a key and a shorter retention, then the repositories follow", () => {
    const json = synthRegistry({
      vulnerabilityScanning: false,
      serviceImages: { immutableTags: false, kmsKeyName: "projects/acme-clean-room/locations/us-central1/keyRings/ar/cryptoKeys/images" },
      userImages: { jobImageRetentionDays: 7 },
    });
    const services = repo(json, "dcr-insurance-study-images");
    const users = repo(json, contract.userImagesRepository);
    expect(services.docker_config).toEqual({ immutable_tags: false });
    expect(services.kms_key_name).toBe("projects/acme-clean-room/locations/us-central1/keyRings/ar/cryptoKeys/images");
    expect(users.vulnerability_scanning_config).toEqual({ enablement_config: "DISABLED" });
    expect(deleted(users, { pkg: "job-x", tags: ["latest"], ageDays: 8, rank: 0 })).toBe(true);
  });

  test("given a European room, then every repository follows its region", () => {
    const room = examplePolicy({ region: "europe-west4", zone: "europe-west4-a", residency: ["europe-west4"] });
    const json = synthWith((stack) => new ImageRegistry(stack, "registry", { room }));
    expect(resourceConfigs(json, "google_artifact_registry_repository").map((r) => r.location)).toEqual(["europe-west4", "europe-west4", "europe-west4"]);
  });

  test("given any repository outside the residency set (a multi-region included), then the field is named", () => {
    expect(build({ serviceImages: { location: "us-east1" } })).toThrow(
      'serviceImages.location "us-east1" lies outside the residency set [us-central1]. ' +
        'Choose a location in the residency set, or add its region to "residency" if the data owner allows it.',
    );
    expect(build({ userImages: { location: "us" } })).toThrow('userImages.location "us" lies outside the residency set [us-central1].');
    expect(build({ executorBases: { location: "europe-west4" } })).toThrow('executorBases.location "europe-west4" lies outside the residency set');
    expect(build({ userImages: { jobImageRetentionDays: 0 } })).toThrow("userImages.jobImageRetentionDays 0 is not a positive whole number. Use 1 or more.");
  });
});

// ---- images built by the deploy ----

const EXECUTOR_DIR = path.resolve(__dirname, "..", "job-service", "executor");

function synthBuild(props: Partial<Omit<ContainerImageBuildProps, "repository" | "builder">> = {}) {
  let build!: ContainerImageBuild;
  let builder!: DeployImageBuilder;
  const json = synthWith((stack) => {
    const registry = new ImageRegistry(stack, "registry", { room: policy });
    builder = new DeployImageBuilder(stack, "deploy-builder", { room: policy, targets: [registry.serviceImages, registry.executorBases] });
    build = new ContainerImageBuild(stack, "image", {
      sourceDir: EXECUTOR_DIR,
      repository: registry.executorBases,
      imageName: "executor-base",
      builder,
      ...props,
    });
    // A consumer of the digest: the data source exists only when asked for.
    new (require("cdktf").TerraformOutput)(stack, "digest", { value: build.digest });
  });
  return { json, build, builder };
}

describe("DeployImageBuilder", () => {
  test("given the deploy's targets, then its account pushes to them only and uses its own bucket: no user images, no project role", () => {
    const { json } = synthBuild();
    const [[saId]] = resources(json, "google_service_account").filter(([, c]) => c.account_id === "dcr-insurance-study-deploy");
    const member = `\${google_service_account.${saId}.member}`;
    const grants = iamGrants(json).filter((g) => g.member === member);
    expect(grants.map((g) => [g.type, g.role, (g.config.repository ?? g.config.bucket).replace(/_[0-9A-F]+\.name/, ".name")]).sort()).toEqual(
      [
        ["google_artifact_registry_repository_iam_member", "roles/artifactregistry.writer", "${google_artifact_registry_repository.registry_executor-bases_repository.name}"],
        ["google_artifact_registry_repository_iam_member", "roles/artifactregistry.writer", "${google_artifact_registry_repository.registry_service-images_repository.name}"],
        ["google_storage_bucket_iam_member", "roles/storage.objectUser", "${google_storage_bucket.deploy-builder_bucket.name}"],
      ].sort(),
    );
    const bucket = resourceConfigs(json, "google_storage_bucket").find((b) => b.labels?.use === "deploy-builds");
    expect(bucket).toMatchObject({ location: "us-central1", uniform_bucket_level_access: true, public_access_prevention: "enforced" });
    expect(bucket.retention_policy).toBeUndefined();
  });

  test("given no targets, then the builder is refused", () => {
    expect(() => synthWith((stack) => new DeployImageBuilder(stack, "b", { room: policy, targets: [] }))).toThrow(
      'DeployImageBuilder "targets" is empty: name the repositories the deploy pushes images to.',
    );
  });
});

describe("ContainerImageBuild", () => {
  let json: SynthJson;
  let build: ContainerImageBuild;
  let data: any;
  beforeAll(() => {
    ({ json, build } = synthBuild());
    [data] = resourceConfigs(json, "terraform_data");
  });

  test("given a shipped directory, then the tag is its content hash and names the image in the room's repository", () => {
    const hash = directoryHash(EXECUTOR_DIR);
    expect(build.sourceHash).toBe(hash);
    expect(build.imageReference).toBe(`us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-executor-bases/executor-base:${hash.slice(0, 32)}`);
  });

  test("then a terraform_data resource builds it with Cloud Build, replaced exactly when the content hash changes", () => {
    expect(data.triggers_replace).toEqual({ image: build.imageReference });
    const [provisioner] = data.provisioner;
    const exec = provisioner["local-exec"];
    expect(exec.interpreter).toEqual(["/bin/sh", "-c"]);
    expect(exec.command).toMatch(/^gcloud artifacts docker images describe "\$IMAGE" .*\|\| gcloud builds submit "\$SOURCE" --tag "\$IMAGE" --project "\$PROJECT" --region "\$REGION" --service-account "\$BUILDER" --gcs-source-staging-dir "\$STAGING" --gcs-log-dir "\$LOGS"/);
    expect(exec.environment).toEqual({
      IMAGE: build.imageReference,
      SOURCE: expect.stringMatching(new RegExp(`^assets/[^/]+/${build.sourceHash}$`)),
      PROJECT: "acme-clean-room",
      REGION: "us-central1",
      BUILDER: "projects/acme-clean-room/serviceAccounts/dcr-insurance-study-deploy@acme-clean-room.iam.gserviceaccount.com",
      STAGING: "gs://acme-clean-room-insurance-study-deploy-builds/sources",
      LOGS: "gs://acme-clean-room-insurance-study-deploy-builds/logs",
      TIMEOUT: "1800s",
    });
  });

  test("then the digest is read from Artifact Registry after the build, never before", () => {
    const [[, image]] = dataSources(json, "google_artifact_registry_docker_image");
    expect(image).toMatchObject({ location: "us-central1", repository_id: "dcr-insurance-study-executor-bases", image_name: `executor-base:${build.tag}` });
    expect(image.depends_on).toEqual([expect.stringMatching(/^terraform_data\./)]);
    expect(json.output?.digest.value).toMatch(/^\$\{element\(split\("@", data\.google_artifact_registry_docker_image\.[^.]+\.self_link\), 1\)\}$/);
  });

  test("given the same files in another directory, then the tag is the same; a changed file changes it", () => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), "image-context-"));
    for (const f of fs.readdirSync(EXECUTOR_DIR)) fs.copyFileSync(path.join(EXECUTOR_DIR, f), path.join(copy, f));
    expect(synthBuild({ sourceDir: copy }).build.tag).toBe(build.tag);
    fs.appendFileSync(path.join(copy, "Dockerfile"), "\n# changed\n");
    expect(synthBuild({ sourceDir: copy }).build.tag).not.toBe(build.tag);
  });

  test("given a directory without a Dockerfile or a bad name, then the prop and the fix are named", () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "image-context-"));
    expect(() => synthBuild({ sourceDir: empty })).toThrow(/ContainerImageBuild "sourceDir" ".*" has no Dockerfile at its root\. .*node job-service\/scripts\/build\.js/);
    expect(() => synthBuild({ imageName: "Executor Base" })).toThrow('ContainerImageBuild "imageName" "Executor Base" is not an image name.');
    expect(() => synthBuild({ timeoutSeconds: 5 })).toThrow('ContainerImageBuild "timeoutSeconds" 5 is out of range. Use 60 to 86400 seconds.');
    expect(() => synthBuild({ machineType: "big; rm -rf /" })).toThrow('ContainerImageBuild "machineType" "big; rm -rf /" is not a machine type');
  });
});
