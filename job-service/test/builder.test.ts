import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { CloudBuildClient } from "@google-cloud/cloudbuild";
import type { BuildRequest, JobRecord } from "../src/ports";
import { createLayer, readImageConfig, readImageManifest, readTar, sha256Hex } from "../src/oci";
import { LocalRegistry } from "../src/local-registry";
import { createLocalExecutorBase, RUNNER_PATH } from "../src/executor-base";
import { LocalBuilder } from "../src/local-builder";
import { CloudBuildBuilder, type CloudBuildClientLike, type CloudBuildSpec, type CloudBuildStatus } from "../src/cloud-build-builder";

// Compile-time: the real client satisfies the minimal interface the builder takes.
type RealClientFits = CloudBuildClient extends CloudBuildClientLike ? true : never;
const realClientFits: RealClientFits = true;

const tmp = () => mkdtempSync(join(tmpdir(), "builder-test-"));
const NOTEBOOK = Buffer.from(JSON.stringify({ cells: [], metadata: { manatee: { purpose: "claims by region" } } }));
const BASES_REPO = "localhost/room/executor";

function workspaceTarball(extra: { path: string; content: string }[] = []): Buffer {
  const layer = createLayer([
    { path: "alice-workspace", mode: 0o755, type: "dir" },
    { path: "alice-workspace/analysis.ipynb", mode: 0o644, type: "file", content: NOTEBOOK },
    { path: "alice-workspace/lib", mode: 0o755, type: "dir" },
    { path: "alice-workspace/lib/helpers.py", mode: 0o755, type: "file", content: Buffer.from("def f():\n    return 1\n") },
    ...extra.map((e) => ({ path: e.path, mode: 0o644, type: "file" as const, content: Buffer.from(e.content) })),
  ]);
  return Buffer.from(layer.tarGz);
}

function job(overrides: Partial<JobRecord> = {}, tarball = workspaceTarball()): JobRecord {
  return {
    id: 7,
    uuid: "0b5c7c4e-5d0e-4d6f-9b8e-1f6a2b3c4d5e",
    creator: "alice",
    notebook: "analysis.ipynb",
    status: 1,
    datasets: ["insurance"],
    purpose: "claims by region",
    envs: [{ key: "SECRET_TOKEN", value: "s3cr3t-value" }],
    workspace: { object: `workspaces/${sha256Hex(tarball)}.tar.gz`, sha256: sha256Hex(tarball), size: tarball.length, files: [], dependencies: ["pandas==2.2.2", "scikit-learn>=1.5"] },
    decisions: {},
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: "2026-01-01T00:00:00Z",
    deleted: false,
    version: 1,
    ...overrides,
  };
}

describe("createLocalExecutorBase", () => {
  it("is deterministic and carries the runner and the configuration job images inherit", async () => {
    const a = await createLocalExecutorBase(new LocalRegistry(tmp()), BASES_REPO);
    const reg = new LocalRegistry(tmp());
    const b = await createLocalExecutorBase(reg, BASES_REPO);
    expect(b.digest).toBe(a.digest);
    expect(b.reference).toBe(`${BASES_REPO}@${b.digest}`);
    const { manifest } = await readImageManifest(reg, BASES_REPO, b.digest);
    const config = await readImageConfig(reg, BASES_REPO, manifest);
    expect(config.config).toEqual({
      Entrypoint: ["python3", "/opt/manatee/run.py"],
      WorkingDir: "/workspace",
      Env: expect.arrayContaining(["PYTHONPATH=/workspace/.python"]),
      Labels: { "tee.launch_policy.log_redirect": "debugonly" },
    });
    const entries = readTar(gunzipSync(await reg.getBlob(BASES_REPO, manifest.layers[0].digest)));
    const runner = entries.find((e) => e.path === RUNNER_PATH.slice(1))!;
    expect(runner.mode).toBe(0o755);
    const source = runner.content.toString();
    expect(source).toContain("nbconvert");
    expect(source).toContain("/run/container_launcher/teeserver.sock");
    expect(source).toContain('"nonces": [nonce]');
    expect(source).toContain("hashlib.sha256(data).hexdigest()");
    // It is Python: compiles without running.
    const dir = tmp();
    writeFileSync(join(dir, "run.py"), source);
    execFileSync("python3", ["-m", "py_compile", join(dir, "run.py")]);
  });
});

describe("LocalBuilder", () => {
  async function setup() {
    const registry = new LocalRegistry(tmp());
    const base = await createLocalExecutorBase(registry, BASES_REPO);
    return { registry, base, builder: new LocalBuilder({ registry }) };
  }
  const request = (base: string, target = "localhost/room/jobs/job-1", tarball = workspaceTarball()): BuildRequest => ({ job: job({}, tarball), workspace: tarball, base, target });

  it("appends one workspace layer to the base and records the files as written", async () => {
    const { registry, base, builder } = await setup();
    const id = await builder.start(request(base.reference));
    const state = await builder.poll(id);
    if (state.state !== "succeeded") throw new Error(JSON.stringify(state));
    const r = state.record;
    expect(r.baseDigest).toBe(base.digest);
    expect(r.imageReference).toBe(`localhost/room/jobs/job-1@${r.imageDigest}`);
    expect(r.dependencies).toEqual(["pandas==2.2.2", "scikit-learn>=1.5"]);
    expect((await registry.getManifest("localhost/room/jobs/job-1", "latest"))?.digest).toBe(r.imageDigest);

    const { manifest } = await readImageManifest(registry, "localhost/room/jobs/job-1", r.imageDigest);
    const baseManifest = (await readImageManifest(registry, BASES_REPO, base.digest)).manifest;
    expect(manifest.layers.slice(0, -1)).toEqual(baseManifest.layers);
    expect(manifest.layers).toHaveLength(baseManifest.layers.length + 1);
    const config = await readImageConfig(registry, "localhost/room/jobs/job-1", manifest);
    const baseConfig = await readImageConfig(registry, BASES_REPO, baseManifest);
    expect({ ...config, rootfs: undefined, history: undefined }).toEqual({ ...baseConfig, rootfs: undefined, history: undefined });
    expect(config.history).toHaveLength((baseConfig.history ?? []).length + 1);

    const layer = readTar(gunzipSync(await registry.getBlob("localhost/room/jobs/job-1", manifest.layers.at(-1)!.digest)));
    expect(layer.map((e) => [e.path, e.type, e.mode])).toEqual([
      ["workspace/", "dir", 0o755],
      ["workspace/.python/", "dir", 0o755],
      ["workspace/.python/requirements.lock", "file", 0o644],
      ["workspace/analysis.ipynb", "file", 0o644],
      ["workspace/lib/", "dir", 0o755],
      ["workspace/lib/helpers.py", "file", 0o755],
    ]);
    expect(layer[2].content.toString()).toBe("pandas==2.2.2\nscikit-learn>=1.5\n");
    expect(r.files).toEqual([
      { path: ".python/requirements.lock", sha256: sha256Hex(layer[2].content), size: layer[2].content.length },
      { path: "analysis.ipynb", sha256: sha256Hex(NOTEBOOK), size: NOTEBOOK.length },
      { path: "lib/helpers.py", sha256: sha256Hex(layer[5].content), size: layer[5].content.length },
    ]);
  });

  it("gives the same digest for the same workspace and base, in another registry and target", async () => {
    const one = await setup();
    const two = await setup();
    const s1 = await one.builder.poll(await one.builder.start(request(one.base.reference)));
    const s2 = await two.builder.poll(await two.builder.start(request(two.base.reference, "localhost/room/jobs/job-2")));
    if (s1.state !== "succeeded" || s2.state !== "succeeded") throw new Error("build failed");
    expect(s2.record.imageDigest).toBe(s1.record.imageDigest);
    const other = await one.builder.poll(await one.builder.start(request(one.base.reference, "localhost/room/jobs/job-3", workspaceTarball([{ path: "alice-workspace/x.py", content: "x" }]))));
    if (other.state !== "succeeded") throw new Error("build failed");
    expect(other.record.imageDigest).not.toBe(s1.record.imageDigest);
  });

  it("fails the build naming a symlink in the workspace, and a second top-level directory", async () => {
    const { base, builder } = await setup();
    const dir = tmp();
    mkdirSync(join(dir, "alice-workspace"));
    writeFileSync(join(dir, "alice-workspace", "a.ipynb"), "{}");
    symlinkSync("/etc/shadow", join(dir, "alice-workspace", "data"));
    execFileSync("tar", ["-C", dir, "-czf", join(dir, "ws.tgz"), "alice-workspace"]);
    const linked = readFileSync(join(dir, "ws.tgz"));
    const s = await builder.poll(await builder.start(request(base.reference, "localhost/room/jobs/job-4", linked)));
    expect(s).toEqual({ state: "failed", error: expect.stringMatching(/workspace entry data is a symlink: only regular files and directories/) });

    const two = workspaceTarball([{ path: "bob-workspace/x.py", content: "x" }]);
    const s2 = await builder.poll(await builder.start(request(base.reference, "localhost/room/jobs/job-5", two)));
    expect(s2).toEqual({ state: "failed", error: expect.stringMatching(/one top-level directory.*alice-workspace and bob-workspace/) });
  });

  it("fails when the base is not in the registry, naming it", async () => {
    const { builder } = await setup();
    const missing = `${BASES_REPO}@sha256:${"0".repeat(64)}`;
    const s = await builder.poll(await builder.start(request(missing)));
    expect(s).toEqual({ state: "failed", error: expect.stringContaining(`${missing}: no such manifest`) });
    expect(await builder.poll("local-unknown")).toEqual({ state: "failed", error: expect.stringMatching(/unknown.*start it again/) });
  });
});

describe("CloudBuildBuilder", () => {
  const gcloud = `gcr.io/google.com/cloudsdktool/google-cloud-cli@sha256:${"a".repeat(64)}`;
  const crane = `gcr.io/go-containerregistry/gcrane@sha256:${"b".repeat(64)}`;
  const baseRef = `europe-west4-docker.pkg.dev/p/room-images/executor@sha256:${"c".repeat(64)}`;
  const target = "europe-west4-docker.pkg.dev/p/room-images/job-0b5c7c4e-5d0e-4d6f-9b8e-1f6a2b3c4d5e";

  class FakeCloudBuild implements CloudBuildClientLike {
    created: { parent: string; projectId: string; build: CloudBuildSpec }[] = [];
    responses: CloudBuildStatus[] = [];
    getRequests: { name: string; id: string }[] = [];
    async createBuild(request: { parent: string; projectId: string; build: CloudBuildSpec }): Promise<[{ metadata?: unknown }]> {
      this.created.push(request);
      return [{ metadata: { build: { id: `build-${this.created.length}` } } }];
    }
    async getBuild(request: { name: string; projectId: string; id: string }): Promise<[CloudBuildStatus]> {
      this.getRequests.push(request);
      return [this.responses.shift()!];
    }
  }

  function builder(client: CloudBuildClientLike, registry = new LocalRegistry(tmp())) {
    return new CloudBuildBuilder({
      client,
      project: "p",
      region: "europe-west4",
      serviceAccount: "room-builder@p.iam.gserviceaccount.com",
      workspaceBucket: "room-workspaces",
      registry,
      images: { gcloud, crane },
    });
  }

  it("submits copy, unpack, pip install in the base, a deterministic tar and crane append, as the builder identity", async () => {
    const client = new FakeCloudBuild();
    const j = job();
    const id = await builder(client).start({ job: j, workspace: Buffer.alloc(0), base: baseRef, target });
    expect(id).toBe("build-1");
    const { parent, build } = client.created[0];
    expect(parent).toBe("projects/p/locations/europe-west4");
    expect(build.serviceAccount).toBe("projects/p/serviceAccounts/room-builder@p.iam.gserviceaccount.com");
    expect(build.options.logging).toBe("CLOUD_LOGGING_ONLY");
    const [fetch, unpack, pip, pack, append] = build.steps;
    expect(fetch).toMatchObject({ name: gcloud, args: ["storage", "cp", `gs://room-workspaces/workspaces/${j.workspace.sha256}.tar.gz`, "/stage/workspace.tar.gz"] });
    expect(unpack.args[1]).toContain(`echo '${j.workspace.sha256}  /stage/workspace.tar.gz' | sha256sum -c -`);
    expect(pip).toMatchObject({
      name: baseRef,
      entrypoint: "python3",
      args: ["-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", "--no-input", "--target", "/layer/workspace/.python", "pandas==2.2.2", "scikit-learn>=1.5"],
    });
    expect(pack.args[1]).toContain("tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=go-w,a-st --hard-dereference -C /layer -cf /stage/layer.tar workspace");
    expect(append).toMatchObject({ name: crane, entrypoint: "sh", args: ["-c", expect.any(String), "append", baseRef, `${target}:latest`] });
    expect(append.args[1]).toMatch(/gcrane append --base "\$\$1" --new_layer \/stage\/layer\.tar --new_tag "\$\$2" && gcrane digest "\$\$2" > "\$\$BUILDER_OUTPUT\/output"/);
    // Every shell `$` is escaped from Cloud Build's substitutions.
    for (const s of build.steps) for (const a of s.args) expect(a.replace(/\$\$/g, "")).not.toContain("$");
  });

  it("puts no secret, URL or per-job value into the image: only the base, the workspace and the dependencies", () => {
    const j = job();
    const spec = builder(new FakeCloudBuild()).buildSpec({ job: j, workspace: Buffer.alloc(0), base: baseRef, target });
    // The push destination is the only per-job value, and only as crane's --new_tag argument.
    const append = spec.steps.find((s) => s.id === "append-layer")!;
    expect(append.args[4]).toBe(`${target}:latest`);
    const imageAffecting = JSON.stringify({ ...spec, steps: spec.steps.map((s) => (s === append ? { ...s, args: s.args.slice(0, 4) } : s)) });
    for (const perJob of [j.uuid, j.creator, j.notebook, j.purpose, "SECRET_TOKEN", "s3cr3t-value", "https://", "http://"]) {
      expect(imageAffecting).not.toContain(perJob);
    }
    expect(spec.steps.every((s) => !("env" in s) && !("secretEnv" in s))).toBe(true);
    // What varies between jobs is exactly: the workspace hash, the dependencies, the base.
    const other = builder(new FakeCloudBuild()).buildSpec({
      job: job({ uuid: "ffffffff-0000-4000-8000-000000000000", creator: "bob", envs: [] }),
      workspace: Buffer.alloc(0),
      base: baseRef,
      target: "europe-west4-docker.pkg.dev/p/room-images/job-ffffffff-0000-4000-8000-000000000000",
    });
    const strip = (s: CloudBuildSpec) => JSON.stringify(s.steps.map((st) => ({ ...st, args: st.id === "append-layer" ? st.args.slice(0, 4) : st.args })));
    expect(strip(other)).toBe(strip(spec));
  });

  it("refuses a dependency that would be a pip option", async () => {
    const j = job();
    const bad = { ...j, workspace: { ...j.workspace, dependencies: ["--index-url=https://evil.example/simple", "pandas"] } };
    await expect(builder(new FakeCloudBuild()).start({ job: bad, workspace: Buffer.alloc(0), base: baseRef, target })).rejects.toThrow(/dependency "--index-url=.*no pip options/);
  });

  it("maps Cloud Build statuses, and on success lists the image's last layer from the registry", async () => {
    const registry = new LocalRegistry(tmp());
    const base = await createLocalExecutorBase(registry, "europe-west4-docker.pkg.dev/p/room-images/executor");
    const tarball = workspaceTarball();
    const local = new LocalBuilder({ registry });
    const s = await local.poll(await local.start({ job: job({}, tarball), workspace: tarball, base: base.reference, target }));
    if (s.state !== "succeeded") throw new Error(JSON.stringify(s));

    const client = new FakeCloudBuild();
    const b = builder(client, registry);
    const id = await b.start({ job: job({}, tarball), workspace: tarball, base: base.reference, target });
    const steps = client.created[0].build.steps.map((st) => ({ id: st.id, name: st.name, args: [...st.args] }));
    const outputs = steps.map((st) => (st.id === "append-layer" ? Buffer.from(`${s.record.imageDigest}\n`) : Buffer.alloc(0)));
    client.responses.push(
      { status: "QUEUED" },
      { status: 2 },
      { status: "FAILURE", failureInfo: { detail: "Step #2 - \"install-dependencies\": exit status 1" } },
      { status: "SUCCESS", steps, results: { buildStepOutputs: outputs } },
      { status: "SUCCESS", steps, results: { buildStepOutputs: [] } },
    );
    expect(await b.poll(id)).toEqual({ state: "running" });
    expect(await b.poll(id)).toEqual({ state: "running" });
    expect(await b.poll(id)).toEqual({ state: "failed", error: 'Cloud Build build-1: FAILURE: Step #2 - "install-dependencies": exit status 1' });
    const ok = await b.poll(id);
    expect(ok).toEqual({
      state: "succeeded",
      record: {
        imageDigest: s.record.imageDigest,
        imageReference: `${target}@${s.record.imageDigest}`,
        baseDigest: base.digest,
        files: s.record.files,
        dependencies: ["pandas==2.2.2", "scikit-learn>=1.5"],
        buildId: "build-1",
      },
    });
    expect(await b.poll(id)).toEqual({ state: "failed", error: expect.stringMatching(/succeeded, but step append-layer wrote no image digest/) });
    expect(client.getRequests[0]).toMatchObject({ name: "projects/p/locations/europe-west4/builds/build-1", id: "build-1" });
  });
});

void realClientFits;
