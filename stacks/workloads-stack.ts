/**
 * `<room>-workloads`: the images the deploy builds, the job service and JupyterHub. The kubernetes and helm providers are
 * configured from the platform stack's cluster through cross-stack references (no kubeconfig).
 */
import { TerraformStack } from "cdktf";
import { FastResolveStack } from "../lib/constructs/fast-resolve-stack";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { HelmProvider } from "@cdktf/provider-helm/lib/provider";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import { Construct } from "constructs";
import { configureStateBackend } from "./backend";
import { CleanRoom } from "../lib/constructs/clean-room";
import { CleanRoomWorkloads, CleanRoomWorkloadsProps } from "../lib/constructs/clean-room-workloads";

export interface CleanRoomWorkloadsStackProps extends Omit<CleanRoomWorkloadsProps, "kubernetesProvider" | "helmProvider"> {
  readonly room: CleanRoom;
}

export class CleanRoomWorkloadsStack extends FastResolveStack {
  public readonly workloads: CleanRoomWorkloads;

  constructor(scope: Construct, id: string, props: CleanRoomWorkloadsStackProps) {
    super(scope, id);
    const policy = props.room.policy;
    // Only for the access token of the deploying identity (google_client_config).
    new GoogleProvider(this, "google", { project: policy.project, region: policy.region });
    configureStateBackend(this, policy, "workloads");
    const connection = props.room.cluster.kubernetesConnection(this);
    new KubernetesProvider(this, "kubernetes", connection);
    new HelmProvider(this, "helm", { kubernetes: connection });
    this.workloads = new CleanRoomWorkloads(this, "workloads", props);
    // Image builds need the repositories and the deploy builder; Kubernetes objects need the cluster, its
    // Workload Identity bindings, the job-state database and every grant of the job path.
    this.addDependency(TerraformStack.of(props.room));
  }
}
