/**
 * A document delivered as a resource attribute (the job service's config, the verifier's policy
 * object): Terraform template syntax in it escaped, and resolved without cdktf's escape scan.
 * cdktf looks for `${` escapes by scanning from every `}` of a string to its end: quadratic in the
 * braces of a JSON document, which made a 1 MB config cost seconds on each of the three
 * resolutions of a synth. The text's references (cdktf's `${TfToken[…]}`) still resolve.
 */
import { IResolvable, IResolveContext, Token } from "cdktf";

class LiteralText implements IResolvable {
  public readonly creationStack: string[] = [];
  constructor(private readonly text: string) {}

  resolve(context: IResolveContext): string {
    // This token's own context: what cdktf's function calls set for their arguments.
    (context as { ignoreEscapes?: boolean }).ignoreEscapes = true;
    return this.text;
  }

  toString(): string {
    return Token.asString(this);
  }
}

/** `text` as Terraform must receive it literally: `${`/`%{` escaped as `$${`/`%%{`, references kept live. */
export function terraformText(text: string): string {
  return Token.asString(new LiteralText(text.replace(/\$\{(?!TfToken\[)/g, () => "$${").replace(/%\{/g, () => "%%{")));
}
