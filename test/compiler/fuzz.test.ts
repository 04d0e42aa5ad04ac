// Random and mutated policies must never make the front end throw or hang.

import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { readdirSync, readFileSync } from "node:fs";
import { loadPolicyText } from "../../compiler/frontend.js";
import { format } from "../../compiler/fmt.js";
import { lowerPolicy } from "../../compiler/lower.js";
import { hugeShapes } from "./huge-shapes.js";

const seeds = readdirSync("policies").map((f) => readFileSync(`policies/${f}`, "utf8"));
const TOKENS = [
  "{",
  "}",
  "[",
  "]",
  "(",
  ")",
  ";",
  ",",
  "=",
  "==",
  "~",
  "..",
  "and",
  "or",
  "not",
  "in",
  "match",
  "class",
  "tool",
  "default",
  "when",
  "agent",
  "tenant",
  "intent",
  "<=",
  ">",
  "512MiB",
  "-1GiB",
  "20ms",
  "40%",
  '"git"',
  "/x+/",
  "/(/",
  "memory.burst",
  "for",
  "refill",
  "over_high",
  "throttle",
  "kill",
  "\u0000",
  "\u00e9",
  "\n",
  "//",
  "/*",
  '"',
];

/** Each run must finish well under this; a hang fails the test by timeout. */
function frontEndSurvives(text: string) {
  const r = loadPolicyText("fuzz.acg", text);
  expect(Array.isArray(r.diagnostics)).toBe(true);
  for (const d of r.diagnostics) {
    expect(d.code).toMatch(/^[EWN]\d{4}$/);
    if (d.span) expect(d.span.start).toBeLessThanOrEqual(text.length + 1);
  }
  if (r.ok && r.checked) lowerPolicy(r.checked);
  if (r.ast && r.file && !r.diagnostics.some((d) => /^E0(0|1)/.test(d.code))) {
    const once = format(r.ast, r.file.text);
    const again = loadPolicyText("fuzz.acg", once);
    expect(format(again.ast!, again.file!.text)).toBe(once);
    // fmt never turns a file check accepts into one it refuses.
    if (r.ok) expect(again.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  }
}

describe("front end fuzzing", () => {
  it("survives arbitrary strings", () => {
    fc.assert(fc.property(fc.string({ maxLength: 400, unit: "binary" }), frontEndSurvives), { numRuns: 400 });
  });

  it("survives token soup", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 120 }), (toks) => frontEndSurvives("version 1\n" + toks.join(" "))),
      { numRuns: 400 },
    );
  });

  it("survives mutated shipped policies", () => {
    const mutation = fc.record({
      seed: fc.nat({ max: seeds.length - 1 }),
      edits: fc.array(
        fc.record({ at: fc.nat(), del: fc.nat({ max: 8 }), insert: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 4 })) }),
        { minLength: 1, maxLength: 6 },
      ),
    });
    fc.assert(
      fc.property(mutation, ({ seed, edits }) => {
        let text = seeds[seed]!;
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          text = text.slice(0, at) + e.insert + text.slice(at + e.del);
        }
        frontEndSurvives(text);
      }),
      { numRuns: 600 },
    );
  });

  it("checks the largest shapes under the size cap without a stack overflow or a hang", () => {
    for (const text of hugeShapes()) frontEndSurvives(text);
  }, 120_000);
});
