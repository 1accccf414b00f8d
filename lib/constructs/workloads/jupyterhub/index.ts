/**
 * JupyterHub for the programming stage (stage 1): the zero-to-jupyterhub (z2jh) Helm chart,
 * pinned, with values generated as a typed object and passed to Helm as deterministic YAML.
 *
 * Secure by default, unlike the chart's and ManaTEE's defaults:
 * - a real authenticator is required; the dummy one only in a `nonProduction` room;
 * - no OAuth client secret in Terraform: the hub reads it from a Kubernetes Secret created
 *   out of band (`kubectl create secret generic …`);
 * - the proxy is a ClusterIP Service unless an internal load balancer or HTTPS is chosen;
 *   plain HTTP on a public load balancer is not offered;
 * - researchers are an explicit map from identity-provider name to a short username that is
 *   safe inside GCE instance and Docker image names;
 * - the JupyterLab extension authenticates to the room's job service with the server's own hub
 *   token (`USER_TOKEN = "token $(JUPYTERHUB_API_TOKEN)"`), which the job service verifies at the
 *   hub: the job's creator is the hub's answer, never a name from the request body.
 *
 * This file is the barrel: the code lives in lib/constructs/workloads/jupyterhub/ (authenticator, props, values,
 * validation, client-secret-wait, hub), and the public exports stay exactly those listed here.
 */
export * from "./authenticator";
export * from "./props";
export { Z2JH_CHART } from "./values";
export type { JupyterHubValues, Z2jhHubValues, Z2jhNetworkPolicy, Z2jhProxyValues, Z2jhSingleUserValues } from "./values";
export { JupyterHub } from "./hub";
