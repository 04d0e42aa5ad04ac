// What a finished run of the isolation experiment says: per agent, from the
// run loop's process records, the allocator's logs and the agent's cgroup
// files (survival, calls killed, work lost, latency, memory stalls, lag); and
// the kernel's OOM episodes, read from its log and mapped to agents by pid.
// Apart from the run loop (isolation-run.ts), which only starts, watches and
// stops processes.

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllocLog } from "./alloc-log.js";
import { CGROUP_ROOT, readCgKeyed, readCgNumber, readPressure } from "./cgroupfs.js";
import { BENCH_CGROUP, type Launcher } from "./isolation-launcher.js";
import type { AgentResult, OomEpisodeRecord, ProcRecord } from "./isolation-records.js";
import type { AgentPlan, ReplayPlan } from "./plan.js";
import { parseOomLog, workLostSeconds, type CallOutcome, type ProcessTiming } from "./replay-stats.js";
import { quantile } from "../traces/read.js";

const MiB = 1024 * 1024;

/** A replay process's label: its allocator's curve file and log in the run's directories are named after it. */
export function processLabel(agent: string, kind: "agent" | "call", index: number): string {
  return kind === "agent" ? `${agent}-agent` : `${agent}-call${index}`;
}

/** The kernel log since the last call, cleared (the guest is ours); null when it cannot be read. */
export function takeKernelLog(): string | null {
  const r = spawnSync("dmesg", ["--read-clear"], { encoding: "utf8", maxBuffer: 64 * MiB });
  return r.status === 0 ? r.stdout : null;
}

/** The kernel's OOM episodes in `klog` that touched this experiment, their victims mapped to agents by pid. */
export function kernelOomEpisodes(klog: string, procs: ProcRecord[], agents: AgentPlan[]): OomEpisodeRecord[] {
  const byPid = new Map(procs.filter((p) => p.pid !== null).map((p) => [p.pid!, p]));
  return parseOomLog(klog)
    .filter(
      (e) => (e.oomMemcg ?? e.taskMemcg ?? "").includes(BENCH_CGROUP.slice(CGROUP_ROOT.length)) || e.victims.some((v) => byPid.has(v.pid)),
    )
    .map((e) => ({
      oomMemcg: e.oomMemcg,
      group: e.group,
      victims: e.victims.map((v) => ({
        pid: v.pid,
        comm: v.comm,
        agent: byPid.get(v.pid)?.agent ?? null,
        high: agents.find((a) => a.id === byPid.get(v.pid)?.agent)?.highPriority ?? false,
      })),
    }));
}

/** Errors for the SIGKILLs the kernel's log does not name: with the log read, they were not the OOM killer's. */
export function unreportedKills(episodes: OomEpisodeRecord[], procs: ProcRecord[]): string[] {
  const victims = new Set(episodes.flatMap((e) => e.victims.map((v) => v.pid)));
  return procs
    .filter((p) => p.status === "oom-killed" && p.pid !== null && !victims.has(p.pid))
    .map((p) => `${p.agent} ${p.kind} ${p.index}: SIGKILL not in the kernel's OOM reports`);
}

/** What the run loop knows when a run has ended, from which its agents' results are read. */
export interface FinishedRun {
  plan: ReplayPlan;
  launcher: Launcher;
  procs: ProcRecord[];
  /** The allocator's logs, one LABEL.jsonl per process (processLabel). */
  logDir: string;
  /** The first seed's run: keeps the latency distribution. */
  detail: boolean;
  timedOut: boolean;
  /** Agents that failed during the run (a kill the agent does not survive). */
  dead: ReadonlySet<string>;
  limitS: number;
  wallS: number;
}

/** One agent's results; also fills in its process records' allocation steps and median latency. */
export function agentResult(a: AgentPlan, run: FinishedRun): AgentResult {
  const { plan, launcher, procs, logDir, detail, timedOut, dead, limitS, wallS } = run;
  const cg = launcher.agentCgroup(a);
  const ev = readCgKeyed(cg, "memory.events");
  const psi = readPressure(cg);
  const mine = procs.filter((p) => p.agent === a.id);
  const lats: number[] = [];
  let timing: ProcessTiming | null = null;
  for (const p of mine) {
    const name = processLabel(a.id, p.kind, p.index);
    let text = "";
    try {
      text = readFileSync(join(logDir, `${name}.jsonl`), "utf8");
    } catch {
      continue;
    }
    const log = parseAllocLog(text);
    for (const g of log.grows) lats.push(g.lat_us);
    p.steps = log.grows.length;
    p.latP50Us =
      log.summary?.lat_p50_us ??
      (log.grows.length
        ? quantile(
            log.grows.map((g) => g.lat_us),
            0.5,
          )
        : null);
    // The agent's own process against its trace: when the run's time limit
    // stopped it (its agent alive), it would have ended no sooner than its
    // pace so far says: that extrapolation is its lag (never shorter than
    // the time it ran).
    const sm = log.summary;
    const stall = readPressure(join(cg, "agent")).someUs / 1000 || 0;
    if (p.kind === "agent" && sm?.completed) timing = { nominalMs: sm.nominal_ms, durationMs: sm.duration_ms, memStallMs: stall };
    else if (p.kind === "agent" && sm && timedOut && !dead.has(a.id))
      timing = {
        nominalMs: sm.nominal_ms,
        durationMs: sm.points_done > 0 ? Math.max(sm.duration_ms, (sm.duration_ms * sm.points) / sm.points_done) : Infinity,
        memStallMs: stall,
      };
  }
  const oomKilled = mine.filter((p) => p.status === "oom-killed").length;
  const baselineKilled = launcher.killedAgent?.(a) ?? false;
  // An agent that never ran (its own process could not start, e.g. refused by the policy) did not survive either.
  const ran = mine.some((p) => p.kind === "agent" && p.status !== "failed");
  const kernelKills = Math.max(oomKilled, ev["oom_kill"] ?? 0);
  const runtimeKilledWhole = mine.some((p) => p.kind === "agent" && p.status === "runtime-killed");
  const survived = ran && kernelKills === 0 && !baselineKilled && !runtimeKilledWhole;
  const finished = mine.every((p) => p.end !== null && p.end < limitS && p.status !== "killed") || !survived;
  const start = Math.min(...mine.map((p) => p.start));
  const end = Math.max(...mine.map((p) => p.end ?? wallS));
  const completionS = survived && finished ? end - start : null;
  const nominalS = a.duration / plan.speed;
  const callRecs = mine.filter((p) => p.kind === "call");
  const outcomes: CallOutcome[] = a.calls.map((c, i) => {
    const r = callRecs.find((p) => p.index === i);
    return {
      traceSeconds: c.end - c.start,
      outcome: !r ? "not-started" : r.status === "completed" ? "completed" : r.status === "failed" ? "failed" : "killed",
    };
  });
  return {
    id: a.id,
    run: a.run,
    high: a.highPriority,
    survived,
    ran,
    finished,
    oomKills: kernelKills,
    baselineKilled,
    runtimeKilledWhole,
    callsPlanned: a.calls.length,
    callsCompleted: callRecs.filter((p) => p.status === "completed").length,
    callsKilled: callRecs.filter((p) => p.status === "oom-killed" || p.status === "baseline-killed" || p.status === "killed").length,
    callsRuntimeKilled: callRecs.filter((p) => p.status === "runtime-killed").length,
    callsNotStarted: outcomes.filter((x) => x.outcome === "not-started").length,
    workLostS: workLostSeconds(outcomes),
    completionS,
    nominalS,
    slowdown: completionS === null ? null : completionS / nominalS,
    latency: {
      n: lats.length,
      p50Us: quantile(lats, 0.5),
      p95Us: quantile(lats, 0.95),
      p99Us: quantile(lats, 0.99),
      maxUs: lats.length ? Math.max(...lats) : NaN,
    },
    latencyCdf: CDF_QS.filter(() => lats.length > 0 && detail).map((q) => [q, quantile(lats, q)]),
    memStallSomeUs: psi.someUs,
    memStallFullUs: psi.fullUs,
    ownLimitOoms: ev["oom"] ?? 0,
    highEvents: ev["high"] ?? 0,
    maxEvents: ev["max"] ?? 0,
    peakUsedBytes: readCgNumber(cg, "memory.peak") ?? 0,
    timing,
    limits: { max: finiteOrNull(readCgNumber(cg, "memory.max")), high: finiteOrNull(readCgNumber(cg, "memory.high")) },
  };
}

const CDF_QS = [...Array.from({ length: 50 }, (_, i) => i / 50), 0.97, 0.98, 0.99, 0.995, 0.999, 1];

function finiteOrNull(x: number | null): number | null {
  return x !== null && Number.isFinite(x) ? x : null;
}
