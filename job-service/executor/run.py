#!/usr/bin/env python3
"""ManaTEE job runner: run the notebook, put the results in quarantine, release them through the verifier.

Room settings come from the executor base's environment (set once per room when the base is
built, never per job): MANATEE_QUARANTINE_BUCKET, MANATEE_VERIFIER_URL, MANATEE_RELEASE_AUDIENCE,
MANATEE_INSTANCE_PREFIX. The job's uuid is its VM name minus the prefix.
"""
import glob, hashlib, http.client, json, os, socket, subprocess, sys, urllib.parse, urllib.request

WORKSPACE = "/workspace"
OUT = os.path.join(WORKSPACE, "out")
TEE_SOCKET = "/run/container_launcher/teeserver.sock"
METADATA = "http://metadata.google.internal/computeMetadata/v1/"


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
    subprocess.run(["python3", "-m", "nbconvert", "--to", "notebook", "--execute", nb, "--output-dir", OUT], check=True, cwd=WORKSPACE)
    entries = outputs()
    quarantine(env["MANATEE_QUARANTINE_BUCKET"], job, entries)
    data = manifest(job, entries)
    body = json.dumps({
        "token": token(env["MANATEE_RELEASE_AUDIENCE"], hashlib.sha256(data).hexdigest()),
        "job": job,
        "datasets": json.load(open(nb)).get("metadata", {}).get("manatee", {}).get("datasets", []),
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
