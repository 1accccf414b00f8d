import { CleanRoomPolicy } from "../../lib/policy/model";
import { dataPlaneNames } from "../../lib/policy/names";
import { buildAccessModel, shortDigest } from "../../lib/report/access-model";
import { renderAccessReport } from "../../lib/report/access-report";
import { accessDiagram, mermaidLabel } from "../../lib/report/mermaid";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B, examplePolicy } from "../util";
import { MermaidGraph, fencedBlock, parseMermaid } from "./md";

/** The id of the node whose label is exactly `label`. */
function nodeByLabel(graph: MermaidGraph, label: string): string {
  const found = [...graph.nodes].filter(([, l]) => l === label);
  if (found.length !== 1) throw new Error(`expected one node labelled ${label}, found ${found.length}`);
  return found[0][0];
}

function targets(graph: MermaidGraph, from: string): string[] {
  return graph.edges.filter((e) => e.from === from).map((e) => e.to);
}

describe("the access diagram of the example clean room", () => {
  let policy: CleanRoomPolicy;
  let graph: MermaidGraph;

  beforeAll(() => {
    policy = examplePolicy();
    graph = parseMermaid(fencedBlock(renderAccessReport(policy, { now: "2026-06-01T00:00:00Z" }), "mermaid"));
  });

  test("is a left-to-right flowchart that parses: balanced subgraphs, safe unique ids, declared edge endpoints", () => {
    expect(graph.direction).toBe("LR");
    for (const id of [...graph.nodes.keys(), ...graph.subgraphs.keys()]) expect(id).toMatch(/^[a-z][a-z0-9_]*$/i);
    expect(graph.edges.length).toBeGreaterThan(0);
  });

  test("has one node per dataset bucket and key, named as dataPlaneNames gives", () => {
    const names = dataPlaneNames(policy);
    for (const d of policy.datasets) {
      nodeByLabel(graph, `stage-1 bucket ${names.datasetBucket(d.name, "stage1")}`);
      nodeByLabel(graph, `stage-2 bucket ${names.datasetBucket(d.name, "stage2")}`);
      nodeByLabel(graph, `dataset key ${names.datasetKeyRing}/${names.datasetKey(d.name)}`);
    }
    expect([...graph.nodes.values()].filter((l) => /^(stage-1|stage-2|outputs) bucket /.test(l))).toHaveLength(4);
  });

  test("has one node per approved image digest, in short form", () => {
    const images = [...graph.nodes.values()].filter((l) => l.startsWith("approved image "));
    expect(images).toEqual(["approved image sha256:1580f84f…", "approved image sha256:67682bda…"]);
    expect(shortDigest(EXAMPLE_DIGEST_A)).toBe("sha256:1580f84f…");
  });

  test("researchers reach stage-1 buckets only", () => {
    const researchers = [...graph.nodes].find(([, l]) => l.startsWith("Researchers: "))![0];
    const reached = targets(graph, researchers).map((id) => graph.nodes.get(id)!);
    expect(reached.filter((l) => l.startsWith("stage-1 bucket "))).toHaveLength(2);
    expect(reached.filter((l) => /^(stage-2|outputs) bucket |^dataset key /.test(l))).toEqual([]);
  });

  test("approved images reach keys and stage-2 data only of the datasets they are approved for", () => {
    const a = nodeByLabel(graph, `approved image ${shortDigest(EXAMPLE_DIGEST_A)}`);
    const b = nodeByLabel(graph, `approved image ${shortDigest(EXAMPLE_DIGEST_B)}`);
    const label = (id: string) => graph.nodes.get(id)!;
    expect(targets(graph, a).map(label).every((l) => l.includes("insurance") && !l.includes("claims"))).toBe(true);
    expect(targets(graph, a).map(label)).toContain("dataset key insurance-study-datasets/insurance");
    // claims is impersonation mode: B reaches its reader, the reader reaches key and stage-2 data.
    const reader = nodeByLabel(graph, "reader insurance-study-claims-rd@acme-clean-room.iam.gserviceaccount.com");
    expect(targets(graph, b)).toContain(reader);
    expect(targets(graph, reader).map(label)).toEqual([
      "dataset key insurance-study-datasets/claims",
      "stage-2 bucket acme-clean-room-insurance-study-claims-s2",
    ]);
    const key = nodeByLabel(graph, "dataset key insurance-study-datasets/claims");
    expect(targets(graph, key).map(label)).toEqual(["stage-2 bucket acme-clean-room-insurance-study-claims-s2"]);
  });

  test("TEE outputs lead to the verifier, the verifier to receipts", () => {
    const verifier = [...graph.nodes].find(([, l]) => l.startsWith("attestation verifier"))![0];
    const receipts = [...graph.nodes].find(([, l]) => l.startsWith("signed release receipts"))![0];
    const intoVerifier = graph.edges.filter((e) => e.to === verifier).map((e) => graph.nodes.get(e.from));
    expect(intoVerifier).toEqual(["quarantine bucket acme-clean-room-insurance-study-quarantine"]);
    expect(targets(graph, verifier)).toEqual([receipts]);
  });
});

describe("Mermaid safety", () => {
  test("a label with quotes, brackets, HTML and statement separators stays one quoted label", () => {
    expect(mermaidLabel('a"]; click x "javascript:alert(1)" <b>#')).toBe(
      '"a#34;#93;#59; click x #34;javascript:alert(1)#34; #60;b#62;#35;"',
    );
  });

  test("given hostile principals and dataset names that collide when sanitised, the diagram still parses with distinct nodes", () => {
    const policy = examplePolicy({
      datasets: {
        "a-b": { stage1: { kind: "none" } },
        a_b: { stage1: { kind: "none" } },
        end: { stage1: { kind: "none" } },
      },
      approvals: [
        { imageDigest: EXAMPLE_DIGEST_A, datasets: ["a-b", "a_b", "end"], purpose: "p", approvedBy: "o@example.org" },
        // Same first 12 hex digits as A: the ids must still differ.
        {
          imageDigest: `${EXAMPLE_DIGEST_A.slice(0, 19)}${"0".repeat(52)}`,
          datasets: ["end"],
          purpose: "p",
          approvedBy: "o@example.org",
        },
      ],
      researchers: ['user:x"]; subgraph evil["pwned'],
    });
    const graph = parseMermaid(accessDiagram(buildAccessModel(policy)));
    expect([...graph.nodes.values()].filter((l) => l.startsWith("stage-1 bucket "))).toHaveLength(3);
    expect([...graph.nodes.values()].filter((l) => l.startsWith("approved image "))).toEqual([
      "approved image sha256:1580f84f1585dbec…",
      "approved image sha256:1580f84f15850000…",
    ]);
    expect(graph.subgraphs.has("evil")).toBe(false);
    expect([...graph.nodes.values()].find((l) => l.startsWith("Researchers: "))).toBe(
      "Researchers: user:x#34;#93;#59; subgraph evil#91;#34;pwned",
    );
  });
});
