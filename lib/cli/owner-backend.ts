/**
 * Where `manatee jobs show|approve|reject` reads and writes: an `OwnerBackend`. The local one
 * works on a local room's state directory (`manatee job-service --local --state DIR`); the cloud
 * one (lib/cli/jobs-cloud.ts) on a deployed room with the owner's own Google credentials. The
 * commands do the same checks on both.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { JobServiceConfig } from "../../job-service/src/config";
import { LocalRegistry } from "../../job-service/src/local-registry";
import type { Registry } from "../../job-service/src/oci";
import type { BuildRecord, WorkspaceFile } from "../../job-service/src/ports";
import type { ApproverSigner } from "../../job-service/src/signers";
import { localOwnerSigner, readLocalConfig } from "./local-prepare";
import { ERROR_CODES, ManateeError } from "../errors";

/** What the job service writes to reviews/<uuid>.json when a build ends. */
export interface ReviewRecord {
  readonly id: number;
  readonly uuid: string;
  readonly creator: string;
  readonly notebook: string;
  readonly purpose: string;
  readonly datasets: readonly string[];
  readonly build: BuildRecord;
  readonly dependencies?: readonly string[];
  readonly workspace?: { readonly files?: readonly WorkspaceFile[] };
}

export interface OwnerBackend {
  /** The room's job service configuration; owner actions use only `datasets` and `images`. */
  readonly config: JobServiceConfig;
  /** Reads job images and executor bases; pushes to the datasets' signature repositories. */
  readonly registry: Registry;
  /** The job's review record; throws OwnerRefusal when there is none. */
  review(uuid: string): Promise<ReviewRecord>;
  /** The dataset's approver key, as the owner running the command may use it. */
  signer(dataset: string): Promise<ApproverSigner>;
  /** Approved executor bases and the repository each is read from. */
  readonly executorBases: readonly { readonly digest: string; readonly repo: string }[];
}

/** A refusal the owner can act on (exit code 1), as opposed to a bug. */
export class OwnerRefusal extends ManateeError {
  constructor(message: string, readonly problems: readonly string[] = []) {
    super(ERROR_CODES.invalidInput, message);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function requireJobUuid(uuid: string): void {
  if (!UUID.test(uuid)) throw new OwnerRefusal(`JOB must be a job uuid, found "${uuid}"`);
}

/**
 * Parses a review record and checks it is about `uuid` and names a job image in the room's
 * user-images repository by digest (the job service writes it; the owner trusts it no further).
 */
export function parseReviewRecord(text: string, uuid: string, userImagesRepository: string): ReviewRecord {
  let review: ReviewRecord;
  try {
    review = JSON.parse(text) as ReviewRecord;
  } catch (e) {
    throw new OwnerRefusal(`the review record of job ${uuid} is not JSON (${(e as Error).message})`);
  }
  const problems: string[] = [];
  if (review?.uuid !== uuid) problems.push(`it is about job ${JSON.stringify(review?.uuid)}, not ${uuid}`);
  const build = review?.build;
  if (!build || typeof build.imageReference !== "string" || typeof build.imageDigest !== "string") problems.push("it has no build (imageReference, imageDigest)");
  else {
    if (!/^sha256:[0-9a-f]{64}$/.test(build.imageDigest)) problems.push(`imageDigest ${JSON.stringify(build.imageDigest)} is not a sha256: digest`);
    if (!build.imageReference.endsWith(`@${build.imageDigest}`)) problems.push(`imageReference ${build.imageReference} does not name imageDigest ${build.imageDigest}`);
    if (!build.imageReference.startsWith(`${userImagesRepository}/`)) problems.push(`imageReference ${build.imageReference} is not in the room's user-images repository ${userImagesRepository}`);
  }
  if (!Array.isArray(review?.datasets)) problems.push("it names no datasets");
  if (problems.length) throw new OwnerRefusal(`the review record of job ${uuid} is not usable`, problems);
  return review;
}

/** `repo` of a job image's `repo@sha256:…` reference. */
export function imageRepo(build: BuildRecord): string {
  return build.imageReference.slice(0, build.imageReference.indexOf("@"));
}

/** Approved bases, each read from the repository of `images.defaultExecutorBase` (the local room's base). */
export function basesFromDefault(config: JobServiceConfig): { digest: string; repo: string }[] {
  const ref = config.images.defaultExecutorBase;
  const repo = ref ? ref.slice(0, ref.indexOf("@")) : "";
  return config.images.executorBases.map((digest) => ({ digest, repo }));
}

/** A local room's state directory: the config it compiled, its registry, blobs and local owner keys. */
export function localOwnerBackend(stateDir: string): OwnerBackend {
  const config = readLocalConfig(stateDir);
  return {
    config,
    registry: new LocalRegistry(join(stateDir, "registry")),
    executorBases: basesFromDefault(config),
    async review(uuid) {
      requireJobUuid(uuid);
      let text: string;
      try {
        text = readFileSync(join(stateDir, "blobs", "reviews", `${uuid}.json`), "utf8");
      } catch {
        throw new OwnerRefusal(`job ${uuid} has no review record yet: it is not built (or does not exist)`);
      }
      return parseReviewRecord(text, uuid, config.images.userImagesRepository);
    },
    async signer(dataset) {
      return localOwnerSigner(stateDir, dataset);
    },
  };
}
