/** Datasets: names, retention, stage-1 release settings, access, owners and approver keys. */
import { ACCESS_MODES, STAGE1_KINDS } from "../model";
import { Checker, isPlainMap } from "./checker";
import { EXPECT } from "./expectations";
import { PolicyPath, describeValue } from "./issues";
import { DATASET_NAME, FIELDS, FINGERPRINT, POLICY_LIMITS, STAGE1_PARAMETERS } from "./vocabulary";

function checkStage1(c: Checker, path: PolicyPath, value: unknown): void {
  const all = ["kind", ...new Set(Object.values(STAGE1_PARAMETERS).flat())];
  if (!isPlainMap(value)) {
    c.fail(path, EXPECT.stage1, value);
    return;
  }
  const kind = value.kind === undefined ? c.fail([...path, "kind"], EXPECT.kind, undefined) : c.oneOf([...path, "kind"], value.kind, STAGE1_KINDS);
  // With an unknown kind, only flag fields no kind takes: anything more would be noise.
  const params = kind ? STAGE1_PARAMETERS[kind] : all.slice(1);
  const known = ["kind", ...params];
  for (const key of Object.keys(value)) {
    if (value[key] === undefined || known.includes(key)) continue;
    if (kind && all.includes(key)) c.unknownField([...path, key], key, known, `not a parameter of stage1 kind ${kind}`);
    else c.unknownField([...path, key], key, known);
  }
  if (kind === "dp-synthetic") {
    const p = (k: string) => [...path, k];
    if (value.mechanism === undefined) c.fail(p("mechanism"), EXPECT.mechanism, undefined);
    else c.string(p("mechanism"), value.mechanism, EXPECT.mechanism, (s) => s.trim().length > 0);
    c.number(p("epsilon"), value.epsilon, "a number > 0", (n) => n > 0);
    if (value.delta !== undefined) c.number(p("delta"), value.delta, "a number >= 0 and < 1", (n) => n >= 0 && n < 1);
  } else if (kind === "sample") {
    c.number([...path, "fraction"], value.fraction, "a number > 0 and <= 1", (n) => n > 0 && n <= 1);
  }
}

/** The datasets map; returns the names written, for the rules that refer to datasets. */
export function checkDatasets(c: Checker, value: unknown, at: PolicyPath = ["datasets"]): string[] {
  const expected = EXPECT.datasets;
  if (value === undefined) return [];
  if (!isPlainMap(value) || Object.keys(value).length === 0) {
    c.fail(at, expected, value);
    return [];
  }
  for (const [name, settings] of Object.entries(value)) {
    const path = [...at, name];
    if (!DATASET_NAME.test(name)) c.fail(path, EXPECT.datasetName, name, { at: "key" });
    const d = c.map(path, settings, "the dataset's settings: { stage1, retentionDays, access, owners, approverKey }", FIELDS.dataset, {
      stage1: EXPECT.stage1,
    });
    if (!d) continue;
    if (d.retentionDays !== undefined) {
      c.number([...path, "retentionDays"], d.retentionDays, `a whole number of days from 1 to ${POLICY_LIMITS.maxRetentionDays}`, (n) =>
        Number.isInteger(n) && n >= 1 && n <= POLICY_LIMITS.maxRetentionDays,
      );
    }
    if (d.stage1 !== undefined) checkStage1(c, [...path, "stage1"], d.stage1);
    if (d.access !== undefined) c.oneOf([...path, "access"], d.access, ACCESS_MODES);
    if (d.owners !== undefined) {
      c.list([...path, "owners"], d.owners, EXPECT.principals, (p, v) => c.principal(p, v));
    }
    if (d.approverKey !== undefined) {
      const key = c.map([...path, "approverKey"], d.approverKey, EXPECT.approverKey, FIELDS.approverKey, { fingerprint: EXPECT.fingerprint });
      if (key?.fingerprint !== undefined) {
        const fp = key.fingerprint;
        // The likeliest mistakes: an uppercase or colon-separated hex dump, or a `sha256:` prefix.
        const hint =
          typeof fp === "string" && /^(sha256:)?[0-9a-fA-F:]+$/.test(fp) && fp.replace(/^sha256:/, "").replace(/:/g, "").toLowerCase().length === 64
            ? `; write it as ${JSON.stringify(fp.replace(/^sha256:/, "").replace(/:/g, "").toLowerCase())}`
            : "";
        if (typeof fp !== "string" || !FINGERPRINT.test(fp)) {
          c.fail([...path, "approverKey", "fingerprint"], EXPECT.fingerprint, fp, hint ? { detail: `expected ${EXPECT.fingerprint}, found ${describeValue(fp)}${hint}` } : {});
        }
      }
    }
  }
  return Object.keys(value);
}
