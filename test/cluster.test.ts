import { TerraformStack, Testing } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { HelmProvider } from "@cdktf/provider-helm/lib/provider";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import { CleanRoomCluster, CleanRoomClusterProps, NODE_SERVICE_ACCOUNT_ROLES } from "../lib/constructs/platform/cluster";
import { CleanRoomNetwork } from "../lib/constructs/platform/network";
import { ImageRegistry } from "../lib/constructs/platform/registry";
import { SynthJson, examplePolicy, iamGrants, resourceConfigs, resources, synthStack, synthWith } from "./util";

const policy = examplePolicy();
const NODE_TAG = "dcr-insurance-study-gke-node";

function synthCluster(props: Partial<CleanRoomClusterProps> = {}): SynthJson {
  return synthWith((stack) => {
    const network = new CleanRoomNetwork(stack, "network", { room: policy });
    new CleanRoomCluster(stack, "cluster", { room: policy, network, ...props });
  });
}

/** A network reference without resources, for validation tests. */
const networkRef = {
  networkId: "projects/acme-clean-room/global/networks/dcr-insurance-study-network",
  subnetworkId: "projects/acme-clean-room/regions/us-central1/subnetworks/dcr-insurance-study-subnetwork",
  podsRangeName: "pods",
  servicesRangeName: "services",
  nodeTag: NODE_TAG,
  region: "us-central1",
};

function build(props: Partial<CleanRoomClusterProps>): () => void {
  return () => synthWith((stack) => new CleanRoomCluster(stack, "cluster", { room: policy, network: networkRef, ...props }));
}

const pools = (json: SynthJson) => resourceConfigs(json, "google_container_node_pool");

describe("CleanRoomCluster with defaults", () => {
  let json: SynthJson;
  let cluster: any;
  beforeAll(() => {
    json = synthCluster();
    [cluster] = resourceConfigs(json, "google_container_cluster");
  });

  test("given the example policy, then the cluster is zonal in policy.zone, inside the residency set", () => {
    expect(cluster.name).toBe("dcr-insurance-study-cluster");
    expect(cluster.location).toBe("us-central1-a");
  });

  test("then nodes are private and the control plane has no public IP endpoint", () => {
    expect(cluster.private_cluster_config).toEqual({ enable_private_nodes: true, enable_private_endpoint: true });
    expect(cluster.master_authorized_networks_config).toEqual({ gcp_public_cidrs_access_enabled: false, cidr_blocks: [] });
    expect(cluster.control_plane_endpoints_config).toEqual({
      dns_endpoint_config: { allow_external_traffic: true },
      ip_endpoints_config: { enabled: true },
    });
  });

  test("then Workload Identity is on and every pool exposes only the GKE metadata server", () => {
    expect(cluster.workload_identity_config).toEqual({ workload_pool: "acme-clean-room.svc.id.goog" });
    expect(cluster.node_config.workload_metadata_config).toEqual({ mode: "GKE_METADATA" });
    for (const pool of pools(json)) expect(pool.node_config.workload_metadata_config).toEqual({ mode: "GKE_METADATA" });
  });

  test("then nodes are shielded with secure boot and integrity monitoring on COS", () => {
    expect(cluster.enable_shielded_nodes).toBe(true);
    for (const nodeConfig of [cluster.node_config, ...pools(json).map((p) => p.node_config)]) {
      expect(nodeConfig.shielded_instance_config).toEqual({ enable_secure_boot: true, enable_integrity_monitoring: true });
      expect(nodeConfig.image_type).toBe("COS_CONTAINERD");
    }
  });

  test("then Dataplane V2, deletion protection, no default pool, no client certificate, no legacy ABAC", () => {
    expect(cluster).toMatchObject({
      datapath_provider: "ADVANCED_DATAPATH",
      deletion_protection: true,
      remove_default_node_pool: true,
      enable_legacy_abac: false,
      master_auth: { client_certificate_config: { issue_client_certificate: false } },
      release_channel: { channel: "REGULAR" },
      networking_mode: "VPC_NATIVE",
      ip_allocation_policy: { cluster_secondary_range_name: "pods", services_secondary_range_name: "services", stack_type: "IPV4" },
      anonymous_authentication_config: { mode: "LIMITED" },
      rbac_binding_config: {
        enable_insecure_binding_system_authenticated: false,
        enable_insecure_binding_system_unauthenticated: false,
      },
      database_encryption: { state: "DECRYPTED" },
    });
  });

  test("then nodes run as the cluster's own service account, never the default compute service account", () => {
    const [[saId, sa]] = resources(json, "google_service_account");
    expect(sa.account_id).toBe("dcr-insurance-study-gke-node");
    const ref = `\${google_service_account.${saId}.email}`;
    expect(cluster.node_config.service_account).toBe(ref);
    // The temporary default pool is tagged too, or the network's deny-all egress keeps it from registering.
    expect(cluster.node_config.tags).toEqual([NODE_TAG]);
    for (const pool of pools(json)) expect(pool.node_config.service_account).toBe(ref);
    expect(JSON.stringify(json)).not.toMatch(/-compute@developer\.gserviceaccount\.com/);
  });

  test("then the node service account holds the four logging/monitoring roles and nothing project-wide beyond them", () => {
    const grants = iamGrants(json).filter((g) => g.member.includes("google_service_account."));
    expect(grants.every((g) => g.type === "google_project_iam_member")).toBe(true);
    expect(grants.map((g) => g.role).sort()).toEqual([...NODE_SERVICE_ACCOUNT_ROLES].sort());
    for (const g of grants) {
      expect(g.role).not.toMatch(/storage|editor|owner|artifactregistry|admin/i);
    }
  });

  test("then the CPU pool is autoscaled, auto-repaired and auto-upgraded, tagged for the node firewall rules", () => {
    const [cpu] = pools(json);
    expect(cpu).toMatchObject({
      name: "dcr-insurance-study-cpu",
      location: "us-central1-a",
      autoscaling: { min_node_count: 1, max_node_count: 3 },
      management: { auto_repair: true, auto_upgrade: true },
      node_config: {
        machine_type: "n2d-standard-4",
        tags: [NODE_TAG],
        kubelet_config: { insecure_kubelet_readonly_port_enabled: "FALSE" },
        metadata: { "disable-legacy-endpoints": "true" },
      },
    });
    expect(cpu.node_config.confidential_nodes).toBeUndefined();
    expect(cpu.node_config.taint).toBeUndefined();
  });

  test("snapshot", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("CleanRoomCluster with every option", () => {
  let json: SynthJson;
  let cluster: any;
  beforeAll(() => {
    json = synthCluster({
      regional: true,
      releaseChannel: "STABLE",
      deletionProtection: false,
      controlPlane: { dnsEndpoint: true, publicEndpoint: true, authorizedNetworks: [{ cidrBlock: "203.0.113.0/24", displayName: "office" }] },
      cpuPool: { machineType: "n2d-standard-8", minNodes: 2, maxNodes: 5, confidentialNodes: "SEV" },
      gpuPool: { machineType: "a3-highgpu-1g", accelerator: { type: "nvidia-h100-80gb", count: 1 }, confidentialNodes: "TDX" },
      encryption: {
        secretsKey: "projects/acme-clean-room/locations/us-central1/keyRings/gke/cryptoKeys/secrets",
        bootDiskKey: "projects/acme-clean-room/locations/us-central1/keyRings/gke/cryptoKeys/disks",
      },
    });
    [cluster] = resourceConfigs(json, "google_container_cluster");
  });

  test("given regional, then the cluster spans the room's region", () => {
    expect(cluster.location).toBe("us-central1");
    expect(pools(json).every((p) => p.location === "us-central1")).toBe(true);
  });

  test("given a secrets key, then etcd secrets are encrypted with it; given a disk key, every node disk uses it", () => {
    expect(cluster.database_encryption).toEqual({
      state: "ENCRYPTED",
      key_name: "projects/acme-clean-room/locations/us-central1/keyRings/gke/cryptoKeys/secrets",
    });
    for (const pool of pools(json)) {
      expect(pool.node_config.boot_disk_kms_key).toBe("projects/acme-clean-room/locations/us-central1/keyRings/gke/cryptoKeys/disks");
    }
  });

  test("given a public endpoint, then only the authorized networks reach it, never Google Cloud's public IPs", () => {
    expect(cluster.private_cluster_config).toEqual({ enable_private_nodes: true, enable_private_endpoint: false });
    expect(cluster.master_authorized_networks_config).toEqual({
      gcp_public_cidrs_access_enabled: false,
      cidr_blocks: [{ cidr_block: "203.0.113.0/24", display_name: "office" }],
    });
  });

  test("given confidential nodes, then each pool runs its technology", () => {
    const [cpu, gpu] = pools(json);
    expect(cpu.node_config.confidential_nodes).toEqual({ enabled: true, confidential_instance_type: "SEV" });
    expect(gpu.node_config.confidential_nodes).toEqual({ enabled: true, confidential_instance_type: "TDX" });
  });

  test("given a GPU pool, then it scales from zero, GKE installs the driver, and a taint keeps ordinary pods off", () => {
    const [, gpu] = pools(json);
    expect(gpu).toMatchObject({
      name: "dcr-insurance-study-gpu",
      autoscaling: { min_node_count: 0, max_node_count: 1 },
      node_config: {
        machine_type: "a3-highgpu-1g",
        guest_accelerator: [{ type: "nvidia-h100-80gb", count: 1, gpu_driver_installation_config: { gpu_driver_version: "DEFAULT" } }],
        taint: [{ key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" }],
        workload_metadata_config: { mode: "GKE_METADATA" },
      },
    });
  });

  test("given deletionProtection false, then Terraform may destroy the cluster", () => {
    expect(cluster.deletion_protection).toBe(false);
    expect(cluster.release_channel).toEqual({ channel: "STABLE" });
  });

  test("snapshot", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("CleanRoomCluster wiring", () => {
  test("given a registry, when the nodes get image pull, then it is reader on that repository only", () => {
    const json = synthWith((stack) => {
      const network = new CleanRoomNetwork(stack, "network", { room: policy });
      const cluster = new CleanRoomCluster(stack, "cluster", { room: policy, network });
      const registry = new ImageRegistry(stack, "registry", { room: policy });
      cluster.grantImagePull(registry.serviceImages);
      cluster.grantImagePull(registry.serviceImages);
    });
    const pulls = resourceConfigs(json, "google_artifact_registry_repository_iam_member");
    expect(pulls).toHaveLength(1);
    expect(pulls[0]).toMatchObject({
      // By reference: the grant waits for the repository.
      repository: expect.stringMatching(/^\$\{google_artifact_registry_repository\.registry_service-images_repository_[0-9A-F]+\.name\}$/),
      location: "us-central1",
      role: "roles/artifactregistry.reader",
      member: expect.stringMatching(/^serviceAccount:\$\{google_service_account\.cluster_node-sa_[0-9A-F]+\.email\}$/),
    });
    expect(iamGrants(json).filter((g) => g.role === "roles/artifactregistry.reader" && g.type === "google_project_iam_member")).toEqual([]);
  });

  test("given a workloads stack, then kubernetes and helm reach the DNS endpoint with the caller's token and no CA", () => {
    const app = Testing.app();
    const platform = new TerraformStack(app, "platform");
    new GoogleProvider(platform, "google", { project: "acme-clean-room" });
    const network = new CleanRoomNetwork(platform, "network", { room: policy });
    const cluster = new CleanRoomCluster(platform, "cluster", { room: policy, network });
    const workloads = new TerraformStack(app, "workloads");
    new GoogleProvider(workloads, "google", { project: "acme-clean-room" });
    const connection = cluster.kubernetesConnection(workloads);
    new KubernetesProvider(workloads, "kubernetes", connection);
    new HelmProvider(workloads, "helm", { kubernetes: connection });

    // What `cdktf synth` does first: cross-stack references become an output and a remote state.
    platform.prepareStack();
    workloads.prepareStack();
    const json = synthStack(workloads);
    expect(Object.keys(json.data?.google_client_config ?? {})).toEqual(["gke-client-config"]);
    const k8s = json.provider?.kubernetes[0];
    expect(k8s.host).toMatch(/^https:\/\/\$\{data\.terraform_remote_state\.cross-stack-reference-input-platform\.outputs\.[^}]+\}$/);
    const outputs = Object.values(synthStack(platform).output ?? {}).map((o: any) => o.value);
    expect(outputs).toContainEqual(expect.stringMatching(/control_plane_endpoints_config\[0\]\.dns_endpoint_config\[0\]\.endpoint/));
    expect(k8s.token).toBe("${data.google_client_config.gke-client-config.access_token}");
    expect(k8s.cluster_ca_certificate).toBeUndefined();
    expect(json.provider?.helm[0].kubernetes.host).toBe(k8s.host);
  });

  test("given the DNS endpoint off, then the connection uses the private IP endpoint and the cluster CA", () => {
    const json = synthWith((stack) => {
      const network = new CleanRoomNetwork(stack, "network", { room: policy });
      const cluster = new CleanRoomCluster(stack, "cluster", {
        room: policy,
        network,
        controlPlane: { dnsEndpoint: false, authorizedNetworks: [{ cidrBlock: "10.0.0.0/22", displayName: "nodes-subnet bastion" }] },
      });
      new KubernetesProvider(stack, "kubernetes", cluster.kubernetesConnection(stack));
    });
    const [cluster] = resourceConfigs(json, "google_container_cluster");
    expect(cluster.control_plane_endpoints_config.dns_endpoint_config).toEqual({ allow_external_traffic: false });
    const k8s = json.provider?.kubernetes[0];
    expect(k8s.host).toMatch(/^https:\/\/\$\{google_container_cluster\.cluster_[0-9A-F]+\.endpoint\}$/);
    expect(k8s.cluster_ca_certificate).toMatch(/^\$\{base64decode\(google_container_cluster\..*master_auth\[0\]\.cluster_ca_certificate\)\}$/);
  });
});

describe("CleanRoomCluster validation", () => {
  test("given a location outside the residency set, then it names the field and the fix", () => {
    expect(build({ location: "europe-west4-a" })).toThrow(
      'location "europe-west4-a" lies outside the residency set [us-central1]. ' +
        'Choose a location in the residency set, or add its region to "residency" if the data owner allows it.',
    );
  });

  test("given a zone outside the network's region, then it says which locations fit", () => {
    const room = examplePolicy({ residency: ["us-central1", "us-east1"] });
    expect(() =>
      synthWith((stack) => new CleanRoomCluster(stack, "cluster", { room, network: networkRef, location: "us-east1-b" })),
    ).toThrow('location "us-east1-b" is not in the network\'s region "us-central1". Use "us-central1" or one of its zones (e.g. "us-central1-a").');
  });

  test("given confidential nodes on a machine type without that technology, then the supported types are listed", () => {
    expect(build({ cpuPool: { machineType: "e2-standard-4", confidentialNodes: "SEV" } })).toThrow(
      'cpuPool.machineType "e2-standard-4" does not support confidential nodes of type SEV. ' +
        "Use n2d-, c2d- or c3d- types, e.g. n2d-standard-4, or choose another confidentialNodes type.",
    );
    expect(build({ cpuPool: { machineType: "n2d-standard-4", confidentialNodes: "TDX" } })).toThrow(
      'cpuPool.machineType "n2d-standard-4" does not support confidential nodes of type TDX. ' +
        "Use c3-standard-*, c3-highcpu-*, c3-highmem-* or a3-highgpu-1g, or choose another confidentialNodes type.",
    );
  });

  test("given ManaTEE's c3-highmen-8 typo, then the error suggests the real machine type", () => {
    expect(build({ cpuPool: { machineType: "c3-highmen-8" } })).toThrow(
      'cpuPool.machineType "c3-highmen-8" is not a Compute Engine machine type (family-series-vCPUs, e.g. "n2d-standard-4"). ' +
        'Did you mean "c3-highmem-8"?',
    );
  });

  test("given a GPU pool without a GPU count or type, then the missing field is named", () => {
    expect(build({ gpuPool: { machineType: "g2-standard-8", accelerator: { type: "nvidia-l4" } as never } })).toThrow(
      "gpuPool.accelerator.count is missing. Set the number of GPUs per node the machine type carries, e.g. 1.",
    );
    expect(build({ gpuPool: { machineType: "g2-standard-8", accelerator: { count: 1 } as never } })).toThrow(
      'gpuPool.accelerator.type is missing. Set the GPU type, e.g. "nvidia-l4" or "nvidia-h100-80gb".',
    );
    expect(build({ gpuPool: { machineType: "g2-standard-8", accelerator: { type: "nvidia-l4", count: 0 } } })).toThrow(
      "gpuPool.accelerator.count 0 is not a positive whole number. Use 1 or more.",
    );
  });

  test("given autoscaling bounds the wrong way round, then both fields are named", () => {
    expect(build({ cpuPool: { minNodes: 4, maxNodes: 2 } })).toThrow(
      "cpuPool.minNodes (4) is greater than cpuPool.maxNodes (2). Lower minNodes or raise maxNodes.",
    );
  });

  test("given control-plane access that is open, unusable or absent, then each is refused", () => {
    expect(build({ controlPlane: { publicEndpoint: true, authorizedNetworks: [{ cidrBlock: "0.0.0.0/0", displayName: "any" }] } })).toThrow(
      'controlPlane.authorizedNetworks[0].cidrBlock "0.0.0.0/0" opens the control plane to a large part of the internet. ' +
        "Allow only your operators' networks (prefix /8 or longer), or use the DNS endpoint, which IAM guards.",
    );
    expect(build({ controlPlane: { publicEndpoint: true } })).toThrow(
      "controlPlane.publicEndpoint is true but controlPlane.authorizedNetworks names no public range, so nobody could use it. " +
        "Add your operators' public CIDR blocks, or keep publicEndpoint false and use the DNS endpoint.",
    );
    expect(build({ controlPlane: { authorizedNetworks: [{ cidrBlock: "203.0.113.0/24", displayName: "office" }] } })).toThrow(
      'controlPlane.authorizedNetworks names the public range "203.0.113.0/24" but publicEndpoint is false, so it could never be used. ' +
        "Remove it and use the DNS endpoint, or set publicEndpoint true if operators must reach the public IP.",
    );
    expect(build({ controlPlane: { dnsEndpoint: false } })).toThrow(
      "controlPlane allows no operator access: dnsEndpoint and publicEndpoint are false and authorizedNetworks is empty. " +
        "Keep dnsEndpoint true (IAM-gated), or list the internal ranges (VPN, bastion) that may reach the private endpoint.",
    );
  });
});
