/** The room file's `verifier.requireNonce`: validated, and carried into the verifier document. */
import { compileVerifierPolicy } from "../../lib/policy/document";
import { parsePolicy } from "../../lib/policy/load";
import { PolicyError } from "../../lib/policy/validate";

const room = (verifier: string) => `name: insurance-study
project: acme-clean-room
region: us-central1
zone: us-central1-a
verifier:
  audience: https://verifier.acme-clean-room.example.org/release
${verifier}datasets:
  insurance:
    stage1: { kind: sample, fraction: 0.1 }
`;

describe("given the room file's verifier.requireNonce", () => {
  test("when it is absent, then the verifier document requires a nonce", () => {
    expect(compileVerifierPolicy(parsePolicy(room(""), "room.yaml")).document.requireNonce).toBe(true);
  });

  test("when a test room sets it to false, then the document says false (and so hashes differently)", () => {
    const strict = compileVerifierPolicy(parsePolicy(room(""), "room.yaml"));
    const relaxed = compileVerifierPolicy(parsePolicy(room("  requireNonce: false\n"), "room.yaml"));
    expect(relaxed.document.requireNonce).toBe(false);
    expect(relaxed.sha256).not.toBe(strict.sha256);
  });

  test("when it is not a boolean, then loading fails naming the field and the values it takes", () => {
    expect(() => parsePolicy(room('  requireNonce: "no"\n'), "room.yaml")).toThrow(PolicyError);
    expect(() => parsePolicy(room('  requireNonce: "no"\n'), "room.yaml")).toThrow(
      /verifier\.requireNonce: expected true or false \(false only for test rooms: a receipt without a nonce binds no output\)/,
    );
  });
});
