// Whether a new policy can be written into the running BPF objects (a data
// swap) or needs new objects: one decision for acgd (enforce-bpf.ts,
// shapeChange) and for `acgc diff`/`apply --dry-run` (policy-diff.ts). Kept
// apart from policy-diff.ts, which loads policy files and so the front end:
// acgd imports this at start and must not load the parser with it.

import { capacityProblems } from "../compiler/abi-encode.js";
import { codeFeatures, type CodeFeatures } from "../compiler/emit-c.js";
import { emitClassifierCode } from "../compiler/emit-classifier.js";
import type { PolicyIR } from "../compiler/ir.js";

/** Why `next` cannot be written into objects built with `running` code features, or null (acgd's shapeChange). */
export function objectSwapReason(running: CodeFeatures, runningClassifier: string, next: PolicyIR): string | null {
  const problems = capacityProblems(next);
  if (problems.length) return problems.join("; ");
  const features = codeFeatures(next);
  if (JSON.stringify(features) !== JSON.stringify(running))
    return `its code features differ (${JSON.stringify(features)} vs ${JSON.stringify(running)})`;
  return emitClassifierCode(next).text !== runningClassifier
    ? "its exe/path matchers differ (the exec classifier is generated from them)"
    : null;
}
