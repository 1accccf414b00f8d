/**
 * The examples/ projects, built the way a user gets the package (issue 14): `npm pack`, the
 * tarball unpacked as each example's `manatee-cdktf`, the optional Helm/Kubernetes peers absent
 * unless the example lists them; each compiles, synthesizes, passes its own test.ts and matches
 * its synth summary (scripts/examples.js). The pack skips `prepare`: `npm ci` built dist/.
 */
const { runExamples, exampleNames } = require("../scripts/examples.js") as {
  runExamples: (o: object) => { name: string; ok: boolean; problems: string[]; hidden: string[] }[];
  exampleNames: () => string[];
};

describe("examples/ against the packed package", () => {
  let results: ReturnType<typeof runExamples>;
  beforeAll(() => {
    results = runExamples({ build: false });
  }, 300_000);

  test("given the examples folder, then every example was run", () => {
    expect(results.map((r) => r.name)).toEqual(exampleNames());
    expect(exampleNames()).toEqual(expect.arrayContaining(["yaml-room", "own-stack", "two-rooms", "suppressions"]));
  });

  test.each(exampleNames())("given example %s, when built from the tarball, then it synthesizes and passes its own checks", (name) => {
    const r = results.find((x) => x.name === name)!;
    expect(r.problems).toEqual([]);
  });

  test("given rooms without JupyterHub, then they run without the Helm and Kubernetes providers installed", () => {
    const without = results.filter((r) => r.hidden.length === 2).map((r) => r.name);
    expect(without).toEqual(expect.arrayContaining(["own-stack", "two-rooms", "suppressions"]));
  });
});
