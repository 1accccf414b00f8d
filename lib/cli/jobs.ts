/**
 * `manatee jobs show|approve|reject|approver-key`: what a data owner does with a built job, with
 * their own credentials. `approve` re-reads the image by digest and refuses it unless it is an
 * approved executor base plus one workspace layer whose files are exactly the reviewed ones;
 * then it signs the digest with the dataset's approver key and pushes the signature to the
 * dataset's signature repository. The job service can neither sign nor push there.
 *
 * Two backends (lib/cli/owner-backend.ts): `--local DIR` works on a local room's state
 * (`manatee job-service --local --state DIR`); `--config room.yaml` on the deployed room, with
 * the owner's Google Application Default Credentials (lib/cli/jobs-cloud.ts).
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { keyIdOf } from "../../job-service/src/cosign";
import { OwnerActionError, approveJob, rejectJob } from "../../job-service/src/owner-actions";
import { reviewJobImage } from "../../job-service/src/review";
import { loadPolicyFile } from "../policy/load";
import type { CleanRoomPolicy } from "../policy/model";
import { dataPlaneNames } from "../policy/names";
import { PolicyError } from "../policy/validate";
import { CliIo, parseArgs } from "./io";
import { CloudClients, approverKeyVersionName, cloudOwnerBackend, kmsDatasetSigner } from "./jobs-cloud";
import { OwnerBackend, OwnerRefusal, imageRepo, localOwnerBackend } from "./owner-backend";
import { EXIT } from "./exit";

export type { ReviewRecord, OwnerBackend } from "./owner-backend";

const USAGE = `usage: manatee jobs <show|approve|reject> JOB (--config ROOM.yaml | --local DIR) [options]
       manatee jobs approver-key --dataset NAME (--config ROOM.yaml | --public-key FILE)

A data owner's review of a built job (JOB is the job's uuid).
  show JOB                       what the job is: notebook, researcher, purpose, datasets,
                                 base digest, every file with its SHA-256; and the image check
  approve JOB --dataset NAME     check the image, sign its digest with NAME's approver key
                                 and push the signature to NAME's signature repository
  reject JOB --dataset NAME --reason TEXT
                                 a signed rejection: the job never launches
  approver-key --dataset NAME    print the approver key's fingerprint, the line to put in the
                                 room file: datasets.NAME.approverKey.fingerprint: <hex>
Where:
  --config ROOM.yaml             the deployed room, with your Google credentials (Application
                                 Default Credentials: gcloud auth application-default login)
  --local DIR                    a local room's state directory (manatee job-service --local)
Options:
  --by IDENTITY                  who approves (recorded in the signature; default $USER)
  --key-version N                the approver key version that signs (--config; default 1)
  --public-key FILE              approver-key offline, from the key version's public key (PEM):
                                   gcloud kms keys versions get-public-key 1 \\
                                     --key NAME-approver --keyring ROOM-datasets \\
                                     --location REGION --project PROJECT --output-file approver.pem
Exit codes: 0 done, 1 refused (reasons on stderr), 2 usage error.
`;

/** Test seams: the Google clients of the cloud backend. */
export interface JobsCliOptions {
  readonly clients?: CloudClients;
}

export async function run(args: string[], io: CliIo, cli: JobsCliOptions = {}): Promise<number> {
  if (args.includes("--help") || args.includes("-h") || args.length === 0) {
    io.stdout.write(USAGE);
    return args.length === 0 ? 2 : 0;
  }
  const [action, ...rest] = args;
  const { options, positional, errors } = parseArgs(rest, ["local", "config", "dataset", "reason", "by", "key-version", "public-key"]);
  const usage = () => {
    io.stderr.write(`${errors.map((e) => `manatee jobs: ${e}`).join("\n")}\n\n${USAGE}`);
    return 2;
  };
  if (!["show", "approve", "reject", "approver-key"].includes(action)) {
    errors.push(`unknown action "${action}" (show, approve, reject, approver-key)`);
    return usage();
  }
  let keyVersion = 1;
  if (options["key-version"] !== undefined) {
    if (!/^[1-9][0-9]*$/.test(options["key-version"])) errors.push(`--key-version must be a positive whole number, found "${options["key-version"]}"`);
    else keyVersion = Number(options["key-version"]);
    if (options.local !== undefined) errors.push("--key-version applies to a deployed room (--config), not --local");
  }
  if (action === "approver-key") {
    if (positional.length > 0) errors.push(`approver-key takes no JOB, found "${positional[0]}"`);
    if (options.dataset === undefined) errors.push("approver-key needs --dataset NAME");
    if ((options.config === undefined) === (options["public-key"] === undefined)) errors.push("approver-key needs exactly one of --config ROOM.yaml (reads the key from Cloud KMS) or --public-key FILE (offline)");
    for (const o of ["local", "reason", "by"]) if (options[o] !== undefined) errors.push(`approver-key does not take --${o}`);
    if (errors.length > 0) return usage();
    return guarded(io, () => approverKey(options, keyVersion, io, cli));
  }
  if (positional.length !== 1) errors.push("expected exactly one JOB (the job's uuid)");
  if (options.local === undefined && options.config === undefined) errors.push("missing --config ROOM.yaml (the deployed room, with your Google credentials) or --local DIR (a local room)");
  if (options.local !== undefined && options.config !== undefined) errors.push("give either --config ROOM.yaml or --local DIR, not both");
  if (options["public-key"] !== undefined) errors.push("--public-key applies to approver-key only");
  if ((action === "approve" || action === "reject") && options.dataset === undefined) errors.push(`${action} needs --dataset NAME`);
  if (action === "reject" && !options.reason) errors.push("reject needs --reason TEXT (it is recorded in the audit log and the job)");
  if (errors.length > 0) return usage();
  return guarded(io, async () => {
    const backend = options.local !== undefined ? localOwnerBackend(options.local) : cloudOwnerBackend(loadPolicyFile(options.config), { keyVersion, clients: cli.clients });
    return ownerAction(backend, action as "show" | "approve" | "reject", positional[0], options, io);
  });
}

async function guarded(io: CliIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof OwnerRefusal || err instanceof OwnerActionError) {
      const problems = err instanceof OwnerRefusal ? err.problems.map((p) => `  - ${p}\n`).join("") : "";
      io.stderr.write(`manatee jobs: ${err.message}\n${problems}`);
      return 1;
    }
    if (err instanceof PolicyError) {
      io.stderr.write(`${err.message}\nmanatee jobs: the room file is not valid\n`);
      return EXIT.usage;
    }
    throw err;
  }
}

/** show, approve or reject one job through a backend. */
export async function ownerAction(backend: OwnerBackend, action: "show" | "approve" | "reject", uuid: string, options: Record<string, string>, io: CliIo): Promise<number> {
  const { config, registry, executorBases } = backend;
  const review = await backend.review(uuid);
  const by = options.by ?? process.env.USER ?? "data-owner";
  if (action === "show") {
    const check = await reviewJobImage({
      registry,
      imageRepo: imageRepo(review.build),
      imageDigest: review.build.imageDigest,
      executorBases,
      workspaceDir: config.images.workspaceDir,
    });
    io.stdout.write(`${JSON.stringify({ job: review, imageCheck: { ok: check.ok, baseDigest: check.baseDigest, problems: check.problems } }, null, 2)}\n`);
    return check.ok ? 0 : 1;
  }
  const dataset = options.dataset;
  if (!review.datasets.includes(dataset)) throw new OwnerRefusal(`job ${uuid} does not ask for dataset "${dataset}" (it asks for ${review.datasets.join(", ")})`);
  const signer = await backend.signer(dataset);
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
      executorBases,
    });
    io.stdout.write(`approved job ${uuid} for dataset ${dataset}: ${review.build.imageDigest} signed by key ${result.keyId}, pushed as ${result.tag}\n`);
    return 0;
  }
  const result = await rejectJob({ registry, config, dataset, imageDigest: review.build.imageDigest, signer, by, reason: options.reason });
  io.stdout.write(`rejected job ${uuid} for dataset ${dataset} (key ${result.keyId}): ${options.reason}\n`);
  return 0;
}

/** `approver-key`: the fingerprint, from a PEM public key (offline) or from Cloud KMS. */
async function approverKey(options: Record<string, string>, keyVersion: number, io: CliIo, cli: JobsCliOptions): Promise<number> {
  const dataset = options.dataset;
  if (!/^[a-z][-a-z0-9]*$/.test(dataset)) throw new OwnerRefusal(`--dataset "${dataset}" is not a dataset name`);
  let fingerprint: string;
  let policy: CleanRoomPolicy | undefined;
  if (options["public-key"] !== undefined) {
    fingerprint = keyIdOf(readP256PublicKey(options["public-key"]));
  } else {
    policy = loadPolicyFile(options.config);
    fingerprint = (await kmsDatasetSigner(policy, dataset, { keyVersion, clients: cli.clients })).keyId;
  }
  io.stdout.write(`datasets.${dataset}.approverKey.fingerprint: ${fingerprint}\n`);
  const current = policy?.datasets.find((d) => d.name === dataset)?.approverKey?.fingerprint;
  if (policy && current === fingerprint) io.stderr.write(`(the room file already has this fingerprint for ${dataset})\n`);
  else if (policy && current) io.stderr.write(`the room file has another fingerprint for ${dataset} (${current}): per-job approval uses that key until you change it and deploy\n`);
  else if (policy) io.stderr.write(`put it in the room file and deploy: per-job approval for ${dataset} is off until then\n`);
  if (policy) io.stderr.write(`(key version ${approverKeyVersionName(policy, dataset, keyVersion)}; keyring ${dataPlaneNames(policy).datasetKeyRing})\n`);
  return 0;
}

/** An EC P-256 public key from a PEM file (what `gcloud kms keys versions get-public-key` writes). */
function readP256PublicKey(file: string): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (e) {
    throw new OwnerRefusal(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (/PRIVATE KEY/.test(pem)) throw new OwnerRefusal(`${file} holds a private key: pass the key version's public key (gcloud kms keys versions get-public-key)`);
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (e) {
    throw new OwnerRefusal(`${file} is not a PEM public key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new OwnerRefusal(
      `${file}: an approver key must be EC P-256 (Cloud KMS EC_SIGN_P256_SHA256), found ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ""}`,
    );
  }
  return key;
}
