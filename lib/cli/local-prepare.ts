/**
 * What the local mode changes in a room before compiling it, and nothing else: the owners'
 * approver keys become local P-256 keys in the state directory (their fingerprints replace the
 * room file's, which belong to Cloud KMS keys), and the deterministic local executor base is
 * added to the approved bases (the room file's bases live in a cloud registry). Every
 * condition, access path and verifier rule is then compiled by the same functions as in the
 * cloud, from this policy.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JobServiceConfig } from "../../job-service/src/config";
import { createLocalExecutorBase } from "../../job-service/src/executor-base";
import { LocalRegistry } from "../../job-service/src/local-registry";
import { localApproverSigner, type ApproverSigner } from "../../job-service/src/signers";
import { VerifierPolicyDocument, compileVerifierPolicy } from "../policy/document";
import { compileJobServiceConfig } from "../policy/job-service-config";
import { CleanRoomPolicy, jobsOf } from "../policy/model";
import { dockerRepositoryPath, jobInstancePrefix, outputReleaseNames } from "../policy/names";
import { InvalidInputError } from "../errors";

export interface PreparedLocalRoom {
  readonly policy: CleanRoomPolicy;
  readonly config: JobServiceConfig;
  readonly verifierPolicy: VerifierPolicyDocument;
  readonly registry: LocalRegistry;
  readonly executorBase: { digest: string; reference: string };
}

/** The room's outputs buckets: the same names as the deployed room's (local buckets are directories). */
export function localBuckets(policy: Pick<CleanRoomPolicy, "name" | "project">): { quarantineBucket: string; releaseBucket: string } {
  const names = outputReleaseNames(policy);
  return { quarantineBucket: names.quarantineBucket, releaseBucket: names.releaseBucket };
}

export function approverKeyFile(stateDir: string, dataset: string): string {
  return join(stateDir, "keys", `${dataset}.pem`);
}

/** The dataset owner's local approver key: created once, kept in the state directory (mode 0600). */
export function localOwnerSigner(stateDir: string, dataset: string, create = false): ApproverSigner {
  const file = approverKeyFile(stateDir, dataset);
  if (existsSync(file)) return localApproverSigner({ pemFile: file });
  if (!create) {
    throw new InvalidInputError(`no local approver key for dataset "${dataset}" at ${file}: start \`manatee job-service --local\` with this --state first`);
  }
  const signer = localApproverSigner();
  mkdirSync(join(stateDir, "keys"), { recursive: true, mode: 0o700 });
  writeFileSync(file, signer.exportPrivateKeyPem(), { mode: 0o600 });
  chmodSync(file, 0o600);
  return signer;
}

export async function prepareLocalRoom(policy: CleanRoomPolicy, stateDir: string): Promise<PreparedLocalRoom> {
  mkdirSync(stateDir, { recursive: true });
  const registry = new LocalRegistry(join(stateDir, "registry"));
  const userImagesRepository = dockerRepositoryPath(policy.region, policy.project, `${policy.name}-user-images`);
  const executorBase = await createLocalExecutorBase(registry, `${userImagesRepository}/executor-base`);
  const jobs = jobsOf(policy);
  const local: CleanRoomPolicy = {
    ...policy,
    datasets: policy.datasets.map((d) => ({ ...d, approverKey: { fingerprint: localOwnerSigner(stateDir, d.name, true).keyId } })),
    jobs: {
      ...jobs,
      executorBases: [...jobs.executorBases.filter((d) => d !== executorBase.digest), executorBase.digest],
      executorBase: executorBase.reference,
    },
  };
  const buckets = localBuckets(policy);
  const config = compileJobServiceConfig(local, {
    instanceTemplate: `projects/${policy.project}/global/instanceTemplates/${policy.name}-tee`,
    instancePrefix: jobInstancePrefix(policy),
    userImagesRepository,
    // Replaced by the local verifier's URL once it listens; the compiler requires https.
    verifierUrl: "https://verifier.local.invalid",
    ...buckets,
  });
  // `local` has a jobs section, so the document carries `release` with the same bucket names.
  const verifierPolicy = compileVerifierPolicy(local).document;
  writeFileSync(join(stateDir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  writeFileSync(join(stateDir, "verifier-policy.json"), `${JSON.stringify(verifierPolicy, null, 2)}\n`);
  return { policy: local, config, verifierPolicy, registry, executorBase };
}

/** The config a running local room wrote (for the owners' commands in another process). */
export function readLocalConfig(stateDir: string): JobServiceConfig {
  const file = join(stateDir, "config.json");
  if (!existsSync(file)) throw new InvalidInputError(`${file} is missing: start \`manatee job-service --local --state ${stateDir}\` first`);
  return JSON.parse(readFileSync(file, "utf8")) as JobServiceConfig;
}
