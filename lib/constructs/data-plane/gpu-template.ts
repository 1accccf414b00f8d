/**
 * The GPU job template: a second Confidential Space instance template, for approvals that run on
 * a confidential GPU (Intel TDX + NVIDIA H100 in confidential computing mode, a Google PREVIEW).
 * It shares the CPU template's TEE service account, subnetwork, tags and launcher metadata; what
 * differs is what Google documents for GPU-based workloads (docs/gpu.md):
 * https://cloud.google.com/confidential-computing/confidential-space/docs/deploy-workloads ("GPU-based workloads")
 * - `--confidential-compute-type=TDX`, `--machine-type=a3-highgpu-1g`, `--maintenance-policy=TERMINATE`;
 * - the image family `confidential-space-preview-cgpu` (debug: `confidential-space-debug-preview-cgpu`);
 * - metadata `tee-install-gpu-driver=true` ("To install the drivers required for NVIDIA Confidential
 *   Computing, you must pass the metadata variable tee-install-gpu-driver with a value of true");
 * - a boot disk of 30 GB or more; provisioning `SPOT` or `FLEX_START` (Preview) with
 *   `--reservation-affinity=none`, `--max-run-duration` (10 minutes to 7 days) and
 *   `--instance-termination-action=DELETE`. Google's example passes no `--accelerator`: the
 *   accelerator-optimized machine type carries its GPU, so the template sets no guest_accelerator.
 * ASSUMPTIONS (not in the stored Google pages): the `reservation` model (`RESERVATION_BOUND` with
 * a specific reservation) and the provider's `FLEX_START` value.
 */
import { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { ComputeInstanceTemplate, ComputeInstanceTemplateScheduling, ComputeInstanceTemplateReservationAffinity } from "@cdktf/provider-google/lib/compute-instance-template";
import { DataGoogleComputeImage } from "@cdktf/provider-google/lib/data-google-compute-image";
import { COMPONENT, cleanRoomLabels } from "../../internal/common";
import { requireGpuZone } from "../../policy/gpu-zones";
import { CleanRoomPolicy, GpuPolicy, jobsOf } from "../../policy/model";
import { manateeContract } from "../../policy/names";
import { InvalidPropsError } from "../../errors";

export const CONFIDENTIAL_SPACE_GPU_IMAGE_FAMILY = "confidential-space-preview-cgpu";
export const CONFIDENTIAL_SPACE_GPU_DEBUG_IMAGE_FAMILY = "confidential-space-debug-preview-cgpu";
/** Google: "a VM boot disk with 30GB or more space is recommended" for the NVIDIA drivers and CUDA. */
export const GPU_MIN_BOOT_DISK_GB = 30;
/** The launcher metadata key that installs NVIDIA's confidential computing driver. */
export const GPU_DRIVER_METADATA_KEY = "tee-install-gpu-driver";

/** What the GPU template takes over from the CPU template (`ConfidentialSpaceWorkload`). */
export interface GpuTemplateBase {
  readonly serviceAccountEmail: string;
  readonly subnetwork: string;
  readonly zone: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly templateNamePrefix: string;
  readonly debugImage: boolean;
  readonly bootDiskSizeGb: number;
  readonly bootDiskType: string;
}

export interface ConfidentialSpaceGpuTemplateProps {
  readonly policy: CleanRoomPolicy;
  /** The CPU template's settings the GPU template shares. */
  readonly base: GpuTemplateBase;
  /** @default policy.tee.gpu */
  readonly gpu?: GpuPolicy;
  /** @default the provider's default provider */
  readonly provider?: TerraformProvider;
}

/** The GPU instance template of a room with `tee.gpu` (the job service launches GPU approvals from it). */
export class ConfidentialSpaceGpuTemplate extends Construct {
  public readonly instanceTemplate: ComputeInstanceTemplate;
  /** `projects/P/global/instanceTemplates/NAME` of the current GPU template. */
  public readonly instanceTemplateId: string;
  public readonly imageFamily: string;
  public readonly gpu: GpuPolicy;

  constructor(scope: Construct, id: string, props: ConfidentialSpaceGpuTemplateProps) {
    super(scope, id);
    const { policy, base } = props;
    const gpu = props.gpu ?? policy.tee.gpu;
    if (!gpu) {
      throw new InvalidPropsError("The policy has no tee.gpu: add tee.gpu (machineType, provisioningModel, …) or do not create a GPU template.", {
        constructPath: this.node.path,
        property: "gpu",
      });
    }
    this.gpu = gpu;
    requireGpuZone(gpu.machineType, base.zone, { constructPath: this.node.path, property: "zone" });
    this.imageFamily = base.debugImage ? CONFIDENTIAL_SPACE_GPU_DEBUG_IMAGE_FAMILY : CONFIDENTIAL_SPACE_GPU_IMAGE_FAMILY;
    const labels = cleanRoomLabels(policy.name, COMPONENT.teeWorkload);
    const image = new DataGoogleComputeImage(this, "image", { project: "confidential-space-images", family: this.imageFamily, provider: props.provider });
    const contract = manateeContract(policy.name, policy.project);
    this.instanceTemplate = new ComputeInstanceTemplate(this, "template", {
      project: policy.project,
      region: policy.region,
      // Under the CPU template's prefix: the job service's IAM conditions on template names cover both.
      namePrefix: `${base.templateNamePrefix}gpu-`,
      description: `Confidential Space ${base.debugImage ? "DEBUG " : ""}GPU job VM (Preview: TDX + NVIDIA H100 CC) of clean room ${policy.name}`,
      machineType: gpu.machineType,
      confidentialInstanceConfig: { confidentialInstanceType: "TDX" },
      shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
      scheduling: gpuScheduling(gpu, gpu.maxRunDurationMinutes ?? jobsOf(policy).timeoutMinutes),
      ...(gpu.provisioningModel === "spot" ? {} : { reservationAffinity: reservationAffinity(gpu) }),
      disk: [
        {
          boot: true,
          autoDelete: true,
          sourceImage: image.selfLink,
          diskSizeGb: Math.max(base.bootDiskSizeGb, GPU_MIN_BOOT_DISK_GB),
          diskType: base.bootDiskType,
          labels,
        },
      ],
      networkInterface: [{ subnetwork: base.subnetwork, stackType: "IPV4_ONLY" }],
      tags: [contract.teeNetworkTag],
      canIpForward: false,
      serviceAccount: { email: base.serviceAccountEmail, scopes: ["cloud-platform"] },
      metadata: { ...base.metadata, [GPU_DRIVER_METADATA_KEY]: "true" },
      labels,
      lifecycle: { createBeforeDestroy: true },
      provider: props.provider,
    });
    this.instanceTemplateId = this.instanceTemplate.id;
  }
}

/** TERMINATE on maintenance, no restart, the provisioning model, and a run limit after which the VM is deleted. */
export function gpuScheduling(gpu: GpuPolicy, maxRunMinutes: number): ComputeInstanceTemplateScheduling {
  const model = { spot: "SPOT", "flex-start": "FLEX_START", reservation: "RESERVATION_BOUND" }[gpu.provisioningModel];
  return {
    onHostMaintenance: "TERMINATE",
    automaticRestart: false,
    provisioningModel: model,
    preemptible: gpu.provisioningModel === "spot",
    instanceTerminationAction: "DELETE",
    maxRunDuration: { seconds: maxRunMinutes * 60 },
  };
}

function reservationAffinity(gpu: GpuPolicy): ComputeInstanceTemplateReservationAffinity {
  if (gpu.provisioningModel === "flex-start") return { type: "NO_RESERVATION" };
  return {
    type: "SPECIFIC_RESERVATION",
    specificReservation: { key: "compute.googleapis.com/reservation-name", values: [gpu.reservation ?? ""] },
  };
}
