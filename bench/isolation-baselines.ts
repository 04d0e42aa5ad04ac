// The setups without acgd (alone, none, static, hints, oomd): a fresh budget
// cgroup for each run with an agent cgroup per agent, limited by plain cgroup
// v2 files as a user would write them (static caps, hints' memory.high); the
// oomd setup also runs the oomd-like killer (isolation-oomd.ts) over them.

import { join } from "node:path";
import { enableControllers, mkCg, removeCgTree, writeCg } from "./cgroupfs.js";
import { staticCap, type AgentOverhead } from "./isolation-budget.js";
import { BENCH_CGROUP, makeBudgetCgroup, replayExe, spawnReplay, type Launcher, type Spawned } from "./isolation-launcher.js";
import { OomdKiller } from "./isolation-oomd.js";
import type { AgentPlan, ProcessPlan, ReplayPlan } from "./plan.js";

/** Setups alone/none/static/hints/oomd: plain cgroup v2 files. */
export class CgroupLauncher implements Launcher {
  private root: string;
  private killer: OomdKiller | null = null;
  constructor(
    readonly name: "alone" | "none" | "static" | "hints" | "oomd",
    private overhead: AgentOverhead,
    private binDir: string,
  ) {
    this.root = join(BENCH_CGROUP, name);
  }
  parentCgroup(): string {
    return this.root;
  }
  agentCgroup(a: AgentPlan): string {
    return join(this.root, a.id);
  }
  async prepare(plan: ReplayPlan, budgetBytes: number): Promise<void> {
    makeBudgetCgroup(this.root, budgetBytes);
    const lowShare = this.lowHigh(plan, budgetBytes);
    for (const a of plan.agents) {
      const d = this.agentCgroup(a);
      mkCg(d);
      enableControllers(d, ["memory", "cpu", "pids"]);
      if (this.name === "static") writeCg(d, "memory.max", staticCap(a, plan, this.overhead));
      if (this.name === "hints" && !a.highPriority) writeCg(d, "memory.high", lowShare);
    }
    if (this.name === "oomd") {
      this.killer = new OomdKiller(
        this.root,
        budgetBytes,
        plan.agents.filter((a) => !a.highPriority).map((a) => ({ id: a.id, cgroup: this.agentCgroup(a) })),
      );
      this.killer.start();
    }
  }
  /** hints: the low-priority agents share what the budget leaves beyond the high agent's peak. */
  lowHigh(plan: ReplayPlan, budgetBytes: number): number {
    const high = plan.agents.find((a) => a.highPriority)!;
    const lows = plan.agents.filter((a) => !a.highPriority);
    const left = budgetBytes - staticCap(high, plan, this.overhead);
    const floor = Math.max(...lows.map((a) => a.medianBytes * plan.scale + this.overhead(a)));
    return Math.max(floor, left / Math.max(1, lows.length));
  }
  async spawn(agent: AgentPlan, proc: ProcessPlan, kind: "agent" | "call", index: number, allocArgs: string[]): Promise<Spawned> {
    const leaf = join(this.agentCgroup(agent), kind === "agent" ? "agent" : `call${index}`);
    mkCg(leaf);
    return { child: spawnReplay(replayExe(this.binDir, proc, kind), allocArgs, leaf, proc) };
  }
  killedAgent(a: AgentPlan): boolean {
    return this.killer?.killed.has(a.id) ?? false;
  }
  async cleanup(): Promise<void> {
    await this.killer?.stop();
    this.killer = null;
    removeCgTree(this.root);
  }
  async shutdown(): Promise<void> {
    removeCgTree(this.root);
  }
}
