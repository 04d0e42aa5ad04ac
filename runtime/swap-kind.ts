// How a new policy reaches the running BPF objects: written into their maps
// (a data swap), with a new exec classifier program beside the running
// scheduler (a classifier swap), or with new objects altogether. One decision
// for acgd (enforce-bpf.ts) and for `acgc diff`/`apply --dry-run`
// (policy-diff.ts). Kept apart from policy-diff.ts, which loads policy files
// and so the front end: acgd imports this at start and must not load the
// parser with it.

import { capacityProblems } from "../compiler/abi-encode.js";
import { codeFeatures, type CodeFeatures } from "../compiler/emit-c.js";
import { classifierMatchersDiffer } from "../compiler/emit-classifier.js";
import type { PolicyIR } from "../compiler/ir.js";

/**
 * - `data`: the policy's numbers are written into the running maps;
 * - `classifier`: the scheduler's code fits, only the exec classifier (generated
 *   from the exe/path matchers) is new: its program replaces the running one
 *   (attached before the old one is detached) and the data is written;
 * - `objects`: new objects replace the running ones (a short time without a
 *   scheduler).
 */
export type SwapKind = { kind: "data" } | { kind: "classifier" | "objects"; reason: string };

/**
 * How `next` reaches objects built for `runningPolicy`, with `running` code
 * features (its manifest's, where there is one).
 */
export function swapKind(running: CodeFeatures, runningPolicy: PolicyIR, next: PolicyIR): SwapKind {
  const problems = capacityProblems(next);
  if (problems.length) return { kind: "objects", reason: problems.join("; ") };
  const features = codeFeatures(next);
  if (JSON.stringify(features) !== JSON.stringify(running))
    return { kind: "objects", reason: `its code features differ (${JSON.stringify(features)} vs ${JSON.stringify(running)})` };
  return classifierMatchersDiffer(runningPolicy, next)
    ? { kind: "classifier", reason: "its exe/path matchers differ (the exec classifier is generated from them)" }
    : { kind: "data" };
}
