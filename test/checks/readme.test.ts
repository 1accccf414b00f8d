/** The rule table in lib/checks/README.md is what platform teams read: it must match the pack. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CLEAN_ROOM_RULES } from "../../lib/checks/pack";

const readme = readFileSync(join(__dirname, "../../lib/checks/README.md"), "utf8");
const rows = new Map(
  [...readme.matchAll(/^\| `(MCR-[A-Z0-9]+)` \| ([a-z' ]+) \|/gm)].map((m) => [m[1], m[2]] as const),
);

test("given the README rule table, then it lists every rule of the pack with its level, and nothing else", () => {
  expect(Object.fromEntries([...rows].filter(([id]) => id !== "MCR-VALIDATION"))).toEqual(
    Object.fromEntries(CLEAN_ROOM_RULES.map((r) => [r.id, r.level])),
  );
});

test("given the pack, then rule ids are unique and follow MCR-<AREA><n>", () => {
  const ids = CLEAN_ROOM_RULES.map((r) => r.id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) expect(id).toMatch(/^MCR-[A-Z]{3}\d+$/);
});
