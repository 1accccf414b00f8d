/**
 * The launcher's GPU path (docs/gpu.md): an image whose approval requires a GPU is created from
 * the GPU template; every other image from the room's template; no GPU template, no GPU launch.
 */
import { compileJobServiceConfig } from "../../lib/policy/job-service-config";
import { gpuRoom, digestsOf } from "../../test/gpu/fixtures";
import { GceLauncher, LaunchRefusedError } from "../src/gce-launcher";

const policy = gpuRoom();
const { required, cpuOnly } = digestsOf(policy);
const compiled = compileJobServiceConfig(policy, {
  instanceTemplate: "projects/acme-gpu-room/global/instanceTemplates/dcr-gpu-study-tee-1",
  userImagesRepository: "us-central1-docker.pkg.dev/acme-gpu-room/dcr-gpu-study-user-images",
  verifierUrl: "https://verifier.acme-gpu-room.example.org",
  quarantineBucket: "acme-gpu-room-gpu-study-quarantine",
  releaseBucket: "acme-gpu-room-gpu-study-release",
});
const GPU_TEMPLATE = "projects/acme-gpu-room/global/instanceTemplates/dcr-gpu-study-tee-gpu-1";
const UUID = "0b6f6c1e-8d3a-4a55-9d2e-3f1c7a9b2e10";

async function launchedFrom(digest: string, gpuInstanceTemplate: string | null = GPU_TEMPLATE): Promise<string> {
  const config = { ...compiled, launch: { ...compiled.launch, ...(gpuInstanceTemplate ? { gpuInstanceTemplate } : {}) } };
  const inserts: string[] = [];
  const request = async <T>(o: { url: string; method: string }): Promise<{ data: T }> => {
    if (o.method === "GET") return { data: { properties: { metadata: { items: [] } } } as T };
    inserts.push(decodeURIComponent(o.url.split("sourceInstanceTemplate=")[1]));
    return { data: { name: "op", status: "DONE" } as T };
  };
  await new GceLauncher({ config, request }).launch({
    instanceName: `${config.launch.instancePrefix}-${UUID}`,
    imageReference: `${config.images.userImagesRepository}/job@${digest}`,
    signedImageRepos: [],
    env: {},
    labels: {},
  });
  return inserts[0];
}

describe("given the GPU room's job service config", () => {
  test("then only the GPU-required digest is listed for the GPU template", () => {
    expect(compiled.launch.gpuImageDigests).toEqual([required]);
  });

  test("when the GPU-required image is launched, then the GPU template is used; the CPU-only image uses the room's template", async () => {
    expect(await launchedFrom(required)).toBe(GPU_TEMPLATE);
    expect(await launchedFrom(cpuOnly)).toBe(compiled.launch.instanceTemplate);
  });

  test("when the room has no GPU template, then a GPU-required image is refused before any VM is created", async () => {
    await expect(launchedFrom(required, null)).rejects.toThrow(LaunchRefusedError);
  });
});
