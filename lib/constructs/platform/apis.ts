/**
 * The Google APIs a clean room needs, enabled once per project. ManaTEE's docs list eight
 * and leave the rest to fail at runtime (reference/manatee-runtime.md §1.2); this list is
 * complete for the room's runtime (job service on Firestore and Cloud Build, KMS keys, verifier
 * function, private DNS).
 */
import { ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { ProjectService } from "@cdktf/provider-google/lib/project-service";
import { ApiDependencies } from "../../internal/api-dependencies";
import { InvalidPropsError } from "../../errors";

/** Every API the clean room uses, each with the reason it is on. */
export const CLEAN_ROOM_APIS = {
  "serviceusage.googleapis.com":
    "Terraform enables every other API through it; it must already be on before the first apply, and is listed so nobody disables it.",
  "cloudresourcemanager.googleapis.com":
    "Project IAM grants, and the project lookup ManaTEE's data SDK does in stage 2 (get_project).",
  "iam.googleapis.com": "Service accounts, workload identity pools and providers.",
  "iamcredentials.googleapis.com":
    "SignBlob for the job service's download URLs of released outputs, and service account impersonation tokens.",
  "sts.googleapis.com": "Exchanges Confidential Space attestation tokens for federated credentials.",
  "confidentialcomputing.googleapis.com": "Issues the attestation tokens of Confidential Space VMs.",
  "compute.googleapis.com": "VPC, firewall, Cloud NAT, and the Confidential Space VMs the job service launches from the room's template.",
  "container.googleapis.com": "The GKE cluster of stage 1 (JupyterHub and the job service).",
  "servicenetworking.googleapis.com": "Private service access: the peering the network reserves for Google-managed services with private IPs.",
  "firestore.googleapis.com": "The job service's state: job records in a Firestore database (no Cloud SQL instance, no GRANT step).",
  "artifactregistry.googleapis.com":
    "Deploy-built images (job service, JupyterLab, executor base) and per-job images: nodes and TEEs pull; Cloud Functions stores its build there.",
  "storage.googleapis.com": "Dataset, workspace, output, build-log and audit buckets; the verifier's source upload.",
  "cloudkms.googleapis.com": "Attestation-bound dataset keys, CMEK, and the verifier's receipt-signing key.",
  "logging.googleapis.com": "Node, workload, VPC flow, firewall, NAT and audit logs.",
  "monitoring.googleapis.com": "GKE system and node metrics (the node service account writes them).",
  "dns.googleapis.com": "Private zones that route Google APIs to private.googleapis.com when egress is google-apis-only.",
  "cloudfunctions.googleapis.com": "The attestation verifier (Cloud Functions gen2, HTTP trigger).",
  "run.googleapis.com": "Gen2 functions run as Cloud Run services.",
  "cloudbuild.googleapis.com":
    "Builds the deploy's own images (gcloud builds submit), every job image, and the gen2 function's container image.",
} as const;

/** Enabled when `vulnerabilityScanning` is on (the default). */
export const VULNERABILITY_SCANNING_API = {
  "containerscanning.googleapis.com":
    "Scans images pushed to Artifact Registry for known vulnerabilities (repositories inherit it).",
} as const;

/**
 * A Google API a clean room may enable.
 * @useDeclaredType
 */
export type CleanRoomApi = keyof typeof CLEAN_ROOM_APIS | keyof typeof VULNERABILITY_SCANNING_API;

const SERVICE_NAME = /^[a-z][a-z0-9-]*\.googleapis\.com$/;

export interface CleanRoomApisProps {
  /** Project to enable the APIs in (a `CleanRoomPolicy` fits). */
  readonly room: { readonly project: string };
  /**
   * Turn on the Container Scanning API so Artifact Registry scans every pushed image. It bills
   * per scanned image; `ImageRegistry` repositories inherit the setting.
   * @default true
   */
  readonly vulnerabilityScanning?: boolean;
  /**
   * The APIs to enable before `vulnerabilityScanning` and `additionalServices`: fewer for a project
   * that holds only data (a consortium party's, `PARTY_APIS`).
   * @default every API in CLEAN_ROOM_APIS
   */
  readonly services?: readonly CleanRoomApi[];
  /**
   * More APIs to enable, as `name.googleapis.com`, for resources you add beside the clean room.
   * @default []
   */
  readonly additionalServices?: readonly string[];
  /** @default room.project */
  readonly project?: string;
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * Enables the clean room's APIs. `disable_on_destroy` is false on every one: disabling an API
 * on destroy breaks whatever else in the project uses it, and its data stays anyway.
 *
 * Every resource and data source of the stack waits for the APIs its type calls, and nothing
 * more: creating `CleanRoomApis` registers a pass on its stack (lib/internal/api-dependencies.ts)
 * that adds those `depends_on` edges at synthesis, for the room's resources and for any you add
 * beside it. `dependables` (every API) remains for resources the pass cannot know.
 */
export class CleanRoomApis extends Construct {
  /** The `google_project_service` resources, by API name. */
  public readonly services: Readonly<Record<string, ProjectService>>;
  /** The enabled API names, in a stable order. */
  public readonly serviceNames: readonly string[];
  /** Everything a resource must wait for before it calls one of these APIs. */
  public readonly dependables: ITerraformDependable[];

  constructor(scope: Construct, id: string, props: CleanRoomApisProps) {
    super(scope, id);
    const project = props.project ?? props.room.project;
    const additional = props.additionalServices ?? [];
    additional.forEach((name, i) => {
      if (!Token.isUnresolved(name) && !SERVICE_NAME.test(name)) {
        throw new InvalidPropsError(
          `additionalServices[${i}] "${name}" is not an API service name. Use the form "name.googleapis.com", ` +
            `e.g. "secretmanager.googleapis.com".`,
        );
      }
    });
    const names = [
      ...(props.services ?? Object.keys(CLEAN_ROOM_APIS)),
      ...((props.vulnerabilityScanning ?? true) ? Object.keys(VULNERABILITY_SCANNING_API) : []),
      ...additional,
    ];
    this.serviceNames = [...new Set(names)];

    const services: Record<string, ProjectService> = {};
    this.serviceNames.forEach((service, i) => {
      // The id is the API's short name, so adding an API never renames the others.
      const childId = Token.isUnresolved(service) ? `service-${i}` : service.replace(/\.googleapis\.com$/, "");
      services[service] = new ProjectService(this, childId, {
        project,
        service,
        disableOnDestroy: false,
        disableDependentServices: false,
        provider: props.provider,
      });
    });
    this.services = services;
    this.dependables = Object.values(services);
    ApiDependencies.ensure(this);
  }
}
