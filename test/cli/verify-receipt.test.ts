/**
 * `manatee verify-receipt`: a receipt issued by a real verifier run verifies offline with
 * the verifier's published keys (file or URL), and anything else is refused with exit 1
 * and a reason; bad invocations exit 2.
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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
import { localObjectStore } from "../../attestation-verifier/src/object-store";
import { releaseManifest } from "../../attestation-verifier/src/release";
import { JOB, JOB_DIGEST, QUARANTINE, RELEASE, approverKey, imageSignature, jobClaims, jobPathPolicy } from "../../attestation-verifier/test/release-fixtures";

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
      "manatee verify-receipt: unknown option --aud (known: --jwks, --issuer, --policy-sha256, --object)\n",
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
    ["--object without a value", ["a.b.c", "--jwks", "f", "--object"], "manatee verify-receipt: option --object needs a value\n"],
    ["--object NAME= without a file", ["a.b.c", "--jwks", "f", "--object", "summary.csv="], 'manatee verify-receipt: --object summary.csv=: missing FILE after "="\n'],
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

describe("given an output release receipt written by the verifier's release, and the downloaded results", () => {
  const sha256 = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");
  const files = { "notebook.ipynb": '{"cells":[]}', "results/summary.csv": "region,n\nnorth,12\n", "plots/summary.csv": "x,y\n1,2\n" };
  let releaseReceipt: string;
  let releaseJwks: string;
  let dl: string;
  const downloaded = (name: string, content: string) => {
    const file = join(dl, name);
    writeFileSync(file, content);
    return file;
  };

  beforeAll(async () => {
    // A real release: the job's VM wrote to quarantine, its token covers the manifest, the verifier
    // (signing with a local P-256 key) copied the objects and wrote <job>/receipt.jws.
    const keys = { insurance: approverKey(), claims: approverKey() };
    const doc = jobPathPolicy(keys);
    const store = mkdtempSync(join(tmpdir(), "verify-receipt-release-"));
    const objects = Object.entries(files).map(([name, content]) => {
      const at = join(store, QUARANTINE, JOB, ...name.split("/"));
      mkdirSync(join(at, ".."), { recursive: true });
      writeFileSync(at, content);
      return { name, sha256: sha256(content) };
    });
    const releaser = createVerifier({
      policy: doc,
      signer: localSigner(generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey),
      jwks: { url: csJwks.url },
      clock: () => NOW_MS,
      log: () => undefined,
      objectStore: localObjectStore(store),
    });
    const token = await signToken(jobClaims(doc, { nonce: sha256(releaseManifest(JOB, objects)), signatures: [imageSignature(keys.insurance)] }), cs);
    const res = await releaser.handler({
      method: "POST",
      path: "/v1/release",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, job: JOB, datasets: ["insurance"], objects }),
    });
    expect(JSON.parse(res.body).decision).toBe("released");
    releaseReceipt = join(store, RELEASE, JOB, "receipt.jws");
    releaseJwks = join(dir, "release-jwks.json");
    writeFileSync(releaseJwks, JSON.stringify(releaser.receiptJwks));
    dl = mkdtempSync(join(tmpdir(), "verify-receipt-downloads-"));
  });

  it("when each downloaded file is checked, then every object matches, by its last segment or by NAME=FILE, and exit 0", async () => {
    const notebook = downloaded("notebook.ipynb", files["notebook.ipynb"]);
    const summary = downloaded("summary.csv", files["results/summary.csv"]);
    const r = await cli([releaseReceipt, "--jwks", releaseJwks, "--object", notebook, `--object=results/summary.csv=${summary}`]);
    expect(r).toEqual({
      code: 0,
      stderr: "",
      stdout:
        `match notebook.ipynb sha256:${sha256(files["notebook.ipynb"])} ${notebook}\n` +
        `match results/summary.csv sha256:${sha256(files["results/summary.csv"])} ${summary}\n` +
        `manatee verify-receipt: valid receipt; 2 file(s) are objects released for job ${JOB} (image ${JOB_DIGEST}, datasets insurance, policy ${claimsOf(readFileSync(releaseReceipt, "ascii")).policy_sha256})\n`,
    });
  });

  it("when the receipt is verified without --object, then it prints the release claims (objects, job, datasets, image)", async () => {
    const r = await cli([releaseReceipt, "--jwks", releaseJwks]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      release: true,
      job: JOB,
      datasets: ["insurance"],
      image_digest: JOB_DIGEST,
      objects: Object.entries(files)
        .map(([name, content]) => ({ name, sha256: sha256(content) }))
        .sort((a, b) => (a.name < b.name ? -1 : 1)),
    });
  });

  it("when a file was changed by one byte, then exit 1 names the file, the object and both hashes, and still reports the matches", async () => {
    const notebook = downloaded("notebook.ipynb", files["notebook.ipynb"]);
    const edited = downloaded("edited.csv", "region,n\nnorth,13\n");
    const r = await cli([releaseReceipt, "--jwks", releaseJwks, "--object", notebook, "--object", `results/summary.csv=${edited}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`match notebook.ipynb sha256:${sha256(files["notebook.ipynb"])} ${notebook}\n`);
    expect(r.stderr).toBe(
      `manatee verify-receipt: object mismatch: ${edited} does not match results/summary.csv: the file's SHA-256 is ${sha256("region,n\nnorth,13\n")}, ` +
        `the receipt of job ${JOB} says ${sha256(files["results/summary.csv"])}\n` +
        `manatee verify-receipt: 1 of 2 file(s) match the receipt of job ${JOB}\n`,
    );
  });

  it("when a file is not an object of the receipt, then exit 1 says so and lists what the receipt holds", async () => {
    const extra = downloaded("extra.csv", "not released");
    const r = await cli([releaseReceipt, "--jwks", releaseJwks, "--object", extra]);
    expect(r).toMatchObject({ code: 1, stdout: "" });
    expect(r.stderr).toContain(
      `manatee verify-receipt: object mismatch: --object ${extra}: the receipt of job ${JOB} lists no object named "extra.csv" (it lists: notebook.ipynb, plots/summary.csv, results/summary.csv); name it with --object NAME=${extra}`,
    );
    const named = await cli([releaseReceipt, "--jwks", releaseJwks, "--object", `results/other.csv=${extra}`]);
    expect(named.code).toBe(1);
    expect(named.stderr).toContain(`lists no object "results/other.csv"`);
  });

  it("when the file name fits two objects, then exit 1 asks for NAME=FILE instead of guessing", async () => {
    const summary = downloaded("summary.csv", files["results/summary.csv"]);
    const r = await cli([releaseReceipt, "--jwks", releaseJwks, "--object", summary]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`"summary.csv" is the name of 2 objects (plots/summary.csv, results/summary.csv); say which with --object NAME=${summary}`);
  });

  it("when the receipt's signature does not verify, then no file is checked and exit 1", async () => {
    const jws = readFileSync(releaseReceipt, "ascii");
    const [h, , sig] = jws.split(".");
    const forged = Buffer.from(JSON.stringify({ ...claimsOf(jws), objects: [{ name: "notebook.ipynb", sha256: sha256("forged") }] })).toString("base64url");
    const forgedFile = downloaded("notebook.ipynb", "forged");
    const r = await cli([`${h}.${forged}.${sig}`, "--jwks", releaseJwks, "--object", forgedFile]);
    expect(r).toEqual({ code: 1, stdout: "", stderr: "manatee verify-receipt: invalid receipt: the signature does not verify with the key set\n" });
  });

  it("when --object is given with a key-release receipt, then exit 1: it lists no objects", async () => {
    const r = await cli([receipt, "--jwks", jwksFile, "--object", downloaded("notebook.ipynb", "{}")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("invalid receipt: it is a key-release receipt (dataset \"insurance\"), which lists no objects");
  });

  it("when a file cannot be read, then exit 2 with usage", async () => {
    const r = await cli([releaseReceipt, "--jwks", releaseJwks, "--object", join(dl, "missing.ipynb")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--object ${join(dl, "missing.ipynb")}: cannot read it (ENOENT)`);
  });
});

it("then the CLI and the verifier agree on the receipt typ", () => {
  expect(RECEIPT_TYP).toBe(VERIFIER_RECEIPT_TYP);
});

function localSignerJwks() {
  return { keys: [localSigner(generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey).publicJwk] };
}

describe("verifyReceipt, the package root's function for relying parties", () => {
  it("given the verifier's receipt and key set, then it returns the receipt's claims", async () => {
    const { verifyReceipt } = await import("../../lib");
    const claims = await verifyReceipt(receipt, { jwks: verifier.receiptJwks, policySha256: compiled.sha256 });
    expect(claims).toMatchObject({ dataset: "insurance", nonce: "thisIsAcustomNonce", policy_sha256: compiled.sha256 });
  });

  it("given a receipt with one claim changed, or issued under another policy, then it throws InvalidReceiptError naming why", async () => {
    const { verifyReceipt, InvalidReceiptError } = await import("../../lib");
    const [h, p, s] = receipt.split(".");
    const forged = [h, Buffer.from(JSON.stringify({ ...claimsOf(receipt), dataset: "claims" })).toString("base64url"), s].join(".");
    await expect(verifyReceipt(forged, { jwks: verifier.receiptJwks })).rejects.toThrow(InvalidReceiptError);
    await expect(verifyReceipt(forged, { jwks: verifier.receiptJwks })).rejects.toThrow("the signature does not verify with the key set");
    await expect(verifyReceipt(receipt, { jwks: verifier.receiptJwks, policySha256: "0".repeat(64) })).rejects.toThrow(`issued under policy ${compiled.sha256}, not ${"0".repeat(64)}`);
    expect(p).toBeDefined();
  });
});
