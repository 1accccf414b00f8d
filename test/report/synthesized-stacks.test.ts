/**
 * readSynthesizedStacks reads the stacks of the latest synth only: cdktf leaves the stack
 * directories of an earlier synth (another config) in the outdir, and the report must not
 * cross-check this room against another room's grants.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { readSynthesizedStacks } from "../../lib/report/access-report";

describe("readSynthesizedStacks", () => {
  let outdir: string;
  const stack = (name: string, bucket: string) => {
    mkdirSync(path.join(outdir, "stacks", name), { recursive: true });
    writeFileSync(
      path.join(outdir, "stacks", name, "cdk.tf.json"),
      JSON.stringify({ resource: { google_storage_bucket: { b: { name: bucket } } } }),
    );
  };

  beforeEach(() => {
    outdir = mkdtempSync(path.join(tmpdir(), "manatee-stacks-"));
    stack("room-platform", "room-bucket");
    stack("room-workloads", "room-workloads-bucket");
    stack("old-room-platform", "stale-bucket"); // left by an earlier synth of another config
  });

  afterEach(() => rmSync(outdir, { recursive: true, force: true }));

  test("given cdktf's manifest, then only the stacks it lists are read, in name order", () => {
    const manifest = {
      stacks: {
        "room-workloads": { synthesizedStackPath: "stacks/room-workloads/cdk.tf.json" },
        "room-platform": { synthesizedStackPath: "stacks/room-platform/cdk.tf.json" },
      },
    };
    writeFileSync(path.join(outdir, "manifest.json"), JSON.stringify(manifest));
    const names = readSynthesizedStacks(outdir).map((s: any) => s.resource.google_storage_bucket.b.name);
    expect(names).toEqual(["room-bucket", "room-workloads-bucket"]);
  });

  test("given no manifest (stacks copied by hand), then every stack directory is read", () => {
    const names = readSynthesizedStacks(outdir).map((s: any) => s.resource.google_storage_bucket.b.name);
    expect(names).toEqual(["stale-bucket", "room-bucket", "room-workloads-bucket"]);
  });
});
