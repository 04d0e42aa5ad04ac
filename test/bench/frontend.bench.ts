// Front-end benchmark: generates a policy with 1,000 tool rules and reports how
// long parse + check take (target: under 50 ms). Prints figures; asserts nothing.
// Run: npm run bench:frontend

import { loadPolicyText } from "../../compiler/frontend.js";
import { lowerPolicy } from "../../compiler/lower.js";
import { hugeShapes } from "../compiler/huge-shapes.js";

export function generatePolicy(rules: number): string {
  const lines = ["version 1", "policy bench {", "  host { memory = 256GiB; reserve = 8GiB }"];
  for (const c of ["fast", "mid", "slow"])
    lines.push(`  class ${c} { priority = ${c === "fast" ? "high" : c === "mid" ? "normal" : "low"}; cpu.weight = 100 }`);
  for (let i = 0; i < rules; i++) {
    lines.push(
      `  tool t${i} {`,
      `    match exe in ["tool${i}", "tool${i}-alt"] or (argv ~ /--mode=${i}\\b/ and not hint == "skip") or path matches "/opt/t${i}/*"`,
      `    class ${["fast", "mid", "slow"][i % 3]}`,
      `    memory.baseline = ${128 + (i % 8) * 64}MiB`,
      `    memory.limit = 4GiB`,
      `    memory.burst = 1GiB for 30s, refill 60s`,
      `    over_high throttle 10ms..1s ramp 5s`,
      `  }`,
    );
  }
  lines.push("  tool default { class slow }", "  when memory.pressure(host) > 40% for 1s { protect fast; throttle slow 100ms }", "}");
  return lines.join("\n") + "\n";
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const text = generatePolicy(1000);
const runs: number[] = [];
const lowerRuns: number[] = [];
for (let i = 0; i < 15; i++) {
  const t0 = performance.now();
  const r = loadPolicyText("bench.acg", text);
  const t1 = performance.now();
  if (!r.ok || !r.checked) throw new Error("generated policy did not check: " + JSON.stringify(r.diagnostics.slice(0, 3)));
  lowerPolicy(r.checked);
  const t2 = performance.now();
  runs.push(t1 - t0);
  lowerRuns.push(t2 - t1);
}
const first = runs[0]!;
const med = median(runs.slice(1));
console.log(`policy: 1000 rules, ${text.length} bytes, ${text.split("\n").length} lines`);
console.log(
  `parse+check: first run ${first.toFixed(1)} ms (includes JIT warm-up), median of 14 warm ` +
    `runs ${med.toFixed(1)} ms (target < 50 ms: ${med < 50 ? "met" : "NOT met"})`,
);
console.log(`lowering to IR: median ${median(lowerRuns.slice(1)).toFixed(1)} ms`);

// Shapes that used to be quadratic (a 20,000-predicate `and` took 58 s, 30,000
// nested parentheses 11.5 s): every input under the 1 MiB cap checks in ≤ 2 s.
for (const [i, shape] of hugeShapes().entries()) {
  const t0 = performance.now();
  const r = loadPolicyText("huge.acg", shape);
  const t = performance.now() - t0;
  const what = ["20,000-predicate and", "20,000-predicate or", "100,000 nested parentheses", "100,000 nested not", "100,000 nested lists"][
    i
  ];
  console.log(
    `${what}: ${(shape.length / 1024).toFixed(0)} KiB, ${t.toFixed(0)} ms, ${
      r.diagnostics
        .filter((d) => d.severity === "error")
        .map((d) => d.code)
        .join(",") || "no errors"
    } (target ≤ 2000 ms: ${t <= 2000 ? "met" : "NOT met"})`,
  );
}
