/**
 * The local server (`npm run verifier`): configuration from the environment, listening on
 * 127.0.0.1:$PORT, one JSON line when ready. A bad configuration exits 1 before listening.
 */
import { verifierFromEnv } from "./config";
import { startLocalServer } from "./node-server";
import { errorMessage } from "./policy";

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const portText = env.PORT ?? "8080";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new Error(`PORT: expected a TCP port number (0-65535), got ${JSON.stringify(portText)}.`);
  }
  const verifier = await verifierFromEnv(env, { allowEphemeralKey: true });
  const server = await startLocalServer({ verifier, port });
  process.stdout.write(
    `${JSON.stringify({
      severity: "INFO",
      message: "attestation verifier listening",
      url: server.url,
      port: server.port,
      jwks_url: verifier.jwksUrl,
      clean_room: verifier.policy.cleanRoom,
      policy_sha256: verifier.policySha256,
      receipt_kid: verifier.receiptJwks.keys[0].kid,
      receipt_signer: verifier.receiptSigner,
      ...(verifier.releaseStore ? { release_store: verifier.releaseStore } : {}),
      replay_store: verifier.replayStore,
      component: "manatee-attestation-verifier",
    })}\n`
  );
  const stop = () => {
    server.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

/** For scripts/verifier.js: run main, and turn a start failure into exit code 1. */
export function runMain(): void {
  main().catch((err: unknown) => {
    process.stderr.write(`attestation-verifier: ${errorMessage(err)}\n`);
    process.exit(1);
  });
}
