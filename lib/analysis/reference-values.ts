/**
 * The values Terraform will compute for `${type.name.attr}` references, as far as the
 * config fixes them: a bucket's name, a service account's email, a key's id, a pool's
 * name. The report compares grants by these values; where the config does not fix a
 * value the reference stays verbatim.
 */
import { ResourceIndex, TfResource } from "./resource-index";

/** Stands in for the project number in principal sets: Google assigns it at project creation. */
export const PROJECT_NUMBER_PLACEHOLDER = "PROJECT_NUMBER";

/** Every `${type.name.attr}` (or `${data.type.name.attr}`) inside a string. */
const REFERENCE = /\$\{(data\.)?([a-z0-9_]+)\.([^.}\s]+)\.([a-z0-9_]+)\}/g;

/** Bound on references that resolve to references (a key id through its ring's id, …). */
const MAX_DEPTH = 8;

export class ReferenceValues {
  /** `defaultProject` stands in for the provider's project where a resource names none. */
  constructor(
    private readonly index: ResourceIndex,
    private readonly defaultProject: string,
  ) {}

  /** `value` as a string with every reference this stack can answer replaced; the others left verbatim. */
  resolve(value: unknown, depth = 0): string | undefined {
    if (typeof value !== "string") return value === undefined || value === null ? undefined : String(value);
    if (depth > MAX_DEPTH) return value;
    return value.replace(REFERENCE, (ref, data: string | undefined, type: string, name: string, attr: string) => {
      const target = this.index.get(`${data ?? ""}${type}.${name}`);
      return (target && this.attribute(target, attr, depth + 1)) ?? ref;
    });
  }

  private attribute(target: TfResource, attr: string, depth: number): string | undefined {
    const c = target.config;
    const r = (v: unknown) => this.resolve(v, depth);
    if (target.mode === "data") return target.type === "google_project" && attr === "number" ? PROJECT_NUMBER_PLACEHOLDER : undefined;
    const project = r(c.project) ?? this.defaultProject;
    switch (target.type) {
      case "google_storage_bucket":
        if (attr === "name" || attr === "id") return r(c.name);
        if (attr === "url") return `gs://${r(c.name)}`;
        return undefined;
      case "google_service_account": {
        const email = `${r(c.account_id)}@${project}.iam.gserviceaccount.com`;
        if (attr === "email") return email;
        if (attr === "member") return `serviceAccount:${email}`;
        if (attr === "name" || attr === "id") return `projects/${project}/serviceAccounts/${email}`;
        return undefined;
      }
      case "google_kms_key_ring":
        if (attr === "id") return `projects/${project}/locations/${r(c.location)}/keyRings/${r(c.name)}`;
        if (attr === "name") return r(c.name);
        return undefined;
      case "google_kms_crypto_key":
        if (attr === "id") return `${r(c.key_ring)}/cryptoKeys/${r(c.name)}`;
        if (attr === "name") return r(c.name);
        return undefined;
      case "google_project_iam_custom_role":
        // The data plane grants the SDK's custom roles by reference to their `name`.
        if (attr === "name" || attr === "id") return `projects/${project}/roles/${r(c.role_id)}`;
        return undefined;
      case "google_iam_workload_identity_pool":
        if (attr === "workload_identity_pool_id") return r(c.workload_identity_pool_id);
        if (attr === "name" || attr === "id") {
          return `projects/${PROJECT_NUMBER_PLACEHOLDER}/locations/global/workloadIdentityPools/${r(c.workload_identity_pool_id)}`;
        }
        return undefined;
      default:
        return undefined;
    }
  }
}

/** Principal sets name the project by number; compare them with the number abstracted away. */
export function normalizeMember(member: string): string {
  return member.replace(
    /^(principalSet|principal):\/\/iam\.googleapis\.com\/projects\/[^/]+\//,
    `$1://iam.googleapis.com/projects/${PROJECT_NUMBER_PLACEHOLDER}/`,
  );
}
