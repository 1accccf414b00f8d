/**
 * Authoritative IAM on everything that guards data: in the example room, every dataset, approver
 * and storage key, stage-2 and output bucket, the TEE service account and each reader account has
 * exactly one `*_iam_policy` (from a `google_iam_policy` data source) and no `*_iam_member` or
 * `*_iam_binding`; no legacy project role is in those policies; an extra grant added to the JSON is
 * refused by `manatee check`. And one owner per binding: asking twice is one binding.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, TerraformStack } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { CleanRoom } from "../lib/constructs/clean-room";
import { CleanRoomCluster } from "../lib/constructs/platform/cluster";
import { CleanRoomNetwork } from "../lib/constructs/platform/network";
import { ImageRegistry } from "../lib/constructs/platform/registry";
import { ConfidentialSpaceWorkload } from "../lib/constructs/data-plane/confidential-space";
import { manateeContract } from "../lib/policy/names";
import { run as manateeCheck } from "../lib/cli/check";
import { SynthJson, examplePolicy, grantsOn, policyBindings, resources, synthStack, synthWith } from "./util";

const policy = examplePolicy();
const contract = manateeContract(policy.name, policy.project);
const DATA_KEYS = ["dataset-key", "approver-key", "storage-key"];

let platform: SynthJson;
beforeAll(() => {
  const app = new App({ skipValidation: true });
  const stack = new TerraformStack(app, "platform");
  new GoogleProvider(stack, "google", { project: policy.project, region: policy.region });
  new CleanRoom(stack, "room", { policy });
  platform = synthStack(stack);
});

const ref = (type: string, id: string, attr: string) => `\${${type}.${id}.${attr}}`;
/** The guarded resources of the room, each as the value its IAM resources name it by. */
function guarded(json: SynthJson): { kind: string; target: string; what: string }[] {
  const keys = resources(json, "google_kms_crypto_key")
    .filter(([, k]) => DATA_KEYS.includes(k.labels?.component))
    .map(([id, k]) => ({ kind: "google_kms_crypto_key", target: ref("google_kms_crypto_key", id, "id"), what: `${k.labels.component} ${k.name}` }));
  const buckets = resources(json, "google_storage_bucket")
    .filter(([, b]) => b.labels?.component === "stage2" || ["output-quarantine", "output-release"].includes(b.labels?.use))
    .map(([id, b]) => ({ kind: "google_storage_bucket", target: ref("google_storage_bucket", id, "name"), what: `bucket ${b.name}` }));
  const accounts = resources(json, "google_service_account")
    .filter(([, sa]) => sa.account_id === contract.teeServiceAccountId || /-rd\d*$/.test(sa.account_id))
    .map(([id, sa]) => ({ kind: "google_service_account", target: ref("google_service_account", id, "name"), what: `account ${sa.account_id}` }));
  return [...keys, ...buckets, ...accounts];
}
const FIELD: Record<string, string> = { google_kms_crypto_key: "crypto_key_id", google_storage_bucket: "bucket", google_service_account: "service_account_id" };
const iamOn = (json: SynthJson, kind: string, target: string, suffix: "member" | "binding" | "policy") =>
  resources(json, `${kind}_iam_${suffix}`).filter(([, c]) => c[FIELD[kind]] === target);

describe("given the example room synthesized", () => {
  test("then it guards every dataset's keys and stage-2 bucket, both output buckets, the TEE account and the reader", () => {
    const whats = guarded(platform).map((g) => g.what);
    expect(whats.filter((w) => w.startsWith("dataset-key"))).toHaveLength(policy.datasets.length);
    expect(whats.filter((w) => w.startsWith("approver-key"))).toHaveLength(policy.datasets.length);
    expect(whats.filter((w) => w.startsWith("storage-key"))).toHaveLength(1);
    expect(whats.filter((w) => w.startsWith("bucket"))).toHaveLength(policy.datasets.length + 2);
    const accounts = whats.filter((w) => w.startsWith("account"));
    expect(accounts).toHaveLength(2); // the TEE account and claims' (impersonation) reader
    expect(accounts).toContain(`account ${contract.teeServiceAccountId}`);
  });

  test("then each holds exactly one *_iam_policy and no *_iam_member or *_iam_binding", () => {
    const problems: string[] = [];
    for (const g of guarded(platform)) {
      for (const suffix of ["member", "binding"] as const) {
        for (const [id] of iamOn(platform, g.kind, g.target, suffix)) problems.push(`${g.what}: ${g.kind}_iam_${suffix}.${id}`);
      }
      const policies = iamOn(platform, g.kind, g.target, "policy");
      if (policies.length !== 1) problems.push(`${g.what}: ${policies.length} policies`);
      else if (policyBindings(platform, policies[0][1]).length === 0 && !g.what.startsWith("approver-key")) problems.push(`${g.what}: empty policy`);
    }
    expect(problems).toEqual([]);
  });

  test("then no legacy project role (projectOwner/Editor/Viewer) and no duplicate binding is in those policies", () => {
    for (const g of guarded(platform)) {
      const [[, p]] = iamOn(platform, g.kind, g.target, "policy");
      const bindings = policyBindings(platform, p);
      for (const b of bindings) expect(b.members.filter((m) => /^project(Owner|Editor|Viewer):/.test(m))).toEqual([]);
      const keys = bindings.map((b) => JSON.stringify([b.role, b.condition ?? null]));
      expect(new Set(keys).size).toBe(keys.length);
      for (const b of bindings) expect(new Set(b.members).size).toBe(b.members.length);
    }
  });

  test("then the job service's actAs on the TEE account is a binding of the account's policy", () => {
    const tee = guarded(platform).find((g) => g.what === `account ${contract.teeServiceAccountId}`)!;
    const actAs = grantsOn(platform, "google_service_account").filter((c) => c.service_account_id === tee.target);
    expect(actAs.map((c) => c.role)).toEqual(["roles/iam.serviceAccountUser"]);
    expect(actAs[0].member).toMatch(/^\$\{google_service_account\.[^.]+\.member\}$/);
  });
});

describe("given a google_storage_bucket_iam_member added by hand to a stage-2 bucket", () => {
  const dir = mkdtempSync(join(tmpdir(), "manatee-auth-iam-"));
  const check = async (json: SynthJson) => {
    const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(json));
    let stdout = "";
    const code = await manateeCheck(["--config", file], { stdout: { write: (c: string) => (stdout += c) }, stderr: { write: () => undefined } });
    return { code, stdout };
  };

  test("then the room as synthesized passes manatee check's MCR-IAM6, and the tampered copy exits 1 naming the extra grant", async () => {
    const pristine = await check(platform);
    expect(pristine.stdout).not.toContain("MCR-IAM6");

    const tampered = structuredClone(platform);
    const stage2 = guarded(platform).find((g) => g.kind === "google_storage_bucket" && /-s2$/.test(g.what))!;
    // A reader service account's grant: an attested-only identity, so MCR-GCS1 has nothing to say; only the
    // one-policy rule sees that it sits outside the bucket's policy.
    const reader = resources(platform, "google_service_account").find(([, sa]) => /-rd$/.test(sa.account_id))![0];
    tampered.resource!.google_storage_bucket_iam_member ??= {};
    tampered.resource!.google_storage_bucket_iam_member.by_hand = {
      bucket: stage2.target,
      role: "roles/storage.objectCreator",
      member: `serviceAccount:${ref("google_service_account", reader, "email")}`,
    };
    const r = await check(tampered);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ERROR\s+MCR-IAM6\s+\S*google_storage_bucket_iam_member\.by_hand\s+\S+ has its IAM in one authoritative policy/);
  });
});

describe("one owner per binding", () => {
  test("given registry.grantPull(node SA) and cluster.grantImagePull(registry), then one binding", () => {
    const json = synthWith((stack) => {
      const network = new CleanRoomNetwork(stack, "net", { room: policy });
      const cluster = new CleanRoomCluster(stack, "cluster", { room: policy, network });
      const registry = new ImageRegistry(stack, "registry", { room: policy });
      const a = registry.serviceImages.grantPull(cluster.nodeServiceAccountMember);
      expect(cluster.grantImagePull(registry.serviceImages)).toBe(a);
    });
    const pulls = resources(json, "google_artifact_registry_repository_iam_member").filter(([, c]) => /gke-node/.test(c.member) || /node-sa/.test(c.member));
    expect(pulls).toHaveLength(1);
  });

  test("given actAs on the TEE account asked twice with two reads of the same member, then the same binding", () => {
    synthWith((stack) => {
      const tee = new ConfidentialSpaceWorkload(stack, "tee", { policy });
      const other = new ConfidentialSpaceWorkload(new TerraformStack(stack.node.scope as App, "other"), "tee", { policy });
      expect(tee.grantActAs(other.serviceAccount.member)).toBe(tee.grantActAs(other.serviceAccount.member));
      expect(tee.iamPolicy.bindings).toHaveLength(1);
    });
  });
});
