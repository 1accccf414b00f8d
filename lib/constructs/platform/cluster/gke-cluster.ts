/**
 * The stage-1 GKE cluster: JupyterHub, the ManaTEE job service and Kaniko builds run here,
 * on stage-1 data only. Hardened beyond ManaTEE's own cluster (reference/manatee-runtime.md
 * §1.1): private nodes, no public control-plane IP, shielded nodes, least-privilege node
 * service account, GKE metadata server, CMEK for secrets when given, and a tainted GPU pool.
 *
 * The construct itself: cluster, node service account, the pools' resources, image-pull grants
 * and the provider connection; pool and control-plane options and their checks are in
 * ./node-pools and ./control-plane.
 */
import { Fn, ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import { ContainerCluster } from "@cdktf/provider-google/lib/container-cluster";
import { ContainerNodePool, ContainerNodePoolNodeConfig } from "@cdktf/provider-google/lib/container-node-pool";
import { DataGoogleClientConfig } from "@cdktf/provider-google/lib/data-google-client-config";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { CleanRoomRef, GrantOptions, cleanRoomLabels, requireInResidency } from "../../../internal/common";
import { IamMemberGrants, grantOnProject } from "../../iam-grants";
import { manateeEnv, resourceName } from "../../../policy/names";
import { ControlPlaneAccess, KubernetesConnection, validateControlPlane } from "./control-plane";
import { DEFAULT_CPU_MACHINE_TYPE, GPU_TAINT, GpuPoolOptions, NodePoolOptions, validateGpuPool, validatePool } from "./node-pools";
import { InvalidPropsError } from "../../../errors";

/**
 * Project roles of the node service account: what the kubelet and GKE's system agents need to
 * write logs and metrics, nothing more. Image pulls are granted per repository
 * (`grantImagePull`), never project-wide; no storage or editor role.
 */
export const NODE_SERVICE_ACCOUNT_ROLES = [
  "roles/logging.logWriter",
  "roles/monitoring.metricWriter",
  "roles/monitoring.viewer",
  "roles/stackdriver.resourceMetadata.writer",
] as const;

const RELEASE_CHANNELS = ["RAPID", "REGULAR", "STABLE"] as const;
const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";

/** The network the cluster runs in; a `CleanRoomNetwork` fits. */
export interface ClusterNetworkRef {
  readonly networkId: string;
  readonly subnetworkId: string;
  /** Secondary range of the subnet for pods. */
  readonly podsRangeName: string;
  /** Secondary range of the subnet for services. */
  readonly servicesRangeName: string;
  /**
   * Network tag put on every node, so the network's node firewall rules apply. Without it, a
   * `CleanRoomNetwork`'s deny-all egress rule cuts the nodes off.
   * @default - no tag
   */
  readonly nodeTag?: string;
  /** Region of the subnet; when known, the cluster location must lie in it. @default - not checked */
  readonly region?: string;
}

/** Customer-managed keys; each must be in the cluster's region (Cloud KMS key id). */
export interface ClusterEncryption {
  /**
   * Encrypt Kubernetes Secrets in etcd with this key (application-layer secrets encryption).
   * The GKE service agent (`service-PROJECT_NUMBER@container-engine-robot.iam.gserviceaccount.com`)
   * needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it before the cluster is created.
   * @default - Google-managed encryption only
   */
  readonly secretsKey?: string;
  /**
   * Encrypt node boot disks with this key. The Compute Engine service agent needs
   * roles/cloudkms.cryptoKeyEncrypterDecrypter on it.
   * @default - Google-managed encryption
   */
  readonly bootDiskKey?: string;
}

export interface CleanRoomClusterProps {
  /** The clean room (a `CleanRoomPolicy` fits). */
  readonly room: CleanRoomRef & { readonly zone: string };
  readonly network: ClusterNetworkRef;
  /**
   * A regional cluster (control plane and nodes in three zones of `room.region`) instead of a
   * zonal one. Regional survives a zone outage; it also triples the node count.
   * @default false
   */
  readonly regional?: boolean;
  /**
   * Cluster location; must lie in `room.residency`.
   * @default room.zone, or room.region when `regional`
   */
  readonly location?: string;
  /** @default "REGULAR" */
  readonly releaseChannel?: (typeof RELEASE_CHANNELS)[number];
  /** @default { dnsEndpoint: true, publicEndpoint: false, authorizedNetworks: [] } */
  readonly controlPlane?: ControlPlaneAccess;
  /** @default { machineType: DEFAULT_CPU_MACHINE_TYPE, minNodes: 1, maxNodes: 3, diskSizeGb: 100 } */
  readonly cpuPool?: NodePoolOptions;
  /** @default - no GPU pool */
  readonly gpuPool?: GpuPoolOptions;
  /** @default - Google-managed keys */
  readonly encryption?: ClusterEncryption;
  /**
   * Refuse `terraform destroy` of the cluster. Set false only for throwaway rooms.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /** Resources to create first, typically `CleanRoomApis.dependables`. @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** @default room.project */
  readonly project?: string;
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/** An Artifact Registry repository to pull from; an `ImageRegistry` repository fits. */
export interface RepositoryRef {
  readonly project: string;
  readonly location: string;
  readonly repositoryId: string;
  /**
   * The managed repository, when there is one (an `ImageRegistry` repository has it): the grant
   * names it by reference, so it waits for the repository. @default the literal `repositoryId`
   */
  readonly repository?: { readonly name: string };
  /**
   * The repository's own pull grant (`DockerRepository` has it): when present the pull is granted
   * through it, so `registry.grantPull(node SA)` and `cluster.grantImagePull(registry)` are one binding.
   * @default - the grant is made here, on `repositoryId`
   */
  grantPull?(member: string, options?: GrantOptions): ArtifactRegistryRepositoryIamMember;
}

/**
 * GKE Standard cluster of the clean room, with its node service account, a CPU pool and an
 * optional GPU pool.
 *
 * Deploying the workloads stack: build it in a second `TerraformStack`, spread
 * `cluster.kubernetesConnection(workloadsStack)` into `KubernetesProvider` and into
 * `HelmProvider({ kubernetes: … })`; cdktf wires the endpoint across stacks. Run
 * `cdktf deploy platform` first, push the images, then `cdktf deploy workloads` with
 * credentials that hold `container.clusters.connect` on the project.
 */
export class CleanRoomCluster extends Construct {
  public readonly cluster: ContainerCluster;
  public readonly name: string;
  public readonly location: string;
  /** Node service account (never the default compute service account). */
  public readonly nodeServiceAccount: ServiceAccount;
  public readonly nodeServiceAccountEmail: string;
  /** `serviceAccount:<node SA email>` */
  public readonly nodeServiceAccountMember: string;
  public readonly nodeServiceAccountRoles: readonly ProjectIamMember[];
  public readonly cpuPool: ContainerNodePool;
  public readonly gpuPool?: ContainerNodePool;
  /** `<project>.svc.id.goog` */
  public readonly workloadPool: string;
  /** IP-based endpoint (private unless `controlPlane.publicEndpoint`). */
  public readonly endpoint: string;
  /** DNS-based endpoint host name (set when `controlPlane.dnsEndpoint`). */
  public readonly dnsEndpoint?: string;
  /** Base64 PEM of the cluster CA (for the IP-based endpoints). */
  public readonly clusterCaCertificate: string;
  public readonly controlPlane: Readonly<Required<ControlPlaneAccess>>;
  private readonly provider?: TerraformProvider;
  private tokenPulls = 0;
  /** Pull grants made here, per repository without a `grantPull` of its own. */
  private readonly pulls = new Map<string, IamMemberGrants<ArtifactRegistryRepositoryIamMember>>();

  constructor(scope: Construct, id: string, props: CleanRoomClusterProps) {
    super(scope, id);
    const { room, network, provider } = props;
    const project = props.project ?? room.project;
    this.provider = provider;
    const env = manateeEnv(room.name);
    const labels = cleanRoomLabels(room.name, "gke");

    this.location = props.location ?? (props.regional ? room.region : room.zone);
    requireInResidency(this.location, room.residency, "location");
    requireInNetworkRegion(this.location, network.region);
    const releaseChannel = props.releaseChannel ?? "REGULAR";
    if (!RELEASE_CHANNELS.includes(releaseChannel)) {
      throw new InvalidPropsError(`releaseChannel "${releaseChannel}" is not a GKE release channel. Use "RAPID", "REGULAR" or "STABLE".`);
    }
    this.controlPlane = validateControlPlane(props.controlPlane);
    const cpu = validatePool("cpuPool", { machineType: DEFAULT_CPU_MACHINE_TYPE, minNodes: 1, maxNodes: 3, ...props.cpuPool });
    const gpu = props.gpuPool ? validateGpuPool(props.gpuPool) : undefined;

    this.name = resourceName("gkeCluster", "dcr", env, "cluster");
    this.workloadPool = `${project}.svc.id.goog`;

    this.nodeServiceAccount = new ServiceAccount(this, "node-sa", {
      project,
      accountId: resourceName("serviceAccountId", "dcr", env, "gke-node"),
      displayName: `GKE nodes of clean room ${room.name}`,
      description: "Node service account: logs and metrics only; image pulls granted per repository",
      provider,
    });
    this.nodeServiceAccountEmail = this.nodeServiceAccount.email;
    this.nodeServiceAccountMember = `serviceAccount:${this.nodeServiceAccount.email}`;
    this.nodeServiceAccountRoles = NODE_SERVICE_ACCOUNT_ROLES.map((role) =>
      grantOnProject(this, `node-sa-${role.replace(/^roles\//, "").replace(/\./g, "-")}`, {
        project,
        role,
        member: this.nodeServiceAccountMember,
        provider,
      }),
    );

    const nodeHardening = {
      serviceAccount: this.nodeServiceAccount.email,
      oauthScopes: [CLOUD_PLATFORM_SCOPE],
      imageType: "COS_CONTAINERD",
      // Pods see the GKE metadata server: Workload Identity, never the node's credentials.
      workloadMetadataConfig: { mode: "GKE_METADATA" },
      shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
      metadata: { "disable-legacy-endpoints": "true" },
      bootDiskKmsKey: props.encryption?.bootDiskKey,
      // Also on the temporary default pool: untagged nodes fall under the network's deny-all
      // egress and could not even register with the control plane.
      tags: network.nodeTag ? [network.nodeTag] : undefined,
    };

    this.cluster = new ContainerCluster(this, "cluster", {
      project,
      name: this.name,
      location: this.location,
      description: `Stage-1 cluster of clean room ${room.name}`,
      network: network.networkId,
      subnetwork: network.subnetworkId,
      networkingMode: "VPC_NATIVE",
      ipAllocationPolicy: {
        clusterSecondaryRangeName: network.podsRangeName,
        servicesSecondaryRangeName: network.servicesRangeName,
        stackType: "IPV4",
      },
      // Node pools are managed below; the default pool exists only while the cluster is created,
      // and even then runs hardened under the node service account (never the default compute SA).
      removeDefaultNodePool: true,
      initialNodeCount: 1,
      nodeConfig: nodeHardening,
      deletionProtection: props.deletionProtection ?? true,
      releaseChannel: { channel: releaseChannel },
      workloadIdentityConfig: { workloadPool: this.workloadPool },
      datapathProvider: "ADVANCED_DATAPATH",
      enableShieldedNodes: true,
      enableLegacyAbac: false,
      masterAuth: { clientCertificateConfig: { issueClientCertificate: false } },
      privateClusterConfig: {
        enablePrivateNodes: true,
        enablePrivateEndpoint: !this.controlPlane.publicEndpoint,
      },
      controlPlaneEndpointsConfig: {
        dnsEndpointConfig: { allowExternalTraffic: this.controlPlane.dnsEndpoint },
        ipEndpointsConfig: { enabled: true },
      },
      masterAuthorizedNetworksConfig: {
        gcpPublicCidrsAccessEnabled: false,
        cidrBlocks: this.controlPlane.authorizedNetworks.map((n) => ({ cidrBlock: n.cidrBlock, displayName: n.displayName })),
      },
      databaseEncryption: props.encryption?.secretsKey
        ? { state: "ENCRYPTED", keyName: props.encryption.secretsKey }
        : { state: "DECRYPTED" },
      // Anonymous requests only reach health endpoints; no RoleBinding may name every
      // Google account (system:authenticated) or the unauthenticated.
      anonymousAuthenticationConfig: { mode: "LIMITED" },
      rbacBindingConfig: {
        enableInsecureBindingSystemAuthenticated: false,
        enableInsecureBindingSystemUnauthenticated: false,
      },
      nodePoolDefaults: { nodeConfigDefaults: { insecureKubeletReadonlyPortEnabled: "FALSE" } },
      securityPostureConfig: { mode: "BASIC" },
      loggingConfig: { enableComponents: ["SYSTEM_COMPONENTS", "WORKLOADS"] },
      resourceLabels: labels,
      // node_config only shapes the temporary default pool; never diff or recreate on it.
      lifecycle: { ignoreChanges: ["node_config"] },
      dependsOn: [...(props.dependsOn ?? []), ...this.nodeServiceAccountRoles],
      provider,
    });
    this.endpoint = this.cluster.endpoint;
    this.clusterCaCertificate = this.cluster.masterAuth.clusterCaCertificate;
    this.dnsEndpoint = this.controlPlane.dnsEndpoint
      ? this.cluster.controlPlaneEndpointsConfig.dnsEndpointConfig.endpoint
      : undefined;

    const poolConfig = (options: NodePoolOptions & { machineType: string }, extra: Partial<ContainerNodePoolNodeConfig>) => ({
      ...nodeHardening,
      machineType: options.machineType,
      diskSizeGb: options.diskSizeGb ?? 100,
      diskType: "pd-balanced",
      resourceLabels: labels,
      // cpu_cfs_quota spelled out: with a kubelet_config block the provider sends an unset
      // cpu_cfs_quota as false, which turns off CPU-limit enforcement on every node (GKE's default is true).
      kubeletConfig: { insecureKubeletReadonlyPortEnabled: "FALSE", cpuCfsQuota: true },
      confidentialNodes: options.confidentialNodes
        ? { enabled: true, confidentialInstanceType: options.confidentialNodes }
        : undefined,
      ...extra,
    });
    const poolCommon = {
      project,
      cluster: this.cluster.id,
      location: this.location,
      management: { autoRepair: true, autoUpgrade: true },
      upgradeSettings: { maxSurge: 1, maxUnavailable: 0 },
      provider,
    };

    this.cpuPool = new ContainerNodePool(this, "cpu-pool", {
      ...poolCommon,
      name: resourceName("gkeNodePool", "dcr", env, "cpu"),
      initialNodeCount: cpu.minNodes,
      autoscaling: { minNodeCount: cpu.minNodes, maxNodeCount: cpu.maxNodes },
      nodeConfig: poolConfig(cpu, {}),
    });

    if (gpu) {
      this.gpuPool = new ContainerNodePool(this, "gpu-pool", {
        ...poolCommon,
        name: resourceName("gkeNodePool", "dcr", env, "gpu"),
        initialNodeCount: gpu.minNodes,
        autoscaling: { minNodeCount: gpu.minNodes, maxNodeCount: gpu.maxNodes },
        nodeConfig: poolConfig(gpu, {
          guestAccelerator: [
            {
              type: gpu.accelerator.type,
              count: gpu.accelerator.count,
              gpuDriverInstallationConfig: { gpuDriverVersion: gpu.accelerator.driverVersion ?? "DEFAULT" },
            },
          ],
          // ManaTEE's GPU pool has no taint, so any pod could be scheduled on (and pay for) it.
          taint: [{ ...GPU_TAINT }],
        }),
      });
    }
  }

  /**
   * Let the nodes pull images from one repository (roles/artifactregistry.reader on that
   * repository only): the kubelet pulls with the node service account, not Workload Identity.
   */
  public grantImagePull(
    repository: RepositoryRef,
    options: Pick<GrantOptions, "id" | "dependsOn"> = {},
  ): ArtifactRegistryRepositoryIamMember {
    const childId =
      options.id ??
      (Token.isUnresolved(repository.repositoryId) ? `image-pull-${this.tokenPulls++}` : `image-pull-${repository.repositoryId}`);
    const binding = { role: "roles/artifactregistry.reader", member: this.nodeServiceAccountMember, dependsOn: options.dependsOn, id: childId };
    if (repository.grantPull) return repository.grantPull(binding.member, binding);
    const key = `${repository.project}|${repository.location}|${repository.repositoryId}`;
    const grants =
      this.pulls.get(key) ??
      new IamMemberGrants(this, (scope, id, b) =>
        new ArtifactRegistryRepositoryIamMember(scope, id, {
          project: repository.project,
          location: repository.location,
          repository: repository.repository?.name ?? repository.repositoryId,
          role: b.role,
          member: b.member,
          dependsOn: b.dependsOn,
          provider: this.provider,
        }),
      );
    this.pulls.set(key, grants);
    return grants.grant("image-pull", binding);
  }

  /**
   * Settings for the kubernetes and helm providers, for the stack `scope` belongs to (usually
   * the workloads stack, which needs its own GoogleProvider). Adds a `google_client_config` data
   * source there for the caller's access token. Uses the DNS endpoint when it is on, else the IP
   * endpoint with the cluster CA (reachable only from the authorized networks).
   */
  public kubernetesConnection(scope: Construct, options: { id?: string; provider?: TerraformProvider } = {}): KubernetesConnection {
    const id = options.id ?? "gke-client-config";
    const existing = scope.node.tryFindChild(id);
    const clientConfig =
      existing instanceof DataGoogleClientConfig
        ? existing
        : new DataGoogleClientConfig(scope, id, { provider: options.provider ?? this.provider });
    if (this.dnsEndpoint !== undefined) {
      return { host: `https://${this.dnsEndpoint}`, token: clientConfig.accessToken };
    }
    return {
      host: `https://${this.endpoint}`,
      token: clientConfig.accessToken,
      clusterCaCertificate: Fn.base64decode(this.clusterCaCertificate),
    };
  }
}

function requireInNetworkRegion(location: string, region: string | undefined): void {
  if (region === undefined || Token.isUnresolved(region) || Token.isUnresolved(location)) return;
  if (location !== region && !(location.startsWith(`${region}-`) && /^[a-z]$/.test(location.slice(region.length + 1)))) {
    throw new InvalidPropsError(
      `location "${location}" is not in the network's region "${region}". Use "${region}" or one of its zones (e.g. "${region}-a").`,
    );
  }
}
