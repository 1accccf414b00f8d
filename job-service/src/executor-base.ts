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
 * The runner: executes the notebook with nbconvert, writes outputs to `/workspace/out`, then asks
 * the Confidential Space launcher's token server for a custom token whose nonce is the SHA-256 of
 * the output manifest (what the verifier's release checks). It only runs inside a real TEE.
 */
export const RUNNER_SOURCE = `#!/usr/bin/env python3
"""ManaTEE job runner: run the notebook, hash the outputs, get an attestation token bound to them."""
import glob, hashlib, http.client, json, os, socket, subprocess, sys

WORKSPACE = "/workspace"
OUT = os.path.join(WORKSPACE, "out")
TEE_SOCKET = "/run/container_launcher/teeserver.sock"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def notebook():
    # The notebook is workspace content, never a launch parameter: exactly one at the workspace root.
    found = sorted(glob.glob(os.path.join(WORKSPACE, "*.ipynb")))
    if len(found) != 1:
        sys.exit("expected exactly one *.ipynb at the workspace root, found %d" % len(found))
    return found[0]


def manifest():
    entries = []
    for root, _, files in os.walk(OUT):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                entries.append({"name": os.path.relpath(path, OUT), "sha256": hashlib.sha256(f.read()).hexdigest()})
    entries.sort(key=lambda e: e["name"])
    return json.dumps(entries, separators=(",", ":"), sort_keys=True).encode()


def token(nonce):
    conn = UnixHTTPConnection(TEE_SOCKET)
    body = json.dumps({"audience": os.environ.get("MANATEE_RELEASE_AUDIENCE", "manatee-release"), "token_type": "OIDC", "nonces": [nonce]})
    conn.request("POST", "/v1/token", body=body, headers={"Content-Type": "application/json"})
    res = conn.getresponse()
    text = res.read().decode()
    if res.status != 200:
        sys.exit("token server: HTTP %d: %s" % (res.status, text))
    return text


def main():
    os.makedirs(OUT, exist_ok=True)
    nb = notebook()
    subprocess.run(["python3", "-m", "nbconvert", "--to", "notebook", "--execute", nb, "--output-dir", OUT], check=True, cwd=WORKSPACE)
    data = manifest()
    with open(os.path.join(WORKSPACE, "out.manifest.json"), "wb") as f:
        f.write(data)
    with open(os.path.join(WORKSPACE, "out.token"), "w") as f:
        f.write(token(hashlib.sha256(data).hexdigest()))


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
