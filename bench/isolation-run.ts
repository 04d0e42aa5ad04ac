// One run of the isolation experiment: a setup (a Launcher) replays one
// plan's agents under the budget. Each agent's own process starts at its
// delay and its calls at their trace times, a sequential call waiting for the
// one before it (whose lateness it carries forward); a monitor samples memory
// for the timeline, a reaper stops what is left of an agent that failed, and
// the run is cut at its time limit. What the finished run says is read by
// isolation-outcome.ts; what a run is, is isolation-records.ts's.

import { setTimeout as sleep } from "node:timers/promises";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCgKeyed, readCgNumber } from "./cgroupfs.js";
import type { Launcher, Spawned } from "./isolation-launcher.js";
import type { IsolationOptions } from "./isolation-options.js";
import { agentResult, kernelOomEpisodes, processLabel, takeKernelLog, unreportedKills } from "./isolation-outcome.js";
import type { ProcRecord, RunResult } from "./isolation-records.js";
import { curveText, type AgentPlan, type ProcessPlan, type ReplayPlan } from "./plan.js";
import { machineLag, rejectedForLag } from "./replay-stats.js";

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
    const name = processLabel(a.id, kind, index);
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
    writeFileSync(join(curveDir, `${processLabel(a.id, "agent", 0)}.txt`), curveText(a.base));
    a.calls.forEach((c, i) => writeFileSync(join(curveDir, `${processLabel(a.id, "call", i)}.txt`), curveText(c)));
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
  const oomEpisodes = klog === null ? null : kernelOomEpisodes(klog, procs, agents);
  if (klog === null) errors.push("dmesg failed after the run: kernel OOM episodes not counted");
  if (oomEpisodes) errors.push(...unreportedKills(oomEpisodes, procs));
  const results = agents.map((a) => agentResult(a, { plan, launcher, procs, logDir, detail, timedOut, dead, limitS, wallS }));
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
