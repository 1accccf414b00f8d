import { ProjectService } from "@cdktf/provider-google/lib/project-service";
import { CLEAN_ROOM_APIS, CleanRoomApis, CleanRoomApisProps } from "../lib/constructs/platform/apis";
import { SynthJson, examplePolicy, resourceConfigs, synthWith } from "./util";

const policy = examplePolicy();

function synthApis(props: Partial<CleanRoomApisProps> = {}): SynthJson {
  return synthWith((stack) => new CleanRoomApis(stack, "apis", { room: policy, ...props }));
}

const enabled = (json: SynthJson) => resourceConfigs(json, "google_project_service").map((s) => s.service);

describe("CleanRoomApis with defaults", () => {
  let json: SynthJson;
  beforeAll(() => {
    json = synthApis();
  });

  test("given the example policy, then ManaTEE's guide's APIs are enabled, Firestore replacing Cloud SQL's sqladmin", () => {
    expect(enabled(json)).toEqual(
      expect.arrayContaining([
        "serviceusage.googleapis.com",
        "compute.googleapis.com",
        "container.googleapis.com",
        "cloudkms.googleapis.com",
        "servicenetworking.googleapis.com",
        "cloudresourcemanager.googleapis.com",
        "firestore.googleapis.com",
        "confidentialcomputing.googleapis.com",
      ]),
    );
    // The job service keeps its state in Firestore: the room has no Cloud SQL instance.
    expect(enabled(json)).not.toContain("sqladmin.googleapis.com");
  });

  test("then so are the APIs ManaTEE's code needs but its guide forgets (reference §1.2)", () => {
    expect(enabled(json)).toEqual(
      expect.arrayContaining([
        "artifactregistry.googleapis.com",
        "iamcredentials.googleapis.com",
        "iam.googleapis.com",
        "sts.googleapis.com",
        "storage.googleapis.com",
        "logging.googleapis.com",
        "monitoring.googleapis.com",
      ]),
    );
  });

  test("then so are the APIs of our additions: the gen2 verifier function, private DNS and image scanning", () => {
    expect(enabled(json)).toEqual(
      expect.arrayContaining([
        "cloudfunctions.googleapis.com",
        "run.googleapis.com",
        "cloudbuild.googleapis.com",
        "dns.googleapis.com",
        "containerscanning.googleapis.com",
      ]),
    );
    // An HTTP-triggered function needs no Eventarc or Pub/Sub; IAM database auth needs no Secret Manager.
    expect(enabled(json)).not.toContain("eventarc.googleapis.com");
    expect(enabled(json)).not.toContain("secretmanager.googleapis.com");
    expect(enabled(json)).toHaveLength(Object.keys(CLEAN_ROOM_APIS).length + 1);
  });

  test("then destroying the stack never disables an API other workloads may use", () => {
    for (const service of resourceConfigs(json, "google_project_service")) {
      expect(service).toMatchObject({ project: "acme-clean-room", disable_on_destroy: false, disable_dependent_services: false });
    }
  });

  test("then every API in the list says why it is there", () => {
    for (const [api, why] of Object.entries(CLEAN_ROOM_APIS)) {
      expect(api).toMatch(/^[a-z]+\.googleapis\.com$/);
      expect(why.length).toBeGreaterThan(20);
    }
  });

  test("snapshot", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("CleanRoomApis options", () => {
  test("given dependables, when another resource depends on them, then it waits for every API", () => {
    let count = 0;
    const json = synthWith((stack) => {
      const apis = new CleanRoomApis(stack, "apis", { room: policy });
      count = apis.dependables.length;
      new ProjectService(stack, "probe", { service: "example.googleapis.com", dependsOn: apis.dependables });
    });
    const probe = resourceConfigs(json, "google_project_service").find((s) => s.service === "example.googleapis.com");
    expect(probe.depends_on).toHaveLength(count);
    expect(probe.depends_on.every((d: string) => d.startsWith("google_project_service.apis_"))).toBe(true);
  });

  test("given vulnerabilityScanning false and an extra API, then scanning is off and the extra API is on", () => {
    const json = synthApis({ vulnerabilityScanning: false, additionalServices: ["secretmanager.googleapis.com", "iam.googleapis.com"] });
    expect(enabled(json)).not.toContain("containerscanning.googleapis.com");
    expect(enabled(json)).toContain("secretmanager.googleapis.com");
    expect(enabled(json).filter((s) => s === "iam.googleapis.com")).toHaveLength(1);
  });

  test("given an additional service that is not an API name, then the error names the entry and the form", () => {
    expect(() => synthApis({ additionalServices: ["secretmanager"] })).toThrow(
      'additionalServices[0] "secretmanager" is not an API service name. Use the form "name.googleapis.com", e.g. "secretmanager.googleapis.com".',
    );
  });
});
