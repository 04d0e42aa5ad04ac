// `acgc simulate`: replays recorded agent traces through a policy's decision
// logic, without a kernel. Each tool call of a trace is matched to a rule as
// acgd would match it (runtime/matcher.ts), given that rule's class and
// memory, and its recorded memory curve is fed, sample by sample, to the
// same burst clock the BPF programs and acgd's cgroup-v2 path run
// (compiler/decide.ts): when it would have burst, been throttled, been killed
// by `over_high ... kill after`, or hit its memory limit (the kernel's OOM
// kill), or its agent's.
//
// What a trace cannot say: how the call would have behaved once acted on
// (the curve after the first throttle is the unrestricted one), and the
// host's memory pressure (a trace records one agent alone), so pressure rules
// are listed, not replayed.

import type { PolicyIR, RuleIR } from "../compiler/ir.js";
import { callCurve, loadTraces, mainCommand, medianInterval, type Run, type ToolCall as TraceCall } from "./read.js";
import { burstInit, BurstMode, burstUpdate, MemVerdict, type BurstParams } from "../compiler/decide.js";
import { matchRule, type CallFacts } from "../runtime/matcher.js";

/** One thing the policy would have done to a call, at `atS` seconds after it started. */
export interface SimAction {
  atS: number;
  kind: "burst" | "throttled" | "calm" | "killed" | "oom_call_limit" | "oom_agent_limit";
  /** The call's memory (bytes above the agent's own before it) at that moment. */
  bytes: number;
}

export interface SimCall {
  run: string;
  index: number;
  tool: string;
  family: string;
  command: string | null;
  rule: string;
  class: string;
  /** What it would have been given. */
  given: { baselineBytes: number | null; limitBytes: number | null; burstBytes: number; burstSeconds: number };
  durationS: number;
  /** Memory samples inside the call (0: too short for the trace's sampling, nothing replayed). */
  samples: number;
  peakBytes: number;
  actions: SimAction[];
  /** How it would have ended: run to its end, killed by the runtime, or OOM-killed. */
  outcome: "completed" | "killed" | "oom_killed";
}

export interface SimRuleSummary {
  rule: string;
  class: string;
  given: SimCall["given"];
  calls: number;
  /** Calls without a sample inside them (the trace samples about once a second). */
  unsampled: number;
  peakMaxBytes: number;
  burst: number;
  throttled: number;
  killed: number;
  oomKilled: number;
  /** Seconds into the call of the first throttle / kill / OOM among its calls, or null. */
  firstThrottleS: number | null;
  firstKillS: number | null;
}

export interface Simulation {
  policy: string;
  traces: string;
  warnings: string[];
  runs: number;
  calls: SimCall[];
  rules: SimRuleSummary[];
  /** Pressure rules are not replayed: traces record no memory pressure (PSI). */
  notReplayed: string[];
}

/** What acgd would match a recorded call on: its tool, and for Bash the command's main program and arguments. */
export function traceFacts(call: TraceCall): CallFacts {
  const facts: CallFacts = { tool: call.tool, hints: [], argv: [] };
  if (call.command !== null) facts.argv = mainCommand(call.command) ?? [];
  return facts;
}

const NS = 1e9;

/** Replays one call's curve through the rule's memory decisions. */
export function simulateCall(run: Run, call: TraceCall, policy: PolicyIR, period = medianInterval(run.samples)): SimCall {
  const rule = matchRule(policy, traceFacts(call));
  const cls = policy.classes[rule.classId] ?? policy.classes[0]!;
  const curve = callCurve(run.samples, call, period);
  const m = rule.memory;
  const profile = policy.agentProfiles.find((p) => p.tenantId === null) ?? policy.agentProfiles[0]!;
  const out: SimCall = {
    run: run.name,
    index: call.index,
    tool: call.tool,
    family: call.family,
    command: call.command,
    rule: rule.name,
    class: cls.name,
    given: {
      baselineBytes: m.baselineBytes,
      limitBytes: m.limitBytes,
      burstBytes: m.burst?.bytes ?? 0,
      burstSeconds: (m.burst?.durationNs ?? 0) / NS,
    },
    durationS: curve.durationS,
    samples: curve.sampling === "inside" ? curve.points.length : 0,
    peakBytes: curve.peakBytes,
    actions: [],
    outcome: "completed",
  };
  if (curve.sampling !== "inside") return out;
  const params = burstParams(rule);
  const clock = burstInit(params, 0n);
  const baseline = m.baselineBytes === null ? null : BigInt(m.baselineBytes);
  let verdict: number = MemVerdict.calm;
  for (const p of curve.points) {
    const t = BigInt(Math.round(p.dt * NS));
    // The agent's limit covers the agent's own memory and the call's: the trace's container total.
    const total = curve.baselineBytes + p.bytes;
    if (m.limitBytes !== null && p.bytes > m.limitBytes)
      return end(out, { atS: p.dt, kind: "oom_call_limit", bytes: p.bytes }, "oom_killed");
    if (profile.limitBytes !== null && total > profile.limitBytes)
      return end(out, { atS: p.dt, kind: "oom_agent_limit", bytes: p.bytes }, "oom_killed");
    if (baseline === null) continue;
    const next = burstUpdate(clock, params, t, BigInt(Math.round(p.bytes)), baseline, BigInt(m.burst?.bytes ?? 0));
    const killAfter = m.overHigh.killAfterNs;
    if (next === MemVerdict.throttled && killAfter !== null && t - clock.overSinceNs >= BigInt(killAfter)) {
      // acgd's kill timer fires killAfter after the overage began, not at the next sample.
      const at = Number(clock.overSinceNs + BigInt(killAfter)) / NS;
      if (verdict !== MemVerdict.throttled) out.actions.push({ atS: p.dt, kind: "throttled", bytes: p.bytes });
      return end(out, { atS: Math.min(at, p.dt), kind: "killed", bytes: p.bytes }, "killed");
    }
    if (next !== verdict) {
      const kind = next === MemVerdict.bursting ? "burst" : next === MemVerdict.throttled ? "throttled" : "calm";
      out.actions.push({ atS: p.dt, kind, bytes: p.bytes });
      verdict = next;
    }
  }
  return out;
}

function end(c: SimCall, a: SimAction, outcome: SimCall["outcome"]): SimCall {
  c.actions.push(a);
  c.outcome = outcome;
  return c;
}

function burstParams(rule: RuleIR): BurstParams {
  const b = rule.memory.burst;
  return b
    ? { durationNs: BigInt(b.durationNs), refillNs: BigInt(b.refillNs), mode: b.mode === "refill" ? BurstMode.refill : BurstMode.cooldown }
    : { durationNs: 0n, refillNs: 0n, mode: BurstMode.none };
}

/** Replays every run of a trace folder (flat or nested). Throws TraceFolderError when it cannot be listed. */
export function simulate(policy: PolicyIR, traceDir: string): Simulation {
  const { runs, warnings } = loadTraces(traceDir);
  const calls: SimCall[] = [];
  for (const run of runs) {
    const period = medianInterval(run.samples);
    for (const c of run.calls) calls.push(simulateCall(run, c, policy, period));
  }
  const rules: SimRuleSummary[] = policy.rules.map((r) => {
    const mine = calls.filter((c) => c.rule === r.name);
    const first = (kinds: SimAction["kind"][]) => {
      const ts = mine.flatMap((c) => c.actions.filter((a) => kinds.includes(a.kind)).map((a) => a.atS));
      return ts.length ? Math.min(...ts) : null;
    };
    const has = (k: SimAction["kind"]) => mine.filter((c) => c.actions.some((a) => a.kind === k)).length;
    return {
      rule: r.name,
      class: policy.classes[r.classId]?.name ?? "?",
      given: {
        baselineBytes: r.memory.baselineBytes,
        limitBytes: r.memory.limitBytes,
        burstBytes: r.memory.burst?.bytes ?? 0,
        burstSeconds: (r.memory.burst?.durationNs ?? 0) / NS,
      },
      calls: mine.length,
      unsampled: mine.filter((c) => c.samples === 0).length,
      peakMaxBytes: mine.reduce((x, c) => Math.max(x, c.peakBytes), 0),
      burst: has("burst"),
      throttled: has("throttled"),
      killed: has("killed"),
      oomKilled: mine.filter((c) => c.outcome === "oom_killed").length,
      firstThrottleS: first(["throttled"]),
      firstKillS: first(["killed", "oom_call_limit", "oom_agent_limit"]),
    };
  });
  const notReplayed = policy.pressureRules.map(
    (p) =>
      `pressure rule ${p.id} (memory.pressure(${p.scope.kind}) > ${p.thresholdPercent}%): needs ` +
      "memory pressure (PSI), which the traces do not record",
  );
  return { policy: policy.name, traces: traceDir, warnings, runs: runs.length, calls, rules, notReplayed };
}
