/**
 * The executor base of the local mode: a minimal, deterministic image holding only the job runner
 * (`/opt/manatee/run.py`) and the configuration every job image inherits unchanged. It has no
 * Python of its own: locally it exists to be built on, reviewed and signed, while a production
 * room names a real base (Python + nbconvert) by digest in `jobs.executorBases`.
 */
import { createLayer, jsonBytes, MediaType, type ImageConfig, type ImageManifest, type Registry } from "./oci";

/** Where the runner is, and what the base's Entrypoint runs. */
export const RUNNER_PATH = "/opt/manatee/run.py";

/** The epoch: the base's `created`, so the same call always gives the same digest. */
const EPOCH = "1970-01-01T00:00:00Z";

/**
 * The runner: executes the notebook with nbconvert, writes outputs to `/workspace/out`, puts them
 * in the quarantine bucket (create-only), asks the launcher's token server for a custom token whose
 * nonce is the SHA-256 of the canonical `{job, objects}` manifest, and calls the verifier's
 * `/v1/release`. Python standard library only (the TEE has no internet). It only runs in a real TEE.
 *
 * The invoke path: the verifier is a gen2 Cloud Function with internal ingress, so the call leaves
 * the TEE's subnet through Private Google Access (internal traffic, no external IP), and Cloud Run
 * admits it only with `Authorization: Bearer <ID token>` of a `roles/run.invoker` holder. The runner
 * asks the metadata server for an ID token of the VM's service account (the TEE service account,
 * which CleanRoom grants run.invoker on the verifier) with the verifier's URL as audience. The
 * attestation token travels in the body; the ID token only gets the request through the front door.
 *
 * Consortium datasets: the optional MANATEE_DATASET_AUDIENCES (compact JSON of `datasetAudiences(config)`,
 * dataset → STS audiences of its party's pools) makes the runner write one `external_account` credential
 * configuration per distinct audience (the default token file as subject, Google STS as token URL) and
 * hand the notebook MANATEE_DATASET_CREDENTIALS (dataset → those files, standing pool first): datasets of
 * one party share its pool, so a job makes one STS exchange per party (plus one per per-job pool used).
 */
export const RUNNER_SOURCE = `#!/usr/bin/env python3
"""ManaTEE job runner: run the notebook, put the results in quarantine, release them through the verifier.

Room settings come from the executor base's environment (set once per room when the base is
built, never per job): MANATEE_QUARANTINE_BUCKET, MANATEE_VERIFIER_URL, MANATEE_RELEASE_AUDIENCE,
MANATEE_INSTANCE_PREFIX, and for consortium rooms MANATEE_DATASET_AUDIENCES. The job's uuid is its
VM name minus the prefix.
"""
import glob, hashlib, http.client, json, os, socket, subprocess, sys, urllib.parse, urllib.request

WORKSPACE = "/workspace"
OUT = os.path.join(WORKSPACE, "out")
TEE_SOCKET = "/run/container_launcher/teeserver.sock"
METADATA = "http://metadata.google.internal/computeMetadata/v1/"
DEFAULT_TOKEN = "/run/container_launcher/attestation_verifier_claims_token"
CREDENTIALS = "/tmp/manatee-credentials"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def metadata(path):
    req = urllib.request.Request(METADATA + path, headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(req, timeout=10) as res:
        return res.read().decode()


def notebook():
    # The notebook is workspace content, never a launch parameter: exactly one at the workspace root.
    found = sorted(glob.glob(os.path.join(WORKSPACE, "*.ipynb")))
    if len(found) != 1:
        sys.exit("expected exactly one *.ipynb at the workspace root, found %d" % len(found))
    return found[0]


def outputs():
    entries = []
    for root, _, files in os.walk(OUT):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                entries.append({"name": os.path.relpath(path, OUT), "sha256": hashlib.sha256(f.read()).hexdigest(), "path": path})
    entries.sort(key=lambda e: e["name"])
    return entries


def manifest(job, entries):
    # Canonical JSON of {job, objects}, objects sorted by name: what the verifier's release hashes.
    objects = [{"name": e["name"], "sha256": e["sha256"]} for e in entries]
    return json.dumps({"job": job, "objects": objects}, separators=(",", ":"), sort_keys=True).encode()


def id_token(audience):
    # Cloud Run checks an ID token whose audience is the URL the function is called by: for a gen2
    # function's https://REGION-PROJECT.cloudfunctions.net/NAME that includes the name (the host is shared).
    return metadata("instance/service-accounts/default/identity?audience=%s&format=full" % urllib.parse.quote(audience, safe=""))


def token(audience, nonce):
    conn = UnixHTTPConnection(TEE_SOCKET)
    body = json.dumps({"audience": audience, "token_type": "OIDC", "nonces": [nonce]})
    conn.request("POST", "/v1/token", body=body, headers={"Content-Type": "application/json"})
    res = conn.getresponse()
    text = res.read().decode()
    if res.status != 200:
        sys.exit("token server: HTTP %d: %s" % (res.status, text))
    return text


def credential_configs(datasets, audiences, directory=CREDENTIALS):
    # One external_account configuration per audience (a party's pool, or a dataset's job pool), shared by
    # every dataset behind it: one STS exchange per party. Datasets without audiences use the room's pool.
    files, out = {}, {}
    for d in datasets:
        for audience in audiences.get(d, []):
            if audience not in files:
                os.makedirs(directory, exist_ok=True)
                path = os.path.join(directory, hashlib.sha256(audience.encode()).hexdigest()[:16] + ".json")
                with open(path, "w") as f:
                    json.dump({
                        "type": "external_account",
                        "audience": audience,
                        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                        "token_url": "https://sts.googleapis.com/v1/token",
                        "credential_source": {"file": DEFAULT_TOKEN},
                    }, f)
                files[audience] = path
            out.setdefault(d, []).append(files[audience])
    return out


def quarantine(bucket, job, entries):
    # Create-only (ifGenerationMatch=0): the TEE may add results, never replace or read them.
    access = json.loads(metadata("instance/service-accounts/default/token"))["access_token"]
    for e in entries:
        name = urllib.parse.quote("%s/%s" % (job, e["name"]), safe="")
        url = "https://storage.googleapis.com/upload/storage/v1/b/%s/o?uploadType=media&ifGenerationMatch=0&name=%s" % (bucket, name)
        with open(e["path"], "rb") as f:
            req = urllib.request.Request(url, data=f.read(), method="POST", headers={"Authorization": "Bearer " + access, "Content-Type": "application/octet-stream"})
        urllib.request.urlopen(req, timeout=60).read()


def main():
    env = {k: os.environ.get(k, "") for k in ("MANATEE_QUARANTINE_BUCKET", "MANATEE_VERIFIER_URL", "MANATEE_RELEASE_AUDIENCE", "MANATEE_INSTANCE_PREFIX")}
    missing = [k for k, v in env.items() if not v]
    if missing:
        sys.exit("the executor base lacks %s" % ", ".join(missing))
    job = metadata("instance/name")[len(env["MANATEE_INSTANCE_PREFIX"]) + 1:]
    os.makedirs(OUT, exist_ok=True)
    nb = notebook()
    datasets = json.load(open(nb)).get("metadata", {}).get("manatee", {}).get("datasets", [])
    credentials = credential_configs(datasets, json.loads(os.environ.get("MANATEE_DATASET_AUDIENCES") or "{}"))
    run_env = dict(os.environ, MANATEE_DATASET_CREDENTIALS=json.dumps(credentials, sort_keys=True)) if credentials else None
    subprocess.run(["python3", "-m", "nbconvert", "--to", "notebook", "--execute", nb, "--output-dir", OUT], check=True, cwd=WORKSPACE, env=run_env)
    entries = outputs()
    quarantine(env["MANATEE_QUARANTINE_BUCKET"], job, entries)
    data = manifest(job, entries)
    body = json.dumps({
        "token": token(env["MANATEE_RELEASE_AUDIENCE"], hashlib.sha256(data).hexdigest()),
        "job": job,
        "datasets": datasets,
        "objects": [{"name": e["name"], "sha256": e["sha256"]} for e in entries],
    }).encode()
    verifier = env["MANATEE_VERIFIER_URL"].rstrip("/")
    req = urllib.request.Request(verifier + "/v1/release", data=body, method="POST", headers={"Content-Type": "application/json", "Authorization": "Bearer " + id_token(verifier)})
    with urllib.request.urlopen(req, timeout=120) as res:
        answer = json.loads(res.read().decode())
    if answer.get("decision") != "released":
        sys.exit("release refused: %s" % json.dumps(answer.get("reasons", answer)))
    print("released %d objects" % len(entries))


if __name__ == "__main__":
    main()
`;

/** The base's runtime configuration; job images must keep it unchanged. */
export const LOCAL_EXECUTOR_CONFIG = {
  Entrypoint: ["python3", RUNNER_PATH],
  WorkingDir: "/workspace",
  Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH=/workspace/.python"],
  Labels: { "tee.launch_policy.log_redirect": "debugonly" },
} as const;

/**
 * Pushes the local executor base to `repo` (tagged `local-executor-base`) and returns its digest
 * and pull reference `repo@sha256:…`. Deterministic: the same call twice gives the same digest.
 */
export async function createLocalExecutorBase(registry: Registry, repo: string): Promise<{ digest: string; reference: string }> {
  const layer = createLayer([
    { path: "opt", mode: 0o755, type: "dir" },
    { path: "opt/manatee", mode: 0o755, type: "dir" },
    { path: RUNNER_PATH.slice(1), mode: 0o755, type: "file", content: Buffer.from(RUNNER_SOURCE, "utf8") },
  ]);
  const config: ImageConfig = {
    architecture: "amd64",
    os: "linux",
    created: EPOCH,
    config: { ...LOCAL_EXECUTOR_CONFIG },
    rootfs: { type: "layers", diff_ids: [layer.diffId] },
    history: [{ created: EPOCH, created_by: `manatee local executor base: ${RUNNER_PATH}` }],
  };
  const configBytes = jsonBytes(config);
  await registry.putBlob(repo, layer.tarGz);
  const configDigest = await registry.putBlob(repo, configBytes);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: configDigest, size: configBytes.length },
    layers: [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
  };
  const digest = await registry.putManifest(repo, "local-executor-base", jsonBytes(manifest), MediaType.ociManifest);
  return { digest, reference: `${repo}@${digest}` };
}
