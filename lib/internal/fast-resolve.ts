/**
 * cdktf's resolution of a resource body, with the token-free parts skipped instead of scanned.
 *
 * cdktf walks every value of every resource on each of a synth's resolutions and runs three
 * regular expressions over every string, token or not (and splits every hex digest, which its
 * number-token pattern matches). In a large room almost every string is plain, so that walk is
 * most of the synth. `resolveTerraform` returns what `Tokenization.resolve` returns: any value
 * that is, holds or might hold a token (a string with a token marker or a number token's `e+`;
 * any number; an `IResolvable`; a key that is not plain) is handed to cdktf whole, with the
 * same options; plain strings, booleans, arrays and objects around them are walked here.
 * test/fast-resolve.test.ts holds it equal to cdktf's on every shipped room and on each kind of token.
 */
import { Construct, IConstruct } from "constructs";
import { DefaultTokenResolver, IResolveContext, StringConcat, Tokenization } from "cdktf";

const RESOLVER = new DefaultTokenResolver(new StringConcat());
/** cdktf's string-token encoding (cdktf/lib/tokens/private/encoding.js). */
export const STRING_TOKEN = /\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}/;
const SINGLE_TOKEN = new RegExp(`^${STRING_TOKEN.source}$`);

/**
 * For a token whose value is already resolved (a document, a policy's bindings): hands `value` to
 * cdktf through the resolution's post-processor and returns nothing. cdktf recurses into what a
 * token's `resolve` returns, scanning every string again; it does not rescan a post-processor's result.
 */
export function handBackResolved(context: IResolveContext, value: unknown): undefined {
  context.registerPostProcessor({ postProcess: () => value });
  return undefined;
}

/**
 * A string cdktf would return unchanged: no token marker (`${TfToken[`, `#{…`, `&{…`) and no number
 * token (a double printed as `-1.88…e+289`). A Terraform expression (`${google_x.y.id}`) is plain:
 * without a token inside it, cdktf's escape handling splits it and joins the same text back.
 */
export const isPlainText = (s: string): boolean => !s.includes("TfToken[") && !s.includes("e+");

export function resolveTerraform(scope: IConstruct, value: unknown, preparing = false): unknown {
  const cdktf = (v: unknown) => Tokenization.resolve(v, { scope, preparing, resolver: RESOLVER });
  const walk = (v: unknown): unknown => {
    if (v === undefined || v === null || typeof v === "boolean") return v;
    if (typeof v === "string") {
      if (isPlainText(v)) return v;
      // The commonest token string, one reference and nothing else: cdktf would split it, resolve
      // the token in the string's context (the same as its own) and join the one fragment back.
      const single = SINGLE_TOKEN.test(v) ? Tokenization.reverseString(v).firstToken : undefined;
      if (!single) return cdktf(v);
      const resolved = cdktf(single);
      return typeof resolved === "string" && !isPlainText(resolved) ? cdktf(resolved) : resolved;
    }
    if (typeof v !== "object" || v instanceof Date || Tokenization.isResolvable(v) || Construct.isConstruct(v)) return cdktf(v);
    if (Array.isArray(v)) {
      // A list token (`#{TfToken[`) or a number (a number-list token) makes the array cdktf's; else it
      // resolves element by element, as cdktf does.
      if (v.some((x) => typeof x === "number" || (typeof x === "string" && x.includes("#{TfToken[")))) return cdktf(v);
      return v.map(walk).filter((x) => x !== undefined);
    }
    const keys = Object.keys(v);
    if (!keys.every(isPlainText)) return cdktf(v);
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const resolved = walk((v as Record<string, unknown>)[key]);
      if (resolved !== undefined) out[key] = resolved;
    }
    return out;
  };
  return walk(value);
}
