// The isolation experiment's part of REPORT.md: per trace combination and
// setup, survival with Wilson 95% intervals, kernel OOM episodes, runtime and
// baseline kills, work lost and the high-priority agent's allocation latency
// (surviving runs only), then issue 10's bar, target by target, met or missed
// and why, from these figures alone.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { IsolationResult, RunResult } from "./isolation-records.js";
import { machineLag, MAX_REPLAY_LAG, rejectedForLag, separated, wilson, type Proportion } from "./replay-stats.js";
import { quantile } from "../traces/read.js";

const MiB = 1024 * 1024;
const f = (x: number | null | undefined, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(d));
const ci = (p: Proportion) => (p.n === 0 ? "–" : `${p.k}/${p.n} (${f(100 * p.p, 0)}%, ${f(100 * p.lo, 0)}–${f(100 * p.hi, 0)}%)`);
const BASELINES = ["none", "static", "hints", "oomd"];

/** The isolation results of this experiment (isolation-COMBO.json); files of another format are named, not used. */
export function loadIsolation(dir: string): { results: IsolationResult[]; ignored: string[] } {
  const results: IsolationResult[] = [];
  const ignored: string[] = [];
  for (const n of readdirSync(dir)
    .filter((x) => /^isolation(-.+)?\.json$/.test(x))
    .sort()) {
    try {
      const r = JSON.parse(readFileSync(join(dir, n), "utf8")) as IsolationResult;
      if (r.kind === "isolation" && r.combo && Array.isArray(r.runs) && Array.isArray(r.plans)) results.push(r);
      else ignored.push(n);
    } catch {
      ignored.push(n);
    }
  }
  return { results, ignored };
}

/** One setup's pooled figures in one combination, over its runs that were not rejected for lag. */
export interface Cell {
  setup: string;
  runs: number;
  rejected: number;
  /** Runs in which some agent never started (its process could not be spawned, or acgd refused it): a failure of the run, not a result. */
  notCarriedOut: number;
  timedOut: number;
  agents: Proportion;
  high: Proportion;
  /** Kernel OOM episodes over all valid runs; null when some run's kernel log could not be read. */
  oomEpisodes: number | null;
  oomVictims: number | null;
  highOomVictims: number | null;
  /** Of oomVictims, those of an agent acgd's ladder also killed in that run (whole, or a call of it): its kill came too late. */
  oomVictimsAlsoKilled: number | null;
  runtimeKills: number;
  /** Agents killed whole: by the oomd-like killer, or by acgd's ladder (kill_agent). */
  wholeKills: number;
  /** Mean per run, trace seconds. */
  workLostS: number;
  /** Median over valid runs where the high-priority agent survived of its P95 allocation latency (µs). */
  highP95Us: number;
  highP95Runs: number;
}

/**
 * A run judged by today's lag rule ({@link machineLag}), whatever rule the
 * driver that recorded it applied: the per-agent figures it rests on are in
 * the results.
 */
export function judged(r: RunResult): RunResult {
  const replayLag = machineLag(r.agents);
  return { ...r, replayLag, rejected: rejectedForLag(replayLag) };
}

/**
 * The agents (plan ids) acgd's ladder killed in a run, whole or a call of them, from its `killed` actions:
 * "killed agent TENANT/AGENT-rN whole" and "killed CALL of agent TENANT/AGENT-rN" (bench/isolation-acgd.ts names them).
 */
function ladderKilledAgents(r: RunResult): Set<string> {
  const ids = new Set<string>();
  for (const a of r.runtimeActions ?? []) {
    const m = a.kind === "killed" ? /killed (?:agent|\S+ of agent) [^/\s]+\/(\S+?)-r\d+\b/.exec(a.message) : null;
    if (m) ids.add(m[1]!);
  }
  return ids;
}

export function cell(runs: RunResult[], setup: string): Cell | null {
  const all = runs.filter((r) => r.setup === setup).map(judged);
  if (!all.length) return null;
  const carried = all.filter((r) => r.agents.every((a) => a.ran));
  const ok = carried.filter((r) => !r.rejected);
  const ag = ok.flatMap((r) => r.agents);
  const highs = ok.map((r) => r.agents.find((a) => a.high)).filter((a) => a !== undefined);
  const logs = ok.every((r) => r.oomEpisodes !== null);
  const p95 = highs.filter((a) => a.survived && a.latency.n > 0).map((a) => a.latency.p95Us);
  return {
    setup,
    runs: ok.length,
    rejected: carried.length - ok.length,
    notCarriedOut: all.length - carried.length,
    timedOut: ok.filter((r) => r.timedOut).length,
    agents: wilson(ag.filter((a) => a.survived).length, ag.length),
    high: wilson(highs.filter((a) => a.survived).length, highs.length),
    oomEpisodes: logs ? ok.reduce((s, r) => s + r.oomEpisodes!.length, 0) : null,
    oomVictims: logs ? ok.reduce((s, r) => s + r.oomEpisodes!.reduce((x, e) => x + e.victims.length, 0), 0) : null,
    highOomVictims: logs
      ? ok.reduce((s, r) => s + r.oomEpisodes!.reduce((x, e) => x + e.victims.filter((v) => v.high).length, 0), 0)
      : null,
    oomVictimsAlsoKilled: logs
      ? ok.reduce((s, r) => {
          const killed = ladderKilledAgents(r);
          return s + r.oomEpisodes!.reduce((x, e) => x + e.victims.filter((v) => v.agent !== null && killed.has(v.agent)).length, 0);
        }, 0)
      : null,
    runtimeKills: ag.reduce((s, a) => s + a.callsRuntimeKilled, 0),
    wholeKills: ag.filter((a) => a.baselineKilled || a.runtimeKilledWhole).length,
    workLostS: ok.length ? ok.reduce((s, r) => s + r.agents.reduce((x, a) => x + a.workLostS, 0), 0) / ok.length : NaN,
    highP95Us: quantile(p95, 0.5),
    highP95Runs: p95.length,
  };
}

export type Verdict = { target: string; status: "met" | "missed" | "not measured"; why: string };

/**
 * Issue 10's bar for one policy in one combination: the high-priority agent
 * survives every run; no kernel OOM kill; agent survival at least the best
 * baseline's; the high-priority agent's P95 allocation latency at most 0.7x
 * no control's; work lost below the oomd-like killer's.
 */
export function bar(runs: RunResult[], policy: string): Verdict[] {
  const p = cell(runs, policy);
  const out: Verdict[] = [];
  if (!p || p.runs === 0)
    return [
      {
        target: "all",
        status: "not measured",
        why: !p
          ? "did not run"
          : `no valid run: ${p.rejected} rejected for replay lag, ${p.notCarriedOut} not carried out (an agent could not start)`,
      },
    ];
  out.push(
    p.high.k === p.high.n
      ? {
          target: "high-priority agent survives every run",
          status: "met",
          why: `${p.high.k}/${p.high.n} runs (95% interval ${f(100 * p.high.lo, 0)}–100%)`,
        }
      : {
          target: "high-priority agent survives every run",
          status: "missed",
          why:
            `${p.high.n - p.high.k} of ${p.high.n} runs lost it` +
            (p.highOomVictims ? ` (${p.highOomVictims} of its processes killed by the kernel's OOM killer)` : ""),
        },
  );
  out.push(
    p.oomEpisodes === null
      ? { target: "no kernel OOM kill", status: "not measured", why: "the kernel log could not be read in some run" }
      : p.oomEpisodes === 0
        ? {
            target: "no kernel OOM kill",
            status: "met",
            why: `0 episodes in ${p.runs} runs${p.runtimeKills ? ` (the runtime killed ${p.runtimeKills} call(s) instead)` : ""}`,
          }
        : {
            target: "no kernel OOM kill",
            status: "missed",
            why:
              `${p.oomEpisodes} episode(s), ${p.oomVictims} process(es) killed, in ${p.runs} runs` +
              (p.oomVictimsAlsoKilled
                ? `; ${p.oomVictimsAlsoKilled} of them of an agent the ladder killed in the same run (whole or a call): ` +
                  `the kernel got there first`
                : ""),
          },
  );
  const bases = BASELINES.map((b) => cell(runs, b)).filter((c): c is Cell => !!c && c.runs > 0);
  if (!bases.length) out.push({ target: "agent survival ≥ the best baseline's", status: "not measured", why: "no baseline ran" });
  else {
    const best = bases.reduce((m, c) => (c.agents.p > m.agents.p ? c : m));
    const sep = separated(p.agents, best.agents);
    out.push({
      target: "agent survival ≥ the best baseline's",
      status: p.agents.p >= best.agents.p ? "met" : "missed",
      why:
        `${ci(p.agents)} vs ${best.setup} ${ci(best.agents)}; ` +
        `${sep ? "the intervals do not overlap" : "the intervals overlap: these runs cannot tell the two apart"}` +
        // An agent stalled until the run's time limit is not dead, but it did not finish either.
        (best.timedOut > p.timedOut
          ? `; ${best.setup} ran ${best.timedOut} of its ${best.runs} runs to the time limit, where agents it stalled count as surviving`
          : ""),
    });
  }
  const none = cell(runs, "none");
  if (!none || none.highP95Runs === 0 || p.highP95Runs === 0)
    out.push({
      target: "high-priority P95 allocation latency ≤ 0.7× no control's",
      status: "not measured",
      why: !none
        ? "no `none` runs"
        : none.highP95Runs === 0
          ? "the high-priority agent survived no `none` run, so there is no latency to compare with (latencies count surviving agents only)"
          : "the high-priority agent survived no run of this policy",
    });
  else {
    const ratio = p.highP95Us / none.highP95Us;
    // The agent by itself is the floor no setup goes below: where it is above 0.7x, contention is not what costs latency here.
    const alone = cell(runs, "alone");
    const aloneRatio = alone && alone.highP95Runs > 0 ? alone.highP95Us / none.highP95Us : null;
    out.push({
      target: "high-priority P95 allocation latency ≤ 0.7× no control's",
      status: ratio <= 0.7 ? "met" : "missed",
      why:
        `${f(p.highP95Us / 1000, 2)} ms vs ${f(none.highP95Us / 1000, 2)} ms (${f(ratio, 2)}×; ` +
        `medians over ${p.highP95Runs} and ${none.highP95Runs} runs where it survived)` +
        (aloneRatio === null
          ? ""
          : `; the agent alone on the machine: ${f(alone!.highP95Us / 1000, 2)} ms (${f(aloneRatio, 2)}×)` +
            (aloneRatio > 0.7 ? ": 0.7× is below what it takes with no other agent at all, out of any setup's reach here" : "")),
    });
  }
  const oomd = cell(runs, "oomd");
  if (!oomd || oomd.runs === 0)
    out.push({ target: "work lost below the oomd-like killer's", status: "not measured", why: "the oomd setup did not run" });
  else
    out.push({
      target: "work lost below the oomd-like killer's",
      // Neither losing any work is as good as the target can be: there is nothing to be below.
      status: p.workLostS < oomd.workLostS || (p.workLostS === 0 && oomd.workLostS === 0) ? "met" : "missed",
      why:
        `${f(p.workLostS, 1)} vs ${f(oomd.workLostS, 1)} trace-seconds per run` +
        (p.workLostS === 0 && oomd.workLostS === 0 ? " (neither lost any work)" : "") +
        // Work lost counts calls: an agent killed whole loses its calls not yet started, not its own processes' work.
        (p.workLostS >= oomd.workLostS && oomd.wholeKills > p.wholeKills
          ? `; the oomd-like killer killed ${oomd.wholeKills} agent(s) whole (agents surviving ${ci(oomd.agents)}), ` +
            `the policy ${p.wholeKills} and ${p.runtimeKills} call(s): an agent killed whole costs only its calls not yet ` +
            `started, none of its own processes' work`
          : ""),
    });
  return out;
}

export function isolationSection(results: IsolationResult[], ignored: string[]): string[] {
  const md: string[] = [];
  md.push("## 2. The isolation experiment", "");
  if (ignored.length)
    md.push(`_Not used: ${ignored.join(", ")} (not results of this experiment's format; a fresh \`npm run bench\` removes them)._`, "");
  if (!results.length) {
    md.push("_No isolation results: it runs in the guest kernel; `npm run bench -- --only isolation` (or `--quick`)._", "");
    return md;
  }
  const r0 = results[0]!;
  const o = r0.options;
  const hugePages = o.hugepage ? " on transparent huge pages where the guest has them" : "";
  const faultedIn = o.touch ? "faulted in page by page" : `faulted in with \`MADV_POPULATE_WRITE\`${hugePages}`;
  md.push(
    `Kernel \`${r0.kernel}\` (qemu guest, TCG, 2 vCPUs, no swap). Agents replay their traces ` +
      `concurrently under one budget (\`memory.max\` of their parent cgroup, no swap), each with ` +
      `one process for the agent itself and one per Bash tool call, ${o.speed}× faster than the ` +
      `trace and memory scaled 1/${f(1 / o.scale, 0)}, each trace cut to ${o.maxSeconds} trace ` +
      `seconds around its peak; allocation steps of ${o.chunkBytes / 1024} KiB, ` +
      `${faultedIn}. ` +
      "Agents' peaks are aligned ± a seeded jitter; the high-priority agent rotates with the " +
      "seed (agent (seed − 1) mod n). A run is **rejected** when the emulator, not the setup, " +
      "made it late: when even the least-delayed agent that carried out its whole trace " +
      `(survived, finished, nothing killed) ended more than ${f(100 * MAX_REPLAY_LAG, 0)}% later ` +
      "than its trace, beyond the time it was stalled on memory (a slow machine delays every " +
      "agent; a setup's throttle, freeze or hold only those it acts on, and that delay is the " +
      "setup's result); with no such agent, the most-delayed one decides; rejected runs are " +
      "counted and left out of every figure, as are runs in which some agent could not start at " +
      "all (not carried out: a failure of the run, e.g. acgd refusing its calls, not a result).",
    "",
  );
  md.push(
    "Setups: **alone** — the high-priority agent by itself under the same budget: the floor of " +
      "its latency (the latency target cites it; nothing else is compared with it); " +
      "**none** — only the shared budget; **static** — each agent's `memory.max` at its " +
      "own traced peak (+ its processes' overhead): a container limit; **hints** — the " +
      "high-priority agent unlimited, the others a fixed `memory.high` sharing what the budget " +
      "leaves (the published prototype); **oomd** — an oomd-like killer in the driver: every 100 " +
      "ms, when the budget's usage reaches 90% or its memory pressure (some avg10) 10%, it kills " +
      "the low-priority agent cgroup using the most memory, then waits 1 s (faster than " +
      "systemd-oomd's defaults, so generous to the baseline); **policy:NAME** — a policy " +
      "enforced by acgd (scaled to the replay), `policies/` shipped, `bench/policies/` written " +
      "for these budgets.",
    "",
  );
  md.push(
    "Definitions: an agent **survives** when none of its processes is killed by the kernel's " +
      "OOM killer and neither the baseline killer nor acgd's `kill_agent` step killed it whole " +
      "(each ends the agent: its later calls never start). A **runtime kill** is a call that " +
      "acgd killed and reported to the agent, which goes on: counted apart, not as a death. **Work lost**: trace seconds of " +
      "every killed call plus every call never started. **Kernel OOM episodes**: invocations of " +
      "the OOM killer in the run, from the guest's kernel log (`dmesg`), with their victims. " +
      "**High P95**: the high-priority agent's 95th percentile allocation-step latency, over " +
      "runs where it survived only.",
    "",
  );
  for (const r of results) {
    const c = r.combo;
    const plan = r.plans[0]!;
    md.push(`### ${c.name}: ${c.regime === "aligned" ? "aligned big bursts" : "the prototype's gentler mix"}, ${c.agents} agents`, "");
    const basis =
      c.budgetBasis === "concurrent-peak" ? "largest concurrent total of the traces (aligned, no jitter)" : "sum of the agents' peaks";
    const perAgent = Object.entries(r.agentOverheadBytes)
      .map(([k, v]) => `${k} ${f(v / 1024, 0)} KiB`)
      .join(", ");
    md.push(
      `Budget ${f(r.budgetBytes / MiB, 1)} MiB = ${c.budgetFraction} × the ${basis} ` +
        `(${f(r.budgetBasisBytes / 1e6, 0)} MB traced, ${f((r.budgetBasisBytes * o.scale) / MiB, 1)} MiB scaled) ` +
        "+ the agents' process overhead. Overhead measured in the guest: an idle replay process holds " +
        `${f(r.processOverheadBytes / 1024, 0)} KiB; each agent is charged that × the most processes it runs at once ` +
        `(${perAgent}). Seeds ${r.plans.map((p) => p.seed).join(", ")}, ${r.date}.`,
      "",
    );
    md.push(
      mdTable(
        ["agent", "trace", "peak MB (traced)", "peak MiB (replayed)", "length (trace s)", "Bash calls", "high priority in seeds"],
        plan.agents.map((a) => [
          a.id,
          a.run,
          f(a.peakBytes / 1e6, 0),
          f((a.peakBytes * o.scale) / MiB, 1),
          f(a.duration, 0),
          `${a.calls}${
            a.calls
              ? ` (${Object.entries(a.callFamilies)
                  .map(([k, v]) => `${k} ${v}`)
                  .join(", ")})`
              : ""
          }`,
          r.plans
            .filter((p) => p.agents.find((x) => x.id === a.id)?.high)
            .map((p) => p.seed)
            .join(", ") || "–",
        ]),
      ),
      "",
    );
    const setups = [...new Set(r.runs.map((x) => x.setup))];
    const cells = setups.map((s) => cell(r.runs, s)!).filter(Boolean);
    md.push(
      mdTable(
        [
          "setup",
          "valid runs (rejected for lag; not carried out)",
          "agents surviving (95% interval)",
          "high-priority agent surviving",
          "kernel OOM episodes (victims; high-priority victims)",
          "runtime kills (calls)",
          "agents killed whole (oomd, or acgd's kill_agent)",
          "work lost, trace-s per run",
          "high P95 ms (runs)",
          "runs at the time limit",
        ],
        cells.map((x) => [
          x.setup,
          `${x.runs} (${x.rejected}; ${x.notCarriedOut})`,
          ci(x.agents),
          ci(x.high),
          x.oomEpisodes === null ? "log unreadable" : `${x.oomEpisodes} (${x.oomVictims}; ${x.highOomVictims})`,
          String(x.runtimeKills),
          String(x.wholeKills),
          f(x.workLostS, 1),
          `${f(x.highP95Us / 1000, 2)} (${x.highP95Runs})`,
          String(x.timedOut),
        ]),
      ),
      "",
    );
    const modes = [...new Map(r.runs.filter((x) => x.mode).map((x) => [x.setup, x.mode!])).entries()];
    if (modes.length) md.push("How the policy setups ran: " + modes.map(([k, v]) => `**${k}**: ${v}`).join("; ") + ".", "");
    for (const sk of r.skipped ?? []) md.push(`- **${sk.setup}** did not take part: ${sk.reason}.`);
    const runs = r.runs.map(judged);
    const lags = runs.map((x) => x.replayLag).filter((x): x is number => x !== null);
    md.push(
      `Replay lag over all runs: median ${f(100 * quantile(lags, 0.5), 1)}%, largest ` +
        `${f(100 * Math.max(...lags), 1)}%; ${runs.filter((x) => x.rejected).length} of ` +
        `${runs.length} runs rejected.`,
      "",
    );
  }
  // The bar.
  md.push("### The bar (issue 10), per policy and combination", "");
  const policies = [...new Set(results.flatMap((r) => r.runs.map((x) => x.setup)).filter((s) => s.startsWith("policy:")))];
  if (!policies.length) md.push("_No policy setup ran._", "");
  for (const p of policies) {
    md.push(`**${p}**`, "");
    const rows: string[][] = [];
    for (const r of results)
      for (const v of bar(r.runs, p))
        rows.push([r.combo.name, v.target, v.status === "met" ? "met" : v.status === "missed" ? "**missed**" : "not measured", v.why]);
    md.push(mdTable(["combination", "target", "", "from the data"], rows), "");
  }
  // What the intervals allow.
  const ns = results
    .flatMap((r) => [...new Set(r.runs.map((x) => x.setup))].map((s) => cell(r.runs, s)!))
    .filter((x) => x && x.agents.n > 0);
  if (ns.length) {
    const minN = Math.min(...ns.map((x) => x.agents.n));
    const maxN = Math.max(...ns.map((x) => x.agents.n));
    const allLo = wilson(maxN, maxN).lo;
    const highN = Math.max(...ns.map((x) => x.high.n));
    md.push(
      "### What these intervals allow one to conclude",
      "",
      `Each cell pools ${minN === maxN ? minN : `${minN}–${maxN}`} agent-runs (agents × valid ` +
        `seeds). With ${maxN}, a perfect score's 95% interval still reaches down to ` +
        `${f(100 * allLo, 0)}%, and the high-priority agent's ${highN} runs per cell bound its ` +
        `survival only to ≥ ${f(100 * wilson(highN, highN).lo, 0)}% when it survives all of them. ` +
        "Two setups differ, in this report, only where their intervals do not overlap (a " +
        `conservative reading); the bar's "from the data" column says so for survival. Smaller ` +
        "differences, and every latency figure from a few runs on an emulated CPU shared with " +
        "other work, are indications, not findings.",
      "",
    );
  }
  return md;
}

export function mdTable(headers: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  return [
    `| ${headers.map(esc).join(" | ")} |`,
    `|${headers.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}
