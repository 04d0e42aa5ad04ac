// acgc fmt: canonical layout, idempotent, meaning-preserving, comments kept.

import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { loadPolicyText } from "../../compiler/frontend.js";
import { format, stripSpans } from "../../compiler/fmt.js";
import { run } from "./cli-harness.js";

const sources = [
  ...readdirSync("policies")
    .filter((f) => f.endsWith(".acg"))
    .map((f) => join("policies", f)),
  ...readdirSync("test/compiler/diagnostics")
    .filter((f) => f.endsWith(".acg"))
    .map((f) => join("test/compiler/diagnostics", f)),
];

function fmtText(path: string, text: string): string | undefined {
  const r = loadPolicyText(path, text);
  if (!r.ast || !r.file || r.diagnostics.some((d) => /^E0(0|1)/.test(d.code))) return undefined;
  return format(r.ast, r.file.text);
}

describe("fmt round trip", () => {
  for (const path of sources) {
    const text = readFileSync(path, "utf8");
    const once = fmtText(path, text);
    if (once === undefined) continue; // syntax errors: fmt refuses, tested below
    it(path, () => {
      const twice = fmtText(path, once);
      expect(twice).toBe(once);
      const before = loadPolicyText(path, text).ast!;
      const after = loadPolicyText(path, once).ast!;
      expect(stripSpans(after)).toEqual(stripSpans(before));
      const comments = (s: string) => loadPolicyText(path, s).ast!.comments.map((c) => c.text.trim());
      expect(comments(once)).toEqual(comments(text));
    });
  }

  it("shipped policies are already canonical", async () => {
    const r = await run(["fmt", "--check", ...sources.filter((s) => s.startsWith("policies/"))]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
  });

  it("rewrites a messy file in place and --check then passes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "acgc-fmt-"));
    const p = join(dir, "messy.acg");
    writeFileSync(p, `version 1   // v\npolicy  m{host{memory=8GiB}\nclass c{}   tool default{class c;memory.baseline=1GiB} // last\n}`);
    expect((await run(["fmt", "--check", p])).code).toBe(1);
    expect((await run(["fmt", p])).code).toBe(0);
    expect(readFileSync(p, "utf8")).toBe(
      "version 1 // v\n\npolicy m {\n  host { memory = 8GiB }\n\n  class c {}\n\n" +
        "  tool default { class c; memory.baseline = 1GiB } // last\n}\n",
    );
    expect((await run(["fmt", "--check", p])).code).toBe(0);
  });

  it("refuses to format a file with syntax errors and leaves it untouched", async () => {
    const dir = mkdtempSync(join(tmpdir(), "acgc-fmt-"));
    const p = join(dir, "broken.acg");
    copyFileSync("test/compiler/diagnostics/missing-closing-brace.acg", p);
    const before = readFileSync(p, "utf8");
    const r = await run(["fmt", p]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("not formatted: fix the errors above first");
    expect(readFileSync(p, "utf8")).toBe(before);
  });
});
