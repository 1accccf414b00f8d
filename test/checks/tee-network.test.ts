/**
 * MCR-NET1 (no way from a TEE to the internet) on the synthesized platform stack of the example
 * room: the room as synthesized passes, with and without the policy, and each tampered copy (a NAT
 * that serves the TEE subnet, an external IP on the template, the template moved to the NAT-served
 * GKE subnet, an egress rule beyond the Google API VIPs, the deny-all egress rule removed, a route
 * to an appliance) is refused.
 */
import { Finding } from "../../lib/checks/model";
import { SynthJson, examplePolicy, resources } from "../util";
import { checksOn, examplePlatform } from "./harness";

const policy = examplePolicy();
const NOW = new Date("2026-06-01T00:00:00Z");
const NET1 = "MCR-NET1";

let pristine: SynthJson;
beforeAll(() => {
  pristine = examplePlatform(policy);
});

const copy = (): any => structuredClone(pristine);
const run = checksOn(policy, NOW);
const net1 = (findings: Finding[], level: Finding["level"] = "error") => findings.filter((f) => f.ruleId === NET1 && f.level === level);

const one = (json: any, type: string, pick: (c: any) => boolean = () => true): [string, any] => {
  const found = resources(json, type).filter(([, c]) => pick(c));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
};
const subnetId = (json: any, name: string) => one(json, "google_compute_subnetwork", (s) => s.name === name)[0];
const GKE_SUBNET = "dcr-insurance-study-subnetwork";
const TEE_SUBNET = "dcr-insurance-study-tee-subnetwork";
const nat = (json: any) => one(json, "google_compute_router_nat")[1];
const template = (json: any) => one(json, "google_compute_instance_template")[1];
const firewall = (json: any, name: string) => one(json, "google_compute_firewall", (r) => r.name === name)[1];

describe("MCR-NET1 on the example room", () => {
  test("given the room as synthesized, then the TEE template is on the TEE subnet, NAT serves the GKE subnet only, and MCR-NET1 reports nothing, with or without the policy", () => {
    expect(template(pristine).network_interface[0].subnetwork).toBe(`\${google_compute_subnetwork.${subnetId(pristine, TEE_SUBNET)}.self_link}`);
    expect(nat(pristine).subnetwork).toEqual([{ name: `\${google_compute_subnetwork.${subnetId(pristine, GKE_SUBNET)}.id}`, source_ip_ranges_to_nat: ["ALL_IP_RANGES"] }]);
    for (const withPolicy of [true, false]) {
      expect(run(pristine, withPolicy).filter((f) => f.ruleId === NET1)).toEqual([]);
    }
  });

  test.each(["ALL_SUBNETWORKS_ALL_IP_RANGES", "ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES"])("given the NAT set to %s, then it serves the TEE subnet and is refused", (mode) => {
    const json = copy();
    const n = nat(json);
    n.source_subnetwork_ip_ranges_to_nat = mode;
    delete n.subnetwork;
    for (const withPolicy of [true, false]) {
      const [finding, ...rest] = net1(run(json, withPolicy));
      expect(rest).toEqual([]);
      expect(finding.address).toMatch(/^google_compute_router_nat\./);
      expect(finding.message).toContain(`source_subnetwork_ip_ranges_to_nat = ${mode}`);
      expect(finding.message).toContain("Use LIST_OF_SUBNETWORKS and name the GKE subnet only.");
    }
  });

  test("given the TEE subnet added to the NAT's list, by reference or by its literal name, then it is refused", () => {
    const byRef = copy();
    nat(byRef).subnetwork.push({ name: `\${google_compute_subnetwork.${subnetId(byRef, TEE_SUBNET)}.id}`, source_ip_ranges_to_nat: ["ALL_IP_RANGES"] });
    const [ref] = net1(run(byRef, false));
    expect(ref.message).toMatch(/^The Cloud NAT serves the TEE subnet google_compute_subnetwork\.\S+ \(used by google_compute_instance_template\.\S+\): a TEE could reach the internet/);

    const byName = copy();
    nat(byName).subnetwork.push({ name: `projects/acme-clean-room/regions/us-central1/subnetworks/${TEE_SUBNET}`, source_ip_ranges_to_nat: ["ALL_IP_RANGES"] });
    const [literal] = net1(run(byName));
    expect(literal.message).toContain(`The Cloud NAT serves the TEE subnet ${TEE_SUBNET}`);
  });

  test("given the template moved to the GKE subnet, then the NAT that serves that subnet now serves TEEs and is refused", () => {
    const json = copy();
    template(json).network_interface[0].subnetwork = `\${google_compute_subnetwork.${subnetId(json, GKE_SUBNET)}.self_link}`;
    const findings = net1(run(json, false));
    expect(findings.map((f) => f.address)).toEqual([expect.stringMatching(/^google_compute_router_nat\./)]);
    expect(findings[0].message).toContain(`The Cloud NAT serves the TEE subnet google_compute_subnetwork.${subnetId(json, GKE_SUBNET)}`);
  });

  test("given an access config (external IPv4) or an IPv6 access config on the template, then it is refused", () => {
    for (const [field, what] of [["access_config", "an external IPv4 address"], ["ipv6_access_config", "an external IPv6 address"]]) {
      const json = copy();
      template(json).network_interface[0][field] = [{ network_tier: "PREMIUM" }];
      const [finding, ...rest] = net1(run(json));
      expect(rest).toEqual([]);
      expect(finding.address).toMatch(/^google_compute_instance_template\./);
      expect(finding.message).toBe(
        `network_interface[0] has an ${field}: the TEE gets ${what} and can reach the internet directly, around the verifier's release. ` +
          `Remove the ${field}; TEEs reach Google APIs through Private Google Access.`,
      );
    }
  });

  test("given the TEE egress rule widened to the internet, then it is refused; to the restricted VIP, then it passes", () => {
    const json = copy();
    firewall(json, "dcr-insurance-study-allow-tees-egress").destination_ranges = ["199.36.153.8/30", "0.0.0.0/0"];
    const [finding] = net1(run(json));
    expect(finding.message).toContain("The rule allows TEEs (tag tee-instance) egress to 0.0.0.0/0: beyond the Google API VIPs");

    const restricted = copy();
    firewall(restricted, "dcr-insurance-study-allow-tees-egress").destination_ranges = ["199.36.153.4/30"];
    expect(net1(run(restricted))).toEqual([]);
  });

  test("given an added egress allow rule for every instance (no targets) or for the TEE service account, then TEEs are covered and it is refused", () => {
    const network = one(pristine, "google_compute_network")[0];
    const json = copy();
    json.resource.google_compute_firewall.tampered_all = {
      name: "allow-all-egress", network: `\${google_compute_network.${network}.id}`, direction: "EGRESS", priority: 900,
      destination_ranges: ["10.0.0.0/8"], allow: [{ protocol: "tcp", ports: ["3306"] }],
    };
    json.resource.google_compute_firewall.tampered_sa = {
      name: "allow-sa-egress", network: `\${google_compute_network.${network}.id}`, direction: "EGRESS", priority: 900,
      destination_ranges: ["0.0.0.0/0"], target_service_accounts: ["dcr-insurance-study-cvm-sa@acme-clean-room.iam.gserviceaccount.com"], allow: [{ protocol: "all" }],
    };
    const findings = net1(run(json));
    expect(findings.map((f) => f.address).sort()).toEqual(["google_compute_firewall.tampered_all", "google_compute_firewall.tampered_sa"]);
    expect(findings.find((f) => f.address.endsWith("tampered_all"))!.message).toContain("allows every instance, TEEs included egress to 10.0.0.0/8");
  });

  test("given the deny-all egress rule removed, then the TEE network is refused (the implied rule allows all egress)", () => {
    const json = copy();
    const [id] = one(json, "google_compute_firewall", (r) => r.name === "dcr-insurance-study-deny-all-egress");
    delete json.resource.google_compute_firewall[id];
    const [finding, ...rest] = net1(run(json));
    expect(rest).toEqual([]);
    expect(finding.address).toMatch(/^google_compute_network\./);
    expect(finding.message).toContain("no firewall rule denies all egress for them");
  });

  test("given a route for public addresses through an appliance that applies to TEEs, then it is refused; scoped to node tags, it passes", () => {
    const network = one(pristine, "google_compute_network")[0];
    const route = (tags?: string[]) => ({ name: "via-proxy", network: `\${google_compute_network.${network}.id}`, dest_range: "0.0.0.0/0", next_hop_ip: "10.0.0.99", priority: 100, ...(tags ? { tags } : {}) });
    const json = copy();
    json.resource.google_compute_route = { tampered: route() };
    const [finding] = net1(run(json));
    expect(finding.address).toBe("google_compute_route.tampered");
    expect(finding.message).toContain('The route sends TEE traffic for 0.0.0.0/0 to ip "10.0.0.99"');

    const scoped = copy();
    scoped.resource.google_compute_route = { tampered: route(["dcr-insurance-study-gke-node"]) };
    expect(net1(run(scoped))).toEqual([]);
  });
});
