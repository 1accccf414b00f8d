/**
 * The access report's diagram: who reaches which data, as a Mermaid flowchart.
 * Node ids are built from a fixed prefix and `[A-Za-z0-9_]` only, so no policy text can
 * end a statement, open a new node or hit a Mermaid keyword; labels are always quoted
 * and every character that means something to Mermaid or HTML is written as an entity.
 */
import { outputReleaseNames, shortHash } from "../policy/names";
import { AccessModel, shortDigests } from "./access-model";

/** Characters allowed verbatim inside a quoted label; everything else becomes `#<code>;`. */
const LABEL_SAFE = /[\p{L}\p{N} .,:/@+=_()'…-]/u;

/** A quoted Mermaid label. */
export function mermaidLabel(value: string): string {
  let out = "";
  for (const ch of value.replace(/[\r\n\u2028\u2029]+/g, " ")) {
    out += LABEL_SAFE.test(ch) ? ch : `#${ch.codePointAt(0)};`;
  }
  return `"${out}"`;
}

/** Gives every raw key a distinct, Mermaid-safe id with the given prefix. */
class NodeIds {
  private readonly byKey = new Map<string, string>();
  private readonly used = new Set<string>();

  /** `raw` identifies the node; `hint` (default `raw`) only shapes the readable id. */
  id(prefix: string, raw: string, hint = raw): string {
    const key = `${prefix}\u0000${raw}`;
    const known = this.byKey.get(key);
    if (known) return known;
    let id = `${prefix}_${hint.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_+|_+$/g, "")}`.slice(0, 48);
    if (this.used.has(id)) id = `${id}_${shortHash(raw, 8)}`;
    this.byKey.set(key, id);
    this.used.add(id);
    return id;
  }
}

type Arrow = "-->" | "-.->";

/** The diagram of `model` as a ```mermaid block body (without the fences). */
export function accessDiagram(model: AccessModel): string {
  const ids = new NodeIds();
  const lines: string[] = ["flowchart LR"];
  const node = (id: string, label: string, indent = "  ") => lines.push(`${indent}${id}[${mermaidLabel(label)}]`);
  const edges: string[] = [];
  const edge = (from: string, to: string, label?: string, arrow: Arrow = "-->") =>
    edges.push(label ? `  ${from} ${arrow}|${mermaidLabel(label)}| ${to}` : `  ${from} ${arrow} ${to}`);

  const { policy } = model;
  const researchers = ids.id("stage1", "researchers");
  const jupyter = ids.id("stage1", "jupyterlab");
  lines.push(`  subgraph ${ids.id("sg", "stage1")}[${mermaidLabel("Stage 1: programming (JupyterHub)")}]`);
  node(
    researchers,
    policy.researchers.length > 0 ? `Researchers: ${policy.researchers.join(", ")}` : "Researchers: none declared",
    "    ",
  );
  node(jupyter, `JupyterLab pods: ${model.identities.jupyterServiceAccount}`, "    ");
  lines.push("  end");
  edge(researchers, jupyter, "work in");

  const images = new Map<string, string>();
  const short = shortDigests(policy.approvals.map((a) => a.imageDigest));
  lines.push(`  subgraph ${ids.id("sg", "stage2")}[${mermaidLabel("Stage 2: attested execution (Confidential Space)")}]`);
  for (const approval of policy.approvals) {
    if (images.has(approval.imageDigest)) continue;
    const id = ids.id("img", approval.imageDigest, approval.imageDigest.replace(/^sha256:/, "").slice(0, 12));
    images.set(approval.imageDigest, id);
    node(id, `approved image ${short.get(approval.imageDigest)}`, "    ");
  }
  if (images.size === 0) node(ids.id("img", "none"), "no approved images", "    ");
  // Per-job approvals: one node per dataset's job pool, whose group holds that dataset's grants only.
  const jobNodes = new Map<string, string>();
  for (const access of model.datasets) {
    const pool = access.jobApproval.pool;
    if (!pool) continue;
    const id = ids.id("jobs", access.dataset.name);
    jobNodes.set(access.dataset.name, id);
    node(id, `jobs approved for ${access.dataset.name}: pool ${pool.poolId}, group job-approved`, "    ");
  }
  lines.push("  end");

  for (const access of model.datasets) {
    const name = access.dataset.name;
    const s1 = ids.id("s1", name);
    const s2 = ids.id("s2", name);
    const key = ids.id("key", name);
    lines.push(`  subgraph ${ids.id("ds", name)}[${mermaidLabel(`dataset ${name}`)}]`);
    node(s1, `stage-1 bucket ${access.buckets.stage1.name}`, "    ");
    node(key, `dataset key ${access.key.keyRing}/${access.key.name}`, "    ");
    node(s2, `stage-2 bucket ${access.buckets.stage2.name}`, "    ");
    // Impersonation: one node per reader (several when the images fill more than one allow policy).
    const readerEmails = access.readerServiceAccounts ?? (access.readerServiceAccount ? [access.readerServiceAccount] : []);
    const readers = new Map(
      readerEmails.map((email, i) => [email, i === 0 ? ids.id("reader", name) : ids.id("reader", `${name}\u0000${i + 1}`, `${name}_${i + 1}`)]),
    );
    for (const [email, id] of readers) node(id, `reader ${email}`, "    ");
    const jobs = jobNodes.get(name);
    const approver = jobs ? ids.id("approver", name) : undefined;
    if (approver) {
      node(approver, `approver key ${access.jobApproval.approverKey.keyRing}/${access.jobApproval.approverKey.name}`, "    ");
    }
    lines.push("  end");

    edge(researchers, s1, "read");
    edge(jupyter, s1, "read");
    edge(key, s2, "unwraps data keys of");
    if (access.dataset.owners.length > 0) {
      const owners = ids.id("dataowners", name);
      node(owners, `data owners of ${name}: ${access.dataset.owners.join(", ")}`);
      edge(owners, s1, "upload", "-.->");
      edge(owners, s2, "upload", "-.->");
      edge(owners, key, "encrypt only", "-.->");
      if (approver) edge(owners, approver, "sign approvals", "-.->");
    }
    if (jobs && approver) {
      edge(approver, jobs, "signature required by");
      const firstReader = readers.get(readerEmails[0]);
      if (firstReader) {
        edge(jobs, firstReader, "impersonate");
      } else {
        edge(jobs, key, "decrypt");
        edge(jobs, s2, "read");
      }
    }
    for (const principal of access.stage2Principals) {
      const image = images.get(principal.imageDigest);
      if (!image) continue;
      const until = principal.until ? ` until ${principal.until}` : "";
      const expired = principal.expired ? " (expired)" : "";
      const reader = readers.get(principal.readerServiceAccount ?? readerEmails[0]);
      if (reader) {
        edge(image, reader, `impersonate${until}${expired}`);
      } else {
        edge(image, key, `decrypt${until}${expired}`);
        edge(image, s2, `read${until}${expired}`);
      }
    }
    for (const reader of readers.values()) {
      edge(reader, key, "decrypt");
      edge(reader, s2, "read");
    }
  }

  const verifier = ids.id("verifier", "release");
  const receipts = ids.id("receipts", "release");
  node(verifier, `attestation verifier, audience ${policy.verifier.audience}`);
  node(receipts, "signed release receipts (verify offline)");
  const quarantine = ids.id("quarantine", "release");
  node(quarantine, `quarantine bucket ${outputReleaseNames(policy).quarantineBucket}`);
  edge(quarantine, verifier, "output hash in release token");
  edge(verifier, receipts, "allow: signs");
  return [...lines, ...edges].join("\n");
}
