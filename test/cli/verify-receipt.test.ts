/**
 * `manatee verify-receipt`: a receipt issued by a real verifier run verifies offline with
 * the verifier's published keys (file or URL), and anything else is refused with exit 1
 * and a reason; bad invocations exit 2.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { SignJWT } from "jose";
import { run, RECEIPT_TYP } from "../../lib/cli/verify-receipt";
import { RECEIPT_TYP as VERIFIER_RECEIPT_TYP } from "../../attestation-verifier/src/receipt";
import { localSigner } from "../../attestation-verifier/src/signers";
import { createVerifier, Verifier } from "../../attestation-verifier/src/verifier";
import { startLocalServer, LocalServer } from "../../attestation-verifier/src/node-server";
import { NOW_MS, RsaKey, examplePolicyDocument, jwksServer, rsaKey, signToken, tokenClaims } from "../../attestation-verifier/test/helpers";

const compiled = examplePolicyDocument();
const dir = mkdtempSync(join(tmpdir(), "verify-receipt-"));
const receiptKey = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
let cs: RsaKey;
let csJwks: Awaited<ReturnType<typeof jwksServer>>;
let verifier: Verifier;
let server: LocalServer;
let receipt: string;
let attestationToken: string;
let jwksFile: string;

beforeAll(async () => {
  cs = await rsaKey("cs-key-1");
  csJwks = await jwksServer([cs.jwk]);
  verifier = createVerifier({
    policy: compiled.document,
    signer: localSigner(receiptKey),
    jwks: { url: csJwks.url },
    clock: () => NOW_MS,
    log: () => undefined,
  });
  server = await startLocalServer({ verifier, port: 0 });
  attestationToken = await signToken(tokenClaims(compiled.document), cs);
  const res = await verifier.handler({
    method: "POST",
    path: "/v1/verify",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: attestationToken, dataset: "insurance", nonce: "thisIsAcustomNonce" }),
  });
  receipt = JSON.parse(res.body).receipt;
  jwksFile = join(dir, "receipt-jwks.json");
  writeFileSync(jwksFile, JSON.stringify(verifier.receiptJwks));
});

afterAll(async () => {
  await server.close();
  await csJwks.close();
});

async function cli(args: string[], stdin?: string) {
  let stdout = "";
  let stderr = "";
  const code = await run(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    ...(stdin !== undefined ? { stdin: Readable.from([stdin]) } : {}),
  });
  return { code, stdout, stderr };
}

const claimsOf = (jws: string) => JSON.parse(Buffer.from(jws.split(".")[1], "base64url").toString());

describe("given a receipt issued by the verifier", () => {
  it("when checked against the JWKS file, then it exits 0 and prints the claims", async () => {
    const r = await cli([receipt, "--jwks", jwksFile]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const printed = JSON.parse(r.stdout);
    expect(printed).toEqual(claimsOf(receipt));
    expect(printed).toMatchObject({ dataset: "insurance", nonce: "thisIsAcustomNonce", policy_sha256: compiled.sha256 });
  });

  it("when read from a file, from stdin (-), or checked against the live /v1/jwks URL, then it verifies", async () => {
    const file = join(dir, "receipt.jws");
    writeFileSync(file, `${receipt}\n`);
    expect((await cli([file, "--jwks", jwksFile])).code).toBe(0);
    expect((await cli(["-", "--jwks", jwksFile], `${receipt}\n`)).code).toBe(0);
    expect((await cli([receipt, `--jwks=${server.url}/v1/jwks`])).code).toBe(0);
  });

  it("when the issuer and the policy hash are pinned, then both must match", async () => {
    expect(
      (await cli([receipt, "--jwks", jwksFile, "--issuer", compiled.document.audience, "--policy-sha256", compiled.sha256])).code
    ).toBe(0);
    expect(await cli([receipt, "--jwks", jwksFile, "--issuer", "https://someone-else.example.org"])).toEqual({
      code: 1,
      stdout: "",
      stderr: 'manatee verify-receipt: invalid receipt: unexpected "iss" claim value\n',
    });
    expect(await cli([receipt, "--jwks", jwksFile, "--policy-sha256", "0".repeat(64)])).toEqual({
      code: 1,
      stdout: "",
      stderr: `manatee verify-receipt: invalid receipt: issued under policy ${compiled.sha256}, not ${"0".repeat(64)}\n`,
    });
  });
});

describe("given something that is not a valid receipt", () => {
  it("when the payload was edited (another dataset), then the signature no longer verifies", async () => {
    const [h, p, s] = receipt.split(".");
    const edited = Buffer.from(JSON.stringify({ ...claimsOf(receipt), dataset: "claims" })).toString("base64url");
    expect(p).not.toBe(edited);
    expect(await cli([`${h}.${edited}.${s}`, "--jwks", jwksFile])).toMatchObject({
      code: 1,
      stderr: "manatee verify-receipt: invalid receipt: the signature does not verify with the key set\n",
    });
  });

  it("when the key set is another verifier's, then no key matches", async () => {
    const other = join(dir, "other-jwks.json");
    writeFileSync(other, JSON.stringify(localSignerJwks()));
    expect(await cli([receipt, "--jwks", other])).toMatchObject({
      code: 1,
      stderr: "manatee verify-receipt: invalid receipt: no key in the key set has the receipt's kid\n",
    });
  });

  it("when handed the attestation token itself (RS256), then it is refused as not ES256", async () => {
    const rsaJwks = join(dir, "cs-jwks.json");
    writeFileSync(rsaJwks, JSON.stringify({ keys: [cs.jwk] }));
    expect(await cli([attestationToken, "--jwks", rsaJwks])).toMatchObject({
      code: 1,
      stderr: "manatee verify-receipt: invalid receipt: it is not signed with ES256\n",
    });
  });

  it("when an ES256 JWT by the same key is not typed as a receipt, then it is refused", async () => {
    const jwt = await new SignJWT(claimsOf(receipt))
      .setProtectedHeader({ alg: "ES256", kid: verifier.receiptJwks.keys[0].kid, typ: "JWT" })
      .sign(receiptKey);
    expect(await cli([jwt, "--jwks", jwksFile])).toMatchObject({
      code: 1,
      stderr: 'manatee verify-receipt: invalid receipt: unexpected "typ" JWT header value\n',
    });
  });

  it("when a receipt-typed JWS lacks the token hash, then it is refused", async () => {
    const { token_sha256: _dropped, ...rest } = claimsOf(receipt);
    const jws = await new SignJWT(rest)
      .setProtectedHeader({ alg: "ES256", kid: verifier.receiptJwks.keys[0].kid, typ: RECEIPT_TYP })
      .sign(receiptKey);
    expect(await cli([jws, "--jwks", jwksFile])).toMatchObject({
      code: 1,
      stderr: 'manatee verify-receipt: invalid receipt: missing required "token_sha256" claim\n',
    });
  });
});

describe("given a bad invocation", () => {
  it.each<[string, string[], string]>([
    ["no arguments", [], "manatee verify-receipt: missing RECEIPT\nmanatee verify-receipt: missing --jwks URL_OR_FILE\n"],
    ["no --jwks", ["a.b.c"], "manatee verify-receipt: missing --jwks URL_OR_FILE\n"],
    [
      "an unknown option",
      ["a.b.c", "--jwks", "f", "--aud", "x"],
      "manatee verify-receipt: unknown option --aud (known: --jwks, --issuer, --policy-sha256)\n",
    ],
    [
      "a policy hash that is not one",
      ["a.b.c", "--jwks", "f", "--policy-sha256", "xyz"],
      "manatee verify-receipt: --policy-sha256 expects 64 hex characters\n",
    ],
    [
      "a receipt that is neither a JWS nor a file",
      ["/nonexistent/receipt", "--jwks", "f"],
      'manatee verify-receipt: RECEIPT "/nonexistent/receipt" is neither a compact JWS nor a readable file\n',
    ],
    [
      "a JWKS over plain http to a remote host",
      ["a.b.c", "--jwks", "http://example.org/jwks"],
      "manatee verify-receipt: --jwks http://example.org/jwks: use https (plain http only on localhost)\n",
    ],
  ])("when given %s, then it exits 2 with usage", async (_name, args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr.startsWith(message)).toBe(true);
    expect(r.stderr).toContain("usage: manatee verify-receipt RECEIPT --jwks URL_OR_FILE");
  });

  it("then --help prints the usage and exits 0", async () => {
    expect(await cli(["--help"])).toMatchObject({
      code: 0,
      stdout: expect.stringContaining("RECEIPT          the receipt (compact JWS), a file holding it, or - to read stdin"),
    });
  });
});

it("then the CLI and the verifier agree on the receipt typ", () => {
  expect(RECEIPT_TYP).toBe(VERIFIER_RECEIPT_TYP);
});

function localSignerJwks() {
  return { keys: [localSigner(generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey).publicJwk] };
}
