// The exec classifier's reference semantics, which the generated code must
// keep: each exe/path pattern matched on its own (compiler/decide.ts globMatch,
// the kernel's former glob) and each rule's postfix matcher evaluated in
// Kleene logic (kleeneEval); the first TRUE rule decides, an UNKNOWN before it
// leaves the exec to user space (ACG_NONE).
import { CAPACITY } from "../../compiler/abi.js";
import type { ExePatternIR, KernelOp, PolicyIR } from "../../compiler/ir.js";
import { ACG_NONE, globMatch, kleeneEval, KopCode, Tri } from "../../compiler/decide.js";

const OPS: Record<KernelOp["op"], number> = {
  true: KopCode.true,
  unknown: KopCode.unknown,
  pattern: KopCode.pattern,
  and: KopCode.and,
  or: KopCode.or,
  not: KopCode.not,
};

/** The rule the kernel must pick for an exec of `path`, or ACG_NONE. */
export function referenceVerdict(ir: PolicyIR, path: string): number {
  const full = Buffer.from(path);
  const base = Buffer.from(path.slice(path.lastIndexOf("/") + 1));
  const hit = (p: ExePatternIR) =>
    globMatch(Buffer.from(p.text), p.subject === "exe" ? base : full, p.kind === "exact", CAPACITY.patternLen, CAPACITY.pathLen);
  for (const r of ir.rules) {
    const ops = r.kernelMatch.map((o) => OPS[o.op]);
    const hits = r.kernelMatch.map((o) => o.op === "pattern" && hit(ir.exePatterns[o.index]!));
    const v = kleeneEval(ops, hits);
    if (v === Tri.true) return r.id;
    if (v === Tri.unknown) return ACG_NONE;
  }
  return ACG_NONE;
}
