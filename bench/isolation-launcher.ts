// What every setup of the isolation experiment shares: the Launcher the run
// loop (isolation-run.ts) drives, the experiment's own cgroup sub-tree and
// the budget cgroup each setup makes in it, and how a replay process starts
// (through a link named after its command family, inside the cgroup the
// setup chose). The setups themselves are isolation-baselines.ts (plain
// cgroup files, with isolation-oomd.ts's killer) and isolation-acgd.ts (acgd
// enforcing a policy).

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { CGROUP_ROOT, enableControllers, mkCg, removeCgTree, writeCg } from "./cgroupfs.js";
import type { RuntimeAction } from "./isolation-records.js";
import type { AgentPlan, ProcessPlan, ReplayPlan } from "./plan.js";

/** This run's cgroups, one sub-tree per setup. */
export const BENCH_CGROUP = join(CGROUP_ROOT, `acg-bench-${process.pid}`);

/** How one setup places and limits processes. */
export interface Launcher {
  readonly name: string;
  /** How the setup is enforced (for the report). */
  mode?: string;
  /** Before each run (a daemon is started once and kept for the setup's later runs). */
  prepare(plan: ReplayPlan, budgetBytes: number): Promise<void>;
  /** The cgroup whose memory is the agent's (for monitoring). */
  agentCgroup(agent: AgentPlan): string;
  parentCgroup(): string;
  spawn(agent: AgentPlan, proc: ProcessPlan, kind: "agent" | "call", index: number, allocArgs: string[]): Promise<Spawned>;
  /** The agent was killed whole by the setup itself (the oomd-like killer). */
  killedAgent?(agent: AgentPlan): boolean;
  /** What the runtime did since `sinceMs` (epoch ms), for a setup run by acgd. */
  runtimeActions?(sinceMs: number): Promise<RuntimeAction[]>;
  /** After each run. */
  cleanup(): Promise<void>;
  /** After the setup's last run. */
  shutdown(): Promise<void>;
}

export interface Spawned {
  child: ChildProcess;
  /** The policy's rule and class for the call, when a runtime chose them. */
  rule?: string;
  cls?: string;
  /**
   * Called after the process exited (e.g. end the tool call in acgd); says
   * whether the runtime killed it (for an agent's own process: its agent, whole).
   */
  done?: () => Promise<{ killedBy: string | null } | null>;
}

/** A fresh cgroup at `root` holding the experiment's memory budget (no swap), controllers delegated. */
export function makeBudgetCgroup(root: string, budgetBytes: number): void {
  const top = dirname(root);
  mkCg(top);
  enableControllers(CGROUP_ROOT, ["memory", "cpu", "pids"]);
  enableControllers(top, ["memory", "cpu", "pids"]);
  removeCgTree(root);
  mkCg(root);
  writeCg(root, "memory.max", budgetBytes);
  writeCg(root, "memory.swap.max", 0);
  enableControllers(root, ["memory", "cpu", "pids"]);
}

/** The link a replay process starts through: named after its command family, so exe matchers see the traced call's program. */
export function replayExe(binDir: string, proc: ProcessPlan, kind: "agent" | "call"): string {
  return join(binDir, kind === "agent" ? "agent" : safeName(proc.family));
}

/** The allocator replaying `proc` inside `cgroup`; the traced words after `--` (none for the agent) only show in its argv. */
export function spawnReplay(exe: string, allocArgs: string[], cgroup: string, proc: ProcessPlan): ChildProcess {
  return spawn(exe, [...allocArgs, "--cgroup", cgroup, "--", ...proc.argv.slice(1)], { stdio: ["ignore", "ignore", "pipe"] });
}

/** A command family as a file name: its link's in the bin directory (a traced family may hold any character). */
export function safeName(family: string): string {
  const s = family.replace(/[^A-Za-z0-9._+-]/g, "_");
  return s && s !== "." && s !== ".." ? s : "bash";
}

/** Per-family symlinks to the allocator, so exe matchers see `pytest`, `git`, ... */
export function makeBinDir(plan: ReplayPlan, dir: string, allocBin: string): void {
  mkdirSync(dir, { recursive: true });
  const names = new Set(["agent", ...plan.agents.flatMap((a) => a.calls.map((c) => safeName(c.family)))]);
  for (const n of names) {
    const p = join(dir, n);
    if (!existsSync(p)) symlinkSync(allocBin, p);
  }
}
