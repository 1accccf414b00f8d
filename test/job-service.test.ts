/**
 * JobServiceIdentity (Google half) and JobService (Kubernetes half) of the room's own job
 * service: least privilege with build ≠ launch, the launcher's IAM condition evaluated by a real
 * CEL engine, and the hardening of what runs in the cluster — all on synthesized JSON.
 */
import { TerraformStack, TerraformVariable, Testing } from "cdktf";
import { ConfidentialSpaceWorkload } from "../lib/constructs/data-plane/confidential-space";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import { JobStateStore } from "../lib/constructs/platform/database";
import {
  CONFIG_MAP_MAX_BYTES,
  DEFAULT_HUB_API_URL,
  JOB_SERVICE_ENV,
  JobService,
  JobServiceIdentity,
  JobServiceIdentityProps,
  JobServiceProps,
  TEE_LAUNCHER_PERMISSIONS,
  jobInstancePrefix,
  jobServiceApiUrl,
  jobServiceConfigFor,
  launcherCondition,
  teeLauncherRoleId,
} from "../lib/constructs/workloads/job-service";
import { NAME_RULES, platformNames } from "../lib/policy/names";
import { LimitExceededError } from "../lib/errors";
import { JOB_SERVICE_ENV as ENTRY_ENV, loadConfig } from "../job-service/src/main";
import { parseJobServiceConfig } from "../job-service/src/config";
import { GceLauncher, LaunchRefusedError } from "../job-service/src/gce-launcher";
import { evaluateCel } from "./cel";
import { plaintextSecrets } from "./secret-scan";
import { SynthJson, examplePolicy, iamGrants, resourceConfigs, resources, synthStack, synthWith } from "./util";

const policy = examplePolicy();
const ROOM = policy.name;
const PROJECT = policy.project;
const ZONE = policy.zone;
const names = platformNames({ name: ROOM, project: PROJECT });
const TEMPLATE_PREFIX = "dcr-insurance-study-tee-";
const IMAGE = "us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-images/job-service:5b0a777cbf05f286bdd03e7e38d04dcd";
const UUID = "2f1c9a4e-8c1e-41ef-9f2b-0242ac120002";
/** What CleanRoomWorkloads passes: the room's mirrored copies of the build steps, by digest. */
const STEP_IMAGES = {
  gcloud: `us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-executor-bases/build-step-gcloud@sha256:${"1".repeat(64)}`,
  crane: `us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-executor-bases/build-step-gcrane@sha256:${"2".repeat(64)}`,
};

function identityProps(stack: TerraformStack, overrides: Partial<JobServiceIdentityProps> = {}): JobServiceIdentityProps {
  // The TEE account's owner: it makes the job service's actAs binding in the account's one policy.
  const tee = new ConfidentialSpaceWorkload(stack, "tee", { policy });
  return {
    roomName: ROOM,
    project: PROJECT,
    region: policy.region,
    launch: { zone: ZONE, templateNamePrefix: TEMPLATE_PREFIX },
    teeServiceAccount: tee,
    workspaceBucket: "dcr-insurance-study-hub",
    userImages: { project: PROJECT, location: "us-central1", repositoryId: "dcr-insurance-study-user-images" },
    executorBases: { project: PROJECT, location: "us-central1", repositoryId: "dcr-insurance-study-executor-bases" },
    stateStore: new JobStateStore(stack, "state", { room: policy }),
    ...overrides,
  };
}

describe("JobServiceIdentity", () => {
  let json: SynthJson;
  let identity!: JobServiceIdentity;
  beforeAll(() => {
    json = synthWith((stack) => {
      identity = new JobServiceIdentity(stack, "JobIdentity", identityProps(stack));
    });
  });
  const saRef = (accountId: string) => {
    const [id] = resources(json, "google_service_account").find(([, c]) => c.account_id === accountId)!;
    return { member: `\${google_service_account.${id}.member}`, name: `\${google_service_account.${id}.name}` };
  };
  const job = () => saRef(names.jobServiceSaId);
  const builder = () => saRef("dcr-insurance-study-build");
  const tee = () => saRef("dcr-insurance-study-cvm-sa");

  test("given the example room, then there are three accounts (job service, builder, JupyterLab) with ids that fit IAM", () => {
    const ids = resourceConfigs(json, "google_service_account").map((c) => c.account_id).sort();
    expect(ids).toEqual(["dcr-insurance-study-build", "dcr-insurance-study-cvm-sa", names.jobServiceSaId, names.jupyterSaId].sort());
    for (const id of ids) expect(id).toMatch(NAME_RULES.serviceAccountId.pattern);
    expect(identity.builderServiceAccountEmail).toBe(`dcr-insurance-study-build@${PROJECT}.iam.gserviceaccount.com`);
    expect(identity.instancePrefix).toBe("insurance-study-job");
  });

  test("then the job service's grants are exactly: launch (conditioned), builds, its database (conditioned), workspace, read job images, act as TEE and builder, sign as itself", () => {
    const grants = iamGrants(json)
      .filter((g) => g.member === job().member)
      .map((g) => [g.type, g.role.replace(/^\$\{google_project_iam_custom_role\.[^.]+\.name\}$/, "<launcher role>"), g.config.bucket ?? g.config.repository ?? g.config.service_account_id ?? g.config.project, g.config.condition?.title ?? null])
      .sort();
    expect(grants).toEqual(
      [
        ["google_artifact_registry_repository_iam_member", "roles/artifactregistry.reader", "dcr-insurance-study-user-images", null],
        ["google_project_iam_member", "<launcher role>", PROJECT, "launch-insurance-study-job"],
        ["google_project_iam_member", "roles/cloudbuild.builds.editor", PROJECT, null],
        ["google_project_iam_member", "roles/datastore.user", PROJECT, "only-insurance-study-jobs"],
        ["google_service_account_iam_member", "roles/iam.serviceAccountTokenCreator", job().name, null],
        ["google_service_account_iam_member", "roles/iam.serviceAccountUser", builder().name, null],
        ["google_service_account_iam_policy", "roles/iam.serviceAccountUser", tee().name, null],
        ["google_storage_bucket_iam_member", "roles/storage.objectUser", "dcr-insurance-study-hub", null],
      ].sort(),
    );
  });

  test("then the builder may read workspaces and bases, push job images and write its logs — and has no project role, no compute, no actAs", () => {
    const grants = iamGrants(json).filter((g) => g.member === builder().member);
    expect(grants.map((g) => [g.role, g.config.bucket ?? g.config.repository]).sort()).toEqual(
      [
        ["roles/artifactregistry.reader", "dcr-insurance-study-executor-bases"],
        ["roles/artifactregistry.writer", "dcr-insurance-study-user-images"],
        ["roles/storage.objectUser", expect.stringMatching(/^\$\{google_storage_bucket\..*BuildLogs.*\.name\}$/)],
        ["roles/storage.objectViewer", "dcr-insurance-study-hub"],
      ].sort(),
    );
    expect(grants.filter((g) => g.type === "google_project_iam_member")).toEqual([]);
    // Nobody lets the builder act as anyone: it cannot attach the TEE account to anything.
    expect(iamGrants(json).filter((g) => g.member === builder().member && /serviceAccount(User|TokenCreator)|workloadIdentityUser/.test(g.role))).toEqual([]);
  });

  test("then actAs is granted on the TEE and builder accounts only, by reference, and never project-wide; the TEE's in its one policy", () => {
    const actAs = iamGrants(json).filter((g) => g.role === "roles/iam.serviceAccountUser");
    expect(actAs.map((g) => [g.type, g.config.service_account_id, g.member]).sort()).toEqual(
      [
        ["google_service_account_iam_member", builder().name, job().member],
        ["google_service_account_iam_policy", tee().name, job().member],
      ].sort(),
    );
    // JobServiceIdentity writes no IAM on the TEE account itself: its owner does.
    expect(resourceConfigs(json, "google_service_account_iam_member").filter((c) => c.service_account_id === tee().name)).toEqual([]);
  });

  test("then the launcher role holds the launch permissions and none that gives a VM an external address or changes IAM", () => {
    const [role] = resourceConfigs(json, "google_project_iam_custom_role");
    expect(role.role_id).toBe(teeLauncherRoleId(ROOM));
    expect(role.permissions).toEqual([...TEE_LAUNCHER_PERMISSIONS].sort());
    expect(role.permissions).toEqual(expect.arrayContaining(["compute.instances.create", "compute.instanceTemplates.useReadOnly"]));
    for (const p of role.permissions) expect(p).not.toMatch(/useExternalIp|addresses|setIamPolicy|\*|setMachineType|attachDisk/);
  });

  describe("given the launcher grant's condition, evaluated by a real CEL engine", () => {
    const condition = () => resourceConfigs(json, "google_project_iam_member").find((c) => c.condition?.title === "launch-insurance-study-job").condition;
    const allow = (type: string, name: string) =>
      evaluateCel(condition().expression, { resource: { type: `compute.googleapis.com/${type}`, name, service: "compute.googleapis.com" } }).allowed;
    const zonal = `projects/${PROJECT}/zones/${ZONE}`;

    test("then job VMs and their boot disks named <prefix>-<uuid> in the room's zone are allowed", () => {
      expect(allow("Instance", `${zonal}/instances/insurance-study-job-${UUID}`)).toBe(true);
      expect(allow("Disk", `${zonal}/disks/insurance-study-job-${UUID}`)).toBe(true);
    });

    test("then any other VM, disk, zone or project is refused", () => {
      expect(allow("Instance", `${zonal}/instances/gke-node-1`)).toBe(false);
      expect(allow("Instance", `projects/${PROJECT}/zones/us-central1-b/instances/insurance-study-job-${UUID}`)).toBe(false);
      expect(allow("Instance", `projects/other/zones/${ZONE}/instances/insurance-study-job-${UUID}`)).toBe(false);
      expect(allow("Disk", `${zonal}/disks/database-disk`)).toBe(false);
    });

    test("then only the room's templates may be used, and the subnetwork and operations checks pass through", () => {
      expect(allow("InstanceTemplate", `projects/${PROJECT}/global/instanceTemplates/${TEMPLATE_PREFIX}20260101000000`)).toBe(true);
      expect(allow("InstanceTemplate", `projects/${PROJECT}/global/instanceTemplates/attacker-template`)).toBe(false);
      expect(allow("Subnetwork", `projects/${PROJECT}/regions/us-central1/subnetworks/dcr-insurance-study-subnetwork`)).toBe(true);
    });

    test("then the condition equals launcherCondition for the scope", () => {
      expect(condition()).toEqual(launcherCondition(PROJECT, { zone: ZONE, instancePrefix: "insurance-study-job", templateNamePrefix: TEMPLATE_PREFIX }));
    });
  });

  test("then the Firestore grant holds on the room's database only (real CEL engine)", () => {
    const { expression } = resourceConfigs(json, "google_project_iam_member").find((c) => c.role === "roles/datastore.user").condition;
    const on = (name: string) => evaluateCel(expression, { resource: { type: "firestore.googleapis.com/Database", name, service: "firestore.googleapis.com" } }).allowed;
    expect(on(`projects/${PROJECT}/databases/insurance-study-jobs`)).toBe(true);
    expect(on(`projects/${PROJECT}/databases/(default)`)).toBe(false);
    expect(on(`projects/${PROJECT}/databases/insurance-study-jobs-2`)).toBe(false);
  });

  test("then the build logs bucket is in the room's region, hardened, expiring and without a retention policy", () => {
    const logs = resourceConfigs(json, "google_storage_bucket").find((b) => b.labels?.use === "job-build-logs");
    expect(logs).toMatchObject({ location: "us-central1", uniform_bucket_level_access: true, public_access_prevention: "enforced" });
    expect(logs.retention_policy).toBeUndefined();
    expect(logs.lifecycle_rule).toEqual(expect.arrayContaining([expect.objectContaining({ action: { type: "Delete" }, condition: expect.objectContaining({ age: 30 }) })]));
  });

  test("then Workload Identity binds each pod account to exactly one Kubernetes service account", () => {
    const bindings = resourceConfigs(json, "google_service_account_iam_member").filter((c) => c.role === "roles/iam.workloadIdentityUser");
    expect(bindings.map((c) => c.member).sort()).toEqual([
      `serviceAccount:${PROJECT}.svc.id.goog[manatee/dcr-k8s-pod-sa]`,
      `serviceAccount:${PROJECT}.svc.id.goog[manatee/jupyter-k8s-pod-sa]`,
    ]);
  });

  test("then no key or secret material is synthesized", () => {
    expect(plaintextSecrets(json.resource)).toEqual([]);
    expect(resources(json, "google_service_account_key")).toEqual([]);
  });

  test("given grantStage1Read twice, then it is one grant; a token bucket needs an explicit id", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const id = new JobServiceIdentity(stack, "Id", identityProps(stack));
    const a = id.grantStage1Read("bucket-a");
    expect(id.grantStage1Read("bucket-a")).toBe(a);
    const tokenBucket = new TerraformVariable(stack, "bucket", { type: "string" }).stringValue;
    expect(() => id.grantStage1Read(tokenBucket)).toThrow(
      'JobServiceIdentity.grantStage1Read: the bucket is a token; pass an explicit construct id (e.g. "Stage1-<dataset>").',
    );
  });

  describe("given invalid props", () => {
    const build = (overrides: (stack: TerraformStack) => Partial<JobServiceIdentityProps>) => () =>
      synthWith((stack) => new JobServiceIdentity(stack, "Id", { ...identityProps(stack), ...overrides(stack) }));

    test("then a bare TEE account is refused: only its owner may grant on it", () => {
      const bare = { name: `projects/${PROJECT}/serviceAccounts/dcr-insurance-study-cvm-sa@${PROJECT}.iam.gserviceaccount.com` };
      expect(build(() => ({ teeServiceAccount: bare as never }))).toThrow(
        /JobServiceIdentity "teeServiceAccount" has no grantActAs\. Pass the account's owner \(ConfidentialSpaceWorkload\)/,
      );
    });

    test("then a permission that would give job VMs an external address is refused, naming the fix", () => {
      expect(build(() => ({ extraLauncherPermissions: ["compute.subnetworks.useExternalIp"] }))).toThrow(
        'JobServiceIdentity "extraLauncherPermissions" entry "compute.subnetworks.useExternalIp" would let the job service give a job VM an external address or change IAM.',
      );
      expect(build(() => ({ extraLauncherPermissions: ["compute.*"] }))).toThrow('entry "compute.*" is not an IAM permission');
    });

    test("then a VM name prefix that cannot fit GCE names, or a bad namespace, is named", () => {
      expect(build(() => ({ launch: { zone: ZONE, templateNamePrefix: TEMPLATE_PREFIX, instancePrefix: "a-very-long-prefix-of-30-chars" } }))).toThrow(
        'JobServiceIdentity "launch.instancePrefix" "a-very-long-prefix-of-30-chars" must be 1-26 lowercase letters',
      );
      expect(build(() => ({ namespace: "Manatee" }))).toThrow('JobServiceIdentity "namespace" "Manatee" is not a valid Kubernetes name');
    });
  });
});

// ---------------------------------------------------------------------------------------------

const TEMPLATE_ID = `projects/${PROJECT}/global/instanceTemplates/${TEMPLATE_PREFIX}20260101000000000000000001`;

function literalConfig() {
  return jobServiceConfigFor(policy, {
    instanceTemplate: TEMPLATE_ID,
    templateNamePrefix: TEMPLATE_PREFIX,
    userImagesRepository: "us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-user-images",
    verifierUrl: "https://insurance-study-verifier-abc123-uc.a.run.app",
    quarantineBucket: "acme-clean-room-insurance-study-quarantine",
    releaseBucket: "acme-clean-room-insurance-study-release",
    executorBase: `us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-executor-bases/executor-base@sha256:${"a".repeat(64)}`,
  });
}

function synthJobService(props: Partial<JobServiceProps> = {}): { json: SynthJson; service: JobService } {
  const stack = new TerraformStack(Testing.app(), "workloads");
  new KubernetesProvider(stack, "kubernetes", { host: "https://203.0.113.10", clusterCaCertificate: "placeholder-ca" });
  const service = new JobService(stack, "JobService", {
    roomName: ROOM,
    project: PROJECT,
    image: IMAGE,
    config: literalConfig(),
    google: {
      firestoreDatabase: "insurance-study-jobs",
      workspaceBucket: "dcr-insurance-study-hub",
      builderServiceAccount: `dcr-insurance-study-build@${PROJECT}.iam.gserviceaccount.com`,
      buildLogsBucket: "acme-clean-room-insurance-study-job-builds",
    },
    serviceAccounts: { jobService: names.jobServiceSaEmail, jupyter: names.jupyterSaEmail },
    buildStepImages: STEP_IMAGES,
    ...props,
  });
  return { json: synthStack(stack), service };
}

describe("JobService", () => {
  let json: SynthJson;
  let service: JobService;
  let deployment: any;
  let pod: any;
  let container: any;
  beforeAll(() => {
    ({ json, service } = synthJobService());
    [deployment] = resourceConfigs(json, "kubernetes_deployment_v1");
    pod = deployment.spec.template.spec;
    [container] = pod.container;
  });

  test("given the defaults, then one Deployment runs the given image — no ManaTEE API, reconciler, Cloud SQL proxy, Kaniko RBAC or mysql-secret", () => {
    expect(resourceConfigs(json, "kubernetes_deployment_v1")).toHaveLength(1);
    expect(pod.container.map((c: any) => c.image)).toEqual([IMAGE]);
    expect(JSON.stringify(json)).not.toMatch(/manatee-(api|reconciler)|cloud-sql-proxy|mysql-secret|kaniko/);
    for (const type of ["kubernetes_role_v1", "kubernetes_role_binding_v1", "kubernetes_secret_v1", "kubernetes_secret"]) expect(resources(json, type)).toEqual([]);
  });

  test("then it runs one replica with the Recreate strategy: never two launch loops, not even during a rollout", () => {
    expect(deployment.spec.replicas).toBe("1");
    expect(deployment.spec.strategy).toEqual({ type: "Recreate" });
  });

  test("then the pod is non-root with a read-only root file system, no capabilities, RuntimeDefault seccomp and no API token", () => {
    expect(pod.security_context).toEqual({ run_as_non_root: true, run_as_user: "1000", run_as_group: "1000", seccomp_profile: { type: "RuntimeDefault" } });
    expect(container.security_context).toEqual({
      run_as_non_root: true,
      allow_privilege_escalation: false,
      read_only_root_filesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(pod.automount_service_account_token).toBe(false);
    expect(pod.enable_service_links).toBe(false);
    expect(pod.node_selector).toEqual({ "iam.gke.io/gke-metadata-server-enabled": "true" });
  });

  test("then requests, a memory limit and liveness/readiness probes on /health are set", () => {
    expect(container.resources).toEqual({ requests: { cpu: "100m", memory: "384Mi" }, limits: { memory: "1Gi" } });
    expect(container.liveness_probe.http_get).toEqual({ path: "/health", port: "http" });
    expect(container.readiness_probe.http_get).toEqual({ path: "/health", port: "http" });
    expect(container.port).toEqual([{ name: "http", container_port: 8080, protocol: "TCP" }]);
  });

  test("then the environment names the config file, the hub API, the project and the Google resources — the names the container entry reads", () => {
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({
      MANATEE_JOB_SERVICE_CONFIG: "/etc/manatee/job-service.json",
      JUPYTERHUB_API_URL: DEFAULT_HUB_API_URL,
      GOOGLE_CLOUD_PROJECT: PROJECT,
      MANATEE_FIRESTORE_DATABASE: "insurance-study-jobs",
      MANATEE_WORKSPACE_BUCKET: "dcr-insurance-study-hub",
      MANATEE_BUILDER_SERVICE_ACCOUNT: `dcr-insurance-study-build@${PROJECT}.iam.gserviceaccount.com`,
      MANATEE_BUILD_STEP_GCLOUD: STEP_IMAGES.gcloud,
      MANATEE_BUILD_STEP_CRANE: STEP_IMAGES.crane,
      PORT: "8080",
    });
    expect(DEFAULT_HUB_API_URL).toBe("http://hub:8081/hub/api");
    expect(ENTRY_ENV).toEqual(JOB_SERVICE_ENV);
  });

  test("then the ConfigMap holds the config JSON, mounted read-only, and the pod template carries its hash so a change rolls the pod", () => {
    const [cm] = resources(json, "kubernetes_config_map_v1");
    const delivered = JSON.parse(cm[1].data["job-service.json"]);
    expect(parseJobServiceConfig(delivered)).toEqual(literalConfig());
    expect(delivered.launch.instanceTemplate).toBe(TEMPLATE_ID);
    expect(deployment.spec.template.metadata.annotations["manatee.dev/config-sha256"]).toBe(
      `\${sha256(kubernetes_config_map_v1.${cm[0]}.data["job-service.json"])}`,
    );
    expect(container.volume_mount).toEqual(expect.arrayContaining([{ name: "config", mount_path: "/etc/manatee", read_only: true }]));
  });

  test("then the pod carries the label z2jh's hub NetworkPolicy admits (token verification at the hub)", () => {
    expect(deployment.spec.template.metadata.labels).toMatchObject({ "hub.jupyter.org/network-access-hub": "true", "app.kubernetes.io/component": "job-service" });
  });

  test("then the Service `manatee` maps port 80 to the container's 8080, the URL the extension's DATA_CLEAN_ROOM_HOST names", () => {
    const [svc] = resourceConfigs(json, "kubernetes_service_v1");
    expect(svc.metadata.name).toBe("manatee");
    expect(svc.spec).toMatchObject({ type: "ClusterIP", port: [{ name: "http", port: 80, target_port: "http", protocol: "TCP" }] });
    expect(svc.spec.selector).toEqual(deployment.spec.selector.match_labels);
    expect(service.apiUrl).toBe(jobServiceApiUrl("manatee"));
    expect(service.apiUrl).toBe("http://manatee.manatee.svc.cluster.local");
  });

  test("then only JupyterLab single-user pods may call it, and it reaches no private address but the hub", () => {
    const policies = Object.fromEntries(resourceConfigs(json, "kubernetes_network_policy_v1").map((p) => [p.metadata.name, p.spec]));
    expect(policies["manatee-job-service-ingress"].ingress).toEqual([
      { from: [{ pod_selector: { match_labels: { component: "singleuser-server" } } }], ports: [{ port: "8080", protocol: "TCP" }] },
    ]);
    const egress = policies["manatee-job-service-egress"];
    expect(egress.policy_types).toEqual(["Egress"]);
    const wide = egress.egress.filter((r: any) => r.to?.some((t: any) => t.ip_block?.cidr === "0.0.0.0/0"));
    expect(wide).toEqual([
      { to: [{ ip_block: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"] } }], ports: [{ port: "443", protocol: "TCP" }] },
    ]);
    expect(egress.egress).toEqual(expect.arrayContaining([{ to: [{ pod_selector: { match_labels: { component: "hub" } } }], ports: [{ port: "8081", protocol: "TCP" }] }]));
  });

  test("then the Kubernetes service accounts carry the Workload Identity annotation and mount no token", () => {
    const ksas = resourceConfigs(json, "kubernetes_service_account_v1");
    expect(ksas.map((k) => [k.metadata.name, k.metadata.annotations["iam.gke.io/gcp-service-account"], k.automount_service_account_token]).sort()).toEqual(
      [
        ["dcr-k8s-pod-sa", names.jobServiceSaEmail, false],
        ["jupyter-k8s-pod-sa", names.jupyterSaEmail, false],
      ].sort(),
    );
  });

  test("given a policy string holding Terraform template syntax, then the ConfigMap delivers it literally", () => {
    const config = literalConfig();
    const tricky = { ...config, datasets: config.datasets.map((d, i) => (i === 0 ? { ...d, owners: ["user:${evil}@example.org"] } : d)) };
    const [cm] = resourceConfigs(synthJobService({ config: tricky }).json, "kubernetes_config_map_v1");
    expect(cm.data["job-service.json"]).toContain('"user:$${evil}@example.org"');
  });

  describe("given invalid props", () => {
    test("then a moving tag, an unpinned build step or a config that names no template is refused, naming the fix", () => {
      expect(() => synthJobService({ image: "us-central1-docker.pkg.dev/p/r/job-service:latest" })).toThrow(
        'JobService "image" "us-central1-docker.pkg.dev/p/r/job-service:latest" is tagged "latest", which moves.',
      );
      expect(() => synthJobService({ image: "job-service:1" })).toThrow('JobService "image" "job-service:1" is not a full image reference.');
      expect(() => synthJobService({ buildStepImages: { ...STEP_IMAGES, crane: "gcr.io/go-containerregistry/crane:debug" } })).toThrow(
        'JobService "buildStepImages.crane" "gcr.io/go-containerregistry/crane:debug" is not pinned by digest.',
      );
      const config = literalConfig();
      expect(() => synthJobService({ config: { ...config, launch: { ...config.launch, instanceTemplate: "my-template" } } })).toThrow(
        'JobService "config.launch.instanceTemplate" "my-template" is not an instance template. Pass ConfidentialSpaceWorkload.instanceTemplateId',
      );
      expect(() => synthJobService({ namespace: "Manatee" })).toThrow('JobService "namespace" "Manatee" is not a valid Kubernetes name');
      expect(() => synthJobService({ tmpSize: "lots" })).toThrow('JobService "tmpSize" "lots" is not a Kubernetes quantity');
    });
  });
});

describe("JobService configuration size", () => {
  test("given a configuration over what a ConfigMap holds, when the JobService is built, then synth fails naming the size, the limit and the fix", () => {
    const config = literalConfig();
    const digest = (i: number) => `sha256:${i.toString(16).padStart(64, "0")}`;
    const big = { ...config, datasets: config.datasets.map((d) => ({ ...d, standingApprovals: Array.from({ length: 20_000 }, (_, i) => digest(i)) })) };
    expect(() => synthJobService({ config: big })).toThrow(LimitExceededError);
    expect(() => synthJobService({ config: big })).toThrow(/configuration is \d+ bytes.*exceeds what a Kubernetes ConfigMap holds \(1048576 bytes\).*split the datasets over two rooms/s);
  });

  test("given the example room's configuration, then it is far below the limit", () => {
    const { service } = synthJobService();
    expect(Buffer.byteLength(service.configJson)).toBeLessThan(CONFIG_MAP_MAX_BYTES / 10);
  });
});

describe("jobServiceConfigFor", () => {
  test("given deployed references, then the policy is compiled with same-shaped literals and the references are put in place", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const template = new TerraformVariable(stack, "template", { type: "string" }).stringValue;
    const url = new TerraformVariable(stack, "url", { type: "string" }).stringValue;
    const config = jobServiceConfigFor(policy, {
      instanceTemplate: template,
      templateNamePrefix: TEMPLATE_PREFIX,
      userImagesRepository: "us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-user-images",
      verifierUrl: url,
      quarantineBucket: "q-bucket",
      releaseBucket: "r-bucket",
      executorBase: "us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-executor-bases/executor-base@sha256:" + "b".repeat(64),
    });
    expect(config.launch.instanceTemplate).toBe(template);
    expect(config.verifier.url).toBe(url);
    expect(config.launch.instancePrefix).toBe(jobInstancePrefix(ROOM));
    expect(config.images.defaultExecutorBase).toMatch(/executor-base@sha256:b{64}$/);
    // Approval of the deploy-built base is the room file's: it is the default base, not an approved one.
    expect(config.images.executorBases).toEqual(policy.jobs!.executorBases);
    expect(config.images.executorBases).toEqual(["sha256:2a0c6e3f7e2b9d4c81f5a7b6c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4"]);
    expect(config.images.executorBases).not.toContain(`sha256:${"b".repeat(64)}`);
    expect(JSON.stringify(config)).not.toMatch(/placeholder|verifier\.invalid/);
  });

  test("given literal resources that are wrong, then the policy compiler's check names the field", () => {
    expect(() =>
      jobServiceConfigFor(policy, {
        instanceTemplate: "not-a-template",
        templateNamePrefix: TEMPLATE_PREFIX,
        userImagesRepository: "us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-user-images",
        verifierUrl: "http://insecure.example.org",
        quarantineBucket: "q-bucket",
        releaseBucket: "r-bucket",
      }),
    ).toThrow(/deployment\.instanceTemplate: expected the room's instance template/);
  });
});

// ---------------------------------------------------------------------------------------------
// The job service's Compute Engine launcher (job-service/src/gce-launcher.ts), with a fake API
// ---------------------------------------------------------------------------------------------

describe("GceLauncher", () => {
  const config = literalConfig();
  const name = `insurance-study-job-${UUID}`;
  const image = `${config.images.userImagesRepository}/job-${UUID}@sha256:${"d".repeat(64)}`;
  const signatureRepo = config.datasets[0].signatureRepository;
  const templateMetadata = [
    { key: "tee-restart-policy", value: "Never" },
    { key: "serial-port-enable", value: "FALSE" },
  ];

  function fakeCompute(insertStatus?: number) {
    const calls: { url: string; method: string; data?: any }[] = [];
    const request = async (o: { url: string; method: string; data?: unknown }) => {
      calls.push(o);
      if (o.method === "GET" && o.url.includes("/instanceTemplates/")) {
        return { data: { properties: { metadata: { items: templateMetadata }, labels: { "clean-room": "insurance-study", component: "tee-workload" } } } };
      }
      if (o.method === "POST" && o.url.includes("/instances?")) {
        if (insertStatus) throw Object.assign(new Error("conflict"), { response: { status: insertStatus } });
        return { data: { name: "op-1", status: "RUNNING" } };
      }
      if (o.url.endsWith("/wait")) return { data: { name: "op-1", status: "DONE" } };
      if (o.method === "GET") throw Object.assign(new Error("not found"), { code: 404 });
      return { data: {} };
    };
    return { calls, request: request as any };
  }

  const spec = (overrides: object = {}) => ({ instanceName: name, imageReference: image, signedImageRepos: [signatureRepo], env: {}, labels: { job: UUID.slice(0, 8) }, ...overrides });

  test("given a job, then the VM is inserted from the room's template, keeping the template's metadata and labels and adding only the image and signature repositories", async () => {
    const { calls, request } = fakeCompute();
    await new GceLauncher({ config, request }).launch(spec());
    const insert = calls.find((c) => c.method === "POST" && c.url.includes("/instances?"))!;
    expect(insert.url).toBe(
      `https://compute.googleapis.com/compute/v1/projects/${PROJECT}/zones/${ZONE}/instances?sourceInstanceTemplate=${encodeURIComponent(TEMPLATE_ID)}`,
    );
    expect(insert.data).toEqual({
      name,
      metadata: { items: [...templateMetadata, { key: "tee-image-reference", value: image }, { key: "tee-signed-image-repos", value: signatureRepo }] },
      labels: { job: UUID.slice(0, 8), "clean-room": "insurance-study", component: "tee-workload" },
    });
    // No access config, machine type, disks or service account in the request: the template decides them.
    expect(Object.keys(insert.data).sort()).toEqual(["labels", "metadata", "name"]);
  });

  test("given a VM of that name already exists (a retry), then the launch succeeds without a second VM", async () => {
    const { calls, request } = fakeCompute(409);
    await expect(new GceLauncher({ config, request }).launch(spec())).resolves.toBeUndefined();
    expect(calls.filter((c) => c.method === "POST" && c.url.includes("/instances?"))).toHaveLength(1);
  });

  test("given what the policy does not allow, then nothing is called", async () => {
    const { calls, request } = fakeCompute();
    const launcher = new GceLauncher({ config, request });
    await expect(launcher.launch(spec({ instanceName: "gke-node-1" }))).rejects.toThrow(LaunchRefusedError);
    await expect(launcher.launch(spec({ imageReference: `${config.images.userImagesRepository}/job:latest` }))).rejects.toThrow("by digest only");
    await expect(launcher.launch(spec({ imageReference: `docker.io/evil/job@sha256:${"d".repeat(64)}` }))).rejects.toThrow("job images come from");
    await expect(launcher.launch(spec({ env: { EXECUTION_STAGE: "2" } }))).rejects.toThrow("tee-env-EXECUTION_STAGE: not in the policy's allowed env overrides");
    await expect(launcher.launch(spec({ signedImageRepos: ["us-central1-docker.pkg.dev/p/attacker-approvals"] }))).rejects.toThrow("is not a dataset's signature repository");
    expect(calls).toEqual([]);
  });

  test("given a template that already sets a launch key, then the launch is refused", async () => {
    const request = (async (o: { url: string; method: string }) =>
      o.method === "GET" ? { data: { properties: { metadata: { items: [{ key: "tee-image-reference", value: "x" }] } } } } : { data: {} }) as any;
    await expect(new GceLauncher({ config, request }).launch(spec())).rejects.toThrow("the instance template sets tee-image-reference");
  });

  test("given a VM that is gone, then its status is NOT_FOUND and deleting it again is success", async () => {
    const { request } = fakeCompute();
    const launcher = new GceLauncher({ config, request });
    await expect(launcher.status(name)).resolves.toBe("NOT_FOUND");
    await expect(launcher.delete(name)).resolves.toBeUndefined();
  });
});

describe("the container entry's configuration (job-service/src/main.ts)", () => {
  test("given the ConfigMap's file or the JSON itself, then the config is parsed; a missing variable names itself and who sets it", () => {
    const json = JSON.stringify(literalConfig());
    const file = require("node:path").join(require("node:os").tmpdir(), `job-service-config-${process.pid}.json`);
    require("node:fs").writeFileSync(file, json);
    expect(loadConfig({ MANATEE_JOB_SERVICE_CONFIG: file })).toEqual(literalConfig());
    expect(loadConfig({ MANATEE_JOB_SERVICE_CONFIG: json })).toEqual(literalConfig());
    expect(() => loadConfig({})).toThrow("MANATEE_JOB_SERVICE_CONFIG is not set; the deployment (lib/constructs/workloads/job-service/index.ts) sets it.");
    expect(() => loadConfig({ MANATEE_JOB_SERVICE_CONFIG: '{"version": 1}' })).toThrow("job service config: room: expected a non-empty string");
  });
});
