/** Finding the stacks a cdktf app synthesized (no cdktf import: the CLI reads them too). */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * `<outdir>/stacks/<name>/cdk.tf.json` of every synthesized stack, in name order. When the
 * outdir has cdktf's manifest.json, only the stacks it lists count: cdktf never removes the
 * stack directories of an earlier synth (of another config, say), and they are not this app's.
 */
export function synthesizedStackFiles(outdir: string): { name: string; file: string }[] {
  const stacksDir = join(outdir, "stacks");
  const manifestFile = join(outdir, "manifest.json");
  const listed = existsSync(manifestFile)
    ? Object.values((JSON.parse(readFileSync(manifestFile, "utf8")) as { stacks?: Record<string, { synthesizedStackPath?: string }> }).stacks ?? {})
        .map((s) => s.synthesizedStackPath)
        .filter((p): p is string => typeof p === "string")
        .map((p) => join(outdir, p))
    : undefined;
  const names = existsSync(stacksDir) ? readdirSync(stacksDir).sort() : [];
  return names
    .map((name) => ({ name, file: join(stacksDir, name, "cdk.tf.json") }))
    .filter(({ file }) => existsSync(file) && (listed === undefined || listed.includes(file)));
}
