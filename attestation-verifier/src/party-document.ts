/**
 * The consortium part of the verifier policy document (docs/consortium-contract.md): the
 * `parties` section and each approval's `party`. Structural checks only, run with the rest
 * of the document's validation; the approvals signatures are verified in party-approvals.ts.
 */
import { createPublicKey } from "node:crypto";
import { describe, isObject } from "./describe";


/** Reports a bad field and never returns: `policy.<field>: <problem>. <fix>`. */
export type Fail = (field: string, problem: string) => never;

const PARTY_NAME = /^[a-z][a-z0-9-]{0,11}$/;
const PARTY_FIELDS = ["name", "project", "datasets", "approvalsKey", "approvalsJws"];
const JWK_FIELDS = ["kty", "crv", "x", "y"];
/** A P-256 coordinate: 32 bytes, base64url without padding. */
const COORDINATE = /^[A-Za-z0-9_-]{43}$/;

/** The parties' names, and which party holds each dataset (datasets of no party are absent). */
export interface PartyIndex {
  readonly names: ReadonlySet<string>;
  readonly holder: ReadonlyMap<string, string>;
}

/** Check `raw.parties` (absent for a single-project room) and index it. */
export function checkParties(raw: Record<string, unknown>, datasets: readonly string[], fail: Fail): PartyIndex {
  const holder = new Map<string, string>();
  const names = new Map<string, number>();
  if (raw.parties === undefined) return { names: new Set(), holder };
  if (!Array.isArray(raw.parties) || raw.parties.length === 0) {
    fail("parties", `expected a non-empty array (omit it for a single-project room), got ${describe(raw.parties)}`);
  }
  const projects = new Map<string, string>([[raw.project as string, "the operator (policy.project)"]]);
  (raw.parties as unknown[]).forEach((p, i) => {
    const at = `parties[${i}]`;
    if (!isObject(p)) return fail(at, `expected an object, got ${describe(p)}`);
    for (const key of Object.keys(p)) {
      if (!PARTY_FIELDS.includes(key)) fail(`${at}.${key}`, `unknown field (a party has ${PARTY_FIELDS.join(", ")})`);
    }
    if (typeof p.name !== "string" || !PARTY_NAME.test(p.name)) {
      fail(`${at}.name`, `expected 1-12 lowercase letters, digits or '-' starting with a letter, got ${describe(p.name)}`);
    }
    const name = p.name as string;
    if (names.has(name)) fail(`${at}.name`, `${JSON.stringify(name)} is also parties[${names.get(name)}]`);
    names.set(name, i);
    if (typeof p.project !== "string" || p.project === "") fail(`${at}.project`, `expected a non-empty string, got ${describe(p.project)}`);
    // A party's power rests on its own project: one shared with the operator or another party is no boundary.
    const sharedWith = projects.get(p.project as string);
    if (sharedWith !== undefined) fail(`${at}.project`, `${JSON.stringify(p.project)} is also the project of ${sharedWith}; each party needs its own`);
    projects.set(p.project as string, `party ${JSON.stringify(name)}`);
    if (!Array.isArray(p.datasets)) fail(`${at}.datasets`, `expected an array of dataset names, got ${describe(p.datasets)}`);
    (p.datasets as unknown[]).forEach((d, j) => {
      if (typeof d !== "string" || !datasets.includes(d)) {
        fail(`${at}.datasets[${j}]`, `${describe(d)} is not a dataset of the policy (known: ${datasets.join(", ")})`);
      }
      const other = holder.get(d);
      if (other !== undefined) fail(`${at}.datasets[${j}]`, `${JSON.stringify(d)} is already held by party ${JSON.stringify(other)}; a dataset has one owner`);
      holder.set(d, name);
    });
    checkApprovalsKey(p, at, fail);
  });
  return { names: new Set(names.keys()), holder };
}

function checkApprovalsKey(p: Record<string, unknown>, at: string, fail: Fail): void {
  if (p.approvalsKey === undefined) {
    // A signature no key checks would look like protection and be none.
    if (p.approvalsJws !== undefined) fail(`${at}.approvalsJws`, "is set without approvalsKey; pin the key that signed it, or drop the signature");
    return;
  }
  const jwk = p.approvalsKey;
  if (!isObject(jwk)) return fail(`${at}.approvalsKey`, `expected a P-256 public JWK {kty, crv, x, y}, got ${describe(jwk)}`);
  if ("d" in jwk) fail(`${at}.approvalsKey.d`, "is a private key; the policy pins the public key only (drop d, and rotate the key: it has been shared)");
  for (const key of Object.keys(jwk)) {
    if (!JWK_FIELDS.includes(key)) fail(`${at}.approvalsKey.${key}`, `unknown field (the key is {${JWK_FIELDS.join(", ")}})`);
  }
  if (jwk.kty !== "EC") fail(`${at}.approvalsKey.kty`, `expected "EC", got ${describe(jwk.kty)}`);
  if (jwk.crv !== "P-256") fail(`${at}.approvalsKey.crv`, `expected "P-256" (ES256), got ${describe(jwk.crv)}`);
  for (const c of ["x", "y"]) {
    if (typeof jwk[c] !== "string" || !COORDINATE.test(jwk[c] as string)) {
      fail(`${at}.approvalsKey.${c}`, `expected 43 base64url characters (a 32-byte coordinate), got ${describe(jwk[c])}`);
    }
  }
  try {
    createPublicKey({ key: { kty: "EC", crv: "P-256", x: jwk.x as string, y: jwk.y as string }, format: "jwk" });
  } catch {
    fail(`${at}.approvalsKey`, "x and y are not a point on P-256");
  }
  // Absent or unverifiable, it voids the party's approvals (party-approvals.ts): the verifier
  // still starts, and names the party in every denial that needed them.
  if (p.approvalsJws !== undefined && typeof p.approvalsJws !== "string") {
    fail(`${at}.approvalsJws`, `expected the compact JWS of \`manatee policy sign\`, got ${describe(p.approvalsJws)}`);
  }
}

/**
 * Check approval `a`'s `party` against the datasets it names: a party approves only its own
 * datasets, and a dataset of a party is approved only by that party.
 */
export function checkApprovalParty(a: Record<string, unknown>, at: string, parties: PartyIndex, fail: Fail): void {
  if (a.party !== undefined) {
    if (parties.names.size === 0) fail(`${at}.party`, "is set, but the policy has no parties section");
    if (typeof a.party !== "string" || !parties.names.has(a.party)) {
      fail(`${at}.party`, `${describe(a.party)} is not a party of the policy (known: ${[...parties.names].join(", ")})`);
    }
  }
  (a.datasets as string[]).forEach((d, j) => {
    const owner = parties.holder.get(d);
    if (owner === a.party) return;
    const whose = owner === undefined ? "the operator's (no party holds it)" : `held by party ${JSON.stringify(owner)}`;
    const by = a.party === undefined ? "this approval names no party" : `this approval is party ${JSON.stringify(a.party)}'s`;
    fail(`${at}.datasets[${j}]`, `${JSON.stringify(d)} is ${whose}, but ${by}; an approval covers only its own party's datasets`);
  });
}
