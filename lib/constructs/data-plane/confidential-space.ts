/**
 * The stage-2 execution environment: the TEE service account every Confidential Space VM runs
 * as, and an instance template that pins the settings the attribute condition expects
 * (production image, confidential hardware, Secure Boot, the TEE service account). The service
 * account holds no data grants: data access comes only from the attested, federated identity.
 */
import { TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import { ComputeInstanceTemplate } from "@cdktf/provider-google/lib/compute-instance-template";
import { DataGoogleComputeImage } from "@cdktf/provider-google/lib/data-google-compute-image";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { COMPONENT, GrantOptions, cleanRoomLabels, requireGrantableMember, requireInResidency, toGrantOptions } from "../../internal/common";
import { AuthoritativeIamPolicy, IamGrant, IamMemberGrants, grantOnProject } from "../iam-grants";
import { IamCondition } from "../../policy/members";
import { CleanRoomPolicy, TeeHardware } from "../../policy/model";
import { manateeContract } from "../../policy/names";
import { InvalidPropsError } from "../../errors";
import { ConfidentialSpaceGpuTemplate } from "./gpu-template";

export const CONFIDENTIAL_SPACE_IMAGE_PROJECT = "confidential-space-images";
export const CONFIDENTIAL_SPACE_IMAGE_FAMILY = "confidential-space";
export const CONFIDENTIAL_SPACE_DEBUG_IMAGE_FAMILY = "confidential-space-debug";

/** Project roles of the TEE service account: attestation tokens and the launcher's logs. Nothing else. */
export const TEE_PROJECT_ROLES = ["roles/confidentialcomputing.workloadUser", "roles/logging.logWriter"] as const;

/**
 * Confidential computing technologies Confidential Space runs on. (The provider also knows
 * `SEV_SNP`, which Confidential Space does not document.)
 */
export type ConfidentialInstanceType = "TDX" | "SEV";

/** Token `hwmodel` values each instance type can produce. */
export const HWMODELS_OF_INSTANCE_TYPE: Record<ConfidentialInstanceType, readonly TeeHardware[]> = {
  TDX: ["GCP_INTEL_TDX"],
  SEV: ["GCP_AMD_SEV", "GCP_AMD_SEV_ES"],
};

/** An Artifact Registry repository; `ArtifactRegistryRepository` satisfies it. */
export interface ImageRepositoryRef {
  readonly repositoryId: string;
  readonly location: string;
  /** @default the provider's project */
  readonly project?: string;
  /**
   * The managed repository, when there is one (an `ImageRegistry` repository has it): the grant
   * names it by reference, so it waits for the repository. @default the literal `repositoryId`
   */
  readonly repository?: { readonly name: string };
  /**
   * The repository's own pull grant (a `DockerRepository` or `SignatureRepository` has it): when
   * present, pulls are granted through it, so the repository's owner holds the one binding.
   * @default - the grant is made here, on `repositoryId`
   */
  grantPull?(member: string, options?: GrantOptions): ArtifactRegistryRepositoryIamMember;
}

export interface ConfidentialSpaceWorkloadProps {
  /** The clean-room policy: project, region, zone, residency and TEE requirements. */
  readonly policy: CleanRoomPolicy;
  /**
   * Boot the debug image (`confidential-space-debug`: SSH, operator root, no support
   * attributes, container logs leave the VM). Only when the policy sets `tee.allowDebug`; its
   * tokens then also pass the attribute condition, which is why production rooms never allow it.
   * @default policy.tee.allowDebug (a production room always boots the production image)
   */
  readonly debugImage?: boolean;
  /** @default "TDX" when tee.hardware includes GCP_INTEL_TDX, otherwise "SEV" */
  readonly confidentialInstanceType?: ConfidentialInstanceType;
  /** @default policy.tee.machineType */
  readonly machineType?: string;
  /**
   * Zone where the job VMs run (for the job service; an instance template has no zone); must
   * lie in the residency set and offer the confidential machine type.
   * @default policy.zone
   */
  readonly zone?: string;
  /**
   * Subnetwork self link or `projects/P/regions/R/subnetworks/S`. Job VMs get no external IP and
   * need nothing but Google APIs: a subnet with Private Google Access that no Cloud NAT serves
   * (`CleanRoomNetwork.teeSubnetwork`; MCR-NET1 refuses a NAT that serves it).
   * @default the TEE subnetwork `dcr-ENV-tee-subnetwork` in policy.region
   */
  readonly subnetwork?: string;
  /**
   * Container image to run, pinned by digest (`…@sha256:…`). The job service sets it per
   * job, so the template usually leaves it out.
   * @default - none
   */
  readonly imageReference?: string;
  /**
   * Extra Confidential Space launcher metadata (`tee-*` keys), e.g. `tee-env-EXECUTION_STAGE`.
   * Debug switches are refused unless `debugImage` is set.
   * @default {}
   */
  readonly metadata?: Record<string, string>;
  /** @default 50 (GB, as ManaTEE's reconciler used) */
  readonly bootDiskSizeGb?: number;
  /** C3 (TDX) machines do not support pd-standard. @default "pd-balanced" */
  readonly bootDiskType?: string;
  /** Extra labels; the clean-room labels win on conflict. @default {} */
  readonly labels?: Record<string, string>;
  /** @default the provider's default provider */
  readonly provider?: TerraformProvider;
}

/**
 * The TEE service account `dcr-ENV-cvm-sa` with least-privilege roles, and the Confidential
 * Space instance template every job VM is created from: production image family (debug only
 * when the policy allows it), confidential hardware and machine type from the policy, Shielded
 * VM with Secure Boot, TERMINATE on host maintenance and no automatic restart,
 * `tee-restart-policy=Never`, no external IP (no access config) on the TEE subnet (no NAT),
 * network tag `tee-instance`, and the TEE service account.
 */
export class ConfidentialSpaceWorkload extends Construct {
  public readonly serviceAccount: ServiceAccount;
  /** `dcr-ENV-cvm-sa@PROJECT.iam.gserviceaccount.com`, known at synth time. */
  public readonly serviceAccountEmail: string;
  public readonly projectRoles: ProjectIamMember[];
  public readonly image: DataGoogleComputeImage;
  /**
   * The template every job VM is created from (the job service launches with
   * `sourceInstanceTemplate` and sets only the image, signature repositories and allowed env).
   */
  public readonly instanceTemplate: ComputeInstanceTemplate;
  /** `projects/P/global/instanceTemplates/NAME` of the current template (changes when the template is replaced). */
  public readonly instanceTemplateId: string;
  /** The GPU job template, when the policy sets `tee.gpu` (docs/gpu.md). */
  public readonly gpuTemplate?: ConfidentialSpaceGpuTemplate;
  /** Templates are named `<templateNamePrefix><suffix>`: IAM conditions on template use key on it. */
  public readonly templateNamePrefix: string;
  public readonly confidentialInstanceType: ConfidentialInstanceType;
  public readonly imageFamily: string;
  public readonly machineType: string;
  public readonly zone: string;
  public readonly subnetwork: string;
  /** The metadata on the template (defaults merged with `metadata`). */
  public readonly metadata: Readonly<Record<string, string>>;
  /** The TEE service account's one IAM policy: who may act as it (the job service) and nothing else. */
  public readonly iamPolicy: AuthoritativeIamPolicy;
  /** `serviceAccount:<email>` of the TEE service account (one string, so repeated grants match). */
  public readonly member: string;
  /** Pull grants made here, per repository without a `grantPull` of its own. */
  private readonly pulls = new Map<string, IamMemberGrants<ArtifactRegistryRepositoryIamMember>>();
  private readonly provider?: TerraformProvider;
  private readonly project: string;
  private tokenGrants = 0;

  constructor(scope: Construct, id: string, props: ConfidentialSpaceWorkloadProps) {
    super(scope, id);
    const { policy } = props;
    const contract = manateeContract(policy.name, policy.project);
    this.provider = props.provider;
    this.project = policy.project;
    const debug = props.debugImage ?? policy.tee.allowDebug;
    if (debug && !policy.tee.allowDebug) {
      throw new InvalidPropsError(
        `debugImage is true but the policy's tee.allowDebug is false. Debug images give operators a root shell in ` +
          `the TEE; set tee.allowDebug: true (non-production rooms only), or remove debugImage.`,
      );
    }
    this.imageFamily = debug ? CONFIDENTIAL_SPACE_DEBUG_IMAGE_FAMILY : CONFIDENTIAL_SPACE_IMAGE_FAMILY;
    this.confidentialInstanceType = props.confidentialInstanceType ?? defaultInstanceType(policy.tee.hardware);
    requireInstanceType(this.confidentialInstanceType, policy.tee.hardware);
    this.machineType = props.machineType ?? policy.tee.machineType;
    this.zone = props.zone ?? policy.zone;
    requireInResidency(this.zone, policy.residency, "zone");
    this.subnetwork =
      props.subnetwork ?? `projects/${policy.project}/regions/${policy.region}/subnetworks/${contract.teeSubnetwork}`;
    const subnetRegion = /\/regions\/([^/]+)\/subnetworks\//.exec(this.subnetwork)?.[1];
    if (subnetRegion !== undefined) requireInResidency(subnetRegion, policy.residency, "subnetwork region");
    if (props.imageReference !== undefined) requireDigestPinned(props.imageReference);
    this.metadata = {
      // A job runs once: the attribute condition requires restart_policy == 'Never'.
      "tee-restart-policy": "Never",
      // Container logs leave the TEE only from debug images; production leaves the key out (default false).
      ...(debug ? { "tee-container-log-redirect": "true" } : {}),
      "serial-port-enable": "FALSE",
      ...(props.imageReference !== undefined ? { "tee-image-reference": props.imageReference } : {}),
      ...validatedMetadata(props.metadata ?? {}, debug),
    };
    const labels = { ...props.labels, ...cleanRoomLabels(policy.name, COMPONENT.teeWorkload) };

    this.serviceAccount = new ServiceAccount(this, "sa", {
      project: policy.project,
      accountId: contract.teeServiceAccountId,
      displayName: `TEE workloads of ${policy.name}`.slice(0, 100),
      description: "Attached to Confidential Space job VMs. Holds no data grants: data access is attested and federated.",
      provider: props.provider,
    });
    this.serviceAccountEmail = contract.teeServiceAccountEmail;
    this.iamPolicy = new AuthoritativeIamPolicy(this, "sa-iam", {
      target: { kind: "service_account", serviceAccountId: this.serviceAccount.name },
      provider: props.provider,
    });
    const member = (this.member = this.serviceAccount.member);
    this.projectRoles = TEE_PROJECT_ROLES.map((role) =>
      grantOnProject(this, role.replace(/^roles\//, "").replace(/\./g, "-"), { project: policy.project, role, member, provider: props.provider }),
    );

    this.templateNamePrefix = `dcr-${contract.env}-tee-`;
    this.image = new DataGoogleComputeImage(this, "image", {
      project: CONFIDENTIAL_SPACE_IMAGE_PROJECT,
      family: this.imageFamily,
      provider: props.provider,
    });
    this.instanceTemplate = new ComputeInstanceTemplate(this, "template", {
      project: policy.project,
      region: policy.region,
      // Templates are immutable: a new image or setting creates a new template before the old one goes.
      namePrefix: this.templateNamePrefix,
      description: `Confidential Space ${debug ? "DEBUG" : "production"} job VM of clean room ${policy.name}`,
      machineType: this.machineType,
      confidentialInstanceConfig: { confidentialInstanceType: this.confidentialInstanceType },
      shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
      scheduling: {
        onHostMaintenance: "TERMINATE",
        // A run-once job must not silently re-run after a host failure.
        automaticRestart: false,
        provisioningModel: "STANDARD",
        preemptible: false,
      },
      disk: [
        {
          boot: true,
          autoDelete: true,
          sourceImage: this.image.selfLink,
          diskSizeGb: props.bootDiskSizeGb ?? 50,
          diskType: props.bootDiskType ?? "pd-balanced",
          labels,
        },
      ],
      // No access_config: no external IP. The TEE subnet has no Cloud NAT either: Google APIs only.
      networkInterface: [{ subnetwork: this.subnetwork, stackType: "IPV4_ONLY" }],
      // The network's firewall admits TEE egress by this tag only (VMs inherit it from this template).
      tags: [contract.teeNetworkTag],
      canIpForward: false,
      serviceAccount: { email: this.serviceAccount.email, scopes: ["cloud-platform"] },
      metadata: { ...this.metadata },
      labels,
      lifecycle: { createBeforeDestroy: true },
      provider: props.provider,
    });
    this.instanceTemplateId = this.instanceTemplate.id;
    if (policy.tee.gpu) {
      const base = { serviceAccountEmail: this.serviceAccount.email, subnetwork: this.subnetwork, zone: this.zone, metadata: this.metadata };
      const disk = { bootDiskSizeGb: props.bootDiskSizeGb ?? 50, bootDiskType: props.bootDiskType ?? "pd-balanced" };
      this.gpuTemplate = new ConfidentialSpaceGpuTemplate(this, "gpu", {
        policy,
        base: { ...base, ...disk, templateNamePrefix: this.templateNamePrefix, debugImage: debug },
        provider: props.provider,
      });
    }
  }

  /**
   * `roles/artifactregistry.reader` for the TEE service account on this one repository: through
   * the repository's own `grantPull` when it has one (one binding, whoever asks), else made here.
   */
  public grantImagePull(repository: ImageRepositoryRef): ArtifactRegistryRepositoryIamMember {
    const id = Token.isUnresolved(repository.repositoryId) ? undefined : `pull-${repository.repositoryId}`;
    if (repository.grantPull) return repository.grantPull(this.member, { id: id ?? "pull-tee" });
    const project = repository.project ?? this.project;
    const key = `${project}|${repository.location}|${repository.repositoryId}`;
    const grants =
      this.pulls.get(key) ??
      new IamMemberGrants(this, (scope, grantId, b) =>
        new ArtifactRegistryRepositoryIamMember(scope, grantId, {
          project,
          location: repository.location,
          repository: repository.repository?.name ?? repository.repositoryId,
          role: b.role,
          member: b.member,
          provider: this.provider,
        }),
      );
    this.pulls.set(key, grants);
    return grants.grant("pull", { role: "roles/artifactregistry.reader", member: this.member, id: id ?? `pull-token-${this.tokenGrants++}` });
  }

  /**
   * `roles/iam.serviceAccountUser` on the TEE service account only, for whoever launches job
   * VMs (the room's job service), instead of a project-wide grant: a binding of the account's one
   * authoritative policy.
   */
  public grantActAs(member: string, options?: GrantOptions | IamCondition): IamGrant {
    requireGrantableMember(member, "member");
    const opts = toGrantOptions(options);
    return this.iamPolicy.grant({ role: "roles/iam.serviceAccountUser", member, condition: opts.condition, dependsOn: opts.dependsOn });
  }
}

function defaultInstanceType(hardware: readonly TeeHardware[]): ConfidentialInstanceType {
  return hardware.includes("GCP_INTEL_TDX") ? "TDX" : "SEV";
}

function requireInstanceType(type: ConfidentialInstanceType, hardware: readonly TeeHardware[]) {
  const hwmodels = HWMODELS_OF_INSTANCE_TYPE[type];
  if (hwmodels === undefined) {
    throw new InvalidPropsError(`confidentialInstanceType "${type}" is not supported by Confidential Space. Use "TDX" or "SEV".`);
  }
  if (!hwmodels.some((h) => hardware.includes(h))) {
    throw new InvalidPropsError(
      `confidentialInstanceType "${type}" yields tokens with hwmodel ${hwmodels.join(" or ")}, which tee.hardware ` +
        `[${hardware.join(", ")}] does not allow, so the workload identity provider would reject every job. ` +
        `Add the hardware to tee.hardware, or choose a matching confidentialInstanceType.`,
    );
  }
}

function requireDigestPinned(imageReference: string) {
  if (Token.isUnresolved(imageReference)) return;
  if (!/@sha256:[0-9a-f]{64}$/.test(imageReference)) {
    throw new InvalidPropsError(
      `imageReference "${imageReference}" is not pinned by digest. Use "REPOSITORY@sha256:<64 hex digits>": ` +
        `approvals name image digests, and a tag can move.`,
    );
  }
}

/** Keys that switch on debugging or a way into the VM. */
const DEBUG_SWITCHES: Record<string, (value: string) => boolean> = {
  "tee-container-log-redirect": (v) => v.toLowerCase() !== "false",
  "serial-port-enable": (v) => !["false", "0"].includes(v.toLowerCase()),
};

function validatedMetadata(metadata: Record<string, string>, debug: boolean): Record<string, string> {
  for (const [key, value] of Object.entries(metadata)) {
    if (key === "tee-image-reference") {
      throw new InvalidPropsError(`metadata "tee-image-reference" is not allowed here; use the imageReference prop (digest-pinned).`);
    }
    const isDebugSwitch = DEBUG_SWITCHES[key]?.(value) ?? false;
    if (isDebugSwitch && !debug) {
      throw new InvalidPropsError(
        `metadata "${key}: ${value}" is a debug switch and this is a production workload. ` +
          `Remove it; debug settings need debugImage: true and tee.allowDebug in the policy.`,
      );
    }
    if (!key.startsWith("tee-") && !(key in DEBUG_SWITCHES)) {
      throw new InvalidPropsError(
        `metadata key "${key}" is not a Confidential Space launcher key. Only "tee-*" keys are honoured by the launcher.`,
      );
    }
  }
  return metadata;
}
