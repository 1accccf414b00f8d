/**
 * `manatee jobs show|approve|reject`: what a data owner does with a built job, with their own
 * credentials. `approve` re-reads the image by digest and refuses it unless it is an approved
 * executor base plus one workspace layer whose files are exactly the reviewed ones; then it
 * signs the digest with the dataset's approver key and pushes the signature to the dataset's
 * signature repository. The job service can neither sign nor push there.
 *
 * `--local DIR` works on a local room's state (`manatee job-service --local --state DIR`).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { JobServiceConfig } from "../../job-service/src/config";
import { OwnerActionError, approveJob, rejectJob } from "../../job-service/src/owner-actions";
import type { BuildRecord, WorkspaceFile } from "../../job-service/src/ports";
import { reviewJobImage } from "../../job-service/src/review";
import { CliIo, parseArgs } from "./io";
import { localOwnerSigner, readLocalConfig } from "./local-prepare";
import { LocalRegistry } from "../../job-service/src/local-registry";

const USAGE = `usage: manatee jobs <show|approve|reject> JOB --local DIR [options]

A data owner's review of a built job (JOB is the job's uuid).
  show JOB                       what the job is: notebook, researcher, purpose, datasets,
                                 base digest, every file with its SHA-256; and the image check
  approve JOB --dataset NAME     check the image, sign its digest with NAME's approver key
                                 and push the signature to NAME's signature repository
  reject JOB --dataset NAME --reason TEXT
                                 a signed rejection: the job never launches
  --local DIR                    a local room's state directory (manatee job-service --local)
  --by IDENTITY                  who approves (recorded in the signature; default $USER)
Exit codes: 0 done, 1 refused (reasons on stderr), 2 usage error.
`;

/** What the job service writes to reviews/<uuid>.json when a build ends. */
export interface ReviewRecord {
  readonly id: number;
  readonly uuid: string;
  readonly creator: string;
  readonly notebook: string;
  readonly purpose: string;
  readonly datasets: readonly string[];
  readonly build: BuildRecord;
  readonly dependencies?: readonly string[];
  readonly workspace?: { readonly files?: readonly WorkspaceFile[] };
}

class Refused extends Error {
  constructor(message: string, readonly problems: readonly string[] = []) {
    super(message);
  }
}

function readReview(stateDir: string, uuid: string): ReviewRecord {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid)) throw new Refused(`JOB must be a job uuid, found "${uuid}"`);
  try {
    return JSON.parse(readFileSync(join(stateDir, "blobs", "reviews", `${uuid}.json`), "utf8")) as ReviewRecord;
  } catch {
    throw new Refused(`job ${uuid} has no review record yet: it is not built (or does not exist)`);
  }
}

function imageRepo(build: BuildRecord): string {
  return build.imageReference.slice(0, build.imageReference.indexOf("@"));
}

export async function run(args: string[], io: CliIo): Promise<number> {
  if (args.includes("--help") || args.includes("-h") || args.length === 0) {
    io.stdout.write(USAGE);
    return args.length === 0 ? 2 : 0;
  }
  const [action, ...rest] = args;
  const { options, positional, errors } = parseArgs(rest, ["local", "dataset", "reason", "by"]);
  if (!["show", "approve", "reject"].includes(action)) errors.push(`unknown action "${action}" (show, approve, reject)`);
  if (positional.length !== 1) errors.push("expected exactly one JOB (the job's uuid)");
  if (options.local === undefined) errors.push("missing --local DIR (the cloud owner flow uses the same command with your Google credentials; see README)");
  if ((action === "approve" || action === "reject") && options.dataset === undefined) errors.push(`${action} needs --dataset NAME`);
  if (action === "reject" && !options.reason) errors.push("reject needs --reason TEXT (it is recorded in the audit log and the job)");
  if (errors.length > 0) {
    io.stderr.write(`${errors.map((e) => `manatee jobs: ${e}`).join("\n")}\n\n${USAGE}`);
    return 2;
  }
  const stateDir = options.local;
  const uuid = positional[0];
  try {
    const config: JobServiceConfig = readLocalConfig(stateDir);
    const registry = new LocalRegistry(join(stateDir, "registry"));
    const review = readReview(stateDir, uuid);
    const by = options.by ?? process.env.USER ?? "data-owner";
    if (action === "show") {
      const check = await reviewJobImage({
        registry,
        imageRepo: imageRepo(review.build),
        imageDigest: review.build.imageDigest,
        executorBases: baseLocations(config),
        workspaceDir: config.images.workspaceDir,
      });
      io.stdout.write(`${JSON.stringify({ job: review, imageCheck: { ok: check.ok, baseDigest: check.baseDigest, problems: check.problems } }, null, 2)}\n`);
      return check.ok ? 0 : 1;
    }
    const dataset = options.dataset;
    if (!review.datasets.includes(dataset)) throw new Refused(`job ${uuid} does not ask for dataset "${dataset}" (it asks for ${review.datasets.join(", ")})`);
    const signer = localOwnerSigner(stateDir, dataset);
    if (action === "approve") {
      const result = await approveJob({
        registry,
        config,
        dataset,
        imageRepo: imageRepo(review.build),
        imageDigest: review.build.imageDigest,
        signer,
        by,
        reviewFiles: review.build.files,
        executorBases: baseLocations(config),
      });
      io.stdout.write(`approved job ${uuid} for dataset ${dataset}: ${review.build.imageDigest} signed by key ${result.keyId}, pushed as ${result.tag}\n`);
      return 0;
    }
    const result = await rejectJob({ registry, config, dataset, imageDigest: review.build.imageDigest, signer, by, reason: options.reason });
    io.stdout.write(`rejected job ${uuid} for dataset ${dataset} (key ${result.keyId}): ${options.reason}\n`);
    return 0;
  } catch (err) {
    if (err instanceof Refused || err instanceof OwnerActionError) {
      io.stderr.write(`manatee jobs: ${err.message}\n${(err as Refused).problems?.map((p) => `  - ${p}\n`).join("") ?? ""}`);
      return 1;
    }
    throw err;
  }
}

/** Approved bases and where to read them: the repository of the room's default base. */
function baseLocations(config: JobServiceConfig): { digest: string; repo: string }[] {
  const ref = config.images.defaultExecutorBase;
  const repo = ref ? ref.slice(0, ref.indexOf("@")) : "";
  return config.images.executorBases.map((digest) => ({ digest, repo }));
}
