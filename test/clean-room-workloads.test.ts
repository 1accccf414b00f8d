/**
 * The example room deployed with its own job service, checked on the synthesized JSON of both
 * stacks: no ManaTEE API/reconciler image and no Cloud SQL anywhere, build ≠ launch identities,
 * job VMs only from the room's template (no external IP), and a job service configuration that
 * the job service's own parser accepts. Each property is checked by a small function that a
 * tampered copy of the JSON then fails, and where the room's guardrails cover the property, the
 * guardrails refuse the tampered copy too.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Testing } from "cdktf";
import * as YAML from "yaml";
import { checkContext, checkTerraform } from "../lib/checks";
import { defaultImageSources, executorBuildContext } from "../lib/constructs/clean-room-workloads";
import { TEE_LAUNCHER_PERMISSIONS, jobInstancePrefix } from "../lib/constructs/workloads/job-service";
import { platformNames } from "../lib/policy/names";
import { directoryHash } from "../lib/constructs/verifier";
import { createCleanRoomStacks } from "../stacks";
import { stacksOptionsFromPolicy } from "../stacks/config";
import { JobServiceConfigError, parseJobServiceConfig } from "../job-service/src/config";
import { RUNNER_PATH, RUNNER_SOURCE } from "../job-service/src/executor-base";
import { SynthJson, examplePolicy, iamGrants, resourceConfigs, resources, synthStack } from "./util";

const FIXTURES = path.join(__dirname, "fixtures");
const policy = examplePolicy();
const names = platformNames(policy);
const BUILDER_ID = "dcr-insurance-study-build";

function synthRoom() {
  const options = stacksOptionsFromPolicy(policy);
  const stacks = createCleanRoomStacks(Testing.app(), policy, {
    ...options,
    platform: { ...options.platform, verifier: { sourceDir: path.join(FIXTURES, "verifier-build") } },
    workloads: { ...options.workloads, imageSources: { jobService: path.join(FIXTURES, "job-service-build") } },
    checks: false,
  });
  stacks.platform.prepareStack();
  stacks.workloads.prepareStack();
  return { stacks, platform: synthStack(stacks.platform), workloads: synthStack(stacks.workloads) };
}

const clone = (json: SynthJson): SynthJson => JSON.parse(JSON.stringify(json));
const errorsOf = (json: SynthJson, ruleId: string) =>
  checkTerraform(json as any, checkContext({ policy, now: new Date("2026-12-01T00:00:00Z") })).filter((f) => f.level === "error" && f.ruleId === ruleId);

/** `${google_service_account.<id>.member|name}` of the account with this account id. */
function account(json: SynthJson, accountId: string) {
  const [id] = resources(json, "google_service_account").find(([, c]) => c.account_id === accountId)!;
  return { id, member: `\${google_service_account.${id}.member}`, name: `\${google_service_account.${id}.name}` };
}

// ---- the properties, as functions over synthesized JSON (empty = holds)

/** Images of Kubernetes workloads and of the hub's single-user pods that are ManaTEE's Go services (or their helpers). */
function manateeServiceImages(workloads: SynthJson): string[] {
  const images: string[] = [];
  for (const [type, byId] of Object.entries(workloads.resource ?? {})) {
    if (!type.startsWith("kubernetes_")) continue;
    for (const c of Object.values(byId)) for (const container of c.spec?.template?.spec?.container ?? []) images.push(container.image);
  }
  for (const release of resourceConfigs(workloads, "helm_release")) {
    const su = YAML.parse(release.values[0]).singleuser;
    images.push(`${su.image.name}:${su.image.tag}`);
  }
  return images.filter((i) => /manatee-(api|reconciler)|reconciler|kaniko|cloud-sql-proxy/.test(i));
}

function cloudSqlResources(json: SynthJson): string[] {
  return Object.keys(json.resource ?? {}).filter((t) => t.startsWith("google_sql_"));
}

/** What the builder may do beyond reading workspaces and bases, pushing job images and writing logs. */
function builderProblems(platform: SynthJson): string[] {
  const builder = account(platform, BUILDER_ID);
  const tee = account(platform, "dcr-insurance-study-cvm-sa");
  const problems: string[] = [];
  const customPermissions = (role: string) => {
    const m = /^\$\{google_project_iam_custom_role\.([^.]+)\.name\}$/.exec(role);
    return m ? ((platform.resource?.google_project_iam_custom_role?.[m[1]]?.permissions as string[]) ?? []) : [];
  };
  for (const g of iamGrants(platform).filter((x) => x.member === builder.member)) {
    if (g.type === "google_project_iam_member") problems.push(`project role ${g.role}`);
    if (/^roles\/(compute\.|iam\.serviceAccount|owner|editor)/.test(g.role)) problems.push(`role ${g.role}`);
    if (customPermissions(g.role).some((p) => p.startsWith("compute."))) problems.push(`custom role with compute permissions`);
  }
  for (const g of iamGrants(platform).filter((x) => x.config.service_account_id === tee.name && x.member === builder.member)) {
    problems.push(`${g.role} on the TEE account`);
  }
  return problems;
}

/** Accounts (by resource) the job service may act as, and actAs grants wider than one account. */
function jobServiceActAs(platform: SynthJson): { targets: string[]; projectWide: string[] } {
  const job = account(platform, names.jobServiceSaId);
  const actAs = iamGrants(platform).filter((g) => g.member === job.member && g.role === "roles/iam.serviceAccountUser");
  return {
    targets: actAs.filter((g) => g.type.startsWith("google_service_account_iam_")).map((g) => g.config.service_account_id).sort(),
    projectWide: actAs.filter((g) => !g.type.startsWith("google_service_account_iam_")).map((g) => g.type),
  };
}

function externalIpProblems(platform: SynthJson): string[] {
  const problems: string[] = [];
  for (const [id, t] of resources(platform, "google_compute_instance_template")) {
    for (const nic of t.network_interface ?? []) {
      if (nic.access_config !== undefined) problems.push(`${id}: access_config`);
      if (nic.ipv6_access_config !== undefined) problems.push(`${id}: ipv6_access_config`);
    }
  }
  for (const role of resourceConfigs(platform, "google_project_iam_custom_role")) {
    for (const p of role.permissions as string[]) if (/useExternalIp|addresses\.use/.test(p)) problems.push(`${role.role_id}: ${p}`);
  }
  return problems;
}

/**
 * The ConfigMap's JSON as the job service reads it after `terraform apply`: cross-stack outputs
 * followed into the platform stack, then the platform references given apply-time values.
 */
function deployedConfig(workloads: SynthJson, platform: SynthJson): { raw: string; resolved: unknown; template: string } {
  const [cm] = resourceConfigs(workloads, "kubernetes_config_map_v1");
  const raw: string = cm.data["job-service.json"];
  const viaRemote = raw.replace(/\$\{data\.terraform_remote_state\.[^.]+\.outputs\.([^}]+)\}/g, (_m, out) => platform.output![out].value);
  const [[templateId]] = resources(platform, "google_compute_instance_template");
  const template = `\${google_compute_instance_template.${templateId}.id}`;
  const applied = viaRemote
    .split(template)
    .join("projects/acme-clean-room/global/instanceTemplates/dcr-insurance-study-tee-20261201000000000000000001")
    .replace(/\$\{element\(split\("@", data\.google_artifact_registry_docker_image\.[^)]+\), 1\)\}/g, `sha256:${"c".repeat(64)}`)
    .replace(/\$\{google_cloudfunctions2_function\.[^}]+\}/g, "https://insurance-study-verifier-abc123-uc.a.run.app");
  expect(applied).not.toMatch(/\$\{/);
  return { raw, resolved: JSON.parse(applied), template: viaRemote.includes(template) ? template : "" };
}

describe("given the example room with its own job service, when both stacks are synthesized", () => {
  let room: ReturnType<typeof synthRoom>;
  beforeAll(() => {
    room = synthRoom();
  });

  describe("then ManaTEE's Go services are gone", () => {
    test("no Kubernetes workload or hub pod runs a ManaTEE api/reconciler image; the one Deployment runs the deploy-built job service", () => {
      expect(manateeServiceImages(room.workloads)).toEqual([]);
      const deployments = resourceConfigs(room.workloads, "kubernetes_deployment_v1");
      expect(deployments.map((d) => d.spec.template.spec.container.map((c: any) => c.image))).toEqual([
        [room.stacks.workloads.workloads.images.jobService.imageReference],
      ]);
      expect(room.stacks.workloads.workloads.images.jobService.imageReference).toMatch(
        /^us-central1-docker\.pkg\.dev\/acme-clean-room\/dcr-insurance-study-images\/job-service:[0-9a-f]{32}$/,
      );
    });

    test("no Kaniko RBAC, no mysql-secret, no Secret at all in Terraform", () => {
      for (const type of ["kubernetes_role_v1", "kubernetes_role_binding_v1", "kubernetes_secret_v1", "kubernetes_secret"]) {
        expect(resources(room.workloads, type)).toEqual([]);
      }
      expect(JSON.stringify(room.workloads)).not.toContain("mysql-secret");
    });

    test("given a tampered Deployment that runs ManaTEE's API image, then the check catches it", () => {
      const tampered = clone(room.workloads);
      const [[id]] = resources(tampered, "kubernetes_deployment_v1");
      tampered.resource!.kubernetes_deployment_v1[id].spec.template.spec.container[0].image = "us-docker.pkg.dev/acme-clean-room/dcr-x-images/manatee-api:latest";
      expect(manateeServiceImages(tampered)).toEqual(["us-docker.pkg.dev/acme-clean-room/dcr-x-images/manatee-api:latest"]);
    });
  });

  describe("then the job state is in Firestore, not Cloud SQL", () => {
    test("neither stack declares a Cloud SQL resource; the Firestore database is in the room's region", () => {
      expect(cloudSqlResources(room.platform)).toEqual([]);
      expect(cloudSqlResources(room.workloads)).toEqual([]);
      expect(resourceConfigs(room.platform, "google_firestore_database")).toEqual([
        expect.objectContaining({ type: "FIRESTORE_NATIVE", location_id: "us-central1", delete_protection_state: "DELETE_PROTECTION_ENABLED" }),
      ]);
    });

    test("given a Cloud SQL instance with a public address added to the JSON, then the check and the guardrails (MCR-SQL1) refuse it", () => {
      const tampered = clone(room.platform);
      tampered.resource!.google_sql_database_instance = {
        db: { name: "jobs", region: "us-central1", database_version: "MYSQL_8_4", settings: { tier: "db-custom-1-3840" } },
      };
      expect(cloudSqlResources(tampered)).toEqual(["google_sql_database_instance"]);
      expect(errorsOf(tampered, "MCR-SQL1")).toHaveLength(1);
    });
  });

  describe("then build is not launch", () => {
    test("the builder has no project role, no compute permission and no actAs on the TEE account", () => {
      expect(builderProblems(room.platform)).toEqual([]);
      // …and holds exactly what a build needs.
      const builder = account(room.platform, BUILDER_ID);
      expect(iamGrants(room.platform).filter((g) => g.member === builder.member).map((g) => g.role).sort()).toEqual([
        "roles/artifactregistry.reader",
        "roles/artifactregistry.writer",
        "roles/storage.objectUser",
        "roles/storage.objectViewer",
      ]);
    });

    test("given the builder tampered with a compute role or actAs on the TEE account, then the check catches it", () => {
      const tampered = clone(room.platform);
      const builder = account(tampered, BUILDER_ID);
      const tee = account(tampered, "dcr-insurance-study-cvm-sa");
      tampered.resource!.google_project_iam_member.evil = { project: "acme-clean-room", role: "roles/compute.instanceAdmin.v1", member: builder.member };
      tampered.resource!.google_service_account_iam_member.evil = { service_account_id: tee.name, role: "roles/iam.serviceAccountUser", member: builder.member };
      expect(builderProblems(tampered)).toEqual(
        expect.arrayContaining(["project role roles/compute.instanceAdmin.v1", "role roles/compute.instanceAdmin.v1", "roles/iam.serviceAccountUser on the TEE account"]),
      );
    });

    test("given the builder tampered with a project-wide storage role, then the guardrails refuse it (MCR-IAM2)", () => {
      expect(errorsOf(room.platform, "MCR-IAM2")).toEqual([]);
      const tampered = clone(room.platform);
      tampered.resource!.google_project_iam_member.evil = { project: "acme-clean-room", role: "roles/storage.objectAdmin", member: account(tampered, BUILDER_ID).member };
      expect(errorsOf(tampered, "MCR-IAM2")).toHaveLength(1);
    });

    test("the job service acts as the TEE account and the builder, and as no one else", () => {
      const tee = account(room.platform, "dcr-insurance-study-cvm-sa");
      const builder = account(room.platform, BUILDER_ID);
      expect(jobServiceActAs(room.platform)).toEqual({ targets: [builder.name, tee.name].sort(), projectWide: [] });
      const tampered = clone(room.platform);
      tampered.resource!.google_project_iam_member.evil = {
        project: "acme-clean-room",
        role: "roles/iam.serviceAccountUser",
        member: account(tampered, names.jobServiceSaId).member,
      };
      expect(jobServiceActAs(tampered).projectWide).toEqual(["google_project_iam_member"]);
    });

    test("the job service holds no approver key permission and cannot write a signature repository", () => {
      const job = account(room.platform, names.jobServiceSaId);
      const grants = iamGrants(room.platform).filter((g) => g.member === job.member);
      expect(grants.filter((g) => g.type.startsWith("google_kms_"))).toEqual([]);
      expect(grants.filter((g) => g.type === "google_artifact_registry_repository_iam_member").map((g) => g.role)).toEqual(
        expect.not.arrayContaining(["roles/artifactregistry.writer", "roles/artifactregistry.repoAdmin", "roles/artifactregistry.admin"]),
      );
    });
  });

  describe("then job VMs come only from the room's template, without an external IP", () => {
    test("the template has no access config, and the launcher may not give a VM an external address", () => {
      expect(externalIpProblems(room.platform)).toEqual([]);
      const [role] = resourceConfigs(room.platform, "google_project_iam_custom_role").filter((r) => r.role_id.startsWith("manatee_tee_launcher_"));
      expect(role.permissions).toEqual([...TEE_LAUNCHER_PERMISSIONS].sort());
      const [template] = resourceConfigs(room.platform, "google_compute_instance_template");
      expect(template.metadata).toEqual({ "tee-restart-policy": "Never", "serial-port-enable": "FALSE" });
      expect(template.tags).toEqual(["tee-instance"]);
      expect(template.shielded_instance_config.enable_secure_boot).toBe(true);
      expect(template.scheduling.on_host_maintenance).toBe("TERMINATE");
      expect(template.confidential_instance_config).toEqual({ confidential_instance_type: "TDX" });
      expect(template.machine_type).toBe(policy.tee.machineType);
    });

    test("given an access config added to the template, then the check catches it", () => {
      const tampered = clone(room.platform);
      const [[id]] = resources(tampered, "google_compute_instance_template");
      tampered.resource!.google_compute_instance_template[id].network_interface[0].access_config = [{ network_tier: "PREMIUM" }];
      expect(externalIpProblems(tampered)).toEqual([`${id}: access_config`]);
    });

    test("given the template tampered to boot the debug image, then the guardrails refuse it (MCR-TEE1)", () => {
      expect(errorsOf(room.platform, "MCR-TEE1")).toEqual([]);
      const tampered = clone(room.platform);
      const [[imageId]] = Object.entries(tampered.data!.google_compute_image);
      tampered.data!.google_compute_image[imageId].family = "confidential-space-debug";
      expect(errorsOf(tampered, "MCR-TEE1")).toHaveLength(1);
    });
  });

  describe("then the job service's configuration", () => {
    test("names the room's instance template (by reference) and validates with the job service's own parser", () => {
      const { raw, resolved, template } = deployedConfig(room.workloads, room.platform);
      // The raw JSON names the template through the platform stack's output of its `id`.
      expect(template).toMatch(/^\$\{google_compute_instance_template\.[^.]+\.id\}$/);
      expect(raw).toMatch(/"instanceTemplate":"\$\{data\.terraform_remote_state\.[^}]+\.outputs\.cross-stack-output-google_compute_instance_template[^}]+id\}"/);
      const config = parseJobServiceConfig(resolved);
      expect(config.launch).toMatchObject({
        instanceTemplate: "projects/acme-clean-room/global/instanceTemplates/dcr-insurance-study-tee-20261201000000000000000001",
        instancePrefix: jobInstancePrefix(policy.name),
        machineType: "c3-standard-8",
        allowDebug: false,
        teeServiceAccount: "dcr-insurance-study-cvm-sa@acme-clean-room.iam.gserviceaccount.com",
      });
      expect(config.images.userImagesRepository).toBe("us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-user-images");
      expect(config.images.defaultExecutorBase).toBe(`us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-executor-bases/executor-base@sha256:${"c".repeat(64)}`);
      expect(config.verifier.url).toBe("https://insurance-study-verifier-abc123-uc.a.run.app");
    });

    test("uses the VM name prefix the launcher's IAM condition allows", () => {
      const { resolved } = deployedConfig(room.workloads, room.platform);
      const prefix = parseJobServiceConfig(resolved).launch.instancePrefix;
      const launch = resourceConfigs(room.platform, "google_project_iam_member").find((g) => g.condition?.title === `launch-${prefix}`);
      expect(launch.condition.expression).toContain(`/zones/${policy.zone}/instances/${prefix}-")`);
    });

    test("given the configuration tampered without a template or with a VM prefix too long for GCE names, then the parser refuses it", () => {
      const { resolved } = deployedConfig(room.workloads, room.platform);
      const noTemplate = JSON.parse(JSON.stringify(resolved));
      delete noTemplate.launch.instanceTemplate;
      expect(() => parseJobServiceConfig(noTemplate)).toThrow(JobServiceConfigError);
      expect(() => parseJobServiceConfig(noTemplate)).toThrow("launch.instanceTemplate");
      const longPrefix = JSON.parse(JSON.stringify(resolved));
      longPrefix.launch.instancePrefix = "a".repeat(27);
      expect(() => parseJobServiceConfig(longPrefix)).toThrow("launch.instancePrefix");
    });

    test("rolls the pod when it changes: the pod template carries the ConfigMap's hash", () => {
      const [[cmId]] = resources(room.workloads, "kubernetes_config_map_v1");
      const [deployment] = resourceConfigs(room.workloads, "kubernetes_deployment_v1");
      expect(deployment.spec.template.metadata.annotations["manatee.dev/config-sha256"]).toBe(`\${sha256(kubernetes_config_map_v1.${cmId}.data["job-service.json"])}`);
    });
  });

  describe("then JupyterLab reaches the job service as ManaTEE's extension expects", () => {
    test("DATA_CLEAN_ROOM_HOST names the Service `manatee` in the room's namespace, with the hub token as header, and egress allows exactly those pods", () => {
      const [release] = resourceConfigs(room.workloads, "helm_release");
      const su = YAML.parse(release.values[0]).singleuser;
      expect(su.extraEnv).toMatchObject({
        DATA_CLEAN_ROOM_HOST: "http://manatee.manatee.svc.cluster.local",
        USER_TOKEN: "token $(JUPYTERHUB_API_TOKEN)",
        EXECUTION_STAGE: "1",
      });
      expect(`${su.image.name}:${su.image.tag}`).toBe(room.stacks.workloads.workloads.images.jupyterlab.imageReference);
      const [svc] = resourceConfigs(room.workloads, "kubernetes_service_v1");
      const [deployment] = resourceConfigs(room.workloads, "kubernetes_deployment_v1");
      expect(svc.metadata.name).toBe("manatee");
      const rule = su.networkPolicy.egress.find((r: any) => r.ports?.[0]?.port === 8080);
      expect(deployment.spec.template.metadata.labels).toMatchObject(rule.to[0].podSelector.matchLabels);
      expect(deployment.spec.template.metadata.labels["hub.jupyter.org/network-access-hub"]).toBe("true");
    });
  });

  describe("then every image is built by the deploy, in the room's region", () => {
    test("five Cloud Build builds (job service, JupyterLab, executor base, two build steps) as the deploy builder, tagged by content hash, into regional repositories", () => {
      const builds = resourceConfigs(room.workloads, "terraform_data").filter((b) => b.input?.image !== undefined);
      expect(builds.map((b) => /\/([a-z-]+):[0-9a-f]{32}$/.exec(b.input.image)![1]).sort()).toEqual(
        ["build-step-gcloud", "build-step-gcrane", "executor-base", "job-service", "jupyterlab-singleuser"],
      );
      for (const b of builds) {
        const exec = b.provisioner[0]["local-exec"];
        expect(exec.command).toContain('gcloud builds submit "$SOURCE" --tag "$IMAGE"');
        expect(exec.environment).toMatchObject({
          REGION: "us-central1",
          BUILDER: "projects/acme-clean-room/serviceAccounts/dcr-insurance-study-deploy@acme-clean-room.iam.gserviceaccount.com",
        });
        expect(exec.environment.IMAGE).toMatch(/^us-central1-docker\.pkg\.dev\/acme-clean-room\/dcr-insurance-study-(images|executor-bases)\/[a-z-]+:[0-9a-f]{32}$/);
        expect(b.triggers_replace).toEqual({ image: exec.environment.IMAGE });
      }
      for (const r of resourceConfigs(room.platform, "google_artifact_registry_repository")) expect(r.location).toBe("us-central1");
    });

    test("the executor base carries the room's quarantine bucket, verifier URL, audience and VM name prefix", () => {
      const staged = executorBuildContext(defaultImageSources().executorBase, {
        MANATEE_QUARANTINE_BUCKET: "acme-clean-room-insurance-study-quarantine",
        MANATEE_VERIFIER_URL: "https://us-central1-acme-clean-room.cloudfunctions.net/insurance-study-verifier",
        MANATEE_RELEASE_AUDIENCE: policy.verifier.audience,
        MANATEE_INSTANCE_PREFIX: jobInstancePrefix(policy.name),
      });
      expect(room.stacks.workloads.workloads.images.executorBase.sourceHash).toBe(directoryHash(staged));
      const { resolved } = deployedConfig(room.workloads, room.platform);
      expect(parseJobServiceConfig(resolved).outputs.quarantineBucket).toBe("acme-clean-room-insurance-study-quarantine");
    });

    test("the executor base's digest is an output (the owners approve it in jobs.executorBases)", () => {
      expect(room.workloads.output?.executor_base_digest.value).toMatch(/^\$\{element\(split\("@", data\.google_artifact_registry_docker_image\./);
    });

    test("job builds run the room's mirrored build steps by digest", () => {
      const [deployment] = resourceConfigs(room.workloads, "kubernetes_deployment_v1");
      const env = Object.fromEntries(deployment.spec.template.spec.container[0].env.map((e: any) => [e.name, e.value]));
      for (const [name, pkg] of [["MANATEE_BUILD_STEP_GCLOUD", "build-step-gcloud"], ["MANATEE_BUILD_STEP_CRANE", "build-step-gcrane"]]) {
        expect(env[name]).toMatch(
          new RegExp(`^us-central1-docker\\.pkg\\.dev/acme-clean-room/dcr-insurance-study-executor-bases/${pkg}@\\$\\{element\\(split\\("@", data\\.google_artifact_registry_docker_image\\.`),
        );
      }
    });
  });
});

describe("the build contexts shipped in the package", () => {
  const sources = defaultImageSources();

  test("the package ships no copy of the runner that could drift (the deploy stages RUNNER_SOURCE itself), and the entrypoint runs it where it is staged", () => {
    expect(fs.existsSync(path.join(sources.executorBase, "run.py"))).toBe(false);
    const dockerfile = fs.readFileSync(path.join(sources.executorBase, "Dockerfile"), "utf8");
    expect(dockerfile).toContain(`COPY run.py ${RUNNER_PATH}`);
    expect(dockerfile).toMatch(/ENTRYPOINT \["python3", "\/opt\/manatee\/run\.py"\]/);
  });

  test("the executor base pins its base, sets the workspace's Python path and working directory, and overrides no launch policy", () => {
    const dockerfile = fs.readFileSync(path.join(sources.executorBase, "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^FROM quay\.io\/jupyter\/scipy-notebook:\d{4}-\d{2}-\d{2}$/m);
    expect(dockerfile).toMatch(/ENV PYTHONPATH=\/workspace\/\.python/);
    expect(dockerfile).toMatch(/^WORKDIR \/workspace$/m);
    expect(dockerfile).not.toMatch(/^LABEL .*tee\.launch_policy/m);
  });

  const settings = {
    MANATEE_QUARANTINE_BUCKET: "acme-clean-room-insurance-study-quarantine",
    MANATEE_VERIFIER_URL: "https://us-central1-acme-clean-room.cloudfunctions.net/insurance-study-verifier",
    MANATEE_RELEASE_AUDIENCE: policy.verifier.audience,
    MANATEE_INSTANCE_PREFIX: "insurance-study-job",
  };

  test("the room's executor context adds only the room's settings the runner reads, deterministically", () => {
    const a = executorBuildContext(sources.executorBase, settings);
    expect(executorBuildContext(sources.executorBase, settings)).toBe(a);
    const staged = fs.readFileSync(path.join(a, "Dockerfile"), "utf8");
    expect(staged).toBe(
      `${fs.readFileSync(path.join(sources.executorBase, "Dockerfile"), "utf8")}\n# Added by the deploy: the room's settings (read by /opt/manatee/run.py).\n` +
        Object.entries(settings).map(([k, v]) => `ENV ${k}=${JSON.stringify(v)}`).join("\n") +
        "\n",
    );
    // Every variable the runner requires is set.
    for (const k of /for k in \(([^)]*)\)/.exec(RUNNER_SOURCE)![1].match(/MANATEE_[A-Z_]+/g)!) expect(Object.keys(settings)).toContain(k);
    expect(fs.readFileSync(path.join(a, "run.py"), "utf8")).toBe(RUNNER_SOURCE);
    expect(executorBuildContext(sources.executorBase, { ...settings, MANATEE_RELEASE_AUDIENCE: "https://other.example.org/release" })).not.toBe(a);
    expect(() => executorBuildContext(sources.executorBase, { ...settings, MANATEE_VERIFIER_URL: "has space" })).toThrow(
      'executor setting MANATEE_VERIFIER_URL "has space" must be a literal without spaces',
    );
  });

  test("the JupyterLab image builds ManaTEE's extension from the pinned commit, on the executor's base", () => {
    const dockerfile = fs.readFileSync(path.join(sources.jupyterlab, "Dockerfile"), "utf8");
    expect(dockerfile).toContain("ARG MANATEE_COMMIT=942a4c9fd63a654164f421027debffcc377b96c0");
    expect(dockerfile).toContain('test "$(git -C /src/manatee rev-parse HEAD)" = "${MANATEE_COMMIT}"');
    const base = /^FROM (quay\.io\/jupyter\/scipy-notebook:[\d-]+)$/m.exec(fs.readFileSync(path.join(sources.executorBase, "Dockerfile"), "utf8"))![1];
    expect(dockerfile).toContain(`ARG BASE=${base}`);
  });

  test("the job service image runs the bundle as a non-root user from a base pinned by digest", () => {
    const dockerfile = fs.readFileSync(path.resolve(__dirname, "..", "job-service", "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^FROM node:20\.[\d.]+-bookworm-slim@sha256:[0-9a-f]{64}$/m);
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "\/app\/index\.js"\]$/m);
  });
});
