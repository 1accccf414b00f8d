/** MCR-LOC1 (residency), MCR-GKE1 and MCR-GKE2 (cluster), MCR-SQL1 (database) on raw provider resources. */
import { TerraformStack } from "cdktf";
import { ComputeInstance } from "@cdktf/provider-google/lib/compute-instance";
import { ContainerCluster, ContainerClusterConfig } from "@cdktf/provider-google/lib/container-cluster";
import { ContainerNodePool } from "@cdktf/provider-google/lib/container-node-pool";
import { KmsKeyRing } from "@cdktf/provider-google/lib/kms-key-ring";
import { SqlDatabaseInstance } from "@cdktf/provider-google/lib/sql-database-instance";
import { StorageBucket } from "@cdktf/provider-google/lib/storage-bucket";
import { examplePolicy } from "../util";
import { check, errors, of } from "./harness";

describe("MCR-LOC1 residency", () => {
  const places = (bucketLocation: string, ringLocation: string, zone: string, sqlRegion: string) => (s: TerraformStack) => {
    new StorageBucket(s, "bucket", { name: "b", location: bucketLocation, uniformBucketLevelAccess: true, publicAccessPrevention: "enforced" });
    new KmsKeyRing(s, "ring", { name: "r", location: ringLocation });
    new ComputeInstance(s, "vm", { name: "vm", zone, machineType: "e2-small", bootDisk: { initializeParams: { image: "debian-cloud/debian-12" } }, networkInterface: [{ network: "default" }] });
    new SqlDatabaseInstance(s, "sql", { databaseVersion: "MYSQL_8_0", region: sqlRegion, settings: { tier: "db-f1-micro", ipConfiguration: { ipv4Enabled: false } } });
  };

  test("given every location in the residency set (upper-case bucket region included), then no finding", () => {
    const { findings } = check(places("US-CENTRAL1", "us-central1", "us-central1-a", "us-central1"), { policy: examplePolicy() });
    expect(of(findings, "MCR-LOC1")).toEqual([]);
  });

  test("given a multi-region bucket, a global key ring, a European VM and SQL region, then one error each", () => {
    const { findings } = check(places("US", "global", "europe-west4-a", "europe-west4"), { residency: ["us-central1"] });
    expect(of(findings, "MCR-LOC1").map((f) => `${f.address}: ${f.message.split(" lies")[0]}`)).toEqual([
      'google_storage_bucket.bucket: location "US"',
      'google_kms_key_ring.ring: location "global"',
      'google_compute_instance.vm: zone "europe-west4-a"',
      'google_sql_database_instance.sql: region "europe-west4"',
    ]);
    expect(of(findings, "MCR-LOC1")[0].message).toContain("(a multi-region spans regions outside it)");
  });

  test("given no residency (no policy, no option), then residency is not checked", () => {
    expect(of(check(places("US", "global", "europe-west4-a", "europe-west4")).findings, "MCR-LOC1")).toEqual([]);
  });

  test("given a GKE node location outside the set, then an error", () => {
    const { findings } = check((s) => {
      new ContainerCluster(s, "gke", { name: "c", location: "us-central1", nodeLocations: ["us-central1-a", "us-east1-b"], workloadIdentityConfig: { workloadPool: "acme-clean-room.svc.id.goog" }, privateClusterConfig: { enablePrivateNodes: true } });
    }, { residency: ["us-central1"] });
    expect(of(findings, "MCR-LOC1").map((f) => f.message.split(" lies")[0])).toEqual(['node_locations "us-east1-b"']);
  });
});

const SAFE_CLUSTER: ContainerClusterConfig = {
  name: "room",
  location: "us-central1",
  workloadIdentityConfig: { workloadPool: "acme-clean-room.svc.id.goog" },
  privateClusterConfig: { enablePrivateNodes: true, masterIpv4CidrBlock: "172.16.0.0/28" },
};

describe("MCR-GKE1 (Workload Identity) and MCR-GKE2 (private nodes)", () => {
  test("given Workload Identity and private nodes, then no finding", () => {
    expect(errors(check((s) => new ContainerCluster(s, "gke", SAFE_CLUSTER)).findings)).toEqual([]);
  });

  test("given a bare cluster, then both missing settings are errors", () => {
    const { findings } = check((s) => new ContainerCluster(s, "gke", { name: "room", location: "us-central1" }));
    expect(of(findings, "MCR-GKE1").map((f) => f.message.split(":")[0])).toEqual(["Workload Identity is off"]);
    expect(of(findings, "MCR-GKE2").map((f) => f.message.split(":")[0])).toEqual(["Nodes are not private"]);
  });

  test("given private nodes switched off by an escape hatch, then an MCR-GKE2 error only", () => {
    const { findings } = check((s) => new ContainerCluster(s, "gke", SAFE_CLUSTER).addOverride("private_cluster_config.enable_private_nodes", false));
    expect(errors(findings).map((f) => f.ruleId)).toEqual(["MCR-GKE2"]);
  });

  test("given a node pool that opts out of private nodes, then an error on the pool", () => {
    const { findings } = check((s) => {
      const c = new ContainerCluster(s, "gke", SAFE_CLUSTER);
      new ContainerNodePool(s, "gpu", { cluster: c.id, location: "us-central1", networkConfig: { enablePrivateNodes: false } });
    });
    expect(of(findings, "MCR-GKE2").map((f) => f.address)).toEqual(["google_container_node_pool.gpu"]);
  });
});

describe("MCR-SQL1 database", () => {
  const sql = (ipConfiguration?: { ipv4Enabled?: boolean; privateNetwork?: string }) => (s: TerraformStack) => {
    new SqlDatabaseInstance(s, "sql", { databaseVersion: "MYSQL_8_0", region: "us-central1", settings: { tier: "db-f1-micro", ipConfiguration } });
  };

  test("given ipv4_enabled = false, then no finding", () => {
    expect(of(check(sql({ ipv4Enabled: false, privateNetwork: "projects/p/global/networks/n" })).findings, "MCR-SQL1")).toEqual([]);
  });

  test("given ip_configuration left out, then the public-IP default is an error", () => {
    expect(of(check(sql()).findings, "MCR-SQL1")[0].message).toContain("is not set, which defaults to true");
  });

  test("given ipv4_enabled = true, then an error", () => {
    expect(of(check(sql({ ipv4Enabled: true })).findings, "MCR-SQL1")).toHaveLength(1);
  });
});
