/**
 * JupyterHub: the z2jh release whose values Helm would accept (validated against the chart's
 * own 4.4.0 schema after Helm's merge with the chart defaults), with a real authenticator,
 * no public plain-HTTP endpoint and the stage-1 settings ManaTEE's images need.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv from "ajv";
import { TerraformStack, TerraformVariable, Testing } from "cdktf";
import { HelmProvider } from "@cdktf/provider-helm/lib/provider";
import * as YAML from "yaml";
import { JupyterHub, JupyterHubProps, RESEARCHER_USERNAME_PATTERN, Z2JH_CHART } from "../lib/constructs/workloads/jupyterhub";
import { NAME_RULES } from "../lib/policy/names";
import { plaintextSecrets } from "./secret-scan";
import { SynthJson, resourceConfigs, synthStack } from "./util";

const FIXTURES = path.join(__dirname, "fixtures", "z2jh");
const schema = YAML.parse(fs.readFileSync(path.join(FIXTURES, "values.schema.4.4.0.yaml"), "utf8"));
const chartDefaults = YAML.parse(fs.readFileSync(path.join(FIXTURES, "values.4.4.0.yaml"), "utf8"));
// The chart's schema is written for Helm's validator, not ajv's strict mode (draft-07, `$schema` honoured).
const validateValues = new Ajv({ strict: false, allErrors: true }).compile(schema);

/**
 * Helm's coalescing of user values over chart defaults: maps merge key by key, anything else
 * replaces, and a user `null` deletes the default key.
 */
function helmMerge(defaults: any, user: any): any {
  if (!isMap(defaults) || !isMap(user)) return user;
  const out: Record<string, any> = { ...defaults };
  for (const [key, value] of Object.entries(user)) {
    if (value === null) delete out[key];
    else out[key] = key in defaults ? helmMerge(defaults[key], value) : value;
  }
  return out;
}
function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The values as Helm would validate them: YAML from the synthesized release, merged over the defaults. */
function effectiveValues(json: SynthJson): any {
  const [release] = resourceConfigs(json, "helm_release");
  expect(release.values).toHaveLength(1);
  return helmMerge(chartDefaults, YAML.parse(release.values[0]));
}

function schemaErrors(values: unknown): string[] {
  return validateValues(values) ? [] : (validateValues.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

const GOOGLE: JupyterHubProps["authenticator"] = {
  type: "google",
  clientId: "1234567890-abc.apps.googleusercontent.com",
  clientSecret: { secretName: "jupyterhub-oauth" },
  callbackUrl: "https://hub.acme.example.org/hub/oauth_callback",
  hostedDomains: ["acme.example.org"],
};
const RESEARCHERS = { "Alice.Smith@acme.example.org": "alice", "bob@acme.example.org": "bob" };
const REGISTRY = "us-central1-docker.pkg.dev/acme-clean-room/insurance-study-images";
/** What CleanRoomWorkloads passes: the deploy-built image, tagged by its build context's content hash (immutable). */
const DEPLOYED_IMAGE = `${REGISTRY}/jupyterlab-singleuser:059cf67f490bc664c6196fe2ae43ca16`;

function synthHub(props: Partial<JupyterHubProps> = {}): { json: SynthJson; hub: JupyterHub } {
  const stack = new TerraformStack(Testing.app(), "workloads");
  new HelmProvider(stack, "helm", { kubernetes: { host: "https://203.0.113.10", clusterCaCertificate: "placeholder-ca" } });
  const hub = new JupyterHub(stack, "JupyterHub", {
    roomName: "insurance-study",
    project: "acme-clean-room",
    authenticator: GOOGLE,
    researchers: RESEARCHERS,
    singleUserImage: DEPLOYED_IMAGE,
    ...props,
  });
  return { json: synthStack(stack), hub };
}

describe("JupyterHub (defaults)", () => {
  let json: SynthJson;
  let hub: JupyterHub;
  let values: any;
  beforeAll(() => {
    ({ json, hub } = synthHub());
    values = effectiveValues(json);
  });

  test("the chart is pinned: z2jh 4.4.0 from its public repository", () => {
    const [release] = resourceConfigs(json, "helm_release");
    expect(release).toMatchObject({
      repository: "https://hub.jupyter.org/helm-chart/",
      chart: "jupyterhub",
      version: "4.4.0",
      namespace: "manatee",
      name: "jupyterhub",
      atomic: true,
    });
    expect(Z2JH_CHART.version).toBe("4.4.0");
  });

  test("values validate against the chart's 4.4.0 schema, and the validator rejects a typo", () => {
    expect(schemaErrors(chartDefaults)).toEqual([]);
    expect(schemaErrors(values)).toEqual([]);
    // a control: the schema forbids unknown keys, so validation is not vacuous
    expect(schemaErrors(helmMerge(values, { singleuser: { cmdd: "start-notebook.py" } }))).not.toEqual([]);
    expect(schemaErrors(helmMerge(values, { singleuser: { image: { tag: 4 } } }))).not.toEqual([]);
  });

  test("the YAML Helm receives is exactly the exposed values", () => {
    const [release] = resourceConfigs(json, "helm_release");
    expect(release.values[0]).toBe(hub.valuesYaml);
    expect(YAML.parse(hub.valuesYaml)).toEqual(JSON.parse(JSON.stringify(hub.values)));
  });

  test("a real authenticator, no admin access to others' servers", () => {
    expect(values.hub.config.JupyterHub.authenticator_class).toBe("google");
    expect(values.hub.config.JupyterHub.authenticator_class).not.toBe("dummy");
    expect(values.hub.config.JupyterHub.admin_access).toBe(false);
    expect(values.hub.config.GoogleOAuthenticator).toEqual({
      client_id: "1234567890-abc.apps.googleusercontent.com",
      oauth_callback_url: "https://hub.acme.example.org/hub/oauth_callback",
      hosted_domain: ["acme.example.org"],
      login_service: "Google",
    });
    expect(values.hub.config.Authenticator.allow_all).toBe(false);
    expect(values.hub.config.Authenticator.allowed_users).toEqual(["alice", "bob"]);
  });

  test("the client secret comes from a Kubernetes Secret, never from the values", () => {
    expect(values.hub.extraEnv).toEqual({
      OAUTH_CLIENT_SECRET: { valueFrom: { secretKeyRef: { name: "jupyterhub-oauth", key: "client-secret" } } },
    });
    const keys = JSON.stringify(values.hub.config);
    expect(keys).not.toMatch(/client_secret|password|api_token|cookie_secret/);
    // The one hit is the extension's header, built by the kubelet from the pod's own hub token: no token is in the values.
    expect(plaintextSecrets(YAML.parse(hub.valuesYaml))).toEqual(["singleuser.extraEnv.USER_TOKEN=token $(JUPYTERHUB_API_TOKEN)"]);
    expect(plaintextSecrets(json.resource)).toEqual([]);
    // the scan is live on values: an inline client secret would be caught
    expect(plaintextSecrets({ hub: { config: { GoogleOAuthenticator: { client_secret: "GOCSPX-abc" } } } })).toHaveLength(1);
    expect(values.hub.cookieSecret ?? null).toBeNull();
    expect(values.proxy.secretToken ?? null).toBeNull();
  });

  test("the proxy is not a public load balancer (the chart's default is LoadBalancer)", () => {
    expect(chartDefaults.proxy.service.type).toBe("LoadBalancer");
    expect(values.proxy.service.type).toBe("ClusterIP");
    expect(values.proxy.https.enabled).toBe(false);
  });

  test("single-user pods: stage 1, the job service's URL, the server's own hub token as the extension's header", () => {
    const su = values.singleuser;
    expect(su.extraEnv).toMatchObject({
      EXECUTION_STAGE: "1",
      DATA_CLEAN_ROOM_HOST: "http://manatee.manatee.svc.cluster.local",
      // KubeSpawner orders env entries so the kubelet expands $(JUPYTERHUB_API_TOKEN); the job service verifies it at the hub.
      USER_TOKEN: "token $(JUPYTERHUB_API_TOKEN)",
    });
    // Stage 2 is the executor base's own ENV: a launch-time override would fail the attestation condition.
    expect(Object.keys(su.extraEnv).filter((k) => k.startsWith("MANATEE_EXTRA_ENV_"))).toEqual([]);
    // Helm deletes a null key: the chart's `jupyterhub-singleuser` default is gone, so the image's start-notebook runs
    expect(YAML.parse(hub.valuesYaml).singleuser.cmd).toBeNull();
    expect("cmd" in su).toBe(false);
    expect(su.cloudMetadata).toEqual({ blockWithIptables: false, ip: "169.254.169.254" });
    expect(su.serviceAccountName).toBe("jupyter-k8s-pod-sa");
    expect(su.nodeSelector).toEqual({ "iam.gke.io/gke-metadata-server-enabled": "true" });
    expect(su.image).toEqual({
      name: `${REGISTRY}/jupyterlab-singleuser`,
      tag: "059cf67f490bc664c6196fe2ae43ca16",
      pullPolicy: "IfNotPresent",
      pullSecrets: [],
    });
    expect(su.storage.capacity).toBe("20Gi");
    expect(su.extraEnv.NOTEBOOK_ARGS).toBe("--ServerApp.terminals_enabled=False");
    expect(values.hub.config.KubeSpawner.automount_service_account_token).toBe(false);
  });

  test("single-user egress: the job service API, DNS and the metadata server; no private ranges", () => {
    const np = values.singleuser.networkPolicy;
    expect(np.enabled).toBe(true);
    expect(np.egressAllowRules).toMatchObject({ privateIPs: false, cloudMetadataServer: true, nonPrivateIPs: true });
    expect(np.egress).toContainEqual({
      to: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "manatee", "app.kubernetes.io/component": "job-service" } } }],
      ports: [{ port: 8080, protocol: "TCP" }],
    });
    expect(np.egress).toContainEqual({ to: [{ ipBlock: { cidr: "169.254.169.252/32" } }], ports: [{ port: 988, protocol: "TCP" }] });
  });

  test("no pre-pull hook, no user scheduler, debug off, idle servers culled", () => {
    expect(values.prePuller.hook.enabled).toBe(false);
    expect(values.scheduling.userScheduler.enabled).toBe(false);
    expect(values.debug.enabled).toBe(false);
    expect(values.cull.enabled).toBe(true);
    expect(values.hub.networkPolicy.enabled).toBe(true);
  });

  test("usernames: e-mails map to short names; the pattern keeps `<user>-<uuid>` a valid GCE name", () => {
    const auth = values.hub.config.Authenticator;
    expect(auth.username_pattern).toBe(RESEARCHER_USERNAME_PATTERN);
    // keys lower-cased (JupyterHub lower-cases before mapping); the local part too, for domain-stripping releases
    expect(auth.username_map).toEqual({
      "alice.smith@acme.example.org": "alice",
      "alice.smith": "alice",
      "bob@acme.example.org": "bob",
    });
    const pattern = new RegExp(RESEARCHER_USERNAME_PATTERN);
    const uuid = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
    for (const ok of ["a", "alice", "bob-smith-2", "a".repeat(26)]) {
      expect(ok).toMatch(pattern);
      expect(`${ok}-${uuid}`).toMatch(NAME_RULES.computeName.pattern);
      expect(`${ok}-${uuid}`.length).toBeLessThanOrEqual(NAME_RULES.computeName.max);
    }
    for (const bad of ["alice@acme.example.org", "Alice", "alice-", "1alice", "a.b", "a_b", "a".repeat(27), ""]) {
      expect(bad).not.toMatch(pattern);
    }
  });

  test("snapshot (paired with the property assertions above)", () => {
    const { terraform: _t, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("JupyterHub options", () => {
  test("the dummy authenticator is refused unless the room is non-production", () => {
    expect(() => synthHub({ authenticator: { type: "dummy", acknowledgeInsecure: true } })).toThrow(
      "workloads/JupyterHub: authenticator.type: the dummy authenticator lets anyone sign in under any name, so it needs a " +
        "non-production room (nonProduction: true), but nonProduction is not set (false); configure a google, github or generic-oauth authenticator",
    );
    expect(() =>
      synthHub({
        authenticator: { type: "dummy", acknowledgeInsecure: true },
        nonProduction: true,
        exposure: { type: "internal-load-balancer" },
      }),
    ).toThrow(
      'workloads/JupyterHub: exposure.type: expected cluster-ip with the dummy authenticator, found the string "internal-load-balancer": ' +
        "anyone who reaches a load balancer could sign in under any name",
    );

    const { json } = synthHub({ authenticator: { type: "dummy", acknowledgeInsecure: true }, nonProduction: true, researchers: {} });
    const values = effectiveValues(json);
    expect(schemaErrors(values)).toEqual([]);
    expect(values.hub.config.JupyterHub.authenticator_class).toBe("dummy");
    expect(values.hub.config.Authenticator.allow_all).toBe(true);
    expect(values.proxy.service.type).toBe("ClusterIP");
  });

  test("an internal load balancer is annotated Internal and restricted to the given ranges", () => {
    const { json } = synthHub({ exposure: { type: "internal-load-balancer", sourceRanges: ["10.0.0.0/8"] } });
    const values = effectiveValues(json);
    expect(schemaErrors(values)).toEqual([]);
    expect(values.proxy.service).toMatchObject({
      type: "LoadBalancer",
      annotations: { "networking.gke.io/load-balancer-type": "Internal" },
      loadBalancerSourceRanges: ["10.0.0.0/8"],
    });
  });

  test("https with Let's Encrypt or a provided certificate; Let's Encrypt cannot sit behind an internal LB", () => {
    const le = effectiveValues(
      synthHub({
        exposure: { type: "https", hosts: ["hub.acme.example.org"], tls: { type: "letsencrypt", contactEmail: "ops@acme.example.org" } },
      }).json,
    );
    expect(schemaErrors(le)).toEqual([]);
    expect(le.proxy.https).toMatchObject({ enabled: true, type: "letsencrypt", hosts: ["hub.acme.example.org"] });
    expect(le.proxy.service.annotations).toEqual({});

    const own = effectiveValues(
      synthHub({
        exposure: { type: "https", hosts: ["hub.internal"], tls: { type: "secret", secretName: "hub-tls" }, loadBalancer: "internal" },
      }).json,
    );
    expect(schemaErrors(own)).toEqual([]);
    expect(own.proxy.https).toMatchObject({ enabled: true, type: "secret", secret: { name: "hub-tls" } });
    expect(own.proxy.service.disableHttpPort).toBe(true);

    expect(() =>
      synthHub({
        exposure: {
          type: "https",
          hosts: ["hub.internal"],
          tls: { type: "letsencrypt", contactEmail: "ops@acme.example.org" },
          loadBalancer: "internal",
        },
      }),
    ).toThrow(`JupyterHub "exposure": Let's Encrypt cannot validate a host behind an internal load balancer.`);
  });

  test("GitHub and generic OAuth authenticators validate against the schema", () => {
    const gh = effectiveValues(
      synthHub({
        authenticator: {
          type: "github",
          clientId: "Iv1.abc",
          clientSecret: { secretName: "gh-oauth", key: "secret" },
          callbackUrl: "http://localhost:8080/hub/oauth_callback",
          allowedOrganizations: ["acme-research"],
        },
        researchers: {},
      }).json,
    );
    expect(schemaErrors(gh)).toEqual([]);
    expect(gh.hub.config.GitHubOAuthenticator).toMatchObject({ allowed_organizations: ["acme-research"] });
    expect(gh.hub.extraEnv.OAUTH_CLIENT_SECRET.valueFrom.secretKeyRef).toEqual({ name: "gh-oauth", key: "secret" });

    const generic = effectiveValues(
      synthHub({
        authenticator: {
          type: "generic-oauth",
          clientId: "hub",
          clientSecret: { secretName: "sso" },
          callbackUrl: "https://hub.acme.example.org/hub/oauth_callback",
          authorizeUrl: "https://sso.acme.example.org/authorize",
          tokenUrl: "https://sso.acme.example.org/token",
          userdataUrl: "https://sso.acme.example.org/userinfo",
        },
        researchers: { "alice.smith": "alice" },
      }).json,
    );
    expect(schemaErrors(generic)).toEqual([]);
    expect(generic.hub.config.GenericOAuthenticator.username_claim).toBe("preferred_username");
  });

  // The same rules and words as a room file's jupyterhub section (test/policy/deployment.test.ts compares them).
  test("researchers must map to safe, distinct usernames in the hosted domain", () => {
    expect(() => synthHub({ researchers: { "alice@acme.example.org": "alice@acme.example.org" } })).toThrow(
      'workloads/JupyterHub: researchers["alice@acme.example.org"]: expected a JupyterHub username: 1-26 lowercase letters',
    );
    expect(() => synthHub({ researchers: { "alice@acme.example.org": "a", "al@acme.example.org": "a" } })).toThrow(
      'workloads/JupyterHub: researchers["al@acme.example.org"]: the username "a" is already "alice@acme.example.org"\'s; ' +
        "two identities would share one account and its jobs, give each its own username",
    );
    expect(() => synthHub({ researchers: { "eve@evil.example.com": "eve" } })).toThrow(
      'workloads/JupyterHub: researchers["eve@evil.example.com"]: expected an e-mail address in authenticator.hostedDomains [acme.example.org]',
    );
    expect(() => synthHub({ researchers: {} })).toThrow(
      "workloads/JupyterHub: researchers: expected at least one sign-in identity mapped to a username, such as { alice@example.org: alice }, " +
        "found an empty map: otherwise nobody can sign in",
    );
    expect(() => synthHub({ researchers: { "Bob@acme.example.org": "bob", "bob@acme.example.org": "robert" } })).toThrow(
      'workloads/JupyterHub: researchers["bob@acme.example.org"]: "bob@acme.example.org" is the same identity as "Bob@acme.example.org" once lower-cased',
    );
    expect(() => synthHub({ adminUsers: ["carol"] })).toThrow(
      'workloads/JupyterHub: adminUsers[0]: expected a username from researchers (one of alice, bob), found the string "carol"',
    );
  });

  test("bad OAuth settings fail with the field and the fix", () => {
    expect(() => synthHub({ authenticator: { ...GOOGLE, callbackUrl: "http://hub.acme.example.org/hub/oauth_callback" } as any })).toThrow(
      "workloads/JupyterHub: authenticator.callbackUrl: expected the OAuth redirect URI: https://<host>/hub/oauth_callback, " +
        'or http://localhost:<port>/hub/oauth_callback behind kubectl port-forward, found the string "http://hub.acme.example.org/hub/oauth_callback"',
    );
    expect(() => synthHub({ authenticator: { ...GOOGLE, hostedDomains: [] } as any })).toThrow(
      "workloads/JupyterHub: authenticator.hostedDomains: expected a non-empty list of Google Workspace or Cloud Identity domains such as example.org, found an empty list",
    );
    expect(() => synthHub({ helm: { timeoutSeconds: 30 } })).toThrow(
      "workloads/JupyterHub: helm.timeoutSeconds: expected a whole number of seconds from 60 to 3600, found 30",
    );
  });

  test("given OAuth and Helm settings known only at deploy time, when constructed, then the rules let the tokens through and judge the rest", () => {
    const stack = new TerraformStack(Testing.app(), "w");
    new HelmProvider(stack, "helm", { kubernetes: { host: "https://203.0.113.10" } });
    const text = (id: string) => new TerraformVariable(stack, id, { type: "string" }).stringValue;
    const tokens = {
      ...GOOGLE,
      clientId: text("client-id"),
      clientSecret: { secretName: text("secret-name") },
      callbackUrl: text("callback"),
    };
    const props = { roomName: "r", project: "p", researchers: RESEARCHERS, singleUserImage: DEPLOYED_IMAGE };
    const timeoutSeconds = new TerraformVariable(stack, "timeout", { type: "number" }).numberValue;
    const hub = new JupyterHub(stack, "Hub", { ...props, authenticator: tokens, helm: { timeoutSeconds } });
    expect(hub.values.hub.config.GoogleOAuthenticator.client_id).toBe(tokens.clientId);
    // A token stands in for one value only: the rules still judge the fields beside it.
    expect(() => new JupyterHub(stack, "Bad", { ...props, authenticator: { ...tokens, hostedDomains: [] } })).toThrow(
      "w/Bad: authenticator.hostedDomains: expected a non-empty list",
    );
  });

  test("values are deterministic whatever the order researchers are given in", () => {
    const a = synthHub({ researchers: { "alice.smith@acme.example.org": "alice", "bob@acme.example.org": "bob" } }).hub.valuesYaml;
    const b = synthHub({ researchers: { "bob@acme.example.org": "bob", "alice.smith@acme.example.org": "alice" } }).hub.valuesYaml;
    expect(a).toBe(b);
  });

  test("a digest-pinned image pulls by digest; a token registry resolves inside the YAML", () => {
    const digest = `sha256:${"b".repeat(64)}`;
    const pinned = effectiveValues(synthHub({ singleUserImage: `${REGISTRY}/manatee-jupyterlab-singleuser@${digest}` }).json);
    expect(schemaErrors(pinned)).toEqual([]);
    expect(`${pinned.singleuser.image.name}:${pinned.singleuser.image.tag}`).toBe(
      `${REGISTRY}/manatee-jupyterlab-singleuser:pinned@${digest}`,
    );
    expect(pinned.singleuser.image.pullPolicy).toBe("IfNotPresent");

    const stack = new TerraformStack(Testing.app(), "w");
    new HelmProvider(stack, "helm", { kubernetes: { host: "https://203.0.113.10" } });
    const registry = new TerraformVariable(stack, "registry", { type: "string" }).stringValue;
    new JupyterHub(stack, "Hub", {
      roomName: "r",
      project: "p",
      authenticator: GOOGLE,
      researchers: RESEARCHERS,
      serviceImagesRegistry: registry,
    });
    const values = YAML.parse(resourceConfigs(synthStack(stack), "helm_release")[0].values[0]);
    expect(values.singleuser.image.name).toBe("${var.registry}/manatee-jupyterlab-singleuser");
  });
});

describe("JupyterHub beside a job service in another namespace", () => {
  test("the API URL and the egress rule follow the job service namespace", () => {
    const values = effectiveValues(synthHub({ namespace: "hub", jobServiceNamespace: "jobs" }).json);
    expect(schemaErrors(values)).toEqual([]);
    expect(values.singleuser.extraEnv.DATA_CLEAN_ROOM_HOST).toBe("http://manatee.jobs.svc.cluster.local");
    expect(values.singleuser.networkPolicy.egress[0].to).toEqual([
      {
        podSelector: { matchLabels: { "app.kubernetes.io/name": "manatee", "app.kubernetes.io/component": "job-service" } },
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "jobs" } },
      },
    ]);
  });
});

describe("one way to pass a room: `room`", () => {
  const hubProps = { researchers: RESEARCHERS, singleUserImage: DEPLOYED_IMAGE, authenticator: GOOGLE };
  const synth = (props: Partial<JupyterHubProps>) => {
    const stack = new TerraformStack(Testing.app(), "w");
    new HelmProvider(stack, "helm", { kubernetes: { host: "https://203.0.113.10" } });
    new JupyterHub(stack, "Hub", { ...hubProps, ...props } as JupyterHubProps);
    return Testing.synth(stack);
  };

  test("given room, then the hub is exactly the one the deprecated roomName + project made", () => {
    expect(synth({ room: { name: "insurance-study", project: "acme-clean-room" } })).toBe(synth({ roomName: "insurance-study", project: "acme-clean-room" }));
  });

  test("given room and a deprecated roomName that disagree, or no room at all, then it refuses with the property and the fix", () => {
    expect(() => synth({ room: { name: "insurance-study", project: "acme-clean-room" }, roomName: "other" })).toThrow(
      'w/Hub: room: "room" (insurance-study in acme-clean-room) and the deprecated "roomName"/"project" (other in undefined) disagree. Pass only room',
    );
    expect(() => synth({})).toThrow('w/Hub: room: no room: pass "room" (its name and project).');
  });
});
