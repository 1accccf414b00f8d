/**
 * An optional VPC Service Controls perimeter around the room's project (policy key
 * `vpcServiceControls`). What it closes: without it, an approved image in a TEE can still call
 * Google APIs with credentials of its own (a service account key baked into the image, say) and
 * write decrypted data to a bucket in ANOTHER project: the firewall and the missing NAT stop the
 * internet, not Google APIs. Inside a perimeter, storage, KMS, Cloud Functions, Cloud Run and
 * Artifact Registry calls from the room's VPC may reach only resources in the perimeter, and
 * calls from outside reach the room's resources only through an access level.
 */
import { ITerraformDependable, TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { AccessContextManagerServicePerimeter } from "@cdktf/provider-google/lib/access-context-manager-service-perimeter";
import { DataGoogleProject } from "@cdktf/provider-google/lib/data-google-project";
import { VPC_SC_RESTRICTED_SERVICES } from "../../policy/model";
import { manateeEnv } from "../../policy/names";
import { InvalidPropsError } from "../../errors";

export interface CleanRoomServicePerimeterProps {
  /** The clean room (a `CleanRoomPolicy` fits). */
  readonly room: { readonly name: string; readonly project: string };
  /** Numeric id of the organization's access policy. */
  readonly accessPolicy: string;
  /**
   * Short names of access levels in that policy admitted from outside the perimeter (the
   * deployer's network: Terraform manages the room's buckets and keys through the restricted APIs).
   * @default []
   */
  readonly accessLevels?: readonly string[];
  /** @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * A regular, enforced service perimeter `accessPolicies/<id>/servicePerimeters/manatee_<env>`
 * holding the room's project (by number) and restricting `VPC_SC_RESTRICTED_SERVICES`.
 *
 * Before enabling it on a running room: whoever applies Terraform must be inside an access level
 * listed here (or the apply fails on the room's own buckets and keys), the access policy is
 * organization-wide (`roles/accesscontextmanager.policyEditor` on the organization), and builds
 * that use Cloud Build's default pool cannot reach restricted services in the perimeter (job
 * image builds and the verifier's function build need a private pool inside it).
 */
export class CleanRoomServicePerimeter extends Construct {
  public readonly perimeter: AccessContextManagerServicePerimeter;
  /** `accessPolicies/<id>/servicePerimeters/<name>` */
  public readonly perimeterName: string;
  public readonly restrictedServices: readonly string[] = VPC_SC_RESTRICTED_SERVICES;

  constructor(scope: Construct, id: string, props: CleanRoomServicePerimeterProps) {
    super(scope, id);
    if (!/^[0-9]{1,20}$/.test(props.accessPolicy)) {
      throw new InvalidPropsError(
        `accessPolicy "${props.accessPolicy}" is not an access policy id. Use the numeric id alone, e.g. "123456789012" ` +
          `(gcloud access-context-manager policies list --organization ORG).`,
      );
    }
    const levels = props.accessLevels ?? [];
    for (const level of levels) {
      if (!/^[A-Za-z][A-Za-z0-9_]{0,49}$/.test(level)) {
        throw new InvalidPropsError(`accessLevels entry "${level}" is not an access level's short name. Use the part after accessLevels/, e.g. "deployers".`);
      }
    }
    const parent = `accessPolicies/${props.accessPolicy}`;
    this.perimeterName = `${parent}/servicePerimeters/manatee_${manateeEnv(props.room.name).replace(/-/g, "_")}`;
    const project = new DataGoogleProject(this, "project", { projectId: props.room.project, provider: props.provider });
    this.perimeter = new AccessContextManagerServicePerimeter(this, "perimeter", {
      parent,
      name: this.perimeterName,
      title: `ManaTEE clean room ${props.room.name}`,
      description: `Clean room ${props.room.name} (${props.room.project}): data, keys, verifier and images stay inside`,
      perimeterType: "PERIMETER_TYPE_REGULAR",
      status: {
        // Perimeters hold projects by number.
        resources: [`projects/${project.number}`],
        restrictedServices: [...this.restrictedServices],
        accessLevels: levels.map((l) => `${parent}/accessLevels/${l}`),
      },
      dependsOn: props.dependsOn,
      provider: props.provider,
    });
  }
}
