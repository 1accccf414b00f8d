/**
 * The one public bucket: MCR-IAM1 and MCR-GCS5 allow `allUsers` → `roles/storage.objectViewer` on
 * the verifier's receipt JWKS bucket only (labels component=receipt-jwks, use=public-receipt-jwks,
 * exactly one such bucket, uniform access, nothing Terraform puts in it). Tampered copies: a second
 * public bucket, a second "JWKS" bucket, a wider role, allAuthenticatedUsers — all still refused.
 */
import { checkContext } from "../../lib/checks/context";
import { checkTerraform } from "../../lib/checks/engine";
import { TerraformJson } from "../../lib/analysis/resource-index";
import { AttestationVerifier } from "../../lib/constructs/verifier";
import { examplePolicy, synthWith } from "../util";
import * as path from "node:path";

const VERIFIER_BUILD = path.join(__dirname, "..", "fixtures", "verifier-build");

function errors(json: unknown, rule?: string) {
  return checkTerraform(json as TerraformJson, checkContext({ residency: ["us-central1"] }))
    .filter((f) => f.level === "error" && (rule === undefined || f.ruleId === rule))
    .map((f) => `${f.ruleId} ${f.address}: ${f.message}`);
}

describe("given the verifier construct with its public receipt JWKS", () => {
  const json = synthWith((stack) => {
    new AttestationVerifier(stack, "verifier", { policy: ({ ...examplePolicy(), jobs: undefined }), sourceDir: VERIFIER_BUILD, encryptionKey: { cryptoKeyId: "projects/acme-clean-room/locations/us-central1/keyRings/r/cryptoKeys/k" } });
  }) as any;
  const buckets = json.resource.google_storage_bucket;
  const jwksId = Object.keys(buckets).find((k) => buckets[k].labels?.use === "public-receipt-jwks")!;
  const publicGrants = Object.entries(json.resource.google_storage_bucket_iam_member).filter(([, g]: any) => g.member === "allUsers");

  test("then exactly one bucket is public: the JWKS bucket, allUsers may read objects, nothing else", () => {
    expect(jwksId).toBeDefined();
    expect(buckets[jwksId]).toMatchObject({ uniform_bucket_level_access: true, public_access_prevention: "inherited", labels: { component: "receipt-jwks" } });
    expect(publicGrants.map(([, g]: any) => [g.bucket, g.role])).toEqual([[`\${google_storage_bucket.${jwksId}.name}`, "roles/storage.objectViewer"]]);
    // The verifier writes jwks.json and nothing else there.
    const sa = Object.values(json.resource.google_storage_bucket_iam_member).find((g: any) => g.bucket.includes(jwksId) && g.member !== "allUsers") as any;
    expect(sa.condition.expression).toMatch(/objects\/jwks\.json"$/);
    expect(json.resource.google_cloudfunctions2_function[Object.keys(json.resource.google_cloudfunctions2_function)[0]].service_config.environment_variables.VERIFIER_PUBLIC_JWKS_URI).toMatch(/^gs:\/\/.*receipt-jwks\/jwks\.json$/);
  });

  test("then the guardrails pass it (MCR-IAM1, MCR-GCS5)", () => {
    expect(errors(json, "MCR-IAM1")).toEqual([]);
    expect(errors(json, "MCR-GCS5")).toEqual([]);
  });

  test("given a second public bucket (the audit bucket granted to allUsers), then MCR-IAM1 refuses it", () => {
    const t = structuredClone(json);
    const audit = Object.keys(t.resource.google_storage_bucket).find((k) => t.resource.google_storage_bucket[k].labels.component === "audit")!;
    t.resource.google_storage_bucket_iam_member.tampered = { bucket: `\${google_storage_bucket.${audit}.name}`, role: "roles/storage.objectViewer", member: "allUsers" };
    expect(errors(t, "MCR-IAM1")).toEqual([expect.stringMatching(/^MCR-IAM1 google_storage_bucket_iam_member\.tampered: allUsers holds roles\/storage\.objectViewer: anyone on the internet/)]);
  });

  test("given a second bucket labelled as the JWKS bucket and made public, then both public grants are refused, and both buckets' public access prevention", () => {
    const t = structuredClone(json);
    t.resource.google_storage_bucket.second = { ...t.resource.google_storage_bucket[jwksId], name: "second-jwks" };
    t.resource.google_storage_bucket_iam_member.tampered = { bucket: "${google_storage_bucket.second.name}", role: "roles/storage.objectViewer", member: "allUsers" };
    const iam = errors(t, "MCR-IAM1");
    expect(iam).toHaveLength(2);
    for (const e of iam) expect(e).toMatch(/2 buckets carry the receipt JWKS labels/);
    expect(errors(t, "MCR-GCS5")).toHaveLength(2);
  });

  test("given a wider grant on the JWKS bucket (objectAdmin, or allAuthenticatedUsers), then it is refused", () => {
    for (const [role, member] of [["roles/storage.objectAdmin", "allUsers"], ["roles/storage.objectViewer", "allAuthenticatedUsers"]]) {
      const t = structuredClone(json);
      t.resource.google_storage_bucket_iam_member.tampered = { bucket: `\${google_storage_bucket.${jwksId}.name}`, role, member };
      expect(errors(t, "MCR-IAM1")).toEqual([expect.stringMatching(new RegExp(`tampered: ${member} holds ${role} on the receipt JWKS bucket, but only allUsers → roles/storage.objectViewer`))]);
    }
  });

  test("given an object Terraform puts in the JWKS bucket, then its public read is refused", () => {
    const t = structuredClone(json);
    t.resource.google_storage_bucket_object = { extra: { bucket: `\${google_storage_bucket.${jwksId}.name}`, name: "data.csv", content: "x" } };
    expect(errors(t, "MCR-IAM1")).toEqual([expect.stringMatching(/must hold only the verifier's jwks\.json/)]);
  });

  test("given publicJwks: false, then there is no public bucket and jwksUrl is the function's /v1/jwks", () => {
    let url = "";
    const j = synthWith((stack) => {
      const v = new AttestationVerifier(stack, "verifier", { policy: ({ ...examplePolicy(), jobs: undefined }), sourceDir: VERIFIER_BUILD, publicJwks: false });
      url = v.jwksUrl;
    }) as any;
    expect(Object.values(j.resource.google_storage_bucket_iam_member).filter((g: any) => g.member === "allUsers")).toEqual([]);
    expect(url).toMatch(/\/v1\/jwks$/);
  });
});
