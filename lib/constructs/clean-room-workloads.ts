/**
 * The clean room's Kubernetes side, in the workloads stack: the images the deploy builds itself
 * (job service, JupyterLab, executor base), the room's job service and JupyterHub. Everything it
 * needs from Google comes from a `CleanRoom` (cdktf turns those references into cross-stack
 * outputs and remote state).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Fn, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { CleanRoom } from "./clean-room";
import { CLEAN_ROOM_WORKLOADS_OUTPUT_NAMES, CleanRoomWorkloadsOutputs, declareTerraformOutputs, outputEntries } from "./outputs";
import { JobService, JobServiceProps, jobServiceConfigFor } from "./workloads/job-service";
import { JupyterHub, JupyterHubProps } from "./workloads/jupyterhub";
import { resourceName } from "../policy/names";
import { ContainerImageBuild, DEPLOY_IMAGE_NAMES } from "./platform/registry";
import { readTree } from "../internal/zip";
import { RUNNER_PATH, RUNNER_SOURCE } from "../../job-service/src/executor-base";
import { datasetAudiences } from "../../job-service/src/config";
import { isConsortium } from "../policy/consortium";
import { datasetAccessPaths } from "../policy/job-service-config";
import { CleanRoomPolicy } from "../policy/model";
import { ExternalError, InvalidPropsError } from "../errors";

/** The runner's file in the executor base's build context (the Dockerfile copies it to RUNNER_PATH). */
const RUNNER_FILE = "run.py";

/** Build contexts of the deploy-built images; each holds a `Dockerfile` at its root. */
export interface CleanRoomImageSources {
  /** The job service bundle (job-service/scripts/build.js writes it). @default the package's `job-service/build` */
  readonly jobService?: string;
  /** The executor base every job is built from. @default the package's `job-service/executor` */
  readonly executorBase?: string;
  /** The JupyterLab single-user image with ManaTEE's extension. @default the package's `job-service/jupyterlab` */
  readonly jupyterlab?: string;
  /** Job build step: gcloud. @default the package's `job-service/build-steps/gcloud` */
  readonly buildStepGcloud?: string;
  /** Job build step: gcrane. @default the package's `job-service/build-steps/gcrane` */
  readonly buildStepGcrane?: string;
}

/** The buckets of the output release (TEE writes quarantine; the verifier copies to release). */
export interface ReleaseBuckets {
  readonly quarantineBucket: string;
  readonly releaseBucket: string;
}

export interface CleanRoomWorkloadsProps {
  /** The platform half (usually in another stack). */
  readonly room: CleanRoom;
  /** Sign-in, users and exposure of the hub. A real authenticator is required. */
  readonly jupyterhub: Omit<
    JupyterHubProps,
    | "roomName"
    | "project"
    | "namespace"
    | "serviceImagesRegistry"
    | "singleUserImage"
    | "imageTag"
    | "jobServiceNamespace"
    | "provider"
    | "dependsOn"
    | "waitForClientSecret"
  >;
  /**
   * Make the JupyterHub release wait until the out-of-band OAuth client Secret exists (metadata-only
   * check from the deploying machine: `curl` and `gcloud` with ADC), so the Secret can be created
   * while the first apply runs. `false`: the Secret must exist before the apply.
   * @default true (for OAuth authenticators)
   */
  readonly waitForClientSecret?: boolean;
  /** Sizing and access of the job service. @default JobService defaults */
  readonly jobService?: Pick<JobServiceProps, "resources" | "tmpSize" | "apiAccess" | "hubApiUrl">;
  /** Where the deploy-built images are built from. @default the directories shipped in this package */
  readonly imageSources?: CleanRoomImageSources;
  /**
   * The output release buckets the job service and verifier use.
   * @default `<project>-<room>-quarantine` and `<project>-<room>-release`
   */
  readonly releaseBuckets?: ReleaseBuckets;
  /** Declare Terraform outputs (deploy-built images, executor base digest). @default true */
  readonly outputs?: boolean;
  /** @default the stack's default Google provider (image digest lookups) */
  readonly googleProvider?: TerraformProvider;
  /** @default the stack's default Kubernetes provider */
  readonly kubernetesProvider?: TerraformProvider;
  /** @default the stack's default Helm provider */
  readonly helmProvider?: TerraformProvider;
}

/** The package root (from lib/ or dist/lib/): where job-service/ is shipped. */
function packageDir(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "job-service"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(__dirname, "..");
    dir = parent;
  }
}

/** Command that assembles the job service bundle (job-service/scripts/build.js). */
export const JOB_SERVICE_BUILD_COMMAND = "node job-service/scripts/build.js";

export function defaultImageSources(): Required<CleanRoomImageSources> {
  const root = packageDir();
  return {
    jobService: path.join(root, "job-service", "build"),
    executorBase: path.join(root, "job-service", "executor"),
    jupyterlab: path.join(root, "job-service", "jupyterlab"),
    buildStepGcloud: path.join(root, "job-service", "build-steps", "gcloud"),
    buildStepGcrane: path.join(root, "job-service", "build-steps", "gcrane"),
  };
}

/** Each party dataset's STS audiences, as the job service's config lists them (datasetAudiences). */
function partyDatasetAudiences(policy: CleanRoomPolicy): Record<string, string[]> {
  return datasetAudiences({ datasets: policy.datasets.map((d) => ({ name: d.name, access: datasetAccessPaths(policy, d) })) });
}

/**
 * The room settings the executor's runner reads from its image's environment (job-service/src/
 * executor-base.ts): set once per room when the base is built, never per job — the attestation
 * condition refuses launch-time env overrides, and the VM's metadata is not attested.
 */
export interface ExecutorRoomSettings {
  readonly MANATEE_QUARANTINE_BUCKET: string;
  readonly MANATEE_VERIFIER_URL: string;
  readonly MANATEE_RELEASE_AUDIENCE: string;
  readonly MANATEE_INSTANCE_PREFIX: string;
  /** Consortium rooms: dataset → the STS audiences of its party's pools (one exchange per party). @default - none */
  readonly MANATEE_DATASET_AUDIENCES?: string;
}

/**
 * The executor base's build context for one room: the shipped directory with the room's settings
 * appended to its Dockerfile as ENV lines. Deterministic: same inputs, same directory and bytes
 * (and so the same content-hash tag).
 */
export function executorBuildContext(sourceDir: string, settings: ExecutorRoomSettings): string {
  const files = readTree(sourceDir);
  const dockerfile = files.find((f) => f.path === "Dockerfile");
  if (!dockerfile) {
    throw new InvalidPropsError(`CleanRoomWorkloads "imageSources.executorBase" "${sourceDir}" has no Dockerfile at its root.`);
  }
  const env = Object.entries(settings).map(([k, v]) => {
    if (Token.isUnresolved(v) || !/^[\x21-\x7e]+$/.test(v)) {
      throw new InvalidPropsError(`executor setting ${k} "${v}" must be a literal without spaces: it is baked into the executor base's image.`);
    }
    return `ENV ${k}=${JSON.stringify(v)}`;
  });
  // The runner is always the job service's own (RUNNER_SOURCE), whatever copy the directory holds.
  const staged = [...files.filter((f) => f.path !== RUNNER_FILE), { path: RUNNER_FILE, content: Buffer.from(RUNNER_SOURCE, "utf8") }]
    .map((f) =>
      f.path === "Dockerfile"
        ? {
            path: f.path,
            content: Buffer.concat([f.content, Buffer.from(`\n# Added by the deploy: the room's settings (read by ${RUNNER_PATH}).\n${env.join("\n")}\n`)]),
          }
        : f,
    )
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const hash = createHash("sha256");
  for (const f of staged) hash.update(`${f.path}\0${f.content.length}\0`).update(f.content);
  const dir = path.join(os.tmpdir(), "manatee-cdktf", `executor-${hash.digest("hex").slice(0, 32)}`);
  if (!fs.existsSync(path.join(dir, "Dockerfile"))) {
    const partial = `${dir}.${process.pid}.partial`;
    fs.rmSync(partial, { recursive: true, force: true });
    for (const f of staged) {
      fs.mkdirSync(path.dirname(path.join(partial, f.path)), { recursive: true });
      fs.writeFileSync(path.join(partial, f.path), f.content, { mode: 0o644 });
    }
    try {
      fs.renameSync(partial, dir);
    } catch (err) {
      // Another process staged the same context first: same bytes.
      fs.rmSync(partial, { recursive: true, force: true });
      if (!fs.existsSync(path.join(dir, "Dockerfile"))) {
        throw new ExternalError(`cannot stage the executor build context in ${dir}: ${(err as Error).message}`, {
          cause: err,
          fix: "Check that the temporary directory is writable.",
        });
      }
    }
  }
  return dir;
}

/** The room's job service and JupyterHub, wired to a `CleanRoom`, on images the deploy builds. */
export class CleanRoomWorkloads extends Construct {
  public readonly images: {
    readonly jobService: ContainerImageBuild;
    readonly executorBase: ContainerImageBuild;
    readonly jupyterlab: ContainerImageBuild;
    /** The job builds' step images, mirrored into the room (executor-bases) and run by digest. */
    readonly buildStepGcloud: ContainerImageBuild;
    readonly buildStepGcrane: ContainerImageBuild;
  };
  public readonly jobService: JobService;
  public readonly jupyterHub: JupyterHub;
  /**
   * What the workloads stack's Terraform outputs hold (`job_service_image`, `jupyterlab_image`,
   * `executor_base_digest`), as typed values (references until applied). Set with or without `props.outputs`.
   */
  public readonly outputs: CleanRoomWorkloadsOutputs;

  constructor(scope: Construct, id: string, props: CleanRoomWorkloadsProps) {
    super(scope, id);
    const { room } = props;
    const policy = room.policy;
    const sources = { ...defaultImageSources(), ...props.imageSources };
    if (!fs.existsSync(path.join(sources.jobService, "Dockerfile"))) {
      throw new InvalidPropsError(
        `CleanRoomWorkloads "imageSources.jobService" "${sources.jobService}" holds no job service bundle (no Dockerfile). ` +
          `Build it first: run \`${JOB_SERVICE_BUILD_COMMAND}\` (npm run synth does this).`,
      );
    }
    if (!room.verifier) {
      throw new InvalidPropsError(
        `CleanRoomWorkloads: the room has no attestation verifier (verifier: false), but the job service releases ` +
          `outputs through it. Deploy the room with its verifier.`,
      );
    }

    const release = props.releaseBuckets ?? {
      quarantineBucket: resourceName("bucket", policy.project, policy.name, "quarantine"),
      releaseBucket: resourceName("bucket", policy.project, policy.name, "release"),
    };
    const functionName = room.verifier.function.nameInput;
    if (functionName === undefined || Token.isUnresolved(functionName)) {
      throw new InvalidPropsError(`CleanRoomWorkloads: the verifier function's name must be a literal; the executor base carries its URL.`);
    }
    const executorSettings: ExecutorRoomSettings = {
      MANATEE_QUARANTINE_BUCKET: release.quarantineBucket,
      // A gen2 function also answers on its cloudfunctions.net URL, known before it is deployed.
      MANATEE_VERIFIER_URL: `https://${room.verifier.location}-${policy.project}.cloudfunctions.net/${functionName}`,
      MANATEE_RELEASE_AUDIENCE: policy.verifier.audience,
      MANATEE_INSTANCE_PREFIX: room.identity.instancePrefix,
      ...(isConsortium(policy) ? { MANATEE_DATASET_AUDIENCES: JSON.stringify(partyDatasetAudiences(policy)) } : {}),
    };

    const registry = room.registry;
    const builder = room.deployBuilder;
    const build = (buildId: string, sourceDir: string, repository: typeof registry.serviceImages, imageName: string, extra: { timeoutSeconds?: number; machineType?: string } = {}) =>
      new ContainerImageBuild(this, buildId, { sourceDir, repository, imageName, builder, provider: props.googleProvider, ...extra });
    this.images = {
      jobService: build("job-service-image", sources.jobService, registry.serviceImages, DEPLOY_IMAGE_NAMES.jobService),
      executorBase: build(
        "executor-base-image",
        executorBuildContext(sources.executorBase, executorSettings),
        registry.executorBases,
        DEPLOY_IMAGE_NAMES.executorBase,
      ),
      // The wheel build runs jlpm (yarn) and a TypeScript build: a bigger machine and more time.
      jupyterlab: build("jupyterlab-image", sources.jupyterlab, registry.serviceImages, DEPLOY_IMAGE_NAMES.jupyterlab, {
        timeoutSeconds: 3600,
        machineType: "e2-highcpu-8",
      }),
      buildStepGcloud: build("build-step-gcloud-image", sources.buildStepGcloud, registry.executorBases, DEPLOY_IMAGE_NAMES.buildStepGcloud),
      buildStepGcrane: build("build-step-gcrane-image", sources.buildStepGcrane, registry.executorBases, DEPLOY_IMAGE_NAMES.buildStepGcrane),
    };

    const workload = room.dataPlane.workload;
    const config = jobServiceConfigFor(policy, {
      // The job service launches only from this template (its self link changes with every new template).
      instanceTemplate: workload.instanceTemplateId,
      templateNamePrefix: workload.templateNamePrefix,
      ...(workload.gpuTemplate ? { gpuInstanceTemplate: workload.gpuTemplate.instanceTemplateId } : {}),
      instancePrefix: room.identity.instancePrefix,
      userImagesRepository: registry.userImages.url,
      verifierUrl: room.verifier.url,
      executorBase: this.images.executorBase.pinnedReference,
      ...release,
    });

    this.jobService = new JobService(this, "job-service", {
      ...props.jobService,
      room: policy,
      namespace: room.namespace,
      image: this.images.jobService.imageReference,
      config,
      buildStepImages: { gcloud: this.images.buildStepGcloud.pinnedReference, crane: this.images.buildStepGcrane.pinnedReference },
      google: {
        firestoreDatabase: room.database.databaseId,
        workspaceBucket: room.hubBucket.bucketName,
        builderServiceAccount: room.identity.builderServiceAccountEmail,
        buildLogsBucket: room.identity.buildLogsBucket.bucketName,
      },
      serviceAccounts: {
        jobService: room.identity.jobServiceAccountEmail,
        jupyter: room.identity.jupyterServiceAccountEmail,
      },
      // Pods start only once their images exist.
      dependsOn: [this.images.jobService.build, this.images.buildStepGcloud.build, this.images.buildStepGcrane.build],
      provider: props.kubernetesProvider,
    });

    this.jupyterHub = new JupyterHub(this, "jupyterhub", {
      ...props.jupyterhub,
      room: policy,
      namespace: room.namespace,
      // The namespace (with its Pod Security labels) belongs to the job service.
      createNamespace: false,
      singleUserImage: this.images.jupyterlab.imageReference,
      jobServiceNamespace: room.namespace,
      ...(props.waitForClientSecret ?? true
        ? {
            waitForClientSecret: {
              // The endpoint the kubernetes and helm providers use (CleanRoomCluster.kubernetesConnection).
              apiServer: `https://${room.cluster.dnsEndpoint ?? room.cluster.endpoint}`,
              clusterCaCertificate: room.cluster.dnsEndpoint === undefined ? Fn.base64decode(room.cluster.clusterCaCertificate) : undefined,
              dependsOn: this.jobService.namespaceResource ? [this.jobService.namespaceResource] : undefined,
            },
          }
        : {}),
      dependsOn: [
        ...(this.jobService.namespaceResource ? [this.jobService.namespaceResource] : []),
        this.jobService.jupyterKsa,
        this.images.jupyterlab.build,
      ],
      provider: props.helmProvider,
    });

    this.outputs = {
      jobServiceImage: this.images.jobService.imageReference,
      jupyterlabImage: this.images.jupyterlab.imageReference,
      executorBaseDigest: this.images.executorBase.digest,
    };
    if (props.outputs ?? true) declareTerraformOutputs(this, outputEntries(this.outputs, CLEAN_ROOM_WORKLOADS_OUTPUT_NAMES));
  }
}
