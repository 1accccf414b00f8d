/** What may run on the data: standing image approvals and the job service's settings for job approvals. */
import { Checker } from "./checker";
import { EXPECT } from "./expectations";
import { PolicyPath, closest, describeValue } from "./issues";
import { EMAIL, ENV_NAME, FIELDS, IMAGE_DIGEST, ISO_DATE, PINNED_IMAGE, POLICY_LIMITS } from "./vocabulary";

/** A real calendar date (rejects 2027-02-30). */
export function isCalendarDate(value: string): boolean {
  const m = ISO_DATE.exec(value);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

/**
 * Standing approvals: each names an image digest, declared datasets, a purpose, its approver and an expiry date.
 * @param elsewhere for a consortium party's approvals: why a dataset declared by someone else cannot be named here.
 */
export function checkApprovals(
  c: Checker,
  value: unknown,
  datasets: readonly string[],
  at: PolicyPath = ["approvals"],
  elsewhere: (dataset: string) => string | undefined = () => undefined,
): void {
  if (value === undefined) return;
  c.list(at, value, "a list of approvals", (path, item) => {
    const a = c.map(path, item, "an approval: { imageDigest, datasets, purpose, approvedBy, expires }", FIELDS.approval, {
      imageDigest: EXPECT.digest,
      datasets: EXPECT.approvalDatasets,
      purpose: EXPECT.purpose,
      approvedBy: EXPECT.approvedBy,
    });
    if (!a) return undefined;
    if (a.imageDigest !== undefined) c.string([...path, "imageDigest"], a.imageDigest, EXPECT.digest, (s) => IMAGE_DIGEST.test(s));
    if (a.datasets !== undefined) {
      const expected = datasets.length ? `a declared dataset (one of ${datasets.join(", ")})` : "a declared dataset";
      c.list([...path, "datasets"], a.datasets, EXPECT.approvalDatasets, (p, v) => {
        if (typeof v === "string" && datasets.includes(v)) return v;
        const foreign = typeof v === "string" ? elsewhere(v) : undefined;
        if (foreign) return c.fail(p, expected, v, { detail: foreign });
        const guess = typeof v === "string" ? closest(v, datasets) : undefined;
        return c.fail(p, expected, v, guess ? { detail: `expected ${expected}, found ${describeValue(v)}; did you mean "${guess}"?` } : {});
      }, { nonEmpty: true });
    }
    if (a.purpose !== undefined) c.string([...path, "purpose"], a.purpose, EXPECT.purpose, (s) => s.trim().length > 0);
    if (a.approvedBy !== undefined) c.string([...path, "approvedBy"], a.approvedBy, EXPECT.approvedBy, (s) => EMAIL.test(s));
    if (a.expires !== undefined) c.string([...path, "expires"], a.expires, EXPECT.date, isCalendarDate);
    return a;
  }, { unique: false });
}

/** The job service: approved executor bases, the pinned executor, limits and env overrides. */
export function checkJobs(c: Checker, value: unknown): void {
  if (value === undefined) return;
  const jobs = c.map(["jobs"], value, EXPECT.jobs, FIELDS.jobs);
  if (!jobs) return;
  const p = (k: string) => ["jobs", k];
  let bases: string[] | undefined;
  if (jobs.executorBases !== undefined) {
    bases = c.list(p("executorBases"), jobs.executorBases, EXPECT.executorBases, (q, v) => c.string(q, v, EXPECT.digest, (s) => IMAGE_DIGEST.test(s)));
  }
  if (jobs.executorBase !== undefined) {
    const ref = c.string(p("executorBase"), jobs.executorBase, EXPECT.executorBase, (s) => PINNED_IMAGE.test(s));
    const digest = ref ? PINNED_IMAGE.exec(ref)![3] : undefined;
    // Only a fully valid list proves the digest missing.
    const listValid = bases !== undefined && bases.length === (jobs.executorBases as unknown[]).length;
    if (digest && (jobs.executorBases === undefined || (listValid && !bases!.includes(digest)))) {
      c.fail(p("executorBase"), "a pull reference whose digest is in jobs.executorBases", ref, {
        detail: `the digest ${digest} of jobs.executorBase is not in jobs.executorBases, so no job built from it could be approved; add "${digest}" to jobs.executorBases or pin executorBase to an approved base`,
      });
    }
  }
  if (jobs.maxJobsInProgressPerResearcher !== undefined) {
    const max = POLICY_LIMITS.maxJobsInProgressPerResearcher;
    c.number(p("maxJobsInProgressPerResearcher"), jobs.maxJobsInProgressPerResearcher, `a whole number from 1 to ${max}`, (n) => Number.isInteger(n) && n >= 1 && n <= max);
  }
  if (jobs.timeoutMinutes !== undefined) {
    const { minJobTimeoutMinutes: lo, maxJobTimeoutMinutes: hi } = POLICY_LIMITS;
    c.number(p("timeoutMinutes"), jobs.timeoutMinutes, `a whole number of minutes from ${lo} to ${hi} (a day)`, (n) => Number.isInteger(n) && n >= lo && n <= hi);
  }
  if (jobs.allowEnvOverrides !== undefined) {
    c.list(p("allowEnvOverrides"), jobs.allowEnvOverrides, "a list of environment variable names", (q, v) => c.string(q, v, EXPECT.envName, (s) => ENV_NAME.test(s)));
  }
  if (jobs.maxWorkspaceMiB !== undefined) {
    const max = POLICY_LIMITS.maxWorkspaceMiB;
    c.number(p("maxWorkspaceMiB"), jobs.maxWorkspaceMiB, `a whole number of MiB from 1 to ${max}`, (n) => Number.isInteger(n) && n >= 1 && n <= max);
  }
}
