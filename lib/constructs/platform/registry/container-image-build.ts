/**
 * Images built by the deploy: `ContainerImageBuild` builds an image with Cloud Build during
 * `terraform apply`, from a directory shipped in this package, tagged with its content hash;
 * `DEPLOY_IMAGE_NAMES` names the images the deploy builds.
 *
 * Why its own file: the build command, its idempotence and the digest lookup are one mechanism,
 * separate from the repositories it pushes to and the identity it runs as.
 */
import { AssetType, DataResource, Fn, ITerraformDependable, TerraformAsset, TerraformProvider } from "cdktf";
import * as fs from "node:fs";
import * as path from "node:path";
import { Construct } from "constructs";
import { DataGoogleArtifactRegistryDockerImage } from "@cdktf/provider-google/lib/data-google-artifact-registry-docker-image";
import { EXECUTOR_BASE_IMAGE } from "../../../policy/names";
import { directoryHash } from "../../verifier/bundle";
import { DeployImageBuilder } from "./deploy-image-builder";
import { DockerRepository } from "./repository";
import { InvalidPropsError } from "../../../errors";

/** Package names of the images the deploy builds (in `serviceImages` unless noted). */
export const DEPLOY_IMAGE_NAMES = {
  jobService: "job-service",
  jupyterlab: "jupyterlab-singleuser",
  /** In `executorBases` (job builds read only that repository), as are the build steps. */
  executorBase: EXECUTOR_BASE_IMAGE,
  buildStepGcloud: "build-step-gcloud",
  buildStepGcrane: "build-step-gcrane",
} as const;

export interface ContainerImageBuildProps {
  /**
   * Directory holding the build context: a `Dockerfile` at its root and everything it copies.
   * Shipped in this package; copied into the stack as a `TerraformAsset`.
   */
  readonly sourceDir: string;
  /** Repository the image is pushed to; it should have immutable tags. */
  readonly repository: DockerRepository;
  /** Package name inside the repository, e.g. `job-service`. */
  readonly imageName: string;
  /** Who runs the build and where its source and logs go. */
  readonly builder: DeployImageBuilder;
  /** Cloud Build timeout in seconds. @default 1800 */
  readonly timeoutSeconds?: number;
  /**
   * Cloud Build machine type (`e2-highcpu-8`, …), for heavy builds.
   * @default - Cloud Build's default machine
   */
  readonly machineType?: string;
  /** Resources the build must wait for (the repository grants, the APIs). @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** Provider of the digest lookup (`resolveDigest`). @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * Builds a container image with Cloud Build during `terraform apply`, from a directory shipped
 * in this package: a `terraform_data` resource whose `local-exec` provisioner runs
 * `gcloud builds submit <dir> --tag <repo>/<name>:<content hash>` as the deploy builder, in the
 * room's region. `triggers_replace` is the content hash, so the build runs again exactly when
 * the directory changes; the tag is that hash, and the repository's tags are immutable, so the
 * tag names exactly one image. The command first looks the tag up and skips the build when the
 * image already exists (a state lost or a second room in the project), so it is idempotent.
 *
 * Needs `gcloud` on the deploying machine, authenticated as an identity that may act as the
 * deploy builder and read its bucket (a project owner can).
 */
export class ContainerImageBuild extends Construct {
  /** `<repo>/<name>:<hash>`, known at synth time. */
  public readonly imageReference: string;
  /** Hex SHA-256 of the build context (sorted paths and contents): the tag. */
  public readonly sourceHash: string;
  public readonly tag: string;
  public readonly asset: TerraformAsset;
  /** The `terraform_data` resource that runs the build; depend on it to wait for the image. */
  public readonly build: DataResource;
  private readonly props: ContainerImageBuildProps;
  private digestSource?: DataGoogleArtifactRegistryDockerImage;

  constructor(scope: Construct, id: string, props: ContainerImageBuildProps) {
    super(scope, id);
    this.props = props;
    const sourceDir = path.resolve(props.sourceDir);
    if (!fs.existsSync(path.join(sourceDir, "Dockerfile"))) {
      throw new InvalidPropsError(
        `ContainerImageBuild "sourceDir" "${sourceDir}" has no Dockerfile at its root. Point it at a build context ` +
          `(for the job service: run \`node job-service/scripts/build.js\` first; npm run synth does this).`,
      );
    }
    if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(props.imageName)) {
      throw new InvalidPropsError(`ContainerImageBuild "imageName" "${props.imageName}" is not an image name. Use lowercase letters, digits, '.', '_' and '-'.`);
    }
    const timeout = props.timeoutSeconds ?? 1800;
    if (!Number.isInteger(timeout) || timeout < 60 || timeout > 86_400) {
      throw new InvalidPropsError(`ContainerImageBuild "timeoutSeconds" ${timeout} is out of range. Use 60 to 86400 seconds.`);
    }
    if (props.machineType !== undefined && !/^[a-z0-9]+(?:-[a-z0-9]+)+$/.test(props.machineType)) {
      throw new InvalidPropsError(`ContainerImageBuild "machineType" "${props.machineType}" is not a machine type such as "e2-highcpu-8".`);
    }

    this.sourceHash = directoryHash(sourceDir);
    this.tag = this.sourceHash.slice(0, 32);
    this.imageReference = `${props.repository.url}/${props.imageName}:${this.tag}`;
    // The hash names the asset's folder too, so the synthesized path is the same on every machine.
    this.asset = new TerraformAsset(this, "context", { path: sourceDir, type: AssetType.DIRECTORY, assetHash: this.sourceHash });

    const builder = props.builder;
    const env: Record<string, string> = {
      IMAGE: this.imageReference,
      SOURCE: this.asset.path,
      PROJECT: builder.project,
      REGION: builder.region,
      BUILDER: `projects/${builder.project}/serviceAccounts/${builder.serviceAccountEmail}`,
      STAGING: `gs://${builder.bucketName}/sources`,
      LOGS: `gs://${builder.bucketName}/logs`,
      TIMEOUT: `${timeout}s`,
    };
    const machine = props.machineType ? ' --machine-type "$MACHINE_TYPE"' : "";
    if (props.machineType) env.MACHINE_TYPE = props.machineType;
    this.build = new DataResource(this, "build", {
      // Rebuild exactly when the context (hence the tag) changes.
      triggersReplace: { image: this.imageReference },
      input: { image: this.imageReference },
      provisioners: [
        {
          type: "local-exec",
          interpreter: ["/bin/sh", "-c"],
          // Values come from the environment, quoted: nothing in them is parsed by the shell.
          command:
            'gcloud artifacts docker images describe "$IMAGE" --project "$PROJECT" --quiet >/dev/null 2>&1 || ' +
            'gcloud builds submit "$SOURCE" --tag "$IMAGE" --project "$PROJECT" --region "$REGION" ' +
            '--service-account "$BUILDER" --gcs-source-staging-dir "$STAGING" --gcs-log-dir "$LOGS" ' +
            `--timeout "$TIMEOUT"${machine} --quiet`,
          environment: env,
        },
      ],
      // The builder, its bucket and grants come from the platform stack, which deploys first.
      dependsOn: props.dependsOn,
    });
  }

  /**
   * The image's digest (`sha256:…`), read from Artifact Registry after the build (a data source
   * that waits for it): for configuration that must pin a digest, such as approved executor bases.
   */
  public get digest(): string {
    return Fn.element(Fn.split("@", this.resolveDigest().selfLink), 1);
  }

  /** `<repo>/<name>@sha256:…` */
  public get pinnedReference(): string {
    return `${this.props.repository.url}/${this.props.imageName}@${this.digest}`;
  }

  private resolveDigest(): DataGoogleArtifactRegistryDockerImage {
    this.digestSource ??= new DataGoogleArtifactRegistryDockerImage(this, "image", {
      project: this.props.repository.project,
      location: this.props.repository.location,
      repositoryId: this.props.repository.repositoryId,
      imageName: `${this.props.imageName}:${this.tag}`,
      // Read after the build, not at plan time (the tag does not exist before it).
      dependsOn: [this.build],
      provider: this.props.provider,
    });
    return this.digestSource;
  }
}
