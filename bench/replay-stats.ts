// The isolation experiment's statistics, kept apart from the guest driver so
// the host tests can check them: Wilson score intervals for survival, the work
// a run lost, the replay's lag behind its trace (a run that lags too much is
// rejected: its timing is the emulator's, not the trace's), and the kernel's
// OOM reports read from its log.

/** A proportion k/n with its Wilson score interval (z = 1.96: 95%). */
export interface Proportion {
  k: number;
  n: number;
  /** k/n; NaN when n = 0. */
  p: number;
  lo: number;
  hi: number;
}

/**
 * Wilson score interval of k successes in n trials. Unlike the normal
 * approximation it stays inside [0, 1] and is not degenerate at 0/n or n/n,
 * which is where survival counts sit.
 */
export function wilson(k: number, n: number, z = 1.959964): Proportion {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || n < 0 || k > n)
    throw new Error(`wilson: need integers 0 <= k <= n, got ${k}/${n}`);
  if (n === 0) return { k, n, p: NaN, lo: 0, hi: 1 };
  const p = k / n;
  const z2 = z * z;
  const den = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / den;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / den;
  // At k = 0 or k = n the exact bound is 0 or 1; rounding must not move it.
  return { k, n, p, lo: k === 0 ? 0 : Math.max(0, centre - half), hi: k === n ? 1 : Math.min(1, centre + half) };
}

/** Two intervals that do not overlap: the data separate the proportions (a conservative test). */
export function separated(a: Proportion, b: Proportion): boolean {
  return a.hi < b.lo || b.hi < a.lo;
}

/** What happened to one planned process, as far as work lost is concerned. */
export interface CallOutcome {
  /** Trace seconds the call took in the trace. */
  traceSeconds: number;
  /** completed; killed (kernel OOM, the runtime, a baseline killer or the time limit); not-started (its agent had failed). */
  outcome: "completed" | "killed" | "not-started" | "failed";
}

/**
 * Work lost, in trace seconds: the whole traced length of every call that was
 * killed (its result is gone: the agent must run it again) plus that of every
 * call that never started because its agent had failed.
 */
export function workLostSeconds(calls: CallOutcome[]): number {
  return calls.reduce((s, c) => s + (c.outcome === "killed" || c.outcome === "not-started" ? c.traceSeconds : 0), 0);
}

/** How far one replay process fell behind its curve, from acg-alloc's summary. */
export interface ProcessTiming {
  /** The curve's own length at the replay's speed (ms). */
  nominalMs: number;
  /** From its start to its last point (ms). */
  durationMs: number;
  /** Time its cgroup's tasks waited on memory meanwhile (PSI "some", ms): lag the setup caused, not the replay. */
  memStallMs: number;
}

/**
 * The replay's own lag: how much longer than nominal a process that only
 * follows its trace took, less the time it was stalled on memory (that is the
 * setup's doing: throttling, a freeze). Measured on the agents' own processes,
 * which run the whole replay. Returns the largest fraction (0.1 = 10% late),
 * or null with nothing to measure.
 */
export function replayLag(timings: ProcessTiming[]): number | null {
  let worst: number | null = null;
  for (const t of timings) {
    if (!(t.nominalMs > 0) || Number.isNaN(t.durationMs)) continue;
    // Infinity: a process that made no progress at all.
    const lag = t.durationMs === Infinity ? Infinity : Math.max(0, t.durationMs - t.nominalMs - Math.max(0, t.memStallMs)) / t.nominalMs;
    worst = worst === null ? lag : Math.max(worst, lag);
  }
  return worst;
}

/** What {@link machineLag} needs of an agent's result. */
export interface LagSample {
  timing: ProcessTiming | null;
  survived: boolean;
  finished: boolean;
  callsKilled: number;
  callsRuntimeKilled: number;
  callsNotStarted: number;
}

/**
 * The machine's lag in one run: the least {@link replayLag} among the agents
 * that carried out their whole trace (survived, finished, no call killed or
 * left unstarted). A slow emulator delays every agent alike; a setup's
 * throttle, freeze or scheduler hold delays the agents it acts on, and that
 * delay is the setup's result, not the machine's (PSI does not count a
 * frozen or held task as stalled on memory, so the per-agent lag cannot
 * tell the two apart). With no such agent, the worst lag of all: the
 * conservative reading.
 */
export function machineLag(agents: LagSample[]): number | null {
  const lagOf = (a: LagSample) => (a.timing ? replayLag([a.timing]) : null);
  const clean = agents
    .filter((a) => a.survived && a.finished && a.callsKilled === 0 && a.callsRuntimeKilled === 0 && a.callsNotStarted === 0)
    .map(lagOf)
    .filter((x): x is number => x !== null);
  if (clean.length) return Math.min(...clean);
  return replayLag(agents.map((a) => a.timing).filter((t): t is ProcessTiming => t !== null));
}

/** Runs whose replay lags its trace by more than this are rejected (issue 10's bound). */
export const MAX_REPLAY_LAG = 0.1;

export function rejectedForLag(lag: number | null, bound = MAX_REPLAY_LAG): boolean {
  return lag !== null && lag > bound;
}

/** One invocation of the kernel's OOM killer, from its log. */
export interface OomEpisode {
  /** The task whose allocation invoked the OOM killer. */
  invoker: string;
  /** The memory cgroup that was out of memory (memcg OOM), null for a system-wide OOM. */
  oomMemcg: string | null;
  /** The chosen victim's memory cgroup. */
  taskMemcg: string | null;
  /** Every process killed in the episode (more than one with memory.oom.group). */
  victims: { pid: number; comm: string }[];
  /** memory.oom.group killed the victim's whole cgroup. */
  group: boolean;
}

/**
 * Parses the OOM reports out of kernel log text (dmesg, with or without its
 * timestamps). An episode starts at "... invoked oom-killer:"; its victims are
 * the "Killed process PID (COMM)" lines that follow until the next episode
 * (a memory.oom.group kill reports each member on such a line).
 */
export function parseOomLog(text: string): OomEpisode[] {
  const out: OomEpisode[] = [];
  let cur: OomEpisode | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/^\s*(<\d+>)?\s*\[\s*\d+\.\d+\]\s*/, "").trim();
    const inv = /^(.*?) invoked oom-killer:/.exec(line);
    if (inv) {
      cur = { invoker: inv[1]!, oomMemcg: null, taskMemcg: null, victims: [], group: false };
      out.push(cur);
      continue;
    }
    // A kill reported without its header (rate-limited dump_header) is an episode of its own.
    const ctx = /^oom-kill:(.*)$/.exec(line);
    if (ctx) {
      if (!cur || cur.victims.length) {
        cur = { invoker: "", oomMemcg: null, taskMemcg: null, victims: [], group: false };
        out.push(cur);
      }
      const field = (k: string) => new RegExp(`(?:^|,)${k}=([^,]*)`).exec(ctx[1]!)?.[1] ?? null;
      cur.oomMemcg = field("oom_memcg");
      cur.taskMemcg = field("task_memcg");
      continue;
    }
    if (cur && /are going to be killed due to memory\.oom\.group set/.test(line)) {
      cur.group = true;
      continue;
    }
    const kill = /Killed process (\d+) \((.*?)\)/.exec(line);
    if (kill) {
      if (!cur) {
        cur = { invoker: "", oomMemcg: null, taskMemcg: null, victims: [], group: false };
        out.push(cur);
      }
      const pid = Number(kill[1]);
      if (!cur.victims.some((v) => v.pid === pid)) cur.victims.push({ pid, comm: kill[2]! });
    }
  }
  return out;
}
