/**
 * Consortium parties (docs/consortium-contract.md): each data-owning party's project, datasets,
 * approvals and approvals-signing key. The loader has already replaced `file:` sections by the
 * party file's contents; a `file:` seen here comes from a caller without a file system.
 */
import { createPublicKey } from "node:crypto";
import { Checker, Plain, isPlainMap } from "./checker";
import { checkApprovals } from "./approvals";
import { checkDatasets } from "./datasets";
import { EXPECT } from "./expectations";
import { PolicyPath, describeValue } from "./issues";
import { FIELDS, PARTY_NAME, PROJECT_ID } from "./vocabulary";

/** A compact JWS: its protected header is a JSON object, so it starts with `eyJ` (`{"`). */
export const COMPACT_JWS = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** A P-256 coordinate: 32 bytes, base64url without padding. */
const P256_COORDINATE = /^[A-Za-z0-9_-]{43}$/;
/** A Google Cloud project number: digits, no leading zero. */
export const PROJECT_NUMBER = /^[1-9][0-9]{5,18}$/;

const PARTY_EXPECT = {
  parties: "a map of at least one party name to its section: { project, datasets, approvals, approvalsKey, approvalsSignature } or { file }",
  partyName: "a party name: 1-12 lowercase letters, digits or '-', starting with a letter (it goes into pool ids and stack names)",
  section: "the party's section: { project, datasets, approvals, approvalsKey, approvalsSignature }, or { file: <party file> }",
  file: "the path of the party's file, relative to this file",
  approvalsKey: "the party's approvals-signing key: { jwk: { kty: EC, crv: P-256, x, y } }",
  projectNumber: 'the party\'s project number as a quoted string of digits, e.g. "123456789012" (its stack\'s project_number output)',
  jwk: "an EC P-256 public key as a JWK: { kty: EC, crv: P-256, x, y } with x and y base64url (43 characters each)",
  signature: "a compact JWS (`manatee policy sign` prints it) or the path of a file holding one",
} as const;

/** Who already holds a dataset name or a project, for the "used twice" messages. */
const holder = (party: string | undefined) => (party === undefined ? "the operator (the room's root)" : `party "${party}"`);

/** The `parties` section and the consortium's rules on the root (no datasets or approvals of its own). */
export function checkParties(c: Checker, root: Plain, unsignedParty?: string): void {
  if (root.parties === undefined) return;
  const parties = root.parties;
  if (!isPlainMap(parties) || Object.keys(parties).length === 0) {
    c.fail(["parties"], PARTY_EXPECT.parties, parties);
    return;
  }
  checkOperatorHoldsNothing(c, root);
  const projectOwner = new Map<string, string | undefined>();
  if (typeof root.project === "string") projectOwner.set(root.project, undefined);
  const datasetOwner = new Map<string, string>();
  const sections: [string, Plain][] = [];
  for (const [name, value] of Object.entries(parties)) {
    const path = ["parties", name];
    if (!PARTY_NAME.test(name)) c.fail(path, PARTY_EXPECT.partyName, name, { at: "key" });
    const section = checkSection(c, path, value);
    if (!section) continue;
    sections.push([name, section]);
    const project = section.project === undefined ? undefined : c.string([...path, "project"], section.project, EXPECT.project, (s) => PROJECT_ID.test(s));
    if (project !== undefined) {
      if (projectOwner.has(project)) {
        c.fail([...path, "project"], "a project of this party alone", project, {
          detail: `the project "${project}" is already ${holder(projectOwner.get(project))}'s; each party keeps its data in its own project, distinct from the operator's and every other party's`,
        });
      } else {
        projectOwner.set(project, name);
      }
    }
    checkProjectNumber(c, [...path, "projectNumber"], section.projectNumber);
    for (const dataset of checkDatasets(c, section.datasets, [...path, "datasets"])) {
      const first = datasetOwner.get(dataset);
      if (first !== undefined) {
        c.fail([...path, "datasets", dataset], "a dataset name unique across the room", dataset, {
          at: "key",
          detail: `the dataset name "${dataset}" is already declared by ${holder(first)}; dataset names are unique across the whole room, rename one of them`,
        });
      } else {
        datasetOwner.set(dataset, name);
      }
    }
    checkSigning(c, path, section, name === unsignedParty);
  }
  // After every party's datasets are known: an approval names only its own party's datasets.
  for (const [name, section] of sections) {
    const own = [...datasetOwner].filter(([, p]) => p === name).map(([d]) => d);
    checkApprovals(c, section.approvals, own, ["parties", name, "approvals"], (dataset) => {
      const other = datasetOwner.get(dataset);
      return other === undefined
        ? undefined
        : `the dataset "${dataset}" is party "${other}"'s: each party approves only its own datasets, so party "${other}" approves this image for "${dataset}" in its own section`;
    });
  }
}

/** The operator holds no data and gives no approval: every approval is a party's, for its own datasets. */
function checkOperatorHoldsNothing(c: Checker, root: Plain): void {
  if (root.datasets !== undefined && !(isPlainMap(root.datasets) && Object.keys(root.datasets).length === 0)) {
    c.fail(["datasets"], "no datasets at the root of a consortium room", root.datasets, {
      detail: "a consortium room's operator holds no data: move each dataset under the party whose project holds it (parties.<party>.datasets)",
    });
  }
  if (root.approvals !== undefined && !(Array.isArray(root.approvals) && root.approvals.length === 0)) {
    c.fail(["approvals"], "no approvals at the root of a consortium room", root.approvals, {
      detail: "every approval of a consortium room belongs to the party whose datasets it names: move it under parties.<party>.approvals",
    });
  }
}

/** A party's section, or undefined for a `file:` section (only the loader can read it) or an invalid one. */
function checkSection(c: Checker, path: PolicyPath, value: unknown): Plain | undefined {
  if (isPlainMap(value) && value.file !== undefined) {
    c.string([...path, "file"], value.file, PARTY_EXPECT.file, (s) => s.trim().length > 0);
    for (const key of Object.keys(value)) {
      if (key === "file" || value[key] === undefined) continue;
      c.fail([...path, key], "nothing besides file", value[key], {
        at: "key",
        detail: `"file" names the party's whole section, so "${key}" cannot be set here too; move it into the party's file`,
      });
    }
    return undefined;
  }
  return c.map(path, value, PARTY_EXPECT.section, FIELDS.party, { project: EXPECT.project, datasets: EXPECT.datasets });
}

/** Optional here (a party plans its own stack without it); the operator's workloads stack requires it. */
function checkProjectNumber(c: Checker, path: PolicyPath, value: unknown): void {
  if (value === undefined) return;
  if (typeof value === "number") {
    // YAML reads unquoted digits as a number, which loses nothing here but is not the documented form.
    c.fail(path, PARTY_EXPECT.projectNumber, value, { detail: `expected ${PARTY_EXPECT.projectNumber}, found the number ${value}; quote it` });
    return;
  }
  c.string(path, value, PARTY_EXPECT.projectNumber, (s) => PROJECT_NUMBER.test(s));
}

/** `approvalsKey` pins the party's signing key; with it a signature is required, without it refused. */
function checkSigning(c: Checker, path: PolicyPath, section: Plain, beingSigned: boolean): void {
  const signature = section.approvalsSignature;
  if (section.approvalsKey === undefined) {
    if (signature !== undefined) {
      c.fail([...path, "approvalsSignature"], "no signature without approvalsKey", signature, {
        at: "key",
        detail: "approvalsSignature is set but approvalsKey is not: nobody could check the signature; pin the party's public key in approvalsKey, or remove approvalsSignature",
      });
    }
    return;
  }
  const key = c.map([...path, "approvalsKey"], section.approvalsKey, PARTY_EXPECT.approvalsKey, FIELDS.approvalsKey, { jwk: PARTY_EXPECT.jwk });
  if (key?.jwk !== undefined) checkJwk(c, [...path, "approvalsKey", "jwk"], key.jwk);
  if (signature === undefined) {
    if (beingSigned) return;
    c.fail([...path, "approvalsKey"], PARTY_EXPECT.signature, undefined, {
      at: "key",
      detail: `approvalsKey is set, so approvalsSignature is required: sign the party's approvals with \`manatee policy sign --config <room file> --party ${String(path[1])} --key <private key>\` and set approvalsSignature to the JWS or its file`,
    });
  } else {
    c.string([...path, "approvalsSignature"], signature, PARTY_EXPECT.signature, (s) => COMPACT_JWS.test(s));
  }
}

function checkJwk(c: Checker, path: PolicyPath, value: unknown): void {
  const jwk = c.map(path, value, PARTY_EXPECT.jwk, FIELDS.jwk, { kty: '"EC"', crv: '"P-256"', x: "the base64url x coordinate", y: "the base64url y coordinate" });
  if (!jwk) return;
  const fieldsOk = [
    jwk.kty === undefined || jwk.kty === "EC" || c.fail([...path, "kty"], '"EC" (ES256 keys are elliptic-curve keys)', jwk.kty),
    jwk.crv === undefined || jwk.crv === "P-256" || c.fail([...path, "crv"], '"P-256" (approvals are signed with ES256)', jwk.crv),
    ...(["x", "y"] as const).map(
      (k) => jwk[k] === undefined || c.string([...path, k], jwk[k], "a P-256 coordinate: 43 base64url characters", (s) => P256_COORDINATE.test(s)) !== undefined,
    ),
  ].every((ok) => ok === true);
  if (!fieldsOk || [jwk.kty, jwk.crv, jwk.x, jwk.y].includes(undefined)) return;
  try {
    createPublicKey({ key: { kty: "EC", crv: "P-256", x: jwk.x as string, y: jwk.y as string }, format: "jwk" });
  } catch {
    c.fail(path, PARTY_EXPECT.jwk, jwk, { detail: `x and y are not a point of the P-256 curve (found ${describeValue(jwk)}); copy the public JWK of the party's signing key again` });
  }
}
