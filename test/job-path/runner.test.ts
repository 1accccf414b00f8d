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
import { releaseManifest } from "../../job-service/src/local-tee";

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
