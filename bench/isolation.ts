// The isolation experiment: several agents replay their traces concurrently
// under one memory budget (memory.max of a parent cgroup), once per setup and
// seed, for one or more trace combinations (bench/plan.ts COMBOS):
//
//   alone   the high-priority agent by itself (the reference for its slowdown)
//   none    no per-agent control, only the shared budget
//   static  every agent capped (memory.max) at its own trace's peak: a container limit
//   hints   the high-priority agent unlimited, the others with a fixed memory.high
//           (the published prototype's setup)
//   oomd    an oomd-like killer in this driver: when the budget's usage or
//           pressure crosses a threshold, kill the largest low-priority agent
//           cgroup (what users would otherwise deploy; OomdKiller)
//   policy:FILE  a compiled policy enforced by acgd, every tool call started
//           through acgd's API as `acg run` does (AcgLauncher)
//
// Runs as root where cgroup v2 has the memory controller (the guest):
//   node dist/bench/isolation.js --combo aligned-3[,gentle-3,..] [--seeds 1,2,3] [--setups none,static,...]
//        [--speed 10] [--scale 1/8] [--max-seconds 60] [--plans-dir DIR] [--out-dir DIR] [--traces DIR]
//
// Setups run outermost, so that each policy's acgd starts once for all the
// combinations (it follows the budget's memory.max from one to the next);
// each combination's results go to OUT_DIR/isolation-COMBO.json, written
// again after every setup.
//
// This file is the command line and the order of the runs; the rest of the
// experiment is in the files it names: isolation-options.ts (the options),
// isolation-budget.ts (the budget, caps and process overhead), the setups'
// launchers (isolation-launcher.ts, -baselines.ts, -oomd.ts, -acgd.ts), one
// run (isolation-run.ts) and what it says (isolation-outcome.ts), and the
// results' records (isolation-records.ts).

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { memoryControllerAvailable, removeCgTree } from "./cgroupfs.js";
import { AcgLauncher, policyCannotRun } from "./isolation-acgd.js";
import { CgroupLauncher } from "./isolation-baselines.js";
import { budgetFor, maxConcurrentProcesses, measureProcessOverhead, type AgentOverhead } from "./isolation-budget.js";
import { BENCH_CGROUP, makeBinDir, type Launcher } from "./isolation-launcher.js";
import { parseArgs, plansFileName, plansFor, type IsolationOptions } from "./isolation-options.js";
import type { IsolationResult, RunResult } from "./isolation-records.js";
import { runSetup } from "./isolation-run.js";
import type { ComboPlans } from "./plan.js";
import { restoreDefaultScheduler } from "./sched-ext.js";

const MiB = 1024 * 1024;

/** One combination as it runs: its plans, the overheads measured for its agents, its budget, its results so far. */
interface ComboRun {
  cp: ComboPlans;
  overhead: AgentOverhead;
  agentOverheadBytes: Record<string, number>;
  budgetBytes: number;
  runs: RunResult[];
  skipped: { setup: string; reason: string }[];
}

export async function runIsolation(
  o: IsolationOptions,
  log: (s: string) => void = (s) => process.stderr.write(s + "\n"),
  written: (r: IsolationResult) => void = () => {},
): Promise<IsolationResult[]> {
  if (!memoryControllerAvailable())
    throw new Error("cgroup v2 has no memory controller here: run this in the guest (scripts/guest-run.sh)");
  if (!existsSync(o.allocBin)) throw new Error(`allocator not built: ${o.allocBin} (run bench/alloc/build.sh)`);
  rmSync(o.workDir, { recursive: true, force: true });
  const binDir = join(o.workDir, "bin");
  // Setups without a policy run on the kernel's own scheduler, whatever ran before.
  await restoreDefaultScheduler();
  const perProcess = await measureProcessOverhead(o.allocBin, o.workDir);
  const combos: ComboRun[] = o.combos.map((combo) => {
    const cp: ComboPlans = o.plansDir
      ? (JSON.parse(readFileSync(join(o.plansDir, plansFileName(combo)), "utf8")) as ComboPlans)
      : plansFor(combo, o);
    for (const plan of cp.plans) makeBinDir(plan, binDir, o.allocBin);
    // The same agents (runs) in every seed; only the alignment and the high-priority agent change.
    const agentOverheadBytes: Record<string, number> = {};
    for (const plan of cp.plans)
      for (const a of plan.agents)
        agentOverheadBytes[a.id] = Math.max(agentOverheadBytes[a.id] ?? 0, perProcess * maxConcurrentProcesses(a));
    const overhead: AgentOverhead = (a) => agentOverheadBytes[a.id] ?? perProcess * maxConcurrentProcesses(a);
    const budgetBytes = budgetFor(cp, o.scale, Object.values(agentOverheadBytes));
    log(
      `isolation: ${cp.combo.name}: a replay process holds ${(perProcess / 1024).toFixed(0)} KiB on its own; ` +
        `budget ${(budgetBytes / MiB).toFixed(1)} MiB ` +
        `(${cp.combo.budgetFraction} of the ${cp.combo.budgetBasis}, scaled, plus the processes' overhead)`,
    );
    return { cp, overhead, agentOverheadBytes, budgetBytes, runs: [], skipped: [] };
  });
  const date = new Date().toISOString();
  const result = (c: ComboRun): IsolationResult => isolationResult(c, o, perProcess, date);
  for (const setup of o.setups) {
    // One acgd per policy for every combination: it follows the budget from one to the next.
    const acg = setup.startsWith("policy:") ? new AcgLauncher(setup.slice("policy:".length), o, binDir) : null;
    for (const c of combos) {
      const { cp } = c;
      if (acg) {
        const reason = await policyCannotRun(acg.policy, cp.combo.agents);
        if (reason) {
          log(`isolation: ${cp.combo.name}: ${setup} skipped: ${reason}`);
          c.skipped.push({ setup, reason });
          continue;
        }
      }
      const launcher: Launcher = acg ?? new CgroupLauncher(setup as CgroupLauncher["name"], c.overhead, binDir);
      for (const [i, plan] of cp.plans.entries()) {
        const only = setup === "alone" ? plan.agents.filter((a) => a.highPriority) : undefined;
        log(`isolation: ${cp.combo.name} seed ${plan.seed}: ${launcher.name}...`);
        try {
          const r = await runSetup(plan, launcher, c.budgetBytes, o, i === 0, only);
          r.combo = cp.combo.name;
          c.runs.push(r);
          log(summarizeRun(r));
        } catch (e) {
          log(`  failed: ${e instanceof Error ? e.message : String(e)}`);
          await launcher.cleanup().catch(() => {});
          if (acg) break;
        }
      }
      if (!acg) await launcher.shutdown().catch((e) => log(`  shutdown: ${e instanceof Error ? e.message : String(e)}`));
    }
    await acg?.shutdown().catch((e) => log(`  shutdown: ${e instanceof Error ? e.message : String(e)}`));
    // Written after every setup: a guest that dies later loses only the setups after this one.
    for (const c of combos) written(result(c));
  }
  removeCgTree(BENCH_CGROUP);
  return combos.map(result);
}

function summarizeRun(r: RunResult): string {
  const eps = r.oomEpisodes;
  const survived = `${r.agents.filter((a) => a.survived).length}/${r.agents.length}`;
  const highLost = r.agents.some((a) => a.high && !a.survived) ? " (high-priority agent lost)" : "";
  const kills = r.agents.reduce((x, a) => x + a.callsRuntimeKilled, 0);
  const lost = r.agents.reduce((x, a) => x + a.workLostS, 0).toFixed(0);
  const lag = r.replayLag === null ? "?" : `${(100 * r.replayLag).toFixed(1)}%`;
  return (
    `  ${r.wallS.toFixed(1)} s; survived ${survived}${highLost}; kernel OOM episodes ${eps ? eps.length : "?"}; ` +
    `runtime kills ${kills}; work lost ${lost} trace-s; lag ${lag}${r.rejected ? " REJECTED" : ""}` +
    (r.errors.length ? `; ${r.errors.length} error(s): ${r.errors.slice(0, 3).join(" | ")}` : "")
  );
}

function isolationResult(c: ComboRun, o: IsolationOptions, perProcess: number, date: string): IsolationResult {
  const { combos: _c, outDir: _o, workDir: _w, allocBin: _a, plansDir: _p, ...options } = o;
  const { cp } = c;
  return {
    kind: "isolation",
    date,
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    combo: cp.combo,
    options: { ...options, combo: cp.combo.name },
    budgetBasisBytes: cp.budgetBasisBytes,
    budgetBytes: c.budgetBytes,
    processOverheadBytes: perProcess,
    agentOverheadBytes: c.agentOverheadBytes,
    plans: cp.plans.map((plan) => ({
      seed: plan.seed,
      span: plan.span,
      concurrentPeakBytes: plan.concurrentPeakBytes,
      sumOfPeaksBytes: plan.sumOfPeaksBytes,
      agents: plan.agents.map((a) => ({
        id: a.id,
        run: a.run,
        high: a.highPriority,
        delay: a.delay,
        duration: a.duration,
        peakBytes: a.peakBytes,
        medianBytes: a.medianBytes,
        calls: a.calls.length,
        callFamilies: a.calls.reduce<Record<string, number>>((m, c) => ((m[c.family] = (m[c.family] ?? 0) + 1), m), {}),
      })),
    })),
    runs: c.runs,
    skipped: c.skipped,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  try {
    const o = parseArgs(process.argv.slice(2));
    mkdirSync(o.outDir, { recursive: true });
    const write = (r: IsolationResult) =>
      writeFileSync(
        join(o.outDir, `isolation-${r.combo.name}.json`),
        JSON.stringify(r, (_k, v) => (typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v)) + "\n",
      );
    const rs = await runIsolation(o, undefined, write);
    for (const r of rs) process.stderr.write(`isolation: wrote ${join(o.outDir, `isolation-${r.combo.name}.json`)}\n`);
  } catch (e) {
    process.stderr.write(`isolation: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
