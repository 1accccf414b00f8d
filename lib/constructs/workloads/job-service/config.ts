/**
 * The job service's configuration: `jobServiceConfigFor` wraps the policy compiler
 * (`compileJobServiceConfig`, lib/policy) and puts in the deployed resources, which may be
 * Terraform references known only at apply. `JobService` delivers the result as a ConfigMap.
 */
import { Token } from "cdktf";
import type { JobServiceConfig } from "../../../../job-service/src/config";
import { CleanRoomPolicy } from "../../../policy/model";
import { compileJobServiceConfig } from "../../../policy/job-service-config";

/** Deployed resources the configuration names; any may be a Terraform reference. */
export interface JobServiceConfigResources {
  /** `projects/P/global/instanceTemplates/NAME` (`ConfidentialSpaceWorkload.instanceTemplateId`). */
  readonly instanceTemplate: string;
  /** Name prefix of the room's templates: the placeholder while `instanceTemplate` is a reference. */
  readonly templateNamePrefix: string;
  /** `<location>-docker.pkg.dev/<project>/<repo>` of job images. */
  readonly userImagesRepository: string;
  /** The verifier's https URL. */
  readonly verifierUrl: string;
  readonly quarantineBucket: string;
  readonly releaseBucket: string;
  /**
   * Pull reference (`repo@sha256:…`) of the deploy-built executor base: the default base of job
   * builds when the policy names none (`jobs.executorBase`). It is approved only once its
   * digest is in the policy's `jobs.executorBases`.
   * @default - the policy's `jobs.executorBase`
   */
  readonly executorBase?: string;
  /** @default jobInstancePrefix(policy.name) */
  readonly instancePrefix?: string;
  /** The GPU template (`ConfidentialSpaceWorkload.gpuTemplate.instanceTemplateId`). @default - none: no GPU jobs */
  readonly gpuInstanceTemplate?: string;
}

/**
 * The job service's `JobServiceConfig`: `compileJobServiceConfig(policy, …)` (lib/policy), with
 * the deployed resources put in. The compiler checks literal names; references (known only at
 * apply) are checked with a literal of the same shape and then put in place.
 */
export function jobServiceConfigFor(policy: CleanRoomPolicy, resources: JobServiceConfigResources): JobServiceConfig {
  const literal = (value: string, placeholder: string) => (Token.isUnresolved(value) ? placeholder : value);
  const compiled = compileJobServiceConfig(policy, {
    instanceTemplate: literal(resources.instanceTemplate, `projects/${policy.project}/global/instanceTemplates/${resources.templateNamePrefix}x`),
    instancePrefix: resources.instancePrefix,
    userImagesRepository: literal(resources.userImagesRepository, `${policy.region}-docker.pkg.dev/${policy.project}/placeholder`),
    verifierUrl: literal(resources.verifierUrl, "https://verifier.invalid"),
    quarantineBucket: literal(resources.quarantineBucket, "placeholder-quarantine"),
    releaseBucket: literal(resources.releaseBucket, "placeholder-release"),
  });
  const defaultBase = compiled.images.defaultExecutorBase ?? resources.executorBase;
  return {
    ...compiled,
    launch: {
      ...compiled.launch,
      instanceTemplate: resources.instanceTemplate,
      ...(resources.gpuInstanceTemplate !== undefined ? { gpuInstanceTemplate: resources.gpuInstanceTemplate } : {}),
    },
    images: {
      ...compiled.images,
      userImagesRepository: resources.userImagesRepository,
      ...(defaultBase !== undefined ? { defaultExecutorBase: defaultBase } : {}),
    },
    verifier: { ...compiled.verifier, url: resources.verifierUrl },
    outputs: { quarantineBucket: resources.quarantineBucket, releaseBucket: resources.releaseBucket },
  };
}
