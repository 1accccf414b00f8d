/** Fills in a TypeScript-built policy's defaults (validation is validate.ts). */
import { provisioningApprovals } from "./approvals";
import type { DatasetInput, DatasetPolicy } from "./datasets";
import { DEFAULT_RETENTION_DAYS } from "./datasets";
import type { JupyterHubAuthenticatorInput, JupyterHubAuthenticatorSettings, JupyterHubSettings, JupyterHubSettingsInput } from "./jupyterhub";
import { DEFAULT_CLIENT_SECRET_KEY, DEFAULT_USERNAME_CLAIM } from "./jupyterhub";
import { DEFAULT_JOBS, DEFAULT_VERIFIER_AUDIENCE } from "./operations";
import type { PartyInput, PartyPolicy } from "./parties";
import type { CleanRoomPolicy, CleanRoomPolicyInput } from "./room";
import { DEFAULT_GPU, DEFAULT_TEE_HARDWARE, defaultMachineType } from "./tee";

/** Fill in defaults of a TypeScript-built policy. Validation is `validatePolicy`/`assertValidPolicy` (validate.ts). */
export function normalizePolicy(input: CleanRoomPolicyInput): CleanRoomPolicy {
  const hardware = input.tee?.hardware ?? DEFAULT_TEE_HARDWARE;
  const parties = Object.entries(input.parties ?? {});
  return {
    name: input.name,
    project: input.project,
    region: input.region,
    zone: input.zone,
    residency: input.residency ?? [input.region],
    tee: {
      hardware,
      machineType: input.tee?.machineType ?? defaultMachineType(hardware),
      allowDebug: input.tee?.allowDebug ?? false,
      ...(input.tee?.gpu !== undefined ? { gpu: { ...DEFAULT_GPU, ...definedOnly(input.tee.gpu) } } : {}),
    },
    verifier: {
      audience: input.verifier?.audience ?? DEFAULT_VERIFIER_AUDIENCE,
      ...(input.verifier?.requireNonce !== undefined ? { requireNonce: input.verifier.requireNonce } : {}),
    },
    datasets: [
      ...normalizeDatasets(input.datasets ?? {}, undefined),
      ...parties.flatMap(([party, p]) => normalizeDatasets(p.datasets, party)),
    ],
    approvals: [
      ...(input.approvals ?? []),
      ...parties.flatMap(([party, p]) => (p.approvals ?? []).map((a) => ({ ...a, party }))),
      // A provisioning image reads its dataset like any approved image (stage1-provisioning.ts).
      ...provisioningApprovals(input.datasets ?? {}),
      ...parties.flatMap(([party, p]) => provisioningApprovals(p.datasets).map((a) => ({ ...a, party }))),
    ],
    researchers: input.researchers ?? [],
    backend: input.backend
      ? { bucket: input.backend.bucket, prefix: input.backend.prefix ?? `manatee/${input.name}` }
      : undefined,
    jupyterhub: input.jupyterhub ? normalizeJupyterHub(input.jupyterhub) : undefined,
    cluster: input.cluster
      ? {
          authorizedNetworks: input.cluster.authorizedNetworks ?? [],
          publicEndpoint: input.cluster.publicEndpoint ?? false,
          deletionProtection: input.cluster.deletionProtection ?? true,
        }
      : undefined,
    database: input.database ? { deletionProtection: input.database.deletionProtection ?? true } : undefined,
    ...(input.locations !== undefined ? { locations: { ...input.locations } } : {}),
    ...(input.vpcServiceControls !== undefined
      ? {
          vpcServiceControls: {
            accessPolicy: input.vpcServiceControls.accessPolicy,
            accessLevels: input.vpcServiceControls.accessLevels ?? [],
          },
        }
      : {}),
    operators: input.operators ?? [],
    audit: { lockRetention: input.audit?.lockRetention ?? true },
    // Absent for a single-project room: its normalized form (and every snapshot of it) is unchanged.
    ...(parties.length > 0 ? { parties: parties.map(([name, p]) => normalizeParty(name, p)) } : {}),
    jobs: {
      executorBases: input.jobs?.executorBases ?? DEFAULT_JOBS.executorBases,
      ...(input.jobs?.executorBase !== undefined ? { executorBase: input.jobs.executorBase } : {}),
      maxJobsInProgressPerResearcher: input.jobs?.maxJobsInProgressPerResearcher ?? DEFAULT_JOBS.maxJobsInProgressPerResearcher,
      timeoutMinutes: input.jobs?.timeoutMinutes ?? DEFAULT_JOBS.timeoutMinutes,
      allowEnvOverrides: input.jobs?.allowEnvOverrides ?? DEFAULT_JOBS.allowEnvOverrides,
      maxWorkspaceMiB: input.jobs?.maxWorkspaceMiB ?? DEFAULT_JOBS.maxWorkspaceMiB,
    },
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function normalizeDatasets(datasets: Record<string, DatasetInput>, party: string | undefined): DatasetPolicy[] {
  return Object.entries(datasets).map(([name, d]) => ({
    name,
    retentionDays: d.retentionDays ?? DEFAULT_RETENTION_DAYS,
    stage1: d.stage1,
    access: d.access ?? "direct",
    owners: d.owners ?? [],
    ...(d.approverKey !== undefined ? { approverKey: { fingerprint: d.approverKey.fingerprint } } : {}),
    ...(d.budget !== undefined ? { budget: { ...d.budget } } : {}),
    ...(d.provisioning !== undefined ? { provisioning: { ...d.provisioning } } : {}),
    ...(party !== undefined ? { party } : {}),
  }));
}

function normalizeParty(name: string, p: PartyInput): PartyPolicy {
  return {
    name,
    project: p.project,
    ...(p.projectNumber !== undefined ? { projectNumber: p.projectNumber } : {}),
    ...(p.approvalsKey !== undefined ? { approvalsKey: { jwk: { ...p.approvalsKey.jwk } } } : {}),
    ...(p.approvalsSignature !== undefined ? { approvalsSignature: p.approvalsSignature } : {}),
  };
}

function normalizeAuthenticator(auth: JupyterHubAuthenticatorInput): JupyterHubAuthenticatorSettings {
  switch (auth.type) {
    case "dummy":
      return auth;
    case "google":
      return { ...auth, clientSecretKey: auth.clientSecretKey ?? DEFAULT_CLIENT_SECRET_KEY };
    case "github":
      return {
        ...auth,
        clientSecretKey: auth.clientSecretKey ?? DEFAULT_CLIENT_SECRET_KEY,
        allowedOrganizations: auth.allowedOrganizations ?? [],
      };
    case "generic-oauth":
      return {
        ...auth,
        clientSecretKey: auth.clientSecretKey ?? DEFAULT_CLIENT_SECRET_KEY,
        usernameClaim: auth.usernameClaim ?? DEFAULT_USERNAME_CLAIM,
      };
  }
}

function normalizeJupyterHub(input: JupyterHubSettingsInput): JupyterHubSettings {
  return {
    authenticator: normalizeAuthenticator(input.authenticator),
    users: input.users ?? {},
    admins: input.admins ?? [],
    exposure: input.exposure ?? "cluster-ip",
    // Sizing stays with the construct; only posture (exposure, egress) is spelled out here.
    storageCapacity: input.storageCapacity,
    egress: input.egress ?? "internet",
    ...(input.helm !== undefined ? { helm: { ...input.helm } } : {}),
  };
}
