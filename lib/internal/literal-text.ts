/**
 * A document delivered as a resource attribute (the job service's config, the verifier's policy
 * object): Terraform template syntax in it escaped, its references resolved, and nothing rescanned.
 *
 * cdktf resolves a string attribute in two scans that are quadratic in a large document: escapes
 * (`${`), found from every `}` to the string's end, and number tokens, whose pattern matches any
 * `<digits>e<digits>` run (every hex digest has several). The second splits a 1 MB config into
 * ~17,000 fragments that cdktf then joins pairwise with `splice(0, …)`: about a second per
 * resolution in a large room, and a synth resolves it seven times. Here both scans are done once,
 * linearly, and the finished text is handed back through a post-processor, which cdktf does not
 * rescan.
 */
import { IResolvable, IResolveContext, Token, Tokenization } from "cdktf";
import { handBackResolved, STRING_TOKEN } from "./fast-resolve";

const STRING_REFERENCE = new RegExp(STRING_TOKEN.source, "g");
/** cdktf's number-token pattern (cdktf/lib/tokens/private/encoding.js). */
const NUMBER_CANDIDATE = /[-|\d|.+]+(e[-|\d|.|e|E|+]+)/g;

type Part = string | IResolvable;

function split(text: string, pattern: RegExp, tokenOf: (match: string) => IResolvable | undefined): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const token = tokenOf(match[0]);
    if (!token) continue;
    parts.push(text.slice(last, match.index), token);
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

const join = (parts: Part[], context: IResolveContext): string =>
  parts.map((part) => (typeof part === "string" ? part : String(context.resolve(part)))).join("");

class LiteralText implements IResolvable {
  public readonly creationStack: string[] = [];
  private references?: Part[];
  constructor(private readonly text: string) {}

  resolve(context: IResolveContext): undefined {
    // This token's own context: what cdktf's function calls set for their arguments.
    (context as { ignoreEscapes?: boolean }).ignoreEscapes = true;
    this.references ??= split(this.text, STRING_REFERENCE, (m) => Tokenization.reverseString(m).firstToken);
    const withReferences = join(this.references, context);
    const text = join(
      split(withReferences, NUMBER_CANDIDATE, (m) => Tokenization.reverseNumber(parseFloat(m))),
      context,
    );
    return handBackResolved(context, text);
  }

  toString(): string {
    return Token.asString(this);
  }
}

/**
 * `text` as Terraform must receive it literally: `${`/`%{` escaped as `$${`/`%%{`, references
 * kept live. The value is the token itself, typed as the string attribute it is assigned to:
 * cdktf resolves a token in an attribute without rescanning its result. Used inside a larger
 * string it becomes an ordinary string token (correct, and as slow as any large string).
 */
export function terraformText(text: string): string {
  return new LiteralText(text.replace(/\$\{(?!TfToken\[)/g, () => "$${").replace(/%\{/g, () => "%%{")) as unknown as string;
}
