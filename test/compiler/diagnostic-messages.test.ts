// The table of diagnostics (compiler/diagnostic-messages.ts) against what uses it:
// the documentation is generated from it and current, every message is reported
// somewhere, and no code is written anywhere else.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CODES, M } from "../../compiler/diagnostic-messages.js";
import { diagnostic } from "../../compiler/diagnostics.js";
import { DIAGNOSTICS_DOC, withCodeTable } from "../../scripts/diagnostics-doc.js";
import { REPO } from "../runtime/helpers.js";

function sources(dir: string): string[] {
  return readdirSync(join(REPO, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

const TABLE_FILE = "compiler/diagnostic-messages.ts";
const users = [...sources("compiler"), ...sources("runtime"), ...sources("traces")]
  .filter((f) => f !== TABLE_FILE)
  .map((f) => ({ file: f, text: readFileSync(join(REPO, f), "utf8") }));

describe("the diagnostics table", () => {
  it("has well-formed codes whose letter agrees with their severity", () => {
    const letter = { error: "E", warning: "W", note: "N" };
    for (const c of CODES) expect(c.code, c.code).toMatch(new RegExp(`^${letter[c.severity]}\\d{4}$`));
    expect(new Set(CODES.map((c) => c.code)).size).toBe(CODES.length);
  });

  it(`is what ${DIAGNOSTICS_DOC} shows (regenerate with scripts/update-diagnostics.sh)`, () => {
    const doc = readFileSync(join(REPO, DIAGNOSTICS_DOC), "utf8");
    expect(doc).toBe(withCodeTable(doc));
  });

  it("has no message that nothing reports", () => {
    const unused = Object.keys(M).filter((key) => !users.some((u) => new RegExp(`\\bM\\.${key}\\b`).test(u.text)));
    expect(unused).toEqual([]);
  });

  it("has every code there is: no source outside it writes one", () => {
    const inline = users.flatMap((u) => [...u.text.matchAll(/["'`][EWN]\d{4}["'`]/g)].map((m) => `${u.file}: ${m[0]}`));
    expect(inline).toEqual([]);
  });

  it("renders a report: placeholders filled, the chosen help or none, the note at its location", () => {
    const span = { start: 0, end: 1 };
    const d = diagnostic(M.UnknownClass, span, { name: "biuld", help: "didYouMean", hint: "build" });
    expect(d).toEqual({ severity: "error", code: "E0305", message: "unknown class 'biuld'", span, help: "did you mean 'build'?" });
    expect(diagnostic(M.StringExpected, span, { found: "a number" })).not.toHaveProperty("help");
    // A literal `{ ... }` of the language is not a placeholder.
    expect(diagnostic(M.NoHostBlock, span).help).toBe(
      "add `host { memory = 64GiB; reserve = 4GiB }`: the checker needs the host's memory to check the budget",
    );
    expect(diagnostic(M.SettingTwice, span, { key: "cpu.weight" }, { start: 5, end: 6 }).note).toEqual({
      message: "first set here",
      span: { start: 5, end: 6 },
    });
  });
});
