// Who memory actions reach first, and how the kernel's OOM killer is made to
// agree: agents by rank (their own, no higher than their tenant's), then
// calls by class priority and age (victimOrder: the ladders' and the pressure
// rules' order), and the oom_score_adj that orders the kernel's victims the
// same way when it is reached anyway. The tool-call registry (tool-calls.ts)
// only stamps each call and moved process with its value.

import { writeFileSync } from "node:fs";
import { effectiveRank, type PolicyIR, type PriorityLevel } from "../compiler/ir.js";
import type { AgentEntry, ToolCall } from "./tool-calls.js";

/** The rank an agent's calls are ordered by: its own, no higher than its tenant's. */
export function agentRank(agent: AgentEntry, policy: PolicyIR): PriorityLevel {
  return effectiveRank(agent.rank, policy.tenants.find((t) => t.name === agent.tenant)?.rank);
}

/**
 * The order in which memory actions reach calls, lowest first: a larger key
 * is acted on earlier. Agent rank, then class priority, then age (younger first).
 */
export function victimOrder(a: ToolCall, b: ToolCall, policy: PolicyIR): number {
  return agentRank(b.agent, policy) - agentRank(a.agent, policy) || b.cls.priority - a.cls.priority || b.startedAt - a.startedAt;
}

/**
 * oom_score_adj of a call's processes: 450 per agent rank below high, 50 per
 * class priority below high (0..1000), so that the kernel's OOM killer, when
 * reached anyway, picks in the ladder's order. The kernel adds adj/1000 of
 * the OOM domain's limit to a process's size, so a rank step is worth 45% of
 * the budget: with 100 per class step and 300 per rank (the first scheme) a
 * high-ranked agent's 217 MiB pytest outscored a normal agent's frozen
 * 118 MiB own process under a 370 MiB budget in the 2026-12-03 benchmark,
 * and was killed. Non-negative, so an unprivileged launcher can set it.
 */
export function oomScoreAdj(rank: PriorityLevel, classPriority: PriorityLevel): number {
  return 450 * rank + 50 * classPriority;
}

/**
 * oom_score_adj of an agent's own processes (register_agent): its rank's,
 * as a call of the highest class would have, so that the kernel takes every
 * lower-class call of that agent, and everything of lower-ranked agents,
 * first — and never prefers a higher-ranked agent's call over it.
 */
export function agentOomScoreAdj(agent: AgentEntry, policy: PolicyIR): number {
  return oomScoreAdj(agentRank(agent, policy), 0);
}

/**
 * Steers the kernel's OOM killer for a process moved into a call (a process
 * acg run starts gets its value at clone3 time instead). Best effort: the
 * process may have exited, and lowering a value needs CAP_SYS_RESOURCE.
 */
export function setOomScoreAdj(pid: number, adj: number): void {
  try {
    writeFileSync(`/proc/${pid}/oom_score_adj`, String(adj));
  } catch {
    // gone, or not ours to lower: the call's memory.oom.group still takes it whole
  }
}
