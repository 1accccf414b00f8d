import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import { TerraformOutput } from "cdktf";
import { KmsCryptoKeyIamMember } from "@cdktf/provider-google/lib/kms-crypto-key-iam-member";
import { checkContext } from "../lib/checks/context";
import { checkTerraform } from "../lib/checks/engine";
import type { CelInput } from "@bufbuild/cel";
import { AttestationVerifier, AttestationVerifierProps, ReceiptKey, VerifierIngress, directoryHash } from "../lib/constructs/verifier";
import { compileVerifierPolicy } from "../lib/policy/document";
import { platformNames } from "../lib/policy/names";
import { CleanRoomPolicy } from "../lib/policy/model";
import { OutputRelease } from "../lib/constructs/data-plane/output-release";
import { ENV_VARS as VERIFIER_ENV_VARS } from "../attestation-verifier/src/config";
import { REPLAY_MARKER_PREFIX as VERIFIER_REPLAY_PREFIX } from "../attestation-verifier/src/replay";
import { BUDGET_RECORD_PREFIX as VERIFIER_BUDGET_PREFIX } from "../attestation-verifier/src/budget";
import { BUDGET_RECORD_PREFIX, REPLAY_MARKER_PREFIX } from "../lib/constructs/verifier/contract";
import { expiryCondition } from "../lib/policy/members";
import { conditionBlock } from "../lib/internal/common";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { ProjectService } from "@cdktf/provider-google/lib/project-service";
import { EXAMPLE_DIGEST_A, SynthJson, examplePolicy, iamGrants, resourceConfigs, resources, synthWith } from "./util";

const FIXTURE = path.resolve(__dirname, "fixtures", "verifier-build");
/** A room without the job path (no `jobs`): the verifier alone, its document without `release`. */
const withoutJobs = (policy: CleanRoomPolicy): CleanRoomPolicy => ({ ...policy, jobs: undefined });
const POLICY = withoutJobs(examplePolicy());
const JOB_SERVICE = `serviceAccount:${platformNames(POLICY).jobServiceSaEmail}`;
const CMEK =
  "projects/acme-clean-room/locations/us-central1/keyRings/insurance-study-storage/cryptoKeys/insurance-study-storage";

function synthVerifier(props: Partial<AttestationVerifierProps> = {}): SynthJson {
  return synthWith((stack) => {
    new AttestationVerifier(stack, "verifier", {
      policy: POLICY,
      sourceDir: FIXTURE,
      jobServiceMember: JOB_SERVICE,
      ...props,
    });
  });
}

function construct(props: Partial<AttestationVerifierProps> = {}): () => void {
  return () => synthVerifier(props);
}

/** The single resource of `type`, with its logical id. */
/** The function's runtime identity (the build has a service account of its own). */
function runtimeSa(json: SynthJson): { id: string; config: any } {
  const found = resources(json, "google_service_account").filter(([id]) => id.startsWith("verifier_sa_"));
  expect(found).toHaveLength(1);
  return { id: found[0][0], config: found[0][1] };
}

function only(json: SynthJson, type: string): { id: string; config: any } {
  const list = resources(json, type);
  expect(list).toHaveLength(1);
  return { id: list[0][0], config: list[0][1] };
}

/** `${type.id.attr}` for a resource. */
const ref = (type: string, id: string, attr: string) => `\${${type}.${id}.${attr}}`;

/** What Terraform stores for a JSON-syntax string literal (undo `$${` / `%%{` escapes). */
const terraformValue = (literal: string) => literal.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{");

function evaluateCel(expression: string, bindings: Record<string, Map<string, CelInput>>): unknown {
  return plan(celEnv(), parse(expression))(bindings);
}

function copyFixture(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "verifier-build-"));
  for (const name of fs.readdirSync(FIXTURE)) fs.copyFileSync(path.join(FIXTURE, name), path.join(dir, name));
  return dir;
}

describe("AttestationVerifier with defaults", () => {
  let json: SynthJson;
  let fn: { id: string; config: any };
  let sa: { id: string; config: any };
  let key: { id: string; config: any };
  let buckets: Record<string, any>;
  const compiled = compileVerifierPolicy(POLICY);

  beforeAll(() => {
    json = synthVerifier();
    fn = only(json, "google_cloudfunctions2_function");
    sa = runtimeSa(json);
    key = only(json, "google_kms_crypto_key");
    buckets = Object.fromEntries(resourceConfigs(json, "google_storage_bucket").map((b) => [b.labels.component, b]));
  });

  test("given the defaults, when synthesized, then the function runs the bundle's verify entry point, reachable only internally", () => {
    expect(fn.config.build_config.runtime).toBe("nodejs22");
    expect(fn.config.build_config.entry_point).toBe("verify");
    expect(fn.config.location).toBe("us-central1");
    expect(fn.config.service_config).toMatchObject({
      ingress_settings: "ALLOW_INTERNAL_ONLY",
      min_instance_count: 0,
      max_instance_count: 5,
      all_traffic_on_latest_revision: true,
      available_memory: "256Mi",
      timeout_seconds: 30,
      service_account_email: ref("google_service_account", sa.id, "email"),
    });
  });

  test("then the env points at a content-addressed policy object holding exactly the compiled policy", () => {
    const [policyId, policyObject] = resources(json, "google_storage_bucket_object").find(([, o]) =>
      o.name.startsWith("policy-"),
    )!;
    const env = fn.config.service_config.environment_variables;

    expect(policyObject.name).toBe(`policy-${compiled.sha256}.json`);
    expect(terraformValue(policyObject.content)).toBe(compiled.json);
    expect(createHash("sha256").update(terraformValue(policyObject.content)).digest("hex")).toBe(compiled.sha256);
    expect(env.VERIFIER_POLICY_SHA256).toBe(compiled.sha256);
    expect(env.VERIFIER_POLICY_URI).toBe(
      `gs://${ref("google_storage_bucket_object", policyId, "bucket")}/${ref(
        "google_storage_bucket_object",
        policyId,
        "name",
      )}`,
    );
    expect(env.VERIFIER_KMS_KEY_VERSION).toBe(`${ref("google_kms_crypto_key", key.id, "id")}/cryptoKeyVersions/1`);
    expect(Object.keys(env).sort()).toEqual([
      "VERIFIER_AUDIT_BUCKET",
      "VERIFIER_KMS_KEY_VERSION",
      "VERIFIER_POLICY_SHA256",
      "VERIFIER_POLICY_URI",
      "VERIFIER_PUBLIC_JWKS_URI",
    ]);
    expect(env.VERIFIER_PUBLIC_JWKS_URI).toBe(`gs://${buckets["receipt-jwks"].name}/jwks.json`);
    // A reference: the function waits for the bucket its once-only markers go to.
    const [auditId] = resources(json, "google_storage_bucket").find(([, b]) => b.labels.component === "audit")!;
    expect(env.VERIFIER_AUDIT_BUCKET).toBe(ref("google_storage_bucket", auditId, "name"));
    expect(compiled.document.requireNonce).toBe(true);
  });

  test("then the receipt key is an HSM EC P-256 signing key that cannot be destroyed, in its own ring in the region", () => {
    expect(key.config).toMatchObject({
      purpose: "ASYMMETRIC_SIGN",
      version_template: { algorithm: "EC_SIGN_P256_SHA256", protection_level: "HSM" },
      destroy_scheduled_duration: "2592000s",
      lifecycle: { prevent_destroy: true },
      labels: { component: "receipt-key", "clean-room": "insurance-study" },
    });
    expect(key.config.rotation_period).toBeUndefined();
    const ring = only(json, "google_kms_key_ring");
    expect(ring.config.location).toBe("us-central1");
    expect(key.config.key_ring).toBe(ref("google_kms_key_ring", ring.id, "id"));
  });

  test("then the function's identity can sign with the receipt key, read policy objects and create replay markers, and nothing else", () => {
    const saMember = ref("google_service_account", sa.id, "member");
    const grants = iamGrants(json).filter((g) => g.member === saMember);

    expect(grants.map((g) => `${g.type} ${g.role}`).sort()).toEqual([
      "google_kms_crypto_key_iam_member roles/cloudkms.signerVerifier",
      // Create-only, under replay/ of the audit bucket (the once-only markers).
      "google_storage_bucket_iam_member roles/storage.objectCreator",
      // Publishes jwks.json (create and replace), on that one object of the public JWKS bucket.
      "google_storage_bucket_iam_member roles/storage.objectUser",
      "google_storage_bucket_iam_member roles/storage.objectViewer",
    ]);
    const publish = grants.find((g) => g.role === "roles/storage.objectUser")!;
    expect(publish.config.condition.expression).toBe(`resource.name == "projects/_/buckets/${buckets["receipt-jwks"].name}/objects/jwks.json"`);
    const kmsGrant = grants.find((g) => g.type === "google_kms_crypto_key_iam_member")!;
    expect(kmsGrant.config.crypto_key_id).toBe(ref("google_kms_crypto_key", key.id, "id"));
    // Nobody else holds any role on the receipt key: only the verifier signs receipts.
    const onKey = iamGrants(json).filter((g) => g.config.crypto_key_id === ref("google_kms_crypto_key", key.id, "id"));
    expect(onKey.map((g) => `${g.role} ${g.member}`)).toEqual([`roles/cloudkms.signerVerifier ${saMember}`]);
    // No project-wide (or key-ring-wide) role for the function; the build writes logs (project-only role).
    expect(Object.keys(json.resource ?? {}).filter((t) => /^google_kms_key_ring_iam_/.test(t))).toEqual([]);
    expect(resourceConfigs(json, "google_project_iam_member").map((g) => `${g.role} ${g.member}`)).toEqual([
      `roles/logging.logWriter \${google_service_account.${resources(json, "google_service_account").find(([id]) => id.startsWith("verifier_build-sa_"))![0]}.member}`,
    ]);
  });

  test("then the build runs as its own service account with exactly: read the source zips, push to its own image repository, write logs", () => {
    const [buildId] = resources(json, "google_service_account").find(([id]) => id.startsWith("verifier_build-sa_"))!;
    const member = ref("google_service_account", buildId, "member");
    const repo = only(json, "google_artifact_registry_repository");
    expect(fn.config.build_config.service_account).toBe(ref("google_service_account", buildId, "id"));
    expect(fn.config.build_config.docker_repository).toBe(ref("google_artifact_registry_repository", repo.id, "id"));
    expect(repo.config).toMatchObject({ location: "us-central1", format: "DOCKER", labels: { component: "verifier" } });
    const grants = iamGrants(json).filter((g) => g.member === member);
    expect(grants.map((g) => `${g.type} ${g.role}`).sort()).toEqual([
      "google_artifact_registry_repository_iam_member roles/artifactregistry.writer",
      "google_project_iam_member roles/logging.logWriter",
      "google_storage_bucket_iam_member roles/storage.objectViewer",
    ]);
    const read = grants.find((g) => g.role === "roles/storage.objectViewer")!;
    expect(read.config.condition.expression).toBe(`resource.name.startsWith("projects/_/buckets/${buckets.verifier.name}/objects/verifier-")`);
    expect(grants.find((g) => g.role === "roles/artifactregistry.writer")!.config.repository).toBe(ref("google_artifact_registry_repository", repo.id, "name"));
    // The function's first revision waits for the build's grants.
    for (const g of grants) expect(fn.config.depends_on).toContain(`${g.type}.${g.id}`);
  });

  test("then the policy-read condition, evaluated by a CEL engine, admits policy objects of its bucket only", () => {
    const grant = iamGrants(json).find((g) => g.role === "roles/storage.objectViewer" && g.config.condition?.title === "verifier-policy-objects")!;
    const bucket = buckets.verifier.name;
    const allows = (objectPath: string) =>
      evaluateCel(grant.config.condition.expression, { resource: new Map([["name", objectPath]]) });

    expect(allows(`projects/_/buckets/${bucket}/objects/policy-${compiled.sha256}.json`)).toBe(true);
    expect(allows(`projects/_/buckets/${bucket}/objects/verifier-0123.zip`)).toBe(false);
    expect(allows(`projects/_/buckets/${bucket}-other/objects/policy-x.json`)).toBe(false);
    expect(allows(`projects/_/buckets/${bucket}`)).toBe(false);
    expect(isCelError(allows("x"))).toBe(false);
  });

  test("then exactly the job service and the researchers may invoke, through run.invoker on the function's Cloud Run service", () => {
    const invokers = resourceConfigs(json, "google_cloud_run_v2_service_iam_member");

    expect(invokers.map((i) => i.member).sort()).toEqual([...POLICY.researchers, JOB_SERVICE].sort());
    for (const invoker of invokers) {
      expect(invoker).toMatchObject({
        role: "roles/run.invoker",
        name: ref("google_cloudfunctions2_function", fn.id, "service_config[0].service"),
        location: "us-central1",
        project: "acme-clean-room",
      });
    }
    // The one public grant is read on the receipt JWKS bucket (test/checks/public-jwks.test.ts), never the function.
    expect(iamGrants(json).filter((g) => /^all(Authenticated)?Users$/.test(g.member)).map((g) => [g.type, g.role, g.config.bucket])).toEqual([
      ["google_storage_bucket_iam_member", "roles/storage.objectViewer", ref("google_storage_bucket", resources(json, "google_storage_bucket").find(([, b]) => b.labels.component === "receipt-jwks")![0], "name")],
    ]);
    expect(resources(json, "google_cloudfunctions2_function_iam_member")).toEqual([]);
  });

  test("then the audit bucket keeps records 400 days under a locked retention policy, private and uniform, in the region", () => {
    expect(buckets.audit).toMatchObject({
      retention_policy: { retention_period: 400 * 86_400, is_locked: true },
      versioning: { enabled: false },
      uniform_bucket_level_access: true,
      public_access_prevention: "enforced",
      force_destroy: false,
      location: "us-central1",
      labels: { component: "audit", "clean-room": "insurance-study" },
    });
    expect(buckets.verifier).toMatchObject({ uniform_bucket_level_access: true, public_access_prevention: "enforced" });
  });

  test("then only the verifier's stdout log of its own service is routed to the audit bucket, whose writers are the sink and the verifier's markers", () => {
    const sink = only(json, "google_logging_project_sink");
    const [auditId] = resources(json, "google_storage_bucket").find(([, b]) => b.labels.component === "audit")!;
    const auditName = ref("google_storage_bucket", auditId, "name");

    expect(sink.config.unique_writer_identity).toBe(true);
    expect(sink.config.destination).toBe(`storage.googleapis.com/${auditName}`);
    // Pinned to the log Cloud Run writes a gen2 function's stdout to (the verifier's records).
    expect(sink.config.filter.split(" AND ")).toEqual([
      'logName="projects/acme-clean-room/logs/run.googleapis.com%2Fstdout"',
      'resource.type="cloud_run_revision"',
      `resource.labels.service_name="${fn.config.name}"`,
      'jsonPayload.component="manatee-attestation-verifier"',
      "jsonPayload.decision:*",
    ]);

    const writers = iamGrants(json).filter((g) => g.config.bucket === auditName && g.role !== "roles/storage.objectViewer");
    expect(writers.map((g) => `${g.role} ${g.member}`).sort()).toEqual([
      `roles/storage.objectCreator ${ref("google_logging_project_sink", sink.id, "writer_identity")}`,
      `roles/storage.objectCreator ${ref("google_service_account", sa.id, "member")}`,
    ]);
    // The verifier's create-only grant admits its markers and nothing else, evaluated by a CEL engine.
    const markers = writers.find((g) => g.member === ref("google_service_account", sa.id, "member"))!;
    const allows = (object: string) => evaluateCel(markers.config.condition.expression, { resource: new Map([["name", object]]) });
    const bucket = "acme-clean-room-insurance-study-verifier-audit";
    expect(allows(`projects/_/buckets/${bucket}/objects/replay/${"ab".repeat(32)}`)).toBe(true);
    expect(allows(`projects/_/buckets/${bucket}/objects/cloud_run_revision/2026/06/01/00:00:00_00:59:59_S0.json`)).toBe(false);
    expect(allows(`projects/_/buckets/${bucket}-x/objects/replay/${"ab".repeat(32)}`)).toBe(false);
    expect(fn.config.depends_on).toContain(`google_storage_bucket_iam_member.${markers.id}`);
  });

  test("then the key, its signer grant and the audit bucket keep their former Terraform addresses (moved blocks, no replacement)", () => {
    // The addresses the previous version synthesized, before these moved under ReceiptKey and CleanRoomBucket.
    expect((json as { moved?: { from: string }[] }).moved?.map((m) => m.from).sort()).toEqual([
      "google_kms_crypto_key.verifier_receipt-key_9BA94C3D",
      "google_kms_crypto_key_iam_member.verifier_sa-signs-receipts_E1FDB232",
      "google_storage_bucket.verifier_audit_FE2339E8",
    ]);
  });

  test("then the function builds from a source object named by the bundle's content hash", () => {
    const [sourceId, source] = resources(json, "google_storage_bucket_object").find(([, o]) =>
      o.name.endsWith(".zip"),
    )!;
    const hash = directoryHash(FIXTURE);

    expect(source.name).toBe(`verifier-${hash}.zip`);
    expect(source.source).toMatch(new RegExp(`^assets/[^/]+/${hash}/verifier-${hash}\\.zip$`));
    expect(source.lifecycle).toEqual({ create_before_destroy: true });
    expect(fn.config.build_config.source.storage_source.object).toBe(
      ref("google_storage_bucket_object", sourceId, "name"),
    );
  });

  test("then the first revision waits for its key and policy grants", () => {
    const dependsOn: string[] = fn.config.depends_on;
    expect(dependsOn.some((d) => d.startsWith("google_kms_crypto_key_iam_member."))).toBe(true);
    expect(dependsOn.some((d) => d.startsWith("google_storage_bucket_iam_member."))).toBe(true);
  });

  test("then the synthesized stack matches the snapshot", () => {
    const { terraform: _versions, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("AttestationVerifier public members", () => {
  test("given a verifier, then its url, JWKS url and key version resolve to the resources it created", () => {
    let verifier!: AttestationVerifier;
    const json = synthWith((stack) => {
      verifier = new AttestationVerifier(stack, "verifier", { policy: POLICY, sourceDir: FIXTURE });
      // As a platform stack would publish them.
      new TerraformOutput(stack, "url", { value: verifier.url, staticId: true });
      new TerraformOutput(stack, "jwks", { value: verifier.jwksUrl, staticId: true });
      new TerraformOutput(stack, "key-version", { value: verifier.receiptKeyVersionName, staticId: true });
    });
    const output = (name: string) => json.output![name].value;
    const fnId = only(json, "google_cloudfunctions2_function").id;
    const keyId = only(json, "google_kms_crypto_key").id;

    expect(output("url")).toBe(ref("google_cloudfunctions2_function", fnId, "service_config[0].uri"));
    expect(output("jwks")).toBe("https://storage.googleapis.com/acme-clean-room-insurance-study-receipt-jwks/jwks.json");
    expect(output("key-version")).toBe(`${ref("google_kms_crypto_key", keyId, "id")}/cryptoKeyVersions/1`);
    expect(verifier.policySha256).toBe(compileVerifierPolicy(POLICY).sha256);
    expect(verifier.auditBucket).toBeDefined();
    expect(verifier.receiptKeyRing).toBeDefined();
  });
});

describe("AttestationVerifier policy delivery", () => {
  test("given a changed approval, when synthesized, then the policy object and the function's env change with it", () => {
    const before = synthVerifier();
    const changed = withoutJobs(examplePolicy({
      approvals: [
        {
          imageDigest: EXAMPLE_DIGEST_A,
          datasets: ["insurance"],
          purpose: "XGBoost regression of insurance charges",
          approvedBy: "owner@example.org",
          expires: "2027-06-30",
        },
      ],
    }));
    const after = synthVerifier({ policy: changed });
    const envOf = (json: SynthJson) =>
      only(json, "google_cloudfunctions2_function").config.service_config.environment_variables;
    const policyNameOf = (json: SynthJson) =>
      resourceConfigs(json, "google_storage_bucket_object").find((o) => o.name.startsWith("policy-"))!.name;

    expect(envOf(after).VERIFIER_POLICY_SHA256).toBe(compileVerifierPolicy(changed).sha256);
    expect(envOf(after).VERIFIER_POLICY_SHA256).not.toBe(envOf(before).VERIFIER_POLICY_SHA256);
    expect(policyNameOf(after)).toBe(`policy-${compileVerifierPolicy(changed).sha256}.json`);
    expect(policyNameOf(after)).not.toBe(policyNameOf(before));
  });

  test("given a purpose with Terraform template syntax, then the object content is escaped so the bytes stay the compiled policy", () => {
    const tricky = withoutJobs(examplePolicy({
      approvals: [
        {
          imageDigest: EXAMPLE_DIGEST_A,
          datasets: ["insurance"],
          purpose: "costs in ${var.currency} %{ if true }",
          approvedBy: "owner@example.org",
        },
      ],
    }));
    const json = synthVerifier({ policy: tricky });
    const content: string = resourceConfigs(json, "google_storage_bucket_object").find((o) =>
      o.name.startsWith("policy-"),
    )!.content;

    expect(content).toContain("$${var.currency} %%{ if true }");
    expect(content).not.toMatch(/(^|[^$])\$\{/);
    expect(terraformValue(content)).toBe(compileVerifierPolicy(tricky).json);
  });
});

describe("AttestationVerifier options", () => {
  test("given INTERNAL_AND_GCLB, then ingress admits the load balancer", () => {
    const json = synthVerifier({ ingress: VerifierIngress.INTERNAL_AND_GCLB });
    expect(only(json, "google_cloudfunctions2_function").config.service_config.ingress_settings).toBe(
      "ALLOW_INTERNAL_AND_GCLB",
    );
  });

  test("given ALLOW_ALL with the acknowledgement, then ingress is open but invokers are still named", () => {
    const json = synthVerifier({ ingress: VerifierIngress.ALL, acknowledgeInternetIngress: true });
    expect(only(json, "google_cloudfunctions2_function").config.service_config.ingress_settings).toBe("ALLOW_ALL");
    expect(resourceConfigs(json, "google_cloud_run_v2_service_iam_member").map((i) => i.member)).not.toContain(
      "allUsers",
    );
  });

  test("given an existing key ring, a software key and version 2, then the key lives there and the function signs with version 2", () => {
    const ring = "projects/acme-clean-room/locations/us-central1/keyRings/shared";
    const json = synthVerifier({ receiptKey: { keyRing: ring, protectionLevel: "SOFTWARE", version: 2 } });
    const key = only(json, "google_kms_crypto_key");

    expect(resources(json, "google_kms_key_ring")).toEqual([]);
    expect(key.config.key_ring).toBe(ring);
    expect(key.config.version_template.protection_level).toBe("SOFTWARE");
    expect(
      only(json, "google_cloudfunctions2_function").config.service_config.environment_variables
        .VERIFIER_KMS_KEY_VERSION,
    ).toBe(`${ref("google_kms_crypto_key", key.id, "id")}/cryptoKeyVersions/2`);
  });

  test("given an existing audit bucket, then no bucket is created and the sink writes there", () => {
    const json = synthVerifier({ audit: { existingBucketName: "acme-clean-room-audit" } });
    const sink = only(json, "google_logging_project_sink");

    expect(resourceConfigs(json, "google_storage_bucket").map((b) => b.labels.component)).toEqual(["verifier", "receipt-jwks"]);
    expect(sink.config.destination).toBe("storage.googleapis.com/acme-clean-room-audit");
    const creators = iamGrants(json).filter((g) => g.role === "roles/storage.objectCreator");
    expect(creators.map((g) => g.config.bucket)).toEqual(["acme-clean-room-audit", "acme-clean-room-audit"]);
    // The markers go there too, and the verifier's grant names that bucket's replay/ prefix.
    expect(only(json, "google_cloudfunctions2_function").config.service_config.environment_variables.VERIFIER_AUDIT_BUCKET).toBe("acme-clean-room-audit");
    expect(creators.map((g) => g.config.condition?.expression).filter(Boolean)).toEqual([
      'resource.name.startsWith("projects/_/buckets/acme-clean-room-audit/objects/replay/")',
    ]);
  });

  test("given a dataset with a privacy budget, then the verifier reads and creates ledger records under budget/ of the audit bucket, and nothing more", () => {
    const withBudget: CleanRoomPolicy = { ...POLICY, datasets: POLICY.datasets.map((d, i) => (i === 0 ? { ...d, budget: { epsilon: 4 } } : d)) };
    const json = synthVerifier({ policy: withBudget });
    const saMember = ref("google_service_account", runtimeSa(json).id, "member");
    const [auditId] = resources(json, "google_storage_bucket").find(([, b]) => b.labels.component === "audit")!;
    const onAudit = iamGrants(json).filter((g) => g.member === saMember && g.config.bucket === ref("google_storage_bucket", auditId, "name"));
    const budget = onAudit.filter((g) => g.config.condition.title.startsWith("verifier-budget"));

    expect(budget.map((g) => g.role).sort()).toEqual(["roles/storage.objectCreator", "roles/storage.objectViewer"]);
    expect(onAudit).toHaveLength(3); // and the replay markers' create-only grant
    const bucket = "acme-clean-room-insurance-study-verifier-audit";
    for (const grant of budget) {
      const allows = (object: string) => evaluateCel(grant.config.condition.expression, { resource: new Map([["name", object]]) });
      expect(allows(`projects/_/buckets/${bucket}/objects/${VERIFIER_BUDGET_PREFIX}insurance/000000000003`)).toBe(true);
      // Not the decision records, not the replay markers, not another bucket's budget/.
      expect(allows(`projects/_/buckets/${bucket}/objects/cloud_run_revision/2026/06/01/00:00:00_00:59:59_S0.json`)).toBe(false);
      expect(allows(`projects/_/buckets/${bucket}/objects/replay/${"ab".repeat(32)}`)).toBe(false);
      expect(allows(`projects/_/buckets/${bucket}-x/objects/budget/insurance/000000000003`)).toBe(false);
    }
    const fn = only(json, "google_cloudfunctions2_function");
    for (const g of budget) expect(fn.config.depends_on).toContain(`google_storage_bucket_iam_member.${g.id}`);
    // Without a budget (the defaults above), no grant under budget/ and nothing readable in the audit bucket.
    expect(iamGrants(synthVerifier()).filter((g) => g.member === saMember && g.config.condition?.title?.startsWith("verifier-budget"))).toEqual([]);
  });

  test("given a ReceiptKey whose signer is not a service account, then it refuses: only the verifier signs receipts", () => {
    expect(() =>
      synthWith((stack) => {
        new ReceiptKey(stack, "receipts", { room: "insurance-study", keyRingId: "projects/p/locations/us-central1/keyRings/r", keyName: "receipts", signer: "group:auditors@example.org" });
      }),
    ).toThrow('signer "group:auditors@example.org" is not a service account.');
  });

  test("given a test room that leaves the retention unlocked (audit.lockRetention: false), then the policy is unlocked, the period kept", () => {
    const audit = resourceConfigs(synthVerifier({ audit: { lockRetention: false } }), "google_storage_bucket").find((b) => b.labels.component === "audit");
    expect(audit.retention_policy).toEqual({ retention_period: 400 * 86_400, is_locked: false });
  });

  test("given a locked 10-year retention and a CMEK with its service-agent grant, then both buckets use the key after the grant", () => {
    const json = synthWith((stack) => {
      const agentGrant = new KmsCryptoKeyIamMember(stack, "agent-grant", {
        cryptoKeyId: CMEK,
        role: "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        member: "serviceAccount:service-123@gs-project-accounts.iam.gserviceaccount.com",
      });
      new AttestationVerifier(stack, "verifier", {
        policy: POLICY,
        sourceDir: FIXTURE,
        audit: { retentionDays: 3650, lockRetention: true },
        encryptionKey: { cryptoKeyId: CMEK, serviceAgentGrant: agentGrant },
      });
    });
    const [grantId] = resources(json, "google_kms_crypto_key_iam_member").find(([id]) => id.startsWith("agent-grant"))!;
    // The public JWKS bucket holds public keys only: no CMEK (MCR-GCS2 does not ask one of it).
    const bucketList = resourceConfigs(json, "google_storage_bucket").filter((b) => b.labels.component !== "receipt-jwks");
    const audit = bucketList.find((b) => b.labels.component === "audit");

    expect(audit.retention_policy).toEqual({ retention_period: 3650 * 86_400, is_locked: true });
    expect(bucketList).toHaveLength(2);
    for (const bucket of bucketList) {
      expect(bucket.encryption).toEqual({ default_kms_key_name: CMEK });
      expect(bucket.depends_on).toEqual([`google_kms_crypto_key_iam_member.${grantId}`]);
    }
  });

  test("given an invoker listed twice and the job service repeated in invokers, then each member is bound once", () => {
    const json = synthVerifier({
      invokers: ["group:researchers@example.org", JOB_SERVICE, "user:auditor@example.org"],
    });
    const members = resourceConfigs(json, "google_cloud_run_v2_service_iam_member")
      .map((i) => i.member)
      .sort();
    expect(members).toEqual([JOB_SERVICE, "group:researchers@example.org", "user:auditor@example.org"].sort());
  });

  test("given dependsOn (the room's APIs), then every resource that calls an API first waits for it", () => {
    const json = synthWith((stack) => {
      const api = new ProjectService(stack, "functions-api", { service: "cloudfunctions.googleapis.com" });
      new AttestationVerifier(stack, "verifier", { policy: POLICY, sourceDir: FIXTURE, dependsOn: [api] });
    });
    const [apiId] = resources(json, "google_project_service")[0];
    const waits = (type: string) =>
      resourceConfigs(json, type).every((c) => (c.depends_on ?? []).includes(`google_project_service.${apiId}`));
    for (const type of [
      "google_service_account",
      "google_kms_key_ring",
      "google_kms_crypto_key",
      "google_storage_bucket",
      "google_cloudfunctions2_function",
      "google_logging_project_sink",
    ]) {
      expect([type, waits(type)]).toEqual([type, true]);
    }
  });

  test("given grantInvoke with an expiry condition and with a token member, then each grant is additive and stable", () => {
    const expiry = expiryCondition("2026-12-31");
    const json = synthWith((stack) => {
      const v = new AttestationVerifier(stack, "verifier", { policy: POLICY, sourceDir: FIXTURE });
      const caller = new ServiceAccount(stack, "caller", { accountId: "release-bot" });
      v.grantInvoke("user:visiting-auditor@example.org", expiry);
      v.grantInvoke("user:visiting-auditor@example.org", expiry);
      v.grantInvoke(caller.member, { id: "invoker-release-bot" });
    });
    const invokers = resources(json, "google_cloud_run_v2_service_iam_member");
    const visiting = invokers.filter(([, c]) => c.member === "user:visiting-auditor@example.org");

    expect(visiting).toHaveLength(1);
    expect(visiting[0][1].condition).toEqual(conditionBlock(expiry));
    expect(invokers.find(([id]) => id.startsWith("verifier_invoker-release-bot"))![1].member).toMatch(
      /^\$\{google_service_account\.caller.*\.member\}$/,
    );
  });

  test("given grantInvoke with a token member and no id, then it asks for a stable id", () => {
    expect(() =>
      synthWith((stack) => {
        const v = new AttestationVerifier(stack, "verifier", { policy: POLICY, sourceDir: FIXTURE });
        v.grantInvoke(new ServiceAccount(stack, "caller", { accountId: "release-bot" }).member);
      }),
    ).toThrow(
      new Error("AttestationVerifier: grantInvoke(member) is a token; pass a stable construct id in options.id."),
    );
  });

  test("given grantReadAudit, then the reader gets objectViewer on the audit bucket only", () => {
    const json = synthWith((stack) => {
      const v = new AttestationVerifier(stack, "verifier", { policy: POLICY, sourceDir: FIXTURE });
      v.grantReadAudit("group:auditors@example.org");
    });
    const grants = iamGrants(json).filter((g) => g.member === "group:auditors@example.org");
    const [auditId] = resources(json, "google_storage_bucket").find(([, b]) => b.labels.component === "audit")!;
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatchObject({
      role: "roles/storage.objectViewer",
      config: { bucket: ref("google_storage_bucket", auditId, "name") },
    });
  });
});

describe("AttestationVerifier under the clean room's guardrails", () => {
  const findings = (props: Partial<AttestationVerifierProps>) =>
    checkTerraform(
      synthVerifier(props) as any,
      checkContext({ policy: POLICY, now: new Date("2026-06-01T00:00:00Z") }),
    );

  test("given a CMEK, when the whole rule pack checks the stack, then it finds nothing", () => {
    expect(findings({ encryptionKey: { cryptoKeyId: CMEK } })).toEqual([]);
  });

  test("given no CMEK, then the only finding is MCR-GCS2 on the audit bucket (which holds room data)", () => {
    const result = findings({});
    expect(result.map((f) => [f.ruleId, f.level, f.address.split(".")[0]])).toEqual([
      ["MCR-GCS2", "error", "google_storage_bucket"],
    ]);
    expect(result[0].address).toMatch(/audit/);
  });
});

describe("directoryHash (the bundle's asset hash)", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const fresh = () => {
    const d = copyFixture();
    dirs.push(d);
    return d;
  };

  test("given two copies of the same bundle, then two constructions give the same hash and source object", () => {
    const a = fresh();
    const b = fresh();
    const name = (dir: string) =>
      resourceConfigs(synthVerifier({ sourceDir: dir }), "google_storage_bucket_object").find((o) =>
        o.name.endsWith(".zip"),
      )!.name;
    expect(directoryHash(a)).toBe(directoryHash(b));
    expect(name(a)).toBe(name(b));
    expect(name(a)).toBe(`verifier-${directoryHash(FIXTURE)}.zip`);
  });

  test("given touched mtimes and files written in another order, then the hash does not change", () => {
    const dir = fresh();
    const before = directoryHash(dir);
    const past = new Date("2001-01-01T00:00:00Z");
    for (const f of fs.readdirSync(dir)) fs.utimesSync(path.join(dir, f), past, past);
    expect(directoryHash(dir)).toBe(before);

    const reordered = fs.mkdtempSync(path.join(os.tmpdir(), "verifier-build-"));
    dirs.push(reordered);
    for (const f of fs.readdirSync(FIXTURE).reverse()) fs.copyFileSync(path.join(FIXTURE, f), path.join(reordered, f));
    expect(directoryHash(reordered)).toBe(before);
  });

  test("given the build script's tree hash, then the asset hash is the same number (the printed sha256 names the object)", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { treeSha256 } = require("../attestation-verifier/scripts/build.js");
    const dir = fresh();
    fs.mkdirSync(path.join(dir, "node_modules", "jose"), { recursive: true });
    fs.writeFileSync(path.join(dir, "node_modules", "jose", "index.js"), "module.exports = {};\n");
    expect(directoryHash(dir)).toBe(treeSha256(dir).sha256);
    expect(directoryHash(FIXTURE)).toBe(treeSha256(FIXTURE).sha256);
  });

  test("given a changed byte, an added file or a renamed file, then the hash changes", () => {
    const base = directoryHash(FIXTURE);
    const changed = fresh();
    fs.appendFileSync(path.join(changed, "index.js"), " ");
    const added = fresh();
    fs.mkdirSync(path.join(added, "lib"));
    fs.writeFileSync(path.join(added, "lib", "extra.js"), "");
    const renamed = fresh();
    fs.renameSync(path.join(renamed, "index.js"), path.join(renamed, "main.js"));

    expect(new Set([base, directoryHash(changed), directoryHash(added), directoryHash(renamed)]).size).toBe(4);
  });
});

describe("AttestationVerifier validation", () => {
  test("given a directory without a built bundle, then it names the directory and the build command", () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "verifier-empty-"));
    try {
      expect(construct({ sourceDir: empty })).toThrow(
        new Error(
          `AttestationVerifier: sourceDir "${empty}" has no built verifier (index.js and package.json). ` +
            "Build it first: run `node attestation-verifier/scripts/build.js` (npm run synth does this).",
        ),
      );
    } finally {
      fs.rmSync(empty, { recursive: true });
    }
  });

  test("given a path that does not exist, then the same build hint", () => {
    expect(construct({ sourceDir: "/nonexistent/verifier/build" })).toThrow(
      /sourceDir "\/nonexistent\/verifier\/build" has no built verifier .*node attestation-verifier\/scripts\/build\.js/,
    );
  });

  test("given allUsers among the invokers, then it refuses: the verifier is never public", () => {
    expect(construct({ invokers: ["allUsers"] })).toThrow(
      new Error(
        'AttestationVerifier: invokers must not contain "allUsers": the verifier is never public. ' +
          "Name the callers (user:, group:, serviceAccount:, domain:, principal:, principalSet:).",
      ),
    );
    expect(construct({ policy: withoutJobs(examplePolicy({ researchers: ["allAuthenticatedUsers"] })) })).toThrow(
      'AttestationVerifier: policy.researchers must not contain "allAuthenticatedUsers"',
    );
  });

  test("given grantInvoke(allUsers) after construction, then it refuses too", () => {
    expect(() =>
      synthWith((stack) =>
        new AttestationVerifier(stack, "v", { policy: POLICY, sourceDir: FIXTURE }).grantInvoke("allUsers"),
      ),
    ).toThrow('AttestationVerifier: grantInvoke(member) must not contain "allUsers"');
  });

  test("given an invoker without a member prefix, then it shows the expected form", () => {
    expect(construct({ invokers: ["alice@example.org"] })).toThrow(
      new Error(
        'AttestationVerifier: invokers has "alice@example.org", which is not an IAM member. ' +
          'Use a prefix such as "user:", "group:" or "serviceAccount:" (e.g. "group:auditors@example.org").',
      ),
    );
  });

  test("given ALLOW_ALL without the acknowledgement, then it refuses and names the safer options", () => {
    expect(construct({ ingress: VerifierIngress.ALL })).toThrow(
      new Error(
        "AttestationVerifier: ingress is ALLOW_ALL, which exposes the verifier to the internet. Prefer INTERNAL_ONLY or " +
          "INTERNAL_AND_GCLB (behind a load balancer); if you mean it, also set acknowledgeInternetIngress: true.",
      ),
    );
  });

  test("given a job service member that is not a service account, then it says what it must be", () => {
    expect(construct({ jobServiceMember: "group:jobs@example.org" })).toThrow(
      new Error(
        'AttestationVerifier: jobServiceMember is "group:jobs@example.org"; ' +
          `it must be the job service's Google service account, "serviceAccount:<email>".`,
      ),
    );
  });

  test("given a region outside the residency set, then it refuses", () => {
    expect(construct({ region: "europe-west4" })).toThrow(
      new Error(
        'AttestationVerifier: region "europe-west4" lies outside the residency set [us-central1]. ' +
          `Choose a location in the residency set, or add its region to "residency" if the data owner allows it.`,
      ),
    );
  });

  test("given an existing key ring outside the residency set, then it refuses", () => {
    expect(construct({ receiptKey: { keyRing: "projects/p/locations/europe-west4/keyRings/r" } })).toThrow(
      'AttestationVerifier: receiptKey.keyRing location "europe-west4" lies outside the residency set',
    );
    expect(construct({ receiptKey: { keyRing: "shared" } })).toThrow(
      new Error(
        `AttestationVerifier: receiptKey.keyRing is "shared"; use the key ring's id "projects/P/locations/L/keyRings/R".`,
      ),
    );
  });

  test("given a CMEK in another location, then it refuses: Cloud Storage needs a key in the bucket's location", () => {
    expect(construct({ encryptionKey: { cryptoKeyId: "projects/p/locations/us/keyRings/r/cryptoKeys/k" } })).toThrow(
      new Error(
        'AttestationVerifier: encryptionKey is in "us" but the buckets are in "us-central1"; ' +
          "Cloud Storage needs a CMEK in the bucket's location.",
      ),
    );
    expect(construct({ encryptionKey: { cryptoKeyId: "storage-key" } })).toThrow(
      new Error(
        'AttestationVerifier: encryptionKey.cryptoKeyId is "storage-key"; use "projects/P/locations/L/keyRings/R/cryptoKeys/K".',
      ),
    );
  });

  test("given out-of-range numbers, then each names its prop and range", () => {
    expect(construct({ function: { maxInstances: 0 } })).toThrow(
      new Error("AttestationVerifier: function.maxInstances is 0; use a whole number from 1 to 1000."),
    );
    expect(construct({ function: { timeoutSeconds: 4000 } })).toThrow(
      new Error("AttestationVerifier: function.timeoutSeconds is 4000; use a whole number from 1 to 3600."),
    );
    expect(construct({ audit: { retentionDays: 0 } })).toThrow(
      new Error("AttestationVerifier: audit.retentionDays is 0; use a whole number from 1 to 36500."),
    );
    expect(construct({ receiptKey: { destroyScheduledDuration: "30d" } })).toThrow(
      new Error(
        'AttestationVerifier: receiptKey.destroyScheduledDuration is "30d"; use seconds from "86400s" (1 day) to "10368000s" (120 days).',
      ),
    );
  });

  test("given retention options with an existing audit bucket, then it says where retention belongs", () => {
    expect(construct({ audit: { existingBucketName: "acme-audit", retentionDays: 30 } })).toThrow(
      new Error(
        "AttestationVerifier: audit.retentionDays/lockRetention apply only to a bucket this construct creates; " +
          'set retention on "acme-audit" where it is declared.',
      ),
    );
  });
});

describe("AttestationVerifier with the output release (a room with policy.jobs)", () => {
  const JOBS_POLICY = examplePolicy();
  const withRelease = (props: Partial<AttestationVerifierProps> = {}, releasePolicy: CleanRoomPolicy = JOBS_POLICY) =>
    synthWith((stack) => {
      const outputRelease = new OutputRelease(stack, "output-release", { policy: releasePolicy, encryptionKey: { cryptoKeyId: CMEK } });
      new AttestationVerifier(stack, "verifier", { policy: JOBS_POLICY, sourceDir: FIXTURE, jobServiceMember: JOB_SERVICE, encryptionKey: { cryptoKeyId: CMEK }, outputRelease, ...props });
    });

  test("given no outputRelease, then it refuses and names both buckets and the fix", () => {
    expect(() => synthWith((stack) => new AttestationVerifier(stack, "verifier", { policy: JOBS_POLICY, sourceDir: FIXTURE }))).toThrow(
      /AttestationVerifier: outputRelease is required: the policy has a job path \(policy\.jobs\).*"acme-clean-room-insurance-study-quarantine".*Pass the room's OutputRelease/,
    );
  });

  test("given an OutputRelease of another room, then it refuses: the document and the grants would name different buckets", () => {
    expect(() => withRelease({}, examplePolicy({ name: "other-study" }))).toThrow(/AttestationVerifier: outputRelease names .*other-study.*but the policy document says/);
  });

  test("given an OutputRelease with a policy without jobs, then it refuses", () => {
    expect(() =>
      synthWith((stack) => {
        const outputRelease = new OutputRelease(stack, "output-release", { policy: JOBS_POLICY, encryptionKey: { cryptoKeyId: CMEK } });
        new AttestationVerifier(stack, "verifier", { policy: POLICY, sourceDir: FIXTURE, outputRelease });
      }),
    ).toThrow(/AttestationVerifier: outputRelease is set, but the policy has no "jobs" section/);
  });

  describe("given the room's OutputRelease", () => {
    let json: SynthJson;
    let fn: { id: string; config: any };
    let saMember: string;
    beforeAll(() => {
      json = withRelease();
      fn = only(json, "google_cloudfunctions2_function");
      saMember = ref("google_service_account", runtimeSa(json).id, "member");
    });

    test("then the function reads the release buckets from its policy document: no extra variable, none the verifier would refuse", () => {
      const env = fn.config.service_config.environment_variables;
      expect(Object.keys(env).sort()).toEqual(["VERIFIER_AUDIT_BUCKET", "VERIFIER_KMS_KEY_VERSION", "VERIFIER_POLICY_SHA256", "VERIFIER_POLICY_URI", "VERIFIER_PUBLIC_JWKS_URI"]);
      for (const name of Object.keys(env)) expect(Object.keys(VERIFIER_ENV_VARS)).toContain(name);
      const delivered = JSON.parse(terraformValue(resourceConfigs(json, "google_storage_bucket_object").find((o) => o.name.startsWith("policy-"))!.content));
      const bucketNames = resourceConfigs(json, "google_storage_bucket").map((b) => b.name);
      expect(bucketNames).toEqual(expect.arrayContaining([delivered.release.quarantineBucket, delivered.release.releaseBucket]));
    });

    test("then the construct's create-only grant covers the prefix where the verifier writes its once-only markers", () => {
      expect(REPLAY_MARKER_PREFIX).toBe(VERIFIER_REPLAY_PREFIX);
      expect(BUDGET_RECORD_PREFIX).toBe(VERIFIER_BUDGET_PREFIX);
    });

    test("then a release fits: 512Mi holds 128 MiB of objects, 300 s covers reading and writing them", () => {
      expect(fn.config.service_config).toMatchObject({ available_memory: "512Mi", timeout_seconds: 300 });
    });

    test("then the verifier's own account reads quarantine and creates on release, without delete, and the function waits for both grants", () => {
      const bucketId = (use: string) => resources(json, "google_storage_bucket").find(([, b]) => b.labels.use === use)![0];
      const onBucket = (use: string) =>
        iamGrants(json).filter((g) => g.member === saMember && g.config.bucket === ref("google_storage_bucket", bucketId(use), "name"));
      expect(onBucket("output-quarantine").map((g) => g.role)).toEqual(["roles/storage.objectViewer"]);
      const [releaseGrant] = onBucket("output-release");
      const role = resources(json, "google_project_iam_custom_role").find(([id]) => releaseGrant.role === ref("google_project_iam_custom_role", id, "name"))!;
      expect(role[1].permissions).toEqual(["storage.objects.create", "storage.objects.get", "storage.objects.list"]);
      for (const g of [...onBucket("output-quarantine"), releaseGrant]) {
        expect(fn.config.depends_on).toContain(`${g.type}.${g.id}`);
      }
    });

    test("then the construct exposes the bucket names the document carries", () => {
      const doc = compileVerifierPolicy(JOBS_POLICY).document;
      let verifier!: AttestationVerifier;
      synthWith((stack) => {
        const outputRelease = new OutputRelease(stack, "output-release", { policy: JOBS_POLICY, encryptionKey: { cryptoKeyId: CMEK } });
        verifier = new AttestationVerifier(stack, "verifier", { policy: JOBS_POLICY, sourceDir: FIXTURE, outputRelease });
      });
      expect([verifier.quarantineBucketName, verifier.releaseBucketName]).toEqual([doc.release!.quarantineBucket, doc.release!.releaseBucket]);
      expect(verifier.releaseGrants).toHaveLength(2);
    });

    test("then the whole rule pack finds nothing", () => {
      expect(checkTerraform(json as any, checkContext({ policy: JOBS_POLICY, now: new Date("2026-06-01T00:00:00Z") }))).toEqual([]);
    });
  });
});
