#!/usr/bin/env python3
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
