/**
 * The clean-room policy rules, written once over plain values. The YAML loader
 * (load.ts) and TypeScript callers (constructs, `assertValidPolicy`) go through the
 * same function; only the locator that turns a field path into a line and column differs.
 * Pure: no cdktf imports.
 */
import { ERROR_CODES, ManateeError } from "../errors";
import { Ipv4Cidr, isPrivateCidr, parseCidr } from "./cidr";
import {
  ACCESS_MODES,
  CleanRoomPolicy,
  DEFAULT_TEE_HARDWARE,
  JUPYTERHUB_AUTHENTICATORS,
  JUPYTERHUB_EGRESS,
  JUPYTERHUB_EXPOSURES,
  JupyterHubAuthenticatorType,
  LOCATION_COMPONENTS,
  STAGE1_KINDS,
  STS_AUDIENCE,
  TEE_HARDWARE,
  TeeHardware,
} from "./model";
import { NAME_RULES } from "./names";
import { checkTrust, TRUST_FIELDS } from "./validate-trust";

/** One problem in a policy, located when it came from a file. */
export interface PolicyIssue {
  readonly file?: string;
  /** 1-based. */
  readonly line?: number;
  /** 1-based. */
  readonly column?: number;
  /** Field path, e.g. `datasets.insurance.stage1.epsilon` or `approvals[0].datasets[1]`; empty for the document itself. */
  readonly path: string;
  readonly expected: string;
  readonly found: string;
  /** `file:line:col: path: ...`, ready to print. */
  readonly message: string;
}

/** Thrown with every issue of a policy at once. */
export class PolicyError extends ManateeError {
  constructor(readonly issues: readonly PolicyIssue[]) {
    super(ERROR_CODES.invalidPolicy, issues.map((i) => i.message).join("\n"));
  }
}

export type PolicyPath = readonly (string | number)[];
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}
/**
 * Maps a field path to a source position. `key` asks for the field's key (unknown fields,
 * dataset names), `value` for its value; a path that does not exist resolves to its
 * deepest existing ancestor.
 */
export type PolicyLocator = (path: PolicyPath, at: "key" | "value") => SourcePosition | undefined;

export interface ValidateOptions {
  /** File name put in front of every message. */
  readonly file?: string;
  readonly locate?: PolicyLocator;
}

// ---- the rules' vocabulary (the JSON schema encodes the same; test/policy/schema.test.ts keeps them in step)

export const POLICY_LIMITS = {
  /** Job timeout bounds (minutes from launch): 10 minutes to a day. */
  minJobTimeoutMinutes: 10,
  maxJobTimeoutMinutes: 1440,
  /** Largest workspace the job service accepts (MiB); bigger belongs in a dataset, not a workspace. */
  maxWorkspaceMiB: 4096,
  maxJobsInProgressPerResearcher: 100,
  /** Longest retention the loader accepts: ten years. Longer is a typo more often than a need. */
  maxRetentionDays: 3650,
  /** Confidential Space caps a custom token audience at 512 bytes. */
  maxAudienceBytes: 512,
  maxDatasetNameLength: 30,
} as const;

const ROOM_NAME = /^[a-z][a-z0-9-]{1,18}[a-z0-9]$/;
const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const REGION = /^[a-z]+-[a-z]+[0-9]{1,2}$/;
const ZONE = /^([a-z]+-[a-z]+[0-9]{1,2})-[a-z]$/;
const DATASET_NAME = /^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$/;
const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const EMAIL = /^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/;
const DOMAIN = /^([A-Za-z0-9-]+\.)+[A-Za-z]{2,}$/;
const BUCKET = /^[a-z0-9][-_a-z0-9]{1,61}[a-z0-9]$/;
const MACHINE_TYPE = /^([a-z][a-z0-9]*)-[a-z0-9-]+$/;
const STATE_PREFIX = /^[^/\s](.*[^/\s])?$/;
const FINGERPRINT = /^[0-9a-f]{64}$/;
/** `host/path@sha256:<64 hex>`: a pull reference pinned by digest. */
const PINNED_IMAGE = /^[a-z0-9][-a-z0-9.]*(:[0-9]+)?(\/[a-z0-9][-a-z0-9._]*)+@(sha256:[0-9a-f]{64})$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
/** An access policy's numeric id, as `accessPolicies/<id>` names it. */
const ACCESS_POLICY_ID = /^[0-9]{1,20}$/;
/** An access level's short name (the part after `accessLevels/`). */
const ACCESS_LEVEL_NAME = /^[A-Za-z][A-Za-z0-9_]{0,49}$/;

/**
 * JupyterHub usernames the job service can carry: ManaTEE names each job's image and
 * Confidential Space VM `<username>-<uuid v1>` (36 chars) within GCE's 63. The JupyterHub
 * construct enforces the same pattern (RESEARCHER_USERNAME_PATTERN; a test keeps them equal).
 */
export const JUPYTERHUB_USERNAME_PATTERN = "^[a-z](?:[a-z0-9-]{0,24}[a-z0-9])?$";
const JUPYTERHUB_USERNAME = new RegExp(JUPYTERHUB_USERNAME_PATTERN);
/** As the JupyterHub construct checks it: https anywhere, plain http only to a port-forward on this machine. */
const OAUTH_CALLBACK = /^(https:\/\/[^/\s]+|http:\/\/(localhost|127\.0\.0\.1)(:\d+)?)\/(.*\/)?hub\/oauth_callback$/;
/** Kubernetes ConfigMap/Secret data keys (IsConfigMapKey). */
const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
const K8S_QUANTITY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const GITHUB_LOGIN = /^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}$/;
/** `org` or `org:team-slug`, as OAuthenticator's allowed_organizations takes them. */
const GITHUB_ORGANIZATION = /^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}(:[A-Za-z0-9_.-]+)?$/;

/** Machine families that run Confidential Space, by the hardware they need (reference/confidential-space.md §4). */
const TDX_FAMILIES = ["c3", "a3"] as const;
const AMD_FAMILIES = ["n2d", "c2d", "c3d"] as const;
const AMD_MODELS: readonly TeeHardware[] = ["GCP_AMD_SEV", "GCP_AMD_SEV_ES"];

const FIELDS = {
  root: [
    "name", "project", "region", "zone", "residency", "tee", "verifier", "datasets", "approvals", "researchers", "backend",
    "jupyterhub", "cluster", "database", "jobs", "vpcServiceControls", "locations", ...TRUST_FIELDS.root,
  ],
  tee: ["hardware", "machineType", "allowDebug"],
  verifier: ["audience"],
  dataset: ["retentionDays", "stage1", "access", "owners", "approverKey"],
  approverKey: ["fingerprint"],
  jobs: ["executorBases", "executorBase", "maxJobsInProgressPerResearcher", "timeoutMinutes", "allowEnvOverrides", "maxWorkspaceMiB"],
  approval: ["imageDigest", "datasets", "purpose", "approvedBy", "expires", ...TRUST_FIELDS.approval],
  backend: ["bucket", "prefix"],
  jupyterhub: ["authenticator", "users", "admins", "exposure", "storageCapacity", "egress", "helm"],
  jupyterhubHelm: ["timeoutSeconds", "atomic"],
  cluster: ["authorizedNetworks", "publicEndpoint", "deletionProtection"],
  authorizedNetwork: ["cidr", "name"],
  database: ["deletionProtection"],
  vpcServiceControls: ["accessPolicy", "accessLevels"],
  locations: LOCATION_COMPONENTS,
} as const;

const OAUTH_FIELDS = ["clientId", "clientSecret", "clientSecretKey", "callbackUrl"] as const;
/** Fields each authenticator type takes, besides `type`. */
const AUTHENTICATOR_FIELDS: Record<JupyterHubAuthenticatorType, readonly string[]> = {
  google: [...OAUTH_FIELDS, "hostedDomains"],
  github: [...OAUTH_FIELDS, "allowedOrganizations"],
  "generic-oauth": [...OAUTH_FIELDS, "authorizeUrl", "tokenUrl", "userdataUrl", "usernameClaim"],
  dummy: ["acknowledgeInsecure"],
};

/** Parameters each stage-1 kind takes, besides `kind`. */
const STAGE1_PARAMETERS: Record<(typeof STAGE1_KINDS)[number], readonly string[]> = {
  "dp-synthetic": ["mechanism", "epsilon", "delta"],
  sample: ["fraction"],
  none: [],
};

const EXPECT = {
  name: "a clean room name: 3-20 lowercase letters, digits or '-', starting with a letter and not ending with '-'",
  project: "a Google Cloud project ID: 6-30 lowercase letters, digits or '-', starting with a letter and not ending with '-'",
  region: 'a Google Cloud region such as "us-central1"',
  zone: 'a Google Cloud zone such as "us-central1-a"',
  datasetName: `a dataset name: up to ${POLICY_LIMITS.maxDatasetNameLength} lowercase letters, digits or '-', starting with a letter and not ending with '-'`,
  principal: "an IAM principal: user:<email>, group:<email>, serviceAccount:<email> or domain:<domain>",
  digest: 'an image digest: "sha256:" followed by 64 lowercase hex digits',
  date: "an ISO date YYYY-MM-DD that exists in the calendar",
  approvedBy: "the approver's e-mail address",
  principals: "a list of IAM principals (user:<email>, group:<email>, serviceAccount:<email> or domain:<domain>)",
  datasets: "a map of at least one dataset name to its settings",
  approvalDatasets: "a non-empty list of declared dataset names",
  purpose: "a non-empty description of what the image computes",
  stage1: "the stage-1 settings: { kind: dp-synthetic | sample | none, ... }",
  kind: `one of ${STAGE1_KINDS.join(", ")}`,
  mechanism: 'a DP mechanism name such as "mst" or "aim"',
  machineType:
    "a Confidential Space machine type: c3-* or a3-* (Intel TDX), n2d-*, c2d-* or c3d-* (AMD SEV)",
  audience: `an https:// URL of at most ${POLICY_LIMITS.maxAudienceBytes} bytes (Confidential Space's custom audience limit)`,
  bucket: "a Cloud Storage bucket name: 3-63 lowercase letters, digits, '-' or '_'",
  prefix: 'a path inside the bucket such as "manatee/insurance-study" (no leading or trailing \'/\')',
  jupyterhub: "the JupyterHub settings: { authenticator, users, admins, exposure, storageCapacity, egress }",
  authenticator: `the sign-in settings: { type: ${JUPYTERHUB_AUTHENTICATORS.join(" | ")}, ... }`,
  authenticatorType: `one of ${JUPYTERHUB_AUTHENTICATORS.join(", ")}`,
  clientId: "the OAuth client ID the identity provider issued",
  clientSecret:
    "the name of the Kubernetes Secret that holds the OAuth client secret: up to 63 lowercase letters, digits or '-', starting and ending with a letter or digit",
  clientSecretKey: "a key of that Secret: up to 253 letters, digits, '-', '_' or '.'",
  callbackUrl:
    "the OAuth redirect URI: https://<host>/hub/oauth_callback, or http://localhost:<port>/hub/oauth_callback behind kubectl port-forward",
  hostedDomains: "a non-empty list of Google Workspace or Cloud Identity domains such as example.org",
  domain: "a domain such as example.org",
  organizations: "a list of GitHub organizations (org or org:team)",
  organization: "a GitHub organization, or org:team",
  oauthUrl: "an https:// URL",
  usernameClaim: 'the userdata claim that holds the username, such as "preferred_username"',
  acknowledgeInsecure: "exactly true: you accept that anyone who reaches the hub can sign in under any name",
  users: "a map of sign-in identity to JupyterHub username",
  username:
    "a JupyterHub username: 1-26 lowercase letters, digits or '-', starting with a letter and not ending with '-' (ManaTEE names each job <username>-<uuid>, at most 63 characters)",
  admins: "a list of usernames from jupyterhub.users",
  storageCapacity: 'a Kubernetes quantity such as "20Gi"',
  cluster: "the cluster settings: { authorizedNetworks, publicEndpoint, deletionProtection }",
  authorizedNetworks: "a list of networks: { cidr, name }",
  authorizedNetwork: "an authorized network: { cidr, name }",
  cidr: 'an IPv4 CIDR block with no host bits set, such as "203.0.113.0/24"',
  networkName: 'a non-empty name for the network, such as "office"',
  database: "the database settings: { deletionProtection }",
  deletionProtection: "true or false (false only for throwaway rooms)",
  approverKey:
    "the approver key: { fingerprint } (print it with `manatee jobs approver-key --dataset <dataset>` after the first deploy)",
  fingerprint:
    "64 lowercase hex digits: the SHA-256 of the approver key's DER public key, as `manatee jobs approver-key --dataset <dataset>` prints it",
  jobs: "the job settings: { executorBases, executorBase, maxJobsInProgressPerResearcher, timeoutMinutes, allowEnvOverrides, maxWorkspaceMiB }",
  executorBases: 'a list of approved executor base digests ("sha256:" followed by 64 lowercase hex digits)',
  executorBase: 'a pull reference pinned by digest, such as "us-central1-docker.pkg.dev/p/repo/executor@sha256:<64 hex>"',
  envName: "an environment variable name: uppercase letters, digits and '_', not starting with a digit",
  vpcServiceControls: "the VPC Service Controls settings: { accessPolicy, accessLevels }",
  accessPolicy: 'the numeric id of the organization\'s access policy, quoted, such as "123456789012" (gcloud access-context-manager policies list)',
  accessLevels: "a list of access level names in that policy",
  accessLevel: "an access level's short name (the part after accessLevels/): a letter, then up to 49 letters, digits or '_'",
} as const;

// ---- describing what was found

/** A short description of a value as found in the input: `a list`, `the string "yes"`, `-1`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing (the field is missing)";
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return value.length === 0 ? "an empty list" : "a list";
  if (value instanceof Date) return "a date object";
  if (value instanceof Uint8Array) return "binary data";
  switch (typeof value) {
    case "string": {
      if (value.length === 0) return "an empty string";
      const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
      return `the string ${JSON.stringify(shown)}`;
    }
    case "number":
    case "boolean":
    case "bigint":
      return String(value);
    case "object":
      return Object.keys(value as object).length === 0 ? "an empty map" : "a map";
    default:
      return `a ${typeof value}`;
  }
}

/** `datasets.insurance.stage1`, `approvals[0].datasets[1]`; odd keys are quoted. */
export function formatPath(path: PolicyPath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Damerau-free Levenshtein distance; inputs are short field names. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = saved;
    }
  }
  return row[b.length];
}

/** The known word a typo most likely meant, if one is close enough. */
export function closest(word: string, known: readonly string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_ ]/g, "");
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of known) {
    const [w, k] = [squash(word), squash(candidate)];
    // Same word up to case and separators, or a clear abbreviation ("dp-synth"), else edit distance.
    const score = w === k ? 0 : w.length >= 3 && k.startsWith(w) ? 1 : distance(word.toLowerCase(), candidate.toLowerCase());
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  return bestScore <= limit ? best : undefined;
}

// ---- the checker

interface RawIssue {
  readonly path: PolicyPath;
  readonly at: "key" | "value";
  readonly expected: string;
  readonly found: string;
  /** Replaces `expected X, found Y` in the message. */
  readonly detail?: string;
}

type Plain = Record<string, unknown>;

function isPlainMap(value: unknown): value is Plain {
  return (
    value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Date) && !(value instanceof Uint8Array)
  );
}

class Checker {
  readonly issues: RawIssue[] = [];

  fail(path: PolicyPath, expected: string, value: unknown, extra: Partial<Pick<RawIssue, "at" | "detail" | "found">> = {}): undefined {
    this.issues.push({ path, at: extra.at ?? "value", expected, found: extra.found ?? describeValue(value), detail: extra.detail });
    return undefined;
  }

  /** A map with only `known` fields (undefined values count as absent) and every `required` field (name → expectation). */
  map(path: PolicyPath, value: unknown, expected: string, known: readonly string[], required: Record<string, string> = {}): Plain | undefined {
    if (!isPlainMap(value)) return this.fail(path, expected, value);
    for (const key of Object.keys(value)) {
      if (value[key] === undefined || known.includes(key)) continue;
      this.unknownField([...path, key], key, known);
    }
    for (const [key, expectation] of Object.entries(required)) {
      if (value[key] === undefined) this.fail([...path, key], expectation, undefined);
    }
    return value;
  }

  unknownField(path: PolicyPath, key: string, known: readonly string[], detailPrefix = "unknown field"): void {
    const guess = closest(key, known);
    const list = `one of ${known.join(", ")}`;
    this.issues.push({
      path,
      at: "key",
      expected: list,
      found: `the field ${JSON.stringify(key)}`,
      detail: `${detailPrefix}; expected ${list}${guess ? `; did you mean "${guess}"?` : ""}`,
    });
  }

  string(path: PolicyPath, value: unknown, expected: string, valid: (s: string) => boolean): string | undefined {
    if (typeof value !== "string" || !valid(value)) return this.fail(path, expected, value);
    return value;
  }

  oneOf<T extends string>(path: PolicyPath, value: unknown, allowed: readonly T[], hint?: (found: string) => string | undefined): T | undefined {
    if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
    const expected = `one of ${allowed.join(", ")}`;
    if (typeof value !== "string") return this.fail(path, expected, value);
    const guess = closest(value, allowed);
    const extra = hint?.(value) ?? (guess ? `did you mean "${guess}"?` : undefined);
    return this.fail(path, expected, value, extra ? { detail: `expected ${expected}, found ${describeValue(value)}; ${extra}` } : {});
  }

  number(path: PolicyPath, value: unknown, expected: string, valid: (n: number) => boolean): number | undefined {
    if (typeof value !== "number" || !Number.isFinite(value) || !valid(value)) return this.fail(path, expected, value);
    return value;
  }

  /** A list whose items pass `item`; duplicates are errors (they would become duplicate IAM grants). */
  list<T>(
    path: PolicyPath,
    value: unknown,
    expected: string,
    item: (path: PolicyPath, value: unknown) => T | undefined,
    opts: { nonEmpty?: boolean; unique?: boolean } = {},
  ): T[] | undefined {
    if (!Array.isArray(value) || (opts.nonEmpty && value.length === 0)) return this.fail(path, expected, value);
    const out: T[] = [];
    const seen = new Map<string, number>();
    value.forEach((v, i) => {
      const checked = item([...path, i], v);
      if (checked === undefined) return;
      const key = JSON.stringify(v);
      if (opts.unique !== false && seen.has(key)) {
        this.fail([...path, i], "each entry once", v, {
          detail: `duplicate entry ${describeValue(v)}, already at ${formatPath([...path, seen.get(key)!])}; list each entry once`,
        });
        return;
      }
      seen.set(key, i);
      out.push(checked);
    });
    return out;
  }

  principal(path: PolicyPath, value: unknown): string | undefined {
    if (value === "allUsers" || value === "allAuthenticatedUsers") {
      return this.fail(path, EXPECT.principal, value, {
        detail: `expected ${EXPECT.principal}, found ${describeValue(value)}: a clean room never grants public access`,
      });
    }
    if (typeof value !== "string") return this.fail(path, EXPECT.principal, value);
    const colon = value.indexOf(":");
    const kind = colon > 0 ? value.slice(0, colon) : "";
    const id = value.slice(colon + 1);
    const ok =
      (["user", "group", "serviceAccount"].includes(kind) && EMAIL.test(id)) || (kind === "domain" && DOMAIN.test(id));
    return ok ? value : this.fail(path, EXPECT.principal, value);
  }
}

// ---- the rules

/** Zone `us-central1-a` lies in region `us-central1`. */
function zoneRegion(zone: string): string | undefined {
  return ZONE.exec(zone)?.[1];
}

/** A real calendar date (rejects 2027-02-30). */
export function isCalendarDate(value: string): boolean {
  const m = ISO_DATE.exec(value);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

function machineFamily(machineType: string): string | undefined {
  return MACHINE_TYPE.exec(machineType)?.[1];
}

function checkAudience(c: Checker, path: PolicyPath, value: unknown): void {
  if (typeof value !== "string") {
    c.fail(path, EXPECT.audience, value);
    return;
  }
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== "https:" || !url.hostname || Buffer.byteLength(value, "utf8") > POLICY_LIMITS.maxAudienceBytes) {
    const bytes = Buffer.byteLength(value, "utf8");
    c.fail(path, EXPECT.audience, value, bytes > POLICY_LIMITS.maxAudienceBytes ? { found: `a string of ${bytes} bytes` } : {});
    return;
  }
  if (url.hostname === new URL(STS_AUDIENCE).hostname) {
    c.fail(
      path,
      `your verifier's own audience, not ${STS_AUDIENCE} (reserved for the default token Google STS accepts; a verifier accepting it would accept replayed STS tokens)`,
      value,
    );
  }
}

function checkStage1(c: Checker, path: PolicyPath, value: unknown): void {
  const all = ["kind", ...new Set(Object.values(STAGE1_PARAMETERS).flat())];
  if (!isPlainMap(value)) {
    c.fail(path, EXPECT.stage1, value);
    return;
  }
  const kind = value.kind === undefined ? c.fail([...path, "kind"], EXPECT.kind, undefined) : c.oneOf([...path, "kind"], value.kind, STAGE1_KINDS);
  // With an unknown kind, only flag fields no kind takes: anything more would be noise.
  const params = kind ? STAGE1_PARAMETERS[kind] : all.slice(1);
  const known = ["kind", ...params];
  for (const key of Object.keys(value)) {
    if (value[key] === undefined || known.includes(key)) continue;
    if (kind && all.includes(key)) c.unknownField([...path, key], key, known, `not a parameter of stage1 kind ${kind}`);
    else c.unknownField([...path, key], key, known);
  }
  if (kind === "dp-synthetic") {
    const p = (k: string) => [...path, k];
    if (value.mechanism === undefined) c.fail(p("mechanism"), EXPECT.mechanism, undefined);
    else c.string(p("mechanism"), value.mechanism, EXPECT.mechanism, (s) => s.trim().length > 0);
    c.number(p("epsilon"), value.epsilon, "a number > 0", (n) => n > 0);
    if (value.delta !== undefined) c.number(p("delta"), value.delta, "a number >= 0 and < 1", (n) => n >= 0 && n < 1);
  } else if (kind === "sample") {
    c.number([...path, "fraction"], value.fraction, "a number > 0 and <= 1", (n) => n > 0 && n <= 1);
  }
}

function checkTee(c: Checker, value: unknown): void {
  if (value === undefined) return;
  const tee = c.map(["tee"], value, "the TEE settings: { hardware, machineType, allowDebug }", FIELDS.tee);
  if (!tee) return;
  let hardware: readonly TeeHardware[] | undefined = DEFAULT_TEE_HARDWARE;
  if (tee.hardware !== undefined) {
    hardware = c.list(
      ["tee", "hardware"],
      tee.hardware,
      `a non-empty list of ${TEE_HARDWARE.join(", ")}`,
      (p, v) =>
        c.oneOf(p, v, TEE_HARDWARE, (found) =>
          found === "INTEL_TDX"
            ? 'INTEL_TDX is what Intel Trust Authority tokens carry; Google\'s attestation says "GCP_INTEL_TDX"'
            : undefined,
        ),
      { nonEmpty: true },
    );
    if (hardware && (tee.hardware as unknown[]).length !== hardware.length) hardware = undefined;
  }
  if (tee.machineType !== undefined) {
    const machineType = c.string(["tee", "machineType"], tee.machineType, EXPECT.machineType, (s) => {
      const family = machineFamily(s);
      return family !== undefined && [...TDX_FAMILIES, ...AMD_FAMILIES].includes(family as never);
    });
    const family = machineType && machineFamily(machineType);
    if (family && hardware) {
      const tdx = (TDX_FAMILIES as readonly string[]).includes(family);
      if (tdx && !hardware.includes("GCP_INTEL_TDX")) {
        c.fail(["tee", "machineType"], `an AMD SEV machine type (n2d-*, c2d-*, c3d-*) for tee.hardware [${hardware.join(", ")}]`, machineType, {
          found: `${describeValue(machineType)}, which runs Intel TDX; add GCP_INTEL_TDX to tee.hardware or pick an AMD machine type`,
        });
      } else if (!tdx && !hardware.some((h) => AMD_MODELS.includes(h))) {
        c.fail(["tee", "machineType"], `an Intel TDX machine type (c3-*, a3-*) for tee.hardware [${hardware.join(", ")}]`, machineType, {
          found: `${describeValue(machineType)}, which runs AMD SEV; add GCP_AMD_SEV to tee.hardware or pick a c3-* machine type`,
        });
      }
    }
  }
  if (tee.allowDebug !== undefined && typeof tee.allowDebug !== "boolean") {
    c.fail(["tee", "allowDebug"], "true or false (true only for non-production rooms)", tee.allowDebug);
  }
}

function checkDatasets(c: Checker, value: unknown): string[] {
  const expected = EXPECT.datasets;
  if (value === undefined) return [];
  if (!isPlainMap(value) || Object.keys(value).length === 0) {
    c.fail(["datasets"], expected, value);
    return [];
  }
  for (const [name, settings] of Object.entries(value)) {
    const path = ["datasets", name];
    if (!DATASET_NAME.test(name)) c.fail(path, EXPECT.datasetName, name, { at: "key" });
    const d = c.map(path, settings, "the dataset's settings: { stage1, retentionDays, access, owners, approverKey }", FIELDS.dataset, {
      stage1: EXPECT.stage1,
    });
    if (!d) continue;
    if (d.retentionDays !== undefined) {
      c.number([...path, "retentionDays"], d.retentionDays, `a whole number of days from 1 to ${POLICY_LIMITS.maxRetentionDays}`, (n) =>
        Number.isInteger(n) && n >= 1 && n <= POLICY_LIMITS.maxRetentionDays,
      );
    }
    if (d.stage1 !== undefined) checkStage1(c, [...path, "stage1"], d.stage1);
    if (d.access !== undefined) c.oneOf([...path, "access"], d.access, ACCESS_MODES);
    if (d.owners !== undefined) {
      c.list([...path, "owners"], d.owners, EXPECT.principals, (p, v) => c.principal(p, v));
    }
    if (d.approverKey !== undefined) {
      const key = c.map([...path, "approverKey"], d.approverKey, EXPECT.approverKey, FIELDS.approverKey, { fingerprint: EXPECT.fingerprint });
      if (key?.fingerprint !== undefined) {
        const fp = key.fingerprint;
        // The likeliest mistakes: an uppercase or colon-separated hex dump, or a `sha256:` prefix.
        const hint =
          typeof fp === "string" && /^(sha256:)?[0-9a-fA-F:]+$/.test(fp) && fp.replace(/^sha256:/, "").replace(/:/g, "").toLowerCase().length === 64
            ? `; write it as ${JSON.stringify(fp.replace(/^sha256:/, "").replace(/:/g, "").toLowerCase())}`
            : "";
        if (typeof fp !== "string" || !FINGERPRINT.test(fp)) {
          c.fail([...path, "approverKey", "fingerprint"], EXPECT.fingerprint, fp, hint ? { detail: `expected ${EXPECT.fingerprint}, found ${describeValue(fp)}${hint}` } : {});
        }
      }
    }
  }
  return Object.keys(value);
}

function checkJobs(c: Checker, value: unknown): void {
  const jobs = c.map(["jobs"], value, EXPECT.jobs, FIELDS.jobs);
  if (!jobs) return;
  const p = (k: string) => ["jobs", k];
  let bases: string[] | undefined;
  if (jobs.executorBases !== undefined) {
    bases = c.list(p("executorBases"), jobs.executorBases, EXPECT.executorBases, (q, v) => c.string(q, v, EXPECT.digest, (s) => IMAGE_DIGEST.test(s)));
  }
  if (jobs.executorBase !== undefined) {
    const ref = c.string(p("executorBase"), jobs.executorBase, EXPECT.executorBase, (s) => PINNED_IMAGE.test(s));
    const digest = ref ? PINNED_IMAGE.exec(ref)![3] : undefined;
    // Only a fully valid list proves the digest missing.
    const listValid = bases !== undefined && bases.length === (jobs.executorBases as unknown[]).length;
    if (digest && (jobs.executorBases === undefined || (listValid && !bases!.includes(digest)))) {
      c.fail(p("executorBase"), "a pull reference whose digest is in jobs.executorBases", ref, {
        detail: `the digest ${digest} of jobs.executorBase is not in jobs.executorBases, so no job built from it could be approved; add "${digest}" to jobs.executorBases or pin executorBase to an approved base`,
      });
    }
  }
  if (jobs.maxJobsInProgressPerResearcher !== undefined) {
    const max = POLICY_LIMITS.maxJobsInProgressPerResearcher;
    c.number(p("maxJobsInProgressPerResearcher"), jobs.maxJobsInProgressPerResearcher, `a whole number from 1 to ${max}`, (n) => Number.isInteger(n) && n >= 1 && n <= max);
  }
  if (jobs.timeoutMinutes !== undefined) {
    const { minJobTimeoutMinutes: lo, maxJobTimeoutMinutes: hi } = POLICY_LIMITS;
    c.number(p("timeoutMinutes"), jobs.timeoutMinutes, `a whole number of minutes from ${lo} to ${hi} (a day)`, (n) => Number.isInteger(n) && n >= lo && n <= hi);
  }
  if (jobs.allowEnvOverrides !== undefined) {
    c.list(p("allowEnvOverrides"), jobs.allowEnvOverrides, "a list of environment variable names", (q, v) => c.string(q, v, EXPECT.envName, (s) => ENV_NAME.test(s)));
  }
  if (jobs.maxWorkspaceMiB !== undefined) {
    const max = POLICY_LIMITS.maxWorkspaceMiB;
    c.number(p("maxWorkspaceMiB"), jobs.maxWorkspaceMiB, `a whole number of MiB from 1 to ${max}`, (n) => Number.isInteger(n) && n >= 1 && n <= max);
  }
}

function checkApprovals(c: Checker, value: unknown, datasets: readonly string[]): void {
  if (value === undefined) return;
  c.list(["approvals"], value, "a list of approvals", (path, item) => {
    const a = c.map(path, item, "an approval: { imageDigest, datasets, purpose, approvedBy, expires }", FIELDS.approval, {
      imageDigest: EXPECT.digest,
      datasets: EXPECT.approvalDatasets,
      purpose: EXPECT.purpose,
      approvedBy: EXPECT.approvedBy,
    });
    if (!a) return undefined;
    if (a.imageDigest !== undefined) c.string([...path, "imageDigest"], a.imageDigest, EXPECT.digest, (s) => IMAGE_DIGEST.test(s));
    if (a.datasets !== undefined) {
      const expected = datasets.length ? `a declared dataset (one of ${datasets.join(", ")})` : "a declared dataset";
      c.list([...path, "datasets"], a.datasets, EXPECT.approvalDatasets, (p, v) => {
        if (typeof v === "string" && datasets.includes(v)) return v;
        const guess = typeof v === "string" ? closest(v, datasets) : undefined;
        return c.fail(p, expected, v, guess ? { detail: `expected ${expected}, found ${describeValue(v)}; did you mean "${guess}"?` } : {});
      }, { nonEmpty: true });
    }
    if (a.purpose !== undefined) c.string([...path, "purpose"], a.purpose, EXPECT.purpose, (s) => s.trim().length > 0);
    if (a.approvedBy !== undefined) c.string([...path, "approvedBy"], a.approvedBy, EXPECT.approvedBy, (s) => EMAIL.test(s));
    if (a.expires !== undefined) c.string([...path, "expires"], a.expires, EXPECT.date, isCalendarDate);
    return a;
  }, { unique: false });
}

// ---- deployment settings (jupyterhub, cluster, database, vpcServiceControls): the JupyterHub and CleanRoomCluster
// constructs check the same things; test/policy/deployment.test.ts keeps them in step.

function checkHttpsUrl(c: Checker, path: PolicyPath, value: unknown): void {
  let url: URL | undefined;
  try {
    url = typeof value === "string" && !/\s/.test(value) ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== "https:" || !url.hostname) c.fail(path, EXPECT.oauthUrl, value);
}

/** What the identity provider returns as the sign-in name, by authenticator type. */
function checkIdentity(
  c: Checker,
  path: PolicyPath,
  identity: string,
  type: JupyterHubAuthenticatorType | undefined,
  domains: readonly string[] | undefined,
): void {
  if (type === "google") {
    const domain = EMAIL.test(identity) ? identity.split("@")[1].toLowerCase() : undefined;
    if (domains && (!domain || !domains.some((d) => d.toLowerCase() === domain))) {
      const expected = `an e-mail address in jupyterhub.authenticator.hostedDomains [${domains.join(", ")}] (Google sign-in returns e-mail addresses)`;
      c.fail(path, expected, identity, { at: "key" });
    }
  } else if (type === "github") {
    if (!GITHUB_LOGIN.test(identity)) {
      const expected = "a GitHub login (GitHub sign-in returns logins, not e-mail addresses)";
      c.fail(path, expected, identity, { at: "key" });
    }
  } else if (identity.trim() === "" || /\s/.test(identity)) {
    c.fail(path, "a sign-in name without spaces", identity, { at: "key" });
  }
}

/** What the rest of the hub's rules need from the authenticator: its type, its valid hosted domains, how many organizations it admits. */
interface AuthenticatorFacts {
  readonly type?: JupyterHubAuthenticatorType;
  readonly domains?: readonly string[];
  readonly organizations: number;
}

function checkAuthenticator(c: Checker, path: PolicyPath, value: unknown): AuthenticatorFacts {
  const all = ["type", ...new Set(Object.values(AUTHENTICATOR_FIELDS).flat())];
  if (!isPlainMap(value)) {
    c.fail(path, EXPECT.authenticator, value);
    return { organizations: 0 };
  }
  const p = (k: string) => [...path, k];
  const type =
    value.type === undefined
      ? c.fail(p("type"), EXPECT.authenticatorType, undefined)
      : c.oneOf(p("type"), value.type, JUPYTERHUB_AUTHENTICATORS, (found) =>
          closest(found, JUPYTERHUB_AUTHENTICATORS) ? undefined : "any other OAuth 2.0 or OpenID Connect provider is generic-oauth",
        );
  // With an unknown type, only flag fields no type takes (as for stage1 kinds).
  const known = ["type", ...(type ? AUTHENTICATOR_FIELDS[type] : all.slice(1))];
  for (const key of Object.keys(value)) {
    if (value[key] === undefined || known.includes(key)) continue;
    if (type && all.includes(key)) c.unknownField(p(key), key, known, `not a field of authenticator type ${type}`);
    else c.unknownField(p(key), key, known);
  }
  if (!type) return { organizations: 0 };
  if (type === "dummy") {
    if (value.acknowledgeInsecure !== true) c.fail(p("acknowledgeInsecure"), EXPECT.acknowledgeInsecure, value.acknowledgeInsecure);
    return { type, organizations: 0 };
  }
  const required = (key: string, expected: string, valid: (v: unknown) => boolean, extra?: (v: unknown) => Partial<Pick<RawIssue, "detail" | "found">>) => {
    const v = value[key];
    if (v === undefined || !valid(v)) c.fail(p(key), expected, v, v === undefined ? {} : (extra?.(v) ?? {}));
  };
  const nonBlank = (v: unknown) => typeof v === "string" && v.trim().length > 0;
  required("clientId", EXPECT.clientId, nonBlank);
  required(
    "clientSecret",
    EXPECT.clientSecret,
    (v) => typeof v === "string" && v.length <= NAME_RULES.kubernetesName.max && NAME_RULES.kubernetesName.pattern.test(v),
    // The construct's shape ({ secretName, key }) is the likeliest mistake.
    (v) =>
      isPlainMap(v)
        ? { detail: `expected ${EXPECT.clientSecret}, found a map; write the Secret's name here and its key in clientSecretKey` }
        : {},
  );
  if (value.clientSecretKey !== undefined) {
    c.string(p("clientSecretKey"), value.clientSecretKey, EXPECT.clientSecretKey, (s) => SECRET_KEY.test(s) && s !== "." && s !== "..");
  }
  required("callbackUrl", EXPECT.callbackUrl, (v) => typeof v === "string" && OAUTH_CALLBACK.test(v));
  let domains: string[] | undefined;
  let organizations = 0;
  if (type === "google") {
    domains = c.list(p("hostedDomains"), value.hostedDomains, EXPECT.hostedDomains, (q, v) => c.string(q, v, EXPECT.domain, (s) => DOMAIN.test(s)), {
      nonEmpty: true,
    });
    if (domains && domains.length !== (value.hostedDomains as unknown[]).length) domains = undefined;
  } else if (type === "github") {
    if (value.allowedOrganizations !== undefined) {
      organizations =
        c.list(p("allowedOrganizations"), value.allowedOrganizations, EXPECT.organizations, (q, v) =>
          c.string(q, v, EXPECT.organization, (s) => GITHUB_ORGANIZATION.test(s)),
        )?.length ?? 0;
    }
  } else {
    for (const key of ["authorizeUrl", "tokenUrl", "userdataUrl"]) {
      if (value[key] === undefined) c.fail(p(key), EXPECT.oauthUrl, undefined);
      else checkHttpsUrl(c, p(key), value[key]);
    }
    if (value.usernameClaim !== undefined) c.string(p("usernameClaim"), value.usernameClaim, EXPECT.usernameClaim, (s) => /^\S+$/.test(s));
  }
  return { type, domains, organizations };
}

function checkJupyterHub(c: Checker, value: unknown, allowDebug: unknown): void {
  const hub = c.map(["jupyterhub"], value, EXPECT.jupyterhub, FIELDS.jupyterhub, { authenticator: EXPECT.authenticator });
  if (!hub) return;
  const authPath = ["jupyterhub", "authenticator"];
  const auth: AuthenticatorFacts = hub.authenticator === undefined ? { organizations: 0 } : checkAuthenticator(c, authPath, hub.authenticator);

  if (auth.type === "dummy" && allowDebug !== true) {
    const debug = allowDebug === undefined ? "tee.allowDebug is not set (false)" : `tee.allowDebug is ${describeValue(allowDebug)}`;
    c.fail([...authPath, "type"], "google, github or generic-oauth in a production room", "dummy", {
      found: `the string "dummy" while ${debug}`,
      detail:
        `the dummy authenticator lets anyone sign in under any name, so it needs a non-production room (tee.allowDebug: true), ` +
        `but ${debug}; configure a google, github or generic-oauth authenticator`,
    });
  }

  // Users: identity → username, both unique (identities as JupyterHub compares them: lower-cased).
  const usernames = new Map<string, string>();
  /** Every username written, valid or not: admins are checked against these (no second error for one typo). */
  const named = new Set<string>();
  let userCount = 0;
  if (hub.users !== undefined) {
    const users = isPlainMap(hub.users) ? hub.users : c.fail(["jupyterhub", "users"], EXPECT.users, hub.users);
    const identities = new Map<string, string>();
    for (const [identity, username] of Object.entries(users ?? {})) {
      if (username === undefined) continue;
      userCount++;
      const path = ["jupyterhub", "users", identity];
      checkIdentity(c, path, identity, auth.type, auth.domains);
      const lower = identity.toLowerCase();
      const same = identities.get(lower);
      if (same !== undefined) {
        c.fail(path, "each sign-in identity once", identity, {
          at: "key",
          detail: `${JSON.stringify(identity)} is the same identity as ${JSON.stringify(same)} once lower-cased (JupyterHub compares lower-cased names); list each identity once`,
        });
      }
      identities.set(lower, identity);
      if (typeof username === "string") named.add(username);
      if (typeof username !== "string" || !JUPYTERHUB_USERNAME.test(username)) {
        c.fail(path, EXPECT.username, username);
        continue;
      }
      const other = usernames.get(username);
      if (other !== undefined) {
        c.fail(path, "a username of its own", username, {
          detail: `the username ${JSON.stringify(username)} is already ${JSON.stringify(other)}'s; two identities would share one account and its jobs, give each its own username`,
        });
        continue;
      }
      usernames.set(username, identity);
    }
  }
  if (auth.type !== undefined && auth.type !== "dummy" && userCount === 0 && auth.organizations === 0) {
    const orgs = auth.type === "github" ? " (or jupyterhub.authenticator.allowedOrganizations)" : "";
    const expected = `at least one sign-in identity mapped to a username, such as { alice@example.org: alice }${orgs}`;
    c.fail(["jupyterhub", "users"], expected, hub.users, {
      detail: `expected ${expected}, found ${describeValue(hub.users)}: otherwise nobody can sign in`,
    });
  }

  if (hub.admins !== undefined) {
    const known = [...usernames.keys()];
    c.list(["jupyterhub", "admins"], hub.admins, EXPECT.admins, (p, v) => {
      if (typeof v === "string" && named.has(v)) return v;
      const expected = known.length ? `a username from jupyterhub.users (one of ${known.join(", ")})` : "a username from jupyterhub.users (it has none)";
      // Admins are usernames; an identity written here is the likeliest mistake.
      const byIdentity = typeof v === "string" ? [...usernames].find(([, id]) => id.toLowerCase() === v.toLowerCase())?.[0] : undefined;
      const guess = byIdentity ?? (typeof v === "string" ? closest(v, known) : undefined);
      return c.fail(p, expected, v, guess ? { detail: `expected ${expected}, found ${describeValue(v)}; did you mean "${guess}"?` } : {});
    });
  }

  let exposure: string | undefined;
  if (hub.exposure !== undefined) {
    exposure = c.oneOf(["jupyterhub", "exposure"], hub.exposure, JUPYTERHUB_EXPOSURES, (found) =>
      /https|public|external|^load-?balancer$/i.test(found)
        ? "a config file never exposes the hub to the internet: use cluster-ip (kubectl port-forward, or an Ingress with IAP you add) or internal-load-balancer (inside the VPC)"
        : undefined,
    );
  }
  if (auth.type === "dummy" && exposure !== undefined && exposure !== "cluster-ip") {
    c.fail(["jupyterhub", "exposure"], "cluster-ip with the dummy authenticator", exposure, {
      detail: `expected cluster-ip with the dummy authenticator, found ${describeValue(exposure)}: anyone who reaches a load balancer could sign in under any name; reach the hub with kubectl port-forward`,
    });
  }
  if (hub.storageCapacity !== undefined) {
    c.string(["jupyterhub", "storageCapacity"], hub.storageCapacity, EXPECT.storageCapacity, (s) => K8S_QUANTITY.test(s));
  }
  if (hub.egress !== undefined) c.oneOf(["jupyterhub", "egress"], hub.egress, JUPYTERHUB_EGRESS);
  if (hub.helm !== undefined) {
    const helm = c.map(["jupyterhub", "helm"], hub.helm, "the Helm release settings: { timeoutSeconds, atomic }", FIELDS.jupyterhubHelm);
    if (helm?.timeoutSeconds !== undefined) {
      c.number(["jupyterhub", "helm", "timeoutSeconds"], helm.timeoutSeconds, "a whole number of seconds from 60 to 3600", (n) => Number.isInteger(n) && n >= 60 && n <= 3600);
    }
    if (helm?.atomic !== undefined) checkBoolean(c, ["jupyterhub", "helm", "atomic"], helm.atomic, "true or false");
  }
}

function checkBoolean(c: Checker, path: PolicyPath, value: unknown, expected: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") return c.fail(path, expected, value);
  return value;
}

function checkCluster(c: Checker, value: unknown): void {
  const cluster = c.map(["cluster"], value, EXPECT.cluster, FIELDS.cluster);
  if (!cluster) return;
  const publicEndpoint = checkBoolean(c, ["cluster", "publicEndpoint"], cluster.publicEndpoint, "true or false");
  checkBoolean(c, ["cluster", "deletionProtection"], cluster.deletionProtection, EXPECT.deletionProtection);
  const cidrs = new Map<string, number>();
  let publicRanges = 0;
  // Only a list whose every entry checked out can prove "no public range".
  let allValid = true;
  if (cluster.authorizedNetworks !== undefined) {
    const checked = c.list(["cluster", "authorizedNetworks"], cluster.authorizedNetworks, EXPECT.authorizedNetworks, (path, item) => {
      const n = c.map(path, item, EXPECT.authorizedNetwork, FIELDS.authorizedNetwork, { cidr: EXPECT.cidr, name: EXPECT.networkName });
      if (n?.name !== undefined) c.string([...path, "name"], n.name, EXPECT.networkName, (s) => s.trim().length > 0);
      const cidr = n?.cidr === undefined ? undefined : checkAuthorizedCidr(c, [...path, "cidr"], n.cidr, cidrs);
      if (!cidr) {
        allValid = false;
        return undefined;
      }
      if (!isPrivateCidr(cidr)) {
        publicRanges++;
        if (publicEndpoint !== true) {
          c.fail([...path, "cidr"], "a private (RFC 1918) range while cluster.publicEndpoint is false", n!.cidr, {
            detail:
              `the public range ${JSON.stringify(n!.cidr)} could never be used: cluster.publicEndpoint is not true, so only the private endpoint takes IP traffic; ` +
              `set cluster.publicEndpoint: true if operators must reach the public IP, or remove it and use the DNS endpoint (IAM-gated)`,
          });
        }
      }
      return cidr;
    }, { unique: false });
    if (!checked) allValid = false;
  }
  if (publicEndpoint === true && allValid && publicRanges === 0) {
    c.fail(["cluster", "publicEndpoint"], "false unless cluster.authorizedNetworks names a public range", true, {
      detail:
        "true needs a public range in cluster.authorizedNetworks, or nobody could use the public endpoint; " +
        "add your operators' public CIDR blocks, or keep publicEndpoint false and use the DNS endpoint (IAM-gated)",
    });
  }
}

/** A well-formed, not too wide, not repeated IPv4 block; `seen` maps blocks to their list index. */
function checkAuthorizedCidr(c: Checker, path: PolicyPath, value: unknown, seen: Map<string, number>): Ipv4Cidr | undefined {
  const cidr = typeof value === "string" ? parseCidr(value) : undefined;
  if (!cidr) return c.fail(path, EXPECT.cidr, value);
  if (cidr.prefix < 8) {
    return c.fail(path, "a block of /8 or longer", value, {
      detail: `expected a block of /8 or longer, found ${describeValue(value)}, which opens the control plane to a large part of the internet; allow only your operators' networks, or use the DNS endpoint, which IAM guards`,
    });
  }
  const index = path[path.length - 2] as number;
  const first = seen.get(value as string);
  if (first !== undefined) {
    return c.fail(path, "each CIDR block once", value, {
      detail: `duplicate CIDR block ${JSON.stringify(value)}, already at ${formatPath([...path.slice(0, -2), first, "cidr"])}; list each block once`,
    });
  }
  seen.set(value as string, index);
  return cidr;
}

function checkDatabase(c: Checker, value: unknown): void {
  const database = c.map(["database"], value, EXPECT.database, FIELDS.database);
  if (database) checkBoolean(c, ["database", "deletionProtection"], database.deletionProtection, EXPECT.deletionProtection);
}

/** `locations`: each component's region, inside the residency set (default [region]). */
function checkLocations(c: Checker, value: unknown, region: string | undefined, residency: readonly string[] | undefined): void {
  const locations = c.map(["locations"], value, "the component locations: { registry, firestore, verifier }", FIELDS.locations);
  if (!locations) return;
  const allowed = residency ?? (region ? [region] : undefined);
  for (const key of LOCATION_COMPONENTS) {
    const raw = locations[key];
    if (raw === undefined) continue;
    const path = ["locations", key];
    if (typeof raw === "string" && !REGION.test(raw) && /^[A-Za-z]+[0-9]*$/.test(raw)) {
      c.fail(path, EXPECT.region, raw, {
        detail: `expected a region of the residency set, found the multi-region "${raw}", which spans regions outside it; use a region such as "${allowed?.[0] ?? "europe-west4"}"`,
      });
      continue;
    }
    const loc = c.string(path, raw, EXPECT.region, (s) => REGION.test(s));
    if (loc && allowed && !allowed.includes(loc)) {
      c.fail(path, `a region of the residency set [${allowed.join(", ")}]`, loc, {
        detail:
          `expected a region of the residency set [${allowed.join(", ")}], found "${loc}": ${key} would keep data outside it. ` +
          `Use one of [${allowed.join(", ")}], or add "${loc}" to "residency" if the data owners allow it.`,
      });
    }
  }
}

function checkVpcServiceControls(c: Checker, value: unknown): void {
  const path = ["vpcServiceControls"];
  const vpcsc = c.map(path, value, EXPECT.vpcServiceControls, FIELDS.vpcServiceControls, { accessPolicy: EXPECT.accessPolicy });
  if (!vpcsc) return;
  const policy = vpcsc.accessPolicy;
  if (typeof policy === "number" && Number.isSafeInteger(policy) && policy > 0) {
    // YAML reads an unquoted id as a number; a large one could lose digits, so the file must quote it.
    c.fail([...path, "accessPolicy"], EXPECT.accessPolicy, policy, {
      detail: `expected ${EXPECT.accessPolicy}, found the number ${policy}; quote it ("${policy}") so no digit is lost`,
    });
  } else if (typeof policy === "string" && policy.startsWith("accessPolicies/")) {
    c.fail([...path, "accessPolicy"], EXPECT.accessPolicy, policy, {
      detail: `expected ${EXPECT.accessPolicy}, found ${describeValue(policy)}; write the id alone ("${policy.slice("accessPolicies/".length)}")`,
    });
  } else if (policy !== undefined) {
    c.string([...path, "accessPolicy"], policy, EXPECT.accessPolicy, (s) => ACCESS_POLICY_ID.test(s));
  }
  if (vpcsc.accessLevels !== undefined) {
    c.list([...path, "accessLevels"], vpcsc.accessLevels, EXPECT.accessLevels, (p, v) => c.string(p, v, EXPECT.accessLevel, (s) => ACCESS_LEVEL_NAME.test(s)));
  }
}

/**
 * Every issue of a policy in input form (what YAML parses to, or a `CleanRoomPolicyInput`).
 * Undefined fields count as absent. Past expiry dates are NOT issues: loading must be
 * reproducible; the guardrails flag expired approvals.
 */
export function validatePolicyInput(input: unknown, options: ValidateOptions = {}): PolicyIssue[] {
  const c = new Checker();
  const root = c.map([], input, "a map of clean room settings (name, project, region, zone, datasets, ...)", FIELDS.root, {
    name: EXPECT.name,
    project: EXPECT.project,
    region: EXPECT.region,
    zone: EXPECT.zone,
    datasets: EXPECT.datasets,
  });
  if (root) {
    if (root.name !== undefined) c.string(["name"], root.name, EXPECT.name, (s) => ROOM_NAME.test(s));
    if (root.project !== undefined) c.string(["project"], root.project, EXPECT.project, (s) => PROJECT_ID.test(s));
    const region = root.region === undefined ? undefined : c.string(["region"], root.region, EXPECT.region, (s) => REGION.test(s));
    if (root.zone !== undefined) {
      const zone = c.string(["zone"], root.zone, EXPECT.zone, (s) => ZONE.test(s));
      if (zone && region && zoneRegion(zone) !== region) {
        c.fail(["zone"], `a zone of region "${region}", such as "${region}-a"`, zone);
      }
    }
    let residency: string[] | undefined;
    if (root.residency !== undefined) {
      residency = c.list(["residency"], root.residency, "a non-empty list of regions", (p, v) => c.string(p, v, EXPECT.region, (s) => REGION.test(s)), {
        nonEmpty: true,
      });
      if (residency && region && !residency.includes(region)) {
        c.fail(["residency"], `a list that includes the clean room's region "${region}" (every data location must lie in it)`, residency, {
          found: `[${residency.join(", ")}]`,
        });
      }
    }
    checkTee(c, root.tee);
    if (root.verifier !== undefined) {
      const verifier = c.map(["verifier"], root.verifier, "the verifier settings: { audience }", FIELDS.verifier);
      if (verifier?.audience !== undefined) checkAudience(c, ["verifier", "audience"], verifier.audience);
    }
    const datasets = checkDatasets(c, root.datasets);
    checkApprovals(c, root.approvals, datasets);
    checkTrust(c, root);
    if (root.researchers !== undefined) {
      c.list(["researchers"], root.researchers, EXPECT.principals, (p, v) => c.principal(p, v));
    }
    if (root.backend !== undefined) {
      const backend = c.map(["backend"], root.backend, "the state backend: { bucket, prefix }", FIELDS.backend, { bucket: EXPECT.bucket });
      if (backend?.bucket !== undefined) c.string(["backend", "bucket"], backend.bucket, EXPECT.bucket, (s) => BUCKET.test(s));
      if (backend?.prefix !== undefined) {
        c.string(["backend", "prefix"], backend.prefix, EXPECT.prefix, (s) => STATE_PREFIX.test(s));
      }
    }
    const allowDebug = isPlainMap(root.tee) ? root.tee.allowDebug : undefined;
    if (root.jupyterhub !== undefined) checkJupyterHub(c, root.jupyterhub, allowDebug);
    if (root.cluster !== undefined) checkCluster(c, root.cluster);
    if (root.database !== undefined) checkDatabase(c, root.database);
    if (root.jobs !== undefined) checkJobs(c, root.jobs);
    if (root.vpcServiceControls !== undefined) checkVpcServiceControls(c, root.vpcServiceControls);
    if (root.locations !== undefined) checkLocations(c, root.locations, region, residency);
  }
  return located(c.issues, options);
}

function located(raw: readonly RawIssue[], options: ValidateOptions): PolicyIssue[] {
  const issues = raw.map((r) => {
    const pos = options.locate?.(r.path, r.at);
    return toIssue({
      file: options.file,
      line: pos?.line,
      column: pos?.column,
      path: formatPath(r.path),
      expected: r.expected,
      found: r.found,
      detail: r.detail,
    });
  });
  // Top to bottom when located; otherwise in rule order.
  return issues
    .map((issue, i) => ({ issue, i }))
    .sort((a, b) => (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) || (a.issue.column ?? 0) - (b.issue.column ?? 0) || a.i - b.i)
    .map(({ issue }) => issue);
}

/** Build an issue and its one-line message: `file:line:col: path: expected X, found Y`. */
export function toIssue(fields: Omit<PolicyIssue, "message"> & { detail?: string }): PolicyIssue {
  const { detail, ...issue } = fields;
  const where = [issue.file, issue.line, issue.line !== undefined ? issue.column : undefined].filter((x) => x !== undefined).join(":");
  const text = detail ?? `expected ${issue.expected}, found ${issue.found}`;
  const message = `${where ? `${where}: ` : ""}${issue.path ? `${issue.path}: ` : ""}${text}`;
  return { ...issue, message };
}

/** Every issue of a normalized policy (e.g. `normalizePolicy` output), by the same rules as YAML. */
export function validatePolicy(policy: CleanRoomPolicy): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const datasets: Record<string, unknown> = {};
  for (const { name, ...settings } of policy.datasets ?? []) {
    if (Object.prototype.hasOwnProperty.call(datasets, name)) {
      issues.push(
        toIssue({ path: formatPath(["datasets", name]), expected: "each dataset name once", found: `the dataset ${JSON.stringify(name)} twice` }),
      );
    }
    datasets[name] = settings;
  }
  return [...issues, ...validatePolicyInput({ ...policy, datasets })];
}

/** Throw a PolicyError listing every issue of `policy`; constructs call this on their input. */
export function assertValidPolicy(policy: CleanRoomPolicy): void {
  const issues = validatePolicy(policy);
  if (issues.length > 0) throw new PolicyError(issues);
}
