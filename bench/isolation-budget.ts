// The memory the isolation experiment hands out: a combination's shared
// budget, the static setup's per-agent caps, and what the replay's own
// processes cost beyond the trace (measured once per driver run, charged to an
// agent by the most processes it runs at once). The host tests check these
// figures (test/bench/plan.test.ts).

import { setTimeout as sleep } from "node:timers/promises";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CGROUP_ROOT, enableControllers, mkCg, readCgNumber, removeCgTree } from "./cgroupfs.js";
import { BENCH_CGROUP } from "./isolation-launcher.js";
import type { AgentPlan, ComboPlans, ReplayPlan } from "./plan.js";

/** Bytes the replay's own processes add to an agent beyond its trace (measured; see measureProcessOverhead). */
export type AgentOverhead = (a: AgentPlan) => number;

/** An agent's static cap: its trace's peak, scaled, plus its processes' own overhead. */
export function staticCap(a: AgentPlan, plan: ReplayPlan, overhead: AgentOverhead): number {
  return Math.ceil(a.peakBytes * plan.scale) + overhead(a);
}

/** The combination's budget: its fraction of the basis (scaled) plus every agent's process overhead. */
export function budgetFor(cp: Pick<ComboPlans, "combo" | "budgetBasisBytes">, scale: number, agentOverheads: number[]): number {
  return Math.round(cp.budgetBasisBytes * scale * cp.combo.budgetFraction + agentOverheads.reduce((x, y) => x + y, 0));
}

/** The most processes an agent runs at once: its own plus its most overlapping calls. */
export function maxConcurrentProcesses(a: AgentPlan): number {
  let most = 0;
  for (const c of a.calls) most = Math.max(most, a.calls.filter((d) => d.start <= c.start && d.end > c.start).length);
  return 1 + most;
}

/**
 * Memory one idle replay process adds to its cgroup (the allocator's pages,
 * libc, stack, page tables): the largest of three measurements of a process
 * holding nothing, read from memory.current of a cgroup of its own.
 */
export async function measureProcessOverhead(allocBin: string, workDir: string): Promise<number> {
  const cg = join(BENCH_CGROUP, "overhead-probe");
  mkCg(BENCH_CGROUP);
  enableControllers(CGROUP_ROOT, ["memory"]);
  enableControllers(BENCH_CGROUP, ["memory"]);
  mkdirSync(workDir, { recursive: true });
  const curve = join(workDir, "empty-curve.txt");
  writeFileSync(curve, "0 0\n");
  let most = 0;
  for (let i = 0; i < 3; i++) {
    removeCgTree(cg);
    mkCg(cg);
    const child = spawn(allocBin, ["--curve", curve, "--hold", "3", "--out", join(workDir, "probe.jsonl"), "--cgroup", cg], {
      stdio: "ignore",
    });
    const exited = new Promise((r) => child.on("exit", r));
    await sleep(1500);
    most = Math.max(most, readCgNumber(cg, "memory.current") ?? 0);
    child.kill("SIGTERM");
    await exited;
  }
  removeCgTree(cg);
  if (!(most > 0)) throw new Error("could not measure a replay process's memory (memory.current of its cgroup stayed 0)");
  return most;
}
