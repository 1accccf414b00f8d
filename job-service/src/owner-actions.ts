/**
 * What `manatee jobs approve` and `manatee jobs reject` do, with the owner's own credentials:
 * check the signer is the dataset's approver key, review the image by digest, sign, push.
 */
import type { JobServiceConfig, JobServiceDataset } from "./config";
import type { Clock, WorkspaceFile } from "./ports";
import { pushSignature, rejectionPayload, simpleSigningPayload } from "./cosign";
import { parseDigestReference, type Registry } from "./oci";
import { compareWithReview, reviewJobImage, type ImageReview } from "./review";
import type { ApproverSigner } from "./signers";

export class OwnerActionError extends Error {
  constructor(message: string, readonly problems: readonly string[] = []) {
    super(problems.length ? `${message}:\n  - ${problems.join("\n  - ")}` : message);
    this.name = "OwnerActionError";
  }
}

export interface OwnerActionOptions {
  /** A registry the owner can read job images from and push to the dataset's signature repository. */
  readonly registry: Registry;
  readonly config: JobServiceConfig;
  readonly dataset: string;
  /** `sha256:` of the job image: what is signed. */
  readonly imageDigest: string;
  readonly signer: ApproverSigner;
  /** The owner's identity (e.g. their Google account), recorded in the payload. */
  readonly by: string;
  readonly clock?: Clock;
}

export interface ApproveOptions extends OwnerActionOptions {
  /** Repository of the job image (`<userImagesRepository>/job-<uuid>`). */
  readonly imageRepo: string;
  /** The job's review record: the image's files must be exactly these. */
  readonly reviewFiles?: readonly WorkspaceFile[];
  /**
   * Approved bases and where to read them. @default config.images.executorBases, each read from
   * the repository of `images.defaultExecutorBase`
   */
  readonly executorBases?: readonly { readonly digest: string; readonly repo: string }[];
}

/**
 * Approves a job image for one dataset: refuses unless the signer is the dataset's approver key
 * and the image passes the review (and matches the review record when given); then signs the
 * digest and appends the signature to the dataset's signature repository. Nothing is pushed on refusal.
 */
export async function approveJob(options: ApproveOptions): Promise<{ review: ImageReview; tag: string; manifestDigest: string; keyId: string }> {
  const dataset = checkSigner(options);
  const review = await reviewJobImage({
    registry: options.registry,
    imageRepo: options.imageRepo,
    imageDigest: options.imageDigest,
    executorBases: options.executorBases ?? defaultBases(options.config),
    workspaceDir: options.config.images.workspaceDir,
  });
  const problems = [...review.problems, ...(options.reviewFiles && review.ok ? compareWithReview(review.files, options.reviewFiles) : [])];
  if (problems.length) throw new OwnerActionError(`image ${options.imageRepo}@${options.imageDigest} is not approvable for dataset ${dataset.name}; nothing was signed`, problems);
  const payload = simpleSigningPayload(options.imageDigest, {
    pubPem: options.signer.publicKeyPem,
    dockerReference: options.imageRepo,
    extra: { dataset: dataset.name, by: options.by, at: now(options.clock) },
  });
  const signature = await options.signer.sign(payload);
  const pushed = await pushSignature(options.registry, dataset.signatureRepository, options.imageDigest, payload, signature, "signature");
  return { review, ...pushed, keyId: options.signer.keyId };
}

/** Rejects a job image for one dataset: a signed rejection by the dataset's approver key, with the reason. */
export async function rejectJob(options: OwnerActionOptions & { readonly reason: string }): Promise<{ tag: string; manifestDigest: string; keyId: string }> {
  const dataset = checkSigner(options);
  const payload = rejectionPayload(options.imageDigest, {
    pubPem: options.signer.publicKeyPem,
    reason: options.reason,
    extra: { dataset: dataset.name, by: options.by, at: now(options.clock) },
  });
  const signature = await options.signer.sign(payload);
  const pushed = await pushSignature(options.registry, dataset.signatureRepository, options.imageDigest, payload, signature, "rejection");
  return { ...pushed, keyId: options.signer.keyId };
}

function checkSigner(options: OwnerActionOptions): JobServiceDataset {
  const { config, dataset: name, signer } = options;
  if (!options.by?.trim()) throw new OwnerActionError("who signs is required (the owner's identity)");
  const dataset = config.datasets.find((d) => d.name === name);
  if (!dataset) throw new OwnerActionError(`dataset ${JSON.stringify(name)} is not in the room (datasets: ${config.datasets.map((d) => d.name).join(", ")})`);
  const expected = dataset.approverKey?.fingerprint;
  if (!expected) {
    throw new OwnerActionError(
      `per-job approval is off for dataset ${name}: put its approver key's fingerprint in datasets.${name}.approverKey.fingerprint (manatee jobs approver-key --dataset ${name} prints it) and deploy`,
    );
  }
  if (signer.keyId !== expected) {
    throw new OwnerActionError(`the signing key ${signer.keyId} is not dataset ${name}'s approver key: expected the key with fingerprint ${expected}${dataset.approverKey?.kmsKeyVersion ? ` (${dataset.approverKey.kmsKeyVersion})` : ""}`);
  }
  return dataset;
}

function defaultBases(config: JobServiceConfig): { digest: string; repo: string }[] {
  const ref = config.images.defaultExecutorBase;
  if (!ref) throw new OwnerActionError("images.defaultExecutorBase is not set, so the executor bases' repository is unknown: pass executorBases with their repositories");
  const { repo } = parseDigestReference(ref);
  return config.images.executorBases.map((digest) => ({ digest, repo }));
}

function now(clock: Clock | undefined): string {
  return new Date(clock ? clock.now() : Date.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
}
