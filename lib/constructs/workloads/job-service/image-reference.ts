/**
 * Image and registry references as the job service's props take them: a full reference naming
 * a registry host and pinning a tag or digest (never a Docker Hub short name), and a registry
 * path without a trailing slash. Validation only; no resources.
 */
import { Token } from "cdktf";
import { InvalidPropsError } from "../../../errors";

/** A container image reference split the way Helm charts and registries want it. */
export interface ImageReference {
  /** Registry host and path, without tag or digest: `us-central1-docker.pkg.dev/p/repo/image`. */
  readonly name: string;
  readonly tag?: string;
  /** `sha256:<64 hex>` */
  readonly digest?: string;
}

const IMAGE_REFERENCE =
  /^(?<name>(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+)(?::(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$/;

/**
 * Parse a full image reference (`registry.host/path/image[:tag][@sha256:…]`). Throws, naming
 * `field`, unless the reference names a registry host (a short name such as `job-service:1`
 * would be pulled from Docker Hub) and pins a tag or a digest.
 */
export function parseImageReference(reference: string, field: string): ImageReference {
  const match = IMAGE_REFERENCE.exec(reference);
  if (!match?.groups || (!match.groups.tag && !match.groups.digest)) {
    throw new InvalidPropsError(
      `${field} "${reference}" is not a full image reference. Use registry-host/path/image:tag or ` +
        `registry-host/path/image@sha256:<digest>, e.g. "us-central1-docker.pkg.dev/my-project/my-repo/job-service@sha256:…".`,
    );
  }
  const { name, tag, digest } = match.groups;
  return { name, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

const REGISTRY_URL = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;

/** Throw unless `url` is a registry path such as `us-central1-docker.pkg.dev/my-project/my-repo`. */
export function requireRegistryUrl(url: string, field: string): void {
  if (Token.isUnresolved(url)) return;
  if (!REGISTRY_URL.test(url)) {
    throw new InvalidPropsError(
      `${field} "${url}" is not a registry path. Pass the Artifact Registry repository URL without a trailing slash, ` +
        `e.g. "us-central1-docker.pkg.dev/my-project/dcr-room-images".`,
    );
  }
}
