/**
 * The clean room's Kubernetes side: the ManaTEE job service and JupyterHub, in the
 * workloads stack. Everything it needs from Google comes from a `CleanRoom` (cdktf turns
 * those references into cross-stack outputs and remote state).
 */
import { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { CleanRoom } from "./clean-room";
import { JobService, JobServiceProps } from "./job-service";
import { JupyterHub, JupyterHubProps } from "./jupyterhub";

export interface CleanRoomWorkloadsProps {
  /** The platform half (usually in another stack). */
  readonly room: CleanRoom;
  /** Sign-in, users and exposure of the hub. A real authenticator is required. */
  readonly jupyterhub: Omit<
    JupyterHubProps,
    "roomName" | "project" | "namespace" | "serviceImagesRegistry" | "jobServiceNamespace" | "provider" | "dependsOn"
  >;
  /** @default JobService defaults (images `<service registry>/manatee-*:latest`) */
  readonly jobService?: Partial<
    Omit<JobServiceProps, "roomName" | "project" | "region" | "zone" | "namespace" | "database" | "serviceAccounts" | "provider" | "policy">
  >;
  /** @default the stack's default Kubernetes provider */
  readonly kubernetesProvider?: TerraformProvider;
  /** @default the stack's default Helm provider */
  readonly helmProvider?: TerraformProvider;
}

/** ManaTEE's API and reconciler plus JupyterHub, wired to a `CleanRoom`. */
export class CleanRoomWorkloads extends Construct {
  public readonly jobService: JobService;
  public readonly jupyterHub: JupyterHub;

  constructor(scope: Construct, id: string, props: CleanRoomWorkloadsProps) {
    super(scope, id);
    const { room } = props;
    const policy = room.policy;
    const registry = room.registry.serviceImages.url;

    this.jobService = new JobService(this, "job-service", {
      roomName: policy.name,
      project: policy.project,
      region: policy.region,
      zone: policy.zone,
      namespace: room.namespace,
      policy,
      debug: props.jobService?.debug ?? false,
      ...props.jobService,
      images: { registry, ...props.jobService?.images },
      database: {
        connectionName: room.database.connectionName,
        databaseName: room.database.databaseName,
        iamUser: room.database.databaseUserName,
      },
      serviceAccounts: {
        jobService: room.identity.jobServiceAccountEmail,
        jupyter: room.identity.jupyterServiceAccountEmail,
      },
      provider: props.kubernetesProvider,
    });

    this.jupyterHub = new JupyterHub(this, "jupyterhub", {
      ...props.jupyterhub,
      roomName: policy.name,
      project: policy.project,
      namespace: room.namespace,
      // The namespace (with its Pod Security labels) belongs to the job service.
      createNamespace: false,
      serviceImagesRegistry: registry,
      jobServiceNamespace: room.namespace,
      dependsOn: this.jobService.namespaceResource ? [this.jobService.namespaceResource, this.jobService.jupyterKsa] : [],
      provider: props.helmProvider,
    });
  }
}
