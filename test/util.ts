/** Test helpers: synthesize a stack and look into the JSON. */
import { App, TerraformStack, Testing } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { CleanRoomPolicy, normalizePolicy } from "../lib/policy/model";

export type SynthJson = {
  resource?: Record<string, Record<string, any>>;
  data?: Record<string, Record<string, any>>;
  output?: Record<string, any>;
  provider?: Record<string, any>;
  terraform?: any;
  locals?: Record<string, any>;
};

/** A stack with a Google provider, filled by `build`, synthesized to parsed JSON. */
export function synthWith(build: (stack: TerraformStack) => void, app: App = Testing.app()): SynthJson {
  const stack = new TerraformStack(app, "test");
  new GoogleProvider(stack, "google", { project: "acme-clean-room", region: "us-central1" });
  build(stack);
  return JSON.parse(Testing.synth(stack));
}

/** Parse a stack that already exists. */
export function synthStack(stack: TerraformStack): SynthJson {
  return JSON.parse(Testing.synth(stack));
}

/** All resources of a Terraform type, as [logicalId, config] pairs. */
export function resources(json: SynthJson, type: string): [string, any][] {
  return Object.entries(json.resource?.[type] ?? {});
}

export function resourceConfigs(json: SynthJson, type: string): any[] {
  return resources(json, type).map(([, c]) => c);
}

export function dataSources(json: SynthJson, type: string): [string, any][] {
  return Object.entries(json.data?.[type] ?? {});
}

/**
 * Every IAM member granted: `member`/`members[]` of `_iam_member`/`_iam_binding` resources, and each
 * member of each binding of an `_iam_policy` whose `policy_data` is a `google_iam_policy` data source
 * (there `config` is the policy resource's config with the binding's `role`, `members` and `condition`).
 */
export function iamGrants(json: SynthJson): { type: string; id: string; role: string; member: string; config: any }[] {
  const out: { type: string; id: string; role: string; member: string; config: any }[] = [];
  for (const [type, byId] of Object.entries(json.resource ?? {})) {
    if (/_iam_policy$/.test(type)) {
      for (const [id, config] of Object.entries(byId)) {
        for (const b of policyBindings(json, config)) {
          for (const member of b.members) out.push({ type, id, role: b.role, member, config: { ...config, ...b } });
        }
      }
      continue;
    }
    if (!/_iam_(member|binding)$/.test(type)) continue;
    for (const [id, config] of Object.entries(byId)) {
      const members: string[] = config.member ? [config.member] : (config.members ?? []);
      for (const member of members) out.push({ type, id, role: config.role, member, config });
    }
  }
  return out;
}

/**
 * Every grant on resources of `resourceType` (e.g. "google_kms_crypto_key"), whether an
 * `_iam_member` or one member of a binding of the resource's authoritative `_iam_policy`, each
 * shaped like an `_iam_member` config (target field, role, member, condition).
 */
export function grantsOn(json: SynthJson, resourceType: string): any[] {
  return iamGrants(json)
    .filter((g) => g.type.startsWith(`${resourceType}_iam_`))
    .map((g) => {
      const { members: _members, policy_data: _data, ...config } = g.config;
      return { ...config, member: g.member };
    });
}

/** The `binding` blocks of the `google_iam_policy` data source an `_iam_policy` resource sets. */
export function policyBindings(json: SynthJson, policy: { policy_data?: string }): { role: string; members: string[]; condition?: any }[] {
  const ref = /^\$\{data\.google_iam_policy\.([^.]+)\.policy_data\}$/.exec(policy.policy_data ?? "");
  if (!ref) return [];
  return json.data?.google_iam_policy?.[ref[1]]?.binding ?? [];
}

export const EXAMPLE_DIGEST_A = "sha256:1580f84f1585dbecd84479ae867b6d586de31a19bbc9e551f2fbc20f9df59ec9";
export const EXAMPLE_DIGEST_B = "sha256:67682bda769fae1ccf5183192b8daf37b64cae99c6c3302650f6f8bf5f0f95df";

/** The example's stage-1 provisioning image (insurance). */
export const EXAMPLE_PROVISIONING_DIGEST = "sha256:5c2f0e9d6b1a4387c2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9";

/**
 * A policy equal to stacks/example.cleanroom.yaml, built in TypeScript (no loader).
 * @param shipped with the shipped file's privacy budget and provisioning image on insurance; most
 *   construct tests leave them out, so their expectations stay about the one thing they test
 */
export function shippedExamplePolicy(overrides: Partial<Parameters<typeof normalizePolicy>[0]> = {}): CleanRoomPolicy {
  return examplePolicy({
    datasets: {
      insurance: {
        ...EXAMPLE_DATASETS.insurance,
        budget: { epsilon: 4.0 },
        provisioning: { imageDigest: EXAMPLE_PROVISIONING_DIGEST, approvedBy: "owner@example.org" },
      },
      claims: EXAMPLE_DATASETS.claims,
    },
    ...overrides,
  });
}

const EXAMPLE_DATASETS = {
  insurance: {
    retentionDays: 30,
    stage1: { kind: "dp-synthetic", mechanism: "mst", epsilon: 1.0 },
    owners: ["user:data-owner@example.org"],
    approverKey: { fingerprint: "a3771ff85319c4040df7299b86aa579ede391a3a4afe755b442335d324911dd4" },
  },
  claims: { retentionDays: 90, stage1: { kind: "sample", fraction: 0.05 }, access: "impersonation" },
} satisfies NonNullable<Parameters<typeof normalizePolicy>[0]["datasets"]>;

/** The example without the shipped file's stage-1 provisioning and budget (see shippedExamplePolicy). */
export function examplePolicy(overrides: Partial<Parameters<typeof normalizePolicy>[0]> = {}): CleanRoomPolicy {
  return normalizePolicy({
    name: "insurance-study",
    project: "acme-clean-room",
    region: "us-central1",
    zone: "us-central1-a",
    residency: ["us-central1"],
    tee: { hardware: ["GCP_INTEL_TDX"], machineType: "c3-standard-8", allowDebug: false },
    verifier: { audience: "https://verifier.acme-clean-room.example.org/release" },
    datasets: EXAMPLE_DATASETS,
    approvals: [
      {
        imageDigest: EXAMPLE_DIGEST_A,
        datasets: ["insurance"],
        purpose: "XGBoost regression of insurance charges",
        approvedBy: "owner@example.org",
        expires: "2027-01-31",
      },
      {
        imageDigest: EXAMPLE_DIGEST_B,
        datasets: ["insurance", "claims"],
        purpose: "Descriptive statistics of claims by region",
        approvedBy: "owner@example.org",
      },
    ],
    researchers: ["group:researchers@example.org"],
    jobs: {
      executorBases: ["sha256:2a0c6e3f7e2b9d4c81f5a7b6c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4"],
      maxJobsInProgressPerResearcher: 3,
      timeoutMinutes: 360,
      allowEnvOverrides: [],
      maxWorkspaceMiB: 256,
    },
    jupyterhub: {
      authenticator: {
        type: "google",
        clientId: "000000000000-example.apps.googleusercontent.com",
        clientSecret: "jupyterhub-oauth",
        callbackUrl: "http://localhost:8080/hub/oauth_callback",
        hostedDomains: ["example.org"],
      },
      users: { "alice@example.org": "alice", "bob@example.org": "bob" },
      admins: [],
    },
    ...overrides,
  });
}
