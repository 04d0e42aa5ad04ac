// The report `acg run` prints on stderr after a tool call: how it ended, what
// it used against what the policy allows, and, when it was killed, what the
// agent can do about it.

import { constants as osConstants } from "node:os";
import { formatBytes } from "../compiler/units.js";
import type { ExitStatus } from "./spawn.js";
import type { CallReport } from "./call-report.js";

/** The exit status `acg run` itself returns: the child's code, or 128 + signal number. */
export function exitCodeOf(st: ExitStatus): number {
  if (st.code !== null) return st.code;
  const n = st.signal ? osConstants.signals[st.signal] : undefined;
  return 128 + (n ?? 0);
}

export function howItEnded(st: ExitStatus, r: CallReport): string {
  if (st.code !== null) return `exited with status ${st.code}`;
  if (r.oomKilled) return `killed by ${st.signal} (OOM killer)`;
  if (r.killedBy) return `killed by ${st.signal} (the runtime's over_high kill)`;
  return `terminated by ${st.signal}`;
}

const size = (b: number | null) => (b === null ? "unlimited" : formatBytes(b));
const secs = (usec: number | null) => (usec === null ? "n/a" : `${(usec / 1e6).toFixed(2)}s`);

export function formatReport(st: ExitStatus, r: CallReport): string {
  const lines = [
    `acg: ${r.id} [rule ${r.rule}, class ${r.class}] ${howItEnded(st, r)} after ${(r.durationMs / 1000).toFixed(2)}s`,
    `acg:   memory peak ${r.memoryPeakBytes === null ? "n/a" : formatBytes(r.memoryPeakBytes)} ` +
      `(baseline ${size(r.limits.baselineBytes)}, limit ${size(r.limits.limitBytes)}); cpu ` +
      `${secs(r.cpuUsageUsec)}, throttled ${secs(r.cpuThrottledUsec)}`,
  ];
  for (const l of r.intentLog) lines.push(`acg:   intent: ${l}`);
  for (const e of r.events.filter((e) => !r.intentLog.includes(e))) lines.push(`acg:   ${e}`);
  if (r.advice) lines.push(`acg: ${r.advice}`);
  return lines.join("\n") + "\n";
}

export function jsonReport(st: ExitStatus, r: CallReport): string {
  return JSON.stringify({ ...r, exit: { code: st.code, signal: st.signal, status: exitCodeOf(st), ended: howItEnded(st, r) } }) + "\n";
}
