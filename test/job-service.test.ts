/**
 * JobServiceIdentity (Google half) and JobService (Kubernetes half): least privilege, the
 * names ManaTEE hard-codes, and the hardening of what runs in the cluster.
 */
import { App, TerraformStack, TerraformVariable, Testing } from "cdktf";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import {
  DEFAULT_CLOUD_SQL_PROXY_IMAGE,
  JobService,
  JobServiceIdentity,
  JobServiceProps,
  TEE_LAUNCHER_PERMISSIONS,
  jobServiceApiUrl,
  mysqlIamUserName,
  parseImageReference,
  teeLauncherRoleId,
} from "../lib/job-service";
import { NAME_RULES, manateeContract, platformNames } from "../lib/policy/names";
import { evaluateCel } from "./cel";
import { plaintextSecrets } from "./secret-scan";
import { SynthJson, examplePolicy, iamGrants, resourceConfigs, resources, synthStack, synthWith } from "./util";

const ROOM = "insurance-study";
const PROJECT = "acme-clean-room";
const contract = manateeContract(ROOM, PROJECT);
const names = platformNames({ name: ROOM, project: PROJECT });
const REGISTRY = "us-central1-docker.pkg.dev/acme-clean-room/insurance-study-images";

describe("JobServiceIdentity", () => {
  let json: SynthJson;
  let identity: JobServiceIdentity;
  beforeAll(() => {
    json = synthWith((stack) => {
      identity = new JobServiceIdentity(stack, "JobIdentity", {
        roomName: ROOM,
        project: PROJECT,
        databaseAccess: { instance: "insurance-study-jobs" },
        stage1Buckets: ["acme-clean-room-insurance-study-insurance-s1"],
      });
    });
  });
  const jobSa = () => resources(json, "google_service_account").find(([, c]) => c.account_id === names.jobServiceSaId)![0];
  const jupyterSa = () => resources(json, "google_service_account").find(([, c]) => c.account_id === names.jupyterSaId)![0];

  test("creates the two Google service accounts with ids that fit IAM's 30 characters", () => {
    const ids = resourceConfigs(json, "google_service_account").map((c) => c.account_id).sort();
    expect(ids).toEqual([names.jobServiceSaId, names.jupyterSaId].sort());
    for (const id of ids) {
      expect(id.length).toBeLessThanOrEqual(NAME_RULES.serviceAccountId.max);
      expect(id).toMatch(NAME_RULES.serviceAccountId.pattern);
    }
    expect(identity.jobServiceAccountEmail).toBe(`${names.jobServiceSaId}@${PROJECT}.iam.gserviceaccount.com`);
    expect(identity.databaseUser).toBe(names.jobServiceSaId);
  });

  test("grants no project-wide storage role, no instanceAdmin and never workloadIdentityPoolAdmin", () => {
    const grants = iamGrants(json);
    expect(grants.length).toBeGreaterThan(0);
    const projectRoles = grants.filter((g) => g.type === "google_project_iam_member").map((g) => g.role);
    expect(projectRoles.filter((r) => r.startsWith("roles/storage."))).toEqual([]);
    expect(grants.map((g) => g.role)).not.toContain("roles/iam.workloadIdentityPoolAdmin");
    expect(grants.map((g) => g.role).filter((r) => r.startsWith("roles/compute."))).toEqual([]);
    expect(grants.map((g) => g.role).filter((r) => /roles\/(owner|editor)$/.test(r))).toEqual([]);
  });

  test("project-level grants are exactly the launcher role, Cloud SQL login and log writing, all for the job service", () => {
    const project = resourceConfigs(json, "google_project_iam_member");
    const launcherRole = `\${google_project_iam_custom_role.${resources(json, "google_project_iam_custom_role")[0][0]}.name}`;
    expect(project.map((c) => c.role).sort()).toEqual(
      [launcherRole, "roles/cloudsql.client", "roles/cloudsql.instanceUser", "roles/logging.logWriter"].sort(),
    );
    for (const c of project) expect(c.member).toBe(`\${google_service_account.${jobSa()}.member}`);
  });

  test("the JupyterLab account holds no project role, only objectViewer on stage-1 buckets", () => {
    const jupyterMember = `\${google_service_account.${jupyterSa()}.member}`;
    const jupyterGrants = iamGrants(json).filter((g) => g.member === jupyterMember);
    expect(jupyterGrants.map((g) => [g.type, g.role, g.config.bucket])).toEqual([
      ["google_storage_bucket_iam_member", "roles/storage.objectViewer", "acme-clean-room-insurance-study-insurance-s1"],
    ]);
  });

  test("every job-service grant is scoped to the bucket, repository or service account it is for", () => {
    const member = `\${google_service_account.${jobSa()}.member}`;
    const bucket = resourceConfigs(json, "google_storage_bucket_iam_member").filter((c) => c.member === member);
    expect(bucket).toEqual([expect.objectContaining({ bucket: contract.hubBucket, role: "roles/storage.objectUser" })]);

    const repo = resourceConfigs(json, "google_artifact_registry_repository_iam_member");
    expect(repo).toEqual([
      expect.objectContaining({
        project: PROJECT,
        location: "us",
        repository: contract.userImagesRepository,
        role: "roles/artifactregistry.writer",
        member,
      }),
    ]);
  });

  test("token creator is granted on the job service account itself, to itself only", () => {
    const creators = resourceConfigs(json, "google_service_account_iam_member").filter(
      (c) => c.role === "roles/iam.serviceAccountTokenCreator",
    );
    expect(creators).toEqual([
      expect.objectContaining({
        service_account_id: `\${google_service_account.${jobSa()}.name}`,
        member: `\${google_service_account.${jobSa()}.member}`,
      }),
    ]);
  });

  test("serviceAccountUser (actAs) is granted on the TEE service account only", () => {
    const actAs = iamGrants(json).filter((g) => g.role === "roles/iam.serviceAccountUser");
    expect(actAs.map((g) => [g.type, g.config.service_account_id])).toEqual([
      ["google_service_account_iam_member", `projects/${PROJECT}/serviceAccounts/${contract.teeServiceAccountEmail}`],
    ]);
  });

  test("the TEE launcher role carries exactly the reconciler's VM permissions", () => {
    const [role] = resourceConfigs(json, "google_project_iam_custom_role");
    expect(role.role_id).toBe(teeLauncherRoleId(ROOM));
    expect(role.role_id).toMatch(/^[a-zA-Z0-9_.]{3,64}$/);
    expect(role.permissions).toEqual([...TEE_LAUNCHER_PERMISSIONS].sort());
    expect(role.permissions).toEqual(
      expect.arrayContaining(["compute.instances.create", "compute.instances.delete", "compute.subnetworks.useExternalIp"]),
    );
    for (const p of role.permissions) expect(p).not.toMatch(/\*|setIamPolicy|instances\.(setMachineType|attachDisk)/);
  });

  test("Workload Identity binds each Google account to exactly one Kubernetes service account", () => {
    const bindings = resourceConfigs(json, "google_service_account_iam_member").filter(
      (c) => c.role === "roles/iam.workloadIdentityUser",
    );
    expect(bindings.map((c) => [c.service_account_id, c.member]).sort()).toEqual(
      [
        [`\${google_service_account.${jobSa()}.name}`, `serviceAccount:${PROJECT}.svc.id.goog[manatee/dcr-k8s-pod-sa]`],
        [`\${google_service_account.${jupyterSa()}.name}`, `serviceAccount:${PROJECT}.svc.id.goog[manatee/jupyter-k8s-pod-sa]`],
      ].sort(),
    );
  });

  test("the Cloud SQL condition admits the job database instance and no other (real CEL engine)", () => {
    const sql = resourceConfigs(json, "google_project_iam_member").filter((c) => c.role.startsWith("roles/cloudsql."));
    expect(sql.map((c) => c.role).sort()).toEqual(["roles/cloudsql.client", "roles/cloudsql.instanceUser"]);
    for (const c of sql) {
      const expr = c.condition.expression;
      const allow = (name: string) =>
        evaluateCel(expr, { resource: { type: "sqladmin.googleapis.com/Instance", name, service: "sqladmin.googleapis.com" } }).allowed;
      expect(allow(`projects/${PROJECT}/instances/insurance-study-jobs`)).toBe(true);
      expect(allow(`projects/${PROJECT}/instances/other-db`)).toBe(false);
      expect(allow(`projects/other-project/instances/insurance-study-jobs`)).toBe(false);
    }
  });

  test("grants on shared resources can be left to their owners; signBlob on itself stays", () => {
    const own = synthWith((stack) =>
      new JobServiceIdentity(stack, "Id", { roomName: ROOM, project: PROJECT, grantOnSharedResources: false }),
    );
    expect(resources(own, "google_storage_bucket_iam_member")).toEqual([]);
    expect(resources(own, "google_artifact_registry_repository_iam_member")).toEqual([]);
    expect(resourceConfigs(own, "google_service_account_iam_member").map((c) => c.role).sort()).toEqual([
      "roles/iam.serviceAccountTokenCreator",
      "roles/iam.workloadIdentityUser",
      "roles/iam.workloadIdentityUser",
    ]);
  });

  test("by default the Cloud SQL login is left to JobDatabase (no duplicate bindings), never granted unconditionally", () => {
    const defaults = synthWith((stack) => new JobServiceIdentity(stack, "Id", { roomName: ROOM, project: PROJECT }));
    const roles = resourceConfigs(defaults, "google_project_iam_member").map((c) => c.role);
    expect(roles.filter((r) => r.startsWith("roles/cloudsql."))).toEqual([]);
    expect(roles).toHaveLength(2);
  });

  test("grantStage1Read is additive and idempotent; a token bucket needs an explicit id", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "s");
    const id = new JobServiceIdentity(stack, "Id", { roomName: ROOM, project: PROJECT });
    const a = id.grantStage1Read("bucket-a");
    expect(id.grantStage1Read("bucket-a")).toBe(a);
    expect(id.grantStage1Read("bucket-b")).not.toBe(a);
    const tokenBucket = new TerraformVariable(stack, "bucket", { type: "string" }).stringValue;
    expect(() => id.grantStage1Read(tokenBucket)).toThrow(
      'JobServiceIdentity.grantStage1Read: the bucket is a token; pass an explicit construct id (e.g. "Stage1-<dataset>").',
    );
  });

  test("refuses names that differ from what the ManaTEE images hard-code", () => {
    const build = (props: object) => () =>
      synthWith((stack) => new JobServiceIdentity(stack, "Id", { roomName: ROOM, project: PROJECT, ...props }));
    expect(build({ hubBucket: "my-hub" })).toThrow(
      `JobServiceIdentity "hubBucket" is "my-hub" but must be "${contract.hubBucket}": the ManaTEE API writes to it by name (storage.go). Create it with manateeContract() names.`,
    );
    expect(build({ userImagesRepository: { project: PROJECT, location: "us-central1", repositoryId: contract.userImagesRepository } })).toThrow(
      'JobServiceIdentity "userImagesRepository.location" is "us-central1" but must be "us"',
    );
    expect(build({ extraLauncherPermissions: ["compute.*"] })).toThrow(
      'JobServiceIdentity "extraLauncherPermissions" entry "compute.*" is not an IAM permission (service.resource.verb, e.g. "compute.disks.delete").',
    );
    expect(build({ namespace: "Manatee" })).toThrow('JobServiceIdentity "namespace" "Manatee" is not a valid Kubernetes name');
  });

  test("no key or secret material in the synthesized JSON", () => {
    expect(plaintextSecrets(json.resource)).toEqual([]);
    expect(resources(json, "google_service_account_key")).toEqual([]);
  });

  test("snapshot (paired with the property assertions above)", () => {
    const { terraform: _t, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

/** A workloads stack with a Kubernetes provider pointing at a placeholder cluster (no credentials). */
function synthWorkloads(props: Partial<JobServiceProps> = {}, app: App = Testing.app()): { json: SynthJson; service: JobService } {
  const stack = new TerraformStack(app, "workloads");
  new KubernetesProvider(stack, "kubernetes", {
    host: "https://203.0.113.10",
    clusterCaCertificate: "placeholder-ca",
  });
  const service = new JobService(stack, "JobService", {
    roomName: ROOM,
    project: PROJECT,
    region: "us-central1",
    zone: "us-central1-a",
    database: {
      connectionName: `${PROJECT}:us-central1:insurance-study-jobs`,
      databaseName: "manatee",
      iamUser: names.jobServiceSaId,
    },
    serviceAccounts: { jobService: names.jobServiceSaEmail, jupyter: names.jupyterSaEmail },
    images: { registry: REGISTRY },
    ...props,
  });
  return { json: synthStack(stack), service };
}

describe("JobService", () => {
  let json: SynthJson;
  let service: JobService;
  beforeAll(() => {
    ({ json, service } = synthWorkloads());
  });
  const deployment = (name: string) => resourceConfigs(json, "kubernetes_deployment_v1").find((d) => d.metadata.name === name);
  const podSpec = (name: string) => deployment(name).spec.template.spec;
  const labelsMatch = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => labels[k] === v);

  test("namespace enforces Pod Security baseline and warns/audits restricted", () => {
    const [ns] = resourceConfigs(json, "kubernetes_namespace_v1");
    expect(ns.metadata.name).toBe("manatee");
    expect(ns.metadata.labels).toMatchObject({
      "pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/warn": "restricted",
      "pod-security.kubernetes.io/audit": "restricted",
    });
  });

  test("Kubernetes service accounts carry the hard-coded names, Workload Identity annotations and no token", () => {
    const ksas = resourceConfigs(json, "kubernetes_service_account_v1");
    expect(ksas.map((k) => [k.metadata.name, k.metadata.annotations["iam.gke.io/gcp-service-account"], k.automount_service_account_token]).sort()).toEqual(
      [
        ["dcr-k8s-pod-sa", names.jobServiceSaEmail, false],
        ["jupyter-k8s-pod-sa", names.jupyterSaEmail, false],
      ].sort(),
    );
  });

  test("dcr-pod-role allows only the reconciler's calls, bound to dcr-k8s-pod-sa", () => {
    const [role] = resourceConfigs(json, "kubernetes_role_v1");
    expect(role.metadata.name).toBe("dcr-pod-role");
    expect(role.rule).toEqual([
      { api_groups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "delete"] },
      { api_groups: [""], resources: ["pods"], verbs: ["list"] },
      { api_groups: [""], resources: ["pods/log"], verbs: ["get"] },
    ]);
    const [binding] = resourceConfigs(json, "kubernetes_role_binding_v1");
    expect(binding.role_ref.kind).toBe("Role");
    expect(binding.subject).toEqual([
      expect.objectContaining({ kind: "ServiceAccount", name: expect.stringContaining("kubernetes_service_account_v1.JobService_JobServiceKsa") }),
    ]);
  });

  test("the ConfigMap holds the keys the images read, GCP backends and debug off", () => {
    const [cm] = resourceConfigs(json, "kubernetes_config_map_v1");
    expect(cm.data).toEqual({
      env: contract.env,
      projectId: PROJECT,
      region: "us-central1",
      zone: "us-central1-a",
      debug: "false",
      teeBackend: "GCP",
      storageType: "GCP",
      registryType: "GCP",
    });
  });

  test("mysql-secret names the IAM database user and holds no password", () => {
    const [secret] = resourceConfigs(json, "kubernetes_secret_v1");
    expect(secret.metadata.name).toBe("mysql-secret");
    expect(secret.data).toEqual({ "mysql-username": names.jobServiceSaId, "mysql-password": "", "mysql-database": "manatee" });
  });

  test("no plaintext secret anywhere in the synthesized JSON", () => {
    expect(plaintextSecrets(json.resource)).toEqual([]);
    // the detector is live: it flags a password and a key file
    expect(plaintextSecrets({ resource: { x: { y: { "mysql-password": "hunter2" } } } })).toHaveLength(1);
    expect(plaintextSecrets({ resource: { x: { y: { data: "-----BEGIN RSA PRIVATE KEY-----abc" } } } })).toHaveLength(1);
  });

  test("the two Deployments have distinct selectors and the Service selects only the API", () => {
    const api = deployment("manatee-api");
    const rec = deployment("manatee-reconciler");
    const apiSel = api.spec.selector.match_labels;
    const recSel = rec.spec.selector.match_labels;
    const apiPod = api.spec.template.metadata.labels;
    const recPod = rec.spec.template.metadata.labels;
    expect(labelsMatch(apiSel, apiPod)).toBe(true);
    expect(labelsMatch(recSel, recPod)).toBe(true);
    expect(labelsMatch(apiSel, recPod)).toBe(false);
    expect(labelsMatch(recSel, apiPod)).toBe(false);

    const [svc] = resourceConfigs(json, "kubernetes_service_v1");
    expect(svc.metadata.name).toBe("manatee");
    expect(svc.spec.type).toBe("ClusterIP");
    expect(svc.spec.port).toEqual([{ name: "http", port: 80, target_port: "http", protocol: "TCP" }]);
    expect(labelsMatch(svc.spec.selector, apiPod)).toBe(true);
    expect(labelsMatch(svc.spec.selector, recPod)).toBe(false);
    expect(service.apiUrl).toBe("http://manatee.manatee.svc.cluster.local");
  });

  test("the API is probed on GET /health and every container has requests and a memory limit", () => {
    const [api] = podSpec("manatee-api").container;
    expect(api.port).toEqual([{ name: "http", container_port: 8080, protocol: "TCP" }]);
    expect(api.liveness_probe.http_get).toEqual({ path: "/health", port: "http" });
    expect(api.readiness_probe.http_get).toEqual({ path: "/health", port: "http" });
    for (const name of ["manatee-api", "manatee-reconciler"]) {
      for (const c of podSpec(name).container) {
        expect(c.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
        expect(c.resources.limits.memory).toEqual(expect.any(String));
      }
    }
  });

  test("pods run non-root with RuntimeDefault seccomp; containers read-only, no escalation, no capabilities", () => {
    for (const name of ["manatee-api", "manatee-reconciler"]) {
      const spec = podSpec(name);
      expect(spec.security_context).toEqual({
        run_as_non_root: true,
        run_as_user: "65532",
        run_as_group: "65532",
        seccomp_profile: { type: "RuntimeDefault" },
      });
      expect(spec.node_selector).toEqual({ "iam.gke.io/gke-metadata-server-enabled": "true" });
      expect(spec.enable_service_links).toBe(false);
      expect(spec.host_network ?? false).toBe(false);
      for (const c of spec.container) {
        expect(c.security_context).toEqual({
          run_as_non_root: true,
          allow_privilege_escalation: false,
          read_only_root_filesystem: true,
          capabilities: { drop: ["ALL"] },
        });
      }
    }
  });

  test("only the reconciler mounts the Kubernetes API token; it runs once and is replaced, never doubled", () => {
    expect(podSpec("manatee-api").automount_service_account_token).toBe(false);
    expect(podSpec("manatee-reconciler").automount_service_account_token).toBe(true);
    expect(deployment("manatee-reconciler").spec.replicas).toBe("1");
    expect(deployment("manatee-reconciler").spec.strategy).toEqual({ type: "Recreate" });
  });

  test("the Cloud SQL proxy is pinned, private-IP, IAM-authenticated, on the port the images read", () => {
    for (const name of ["manatee-api", "manatee-reconciler"]) {
      const proxy = podSpec(name).container.find((c: any) => c.name === "cloud-sql-proxy");
      expect(proxy.image).toBe(DEFAULT_CLOUD_SQL_PROXY_IMAGE);
      expect(proxy.image).toMatch(/^gcr\.io\/cloud-sql-connectors\/cloud-sql-proxy:2\.\d+\.\d+$/);
      expect(proxy.args).toEqual([
        "--structured-logs",
        "--private-ip",
        "--auto-iam-authn",
        "--port=9910",
        "--health-check",
        "--http-address=0.0.0.0",
        "--http-port=9090",
        `${PROJECT}:us-central1:insurance-study-jobs`,
      ]);
      expect(proxy.startup_probe.http_get.path).toBe("/startup");
      expect(proxy.liveness_probe.http_get.path).toBe("/liveness");
    }
  });

  test("environment is exactly what each binary reads, MySQL settings from mysql-secret", () => {
    const envOf = (name: string) => podSpec(name).container[0].env;
    const apiEnv = envOf("manatee-api");
    const names = (env: any[]) => env.map((e) => e.name).sort();
    expect(names(apiEnv)).toEqual(
      ["DEBUG", "ENV", "MYSQL_DATABASE", "MYSQL_HOST", "MYSQL_PASSWORD", "MYSQL_PORT", "MYSQL_USERNAME", "PROJECT_ID", "REGION", "STORAGE_TYPE", "ZONE"].sort(),
    );
    expect(names(envOf("manatee-reconciler"))).toEqual([...names(apiEnv), "REGISTRY_TYPE", "TEE_BACKEND"].sort());
    const password = apiEnv.find((e: any) => e.name === "MYSQL_PASSWORD");
    expect(password.value_from.secret_key_ref).toEqual({ name: expect.stringContaining("MysqlSecret"), key: "mysql-password" });
    expect(apiEnv.find((e: any) => e.name === "MYSQL_PORT").value).toBe("9910");
  });

  test("NetworkPolicies admit only JupyterLab pods to the API port and nothing to the reconciler", () => {
    const policies = resourceConfigs(json, "kubernetes_network_policy_v1");
    const api = policies.find((p) => p.metadata.name === "manatee-api-ingress");
    expect(api.spec.policy_types).toEqual(["Ingress"]);
    expect(api.spec.ingress).toEqual([
      { from: [{ pod_selector: { match_labels: { component: "singleuser-server" } } }], ports: [{ port: "8080", protocol: "TCP" }] },
    ]);
    expect(labelsMatch(api.spec.pod_selector.match_labels, deployment("manatee-api").spec.template.metadata.labels)).toBe(true);
    const rec = policies.find((p) => p.metadata.name === "manatee-reconciler-deny-ingress");
    expect(rec.spec.policy_types).toEqual(["Ingress"]);
    expect(rec.spec.ingress).toBeUndefined();
  });

  test("images default to the service-images registry; a custom client namespace is selected by name", () => {
    expect(podSpec("manatee-api").container[0].image).toBe(`${REGISTRY}/manatee-api:latest`);
    expect(podSpec("manatee-reconciler").container[0].image).toBe(`${REGISTRY}/manatee-reconciler:latest`);
    const { json: other } = synthWorkloads({ apiAccess: { clientNamespace: "hub" } });
    const api = resourceConfigs(other, "kubernetes_network_policy_v1").find((p) => p.metadata.name === "manatee-api-ingress");
    expect(api.spec.ingress[0].from[0].namespace_selector).toEqual({ match_labels: { "kubernetes.io/metadata.name": "hub" } });
  });

  test("debug must agree with the policy; when allowed it reaches the reconciler", () => {
    expect(() => synthWorkloads({ debug: true, policy: examplePolicy() })).toThrow(
      'JobService "debug" is true but the policy\'s tee.allowDebug is false: the reconciler would launch the ' +
        "confidential-space-debug image, which the attestation condition rejects. Leave \"debug\" false, or set " +
        "tee.allowDebug: true in the policy of a non-production room.",
    );
    const { json: dbg } = synthWorkloads({ debug: true, policy: examplePolicy({ tee: { allowDebug: true } }) });
    expect(resourceConfigs(dbg, "kubernetes_config_map_v1")[0].data.debug).toBe("true");
  });

  test("bad configuration fails with the field and the fix", () => {
    expect(() => synthWorkloads({ images: { api: "manatee-api:latest", reconciler: `${REGISTRY}/r:1` } })).toThrow(
      'JobService "images.api" "manatee-api:latest" is not a full image reference.',
    );
    expect(() => synthWorkloads({ images: {} })).toThrow(
      'JobService "images.registry" is required unless both "images.api" and "images.reconciler" are given.',
    );
    expect(() =>
      synthWorkloads({
        database: { connectionName: `${PROJECT}:us-central1:db`, databaseName: "manatee", iamUser: names.jobServiceSaEmail },
      }),
    ).toThrow(`JobService "database.iamUser" "${names.jobServiceSaEmail}" is not a MySQL IAM user name.`);
    expect(() =>
      synthWorkloads({ database: { connectionName: "db", databaseName: "manatee", iamUser: "u" } }),
    ).toThrow('JobService "database.connectionName" "db" is not a Cloud SQL connection name.');
    expect(() => synthWorkloads({ serviceAccounts: { jobService: "dcr-pod-sa", jupyter: names.jupyterSaEmail } })).toThrow(
      'JobService "serviceAccounts.jobService" "dcr-pod-sa" is not a Google service account e-mail.',
    );
    expect(() => synthWorkloads({ apiReplicas: 0 })).toThrow('JobService "apiReplicas" must be a whole number of at least 1 (got 0).');
  });

  test("snapshot (paired with the property assertions above)", () => {
    const { terraform: _t, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("image references and helpers", () => {
  test("full references split into name, tag and digest; short names are refused", () => {
    const digest = `sha256:${"a".repeat(64)}`;
    expect(parseImageReference(`${REGISTRY}/manatee-api:v1.2`, "f")).toEqual({ name: `${REGISTRY}/manatee-api`, tag: "v1.2" });
    expect(parseImageReference(`${REGISTRY}/manatee-api@${digest}`, "f")).toEqual({ name: `${REGISTRY}/manatee-api`, digest });
    expect(parseImageReference(`localhost.localdomain:5000/x:1`, "f")).toEqual({ name: "localhost.localdomain:5000/x", tag: "1" });
    for (const bad of ["manatee-api:latest", `${REGISTRY}/manatee-api`, "docker.io/Library/x:1", `${REGISTRY}/x@sha256:abc`]) {
      expect(() => parseImageReference(bad, "F")).toThrow(`F "${bad}" is not a full image reference.`);
    }
  });

  test("the MySQL IAM user is the e-mail's local part; the API URL follows the namespace", () => {
    expect(mysqlIamUserName("dcr-room-pod-sa@p.iam.gserviceaccount.com")).toBe("dcr-room-pod-sa");
    expect(jobServiceApiUrl("research")).toBe("http://manatee.research.svc.cluster.local");
  });
});
