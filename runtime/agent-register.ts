// `register_agent`: puts an agent's own process (the agent loop: Claude Code,
// Codex, a Python harness...) into its agent's own-process leaf before its
// first tool call, so that the agent itself runs under the agent's memory
// guarantee and limit, and the processes it starts without `acg run` are seen
// by the exec classifier. Only a supervisor (root outside the agent tree:
// the launcher of the agent, `sudo acg agent register`, a service) may move
// a process in: an agent cgroup carries a guarantee, and a process must not
// grant itself one.

import { join } from "node:path";
import { AGENT_LEAF } from "./cgroup-tree.js";
import { CallError } from "./call-error.js";
import type { ToolCalls } from "./tool-calls.js";
import { agentOomScoreAdj, setOomScoreAdj } from "./victim-order.js";

export interface RegisteredAgent {
  agent: string;
  /** The agent's own-process cgroup the process now lives in. */
  cgroup: string;
  pid: number;
  /** What the process's oom_score_adj was set to (its agent's rank; see agentOomScoreAdj). */
  oomScoreAdj: number;
}

/** Moves `pid` into the agent's own leaf (creating the agent's cgroups on first use). */
export function registerAgentProcess(calls: ToolCalls, who: { tenant: string | undefined; agent: string }, pid: number): RegisteredAgent {
  const agent = calls.ensureAgent(who.tenant, who.agent);
  const leaf = join(agent.path, AGENT_LEAF);
  const where = calls.tree.cgroupOfPid(pid);
  if (where === null && !processExists(pid)) throw new CallError("not_found", `no process ${pid}`);
  const [t, a, inner] = (where ?? "").split("/");
  if (where !== null && (t !== agent.tenant || a !== agent.agent)) {
    throw new CallError("refused", `process ${pid} already belongs to agent '${t}/${a}': a process lives in one agent`);
  }
  if (inner !== undefined && inner !== AGENT_LEAF) {
    throw new CallError("refused", `process ${pid} runs in tool call '${inner}' of its agent: only the agent's own process is registered`);
  }
  calls.tree.movePid(leaf, pid);
  // The kernel's OOM killer, when reached, takes lower-ranked agents' processes first.
  const oomScoreAdj = agentOomScoreAdj(agent, calls.policy);
  setOomScoreAdj(pid, oomScoreAdj);
  return { agent: agent.key, cgroup: leaf, pid, oomScoreAdj };
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
