// One run of the isolation experiment: a setup (a Launcher) replays one
// plan's agents under the budget. Each agent's own process starts at its
// delay and its calls at their trace times, a sequential call waiting for the
// one before it (whose lateness it carries forward); a monitor samples memory
// for the timeline, a reaper stops what is left of an agent that failed, and
// the run is cut at its time limit. Then the kernel's OOM episodes and each
// agent's results are read; what a run is, is isolation-records.ts's.

import { setTimeout as sleep } from "node:timers/promises";
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllocLog } from "./alloc-log.js";
import { CGROUP_ROOT, readCgKeyed, readCgNumber, readPressure } from "./cgroupfs.js";
import { BENCH_CGROUP, type Launcher, type Spawned } from "./isolation-launcher.js";
import type { IsolationOptions } from "./isolation-options.js";
import type { AgentResult, OomEpisodeRecord, ProcRecord, RunResult } from "./isolation-records.js";
import { curveText, type AgentPlan, type ProcessPlan, type ReplayPlan } from "./plan.js";
import { machineLag, parseOomLog, rejectedForLag, workLostSeconds, type CallOutcome, type ProcessTiming } from "./replay-stats.js";
import { quantile } from "../traces/read.js";

const MiB = 1024 * 1024;

/** The kernel log since the last call, cleared (the guest is ours); null when it cannot be read. */
function takeKernelLog(): string | null {
  const r = spawnSync("dmesg", ["--read-clear"], { encoding: "utf8", maxBuffer: 64 * MiB });
  return r.status === 0 ? r.stdout : null;
}

export async function runSetup(
  plan: ReplayPlan,
  launcher: Launcher,
  budgetBytes: number,
  o: IsolationOptions,
  detail: boolean,
  only?: AgentPlan[],
): Promise<RunResult> {
  const errors: string[] = [];
  const agents = only ?? plan.agents;
  const logDir = join(o.workDir, "logs", `${launcher.name.replace(/[^A-Za-z0-9_-]/g, "_")}-s${plan.seed}`);
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const curveDir = join(o.workDir, "curves", `s${plan.seed}`);
  await launcher.prepare(plan, budgetBytes);
  if (takeKernelLog() === null) errors.push("dmesg --read-clear failed: kernel OOM episodes not counted");
  const procs: ProcRecord[] = [];
  const t0 = performance.now();
  const startedAtMs = Date.now();
  const now = () => (performance.now() - t0) / 1000;
  const minDelay = Math.min(...agents.map((a) => a.delay));
  const live = new Map<ChildProcess, ProcRecord>();
  const dead = new Set<string>();
  const agentDone: Promise<void>[] = [];
  const allocArgs = (name: string) => [
    "--curve",
    join(curveDir, `${name}.txt`),
    "--speed",
    String(plan.speed),
    "--scale",
    String(plan.scale),
    "--chunk",
    String(o.chunkBytes),
    "--touch",
    o.touch ? "1" : "0",
    "--hugepage",
    o.hugepage ? "1" : "0",
    "--out",
    join(logDir, `${name}.jsonl`),
    "--label",
    name,
  ];
  const startProc = async (a: AgentPlan, p: ProcessPlan, kind: "agent" | "call", index: number, planned: number): Promise<ProcRecord> => {
    const name = kind === "agent" ? `${a.id}-agent` : `${a.id}-call${index}`;
    const rec: ProcRecord = {
      agent: a.id,
      kind,
      index,
      family: p.family,
      pid: null,
      plannedStart: planned,
      start: now(),
      end: null,
      nominalS: (p.end - p.start) / plan.speed,
      traceS: p.end - p.start,
      status: "failed",
      exitCode: null,
      signal: null,
      latP50Us: null,
      steps: 0,
    };
    procs.push(rec);
    let child: ChildProcess;
    let done: Spawned["done"];
    try {
      const sp = await launcher.spawn(a, p, kind, index, allocArgs(name));
      child = sp.child;
      done = sp.done;
      if (sp.rule) rec.rule = sp.rule;
      if (sp.cls) rec.cls = sp.cls;
    } catch (e) {
      errors.push(`${name}: spawn failed: ${e instanceof Error ? e.message : String(e)}`);
      return rec;
    }
    rec.pid = child.pid ?? null;
    live.set(child, rec);
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    return new Promise((res) => {
      child.on("error", (e) => {
        errors.push(`${name}: ${e.message}`);
        live.delete(child);
        res(rec);
      });
      child.on("exit", (code, signal) => {
        live.delete(child);
        rec.end = now();
        rec.exitCode = code;
        rec.signal = signal;
        rec.status =
          code === 0 ? "completed" : signal === "SIGKILL" ? "oom-killed" : signal === "SIGTERM" || code === 143 ? "killed" : "failed";
        const settle = (killedBy: string | null) => {
          if (rec.status === "oom-killed" && killedBy) {
            rec.status = "runtime-killed";
            rec.killedBy = killedBy;
          } else if (rec.status === "oom-killed" && launcher.killedAgent?.(a)) rec.status = "baseline-killed";
          if (rec.status === "failed") errors.push(`${name}: exit ${code} ${signal ?? ""} ${stderr.trim().slice(0, 300)}`);
          const wholeKill = kind === "agent" && rec.status === "runtime-killed";
          if (rec.status === "oom-killed" || rec.status === "baseline-killed" || wholeKill) dead.add(a.id);
          res(rec);
        };
        if (done)
          done().then(
            (r) => settle(r?.killedBy ?? null),
            () => settle(null),
          );
        else settle(null);
      });
    });
  };
  for (const a of agents) {
    mkdirSync(curveDir, { recursive: true });
    writeFileSync(join(curveDir, `${a.id}-agent.txt`), curveText(a.base));
    a.calls.forEach((c, i) => writeFileSync(join(curveDir, `${a.id}-call${i}.txt`), curveText(c)));
  }
  // Monitor.
  const timeline: RunResult["timeline"] = [];
  let monitoring = true;
  const monitor = (async () => {
    while (monitoring) {
      if (detail)
        timeline.push({
          t: now(),
          used: agents.map((a) => readCgNumber(launcher.agentCgroup(a), "memory.current") ?? 0),
          parent: readCgNumber(launcher.parentCgroup(), "memory.current") ?? 0,
        });
      await sleep(o.sampleMs);
    }
  })();
  // Agents.
  for (const a of agents) {
    agentDone.push(
      (async () => {
        const startAt = (a.delay - minDelay) / plan.speed;
        await sleep(startAt * 1000);
        const base = startProc(a, a.base, "agent", 0, startAt);
        let shift = 0; // lateness of finished calls: the agent waits for each result
        const calls: Promise<ProcRecord>[] = [];
        let prevPlannedEnd = 0;
        for (let i = 0; i < a.calls.length; i++) {
          const c = a.calls[i]!;
          const prev = calls[calls.length - 1];
          // Sequential calls (the previous one ended before this one started in
          // the trace): wait for its result and carry its lateness forward.
          if (prev && a.calls[i - 1]!.end <= c.start) {
            const pr = await prev;
            if (pr.end !== null) shift += Math.max(0, pr.end - prevPlannedEnd);
          }
          if (dead.has(a.id)) break;
          const planned = startAt + c.start / plan.speed + shift;
          const wait = planned - now();
          if (wait > 0) await sleep(wait * 1000);
          if (dead.has(a.id)) break;
          prevPlannedEnd = planned + (c.end - c.start) / plan.speed;
          calls.push(startProc(a, c, "call", i, planned));
        }
        await Promise.all(calls);
        await base;
      })(),
    );
  }
  // Stop a failed agent's remaining processes (it has failed: nothing more of it runs).
  const reaper = (async () => {
    while (monitoring) {
      for (const [ch, r] of live) if (dead.has(r.agent)) ch.kill("SIGTERM");
      await sleep(100);
    }
  })();
  const limitS = (plan.span / plan.speed) * o.limitFactor + 5;
  const all = Promise.all(agentDone);
  let limitTimer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    all.then(() => false),
    new Promise<boolean>((r) => (limitTimer = setTimeout(() => r(true), limitS * 1000))),
  ]);
  clearTimeout(limitTimer);
  if (timedOut) {
    errors.push(`run did not finish within ${limitS.toFixed(0)} s; killing what is left`);
    for (const ch of live.keys()) ch.kill("SIGTERM");
    await Promise.race([all, sleep(5000)]);
  }
  const wallS = now();
  monitoring = false;
  await monitor;
  await reaper;
  // The kernel's OOM episodes, their victims mapped to agents by pid.
  const klog = takeKernelLog();
  const byPid = new Map(procs.filter((p) => p.pid !== null).map((p) => [p.pid!, p]));
  const oomEpisodes: OomEpisodeRecord[] | null =
    klog === null
      ? null
      : parseOomLog(klog)
          .filter(
            (e) =>
              (e.oomMemcg ?? e.taskMemcg ?? "").includes(BENCH_CGROUP.slice(CGROUP_ROOT.length)) || e.victims.some((v) => byPid.has(v.pid)),
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
  if (klog === null) errors.push("dmesg failed after the run: kernel OOM episodes not counted");
  // A SIGKILL the kernel log does not name, with the log read, was not the OOM killer's.
  if (oomEpisodes) {
    const victims = new Set(oomEpisodes.flatMap((e) => e.victims.map((v) => v.pid)));
    for (const p of procs)
      if (p.status === "oom-killed" && p.pid !== null && !victims.has(p.pid))
        errors.push(`${p.agent} ${p.kind} ${p.index}: SIGKILL not in the kernel's OOM reports`);
  }
  // Results per agent.
  const results: AgentResult[] = agents.map((a) => {
    const cg = launcher.agentCgroup(a);
    const ev = readCgKeyed(cg, "memory.events");
    const psi = readPressure(cg);
    const mine = procs.filter((p) => p.agent === a.id);
    const lats: number[] = [];
    let timing: ProcessTiming | null = null;
    for (const p of mine) {
      const name = p.kind === "agent" ? `${a.id}-agent` : `${a.id}-call${p.index}`;
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
  });
  const parentEvents = readCgKeyed(launcher.parentCgroup(), "memory.events");
  const runtimeActions = await launcher.runtimeActions?.(startedAtMs);
  await launcher.cleanup();
  const lag = machineLag(results);
  return {
    setup: launcher.name,
    combo: "",
    seed: plan.seed,
    budgetBytes,
    wallS,
    agents: results,
    procs: detail ? procs : [],
    timeline,
    parentEvents,
    oomEpisodes,
    replayLag: lag,
    rejected: rejectedForLag(lag),
    ...(launcher.mode ? { mode: launcher.mode } : {}),
    ...(runtimeActions ? { runtimeActions } : {}),
    timedOut,
    limitS,
    errors,
  };
}

const CDF_QS = [...Array.from({ length: 50 }, (_, i) => i / 50), 0.97, 0.98, 0.99, 0.995, 0.999, 1];

function finiteOrNull(x: number | null): number | null {
  return x !== null && Number.isFinite(x) ? x : null;
}
