import { CleanRoomCluster } from "../lib/cluster";
import { CleanRoomNetwork } from "../lib/network";
import { manateeContract } from "../lib/policy/names";
import { ImageRegistry, ImageRegistryProps } from "../lib/registry";
import { SynthJson, examplePolicy, iamGrants, resourceConfigs, synthWith } from "./util";

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
  beforeAll(() => {
    json = synthRegistry({}, (r) => (registry = r));
    users = repo(json, contract.userImagesRepository);
    services = repo(json, "dcr-insurance-study-images");
  });

  test("given the example policy, then the user images repository is exactly the one the reconciler hard-codes", () => {
    expect(users).toMatchObject({ repository_id: "dcr-insurance-study-user-images", location: "us", format: "DOCKER" });
    expect(registry.userImages.url).toBe("us-docker.pkg.dev/acme-clean-room/dcr-insurance-study-user-images");
  });

  test("then the service images repository sits in the room's region, inside the residency set", () => {
    expect(services).toMatchObject({ location: "us-central1", format: "DOCKER", mode: "STANDARD_REPOSITORY" });
    expect(registry.serviceImages.url).toBe("us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-images");
  });

  test("then cleanup policies act for real, tags stay mutable for ManaTEE's `latest`, and scanning is inherited", () => {
    for (const r of [users, services]) {
      expect(r.cleanup_policy_dry_run).toBe(false);
      expect(r.cleanup_policies.length).toBeGreaterThan(0);
      expect(r.docker_config).toEqual({ immutable_tags: false });
      expect(r.vulnerability_scanning_config).toEqual({ enablement_config: "INHERITED" });
      expect(r.labels).toMatchObject({ "clean-room": "insurance-study", "managed-by": "manatee-cdktf" });
    }
  });

  test("then per-job images go after 30 days, but the executor base every job builds FROM is kept", () => {
    const job = (ageDays: number) => ({ pkg: "alice-2f1c9a4e-8c1e-11ef-9f2b-0242ac120002", tags: ["latest"], ageDays, rank: 0 });
    expect(deleted(users, job(5))).toBe(false);
    expect(deleted(users, job(31))).toBe(true);
    expect(deleted(users, { pkg: contract.images.executorBase, tags: ["latest"], ageDays: 400, rank: 0 })).toBe(false);
    expect(deleted(users, { pkg: contract.images.executorBase, tags: [], ageDays: 400, rank: 3 })).toBe(false);
    expect(deleted(users, { pkg: contract.images.executorBase, tags: [], ageDays: 400, rank: 9 })).toBe(true);
    expect(deleted(users, { pkg: "alice-cache", tags: [], ageDays: 8, rank: 4 })).toBe(true);
  });

  test("then service images keep their last five versions and lose older untagged ones after a week", () => {
    expect(deleted(services, { pkg: contract.images.api, tags: ["latest"], ageDays: 300, rank: 0 })).toBe(false);
    expect(deleted(services, { pkg: contract.images.api, tags: [], ageDays: 300, rank: 4 })).toBe(false);
    expect(deleted(services, { pkg: contract.images.api, tags: [], ageDays: 8, rank: 5 })).toBe(true);
    expect(deleted(services, { pkg: contract.images.api, tags: [], ageDays: 2, rank: 5 })).toBe(false);
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
      registry.userImages.grantPush("serviceAccount:dcr-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com");
      registry.userImages.grantPull(`serviceAccount:${contract.teeServiceAccountEmail}`);
      registry.serviceImages.grantPull(cluster.nodeServiceAccountMember);
    });
    const grants = iamGrants(json).filter((g) => g.role.startsWith("roles/artifactregistry."));
    expect(grants.every((g) => g.type === "google_artifact_registry_repository_iam_member")).toBe(true);
    const summary = grants.map((g) => [g.role, g.config.location, g.config.repository.replace(/_[0-9A-F]+\.name/, ".name"), g.member]);
    expect(summary).toEqual(
      expect.arrayContaining([
        [
          "roles/artifactregistry.writer",
          "us",
          "${google_artifact_registry_repository.registry_user-images_repository.name}",
          "serviceAccount:dcr-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com",
        ],
        [
          "roles/artifactregistry.reader",
          "us",
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
    expect(grants).toHaveLength(3);
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
  test("given immutable tags, no scanning and a shorter retention, then the repositories follow", () => {
    const json = synthRegistry({
      vulnerabilityScanning: false,
      serviceImages: { immutableTags: true, kmsKeyName: "projects/acme-clean-room/locations/us-central1/keyRings/ar/cryptoKeys/images" },
      userImages: { jobImageRetentionDays: 7 },
    });
    const services = repo(json, "dcr-insurance-study-images");
    const users = repo(json, contract.userImagesRepository);
    expect(services.docker_config).toEqual({ immutable_tags: true });
    expect(services.kms_key_name).toBe("projects/acme-clean-room/locations/us-central1/keyRings/ar/cryptoKeys/images");
    expect(users.vulnerability_scanning_config).toEqual({ enablement_config: "DISABLED" });
    expect(deleted(users, { pkg: "bob-job", tags: ["latest"], ageDays: 8, rank: 0 })).toBe(true);
  });

  test("given a residency set the `us` multi-region does not cover, then the user images location is refused", () => {
    const room = examplePolicy({ region: "europe-west4", zone: "europe-west4-a", residency: ["europe-west4"] });
    expect(() => synthWith((stack) => new ImageRegistry(stack, "registry", { room }))).toThrow(
      'userImages.location "us" lies outside the residency set [europe-west4]. ' +
        "ManaTEE's reconciler hard-codes us-docker.pkg.dev; if \"us\" is not acceptable, choose a location in the residency set " +
        "(or its multi-region) and run a reconciler whose registry.go is patched to match.",
    );
    expect(() => synthWith((stack) => new ImageRegistry(stack, "registry", { room, userImages: { location: "europe" } }))).not.toThrow();
  });

  test("given service images outside the residency set or a zero retention, then the field is named", () => {
    expect(build({ serviceImages: { location: "us-east1" } })).toThrow(
      'serviceImages.location "us-east1" lies outside the residency set [us-central1]. ' +
        'Choose a location in the residency set, or add its region to "residency" if the data owner allows it.',
    );
    expect(build({ userImages: { jobImageRetentionDays: 0 } })).toThrow(
      "userImages.jobImageRetentionDays 0 is not a positive whole number. Use 1 or more.",
    );
  });
});
