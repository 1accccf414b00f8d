/**
 * The Cloud Functions entry module (build/index.js re-exports it). Importing it starts
 * loading the configuration, so it is kept apart from the importable library.
 */
import { stdoutSink } from "./audit";
import { cloudFunction } from "./cloud-function";
import { verifierFromEnv } from "./config";

/** The deployed HTTP function: entry point `verify`. */
export const verify = cloudFunction(() => verifierFromEnv(process.env, { overrides: { log: stdoutSink } }));
