/**
 * The in-TEE runner (Python, only runs in a real TEE) and the verifier must hash the same
 * manifest bytes, or every real release is refused. Python's json.dumps(sort_keys) output is
 * compared with the manifest the local TEE and the verifier use.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RUNNER_SOURCE } from "../../job-service/src/executor-base";
import { releaseManifest } from "../../attestation-verifier/src/release";

test("the runner's release manifest is byte-identical to the verifier's canonical {job, objects}", () => {
  const dir = mkdtempSync(join(tmpdir(), "runner-"));
  writeFileSync(join(dir, "runner.py"), RUNNER_SOURCE);
  const entries = [
    { name: "z.csv", sha256: "b".repeat(64), path: "/x" },
    { name: "out-insurance.ipynb", sha256: "a".repeat(64), path: "/y" },
  ];
  const job = "7d444840-9dc0-11d1-b245-5ffdce74fad2";
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : 1));
  const python = `import sys, json; sys.path.insert(0, ${JSON.stringify(dir)}); import runner; sys.stdout.write(runner.manifest(${JSON.stringify(job)}, json.loads(sys.argv[1])).decode())`;
  const out = execFileSync("python3", ["-c", python, JSON.stringify(sorted)], { encoding: "utf8" });
  expect(out).toBe(releaseManifest(job, entries));
});

test("the runner calls /v1/release with an ID token of the TEE's service account for the verifier's URL (Cloud Run's IAM check)", () => {
  const dir = mkdtempSync(join(tmpdir(), "runner-"));
  writeFileSync(join(dir, "runner.py"), RUNNER_SOURCE);
  writeFileSync(join(dir, "job.ipynb"), JSON.stringify({ metadata: { manatee: { datasets: ["insurance"] } } }));
  const url = "https://europe-west4-acme.cloudfunctions.net/insurance-study-verifier";
  const python = `
import sys, json, os, io
sys.path.insert(0, ${JSON.stringify(dir)})
import runner
asked = []
def metadata(path):
    asked.append(path)
    return "vm-prefix-job1" if path == "instance/name" else "id-token-for-" + path
runner.metadata = metadata
runner.notebook = lambda: ${JSON.stringify(join(dir, "job.ipynb"))}
runner.outputs = lambda: []
runner.quarantine = lambda *a: None
runner.token = lambda audience, nonce: "attestation-token"
runner.subprocess.run = lambda *a, **k: None
runner.os.makedirs = lambda *a, **k: None
os.environ.update({"MANATEE_QUARANTINE_BUCKET": "q", "MANATEE_VERIFIER_URL": ${JSON.stringify(url + "/")}, "MANATEE_RELEASE_AUDIENCE": "aud", "MANATEE_INSTANCE_PREFIX": "vm-prefix"})
sent = {}
class Res(io.BytesIO):
    def __enter__(self): return self
    def __exit__(self, *a): return False
def urlopen(req, timeout=None):
    sent.update(url=req.full_url, auth=req.get_header("Authorization"), body=json.loads(req.data))
    return Res(b'{"decision": "released"}')
runner.urllib.request.urlopen = urlopen
runner.main()
sys.stdout.write(json.dumps({"asked": asked, "sent": sent}))
`;
  const out = JSON.parse(execFileSync("python3", ["-c", python], { encoding: "utf8" }).split("\n").pop()!);
  const identity = `instance/service-accounts/default/identity?audience=${encodeURIComponent(url)}&format=full`;
  expect(out.asked).toContain(identity);
  expect(out.sent.url).toBe(`${url}/v1/release`);
  expect(out.sent.auth).toBe(`Bearer id-token-for-${identity}`);
  // The attestation token stays in the body: the ID token only gets the request past Cloud Run.
  expect(out.sent.body.token).toBe("attestation-token");
});
