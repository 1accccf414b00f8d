import { gzipSync } from "node:zlib";
import { parseWorkspace, WorkspaceError, type ParseWorkspaceOptions } from "../src/workspace";
import { notebook, rawTarball, sha256hex, workspaceTarball } from "./helpers";

const opts: ParseWorkspaceOptions = { notebook: "analysis.ipynb", maxBytes: 1024 * 1024 };

async function refused(bytes: Buffer, pattern: RegExp, o = opts) {
  const p = parseWorkspace(bytes, o);
  await expect(p).rejects.toBeInstanceOf(WorkspaceError);
  await expect(p).rejects.toThrow(pattern);
}

describe("parseWorkspace", () => {
  test("a tarball made like the extension's: files relative to the workspace, hashes, metadata", async () => {
    const nb = notebook({ datasets: ["insurance"], purpose: "claims model", cells: ["!pip install -q pandas==2.2.2 'scikit-learn>=1.4'\nimport pandas", "%pip install --upgrade numpy"] });
    const bytes = await workspaceTarball("alice", {
      "analysis.ipynb": nb,
      "lib/util.py": "x = 1\n",
      "requirements.txt": "# pinned\npolars==1.0  # fast\n\n-r requirements-dev.txt\n",
      "requirements-dev.txt": "pytest\n",
    });
    const ws = await parseWorkspace(bytes, opts);
    const byPath = Object.fromEntries(ws.files.map((f) => [f.path, f]));
    expect(Object.keys(byPath).sort()).toEqual(["analysis.ipynb", "lib/util.py", "requirements-dev.txt", "requirements.txt"]);
    expect(byPath["lib/util.py"]).toEqual({ path: "lib/util.py", sha256: sha256hex("x = 1\n"), size: 6 });
    expect(ws.datasets).toEqual(["insurance"]);
    expect(ws.purpose).toBe("claims model");
    expect(ws.notebook).toMatchObject({ nbformat: 4 });
    expect(ws.dependencies).toEqual(["pytest", "polars==1.0", "pandas==2.2.2", "scikit-learn>=1.4", "numpy"]);
  });

  test("without manatee metadata datasets and purpose are absent", async () => {
    const ws = await parseWorkspace(await workspaceTarball("bob", { "analysis.ipynb": notebook() }), opts);
    expect(ws.datasets).toBeUndefined();
    expect(ws.purpose).toBeUndefined();
    expect(ws.dependencies).toEqual([]);
  });

  test.each([
    ["symlink", [{ path: "a-workspace/analysis.ipynb", content: notebook() }, { path: "a-workspace/k", type: "SymbolicLink" as const, linkpath: "/etc/passwd" }], /"a-workspace\/k": symbolic link refused/],
    ["hard link", [{ path: "a-workspace/analysis.ipynb", content: notebook() }, { path: "a-workspace/h", type: "Link" as const, linkpath: "a-workspace/analysis.ipynb" }], /"a-workspace\/h": hard link refused/],
    ["device", [{ path: "a-workspace/analysis.ipynb", content: notebook() }, { path: "a-workspace/d", type: "CharacterDevice" as const }], /"a-workspace\/d": CharacterDevice entry refused/],
    ["fifo", [{ path: "a-workspace/analysis.ipynb", content: notebook() }, { path: "a-workspace/f", type: "FIFO" as const }], /"a-workspace\/f": FIFO entry refused/],
    ["setuid", [{ path: "a-workspace/analysis.ipynb", content: notebook() }, { path: "a-workspace/run", mode: 0o4755, content: "#!/bin/sh" }], /"a-workspace\/run": setuid\/setgid bit set \(mode 4755\)/],
    ["setgid directory", [{ path: "a-workspace/d/", type: "Directory" as const, mode: 0o2755 }, { path: "a-workspace/analysis.ipynb", content: notebook() }], /setuid\/setgid/],
    ["..", [{ path: "a-workspace/analysis.ipynb", content: notebook() }, { path: "a-workspace/../../etc/cron.d/x", content: "x" }], /'\.\.' refused/],
    ["absolute path", [{ path: "/etc/passwd", content: "x" }], /"\/etc\/passwd": absolute path refused/],
    ["two top directories", [{ path: "a-workspace/analysis.ipynb", content: notebook() }, { path: "b-workspace/x", content: "x" }], /"b-workspace\/x": outside the workspace directory/],
    ["duplicate path", [{ path: "a-workspace/analysis.ipynb", content: notebook() }, { path: "a-workspace/./analysis.ipynb", content: "{}" }], /duplicate path "analysis.ipynb"/],
    ["file below a file", [{ path: "a-workspace/analysis.ipynb", content: notebook() }, { path: "a-workspace/analysis.ipynb/x", content: "x" }], /"analysis.ipynb" is a file/],
    ["notebook missing", [{ path: "a-workspace/sub/analysis.ipynb", content: notebook() }], /notebook "analysis.ipynb" is not at the workspace root/],
    ["notebook not JSON", [{ path: "a-workspace/analysis.ipynb", content: "{not json" }], /notebook "analysis.ipynb" is not valid JSON/],
    ["datasets not a list", [{ path: "a-workspace/analysis.ipynb", content: JSON.stringify({ metadata: { manatee: { datasets: "insurance" } } }) }], /metadata\.manatee\.datasets: expected a list/],
  ])("refuses %s", async (_name, entries, pattern) => {
    await refused(rawTarball(entries), pattern);
  });

  test("refuses a symlink packed by the tar package from a real home directory", async () => {
    await refused(await workspaceTarball("alice", { "analysis.ipynb": notebook() }, { "data.csv": "/secrets/data.csv" }), /"alice-workspace\/data\.csv": symbolic link refused/);
  });

  test("size: the upload and the decompressed stream are both bounded (zip bomb)", async () => {
    const big = await workspaceTarball("a", { "analysis.ipynb": notebook(), "blob.bin": Buffer.alloc(300_000, 7) });
    await refused(big, /decompresses to more than 100000 bytes/, { ...opts, maxBytes: 100_000 });
    expect(big.length).toBeLessThan(100_000); // compresses well: only the decompressed check catches it
    await refused(big, /bytes is over the room's limit of 100 /, { ...opts, maxBytes: 100 });
  });

  test("refuses too many entries, non-gzip input and damaged tar", async () => {
    const many = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i}`, "x"]));
    await refused(await workspaceTarball("a", { ...many, "analysis.ipynb": notebook() }), /more than 10 entries/, { ...opts, maxFiles: 10 });
    await refused(Buffer.from("plain text"), /expected a gzip-compressed tar/);
    await refused(gzipSync(Buffer.alloc(700, 1)), /damaged tar/);
  });

  test.each([
    ["!pip install -e .", /editable installs \(-e\) are refused/],
    ["!pip install --index-url https://evil/simple pandas", /--index-url is refused/],
    ["%pip install --extra-index-url=https://evil pandas", /--extra-index-url is refused/],
    ["!pip install git+https://github.com/x/y", /installs from a URL/],
    ["!pip install pkg@https://x/pkg.whl", /installs from a URL/],
    ["!pip install ./vendor/pkg", /is a local path/],
    ["!pip install /tmp/x.whl", /is a local path/],
    ["!pip install $PKG", /uses a variable/],
    ["!pip install --target /x pandas", /pip option --target is not supported/],
  ])("refuses notebook line %s with a message", async (line, pattern) => {
    const nb = notebook({ cells: ["import os", line] });
    await refused(await workspaceTarball("a", { "analysis.ipynb": nb }), new RegExp(`cell 2.*${pattern.source}`));
  });

  test("refuses a URL in requirements.txt naming file and line", async () => {
    const bytes = await workspaceTarball("a", { "analysis.ipynb": notebook(), "requirements.txt": "pandas\nhttps://evil/pkg.tar.gz\n" });
    await refused(bytes, /requirements\.txt line 2: "https:\/\/evil\/pkg\.tar\.gz" installs from a URL/);
  });

  test("pip lines: quoting, shell operators, python -m pip, markers", async () => {
    const nb = notebook({ cells: ['!python -m pip install "torch==2.3; python_version >= \\"3.10\\"" && echo done', "!pip3 install requests>=2 # redirect in a shell", "!pip list"] });
    const ws = await parseWorkspace(await workspaceTarball("a", { "analysis.ipynb": nb }), opts);
    expect(ws.dependencies).toEqual(['torch==2.3; python_version >= "3.10"', "requests"]);
  });
});
