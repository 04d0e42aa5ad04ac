// Whether a new policy can be written into the running BPF objects (a data
// swap) or needs new objects: one decision for acgd (enforce-bpf.ts,
// shapeChange) and for `acgc diff`/`apply --dry-run` (policy-diff.ts). Kept
// apart from policy-diff.ts, which loads policy files and so the front end:
// acgd imports this at start and must not load the parser with it.

import { capacityProblems } from "../compiler/abi-encode.js";
import { codeFeatures, type CodeFeatures } from "../compiler/emit-c.js";
import { classifierMatchersDiffer } from "../compiler/emit-classifier.js";
import type { PolicyIR } from "../compiler/ir.js";

/**
 * Why `next` cannot be written into objects built for `runningPolicy`, with
 * `running` code features (its manifest's, where there is one), or null.
 */
export function objectSwapReason(running: CodeFeatures, runningPolicy: PolicyIR, next: PolicyIR): string | null {
  const problems = capacityProblems(next);
  if (problems.length) return problems.join("; ");
  const features = codeFeatures(next);
  if (JSON.stringify(features) !== JSON.stringify(running))
    return `its code features differ (${JSON.stringify(features)} vs ${JSON.stringify(running)})`;
  return classifierMatchersDiffer(runningPolicy, next) ? "its exe/path matchers differ (the exec classifier is generated from them)" : null;
}
