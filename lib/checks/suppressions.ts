/**
 * Suppressions per construct, with a mandatory reason (cdk-nag v2 style). A suppressed
 * finding is not an error but is never silent: it is reported as info and recorded in
 * the resource's `//` block of cdk.tf.json, where reviewers and `manatee check` see it.
 */
import { Aspects, IAspect, TerraformDataSource, TerraformElement, TerraformResource } from "cdktf";
import { IConstruct } from "constructs";
import { CleanRoomSuppression } from "./model";
import { SUPPRESSIBLE_IDS } from "./pack";
import { MIN_REASON_LENGTH, SUPPRESSIONS_OVERRIDE_PATH, suppressesResource } from "./suppressions-record";
import { InvalidPropsError } from "../errors";

const METADATA_TYPE = "manatee:suppressions";

export interface SuppressionOptions {
  /**
   * Also suppress on every resource under the construct (e.g. all resources of an L2
   * construct, or of a whole stack), including ones added later.
   * @default false
   */
  readonly applyToChildren?: boolean;
}

interface Entry {
  readonly suppressions: readonly CleanRoomSuppression[];
  readonly applyToChildren: boolean;
}

/** Writes the effective suppressions into each resource's JSON at synthesis. */
class SuppressionRecorder implements IAspect {
  visit(node: IConstruct): void {
    if (isRecordable(node)) recordSuppressions(node);
  }
}
const RECORDER = new SuppressionRecorder();

export class CleanRoomSuppressions {
  /**
   * Suppress findings of the given rules on `construct` (and, with `applyToChildren`,
   * on every resource under it), or, with `resource`, on that one resource only. Throws
   * when a reason is shorter than 10 characters, a rule id is unknown, or `resource` can
   * match nothing here.
   */
  static add(construct: IConstruct, suppressions: readonly CleanRoomSuppression[], options: SuppressionOptions = {}): void {
    const applyToChildren = options.applyToChildren ?? false;
    for (const s of suppressions) {
      if (!SUPPRESSIBLE_IDS.includes(s.id)) {
        throw new InvalidPropsError(`Cannot suppress unknown rule "${s.id}" on ${construct.node.path}: use one of ${SUPPRESSIBLE_IDS.join(", ")}.`);
      }
      const length = typeof s.reason === "string" ? s.reason.trim().length : 0;
      if (length < MIN_REASON_LENGTH) {
        throw new InvalidPropsError(
          `Suppression of ${s.id} on ${construct.node.path} needs a reason of at least ${MIN_REASON_LENGTH} characters (got ${length}): ` +
            `say why the finding does not apply here.`,
        );
      }
      if (s.resource !== undefined) checkResource(construct, s, applyToChildren);
    }
    if (!applyToChildren && !isRecordable(construct)) {
      throw new InvalidPropsError(
        `${construct.node.path} is not a Terraform resource, so a suppression on it alone matches no finding. ` +
          `Pass { applyToChildren: true } to suppress on the resources under it, or suppress on the resource itself.`,
      );
    }
    const entry: Entry = {
      suppressions: suppressions.map((s) => ({ id: s.id, reason: s.reason.trim(), ...(s.resource !== undefined ? { resource: s.resource.trim() } : {}) })),
      applyToChildren,
    };
    construct.node.addMetadata(METADATA_TYPE, entry);
    if (applyToChildren) {
      if (!Aspects.of(construct).all.includes(RECORDER)) Aspects.of(construct).add(RECORDER);
      construct.node.findAll().forEach((c) => isRecordable(c) && recordSuppressions(c));
    } else if (isRecordable(construct)) {
      recordSuppressions(construct);
    }
  }

  /** The suppressions in effect on `construct`: its own, and its ancestors' that apply to children. */
  static of(construct: IConstruct): CleanRoomSuppression[] {
    const out: CleanRoomSuppression[] = [];
    // Nearest scope first: a resource's own reason wins over an inherited one.
    for (const scope of [...construct.node.scopes].reverse()) {
      for (const m of scope.node.metadata) {
        if (m.type !== METADATA_TYPE) continue;
        const e = m.data as Entry;
        if (scope === construct || e.applyToChildren) {
          for (const s of e.suppressions) if (!out.some((o) => o.id === s.id && o.resource === s.resource)) out.push(s);
        }
      }
    }
    return out;
  }
}

/** Resources and data sources carry a `//` block in cdk.tf.json; other elements do not. */
function isRecordable(node: IConstruct): node is TerraformElement {
  return TerraformResource.isTerraformResource(node) || TerraformDataSource.isTerraformDataSource(node);
}

/**
 * A suppression's `resource` must be able to match: on a lone resource it names that
 * resource; with `applyToChildren` a construct path lies under the construct (a Terraform
 * address can only be told once the resources exist: a typo there suppresses nothing).
 */
function checkResource(construct: IConstruct, s: CleanRoomSuppression, applyToChildren: boolean): void {
  const resource = typeof s.resource === "string" ? s.resource.trim() : "";
  const path = construct.node.path;
  const fail = (why: string) => {
    throw new InvalidPropsError(`Suppression of ${s.id} on ${path} names resource ${JSON.stringify(s.resource)}, ${why}`, {
      constructPath: path,
      property: "resource",
      fix: "Name the Terraform address or construct path of one resource under the construct, or omit resource.",
    });
  };
  if (resource === "") fail("which is empty.");
  if (!applyToChildren && isRecordable(construct) && resource !== path && resource !== addressOf(construct)) {
    fail(`but the suppression is on ${path} alone (${addressOf(construct)}): it would match nothing.`);
  }
  if (applyToChildren && resource.includes("/") && resource !== path && !resource.startsWith(`${path}/`)) {
    fail(`which is not under ${path}: it would match nothing.`);
  }
}

/** The Terraform address of a resource or data source, as findings name it. */
function addressOf(element: TerraformElement): string {
  const type = (element as TerraformResource).terraformResourceType;
  return `${TerraformDataSource.isTerraformDataSource(element) ? "data." : ""}${type}.${element.friendlyUniqueId}`;
}

/** Write the suppressions in effect on a resource into its `//` block (idempotent): those naming another resource are left out. */
export function recordSuppressions(element: TerraformElement): void {
  const here = { address: addressOf(element), path: element.node.path };
  const list = CleanRoomSuppressions.of(element).filter((s) => suppressesResource(s, here));
  if (list.length > 0) {
    element.addOverride(
      SUPPRESSIONS_OVERRIDE_PATH,
      list.map((s) => ({ id: s.id, reason: s.reason, ...(s.resource !== undefined ? { resource: s.resource } : {}) })),
    );
  }
}
