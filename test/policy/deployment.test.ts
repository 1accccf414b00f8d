/**
 * The deployment sections of the clean-room config (`jupyterhub`, `cluster`, `database`): how
 * the room is run, never what it allows. Same bar as the policy rules: located, exact messages,
 * one rule set for YAML and TypeScript, and agreement with the constructs that consume them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { App, TerraformStack, Testing } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { HelmProvider } from "@cdktf/provider-helm/lib/provider";
import { CleanRoomCluster } from "../../lib/constructs/platform/cluster";
import { JupyterHub, JupyterHubAuthenticator } from "../../lib/constructs/workloads/jupyterhub";
import { CONSTRUCT_HUB } from "../../lib/constructs/workloads/jupyterhub/validation";
import { compileVerifierPolicy } from "../../lib/policy/document";
import { loadPolicyFile, parsePolicy } from "../../lib/policy/load";
import { CleanRoomPolicy, CleanRoomPolicyInput, normalizePolicy } from "../../lib/policy/model";
import { PolicyError, validatePolicy, validatePolicyInput } from "../../lib/policy/validate";
import { ROOM_FILE_HUB } from "../../lib/policy/validation/jupyterhub";
import { examplePolicy, shippedExamplePolicy } from "../util";

const FIXTURES = join(__dirname, "..", "fixtures", "policies");

/** A valid room: 7 lines, so appended lines start at line 8. */
const BASE = `name: insurance-study
project: acme-clean-room
region: us-central1
zone: us-central1-a
datasets:
  insurance:
    stage1: { kind: dp-synthetic, mechanism: mst, epsilon: 1.0 }
`;

/** BASE with a valid Google-signed-in hub on lines 8-18. */
const HUB = `${BASE}jupyterhub:
  authenticator:
    type: google
    clientId: 1234-abc.apps.googleusercontent.com
    clientSecret: jupyterhub-oauth
    callbackUrl: https://hub.example.org/hub/oauth_callback
    hostedDomains: [example.org]
  users:
    alice@example.org: alice
    bob@example.org: bob
  admins: [alice]
`;

/** HUB with one piece of text replaced (line numbers stay put unless the edit adds lines). */
function hub(text: string, replacement: string): string {
  if (!HUB.includes(text)) throw new Error(`HUB has no text ${text}`);
  return HUB.replace(text, replacement);
}

const USERS_AND_ADMINS = "  users:\n    alice@example.org: alice\n    bob@example.org: bob\n  admins: [alice]\n";
const AS_GITHUB = (text: string) => text.replace("type: google", "type: github").replace("    hostedDomains: [example.org]\n", "");

function errorsOf(text: string, file = "room.yaml"): string[] {
  try {
    parsePolicy(text, file);
  } catch (err) {
    if (err instanceof PolicyError) return err.issues.map((i) => i.message);
    throw err;
  }
  throw new Error("expected a PolicyError, but the policy loaded");
}

const CALLBACK_RULE =
  "the OAuth redirect URI: https://<host>/hub/oauth_callback, or http://localhost:<port>/hub/oauth_callback behind kubectl port-forward";
const SECRET_RULE =
  "the name of the Kubernetes Secret that holds the OAuth client secret: up to 63 lowercase letters, digits or '-', starting and ending with a letter or digit";
const USERNAME_RULE =
  "a JupyterHub username: 1-26 lowercase letters, digits or '-', starting with a letter and not ending with '-' (ManaTEE names each job <username>-<uuid>, at most 63 characters)";
const CIDR_RULE = 'an IPv4 CIDR block with no host bits set, such as "203.0.113.0/24"';
const DUMMY_RULE = (debug: string) =>
  `the dummy authenticator lets anyone sign in under any name, so it needs a non-production room (tee.allowDebug: true), but ${debug}; configure a google, github or generic-oauth authenticator`;
const ACCESS_POLICY_RULE =
  'the numeric id of the organization\'s access policy, quoted, such as "123456789012" (gcloud access-context-manager policies list)';
const PUBLIC_ENDPOINT_RULE =
  "true needs a public range in cluster.authorizedNetworks, or nobody could use the public endpoint; add your operators' public CIDR blocks, or keep publicEndpoint false and use the DNS endpoint (IAM-gated)";

describe("loading the deployment sections", () => {
  test("given the example config, when loaded, then its hub signs in with Google through a port-forward, with defaults filled", () => {
    const policy = loadPolicyFile("stacks/example.cleanroom.yaml");
    expect(policy.jupyterhub).toEqual({
      authenticator: {
        type: "google",
        clientId: "000000000000-example.apps.googleusercontent.com",
        clientSecret: "jupyterhub-oauth",
        clientSecretKey: "client-secret",
        callbackUrl: "http://localhost:8080/hub/oauth_callback",
        hostedDomains: ["example.org"],
      },
      users: { "alice@example.org": "alice", "bob@example.org": "bob" },
      admins: [],
      exposure: "cluster-ip",
      egress: "internet",
    });
    // Absent platform sections stay absent: the constructs' own defaults apply.
    expect(policy.cluster).toBeUndefined();
    expect(policy.database).toBeUndefined();
  });

  test("given every deployment setting, when loaded, then each is kept as written", () => {
    const policy = loadPolicyFile(join(FIXTURES, "deployment.cleanroom.yaml"));
    expect(policy.jupyterhub).toEqual({
      authenticator: {
        type: "github",
        clientId: "Iv1.0123456789abcdef",
        clientSecret: "github-oauth",
        clientSecretKey: "secret",
        callbackUrl: "https://hub.acme.example.org/hub/oauth_callback",
        allowedOrganizations: ["acme-research", "acme:clean-room-team"],
      },
      users: { "Alice-Smith": "alice", bob42: "bob" },
      admins: ["alice"],
      exposure: "internal-load-balancer",
      storageCapacity: "50Gi",
      egress: "private-google-access",
    });
    expect(policy.cluster).toEqual({
      authorizedNetworks: [
        { cidr: "203.0.113.0/24", name: "office" },
        { cidr: "10.8.0.0/16", name: "vpn" },
      ],
      publicEndpoint: true,
      deletionProtection: false,
    });
    expect(policy.database).toEqual({ deletionProtection: false });
  });

  test("given the non-production SEV room, when loaded, then the dummy authenticator is accepted there", () => {
    expect(loadPolicyFile(join(FIXTURES, "sev-debug.cleanroom.yaml")).jupyterhub).toEqual({
      authenticator: { type: "dummy", acknowledgeInsecure: true },
      users: {},
      admins: [],
      exposure: "cluster-ip",
      egress: "internet",
    });
  });

  test("given empty cluster and database sections and a generic-oauth hub, when loaded, then the secure defaults are filled in", () => {
    const policy = parsePolicy(
      `${hub("type: google", "type: generic-oauth").replace(
        "    hostedDomains: [example.org]\n",
        "    authorizeUrl: https://sso.example.org/authorize\n    tokenUrl: https://sso.example.org/token\n    userdataUrl: https://sso.example.org/userinfo\n",
      )}cluster: {}\ndatabase: {}\n`,
      "room.yaml",
    );
    expect(policy.jupyterhub!.authenticator).toMatchObject({ clientSecretKey: "client-secret", usernameClaim: "preferred_username" });
    expect(policy.cluster).toEqual({ authorizedNetworks: [], publicEndpoint: false, deletionProtection: true });
    expect(policy.database).toEqual({ deletionProtection: true });
  });

  test("given a GitHub hub that admits an organization, when loaded without users, then it loads (members sign in by login)", () => {
    const text = AS_GITHUB(hub(USERS_AND_ADMINS, "")).replace(
      "    callbackUrl: https://hub.example.org/hub/oauth_callback\n",
      "    callbackUrl: https://hub.example.org/hub/oauth_callback\n    allowedOrganizations: [acme]\n",
    );
    expect(parsePolicy(text, "room.yaml").jupyterhub).toMatchObject({ users: {}, authenticator: { allowedOrganizations: ["acme"] } });
  });
});

describe("every deployment rule rejects bad input with a located message", () => {
  // [rule, document, exact messages]
  const cases: [string, string, string[]][] = [
    ["jupyterhub: a map", `${BASE}jupyterhub: google\n`, [
      `room.yaml:8:13: jupyterhub: expected the JupyterHub settings: { authenticator, users, admins, exposure, storageCapacity, egress }, found the string "google"`,
    ]],
    ["authenticator: required", `${BASE}jupyterhub: { exposure: cluster-ip }\n`, [
      `room.yaml:8:13: jupyterhub.authenticator: expected the sign-in settings: { type: google | github | generic-oauth | dummy, ... }, found nothing (the field is missing)`,
    ]],
    ["type: a typo is suggested", hub("type: google", "type: gogle"), [
      `room.yaml:10:11: jupyterhub.authenticator.type: expected one of google, github, generic-oauth, dummy, found the string "gogle"; did you mean "google"?`,
    ]],
    ["type: another provider is generic-oauth", hub("type: google", "type: azure-ad"), [
      `room.yaml:10:11: jupyterhub.authenticator.type: expected one of google, github, generic-oauth, dummy, found the string "azure-ad"; any other OAuth 2.0 or OpenID Connect provider is generic-oauth`,
    ]],
    ["fields of another type are errors", hub("    hostedDomains: [example.org]\n", "    hostedDomains: [example.org]\n    allowedOrganizations: [acme]\n"), [
      `room.yaml:15:5: jupyterhub.authenticator.allowedOrganizations: not a field of authenticator type google; expected one of type, clientId, clientSecret, clientSecretKey, callbackUrl, hostedDomains`,
    ]],
    ["unknown field: snake_case suggested", hub("    clientId:", "    client_id:"), [
      `room.yaml:10:5: jupyterhub.authenticator.clientId: expected the OAuth client ID the identity provider issued, found nothing (the field is missing)`,
      `room.yaml:11:5: jupyterhub.authenticator.client_id: unknown field; expected one of type, clientId, clientSecret, clientSecretKey, callbackUrl, hostedDomains; did you mean "clientId"?`,
    ]],
    ["clientId: not blank", hub("clientId: 1234-abc.apps.googleusercontent.com", 'clientId: " "'), [
      `room.yaml:11:15: jupyterhub.authenticator.clientId: expected the OAuth client ID the identity provider issued, found the string " "`,
    ]],
    ["clientSecret: a Secret's name, not the construct's { secretName } map", hub("clientSecret: jupyterhub-oauth", "clientSecret: { secretName: jupyterhub-oauth }"), [
      `room.yaml:12:19: jupyterhub.authenticator.clientSecret: expected ${SECRET_RULE}, found a map; write the Secret's name here and its key in clientSecretKey`,
    ]],
    ["clientSecret: a DNS-1123 name", hub("clientSecret: jupyterhub-oauth", "clientSecret: JupyterHub_OAuth"), [
      `room.yaml:12:19: jupyterhub.authenticator.clientSecret: expected ${SECRET_RULE}, found the string "JupyterHub_OAuth"`,
    ]],
    ["clientSecretKey: a Secret data key", hub("    clientSecret: jupyterhub-oauth\n", "    clientSecret: jupyterhub-oauth\n    clientSecretKey: client secret\n"), [
      `room.yaml:13:22: jupyterhub.authenticator.clientSecretKey: expected a key of that Secret: up to 253 letters, digits, '-', '_' or '.', found the string "client secret"`,
    ]],
    ["callbackUrl: plain http only to localhost", hub("https://hub.example.org/hub/oauth_callback", "http://hub.example.org/hub/oauth_callback"), [
      `room.yaml:13:18: jupyterhub.authenticator.callbackUrl: expected ${CALLBACK_RULE}, found the string "http://hub.example.org/hub/oauth_callback"`,
    ]],
    ["callbackUrl: JupyterHub's callback path", hub("https://hub.example.org/hub/oauth_callback", "https://hub.example.org/oauth2/callback"), [
      `room.yaml:13:18: jupyterhub.authenticator.callbackUrl: expected ${CALLBACK_RULE}, found the string "https://hub.example.org/oauth2/callback"`,
    ]],
    ["callbackUrl: required", hub("    callbackUrl: https://hub.example.org/hub/oauth_callback\n", ""), [
      `room.yaml:10:5: jupyterhub.authenticator.callbackUrl: expected ${CALLBACK_RULE}, found nothing (the field is missing)`,
    ]],
    ["hostedDomains: not empty (any Google account could try)", hub("hostedDomains: [example.org]", "hostedDomains: []"), [
      `room.yaml:14:20: jupyterhub.authenticator.hostedDomains: expected a non-empty list of Google Workspace or Cloud Identity domains such as example.org, found an empty list`,
    ]],
    ["google: users are e-mails in the hosted domains", hub("bob@example.org: bob", "bob@gmail.com: bob"), [
      `room.yaml:17:5: jupyterhub.users["bob@gmail.com"]: expected an e-mail address in jupyterhub.authenticator.hostedDomains [example.org] (Google sign-in returns e-mail addresses), found the string "bob@gmail.com"`,
    ]],
    ["github: users are logins", AS_GITHUB(HUB), [
      `room.yaml:15:5: jupyterhub.users["alice@example.org"]: expected a GitHub login (GitHub sign-in returns logins, not e-mail addresses), found the string "alice@example.org"`,
      `room.yaml:16:5: jupyterhub.users["bob@example.org"]: expected a GitHub login (GitHub sign-in returns logins, not e-mail addresses), found the string "bob@example.org"`,
    ]],
    ["generic-oauth: https endpoints, all three", hub("type: google", "type: generic-oauth").replace(
      "    hostedDomains: [example.org]\n",
      "    authorizeUrl: http://sso.example.org/authorize\n    tokenUrl: https://sso.example.org/token\n",
    ), [
      `room.yaml:10:5: jupyterhub.authenticator.userdataUrl: expected an https:// URL, found nothing (the field is missing)`,
      `room.yaml:14:19: jupyterhub.authenticator.authorizeUrl: expected an https:// URL, found the string "http://sso.example.org/authorize"`,
    ]],
    ["users: somebody must be able to sign in", hub(USERS_AND_ADMINS, "  users: {}\n"), [
      `room.yaml:15:10: jupyterhub.users: expected at least one sign-in identity mapped to a username, such as { alice@example.org: alice }, found an empty map: otherwise nobody can sign in`,
    ]],
    ["users: or, for GitHub, an organization", AS_GITHUB(hub(USERS_AND_ADMINS, "")), [
      `room.yaml:9:3: jupyterhub.users: expected at least one sign-in identity mapped to a username, such as { alice@example.org: alice } (or jupyterhub.authenticator.allowedOrganizations), found nothing (the field is missing): otherwise nobody can sign in`,
    ]],
    ["users: identities unique once lower-cased", hub("bob@example.org: bob", "Alice@Example.org: bob"), [
      `room.yaml:17:5: jupyterhub.users["Alice@Example.org"]: "Alice@Example.org" is the same identity as "alice@example.org" once lower-cased (JupyterHub compares lower-cased names); list each identity once`,
    ]],
    ["users: usernames fit the job names", hub("bob@example.org: bob", "bob@example.org: Bob_The_Researcher"), [
      `room.yaml:17:22: jupyterhub.users["bob@example.org"]: expected ${USERNAME_RULE}, found the string "Bob_The_Researcher"`,
    ]],
    ["users: at most 26 characters", hub("bob@example.org: bob", "bob@example.org: bob-the-clean-room-researcher"), [
      `room.yaml:17:22: jupyterhub.users["bob@example.org"]: expected ${USERNAME_RULE}, found the string "bob-the-clean-room-researcher"`,
    ]],
    ["users: one account per identity", hub("bob@example.org: bob", "bob@example.org: alice"), [
      `room.yaml:17:22: jupyterhub.users["bob@example.org"]: the username "alice" is already "alice@example.org"'s; two identities would share one account and its jobs, give each its own username`,
    ]],
    ["admins: usernames, not identities", hub("admins: [alice]", "admins: [bob@example.org, carol]"), [
      `room.yaml:18:12: jupyterhub.admins[0]: expected a username from jupyterhub.users (one of alice, bob), found the string "bob@example.org"; did you mean "bob"?`,
      `room.yaml:18:29: jupyterhub.admins[1]: expected a username from jupyterhub.users (one of alice, bob), found the string "carol"`,
    ]],
    ["admins: each once", hub("admins: [alice]", "admins: [alice, alice]"), [
      `room.yaml:18:19: jupyterhub.admins[1]: duplicate entry the string "alice", already at jupyterhub.admins[0]; list each entry once`,
    ]],
    ["exposure: never public from a config file", `${HUB}  exposure: https\n`, [
      `room.yaml:19:13: jupyterhub.exposure: expected one of cluster-ip, internal-load-balancer, found the string "https"; a config file never exposes the hub to the internet: use cluster-ip (kubectl port-forward, or an Ingress with IAP you add) or internal-load-balancer (inside the VPC)`,
    ]],
    ["exposure: a typo is suggested", `${HUB}  exposure: clusterip\n`, [
      `room.yaml:19:13: jupyterhub.exposure: expected one of cluster-ip, internal-load-balancer, found the string "clusterip"; did you mean "cluster-ip"?`,
    ]],
    ["storageCapacity: a Kubernetes quantity", `${HUB}  storageCapacity: 20GB\n`, [
      `room.yaml:19:20: jupyterhub.storageCapacity: expected a Kubernetes quantity such as "20Gi", found the string "20GB"`,
    ]],
    ["storageCapacity: a bare number would be bytes", `${HUB}  storageCapacity: 20\n`, [
      `room.yaml:19:20: jupyterhub.storageCapacity: expected a Kubernetes quantity such as "20Gi", found 20`,
    ]],
    ["egress: a typo is suggested", `${HUB}  egress: private\n`, [
      `room.yaml:19:11: jupyterhub.egress: expected one of internet, private-google-access, found the string "private"; did you mean "private-google-access"?`,
    ]],
    ["dummy: not in a production room (allowDebug absent)", `${BASE}jupyterhub:\n  authenticator: { type: dummy, acknowledgeInsecure: true }\n`, [
      `room.yaml:9:26: jupyterhub.authenticator.type: ${DUMMY_RULE("tee.allowDebug is not set (false)")}`,
    ]],
    ["dummy: not in a production room (allowDebug false)", `${BASE}tee: { allowDebug: false }\njupyterhub:\n  authenticator: { type: dummy, acknowledgeInsecure: true }\n`, [
      `room.yaml:10:26: jupyterhub.authenticator.type: ${DUMMY_RULE("tee.allowDebug is false")}`,
    ]],
    ["dummy: acknowledged with exactly true, behind a ClusterIP only", `${BASE}tee: { allowDebug: true }\njupyterhub:\n  authenticator: { type: dummy, acknowledgeInsecure: "yes" }\n  exposure: internal-load-balancer\n`, [
      `room.yaml:10:54: jupyterhub.authenticator.acknowledgeInsecure: expected exactly true: you accept that anyone who reaches the hub can sign in under any name, found the string "yes"`,
      `room.yaml:11:13: jupyterhub.exposure: expected cluster-ip with the dummy authenticator, found the string "internal-load-balancer": anyone who reaches a load balancer could sign in under any name; reach the hub with kubectl port-forward`,
    ]],
    ["authorizedNetworks: IPv4 blocks with no host bits set, /8 or longer", `${BASE}cluster:
  publicEndpoint: true
  authorizedNetworks:
    - { cidr: 10.0.0.1/24, name: vpn }
    - { cidr: "2001:db8::/32", name: v6 }
    - { cidr: 0.0.0.0/0, name: everyone }
    - { cidr: 203.0.113.0/24, name: office }
`, [
      `room.yaml:11:15: cluster.authorizedNetworks[0].cidr: expected ${CIDR_RULE}, found the string "10.0.0.1/24"`,
      `room.yaml:12:15: cluster.authorizedNetworks[1].cidr: expected ${CIDR_RULE}, found the string "2001:db8::/32"`,
      `room.yaml:13:15: cluster.authorizedNetworks[2].cidr: expected a block of /8 or longer, found the string "0.0.0.0/0", which opens the control plane to a large part of the internet; allow only your operators' networks, or use the DNS endpoint, which IAM guards`,
    ]],
    ["authorizedNetworks: a public range needs publicEndpoint", `${BASE}cluster:
  authorizedNetworks:
    - { cidr: 10.8.0.0/16, name: vpn }
    - { cidr: 203.0.113.0/24, name: office }
`, [
      `room.yaml:11:15: cluster.authorizedNetworks[1].cidr: the public range "203.0.113.0/24" could never be used: cluster.publicEndpoint is not true, so only the private endpoint takes IP traffic; set cluster.publicEndpoint: true if operators must reach the public IP, or remove it and use the DNS endpoint (IAM-gated)`,
    ]],
    ["authorizedNetworks: cidr and name required, each block once", `${BASE}cluster:
  authorizedNetworks:
    - { cidr: 10.8.0.0/16 }
    - { name: office }
    - { cidr: 10.8.0.0/16, name: vpn-again }
    - 10.9.0.0/16
`, [
      `room.yaml:10:7: cluster.authorizedNetworks[0].name: expected a non-empty name for the network, such as "office", found nothing (the field is missing)`,
      `room.yaml:11:7: cluster.authorizedNetworks[1].cidr: expected ${CIDR_RULE}, found nothing (the field is missing)`,
      `room.yaml:12:15: cluster.authorizedNetworks[2].cidr: duplicate CIDR block "10.8.0.0/16", already at cluster.authorizedNetworks[0].cidr; list each block once`,
      `room.yaml:13:7: cluster.authorizedNetworks[3]: expected an authorized network: { cidr, name }, found the string "10.9.0.0/16"`,
    ]],
    ["publicEndpoint: needs a public range", `${BASE}cluster:\n  publicEndpoint: true\n  authorizedNetworks:\n    - { cidr: 10.8.0.0/16, name: vpn }\n`, [
      `room.yaml:9:19: cluster.publicEndpoint: ${PUBLIC_ENDPOINT_RULE}`,
    ]],
    ["publicEndpoint: needs authorized networks at all", `${BASE}cluster: { publicEndpoint: true }\n`, [
      `room.yaml:8:28: cluster.publicEndpoint: ${PUBLIC_ENDPOINT_RULE}`,
    ]],
    ["cluster: known fields, booleans", `${BASE}cluster:\n  authorisedNetworks: []\n  deletionProtection: "false"\n`, [
      `room.yaml:9:3: cluster.authorisedNetworks: unknown field; expected one of authorizedNetworks, publicEndpoint, deletionProtection; did you mean "authorizedNetworks"?`,
      `room.yaml:10:23: cluster.deletionProtection: expected true or false (false only for throwaway rooms), found the string "false"`,
    ]],
    ["database: known fields, booleans", `${BASE}database: { deletionProtection: no, tier: db-custom-2-7680 }\n`, [
      `room.yaml:8:33: database.deletionProtection: expected true or false (false only for throwaway rooms), found the string "no"`,
      `room.yaml:8:37: database.tier: unknown field; expected one of deletionProtection`,
    ]],
    ["vpcServiceControls: a typo of the key is suggested", `${BASE}vpcServiceControl: { accessPolicy: "123456789012" }\n`, [
      `room.yaml:8:1: vpcServiceControl: unknown field; expected one of name, project, region, zone, residency, tee, verifier, datasets, approvals, researchers, backend, jupyterhub, cluster, database, jobs, vpcServiceControls, locations, parties, operators, audit; did you mean "vpcServiceControls"?`,
    ]],
    ["vpcServiceControls: accessPolicy required, fields known", `${BASE}vpcServiceControls:\n  accessLevel: [deployers]\n`, [
      `room.yaml:9:3: vpcServiceControls.accessLevel: unknown field; expected one of accessPolicy, accessLevels; did you mean "accessLevels"?`,
      `room.yaml:9:3: vpcServiceControls.accessPolicy: expected ${ACCESS_POLICY_RULE}, found nothing (the field is missing)`,
    ]],
    ["vpcServiceControls: an unquoted id is a number", `${BASE}vpcServiceControls: { accessPolicy: 123456789012 }\n`, [
      `room.yaml:8:37: vpcServiceControls.accessPolicy: expected ${ACCESS_POLICY_RULE}, found the number 123456789012; quote it ("123456789012") so no digit is lost`,
    ]],
    ["vpcServiceControls: the id alone, not the resource name", `${BASE}vpcServiceControls: { accessPolicy: accessPolicies/123 }\n`, [
      `room.yaml:8:37: vpcServiceControls.accessPolicy: expected ${ACCESS_POLICY_RULE}, found the string "accessPolicies/123"; write the id alone ("123")`,
    ]],
    ["vpcServiceControls: access levels by short name", `${BASE}vpcServiceControls: { accessPolicy: "42", accessLevels: [deployers, "accessPolicies/42/accessLevels/ops"] }\n`, [
      `room.yaml:8:69: vpcServiceControls.accessLevels[1]: expected an access level's short name (the part after accessLevels/): a letter, then up to 49 letters, digits or '_', found the string "accessPolicies/42/accessLevels/ops"`,
    ]],
  ];

  test.each(cases)("%s", (_rule, text, messages) => {
    expect(errorsOf(text)).toEqual(messages);
  });

  test("given the valid HUB, when parsed, then the table's starting point is itself valid", () => {
    expect(parsePolicy(HUB, "room.yaml").jupyterhub!.admins).toEqual(["alice"]);
  });

  test("given problems in the policy and in every deployment section, when loaded, then all are reported at once, top to bottom", () => {
    const text = `${hub("name: insurance-study", "name: Insurance").replace("type: google", "type: dummy")}cluster: { deletionProtection: 0 }\ndatabase: []\n`;
    expect(errorsOf(text)).toEqual([
      `room.yaml:1:7: name: expected a clean room name: 3-20 lowercase letters, digits or '-', starting with a letter and not ending with '-', found the string "Insurance"`,
      `room.yaml:10:5: jupyterhub.authenticator.acknowledgeInsecure: expected exactly true: you accept that anyone who reaches the hub can sign in under any name, found nothing (the field is missing)`,
      `room.yaml:10:11: jupyterhub.authenticator.type: ${DUMMY_RULE("tee.allowDebug is not set (false)")}`,
      ...["clientId", "clientSecret", "callbackUrl", "hostedDomains"].map(
        (field, i) => `room.yaml:${11 + i}:5: jupyterhub.authenticator.${field}: not a field of authenticator type dummy; expected one of type, acknowledgeInsecure`,
      ),
      `room.yaml:19:32: cluster.deletionProtection: expected true or false (false only for throwaway rooms), found 0`,
      `room.yaml:20:11: database: expected the database settings: { deletionProtection }, found an empty list`,
    ]);
  });
});

describe("TypeScript-built deployment settings go through the same rules", () => {
  const googleHub = examplePolicy().jupyterhub!;

  test("given each fixture, when its normalized form is validated again, then it is still valid (defaults are valid input)", () => {
    for (const file of ["deployment", "sev-debug", "minimal"]) {
      const policy = loadPolicyFile(join(FIXTURES, `${file}.cleanroom.yaml`));
      expect({ file, issues: validatePolicy(policy) }).toEqual({ file, issues: [] });
    }
  });

  test("given a dummy hub in a production room built in TypeScript, when validated, then the message is the YAML one without a location", () => {
    const policy = examplePolicy({ jupyterhub: { authenticator: { type: "dummy", acknowledgeInsecure: true } } });
    expect(validatePolicy(policy).map((i) => i.message)).toEqual([
      `jupyterhub.authenticator.type: ${DUMMY_RULE("tee.allowDebug is false")}`,
    ]);
  });

  test("given a public range without the public endpoint and a shared username, when validated, then both are listed in rule order", () => {
    const policy = examplePolicy({
      jupyterhub: { ...googleHub, users: { "alice@example.org": "alice", "ALICE@example.org": "alice2", "carol@example.org": "alice" } },
      cluster: { authorizedNetworks: [{ cidr: "198.51.100.0/24", name: "home" }] },
    });
    expect(validatePolicy(policy).map((i) => i.message)).toEqual([
      `jupyterhub.users["ALICE@example.org"]: "ALICE@example.org" is the same identity as "alice@example.org" once lower-cased (JupyterHub compares lower-cased names); list each identity once`,
      `jupyterhub.users["carol@example.org"]: the username "alice" is already "alice@example.org"'s; two identities would share one account and its jobs, give each its own username`,
      `cluster.authorizedNetworks[0].cidr: the public range "198.51.100.0/24" could never be used: cluster.publicEndpoint is not true, so only the private endpoint takes IP traffic; set cluster.publicEndpoint: true if operators must reach the public IP, or remove it and use the DNS endpoint (IAM-gated)`,
    ]);
  });

  test("given input with undefined optional deployment fields, when validated, then undefined counts as absent", () => {
    const input: CleanRoomPolicyInput = {
      name: "typed-room",
      project: "acme-clean-room",
      region: "us-central1",
      zone: "us-central1-c",
      datasets: { d: { stage1: { kind: "none" } } },
      jupyterhub: {
        authenticator: { ...googleHub.authenticator, clientSecretKey: undefined } as never,
        users: googleHub.users,
        admins: undefined,
        exposure: undefined,
        storageCapacity: undefined,
        egress: undefined,
      },
      cluster: { authorizedNetworks: undefined, publicEndpoint: undefined, deletionProtection: undefined },
      database: { deletionProtection: undefined },
    };
    expect(validatePolicyInput(input)).toEqual([]);
  });
});

describe("the deployment sections never touch the verifier policy", () => {
  test("given the example with, without and with other deployment settings, when compiled, then the verifier document and its sha256 are identical", () => {
    const without = compileVerifierPolicy(examplePolicy({ jupyterhub: undefined }));
    // The example file: its jupyterhub section is deployment; its datasets' provisioning is policy.
    expect(compileVerifierPolicy(loadPolicyFile("stacks/example.cleanroom.yaml")).json).toBe(compileVerifierPolicy(shippedExamplePolicy({ jupyterhub: undefined })).json);
    const variants: CleanRoomPolicy[] = [
      examplePolicy({
        tee: { allowDebug: false },
        jupyterhub: {
          authenticator: { type: "github", clientId: "Iv1.x", clientSecret: "gh", callbackUrl: "https://h.example.org/hub/oauth_callback", allowedOrganizations: ["acme"] },
          exposure: "internal-load-balancer",
          egress: "private-google-access",
        },
        cluster: { authorizedNetworks: [{ cidr: "203.0.113.0/24", name: "office" }], publicEndpoint: true, deletionProtection: false },
        database: { deletionProtection: false },
      }),
      // The perimeter says where Google APIs may be called from, not what is approved.
      examplePolicy({ jupyterhub: undefined, vpcServiceControls: { accessPolicy: "123456789012", accessLevels: ["deployers"] } }),
    ];
    for (const policy of variants) {
      expect(validatePolicy(policy)).toEqual([]);
      const compiled = compileVerifierPolicy(policy);
      expect(compiled.sha256).toBe(without.sha256);
      expect(compiled.json).toBe(without.json);
    }
    // Nothing of the sections leaks into the document.
    expect(without.json).not.toMatch(/oauth|authenticator|authorizedNetworks|deletionProtection|alice|accessPolic|perimeter/i);
  });

  test("given the example YAML with a vpcServiceControls section appended, when loaded, then it is kept and the policy hash is the same", () => {
    const text = readFileSync("stacks/example.cleanroom.yaml", "utf8");
    const withPerimeter = parsePolicy(`${text}vpcServiceControls:\n  accessPolicy: "123456789012"\n`, "perimeter.yaml");
    expect(withPerimeter.vpcServiceControls).toEqual({ accessPolicy: "123456789012", accessLevels: [] });
    expect(loadPolicyFile("stacks/example.cleanroom.yaml").vpcServiceControls).toBeUndefined();
    expect(compileVerifierPolicy(withPerimeter).sha256).toBe(compileVerifierPolicy(loadPolicyFile("stacks/example.cleanroom.yaml")).sha256);
  });

  test("given the example YAML with its jupyterhub section cut off, when loaded, then the policy hash is the same", () => {
    const text = readFileSync("stacks/example.cleanroom.yaml", "utf8");
    const cut = text.slice(0, text.indexOf("\njupyterhub:") + 1);
    expect(cut).not.toContain("jupyterhub:");
    expect(compileVerifierPolicy(parsePolicy(cut, "cut.yaml")).sha256).toBe(
      compileVerifierPolicy(loadPolicyFile("stacks/example.cleanroom.yaml")).sha256,
    );
  });
});

// ---- agreement with the constructs the stacks feed: what loads must construct, and what a
// construct rejects must not load, in the same words. The mapping is the one-liner per field the stacks use.

const REGISTRY = "us-central1-docker.pkg.dev/acme-clean-room/insurance-study-images";
const NETWORK = {
  networkId: "projects/acme-clean-room/global/networks/dcr-insurance-study-network",
  subnetworkId: "projects/acme-clean-room/regions/us-central1/subnetworks/dcr-insurance-study-subnetwork",
  podsRangeName: "pods",
  servicesRangeName: "services",
  region: "us-central1",
};

function toAuthenticator(a: NonNullable<CleanRoomPolicy["jupyterhub"]>["authenticator"]): JupyterHubAuthenticator {
  if (a.type === "dummy") return a;
  const { clientSecret, clientSecretKey, ...rest } = a;
  return { ...rest, clientSecret: { secretName: clientSecret, key: clientSecretKey } } as JupyterHubAuthenticator;
}

/** Build the constructs from a normalized policy; the error message, or undefined when they accept it. */
function constructError(policy: CleanRoomPolicy): string | undefined {
  const app: App = Testing.app();
  const stack = new TerraformStack(app, "parity");
  new GoogleProvider(stack, "google", { project: policy.project });
  new HelmProvider(stack, "helm", {});
  try {
    const hubSettings = policy.jupyterhub;
    if (hubSettings) {
      new JupyterHub(stack, "jupyterhub", {
        roomName: policy.name,
        project: policy.project,
        authenticator: toAuthenticator(hubSettings.authenticator),
        researchers: hubSettings.users,
        adminUsers: hubSettings.admins,
        nonProduction: policy.tee.allowDebug,
        exposure: { type: hubSettings.exposure },
        storageCapacity: hubSettings.storageCapacity,
        egress: hubSettings.egress,
        serviceImagesRegistry: REGISTRY,
      });
    }
    const cluster = policy.cluster;
    new CleanRoomCluster(stack, "cluster", {
      room: policy,
      network: NETWORK,
      ...(cluster && {
        controlPlane: {
          publicEndpoint: cluster.publicEndpoint,
          authorizedNetworks: cluster.authorizedNetworks.map((n) => ({ cidrBlock: n.cidr, displayName: n.name })),
        },
        deletionProtection: cluster.deletionProtection,
      }),
    });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

describe("the loader agrees with the JupyterHub and CleanRoomCluster constructs", () => {
  type Doc = any;
  const base = (): Doc => ({
    name: "insurance-study",
    project: "acme-clean-room",
    region: "us-central1",
    zone: "us-central1-a",
    datasets: { insurance: { stage1: { kind: "none" } } },
    jupyterhub: {
      authenticator: {
        type: "google",
        clientId: "1234-abc.apps.googleusercontent.com",
        clientSecret: "jupyterhub-oauth",
        callbackUrl: "https://hub.example.org/hub/oauth_callback",
        hostedDomains: ["example.org"],
      },
      users: { "alice@example.org": "alice", "bob@example.org": "bob" },
      admins: ["alice"],
    },
  });
  const dummy = (d: Doc) => {
    d.tee = { allowDebug: true };
    d.jupyterhub = { authenticator: { type: "dummy", acknowledgeInsecure: true } };
  };
  const github = (d: Doc) => {
    d.jupyterhub.authenticator = { ...d.jupyterhub.authenticator, type: "github", hostedDomains: undefined };
    d.jupyterhub.users = { "Alice-Smith": "alice", bob: "bob" };
  };
  const generic = (d: Doc) => {
    d.jupyterhub.authenticator = {
      ...d.jupyterhub.authenticator,
      type: "generic-oauth",
      hostedDomains: undefined,
      authorizeUrl: "https://sso.example.org/authorize",
      tokenUrl: "https://sso.example.org/token",
      userdataUrl: "https://sso.example.org/userinfo",
    };
  };
  const auth = (patch: Record<string, unknown>) => (d: Doc) => Object.assign(d.jupyterhub.authenticator, patch);
  const networks = (publicEndpoint: boolean | undefined, ...cidrs: string[]) => (d: Doc) => {
    d.cluster = { publicEndpoint, authorizedNetworks: cidrs.map((cidr, i) => ({ cidr, name: `net-${i}` })) };
  };
  /** The one issue the loader finds in `doc`, as [field path, text after the path]. */
  const loaderSays = (doc: Doc): [string, string] => {
    const issues = validatePolicyInput(doc);
    // Each rejected row breaks exactly one rule (its exact located message is tested above).
    expect(issues).toHaveLength(1);
    return [issues[0].path, issues[0].message.slice(issues[0].path.length + 2)];
  };
  /** A room-file message in the construct's words: the fields it points at renamed (tee.allowDebug → nonProduction, ...). */
  const inConstructWords = (text: string) =>
    (["nonProduction", "users", "hostedDomains", "allowedOrganizations"] as const).reduce(
      (t, field) => t.split(ROOM_FILE_HUB[field]).join(CONSTRUCT_HUB[field]),
      text,
    );

  const accepted: [string, (d: Doc) => void][] = [
    ["google with users and an admin", () => undefined],
    ["github with an organization and no users", (d) => {
      github(d);
      Object.assign(d.jupyterhub, { users: {}, admins: [] });
      d.jupyterhub.authenticator.allowedOrganizations = ["acme"];
    }],
    ["generic-oauth", generic],
    ["dummy in a debug room", dummy],
    ["port-forward callback", auth({ callbackUrl: "http://127.0.0.1:8080/hub/oauth_callback" })],
    ["callback under a path prefix", auth({ callbackUrl: "https://example.org/jupyter/hub/oauth_callback" })],
    ["internal load balancer, private egress, 50Gi", (d) => Object.assign(d.jupyterhub, { exposure: "internal-load-balancer", egress: "private-google-access", storageCapacity: "50Gi" })],
    ["private authorized network", networks(undefined, "10.8.0.0/16")],
    ["public endpoint with a public range", networks(true, "203.0.113.0/24", "10.8.0.0/16")],
    ["no deletion protection", (d) => Object.assign(d, { cluster: { deletionProtection: false }, database: { deletionProtection: false } })],
  ];
  test.each(accepted)("given %s, when loaded and constructed, then both accept it", (_case, patch) => {
    const doc = base();
    patch(doc);
    expect(validatePolicyInput(doc)).toEqual([]);
    expect(constructError(normalizePolicy(doc))).toBeUndefined();
  });

  // [case, patch, the field as the room file names it, the property as the JupyterHub construct names it]
  const hubRefusals: [string, (d: Doc) => void, string, string][] = [
    ["dummy in a production room", (d) => {
      dummy(d);
      d.tee.allowDebug = false;
    }, "jupyterhub.authenticator.type", "authenticator.type"],
    ["dummy not acknowledged", (d) => {
      dummy(d);
      d.jupyterhub.authenticator.acknowledgeInsecure = false;
    }, "jupyterhub.authenticator.acknowledgeInsecure", "authenticator.acknowledgeInsecure"],
    ["dummy behind an internal load balancer", (d) => {
      dummy(d);
      d.jupyterhub.exposure = "internal-load-balancer";
    }, "jupyterhub.exposure", "exposure.type"],
    ["blank client id", auth({ clientId: " " }), "jupyterhub.authenticator.clientId", "authenticator.clientId"],
    ["Secret name that is not DNS-1123", auth({ clientSecret: "OAuth_Secret" }), "jupyterhub.authenticator.clientSecret", "authenticator.clientSecret.secretName"],
    ["Secret key with a space", auth({ clientSecretKey: "client secret" }), "jupyterhub.authenticator.clientSecretKey", "authenticator.clientSecret.key"],
    ["plain-http callback to a remote host", auth({ callbackUrl: "http://hub.example.org/hub/oauth_callback" }), "jupyterhub.authenticator.callbackUrl", "authenticator.callbackUrl"],
    ["no hosted domain", auth({ hostedDomains: [] }), "jupyterhub.authenticator.hostedDomains", "authenticator.hostedDomains"],
    ["user outside the hosted domains", (d) => (d.jupyterhub.users["eve@gmail.com"] = "eve"), 'jupyterhub.users["eve@gmail.com"]', 'researchers["eve@gmail.com"]'],
    ["GitHub user written as an e-mail", (d) => {
      github(d);
      d.jupyterhub.users = { "alice@example.org": "alice" };
    }, 'jupyterhub.users["alice@example.org"]', 'researchers["alice@example.org"]'],
    ["generic-oauth over http", (d) => {
      generic(d);
      d.jupyterhub.authenticator.tokenUrl = "http://sso.example.org/token";
    }, "jupyterhub.authenticator.tokenUrl", "authenticator.tokenUrl"],
    ["generic-oauth URL that does not parse", (d) => {
      generic(d);
      d.jupyterhub.authenticator.userdataUrl = "https://sso.example.org:99999/userinfo";
    }, "jupyterhub.authenticator.userdataUrl", "authenticator.userdataUrl"],
    ["nobody can sign in", (d) => Object.assign(d.jupyterhub, { users: {}, admins: [] }), "jupyterhub.users", "researchers"],
    ["nobody can sign in to a GitHub hub", (d) => {
      github(d);
      Object.assign(d.jupyterhub, { users: {}, admins: [] });
    }, "jupyterhub.users", "researchers"],
    ["identities equal once lower-cased", (d) => (d.jupyterhub.users["ALICE@example.org"] = "alice2"), 'jupyterhub.users["ALICE@example.org"]', 'researchers["ALICE@example.org"]'],
    ["username of 27 characters", (d) => (d.jupyterhub.users["bob@example.org"] = "b".repeat(27)), 'jupyterhub.users["bob@example.org"]', 'researchers["bob@example.org"]'],
    ["two identities, one username", (d) => (d.jupyterhub.users["bob@example.org"] = "alice"), 'jupyterhub.users["bob@example.org"]', 'researchers["bob@example.org"]'],
    ["admin who is not a user", (d) => (d.jupyterhub.admins = ["carol"]), "jupyterhub.admins[0]", "adminUsers[0]"],
    ["storage that is not a quantity", (d) => (d.jupyterhub.storageCapacity = "20GB"), "jupyterhub.storageCapacity", "storageCapacity"],
  ];
  test.each(hubRefusals)(
    "given %s, when loaded and constructed, then both refuse it with the same message",
    (_case, patch, field, property) => {
      const doc = base();
      patch(doc);
      const [path, text] = loaderSays(doc);
      expect(path).toBe(field);
      expect(constructError(normalizePolicy(doc))).toBe(`parity/jupyterhub: ${property}: ${inConstructWords(text)}`);
    },
  );

  test("given a dummy hub in a production room, when constructed, then the message names the construct's switch", () => {
    const doc = base();
    dummy(doc);
    doc.tee.allowDebug = false;
    expect(constructError(normalizePolicy(doc))).toBe(`parity/jupyterhub: authenticator.type: ${DUMMY_RULE("nonProduction is false").replace("tee.allowDebug", "nonProduction")}`);
  });

  // The cluster construct keeps its own words for the same control-plane rules (test/cluster.test.ts pins them).
  const clusterRefusals: [string, (d: Doc) => void, RegExp | undefined][] = [
    ["authorized network with host bits", networks(undefined, "10.8.0.1/16"), /is not an IPv4 CIDR block/],
    ["authorized network wider than /8", networks(true, "8.0.0.0/7"), /large part of the internet/],
    ["public range without the public endpoint", networks(false, "203.0.113.0/24"), /publicEndpoint is false, so it could never be used/],
    ["public endpoint with only private ranges", networks(true, "10.8.0.0/16"), /names no public range/],
    ["public endpoint with no networks", networks(true), /names no public range/],
    // Stricter than the construct, which would pass the repeat on to GKE.
    ["the same authorized network twice (loader only)", networks(undefined, "10.8.0.0/16", "10.8.0.0/16"), undefined],
  ];
  test.each(clusterRefusals)("given %s, when loaded and constructed, then the loader refuses it and so does the cluster", (_case, patch, constructSays) => {
    const doc = base();
    patch(doc);
    loaderSays(doc);
    const said = constructError(normalizePolicy(doc));
    if (constructSays === undefined) expect(said).toBeUndefined();
    else expect(said).toMatch(constructSays);
  });
});
