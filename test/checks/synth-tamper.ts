/**
 * `manatee check` over tampered copies of a shipped room's synthesized output: synthesize once,
 * then for each tamper copy the output, change one stack's JSON and run the real CLI on it.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { synthesize } from "../../bin/main";
import { run } from "../../lib/cli/check";
import { SynthJson, resources } from "../util";

export interface TamperedRoom {
  /** The untampered JSON of `stack`. */
  readonly json: SynthJson;
  /** Exit code and output of `manatee check --policy <config>` over a copy whose `stack` JSON `tamper` changed. */
  check(tamper: (json: SynthJson) => void): Promise<{ code: number; stdout: string }>;
}

export function tamperedRoom(config: string, stack: string): TamperedRoom {
  const outdir = synthesize(config, mkdtempSync(join(tmpdir(), "manatee-tamper-"))).outdir;
  const path = (dir: string) => join(dir, "stacks", stack, "cdk.tf.json");
  const json: SynthJson = JSON.parse(readFileSync(path(outdir), "utf8"));
  return {
    json,
    async check(tamper) {
      const copy = mkdtempSync(join(tmpdir(), "manatee-tampered-"));
      cpSync(outdir, copy, { recursive: true });
      const changed: SynthJson = JSON.parse(JSON.stringify(json));
      tamper(changed);
      writeFileSync(path(copy), JSON.stringify(changed));
      let stdout = "";
      const code = await run(["--config", copy, "--policy", config], { stdout: { write: (c: string) => (stdout += c) }, stderr: { write: () => true } });
      return { code, stdout };
    },
  };
}

/** Rule ids of the ERROR lines of `manatee check`'s output. */
export const errorIds = (stdout: string) => [...stdout.matchAll(/^ERROR\s+(MCR-[A-Z0-9]+)/gm)].map((m) => m[1]);

/** Add (or replace) `resource.<type>.<name>`. */
export function addResource(json: SynthJson, type: string, name: string, config: object): void {
  const all = ((json as { resource?: Record<string, Record<string, unknown>> }).resource ??= {});
  (all[type] ??= {})[name] = config;
}

/** The id of the first `type` resource whose config `match` accepts. */
export function resourceId(json: SynthJson, type: string, match: (config: any) => boolean): string {
  const found = resources(json, type).find(([, c]) => match(c));
  if (!found) throw new Error(`no ${type} matches`);
  return found[0];
}
