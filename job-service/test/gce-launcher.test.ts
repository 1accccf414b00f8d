/**
 * The Compute Engine launcher against a fake Compute API (its `request` port): what it refuses
 * before any call, what the insert request carries, and that a retried launch is idempotent.
 */
import { compileJobServiceConfig } from "../../lib/policy/job-service-config";
import { examplePolicy } from "../../test/util";
import { GceLauncher, LaunchRefusedError } from "../src/gce-launcher";
import type { LaunchSpec } from "../src/ports";

const config = compileJobServiceConfig(examplePolicy(), {
  instanceTemplate: "projects/acme-clean-room/global/instanceTemplates/insurance-study-tee-20250101",
  userImagesRepository: "us-central1-docker.pkg.dev/acme-clean-room/dcr-insurance-study-user-images",
  verifierUrl: "https://verifier.acme-clean-room.example.org",
  quarantineBucket: "acme-clean-room-insurance-study-quarantine",
  releaseBucket: "acme-clean-room-insurance-study-release",
});
const UUID = "0b6f6c1e-8d3a-4a55-9d2e-3f1c7a9b2e10";
const DIGEST = `sha256:${"a".repeat(64)}`;
const insurance = config.datasets.find((d) => d.name === "insurance")!;

function spec(overrides: Partial<LaunchSpec> = {}): LaunchSpec {
  return {
    instanceName: `${config.launch.instancePrefix}-${UUID}`,
    imageReference: `${config.images.userImagesRepository}/job-${UUID}@${DIGEST}`,
    signedImageRepos: [insurance.signatureRepository],
    env: {},
    labels: { room: config.room, job: UUID, creator: "alice" },
    ...overrides,
  };
}

/** A fake Compute API: a template, instances by name (409 on a second insert), operations DONE. */
function fakeCompute(templateItems: { key: string; value: string }[] = [{ key: "tee-restart-policy", value: "Never" }]) {
  const calls: { url: string; method: string; data?: any }[] = [];
  const instances = new Map<string, string>();
  const request = async <T>(o: { url: string; method: string; data?: unknown }): Promise<{ data: T }> => {
    calls.push(o);
    if (o.method === "GET" && o.url.endsWith(config.launch.instanceTemplate)) {
      return { data: { properties: { metadata: { items: templateItems }, labels: { "clean-room": config.room } } } as T };
    }
    if (o.method === "POST" && o.url.includes("/instances?sourceInstanceTemplate=")) {
      const name = (o.data as { name: string }).name;
      if (instances.has(name)) throw Object.assign(new Error("alreadyExists"), { response: { status: 409 } });
      instances.set(name, "RUNNING");
      return { data: { name: "op-1", status: "DONE" } as T };
    }
    const name = o.url.split("/instances/")[1];
    if (o.method === "GET" && name) {
      if (!instances.has(name)) throw Object.assign(new Error("notFound"), { response: { status: 404 } });
      return { data: { status: instances.get(name) } as T };
    }
    throw new Error(`unexpected ${o.method} ${o.url}`);
  };
  return { request, calls, instances };
}

describe("GceLauncher", () => {
  test("given an approved job, when launched, then the insert names the room's template and adds only the image by digest and the signature repositories", async () => {
    const compute = fakeCompute();
    await new GceLauncher({ config, request: compute.request }).launch(spec());
    const insert = compute.calls.find((c) => c.method === "POST")!;
    expect(insert.url).toContain(`/zones/${config.zone}/instances?sourceInstanceTemplate=${encodeURIComponent(config.launch.instanceTemplate)}`);
    expect(insert.data.metadata.items).toEqual([
      { key: "tee-restart-policy", value: "Never" },
      { key: "tee-image-reference", value: spec().imageReference },
      { key: "tee-signed-image-repos", value: insurance.signatureRepository },
    ]);
    // The template's labels win over the job's.
    expect(insert.data.labels["clean-room"]).toBe(config.room);
    expect(Object.keys(insert.data).sort()).toEqual(["labels", "metadata", "name"]);
  });

  test("given a retry after a crash, when the VM already exists, then launch succeeds and no second VM exists", async () => {
    const compute = fakeCompute();
    const launcher = new GceLauncher({ config, request: compute.request });
    await launcher.launch(spec());
    await launcher.launch(spec());
    expect(compute.instances.size).toBe(1);
    expect(await launcher.status(spec().instanceName)).toBe("RUNNING");
    expect(await launcher.status(`${config.launch.instancePrefix}-${"1".repeat(8)}-1111-1111-1111-${"1".repeat(12)}`)).toBe("NOT_FOUND");
  });

  test.each<[string, Partial<LaunchSpec>, RegExp]>([
    ["an image by tag", { imageReference: `${config.images.userImagesRepository}/job-${UUID}:latest` }, /launched by digest only/],
    ["an image from another repository", { imageReference: `us-central1-docker.pkg.dev/evil/repo/job@${DIGEST}` }, /job images come from/],
    ["a signature repository no dataset owns", { signedImageRepos: ["us-central1-docker.pkg.dev/evil/sigs"] }, /is not a dataset's signature repository/],
    ["an env override the policy does not allow", { env: { EXECUTION_STAGE: "2" } }, /tee-env-EXECUTION_STAGE: not in the policy's allowed env overrides/],
    ["a VM name outside the room's prefix", { instanceName: `other-${UUID}` }, /job VMs are named/],
    ["a label Compute Engine refuses", { labels: { Creator: "Alice" } }, /not a Compute Engine label/],
  ])("given %s, then the launch is refused before any API call", async (_name, overrides, message) => {
    const compute = fakeCompute();
    await expect(new GceLauncher({ config, request: compute.request }).launch(spec(overrides))).rejects.toThrow(LaunchRefusedError);
    await expect(new GceLauncher({ config, request: compute.request }).launch(spec(overrides))).rejects.toThrow(message);
    expect(compute.calls).toEqual([]);
  });

  test("given a template that already sets a launch key, then the launch is refused and nothing is inserted", async () => {
    const compute = fakeCompute([{ key: "tee-image-reference", value: `other@${DIGEST}` }]);
    await expect(new GceLauncher({ config, request: compute.request }).launch(spec())).rejects.toThrow(/the instance template sets tee-image-reference/);
    expect(compute.instances.size).toBe(0);
  });
});
