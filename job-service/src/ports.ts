/**
 * The job record and the ports the job service talks through. Each port has a Google
 * adapter and a local one (the `--local` mode, tests, the demo); the core never knows which.
 */

/** ManaTEE's job statuses (`app/api/biz/dal/db/job.go`), plus the room's own 10 and 11. */
export const JobStatus = {
  Created: 0,
  ImageBuilding: 1,
  ImageBuildingFailed: 2,
  VMWaiting: 3,
  VMRunning: 4,
  VMFinished: 5,
  VMKilled: 6,
  VMFailed: 7,
  VMOther: 8,
  VMLaunchFailed: 9,
  /** Built; waits for every owner of a requested dataset. The extension shows it as pending. */
  AwaitingApproval: 10,
  /** An owner rejected it: it never launches. */
  Rejected: 11,
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

/** ManaTEE counts 0, 1, 3, 4 as in progress; the room adds 10. */
export const IN_PROGRESS_STATUSES: readonly JobStatus[] = [0, 1, 3, 4, 10];
export const FINAL_STATUSES: readonly JobStatus[] = [2, 5, 6, 7, 8, 9, 11];

export interface WorkspaceFile {
  /** Path inside the workspace, `/`-separated, no leading slash. */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

/** What went into a job's image: what reviewers read and what `manatee jobs approve` re-checks. */
export interface BuildRecord {
  /** `sha256:…` of the job image manifest. */
  readonly imageDigest: string;
  /** `<userImagesRepository>/<name>@sha256:…`. */
  readonly imageReference: string;
  /** The approved executor base it was built on. */
  readonly baseDigest: string;
  /** Files of the single workspace layer, as written (workspace + installed dependencies). */
  readonly files: readonly WorkspaceFile[];
  /** Python requirements installed at build time (requirements files and notebook `pip install` lines). */
  readonly dependencies: readonly string[];
  /** Builder-specific id (Cloud Build id, or the local builder's). */
  readonly buildId: string;
}

export interface DatasetDecision {
  readonly state: "approved" | "rejected";
  /** Owner identity that signed (from the approver's credentials). */
  readonly by: string;
  /** RFC 3339. */
  readonly at: string;
  readonly reason?: string;
  /** `key_id` of the signature (approved) or of the signed rejection. */
  readonly keyFingerprint?: string;
  /** `standing` when a room-file approval covers the digest. */
  readonly source: "signature" | "standing";
}

export interface JobRecord {
  /** ManaTEE's numeric id (download and attestation take it). */
  readonly id: number;
  /** ManaTEE's uuid (delete takes it); also names the VM, the image and the output prefix. */
  readonly uuid: string;
  /** The verified JupyterHub username: never from the request body. */
  readonly creator: string;
  /** Notebook file name at the workspace root (`*.ipynb`). */
  readonly notebook: string;
  readonly status: JobStatus;
  /** Datasets the job asks for. */
  readonly datasets: readonly string[];
  /** Purpose the researcher states (notebook metadata `manatee.purpose`). */
  readonly purpose: string;
  readonly envs: readonly { readonly key: string; readonly value: string }[];
  /** Content-addressed workspace tarball. */
  readonly workspace: {
    readonly object: string;
    readonly sha256: string;
    readonly size: number;
    readonly files: readonly WorkspaceFile[];
    /** Python requirements found at submit (requirements*.txt, notebook `!pip install` / `%pip install` lines). */
    readonly dependencies: readonly string[];
  };
  /** Set when the build starts. */
  readonly buildId?: string;
  readonly build?: BuildRecord;
  readonly buildStartedAt?: string;
  readonly decisions: Readonly<Record<string, DatasetDecision>>;
  readonly launch?: { readonly instanceName: string; readonly requestedAt: string; readonly launchedAt?: string };
  readonly release?: { readonly objects: readonly { readonly name: string; readonly sha256: string }[]; readonly receipt: string; readonly receiptObject: string };
  readonly error?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Soft-deleted by its creator (ManaTEE keeps the row). */
  readonly deleted: boolean;
  /** Optimistic concurrency: every update names the version it read. */
  readonly version: number;
}

export type NewJob = Omit<JobRecord, "id" | "version" | "createdAt" | "updatedAt">;
export type JobPatch = Partial<Omit<JobRecord, "id" | "uuid" | "creator" | "version" | "createdAt">>;

/** An update lost a race: someone else changed the job since it was read. */
export class PreconditionFailedError extends Error {
  constructor(readonly jobId: number, readonly expectedVersion: number) {
    super(`job ${jobId} changed since version ${expectedVersion}`);
    this.name = "PreconditionFailedError";
  }
}

export interface JobStore {
  create(job: NewJob): Promise<JobRecord>;
  get(id: number): Promise<JobRecord | undefined>;
  getByUuid(uuid: string): Promise<JobRecord | undefined>;
  /** Newest first; `deleted` jobs excluded unless asked. */
  list(filter: { creator?: string; statuses?: readonly JobStatus[]; includeDeleted?: boolean }, page: number, pageSize: number): Promise<{ jobs: JobRecord[]; total: number }>;
  countInProgress(creator: string): Promise<number>;
  /** Applies the patch only if the stored version equals `expectedVersion`; else PreconditionFailedError. */
  update(id: number, expectedVersion: number, patch: JobPatch): Promise<JobRecord>;
}

export interface Researcher {
  /** JupyterHub username: the job's creator. */
  readonly name: string;
}

export interface Authenticator {
  /** The researcher a credential belongs to, or undefined when it is missing or invalid. */
  authenticate(authorization: string | undefined): Promise<Researcher | undefined>;
}

/** Content-addressed blobs (workspace tarballs, review records). */
export interface BlobStore {
  put(name: string, bytes: Uint8Array): Promise<void>;
  get(name: string): Promise<Uint8Array | undefined>;
}

export interface BuildRequest {
  readonly job: JobRecord;
  /** The workspace tarball, as uploaded. */
  readonly workspace: Uint8Array;
  /** `repo@sha256:…` of the executor base. */
  readonly base: string;
  /** `<userImagesRepository>/job-<uuid>` (tagged `latest`; launched by digest). */
  readonly target: string;
}

export type BuildState =
  | { readonly state: "running" }
  | { readonly state: "succeeded"; readonly record: BuildRecord }
  | { readonly state: "failed"; readonly error: string };

export interface Builder {
  /** Starts a build; returns its id. Must not bake any per-job secret or URL into the image. */
  start(request: BuildRequest): Promise<string>;
  poll(buildId: string): Promise<BuildState>;
}

/** Reads owners' decisions (signatures and signed rejections) for a job image. */
export interface ApprovalSource {
  decisions(imageDigest: string, datasets: readonly string[]): Promise<Record<string, DatasetDecision>>;
}

export interface LaunchSpec {
  readonly instanceName: string;
  readonly imageReference: string;
  /** `tee-signed-image-repos`: the signature repositories of the requested datasets. */
  readonly signedImageRepos: readonly string[];
  /** `tee-env-*` values, only names the policy allows. */
  readonly env: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
}

export type InstanceState = "PENDING" | "RUNNING" | "STOPPING" | "TERMINATED" | "NOT_FOUND";

export interface Launcher {
  /** Creates the VM from the room's template; an existing VM of that name is success (idempotent). */
  launch(spec: LaunchSpec): Promise<void>;
  status(instanceName: string): Promise<InstanceState>;
  delete(instanceName: string): Promise<void>;
}

/** Released results: only objects the verifier released, with their receipt. */
export interface ReleasedOutputs {
  /** The release of a job, or undefined while nothing was released. */
  released(jobUuid: string): Promise<{ objects: { name: string; sha256: string }[]; receipt: string; receiptObject: string } | undefined>;
  /** A time-limited URL a researcher's server can GET without credentials. */
  downloadUrl(object: string, ttlSeconds: number): Promise<string>;
}

/** Structured audit records: submissions, decisions, launches, refusals. */
export type AuditLog = (record: { readonly event: string; readonly [key: string]: unknown }) => void;

export interface Clock {
  now(): number;
}
