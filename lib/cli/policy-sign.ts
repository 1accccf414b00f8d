/**
 * `manatee policy sign --config ROOM.yaml --party P --key KEY.pem [--out FILE]`: a consortium
 * party signs its approvals (docs/consortium-contract.md). The payload is
 * `partyApprovalsPayload(policy, P)`, the same bytes the verifier checks; the key must be the
 * one the room file pins in `parties.P.approvalsKey`, so a signature the verifier would void is
 * never written.
 */
import { KeyObject, createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { CompactSign } from "jose";
import { InvalidInputError } from "../errors";
import { PARTY_APPROVALS_JWS_ALGORITHM, PARTY_APPROVALS_JWS_TYPE, partyApprovalsPayload } from "../policy/document";
import { loadPolicyFile } from "../policy/load";
import { PartyApprovalsJwk } from "../policy/model";
import { requireParty } from "../policy/party-names";
import { PolicyError } from "../policy/validate";
import { CliIo, parseArgs } from "./io";
import { EXIT, exitCodeFor } from "./exit";

export const SIGN_USAGE = `usage: manatee policy sign --config FILE --party NAME --key KEY.pem [--out FILE]

Sign party NAME's approvals in the consortium room file FILE with its approvals key (an EC
P-256 private key, PEM PKCS#8; its public part must be parties.NAME.approvalsKey.jwk) and print
the compact JWS (ES256), or write it to --out. Point parties.NAME.approvalsSignature at it.
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out approvals-key.pem
Exit codes: 0 signed, 2 usage error, invalid room file or a key the room file does not pin.
`;

/** The public JWK of an EC P-256 private key; throws a message naming the file otherwise. */
function p256PublicJwk(key: KeyObject, file: string): PartyApprovalsJwk {
  const jwk = createPublicKey(key).export({ format: "jwk" });
  if (jwk.kty !== "EC" || jwk.crv !== "P-256") {
    throw new InvalidInputError(`${file} is not an EC P-256 key (found ${jwk.kty}${jwk.crv ? ` ${jwk.crv}` : ""}): approvals are signed with ES256.`, {
      fix: "Generate one: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out approvals-key.pem",
    });
  }
  return { kty: "EC", crv: "P-256", x: jwk.x!, y: jwk.y! };
}

function readPrivateKey(file: string): KeyObject {
  const pem = readFileSync(file, "utf8");
  try {
    return createPrivateKey({ key: pem, format: "pem" });
  } catch (err) {
    throw new InvalidInputError(`${file} is not a PEM private key (${(err as Error).message}).`, {
      fix: "Pass the party's EC P-256 private key in PEM (PKCS#8), e.g. from openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256",
    });
  }
}

/** Sign `party`'s approvals of the room file `config` with the private key in `keyFile`; the compact JWS. */
export async function signPartyApprovals(config: string, party: string, keyFile: string): Promise<string> {
  // The signature this command writes may not exist yet: load the room as if it were absent.
  const policy = loadPolicyFile(config, { unsignedParty: party });
  const p = requireParty(policy, party);
  const key = readPrivateKey(keyFile);
  const jwk = p256PublicJwk(key, keyFile);
  const pinned = p.approvalsKey?.jwk;
  if (pinned === undefined) {
    throw new InvalidInputError(`party "${party}" pins no approvalsKey in ${config}, so no verifier could check a signature.`, {
      fix: `Add to parties.${party}: approvalsKey: { jwk: ${JSON.stringify(jwk)} } (the public part of ${keyFile}), then sign again.`,
    });
  }
  if (pinned.x !== jwk.x || pinned.y !== jwk.y) {
    throw new InvalidInputError(
      `the public part of ${keyFile} is not the key ${config} pins for party "${party}" (parties.${party}.approvalsKey.jwk): the verifier would void every approval signed with it.`,
      { fix: `Sign with the private key of the pinned public key, or pin this key: approvalsKey: { jwk: ${JSON.stringify(jwk)} }` },
    );
  }
  return new CompactSign(new TextEncoder().encode(partyApprovalsPayload(policy, party)))
    .setProtectedHeader({ alg: PARTY_APPROVALS_JWS_ALGORITHM, typ: PARTY_APPROVALS_JWS_TYPE })
    .sign(key);
}

export async function run(args: string[], io: CliIo): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(SIGN_USAGE);
    return EXIT.ok;
  }
  const { options, positional, errors } = parseArgs(args, ["config", "party", "key", "out"]);
  if (positional.length > 0) errors.push(`unexpected argument "${positional[0]}"`);
  for (const required of ["config", "party", "key"]) {
    if (errors.length === 0 && options[required] === undefined) errors.push(`missing --${required} ${required === "party" ? "NAME" : "FILE"}`);
  }
  if (errors.length > 0) {
    io.stderr.write(`${errors.map((e) => `manatee policy sign: ${e}`).join("\n")}\n\n${SIGN_USAGE}`);
    return EXIT.usage;
  }
  try {
    const jws = await signPartyApprovals(options.config, options.party, options.key);
    if (options.out === undefined) {
      io.stdout.write(`${jws}\n`);
    } else {
      writeFileSync(options.out, `${jws}\n`);
      io.stderr.write(`manatee policy sign: wrote ${options.out}; set parties.${options.party}.approvalsSignature to its path\n`);
    }
    return EXIT.ok;
  } catch (err) {
    if (err instanceof PolicyError) {
      const n = err.issues.length;
      io.stderr.write(`${err.message}\nmanatee policy sign: ${n} problem${n === 1 ? "" : "s"} in ${options.config}\n`);
      return EXIT.usage;
    }
    if (exitCodeFor(err) !== EXIT.usage) throw err;
    io.stderr.write(`manatee policy sign: ${(err as Error).message}\n`);
    return EXIT.usage;
  }
}
