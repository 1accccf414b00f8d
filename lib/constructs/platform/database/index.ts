/**
 * The job service's state.
 *
 * `JobStateStore` (what `CleanRoom` creates): a Firestore database in native mode, in the room's
 * region. Why Firestore and not Cloud SQL, as ManaTEE uses: there is no instance to size, patch
 * and peer into the VPC, no password or Auth Proxy sidecar, and no one-time `GRANT` (or
 * `assign-roles`) step after the first deploy — access is one IAM grant, limited to this
 * database by a condition. Its per-document transactions give the job service exactly the
 * preconditions it needs (a job's status changes only from the version it read), and the job
 * table is small.
 *
 * `JobDatabase`: the former Cloud SQL for MySQL database, kept as an optional construct for
 * compositions that still run ManaTEE's Go services. Private IP only, reachable through the
 * Cloud SQL Auth Proxy, with IAM database authentication so there is no password anywhere.
 * ManaTEE's Go code builds the DSN `user:pass@tcp(localhost:9910)/db`; with the proxy started
 * with `--auto-iam-authn`, the app passes `databaseUserName` and an EMPTY password.
 *
 * This file is the barrel; the code lives in lib/constructs/platform/database/, one construct per file.
 */
export * from "./job-state-store";
export * from "./job-database";
