// What acgd answers when a tool call ends (end_call; `acg run` prints it with
// runtime/report.ts): its usage against its limits and, after an OOM kill or
// a kill of the runtime's, what the agent should do about it: which limit was
// hit, and the hint to retry with within the agent's bound.

import type { PolicyIR } from "../compiler/ir.js";
import { formatBytes } from "../compiler/units.js";
import type { CallLimits } from "./call-limits.js";
import type { CgroupStats } from "./cgroup-tree.js";
import type { ToolCall } from "./tool-calls.js";

export interface CallReport {
  id: string;
  rule: string;
  class: string;
  limits: CallLimits;
  durationMs: number;
  memoryPeakBytes: number | null;
  cpuUsageUsec: number | null;
  cpuThrottledUsec: number | null;
  memoryEvents: Record<string, number>;
  oomKilled: boolean;
  killedBy: string | null;
  intentLog: string[];
  events: string[];
  /** What an agent should do after an OOM kill or a runtime kill, or null. */
  advice: string | null;
}

const fmt = (b: number | null) => (b === null ? "unlimited" : formatBytes(b));

/**
 * How many times its limit an OOM-killed call is advised to ask for. The
 * kernel stops a call's usage at its memory.max, so its memory.peak after a
 * kill is the limit itself: the call needed more by an amount nothing
 * records. Twice the limit was too little in practice (a call killed at
 * 32MiB needed about 105MiB, 3.3x), and one tool's peak varies by more than
 * 10x between runs in the shipped traces: one retry at 4x gets through where
 * 2x needed two, and the agent's intent bound caps it.
 */
const OOM_RETRY_FACTOR = 4;

/** A hint size of {@link OOM_RETRY_FACTOR} times what was used, rounded up to a size people write. */
function suggestedSize(used: number): number {
  const want = used * OOM_RETRY_FACTOR;
  // A quarter of the power of two below it: 24MiB stays 24MiB, 1.2GiB becomes 1.25GiB.
  const step = Math.max(1024 ** 2, 2 ** Math.floor(Math.log2(want)) / 4);
  return Math.ceil(want / step) * step;
}

export function buildReport(call: ToolCall, stats: CgroupStats, policy: PolicyIR): CallReport {
  const ev = stats.memoryEvents;
  const oomKilled = (ev["oom_kill"] ?? 0) > 0 || (ev["oom_group_kill"] ?? 0) > 0;
  let advice: string | null = null;
  if (oomKilled) advice = oomAdvice(call, stats, policy);
  else if (call.killedBy && call.killAdvice) advice = `${call.killedBy}; ${call.killAdvice}`;
  else if (call.killedBy)
    advice =
      `${call.killedBy}; ask for more with --hint memory=SIZE (up to ` +
      `${fmt(call.agent.profile.intent.memoryMaxBytes)}) or keep the call under its baseline ` +
      `${fmt(call.limits.baselineBytes)}`;
  return {
    id: call.id,
    rule: call.rule.name,
    class: call.cls.name,
    limits: call.limits,
    durationMs: Date.now() - call.startedAt,
    memoryPeakBytes: stats.memoryPeak,
    cpuUsageUsec: stats.cpuUsageUsec,
    cpuThrottledUsec: stats.cpuThrottledUsec,
    memoryEvents: ev,
    oomKilled,
    killedBy: call.killedBy ?? null,
    intentLog: call.intent.log,
    events: call.events,
    advice,
  };
}

function oomAdvice(call: ToolCall, stats: CgroupStats, policy: PolicyIR): string {
  const limit = call.limits.limitBytes;
  const used = Math.max(stats.memoryPeak ?? 0, limit ?? 0);
  // The call's own limit was hit when its memory.events counts `max`/`oom`; otherwise an ancestor's (agent, tenant) was.
  const ownLimit = limit !== null && ((stats.memoryEvents["oom"] ?? 0) > 0 || (stats.memoryEvents["max"] ?? 0) > 0);
  const where = ownLimit
    ? `the tool call hit its memory limit of ${fmt(limit)} (rule '${call.rule.name}': baseline ` +
      `${fmt(call.rule.memory.baselineBytes)}, limit ${fmt(call.rule.memory.limitBytes)})`
    : `the agent '${call.agent.key}' hit its memory limit of ${fmt(call.agent.profile.limitBytes)}`;
  const unrecorded = ownLimit ? " (usage stops at the limit: the call needed more, by an amount nothing records)" : "";
  const head = `killed by the OOM killer: ${where}; peak usage ${fmt(stats.memoryPeak)}${unrecorded}.`;
  if (!ownLimit)
    return `${head} Other tool calls of this agent share that limit: run fewer at once, or ask the operator for a larger agent limit.`;
  const bound = call.agent.profile.intent.memoryMaxBytes;
  const want = suggestedSize(used);
  if (bound === null)
    return (
      `${head} This agent may not ask for more memory (no \`intent memory\` bound in policy '${policy.name}'); ` +
      "ask the operator or split the work."
    );
  if (limit !== null && limit >= bound)
    return (
      `${head} That is already the most this agent may ask for (${fmt(bound)}); ` +
      "split the work into smaller calls or ask the operator to raise the agent's bound."
    );
  if (want <= bound) return `${head} Retry with --hint memory=${formatBytes(want)} (this agent may ask for up to ${fmt(bound)}).`;
  return (
    `${head} Retry with --hint memory=${formatBytes(bound)}, the most this agent may ask for; ` +
    `it may still not be enough (${formatBytes(want)} would be a safer retry).`
  );
}
