// The generated exec classifier's logic (compiler/emit-classifier.ts) against
// the reference semantics it replaces: each exe/path pattern matched on its
// own (compiler/decide.ts globMatch, the kernel's old glob) and each rule's
// postfix matcher evaluated in Kleene logic (kleeneEval); the first TRUE rule
// decides, an UNKNOWN before it leaves the exec to user space. The DFAs and
// the must/may folding must give the same verdict on every name. The C built
// from them is run on the host kernel in test/runtime/classifier-decisions.test.ts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DFA_MAX_CELLS, emitClassifierCode, ruleTri, runDfa, subjectDfa, type Dfa } from "../../compiler/emit-classifier.js";
import { loadPolicyText } from "../../compiler/frontend.js";
import type { PolicyIR } from "../../compiler/ir.js";
import { lowerPolicy } from "../../compiler/lower.js";
import { ACG_NONE } from "../../compiler/decide.js";
import { referenceVerdict } from "./classifier-reference.js";
import { generatePolicies } from "../kernel/gen-policy.js";

const REPO = join(import.meta.dirname, "..", "..");

function irOf(name: string, text: string): PolicyIR {
  const front = loadPolicyText(name, text);
  if (!front.checked) throw new Error(`${name}: ${front.diagnostics.map((d) => d.message).join("; ")}`);
  return lowerPolicy(front.checked);
}

type Bool = ReturnType<typeof ruleTri>["must"];
function evalBool(b: Bool, hits: bigint): boolean {
  switch (b.k) {
    case "const":
      return b.v;
    case "hit":
      return ((hits >> BigInt(b.index)) & 1n) === 1n;
    case "not":
      return !evalBool(b.x, hits);
    case "and":
      return b.xs.every((x) => evalBool(x, hits));
    case "or":
      return b.xs.some((x) => evalBool(x, hits));
  }
}

/** What the generated C computes, step for step: DFA hits, then the rule functions in order. */
function generatedVerdict(ir: PolicyIR, dfas: { exe: Dfa | null; path: Dfa | null }, path: string): number {
  const full = Buffer.from(path);
  const base = Buffer.from(path.slice(path.lastIndexOf("/") + 1));
  const hits = (dfas.exe ? runDfa(dfas.exe, base) : 0n) | (dfas.path ? runDfa(dfas.path, full) : 0n);
  const inKernel = new Set([...(dfas.exe?.patterns ?? []), ...(dfas.path?.patterns ?? [])]);
  for (const r of ir.rules) {
    const tri = ruleTri(r.kernelMatch, (i) => inKernel.has(i));
    if (evalBool(tri.must, hits)) return r.id;
    if (evalBool(tri.may, hits)) return ACG_NONE;
  }
  return ACG_NONE;
}

function dfasOf(ir: PolicyIR) {
  return {
    exe: subjectDfa(ir.exePatterns.filter((p) => p.subject === "exe")).dfa,
    path: subjectDfa(ir.exePatterns.filter((p) => p.subject === "path")).dfa,
  };
}

/** Names that hit, nearly hit and miss each pattern: the text itself, its wildcards filled, cut and grown. */
function namesFor(ir: PolicyIR, fill: string[]): string[] {
  const names = new Set<string>(["/bin/true", "/usr/bin/python3", "x"]);
  for (const p of ir.exePatterns) {
    for (const f of fill) {
      const filled = p.kind === "glob" ? p.text.replace(/\*/g, f).replace(/\?/g, f.slice(0, 1) || "q") : p.text;
      const variants = [filled, filled.slice(0, -1), `${filled}x`, `x${filled}`];
      for (const v of variants)
        names.add(p.subject === "exe" ? `/usr/local/bin/${v.replace(/\//g, "_")}` : v.startsWith("/") ? v : `/${v}`);
    }
  }
  return [...names];
}

describe("generated exec classifier logic", () => {
  const shipped = ["minimal", "multi-tenant", "swe-agents"].map((n) => irOf(n, readFileSync(join(REPO, "policies", `${n}.acg`), "utf8")));

  it("decides the shipped policies' rules as the Kleene reference does", () => {
    for (const ir of shipped) {
      const dfas = dfasOf(ir);
      for (const name of namesFor(ir, ["", "a", "grep", "/x/"])) {
        expect(generatedVerdict(ir, dfas, name), `${ir.name}: ${name}`).toBe(referenceVerdict(ir, name));
      }
    }
    const swe = shipped[2]!;
    // `tests` also matches on argv: before it, only its exe names are decided in the kernel.
    expect(referenceVerdict(swe, "/usr/bin/make")).toBe(ACG_NONE);
    expect(referenceVerdict(swe, "/usr/bin/pytest")).toBe(swe.rules.findIndex((r) => r.name === "tests"));
    expect(referenceVerdict(swe, "/usr/bin/python3")).toBe(ACG_NONE);
  });

  it("decides random policies' rules as the Kleene reference does, on random and pattern-derived names", () => {
    const seed = Number(process.env.ACG_FUZZ_SEED ?? Date.now() % 100000);
    for (const { name, text } of generatePolicies(40, seed)) {
      const ir = irOf(name, text);
      const dfas = dfasOf(ir);
      const randomNames = fc.sample(fc.string({ unit: fc.constantFrom("a", "b", "c", "/", "-", ".", "x", "*", "?"), maxLength: 24 }), {
        numRuns: 40,
        seed,
      });
      for (const n of [...namesFor(ir, ["", "ab", "/"]), ...randomNames.map((r) => `/${r}`)]) {
        expect(generatedVerdict(ir, dfas, n), `seed ${seed} ${name}: ${n}`).toBe(referenceVerdict(ir, n));
      }
    }
  });

  it("leaves to user space the patterns that would grow a DFA past its bound, and says so", () => {
    // Each `*a*q*` glob doubles the subset states; eight of them overflow DFA_MAX_CELLS.
    const globs = Array.from({ length: 8 }, (_, i) => `*${"abcdefgh"[i]}*${"qrstuvwx"[i]}*`);
    const { dfa, userSpace } = subjectDfa(globs.map((text, index) => ({ index, subject: "exe", kind: "glob", text })));
    expect(dfa).not.toBeNull();
    expect(userSpace.length).toBeGreaterThan(0);
    expect(userSpace).toEqual([6, 7]);
    expect(dfa!.next.length * dfa!.classes).toBeLessThanOrEqual(DFA_MAX_CELLS);
  });

  it("emits one function per rule, named after it, and no number a data-only edit changes", () => {
    const code = emitClassifierCode(shipped[2]!).text;
    for (const r of shipped[2]!.rules) expect(code).toContain(`acg_rule_${r.name}(u64 hits)`);
    expect(code).toContain('ACG_HIT(hits, 9) /* exe == "make" */');
    expect(code).not.toMatch(/\b(512|1024|4096|60000|400)\b/);
  });
});
