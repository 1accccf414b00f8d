/**
 * Artifact Registry repositories of the clean room, and the images the deploy builds itself.
 *
 * Three repositories, all in the room's region (never a multi-region: the residency set is a
 * list of regions):
 * - service images: the job service and the JupyterLab single-user image, pulled by GKE nodes;
 * - executor bases: the image every job is built FROM (a job image is one of these plus one
 *   workspace layer), read by the job builder only;
 * - user images: one image per job, written by the job builder, pulled by the TEE.
 *
 * Nothing is built or pushed by hand: `ContainerImageBuild` builds an image with Cloud Build
 * from a directory shipped in this package (a cdktf `TerraformAsset`) during `terraform apply`,
 * as the room's deploy builder service account, and tags it with the content hash of that
 * directory. Repositories holding deploy-built images have immutable tags, so a tag names
 * exactly one image: the Kubernetes objects can name images by tag, known at synth time.
 *
 * This file is the barrel: the code lives in lib/constructs/platform/registry/ (repository, image-registry,
 * deploy-image-builder, container-image-build), one concept per file, and the public exports
 * stay exactly those listed here.
 */
export { DockerRepository, REGISTRY_ROLES } from "./repository";
export type { RepositoryOptions } from "./repository";
export { ImageRegistry } from "./image-registry";
export type { ImageRegistryProps, UserImagesOptions, VersionedImagesOptions } from "./image-registry";
export { DeployImageBuilder } from "./deploy-image-builder";
export type { DeployImageBuilderProps } from "./deploy-image-builder";
export { ContainerImageBuild, DEPLOY_IMAGE_NAMES } from "./container-image-build";
export type { ContainerImageBuildProps } from "./container-image-build";
