import Ajv from "ajv";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import schema from "../../lib/policy/schema.json";
import { validatePolicyInput } from "../../lib/policy/validate";
import { EXAMPLE_DIGEST_A } from "../util";

const ajv = new Ajv({ allErrors: true, strict: true });
const validateSchema = ajv.compile(schema);

const schemaAccepts = (doc: unknown) => validateSchema(doc) === true;
const loaderAccepts = (doc: unknown) => validatePolicyInput(doc).length === 0;

/** A valid Google-signed-in hub; the deployment rows change one thing in it. */
function withHub(patch: (hub: any, doc: any) => void = () => undefined): any {
  return room((d) => {
    d.jupyterhub = {
      authenticator: {
        type: "google",
        clientId: "1234-abc.apps.googleusercontent.com",
        clientSecret: "jupyterhub-oauth",
        callbackUrl: "https://hub.example.org/hub/oauth_callback",
        hostedDomains: ["example.org"],
      },
      users: { "alice@example.org": "alice", "bob@example.org": "bob" },
      admins: ["alice"],
    };
    patch(d.jupyterhub, d);
  });
}

const asGithub = (h: any) => {
  h.authenticator.type = "github";
  delete h.authenticator.hostedDomains;
  h.users = { "Alice-Smith": "alice", bob: "bob" };
};
const asGeneric = (h: any) => {
  h.authenticator.type = "generic-oauth";
  delete h.authenticator.hostedDomains;
  Object.assign(h.authenticator, {
    authorizeUrl: "https://sso.example.org/authorize",
    tokenUrl: "https://sso.example.org/token",
    userdataUrl: "https://sso.example.org/userinfo",
  });
};
const asDummy = (h: any, d: any) => {
  d.tee = { allowDebug: true };
  h.authenticator = { type: "dummy", acknowledgeInsecure: true };
  h.users = {};
  h.admins = [];
};
const networks = (publicEndpoint: boolean | undefined, ...cidrs: string[]) =>
  room((d) => (d.cluster = { publicEndpoint, authorizedNetworks: cidrs.map((cidr, i) => ({ cidr, name: `net-${i}` })) }));

/** A valid document; each table row changes one thing. */
function room(patch: (doc: any) => void = () => undefined): any {
  const doc: any = {
    name: "insurance-study",
    project: "acme-clean-room",
    region: "us-central1",
    zone: "us-central1-a",
    datasets: { insurance: { stage1: { kind: "dp-synthetic", mechanism: "mst", epsilon: 1 } } },
    approvals: [{ imageDigest: EXAMPLE_DIGEST_A, datasets: ["insurance"], purpose: "p", approvedBy: "owner@example.org" }],
  };
  patch(doc);
  return doc;
}

/** A valid consortium: party a inline, party b in its own file; each table row changes one thing. */
function consortium(patch: (doc: any) => void = () => undefined): any {
  const doc: any = {
    name: "oncology-consortium",
    project: "consortium-operator",
    region: "europe-west4",
    zone: "europe-west4-a",
    parties: {
      a: {
        project: "hospital-a-room",
        datasets: { scans: { stage1: { kind: "sample", fraction: 0.1 } } },
        approvals: [{ imageDigest: EXAMPLE_DIGEST_A, datasets: ["scans"], purpose: "p", approvedBy: "dpo@a.example.org" }],
      },
      b: { file: "b.party.yaml" },
    },
  };
  patch(doc);
  return doc;
}

/** A pinned key (the fixture's test key) and a well-formed compact JWS. */
const SIGNED = {
  approvalsKey: { jwk: { kty: "EC", crv: "P-256", x: "Xo7iys29_wGexoeG-FJt4b3DM74fqZA_vywWAkw6xUs", y: "62CRVqKnubhieWMnhgytW0NAobyh_pyy_4PSwU7925E" } },
  approvalsSignature: "eyJhbGciOiJFUzI1NiJ9.eyJ9.c2ln",
};

describe("the editor schema (lib/policy/schema.json)", () => {
  test("given the schema, when compiled by ajv in strict mode, then it is a draft-07 schema with an $id and closed objects", () => {
    expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    expect(schema.$id).toMatch(/^https:\/\//);
    // Every object schema forbids unknown keys, like the loader.
    const open: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}[${i}]`));
      else if (node && typeof node === "object") {
        const n = node as Record<string, unknown>;
        const branches = n.oneOf as Record<string, unknown>[] | undefined;
        const closed = n.additionalProperties !== undefined || branches?.every((b) => b.additionalProperties === false);
        if ((n.type === "object" || "properties" in n) && !closed) open.push(at);
        for (const [k, v] of Object.entries(n)) {
          // The root's if/then/else only refine fields of the (closed) root: consortium or not.
          if (at === "#" && ["if", "then", "else"].includes(k)) continue;
          walk(v, `${at}.${k}`);
        }
      }
    };
    walk(schema, "#");
    expect(open).toEqual([]);
  });

  test("given stacks/example.cleanroom.yaml, when validated against the schema, then it is valid", () => {
    const doc = parse(readFileSync("stacks/example.cleanroom.yaml", "utf8"));
    expect(validateSchema(doc) ? [] : validateSchema.errors).toEqual([]);
  });

  test("given the test fixtures that load, when validated against the schema, then they are valid", () => {
    for (const name of ["minimal", "sev-debug", "deployment"]) {
      const doc = parse(readFileSync(`test/fixtures/policies/${name}.cleanroom.yaml`, "utf8"));
      expect({ name, errors: validateSchema(doc) ? [] : validateSchema.errors }).toEqual({ name, errors: [] });
    }
  });

  test("given the consortium fixture, when the room file and its party file are validated, then both are valid (the party file against #/definitions/party)", () => {
    const roomDoc = parse(readFileSync("test/fixtures/policies/consortium.cleanroom.yaml", "utf8"));
    expect(validateSchema(roomDoc) ? [] : validateSchema.errors).toEqual([]);
    const partySchema = ajv.getSchema(`${schema.$id}#/definitions/party`)!;
    const partyDoc = parse(readFileSync("test/fixtures/policies/consortium-hospital-b.party.yaml", "utf8"));
    expect(partySchema(partyDoc) ? [] : partySchema.errors).toEqual([]);
    expect(partySchema({ ...partyDoc, file: "other.yaml" })).toBe(false);
  });

  // [case, document, schema accepts, loader accepts]
  const table: [string, unknown, boolean, boolean][] = [
    ["the base document", room(), true, true],
    ["all optional fields", room((d) => {
      d.residency = ["us-central1", "us-east5"];
      d.tee = { hardware: ["GCP_AMD_SEV", "GCP_INTEL_TDX"], machineType: "c3d-standard-4", allowDebug: false };
      d.verifier = { audience: "https://verifier.example.org/release" };
      d.datasets.insurance = { retentionDays: 3650, stage1: { kind: "dp-synthetic", mechanism: "aim", epsilon: 0.1, delta: 0 }, access: "impersonation", owners: ["domain:example.org"] };
      d.datasets.claims = { stage1: { kind: "sample", fraction: 1 } };
      d.datasets.raw = { stage1: { kind: "none" } };
      d.approvals[0].expires = "2024-02-29";
      d.researchers = ["group:r@example.org", "serviceAccount:sa@p.iam.gserviceaccount.com", "user:u@example.org"];
      d.backend = { bucket: "acme_tf-state", prefix: "manatee/insurance-study" };
    }), true, true],
    ["jobs and an approver key", room((d) => {
      d.datasets.insurance.approverKey = { fingerprint: "a".repeat(64) };
      d.jobs = { executorBases: [`sha256:${"b".repeat(64)}`], executorBase: `us-docker.pkg.dev/p/r/base@sha256:${"b".repeat(64)}`, maxJobsInProgressPerResearcher: 2, timeoutMinutes: 10, allowEnvOverrides: ["SEED"], maxWorkspaceMiB: 64 };
    }), true, true],
    ["uppercase fingerprint", room((d) => (d.datasets.insurance.approverKey = { fingerprint: "A".repeat(64) })), false, false],
    ["unknown approverKey key", room((d) => (d.datasets.insurance.approverKey = { fingerprint: "a".repeat(64), keyId: "x" })), false, false],
    ["unknown jobs key", room((d) => (d.jobs = { timeout: 60 })), false, false],
    ["job timeout of a week", room((d) => (d.jobs = { timeoutMinutes: 10080 })), false, false],
    ["lowercase env override", room((d) => (d.jobs = { allowEnvOverrides: ["seed"] })), false, false],
    ["executor base by tag", room((d) => (d.jobs = { executorBase: "us-docker.pkg.dev/p/r/base:latest" })), false, false],
    // The schema cannot relate executorBase to executorBases; the loader does.
    ["executor base not approved", room((d) => (d.jobs = { executorBases: [], executorBase: `us-docker.pkg.dev/p/r/base@sha256:${"b".repeat(64)}` })), true, false],
    ["unknown top-level key", room((d) => (d.researcher = [])), false, false],
    ["unknown dataset key", room((d) => (d.datasets.insurance.retentionDay = 30)), false, false],
    ["unknown approval key", room((d) => (d.approvals[0].expiry = "2027-01-31")), false, false],
    ["missing name", room((d) => delete d.name), false, false],
    ["name with '_'", room((d) => (d.name = "insurance_study")), false, false],
    ["name ending with '-'", room((d) => (d.name = "insurance-")), false, false],
    ["name of 21 characters", room((d) => (d.name = "a".repeat(21))), false, false],
    ["project of 5 characters", room((d) => (d.project = "acme1")), false, false],
    ["region with capitals", room((d) => (d.region = "US-central1")), false, false],
    ["empty residency", room((d) => (d.residency = [])), false, false],
    ["duplicate residency", room((d) => (d.residency = ["us-central1", "us-central1"])), false, false],
    ["ITA hardware literal", room((d) => (d.tee = { hardware: ["INTEL_TDX"] })), false, false],
    ["empty hardware", room((d) => (d.tee = { hardware: [] })), false, false],
    ["non-confidential machine type", room((d) => (d.tee = { machineType: "e2-standard-4" })), false, false],
    ["allowDebug as a string", room((d) => (d.tee = { allowDebug: "yes" })), false, false],
    ["http audience", room((d) => (d.verifier = { audience: "http://v.example.org" })), false, false],
    ["STS audience", room((d) => (d.verifier = { audience: "https://sts.googleapis.com" })), false, false],
    ["STS audience with a path", room((d) => (d.verifier = { audience: "https://sts.googleapis.com/v1/token" })), false, false],
    ["no datasets", room((d) => (d.datasets = {})), false, false],
    ["dataset name with capitals", room((d) => (d.datasets = { Insurance: d.datasets.insurance })), false, false],
    ["dataset name of 31 characters", room((d) => (d.datasets = { ["d".repeat(31)]: d.datasets.insurance })), false, false],
    ["retention of 0 days", room((d) => (d.datasets.insurance.retentionDays = 0)), false, false],
    ["retention of 3651 days", room((d) => (d.datasets.insurance.retentionDays = 3651)), false, false],
    ["fractional retention", room((d) => (d.datasets.insurance.retentionDays = 1.5)), false, false],
    ["epsilon 0", room((d) => (d.datasets.insurance.stage1.epsilon = 0)), false, false],
    ["missing epsilon", room((d) => delete d.datasets.insurance.stage1.epsilon), false, false],
    ["blank mechanism", room((d) => (d.datasets.insurance.stage1.mechanism = " ")), false, false],
    ["delta 1", room((d) => (d.datasets.insurance.stage1.delta = 1)), false, false],
    ["fraction on dp-synthetic", room((d) => (d.datasets.insurance.stage1.fraction = 0.5)), false, false],
    ["fraction 0", room((d) => (d.datasets.insurance.stage1 = { kind: "sample", fraction: 0 })), false, false],
    ["parameters on none", room((d) => (d.datasets.insurance.stage1 = { kind: "none", epsilon: 1 })), false, false],
    ["unknown kind", room((d) => (d.datasets.insurance.stage1 = { kind: "perturbed" })), false, false],
    ["unknown access", room((d) => (d.datasets.insurance.access = "public")), false, false],
    ["allUsers owner", room((d) => (d.datasets.insurance.owners = ["allUsers"])), false, false],
    ["allAuthenticatedUsers researcher", room((d) => (d.researchers = ["allAuthenticatedUsers"])), false, false],
    ["bare e-mail researcher", room((d) => (d.researchers = ["u@example.org"])), false, false],
    ["duplicate researchers", room((d) => (d.researchers = ["user:u@example.org", "user:u@example.org"])), false, false],
    ["uppercase digest", room((d) => (d.approvals[0].imageDigest = EXAMPLE_DIGEST_A.toUpperCase())), false, false],
    ["empty approval datasets", room((d) => (d.approvals[0].datasets = [])), false, false],
    ["duplicate approval datasets", room((d) => (d.approvals[0].datasets = ["insurance", "insurance"])), false, false],
    ["blank purpose", room((d) => (d.approvals[0].purpose = "")), false, false],
    ["approver not an e-mail", room((d) => (d.approvals[0].approvedBy = "owner")), false, false],
    ["expiry not ISO", room((d) => (d.approvals[0].expires = "31/01/2027")), false, false],
    ["backend without bucket", room((d) => (d.backend = { prefix: "x" })), false, false],
    ["backend prefix with a leading '/'", room((d) => (d.backend = { bucket: "acme-state", prefix: "/x" })), false, false],
    // The deployment sections (jupyterhub, cluster, database).
    ["google hub with every field", withHub((h) => {
      Object.assign(h, { exposure: "internal-load-balancer", storageCapacity: "50Gi", egress: "private-google-access" });
      h.authenticator.clientSecretKey = "client.secret_1";
    }), true, true],
    ["github hub with organizations", withHub((h) => {
      asGithub(h);
      h.authenticator.allowedOrganizations = ["acme", "acme:clean-room-team"];
    }), true, true],
    ["generic-oauth hub with a username claim", withHub((h) => {
      asGeneric(h);
      h.authenticator.usernameClaim = "email";
    }), true, true],
    ["dummy hub in a debug room", withHub(asDummy), true, true],
    ["port-forward callback", withHub((h) => (h.authenticator.callbackUrl = "http://localhost:8080/hub/oauth_callback")), true, true],
    ["cluster and database settings", networks(true, "203.0.113.0/24", "10.8.0.0/16"), true, true],
    ["deletion protection off", room((d) => Object.assign(d, { cluster: { deletionProtection: false }, database: { deletionProtection: false } })), true, true],
    ["unknown jupyterhub key", withHub((h) => (h.researchers = {})), false, false],
    ["hub without authenticator", withHub((h) => delete h.authenticator), false, false],
    ["unknown authenticator type", withHub((h) => (h.authenticator.type = "azure-ad")), false, false],
    ["field of another authenticator type", withHub((h) => (h.authenticator.allowedOrganizations = ["acme"])), false, false],
    ["google without hostedDomains", withHub((h) => delete h.authenticator.hostedDomains), false, false],
    ["google with empty hostedDomains", withHub((h) => (h.authenticator.hostedDomains = [])), false, false],
    ["blank client id", withHub((h) => (h.authenticator.clientId = " ")), false, false],
    ["Secret name with capitals", withHub((h) => (h.authenticator.clientSecret = "OAuth")), false, false],
    ["Secret name as the construct's map", withHub((h) => (h.authenticator.clientSecret = { secretName: "oauth" })), false, false],
    ["Secret key '..'", withHub((h) => (h.authenticator.clientSecretKey = "..")), false, false],
    ["plain-http callback to a remote host", withHub((h) => (h.authenticator.callbackUrl = "http://hub.example.org/hub/oauth_callback")), false, false],
    ["callback not at /hub/oauth_callback", withHub((h) => (h.authenticator.callbackUrl = "https://hub.example.org/callback")), false, false],
    ["generic-oauth over http", withHub((h) => {
      asGeneric(h);
      h.authenticator.tokenUrl = "http://sso.example.org/token";
    }), false, false],
    ["generic-oauth without userdataUrl", withHub((h) => {
      asGeneric(h);
      delete h.authenticator.userdataUrl;
    }), false, false],
    ["dummy acknowledged with false", withHub((h, d) => {
      asDummy(h, d);
      h.authenticator.acknowledgeInsecure = false;
    }), false, false],
    ["username with capitals", withHub((h) => (h.users["bob@example.org"] = "Bob")), false, false],
    ["username of 27 characters", withHub((h) => (h.users["bob@example.org"] = "b".repeat(27))), false, false],
    ["username ending with '-'", withHub((h) => (h.users["bob@example.org"] = "bob-")), false, false],
    ["duplicate admins", withHub((h) => (h.admins = ["alice", "alice"])), false, false],
    ["public exposure", withHub((h) => (h.exposure = "https")), false, false],
    ["storage in GB", withHub((h) => (h.storageCapacity = "20GB")), false, false],
    ["unknown egress", withHub((h) => (h.egress = "none")), false, false],
    ["authorized network with an octet over 255", networks(true, "203.0.113.256/32"), false, false],
    ["authorized network wider than /8", networks(true, "8.0.0.0/7"), false, false],
    ["IPv6 authorized network", networks(true, "2001:db8::/32"), false, false],
    ["authorized network without a name", room((d) => (d.cluster = { authorizedNetworks: [{ cidr: "10.8.0.0/16" }] })), false, false],
    ["unknown cluster key", room((d) => (d.cluster = { authorisedNetworks: [] })), false, false],
    ["deletionProtection as a string", room((d) => (d.cluster = { deletionProtection: "false" })), false, false],
    ["unknown database key", room((d) => (d.database = { tier: "db-custom-2-7680" })), false, false],
    ["VPC-SC perimeter with access levels", room((d) => (d.vpcServiceControls = { accessPolicy: "123456789012", accessLevels: ["deployers", "ci_runners"] })), true, true],
    ["VPC-SC without accessPolicy", room((d) => (d.vpcServiceControls = { accessLevels: [] })), false, false],
    ["VPC-SC accessPolicy as a number", room((d) => (d.vpcServiceControls = { accessPolicy: 123456789012 })), false, false],
    ["VPC-SC accessPolicy as a resource name", room((d) => (d.vpcServiceControls = { accessPolicy: "accessPolicies/1" })), false, false],
    ["VPC-SC access level as a full name", room((d) => (d.vpcServiceControls = { accessPolicy: "1", accessLevels: ["accessPolicies/1/accessLevels/x"] })), false, false],
    ["VPC-SC duplicate access levels", room((d) => (d.vpcServiceControls = { accessPolicy: "1", accessLevels: ["x", "x"] })), false, false],
    ["unknown VPC-SC key", room((d) => (d.vpcServiceControls = { accessPolicy: "1", perimeter: "p" })), false, false],
    // Rules only the loader can check (cross-field or beyond a pattern): the schema accepts these.
    // Consortium rooms: the operator at the root, the data with the parties.
    ["consortium with an inline party and a party file", consortium(), true, true],
    ["consortium with an empty root datasets map", consortium((d) => (d.datasets = {})), true, true],
    ["consortium with a signed party", consortium((d) => Object.assign(d.parties.a, SIGNED)), true, true],
    ["consortium with root datasets", consortium((d) => (d.datasets = { insurance: { stage1: { kind: "none" } } })), false, false],
    ["consortium with root approvals", consortium((d) => (d.approvals = [{ imageDigest: EXAMPLE_DIGEST_A, datasets: ["scans"], purpose: "p", approvedBy: "o@example.org" }])), false, false],
    ["empty parties", consortium((d) => (d.parties = {})), false, false],
    ["party name of 13 characters", consortium((d) => (d.parties = { ["p".repeat(13)]: d.parties.a })), false, false],
    ["party name with capitals", consortium((d) => (d.parties = { Hospital: d.parties.a })), false, false],
    ["party without project", consortium((d) => delete d.parties.a.project), false, false],
    ["party without datasets", consortium((d) => delete d.parties.a.datasets), false, false],
    ["unknown party key", consortium((d) => (d.parties.a.owners = [])), false, false],
    ["file with another key", consortium((d) => (d.parties.b.project = "hospital-b-room")), false, false],
    ["empty file path", consortium((d) => (d.parties.b.file = "")), false, false],
    ["approvalsKey without signature", consortium((d) => (d.parties.a.approvalsKey = SIGNED.approvalsKey)), false, false],
    ["signature without approvalsKey", consortium((d) => (d.parties.a.approvalsSignature = SIGNED.approvalsSignature)), false, false],
    ["RSA approvalsKey", consortium((d) => Object.assign(d.parties.a, SIGNED, { approvalsKey: { jwk: { ...SIGNED.approvalsKey.jwk, kty: "RSA" } } })), false, false],
    ["short jwk coordinate", consortium((d) => Object.assign(d.parties.a, SIGNED, { approvalsKey: { jwk: { ...SIGNED.approvalsKey.jwk, x: "abc" } } })), false, false],
    ["LOADER ONLY: coordinates off the P-256 curve", consortium((d) => Object.assign(d.parties.a, SIGNED, { approvalsKey: { jwk: { ...SIGNED.approvalsKey.jwk, y: "A".repeat(43) } } })), true, false],
    ["LOADER ONLY: signature that is not a JWS (after the loader read its file)", consortium((d) => Object.assign(d.parties.a, SIGNED, { approvalsSignature: "not-a-jws" })), true, false],
    ["LOADER ONLY: party project equal to the operator's", consortium((d) => (d.parties.a.project = d.project)), true, false],
    ["LOADER ONLY: a dataset name in two parties", consortium((d) => (d.parties.c = { project: "hospital-c-room", datasets: { scans: { stage1: { kind: "none" } } } })), true, false],
    ["LOADER ONLY: an approval naming another party's dataset", consortium((d) => {
      d.parties.c = { project: "hospital-c-room", datasets: { labs: { stage1: { kind: "none" } } } };
      d.parties.a.approvals[0].datasets = ["labs"];
    }), true, false],
    ["LOADER ONLY: zone outside region", room((d) => (d.zone = "us-east1-b")), true, false],
    ["LOADER ONLY: region outside residency", room((d) => (d.residency = ["europe-west4"])), true, false],
    ["LOADER ONLY: c3 machine without TDX", room((d) => (d.tee = { hardware: ["GCP_AMD_SEV"], machineType: "c3-standard-8" })), true, false],
    ["LOADER ONLY: n2d machine without an AMD model", room((d) => (d.tee = { machineType: "n2d-standard-4" })), true, false],
    ["LOADER ONLY: approval names an undeclared dataset", room((d) => (d.approvals[0].datasets = ["claims"])), true, false],
    ["LOADER ONLY: expiry not in the calendar", room((d) => (d.approvals[0].expires = "2027-02-30")), true, false],
    ["LOADER ONLY: audience over 512 bytes but not 512 characters", room((d) => (d.verifier = { audience: `https://v.example.org/${"é".repeat(250)}` })), true, false],
    ["LOADER ONLY: audience that is not a URL", room((d) => (d.verifier = { audience: "https://exa mple.org" })), true, false],
    ["LOADER ONLY: dummy hub in a production room", withHub((h, d) => {
      asDummy(h, d);
      d.tee.allowDebug = false;
    }), true, false],
    ["LOADER ONLY: dummy hub behind an internal load balancer", withHub((h, d) => {
      asDummy(h, d);
      h.exposure = "internal-load-balancer";
    }), true, false],
    ["LOADER ONLY: google user outside the hosted domains", withHub((h) => (h.users["eve@gmail.com"] = "eve")), true, false],
    ["LOADER ONLY: github user written as an e-mail", withHub((h) => {
      asGithub(h);
      h.users["carol@example.org"] = "carol";
    }), true, false],
    ["LOADER ONLY: identities equal once lower-cased", withHub((h) => (h.users["ALICE@example.org"] = "alice2")), true, false],
    ["LOADER ONLY: two identities, one username", withHub((h) => (h.users["bob@example.org"] = "alice")), true, false],
    ["LOADER ONLY: admin who is not a user", withHub((h) => (h.admins = ["carol"])), true, false],
    ["LOADER ONLY: OAuth hub that nobody can sign in to", withHub((h) => Object.assign(h, { users: {}, admins: [] })), true, false],
    ["LOADER ONLY: generic-oauth URL that does not parse", withHub((h) => {
      asGeneric(h);
      h.authenticator.userdataUrl = "https://sso.example.org:99999/userinfo";
    }), true, false],
    ["LOADER ONLY: authorized network with host bits set", networks(true, "203.0.113.1/24"), true, false],
    ["LOADER ONLY: public range without the public endpoint", networks(false, "203.0.113.0/24"), true, false],
    ["LOADER ONLY: public endpoint with only private ranges", networks(true, "10.8.0.0/16"), true, false],
    ["LOADER ONLY: public endpoint with no networks", room((d) => (d.cluster = { publicEndpoint: true })), true, false],
    ["LOADER ONLY: one block under two names", room((d) => (d.cluster = { authorizedNetworks: [{ cidr: "10.8.0.0/16", name: "a" }, { cidr: "10.8.0.0/16", name: "b" }] })), true, false],
  ];

  test.each(table)("%s: schema %p, loader %p", (_case, doc, schemaOk, loaderOk) => {
    expect(schemaAccepts(doc)).toBe(schemaOk);
    expect(loaderAccepts(doc)).toBe(loaderOk);
  });
});
