/**
 * The cloud `OwnerBackend` of `manatee jobs`: a deployed room, with the data owner's own Google
 * credentials (Application Default Credentials, `gcloud auth application-default login`).
 *
 * - registry: Artifact Registry at `https://<region>-docker.pkg.dev` (RemoteRegistry) with an
 *   OAuth access token: reads job images (user-images repository) and executor bases
 *   (executor-bases repository), pushes to the dataset's signature repository;
 * - signer: the dataset's approver key in Cloud KMS,
 *   `projects/<p>/locations/<region>/keyRings/<room>-datasets/cryptoKeys/<dataset>-approver/cryptoKeyVersions/<N>`;
 * - review record: `reviews/<uuid>.json` in the room's hub bucket (the job service's workspace
 *   bucket), read with the Cloud Storage JSON API (`alt=media`);
 * - config: `compileJobServiceConfig(policy, …)` with a deployment derived from names only.
 *
 * The CleanRoom construct grants each dataset owner exactly this: signer on the approver key,
 * writer on the signature repository, reader on the user-images and executor-bases repositories,
 * object viewer on the hub bucket's `reviews/` objects only.
 *
 * Every Google client is injectable (`CloudClients`); the real ones are loaded lazily, so commands
 * that never reach the cloud path (`manatee policy`, `manatee jobs --local`) never load them.
 */
import type { JobServiceConfig } from "../../job-service/src/config";
import { parseDigestReference, type Registry, type StoredManifest } from "../../job-service/src/oci";
import { RemoteRegistry } from "../../job-service/src/registry-http";
import { kmsApproverSigner, type ApproverSigner, type KmsClientLike } from "../../job-service/src/signers";
import { compileJobServiceConfig } from "../policy/job-service-config";
import { CleanRoomPolicy, jobsOf } from "../policy/model";
import { dataPlaneNames, jobPathNames, outputReleaseNames } from "../policy/names";
import { OwnerBackend, OwnerRefusal, parseReviewRecord, requireJobUuid } from "./owner-backend";
import { ExternalError } from "../errors";

export const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";

/** Reads one object's bytes; undefined when the object does not exist. */
export type GcsReader = (bucket: string, object: string) => Promise<Uint8Array | undefined>;

/** The Google clients the cloud backend uses; each defaults to the real one over ADC. */
export interface CloudClients {
  /** Cloud KMS. @default new KeyManagementServiceClient() (`@google-cloud/kms`, ADC) */
  readonly kms?: KmsClientLike;
  /** OAuth access token for Artifact Registry and Cloud Storage. @default GoogleAuth (ADC, scope cloud-platform) */
  readonly token?: () => Promise<string | null | undefined>;
  /** HTTP client of the registry and of the default GCS reader. @default global fetch */
  readonly fetch?: typeof fetch;
  /**
   * Base URL of the room's registry; repository names on `<region>-docker.pkg.dev` are sent to it
   * (a mirror, or a loopback registry in tests). @default https://<region>-docker.pkg.dev
   */
  readonly registryUrl?: string;
  /** Reads the review record. @default gcsJsonApiReader(token, fetch) */
  readonly gcs?: GcsReader;
}

export interface CloudBackendOptions {
  /** Version of the approver key that signs. @default 1 */
  readonly keyVersion?: number;
  readonly clients?: CloudClients;
}

/** The Cloud KMS key version of a dataset's approver key (created by CleanRoomDataPlane on the dataset key ring). */
export function approverKeyVersionName(policy: Pick<CleanRoomPolicy, "name" | "project" | "region">, dataset: string, version = 1): string {
  if (!Number.isInteger(version) || version < 1) throw new OwnerRefusal(`--key-version must be a positive whole number, found ${version}`);
  const names = dataPlaneNames(policy);
  // The dataset key ring is in the room's region (lib/constructs/data-plane/datasets.ts), like the approver keys on it.
  return `projects/${policy.project}/locations/${policy.region}/keyRings/${names.datasetKeyRing}/cryptoKeys/${names.approverKey(dataset)}/cryptoKeyVersions/${version}`;
}

/**
 * The job service configuration as an owner needs it, from the policy and names alone. Real:
 * `datasets` (signature repositories, approver key fingerprints, plus each key's KMS version),
 * `images` (`userImagesRepository`, `executorBases`, `defaultExecutorBase` when the policy names
 * one, `workspaceDir` = the default "/workspace"). Placeholders, never read by owner actions:
 * `launch.instanceTemplate` and `verifier.url`; `outputs` are the names the room derives.
 */
export function ownerJobServiceConfig(policy: CleanRoomPolicy, keyVersion = 1): JobServiceConfig {
  const names = jobPathNames(policy);
  const release = outputReleaseNames(policy);
  const compiled = compileJobServiceConfig(policy, {
    instanceTemplate: `projects/${policy.project}/global/instanceTemplates/owner-placeholder`,
    userImagesRepository: names.userImagesRepository,
    verifierUrl: "https://verifier.invalid",
    quarantineBucket: release.quarantineBucket,
    releaseBucket: release.releaseBucket,
  });
  return {
    ...compiled,
    datasets: compiled.datasets.map((d) =>
      d.approverKey ? { ...d, approverKey: { ...d.approverKey, kmsKeyVersion: approverKeyVersionName(policy, d.name, keyVersion) } } : d,
    ),
  };
}

/**
 * Approved executor bases and where to read them: the repository of the policy's
 * `jobs.executorBase` when it names one, else the deploy-built base's
 * (`<region>-docker.pkg.dev/<project>/dcr-<env>-executor-bases/executor-base`).
 */
export function ownerExecutorBases(policy: CleanRoomPolicy): { digest: string; repo: string }[] {
  const jobs = jobsOf(policy);
  const repo = jobs.executorBase ? parseDigestReference(jobs.executorBase).repo : jobPathNames(policy).executorBaseImageRepository;
  return jobs.executorBases.map((digest) => ({ digest, repo }));
}

/** Cloud Storage JSON API `objects.get?alt=media` with a Bearer token. */
export function gcsJsonApiReader(token: () => Promise<string | null | undefined>, fetchImpl: typeof fetch = fetch): GcsReader {
  return async (bucket, object) => {
    const url = `https://storage.googleapis.com/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(object)}?alt=media`;
    const t = await token();
    const res = await fetchImpl(url, { headers: t ? { authorization: `Bearer ${t}` } : {} });
    if (res.status === 404) return undefined;
    if (res.status === 401 || res.status === 403) {
      throw new OwnerRefusal(
        `cannot read gs://${bucket}/${object} (HTTP ${res.status}): dataset owners read review records with roles/storage.objectViewer on the hub bucket's reviews/ objects (CleanRoom grants it to every owner in the room file); check \`gcloud auth application-default login\``,
      );
    }
    if (!res.ok) throw new ExternalError(`GET gs://${bucket}/${object}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    return new Uint8Array(await res.arrayBuffer());
  };
}

/** A token source over Application Default Credentials; google-auth-library is loaded on first use. */
export function adcToken(): () => Promise<string | null | undefined> {
  let auth: { getAccessToken(): Promise<string | null | undefined> } | undefined;
  return async () => {
    if (!auth) {
      // Lazy: loading google-auth-library costs more than every other command does.
      const { GoogleAuth } = require("google-auth-library") as typeof import("google-auth-library");
      auth = new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] });
    }
    return auth.getAccessToken();
  };
}

function defaultKmsClient(): KmsClientLike {
  // Lazy: @google-cloud/kms pulls in gRPC.
  const { KeyManagementServiceClient } = require("@google-cloud/kms") as typeof import("@google-cloud/kms");
  return new KeyManagementServiceClient() as unknown as KmsClientLike;
}

/**
 * Sends repositories named on `host` (`host/p/repo/…`) to a registry that knows them without the
 * host (a registry at another URL); other names pass through unchanged.
 */
export class HostAliasRegistry implements Registry {
  constructor(private readonly inner: Registry, private readonly host: string) {}
  private name(repo: string): string {
    return repo.startsWith(`${this.host}/`) ? repo.slice(this.host.length + 1) : repo;
  }
  getManifest(repo: string, reference: string): Promise<StoredManifest | undefined> {
    return this.inner.getManifest(this.name(repo), reference);
  }
  putManifest(repo: string, tag: string | undefined, bytes: Uint8Array, mediaType: string): Promise<string> {
    return this.inner.putManifest(this.name(repo), tag, bytes, mediaType);
  }
  getBlob(repo: string, digest: string): Promise<Uint8Array> {
    return this.inner.getBlob(this.name(repo), digest);
  }
  putBlob(repo: string, bytes: Uint8Array): Promise<string> {
    return this.inner.putBlob(this.name(repo), bytes);
  }
  async hasBlob(repo: string, digest: string): Promise<boolean> {
    return this.inner.hasBlob ? this.inner.hasBlob(this.name(repo), digest) : false;
  }
  async listTags(repo: string): Promise<string[]> {
    if (!this.inner.listTags) throw new ExternalError("the registry cannot list tags");
    return this.inner.listTags(this.name(repo));
  }
}

/** The dataset's approver key in Cloud KMS, checked to be EC_SIGN_P256_SHA256 (kmsApproverSigner). */
export async function kmsDatasetSigner(policy: CleanRoomPolicy, dataset: string, options: CloudBackendOptions = {}): Promise<ApproverSigner> {
  if (!policy.datasets.some((d) => d.name === dataset)) {
    throw new OwnerRefusal(`dataset ${JSON.stringify(dataset)} is not in room ${policy.name} (datasets: ${policy.datasets.map((d) => d.name).join(", ")})`);
  }
  const keyVersion = approverKeyVersionName(policy, dataset, options.keyVersion ?? 1);
  try {
    return await kmsApproverSigner({ client: options.clients?.kms ?? defaultKmsClient(), keyVersion });
  } catch (e) {
    // A key of the wrong kind is the owner's to fix (or a wrong --key-version); other errors are not.
    if (/approver keys must be EC_SIGN_P256_SHA256|returned no PEM|arrived corrupted/.test((e as Error).message)) throw new OwnerRefusal((e as Error).message);
    throw e;
  }
}

/** A deployed room, as its data owner reaches it with their own credentials. */
export function cloudOwnerBackend(policy: CleanRoomPolicy, options: CloudBackendOptions = {}): OwnerBackend {
  const clients = options.clients ?? {};
  const keyVersion = options.keyVersion ?? 1;
  const config = ownerJobServiceConfig(policy, keyVersion);
  const names = jobPathNames(policy);
  const token = clients.token ?? adcToken();
  const host = `${policy.region}-docker.pkg.dev`;
  const remote = new RemoteRegistry({ baseUrl: clients.registryUrl ?? `https://${host}`, token, fetch: clients.fetch });
  const registry: Registry = clients.registryUrl ? new HostAliasRegistry(remote, host) : remote;
  const gcs = clients.gcs ?? gcsJsonApiReader(token, clients.fetch);
  return {
    config,
    registry,
    executorBases: ownerExecutorBases(policy),
    async review(uuid) {
      requireJobUuid(uuid);
      const object = `${names.reviewPrefix}${uuid}.json`;
      const bytes = await gcs(names.hubBucket, object);
      if (!bytes) throw new OwnerRefusal(`job ${uuid} has no review record yet (gs://${names.hubBucket}/${object}): it is not built (or does not exist)`);
      return parseReviewRecord(Buffer.from(bytes).toString("utf8"), uuid, config.images.userImagesRepository);
    },
    signer: (dataset) => kmsDatasetSigner(policy, dataset, { keyVersion, clients }),
  };
}
