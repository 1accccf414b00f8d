/** The README is the contract clients and auditors read: it must name every code and setting. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ENV_VARS } from "../src/config";
import { REASONS, REQUEST_ERRORS } from "../src/reasons";

const readme = readFileSync(join(__dirname, "..", "README.md"), "utf8");

describe("given the verifier's README", () => {
  it.each(Object.keys(REASONS))("then the reason code table lists %s", (code) => {
    expect(readme).toMatch(new RegExp(`^\\| \`${code}\` \\|`, "m"));
  });

  it.each(Object.entries(REQUEST_ERRORS).filter(([code]) => code !== "internal_error"))(
    "then the error table lists %s with status %i",
    (code, status) => {
      expect(readme).toMatch(new RegExp(`^\\| \`${code}\` \\| ${status} \\|`, "m"));
    }
  );

  it.each(Object.keys(ENV_VARS))("then the configuration table documents %s", (name) => {
    expect(readme).toContain(`\`${name}\``);
  });
});
