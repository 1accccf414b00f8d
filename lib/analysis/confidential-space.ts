/**
 * Recognising Confidential Space in a synthesized stack, whoever declared it: the
 * OIDC issuer of a workload identity provider, and the image project/family of a VM.
 */
import { ResourceIndex, TfResource } from "./resource-index";
import { block, dig, readString } from "./values";

export const CONFIDENTIAL_SPACE_IMAGE_PROJECT = "confidential-space-images";
const ISSUER = /^https:\/\/confidentialcomputing\.googleapis\.com\/?$/;

export type TriState = "yes" | "no" | "unknown";

/** Whether a workload identity pool provider federates Confidential Space attestation tokens. */
export function isConfidentialSpaceProvider(provider: TfResource): TriState {
  const issuer = readString(dig(provider.config, "oidc.issuer_uri"));
  if (issuer.state === "absent") return "no";
  if (issuer.state === "unknown") return "unknown";
  return ISSUER.test(issuer.value) ? "yes" : "no";
}

export interface ImageFacts {
  readonly confidentialSpace: TriState;
  /** A `confidential-space-debug*` family or image. */
  readonly debug: boolean;
  /** How the image was named, for messages. */
  readonly shown: string;
}

function fromProjectAndName(project: string | undefined, name: string, shown: string): ImageFacts {
  const confidentialSpace: TriState =
    project === undefined ? (/^confidential-space/.test(name) ? "unknown" : "no") : project === CONFIDENTIAL_SPACE_IMAGE_PROJECT ? "yes" : "no";
  return { confidentialSpace, debug: /^confidential-space-debug/.test(name), shown };
}

/**
 * Read a boot image reference: a `data.google_compute_image` reference, a self link,
 * `projects/P/global/images/[family/]N`, `P/N` or a bare name.
 */
export function imageFacts(value: unknown, index: ResourceIndex): ImageFacts | undefined {
  if (value === undefined || value === null) return undefined;
  const ref = index.target(value);
  if (ref && ref.resource.type === "google_compute_image" && ref.resource.mode === "data") {
    const c = ref.resource.config;
    const project = readString(c.project);
    const name = readString(c.family).state === "known" ? readString(c.family) : readString(c.name);
    if (project.state === "unknown" || name.state !== "known") {
      return { confidentialSpace: "unknown", debug: false, shown: ref.resource.address };
    }
    return fromProjectAndName(project.state === "known" ? project.value : undefined, name.value, `${ref.resource.address} (${name.value})`);
  }
  const raw = readString(value);
  if (raw.state !== "known") return { confidentialSpace: "unknown", debug: false, shown: JSON.stringify(value) };
  const v = raw.value.replace(/^https:\/\/(www|compute)\.googleapis\.com\/compute\/(v1|beta)\//, "");
  const full = /^projects\/([^/]+)\/global\/images\/(?:family\/)?([^/]+)$/.exec(v);
  if (full) return fromProjectAndName(full[1], full[2], raw.value);
  const short = /^([^/]+)\/([^/]+)$/.exec(v);
  if (short && short[1] !== "family") return fromProjectAndName(short[1], short[2], raw.value);
  const bare = /^(?:family\/)?([^/]+)$/.exec(v);
  return bare ? fromProjectAndName(undefined, bare[1], raw.value) : { confidentialSpace: "unknown", debug: false, shown: raw.value };
}

/** The boot image of an instance or instance template, as configured. */
export function bootImage(resource: TfResource): unknown {
  if (resource.type === "google_compute_instance") return dig(resource.config, "boot_disk.initialize_params.image");
  const disks = Array.isArray(resource.config.disk) ? resource.config.disk : [resource.config.disk];
  const boot = disks.map(block).find((d) => d && d.boot === true) ?? block(disks[0]);
  return boot?.source_image;
}
