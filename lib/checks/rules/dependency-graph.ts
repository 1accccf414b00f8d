/**
 * MCR-DEP1: the first `terraform apply` on a new project succeeds only if Terraform creates
 * things in the order Google needs them. On the stack's dependency graph (`depends_on` and
 * `${…}` references, transitively):
 *
 * - each resource and data source reaches the `google_project_service` of every API its type
 *   calls, when the stack enables that API (a stack that enables none, like the workloads stack,
 *   relies on its stack dependency);
 * - each IAM resource naming a GKE Workload Identity member reaches the stack's cluster;
 * - no IAM resource names a resource of the stack by a literal (member, target, role or policy):
 *   a literal carries no edge. Exception: the pool id inside a `principalSet://` member, which
 *   the other guardrails read to tell a dataset's job pool, provided the grant reaches that pool.
 */
import { apiServicesFor, GKE_WORKLOAD_IDENTITY_MEMBER, isIamType } from "../../internal/api-services";
import { DependencyGraph, literalNamings, managedIdentifiers, ResourceIdentifier } from "../../internal/dependency-graph";
import { Rule, RuleResult } from "../model";
import { ResourceIndex, TfResource } from "../../analysis/resource-index";

function graphOf(index: ResourceIndex): DependencyGraph {
  return index.cached("MCR-DEP1:graph", () => new DependencyGraph([...index.resources, ...index.dataSources]));
}

/** Enabled API → its `google_project_service` addresses in this stack. */
function servicesOf(index: ResourceIndex): Map<string, string[]> {
  return index.cached("MCR-DEP1:services", () => {
    const out = new Map<string, string[]>();
    for (const r of index.ofType("google_project_service")) {
      const name = r.config.service;
      if (typeof name === "string" && !name.includes("${")) out.set(name, [...(out.get(name) ?? []), r.address]);
    }
    return out;
  });
}

function identifiersOf(index: ResourceIndex): ResourceIdentifier[] {
  return index.cached("MCR-DEP1:identifiers", () => managedIdentifiers(index.resources));
}

export const dependencyGraph: Rule = {
  id: "MCR-DEP1",
  level: "error",
  title: "Resources wait for their Google APIs, GKE identities for the cluster, IAM names resources by reference",
  resourceTypes: () => true,
  dataSources: true,
  check(resource, index) {
    if (resource.type === "google_project_service") return [];
    const graph = graphOf(index);
    const out: RuleResult[] = [];

    const needs = apiServicesFor(resource.type);
    const enabled = servicesOf(index);
    if (needs === undefined) {
      if (resource.type.startsWith("google_")) {
        out.push({
          level: "warning",
          message: `Cannot tell which Google API ${resource.type} needs, so the order of the first apply is not checked. Add the type to lib/internal/api-services.ts.`,
        });
      }
    } else if (enabled.size > 0) {
      for (const service of needs) {
        const providers = enabled.get(service);
        if (!providers) {
          out.push({
            level: "warning",
            message: `${resource.type} calls ${service}, which this stack does not enable: the first apply fails unless it is already on. Add it to CleanRoomApis (additionalServices).`,
          });
        } else if (!providers.some((p) => graph.reaches(resource.address, p))) {
          out.push({
            message: `${resource.type} calls ${service} but does not wait for ${providers[0]}: on a new project the first apply fails with "API not enabled". Add it to depends_on (CleanRoomApis adds it for the types in lib/internal/api-services.ts).`,
          });
        }
      }
    }

    if (resource.mode === "resource" && isIamType(resource.type)) {
      out.push(...gkeMembers(resource, index, graph), ...literals(resource, index, graph));
    }
    return out;
  },
};

function gkeMembers(resource: TfResource, index: ResourceIndex, graph: DependencyGraph): RuleResult[] {
  const { member, members, policy_data: policy } = resource.config;
  if (!GKE_WORKLOAD_IDENTITY_MEMBER.test(JSON.stringify({ member, members, policy }))) return [];
  const clusters = index.ofType("google_container_cluster");
  if (clusters.length === 0 || clusters.some((c) => graph.reaches(resource.address, c.address))) return [];
  return [
    {
      message: `Names a GKE Workload Identity member (…svc.id.goog[ns/ksa]) but does not wait for ${clusters[0].address}: Google rejects the member until the cluster has created the workload pool. Add the cluster to depends_on.`,
    },
  ];
}

function literals(resource: TfResource, index: ResourceIndex, graph: DependencyGraph): RuleResult[] {
  const out: RuleResult[] = [];
  const seen = new Set<string>();
  for (const n of literalNamings(resource, identifiersOf(index))) {
    if (n.target.field === "workload_identity_pool_id" && isPoolSegment(n.literal, n.target.value) && graph.reaches(resource.address, n.target.address)) continue;
    const key = `${n.field}:${n.target.address}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      message: `${n.field} names ${n.target.address} by the literal "${n.target.value}" (its ${n.target.field}), so nothing orders the grant after it. Use a reference, e.g. \${${n.target.address}.${referenceAttribute(n.target)}}.`,
    });
  }
  return out;
}

function isPoolSegment(literal: string, poolId: string): boolean {
  return literal.startsWith("principalSet://") && literal.includes(`/workloadIdentityPools/${poolId}/`);
}

function referenceAttribute(id: ResourceIdentifier): string {
  return id.field === "email" ? "email (or .member)" : id.field;
}
