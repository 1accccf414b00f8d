/**
 * The wait, before the JupyterHub Helm release, for the out-of-band OAuth client Secret: a
 * metadata-only check against the API server, run from the deploying machine. Its own file
 * because it is the one piece of the hub that runs a local command; the why is below.
 */
import { DataResource, Token } from "cdktf";
import { Construct } from "constructs";
import { WaitForClientSecret } from "./props";
import { InvalidPropsError } from "../../../errors";

/**
 * Why a wait and not a Secret resource: Terraform cannot create the Secret without holding its
 * value, and whatever it holds lands in state (the kubernetes provider's write-only `data_wo` needs
 * Terraform 1.11 ephemeral values, which cdktf 0.21 cannot declare), and a `kubernetes_secret_v1`
 * data source would read the value into state too. So the Secret stays out of band and the release
 * waits for it: without the wait, Helm would install a hub whose pod cannot start
 * (CreateContainerConfigError) and roll it back after its timeout. The check reads metadata only,
 * runs once per Secret name (triggers_replace), and prints the kubectl command while it waits.
 */
export function clientSecretWait(scope: Construct, wait: WaitForClientSecret, namespace: string, secretName: string, key: string): DataResource {
  const timeout = wait.timeoutSeconds ?? 900;
  if (!Token.isUnresolved(timeout) && !(Number.isInteger(timeout) && timeout >= 0 && timeout <= 86_400)) {
    throw new InvalidPropsError(`JupyterHub "waitForClientSecret.timeoutSeconds" ${timeout} is out of range. Use 0 to 86400 seconds.`);
  }
  const command = [
    "set -u",
    'set --; if [ -n "$CA_PEM" ]; then ca=$(mktemp); printf "%s\n" "$CA_PEM" >"$ca"; set -- --cacert "$ca"; fi',
    'deadline=$(( $(date +%s) + WAIT_SECONDS ))',
    "while :; do",
    '  code=$(curl -s -o /dev/null -w "%{http_code}" "$@" -H "Authorization: Bearer $(gcloud auth application-default print-access-token)" ' +
      '-H "Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1" "$API_SERVER/api/v1/namespaces/$NAMESPACE/secrets/$SECRET_NAME") || code=000',
    '  [ "$code" = 200 ] && exit 0',
    '  if [ "$(date +%s)" -ge "$deadline" ]; then echo "JupyterHub: the OAuth client Secret $NAMESPACE/$SECRET_NAME does not exist (HTTP $code). Create it, then apply again: kubectl -n $NAMESPACE create secret generic $SECRET_NAME --from-literal=$KEY=<client secret>" >&2; exit 1; fi',
    '  echo "JupyterHub: waiting for the OAuth client Secret $NAMESPACE/$SECRET_NAME (HTTP $code): kubectl -n $NAMESPACE create secret generic $SECRET_NAME --from-literal=$KEY=<client secret>" >&2',
    "  sleep 10",
    "done",
  ].join("\n");
  return new DataResource(scope, "ClientSecretWait", {
    triggersReplace: { namespace, secretName },
    provisioners: [
      {
        type: "local-exec",
        interpreter: ["/bin/sh", "-c"],
        command,
        environment: {
          API_SERVER: wait.apiServer,
          CA_PEM: wait.clusterCaCertificate ?? "",
          NAMESPACE: namespace,
          SECRET_NAME: secretName,
          KEY: key,
          WAIT_SECONDS: String(timeout),
        },
      },
    ],
    dependsOn: wait.dependsOn,
  });
}
