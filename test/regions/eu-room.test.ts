/**
 * "First deploy succeeds in any region": stacks/eu.cleanroom.yaml synthesizes with the cdktf app
 * (the guardrails run at synth and would throw), `manatee check --residency eu` passes on it, and
 * no location in its JSON — any location/region/zone-like field, in JSON strings too, any
 * `*-docker.pkg.dev` host — is a US one. Then the located errors of `locations`, the `eu` alias,
 * and MCR-LOC1 on a tampered copy (a US registry host, a US Firestore location).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { synthesize } from "../../bin/main";
import { synthesizedStackFiles } from "../../lib/analysis/synthesized";
import { parsePolicy } from "../../lib/policy/load";
import { PolicyError } from "../../lib/policy/validate";
import { EU_REGIONS, expandResidency } from "../../lib/policy/regions";
import { manatee } from "../cli/run";

const ROOT = path.resolve(__dirname, "..", "..");
const EU_ROOM = path.join(ROOT, "stacks", "eu.cleanroom.yaml");
const VERIFIER_BUILD = path.join(ROOT, "test", "fixtures", "verifier-build");
const LOCATION_KEY = /^(location|location_id|locations|region|zone|node_locations|data_locations)$/;

/** Every literal location of a synthesized stack: [where, value]. */
function locations(value: unknown, where = "", key?: string, out: [string, string][] = []): [string, string][] {
  if (typeof value === "string") {
    if (key !== undefined && LOCATION_KEY.test(key) && !value.includes("${")) out.push([where, value]);
    for (const m of value.matchAll(/([a-z][a-z0-9-]*?)-docker\.pkg\.dev/g)) out.push([`${where} (host)`, m[1]]);
    const t = value.trim();
    if (t.startsWith("{")) {
      try {
        locations(JSON.parse(t), `${where} (JSON)`, undefined, out);
      } catch {
        /* not JSON */
      }
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => locations(v, `${where}[${i}]`, key, out));
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) if (k !== "//") locations(v, `${where}.${k}`, k, out);
  }
  return out;
}

describe("given stacks/eu.cleanroom.yaml synthesized by the cdktf app", () => {
  let outdir: string;
  let stacks: { name: string; json: any }[];

  beforeAll(() => {
    outdir = mkdtempSync(path.join(tmpdir(), "manatee-eu-"));
    synthesize(EU_ROOM, outdir, { verifierSourceDir: VERIFIER_BUILD }); // throws on a guardrail error
    stacks = synthesizedStackFiles(outdir).map((s) => ({ name: s.name, json: JSON.parse(readFileSync(s.file, "utf8")) }));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  test("then both stacks exist", () => {
    expect(stacks.map((s) => s.name)).toEqual(["insurance-eu-platform", "insurance-eu-workloads"]);
  });

  test("then every location, region and zone field, in JSON strings too, and every registry host is europe-west4 (nothing US)", () => {
    const found = stacks.flatMap((s) => locations(s.json, s.name));
    expect(found.length).toBeGreaterThan(40);
    const us = found.filter(([, v]) => /^us($|-)|^US/i.test(v));
    expect(us).toEqual([]);
    const notEu = found.filter(([, v]) => !/^europe-west4(-[a-c])?$/i.test(v));
    expect(notEu).toEqual([]);
    for (const s of stacks) expect(JSON.stringify(s.json)).not.toMatch(/\bus-[a-z]+[0-9]+(-[a-z])?\b|"US"|\bus-docker\.pkg\.dev/);
  });

  test("then the components placed by `locations` are there: registry, Firestore, the verifier, its key ring, audit and JWKS buckets, its build repository", () => {
    const p = stacks[0].json.resource;
    const one = (type: string) => Object.values(p[type] ?? {}) as any[];
    expect(new Set(one("google_artifact_registry_repository").map((r) => r.location))).toEqual(new Set(["europe-west4"]));
    expect(one("google_firestore_database").map((d) => d.location_id)).toEqual(["europe-west4"]);
    expect(one("google_cloudfunctions2_function").map((f) => f.location)).toEqual(["europe-west4"]);
    expect(new Set(one("google_kms_key_ring").map((k) => k.location))).toEqual(new Set(["europe-west4"]));
    expect(new Set(one("google_storage_bucket").map((b) => b.location.toLowerCase()))).toEqual(new Set(["europe-west4"]));
    expect(stacks[0].json.output.receipts_jwks_url.value).toBe("https://storage.googleapis.com/acme-clean-room-eu-insurance-eu-receipt-jwks/jwks.json");
  });

  test("then the TEE service account may invoke the verifier (run.invoker, for the runner's /v1/release), and ingress stays internal", () => {
    const p = stacks[0].json.resource;
    const tee = Object.keys(p.google_service_account).find((k) => p.google_service_account[k].account_id === "dcr-insurance-eu-cvm-sa")!;
    const invokers = Object.values(p.google_cloud_run_v2_service_iam_member) as any[];
    expect(invokers.filter((i) => i.member === `\${google_service_account.${tee}.member}`)).toEqual([
      expect.objectContaining({ role: "roles/run.invoker", location: "europe-west4" }),
    ]);
    const fn = Object.values(p.google_cloudfunctions2_function)[0] as any;
    expect(fn.service_config.ingress_settings).toBe("ALLOW_INTERNAL_ONLY");
  });

  test("then the node pool's kubelet_config sends cpu_cfs_quota = true (unset, the provider sends false)", () => {
    for (const pool of Object.values(stacks[0].json.resource.google_container_node_pool) as any[]) {
      expect(pool.node_config.kubelet_config).toEqual({ cpu_cfs_quota: true, insecure_kubelet_readonly_port_enabled: "FALSE" });
    }
  });

  test("then the JupyterHub release takes jupyterhub.helm (900 s, atomic) and waits for the OAuth Secret, after the namespace, by metadata only", () => {
    const w = stacks[1].json.resource;
    const release = Object.values(w.helm_release)[0] as any;
    expect(release).toMatchObject({ timeout: 900, atomic: true });
    const [waitId, wait] = Object.entries(w.terraform_data).find(([id]) => id.includes("ClientSecretWait"))! as [string, any];
    expect(release.depends_on).toContain(`terraform_data.${waitId}`);
    expect(wait.depends_on.some((d: string) => d.startsWith("kubernetes_namespace"))).toBe(true);
    const exec = wait.provisioner[0]["local-exec"];
    expect(exec.environment).toMatchObject({ NAMESPACE: "manatee", SECRET_NAME: "jupyterhub-oauth", KEY: "client-secret" });
    expect(exec.environment.API_SERVER).toMatch(/^https:\/\/\$\{/); // the cluster's endpoint, across stacks
    expect(exec.command).toContain("as=PartialObjectMetadata");
    expect(exec.command).toContain("kubectl -n $NAMESPACE create secret generic $SECRET_NAME");
  });

  test("then `manatee check --policy eu.cleanroom.yaml --residency eu` finds no error", async () => {
    const r = await manatee("check", "--config", outdir, "--policy", EU_ROOM, "--residency", "eu", "--format", "json");
    const errors = (JSON.parse(r.stdout).findings as { level: string }[]).filter((f) => f.level === "error");
    expect(errors).toEqual([]);
    expect(r.code).toBe(0);
  });

  test("given a tampered copy with a US Firestore and a US image host, then `manatee check --residency eu` names both", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "manatee-eu-tamper-"));
    try {
      const platform = structuredClone(stacks[0].json);
      const db = Object.values(platform.resource.google_firestore_database)[0] as any;
      db.location_id = "nam5";
      const workloads = structuredClone(stacks[1].json);
      const dep = Object.values(workloads.resource.kubernetes_deployment_v1)[0] as any;
      dep.spec.template.spec.container[0].image = "us-docker.pkg.dev/acme/images/job-service:1";
      writeFileSync(path.join(dir, "platform.json"), JSON.stringify(platform));
      writeFileSync(path.join(dir, "workloads.json"), JSON.stringify(workloads));
      const a = await manatee("check", "--config", path.join(dir, "platform.json"), "--residency", "eu");
      expect(a.code).toBe(1);
      expect(a.stdout).toMatch(/MCR-LOC1 .*google_firestore_database\..*location_id "nam5" lies outside the residency set \[europe-central2, .*europe-west4/);
      const b = await manatee("check", "--config", path.join(dir, "workloads.json"), "--residency", "eu");
      expect(b.code).toBe(1);
      expect(b.stdout).toMatch(/MCR-LOC1 .*kubernetes_deployment_v1\..*registry host us-docker\.pkg\.dev\) "us" lies outside the residency set .*multi-region/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the eu residency alias", () => {
  test("expands to the EU regions only (not London or Zurich), and mixes with regions", () => {
    expect(expandResidency(["eu"])).toEqual([...EU_REGIONS]);
    expect(EU_REGIONS).toContain("europe-west4");
    expect(EU_REGIONS).not.toContain("europe-west2");
    expect(EU_REGIONS).not.toContain("europe-west6");
    expect(expandResidency(["europe-west4", "EU", "us-central1"])).toEqual(["europe-west4", ...EU_REGIONS.filter((r) => r !== "europe-west4"), "us-central1"]);
  });
});

describe("given a room file whose `locations` break residency", () => {
  const base = readFileSync(EU_ROOM, "utf8");
  const issues = (text: string): string => {
    try {
      parsePolicy(text, "room.yaml");
    } catch (err) {
      if (err instanceof PolicyError) return err.message;
      throw err;
    }
    return "";
  };

  test("when firestore is a US region, then the error names locations.firestore, its line, and the residency set", () => {
    const text = base.replace("  firestore: europe-west4", "  firestore: us-central1");
    const line = text.split("\n").findIndex((l) => l.includes("firestore: us-central1")) + 1;
    expect(issues(text)).toMatch(new RegExp(`room\\.yaml:${line}:\\d+.*locations\\.firestore.*\\[europe-west4\\].*"us-central1"`, "s"));
  });

  test("when registry is a multi-region, then the error says it spans regions outside the set", () => {
    expect(issues(base.replace("  registry: europe-west4", "  registry: europe"))).toMatch(/locations\.registry.*multi-region "europe".*spans regions outside it/s);
  });

  test("when verifier is a zone or an unknown key is set, then both are refused", () => {
    const msg = issues(base.replace("  verifier: europe-west4", "  verifier: europe-west4-a\n  keyRing: europe-west4"));
    expect(msg).toMatch(/locations\.verifier/);
    expect(msg).toMatch(/locations\.keyRing/);
  });

  test("when the residency set allows another EU region, then placing the verifier there is accepted", () => {
    const text = base.replace("residency: [europe-west4]", "residency: [europe-west4, europe-west1]").replace("  verifier: europe-west4", "  verifier: europe-west1");
    expect(parsePolicy(text, "room.yaml").locations?.verifier).toBe("europe-west1");
  });
});
