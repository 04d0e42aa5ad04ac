// The events of a tool call's start and end and of a policy swap
// (runtime/events.ts), with the fields the metrics and `acg events` use;
// called by runtime/tool-calls.ts and acgd's apply_policy.

import { formatBytes } from "../compiler/units.js";
import { aboutCall, emitEvent } from "./events.js";
import type { PolicyIR } from "../compiler/ir.js";
import type { SwapResult } from "./enforce-bpf.js";
import type { CallReport } from "./call-report.js";
import type { ToolCall } from "./tool-calls.js";

export function emitCallStarted(call: ToolCall, argv: string[]): void {
  const intents = call.intent.log.length ? `; intents: ${call.intent.log.join("; ")}` : "";
  emitEvent("call_started", {
    ...aboutCall(call),
    message:
      `start ${call.id}${call.label !== undefined ? ` (${call.label})` : ""} ` +
      `agent=${call.agent.key} rule=${call.rule.name} class=${call.cls.name}${intents}`,
    data: { argv: argv.slice(0, 16).map((a) => a.slice(0, 256)), limits: call.limits, intents: call.intent.log },
  });
}

/** How a call ended, as the `outcome` of call_ended and the metrics' label. */
export type CallOutcome = "exited" | "oom_killed" | "killed";

export function outcomeOf(report: CallReport): CallOutcome {
  return report.oomKilled ? "oom_killed" : report.killedBy ? "killed" : "exited";
}

/** call_ended, and oom first when the kernel's OOM killer struck the call. */
export function emitCallEnded(call: ToolCall, report: CallReport): void {
  const who = aboutCall(call);
  const outcome = outcomeOf(report);
  if (outcome === "oom_killed") {
    const ownLimit = (report.memoryEvents["oom"] ?? 0) > 0 || (report.memoryEvents["max"] ?? 0) > 0;
    emitEvent("oom", {
      ...who,
      message: report.advice ?? `${call.id} killed by the OOM killer`,
      data: {
        limit: ownLimit ? "call" : "agent",
        limitBytes: report.limits.limitBytes,
        peakBytes: report.memoryPeakBytes,
        advice: report.advice,
      },
    });
  }
  const peak = report.memoryPeakBytes === null ? "unknown" : formatBytes(report.memoryPeakBytes);
  emitEvent("call_ended", {
    ...who,
    message: `end ${call.id}: ${outcome.replace("_", " ")} after ${(report.durationMs / 1000).toFixed(1)}s, peak ${peak}`,
    data: {
      outcome,
      durationMs: report.durationMs,
      memoryPeakBytes: report.memoryPeakBytes,
      cpuUsageUsec: report.cpuUsageUsec,
      memoryHighEvents: report.memoryEvents["high"] ?? 0,
      killedBy: report.killedBy,
    },
  });
}

/** What a swap's timing was, as a clause of the event's message ("" for a data swap). */
function swapTiming(swap: SwapResult): string {
  if (swap.gapMs !== undefined) return `, ${swap.gapMs.toFixed(2)} ms without a scheduler`;
  if (swap.replaceMs !== undefined)
    return `, the new exec classifier attached in ${swap.replaceMs.toFixed(2)} ms before the old one was detached`;
  return "";
}

/** `swap`: what the scheduler did (null: no scheduler attached, only new calls follow the policy). */
export function emitPolicySwapped(previous: PolicyIR, next: PolicyIR, swap: SwapResult | null): void {
  const gap = swap ? swapTiming(swap) : "";
  emitEvent("policy_swapped", {
    message:
      `policy ${next.name} (${next.sourceHash.slice(0, 12)}) applied, replacing ` +
      `${previous.name} (${previous.sourceHash.slice(0, 12)})${swap ? `; scheduler: ${swap.kind} swap${gap}` : ""}`,
    data: {
      policy: next.name,
      sourceHash: next.sourceHash,
      previous: { policy: previous.name, sourceHash: previous.sourceHash },
      swap: swap?.kind ?? null,
      gapMs: swap?.gapMs ?? null,
      replaceMs: swap?.replaceMs ?? null,
    },
  });
}
