/**
 * The job service's custom launcher role and the IAM condition of its grant: the permissions that
 * launching, watching and deleting a job VM from the room's instance template needs, instead of
 * ManaTEE's project-wide `roles/compute.instanceAdmin.v1`, limited to the room's VM names, zone
 * and templates. Pure data and functions; `JobServiceIdentity` creates the role and the grant.
 */
import { IamCondition } from "../../../policy/members";
import { manateeEnv } from "../../../policy/names";

/**
 * Permissions of the job service's launcher role: what `instances.insert` from an instance
 * template, `instances.get` and `instances.delete` of a job VM need, instead of ManaTEE's
 * project-wide `roles/compute.instanceAdmin.v1`. The grant's IAM condition limits the instance
 * and disk permissions to VMs named `<instancePrefix>-…` in the room's zone and template use to
 * the room's templates.
 *
 * Left out on purpose: `compute.subnetworks.useExternalIp` and `compute.addresses.use` (job VMs
 * get no external IP: even a request that adds an access config is refused),
 * `compute.images.useReadOnly` (the boot image is in the public `confidential-space-images`
 * project), `compute.instances.setMachineResources`/`setScheduling`/`attachDisk` and every
 * `setIamPolicy` (the template decides; the job service changes nothing after launch).
 */
export const TEE_LAUNCHER_PERMISSIONS: readonly string[] = [
  "compute.instances.create",
  "compute.instances.get",
  "compute.instances.delete",
  // tee-image-reference, tee-signed-image-repos and the allowed tee-env-* keys
  "compute.instances.setMetadata",
  // the template's TEE service account (actAs is granted on that one account only)
  "compute.instances.setServiceAccount",
  // the template's network tag "tee-instance" and labels (plus the job's labels)
  "compute.instances.setTags",
  "compute.instances.setLabels",
  // the boot disk (named after the VM) from the Confidential Space image family, with the template's labels
  "compute.disks.create",
  "compute.disks.setLabels",
  "compute.instanceTemplates.useReadOnly",
  // the launcher reads the template first: metadata and labels in an insert request replace the template's
  "compute.instanceTemplates.get",
  "compute.subnetworks.use",
  // waits for the insert and delete operations
  "compute.zoneOperations.get",
];

/** The custom role id for a room: `[a-zA-Z0-9_.]{3,64}`, deterministic, unique per room. */
export function teeLauncherRoleId(roomName: string): string {
  return `manatee_tee_launcher_${manateeEnv(roomName).replace(/-/g, "_")}`;
}

/** Where job VMs come from: the IAM condition of the launcher role is built from it. */
export interface JobLaunchScope {
  /** Zone the job VMs are created in. */
  readonly zone: string;
  /** VM names are `<instancePrefix>-<uuid>`. @default jobInstancePrefix(roomName) */
  readonly instancePrefix?: string;
  /** The room's templates are named `<templateNamePrefix>…` (`ConfidentialSpaceWorkload.templateNamePrefix`). */
  readonly templateNamePrefix: string;
}

/**
 * The launcher grant's condition: instance and disk permissions only on `<prefix>-…` in the
 * zone, template use only on the room's templates. Compute Engine checks `compute.subnetworks.use`
 * and `compute.zoneOperations.get` on other resource types, which the last clause lets through
 * (this role holds no other permission).
 */
export function launcherCondition(project: string, scope: Required<JobLaunchScope>): IamCondition {
  const zonal = `projects/${project}/zones/${scope.zone}`;
  return {
    title: `launch-${scope.instancePrefix}`.slice(0, 100),
    description: "Job VMs of the clean room only: instances and disks named <prefix>-<uuid>, the room's templates",
    expression:
      `(resource.type == "compute.googleapis.com/Instance" && resource.name.startsWith("${zonal}/instances/${scope.instancePrefix}-")) || ` +
      `(resource.type == "compute.googleapis.com/Disk" && resource.name.startsWith("${zonal}/disks/${scope.instancePrefix}-")) || ` +
      `(resource.type == "compute.googleapis.com/InstanceTemplate" && resource.name.startsWith("projects/${project}/global/instanceTemplates/${scope.templateNamePrefix}")) || ` +
      `(resource.type != "compute.googleapis.com/Instance" && resource.type != "compute.googleapis.com/Disk" && resource.type != "compute.googleapis.com/InstanceTemplate")`,
  };
}
