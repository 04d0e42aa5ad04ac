// The isolation experiment's results as bench/results/isolation-COMBO.json
// holds them: a record per process, per agent and per run, and the file
// around them. The report (report-isolation.ts) and the plots read these
// files long after the guest that wrote them, so each field's meaning is
// written here, once, apart from the code that fills it.

import type { IsolationOptions } from "./isolation-options.js";
import type { Combo } from "./plan.js";
import type { ProcessTiming } from "./replay-stats.js";

export interface ProcRecord {
  agent: string;
  kind: "agent" | "call";
  index: number;
  family: string;
  pid: number | null;
  /** Wall seconds after the run's start. */
  plannedStart: number;
  start: number;
  end: number | null;
  nominalS: number;
  /** Trace seconds of the process (for work lost). */
  traceS: number;
  /**
   * oom-killed: SIGKILL by the kernel's OOM killer (the agent fails);
   * runtime-killed: the runtime (acgd) killed the call and told the agent, which goes on; for the
   *   agent's own process, acgd's ladder killed the agent whole (kill_agent: the agent fails);
   * baseline-killed: the oomd-like killer killed the agent's cgroup (the agent fails);
   * killed: stopped by the driver (its agent had failed, or the time limit).
   */
  status: "completed" | "oom-killed" | "runtime-killed" | "baseline-killed" | "killed" | "failed";
  killedBy?: string;
  rule?: string;
  cls?: string;
  exitCode: number | null;
  signal: string | null;
  latP50Us: number | null;
  steps: number;
}

export interface AgentResult {
  id: string;
  run: string;
  high: boolean;
  /** Ran, and none of its processes was killed by the kernel's OOM killer, nor its cgroup by the oomd-like killer or acgd's kill_agent. */
  survived: boolean;
  /** Its own process started (false: refused or failed to start). */
  ran: boolean;
  /** All its processes ended before the run's time limit (a throttled agent may stall). */
  finished: boolean;
  /** Its processes the kernel OOM-killed (SIGKILL not sent by a runtime or the baseline killer; memory.events oom_kill). */
  oomKills: number;
  /** The oomd-like killer killed this agent. */
  baselineKilled: boolean;
  /** acgd's ladder killed this agent whole (kill_agent); absent in results recorded before that step existed. */
  runtimeKilledWhole?: boolean;
  callsPlanned: number;
  callsCompleted: number;
  /** Calls stopped by a kernel OOM kill, the baseline killer or the driver. */
  callsKilled: number;
  /** Calls the runtime killed (acgd: over_high kill, the ladder's kill): the agent is told and goes on. */
  callsRuntimeKilled: number;
  callsNotStarted: number;
  /** Trace seconds of killed calls plus calls never started. */
  workLostS: number;
  completionS: number | null;
  nominalS: number;
  slowdown: number | null;
  latency: { n: number; p50Us: number; p95Us: number; p99Us: number; maxUs: number };
  /** [quantile, microseconds] points of the allocation latency distribution. */
  latencyCdf: [number, number][];
  memStallSomeUs: number;
  memStallFullUs: number;
  /** memory.events "oom" of the agent cgroup: its own limit was hit (vs the shared budget's). */
  ownLimitOoms: number;
  highEvents: number;
  maxEvents: number;
  peakUsedBytes: number;
  /** The agent's own process against its trace (for the replay-lag check). */
  timing: ProcessTiming | null;
  limits: { max: number | null; high: number | null };
}

export interface OomEpisodeRecord {
  oomMemcg: string | null;
  group: boolean;
  victims: { pid: number; comm: string; agent: string | null; high: boolean }[];
}

export interface RunResult {
  setup: string;
  combo: string;
  seed: number;
  budgetBytes: number;
  wallS: number;
  agents: AgentResult[];
  /** Kept for the first seed only (plots); later seeds keep the per-agent figures. */
  procs: ProcRecord[];
  /** Samples: t (s), per-agent used bytes, parent used. First seed only. */
  timeline: { t: number; used: number[]; parent: number }[];
  parentEvents: Record<string, number>;
  /** The kernel's OOM episodes during the run, from its log; null when the log could not be read. */
  oomEpisodes: OomEpisodeRecord[] | null;
  /** The replay's own lag behind its trace (fraction; replay-stats.ts replayLag). */
  replayLag: number | null;
  /** Lag over MAX_REPLAY_LAG: the run's timing is not the trace's; left out of the pooled figures. */
  rejected: boolean;
  /** How the setup was enforced (policy setups). */
  mode?: string;
  /** What acgd's ladder did during the run (its pressure and killed events), t in s from the run's start: the why of each kill. */
  runtimeActions?: RuntimeAction[];
  /** The run hit its time limit (limitS) and what was left was stopped. */
  timedOut: boolean;
  limitS: number;
  errors: string[];
}

export interface PlanSummary {
  seed: number;
  span: number;
  concurrentPeakBytes: number;
  sumOfPeaksBytes: number;
  agents: {
    id: string;
    run: string;
    high: boolean;
    delay: number;
    duration: number;
    peakBytes: number;
    medianBytes: number;
    calls: number;
    callFamilies: Record<string, number>;
  }[];
}

export interface IsolationResult {
  kind: "isolation";
  date: string;
  kernel: string;
  combo: Combo;
  options: Omit<IsolationOptions, "combos" | "outDir" | "workDir" | "allocBin" | "plansDir"> & { combo: string };
  budgetBasisBytes: number;
  budgetBytes: number;
  /** Measured memory of one idle replay process (binary, libc, stack, page tables), charged to its cgroup. */
  processOverheadBytes: number;
  /** Per agent: processOverheadBytes x the most processes it has at once. */
  agentOverheadBytes: Record<string, number>;
  plans: PlanSummary[];
  runs: RunResult[];
  /** Setups that could not take part, and why. */
  skipped?: { setup: string; reason: string }[];
}

export interface RuntimeAction {
  t: number;
  kind: string;
  message: string;
}
