/**
 * The GPU room's synthesized platform stack: the GPU instance template carries what Google
 * documents for Confidential Space GPUs (docs/gpu.md), the guardrails pass it, and each MCR-GPU
 * rule refuses a tampered copy. The CPU template is untouched.
 */
import { checksOn, errors, examplePlatform } from "../checks/harness";
import { gpuRoom } from "./fixtures";
import { normalizePolicy } from "../../lib/policy/model";
import { renderAccessReport } from "../../lib/report/access-report";
import { validatePolicy } from "../../lib/policy/validate";
import { examplePolicy } from "../util";

const NOW = new Date("2026-06-01T00:00:00Z");
const policy = gpuRoom();
const json = examplePlatform(policy) as any;
const check = checksOn(policy, NOW);
const templates = () => Object.entries(json.resource.google_compute_instance_template as Record<string, any>);
const gpuKey = () => templates().find(([, t]) => t.metadata?.["tee-install-gpu-driver"] !== undefined)![0];
const images = json.data.google_compute_image as Record<string, any>;

describe("given the GPU room's platform stack", () => {
  test("then the GPU template is TDX on a3-highgpu-1g, TERMINATE, spot with a run limit, the GPU image and the driver metadata", () => {
    const t = json.resource.google_compute_instance_template[gpuKey()];
    expect(t.machine_type).toBe("a3-highgpu-1g");
    expect(t.confidential_instance_config).toEqual({ confidential_instance_type: "TDX" });
    expect(t.scheduling).toEqual({
      on_host_maintenance: "TERMINATE",
      automatic_restart: false,
      provisioning_model: "SPOT",
      preemptible: true,
      instance_termination_action: "DELETE",
      max_run_duration: { seconds: 360 * 60 },
    });
    expect(t.metadata["tee-install-gpu-driver"]).toBe("true");
    expect(t.metadata["tee-restart-policy"]).toBe("Never");
    expect(t.shielded_instance_config.enable_secure_boot).toBe(true);
    expect(t.disk[0].disk_size_gb).toBeGreaterThanOrEqual(30);
    expect(Object.values(images).map((i) => i.family).sort()).toEqual(["confidential-space", "confidential-space-preview-cgpu"]);
    expect(t.name_prefix).toMatch(/^dcr-gpu-study-tee-gpu-$/);
  });

  test("then the guardrails report no GPU error", () => {
    expect(errors(check(json)).filter((f) => f.ruleId.startsWith("MCR-GPU"))).toEqual([]);
  });

  const tamper = (edit: (t: any) => void) => {
    const copy = structuredClone(json);
    edit(copy.resource.google_compute_instance_template[gpuKey()]);
    return copy;
  };
  test.each([
    ["MCR-GPU1", "SEV instead of TDX", (t: any) => (t.confidential_instance_config = { confidential_instance_type: "SEV" })],
    ["MCR-GPU1", "no confidential computing", (t: any) => delete t.confidential_instance_config],
    ["MCR-GPU1", "no driver metadata", (t: any) => (t.metadata["tee-install-gpu-driver"] = "false")],
    ["MCR-GPU2", "the debug GPU image", (t: any) => (t.disk[0].source_image = "projects/confidential-space-images/global/images/family/confidential-space-debug-preview-cgpu")],
    ["MCR-GPU3", "a region outside the residency set", (t: any) => (t.region = "europe-west4")],
  ])("when %s is tampered with (%s), then it is refused", (rule, _, edit) => {
    expect(errors(check(tamper(edit)), rule).length).toBeGreaterThan(0);
  });

  test("then the access report says which approvals run on GPUs; a CPU room's report has no GPU section", () => {
    const report = renderAccessReport(policy);
    expect(report).toContain("## Which approvals run on confidential GPUs (Preview)");
    expect(report).toMatch(/`required`, runs only on a confidential GPU whose token shows cc_mode ON/);
    expect(report).toMatch(/`none`, CPU only: a token with GPU claims is refused/);
    expect(renderAccessReport(examplePolicy())).not.toContain("confidential GPUs");
  });

  test("when the room's zone does not offer the GPU machine type, then normalizing and validating names the region", () => {
    const moved = normalizePolicy({ ...policy, parties: undefined, region: "europe-west4", zone: "europe-west4-a", residency: ["europe-west4"], datasets: { scans: policy.datasets[0] } });
    const messages = validatePolicy(moved).map((i) => i.message).join("\n");
    expect(messages).toMatch(/region europe-west4 \(zone europe-west4-a\) does not offer a3-highgpu-1g/);
  });
});
