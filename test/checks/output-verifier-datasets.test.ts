/**
 * MCR-OUT4 on the synthesized JSON of stacks/provisioning.cleanroom.yaml: the verifier's only
 * dataset-bucket grant is create-only on the provisioned insurance dataset's stage-1 bucket
 * (where it releases the provisioning image's output); each tampered copy is refused by
 * `manatee check` (exit 1, naming MCR-OUT4), the untampered output passes.
 */
import { join } from "node:path";
import { dataPlaneNames, platformNames } from "../../lib/policy/names";
import { loadPolicyFile } from "../../lib/policy/load";
import { resources } from "../util";
import { TamperedRoom, addResource, errorIds, resourceId, tamperedRoom } from "./synth-tamper";

const CONFIG = join(__dirname, "..", "..", "stacks", "provisioning.cleanroom.yaml");
const policy = loadPolicyFile(CONFIG);

let room: TamperedRoom;
beforeAll(() => {
  room = tamperedRoom(CONFIG, "stage1-study-platform");
});

const bucketRef = (match: (c: any) => boolean) => `\${google_storage_bucket.${resourceId(room.json, "google_storage_bucket", match)}.name}`;
const verifierMember = () => `\${google_service_account.${resourceId(room.json, "google_service_account", (c) => c.account_id === platformNames(policy).verifierSaId)}.member}`;
const grant = (bucket: string, role: string) => (j: any) => addResource(j, "google_storage_bucket_iam_member", "tampered", { bucket, role, member: verifierMember() });

describe("given the provisioning room's synthesized output", () => {
  test("when untampered, then the verifier holds objectCreator on the insurance stage-1 bucket only, and manatee check passes", async () => {
    const member = verifierMember();
    const datasetGrants = resources(room.json, "google_storage_bucket_iam_member").filter(([, c]) => c.member === member && /_datasets_/.test(c.bucket));
    expect(datasetGrants.map(([, c]) => [c.bucket, c.role])).toEqual([[bucketRef((c) => c.name === dataPlaneNames(policy).datasetBucket("insurance", "stage1")), "roles/storage.objectCreator"]]);
    const r = await room.check(() => undefined);
    expect(errorIds(r.stdout)).toEqual([]);
    expect(r.code).toBe(0);
  });

  test.each([
    ["objectCreator on the insurance stage-2 bucket", /stage-2 data is never a release destination/, () => grant(bucketRef((c) => c.labels?.component === "stage2"), "roles/storage.objectCreator")],
    ["objectCreator on the whole insurance stage-1 bucket (no provisioned/ condition)", /dataset insurance.*without a condition: a provisioned release creates objects under provisioned\/ only/, () => grant(bucketRef((c) => c.labels?.component === "stage1"), "roles/storage.objectCreator")],
    ["objectAdmin on the insurance stage-1 bucket (more than create)", /dataset insurance.*storage\.objects\.delete.*a provisioned release is create-only/, () => grant(bucketRef((c) => c.labels?.component === "stage1"), "roles/storage.objectAdmin")],
    [
      "objectCreator on the stage-1 bucket of a dataset without provisioning",
      /dataset claims.*claims declares no provisioning/,
      () => (j: any) => {
        addResource(j, "google_storage_bucket", "claims_s1", { name: dataPlaneNames(policy).datasetBucket("claims", "stage1"), location: "us-central1", labels: { component: "stage1", dataset: "claims", "clean-room": "stage1-study" } });
        grant("${google_storage_bucket.claims_s1.name}", "roles/storage.objectCreator")(j);
      },
    ],
  ])("when the verifier gets %s, then MCR-OUT4 refuses it (exit 1)", async (_name, why, tamper) => {
    const r = await room.check(tamper());
    expect(errorIds(r.stdout)).toContain("MCR-OUT4");
    expect(r.stdout).toMatch(why);
    expect(r.code).toBe(1);
  });

  test("when the verifier gets a project-wide storage write role, then MCR-OUT4 refuses it for the stage-2 bucket", async () => {
    const r = await room.check((j) => addResource(j, "google_project_iam_member", "tampered", { project: policy.project, role: "roles/storage.objectUser", member: verifierMember() }));
    expect(r.stdout).toMatch(/MCR-OUT4.*stage-2 bucket of dataset insurance/);
    expect(r.code).toBe(1);
  });
});

describe("given the EU room, whose datasets declare no provisioning", () => {
  test("when synthesized, then the verifier holds nothing on any dataset bucket", () => {
    const file = join(__dirname, "..", "..", "stacks", "eu.cleanroom.yaml");
    const examplePolicy = loadPolicyFile(file);
    const example = tamperedRoom(file, `${examplePolicy.name}-platform`).json;
    const sa = resourceId(example, "google_service_account", (c) => c.account_id === platformNames(examplePolicy).verifierSaId);
    const datasetBuckets = resources(example, "google_storage_bucket").filter(([, c]) => ["stage1", "stage2"].includes(c.labels?.component)).map(([id]) => `\${google_storage_bucket.${id}.name}`);
    expect(datasetBuckets.length).toBeGreaterThan(0);
    const onDatasets = resources(example, "google_storage_bucket_iam_member").filter(([, c]) => c.member === `\${google_service_account.${sa}.member}` && datasetBuckets.includes(c.bucket));
    expect(onDatasets).toEqual([]);
  });
});
