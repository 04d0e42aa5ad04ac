// The replay plan: which traces become which agents, when each agent starts,
// and the memory curve of every process the replay starts (one per Bash tool
// call, plus one per agent for the agent's own memory).
//
// - An agent's own process (the model client, and the non-Bash tools that run
//   inside it) follows the trace's container memory, except that inside a Bash
//   call it holds the baseline from before the call.
// - Each Bash call becomes one process that follows the call's curve (memory
//   above that baseline, samples inside the call only), starts at the call's
//   start and exits at its end.
// So the agent's processes add up to the traced container memory.
// - Agents are aligned so that their largest bursts fall close together (the
//   budget must be too small for all peaks at once), each shifted by a seeded
//   jitter, and the replay is time-compressed by `speed` and memory-scaled by `scale`.

import { callCurve, loadTraces, medianInterval, tokenize, type Run } from "../traces/read.js";

export interface ProcessPlan {
  /** Seconds after the agent's start (trace time, not yet divided by speed). */
  start: number;
  end: number;
  /** Curve relative to the process's start: [seconds, bytes] (trace time, unscaled bytes). */
  curve: [number, number][];
  tool: string;
  family: string;
  /** The traced command's words (for argv matchers); empty for the agent's own process. */
  argv: string[];
  peakBytes: number;
}

export interface AgentPlan {
  id: string;
  run: string;
  /** Trace-time delay of this agent's start in the replay. */
  delay: number;
  duration: number;
  /** The agent's own process: starts at 0, ends at `duration`. */
  base: ProcessPlan;
  calls: ProcessPlan[];
  /** Largest traced container memory (unscaled). */
  peakBytes: number;
  medianBytes: number;
  peakAt: number;
  highPriority: boolean;
}

export interface ReplayPlan {
  traceDir: string;
  seed: number;
  speed: number;
  scale: number;
  agents: AgentPlan[];
  /** Trace-time length of the whole replay (last agent's end). */
  span: number;
  /** Largest sum of all agents' traced memory at one instant (unscaled). */
  concurrentPeakBytes: number;
  sumOfPeaksBytes: number;
  warnings: string[];
}

export interface PlanOptions {
  traceDir: string;
  agents?: number;
  /** Run names to use (else the runs with the largest peaks, `agents` of them). */
  runs?: string[];
  /** Index (in the chosen order) of the high-priority agent; default: the smallest peak. */
  high?: number;
  /** Leave out this many of the runs with the largest peaks before choosing (a gentler mix). */
  skipLargest?: number;
  speed?: number;
  scale?: number;
  seed?: number;
  /** Most trace seconds of jitter around the aligned peaks. */
  jitter?: number;
  /** Cut each agent's trace to at most this many seconds around its peak. */
  maxSeconds?: number;
}

/** Mulberry32: a small seeded PRNG, the same sequence everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Words of a command's first meaningful simple command (for argv matchers). */
export function commandArgv(command: string): string[] {
  for (const part of command.split(/&&|\|\||;|\n|\|/)) {
    const w = tokenize(part);
    let i = 0;
    while (i < w.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(w[i]!)) i++;
    const first = w[i];
    if (first === undefined || ["cd", "source", ".", "export", "set"].includes(first)) continue;
    return w.slice(i);
  }
  return [];
}

export function agentFromRun(run: Run, id: string, maxSeconds = Infinity): AgentPlan {
  const s = run.samples;
  const peakSample = s.reduce((m, x) => (x.bytes > m.bytes ? x : m), s[0]!);
  let t0 = s[0]!.t;
  let t1 = s[s.length - 1]!.t;
  if (t1 - t0 > maxSeconds) {
    t0 = Math.max(t0, Math.min(peakSample.t - maxSeconds / 2, t1 - maxSeconds));
    t1 = t0 + maxSeconds;
  }
  const period = medianInterval(s);
  const bash = run.calls.filter((c) => c.tool === "Bash" && c.start >= t0 && c.start < t1);
  const calls: ProcessPlan[] = [];
  const held: { start: number; end: number; baseline: number }[] = [];
  for (const c of bash) {
    const end = Math.min(c.end, t1);
    const cc = callCurve(s, { ...c, end }, period);
    const pts: [number, number][] = [[0, 0]];
    if (cc.sampling === "inside") for (const p of cc.points) pts.push([p.dt, p.bytes]);
    const last = pts[pts.length - 1]!;
    if (end - c.start > last[0]) pts.push([end - c.start, last[1]]);
    calls.push({
      start: c.start - t0,
      end: end - t0,
      curve: pts,
      tool: c.tool,
      family: c.family,
      argv: c.command ? commandArgv(c.command) : [],
      peakBytes: Math.max(...pts.map((p) => p[1])),
    });
    held.push({ start: c.start, end, baseline: cc.baselineBytes });
  }
  const basePts: [number, number][] = [];
  for (const x of s) {
    if (x.t < t0 || x.t > t1) continue;
    const h = held.find((w) => x.t >= w.start && x.t <= w.end);
    basePts.push([x.t - t0, h ? Math.min(h.baseline, x.bytes) : x.bytes]);
  }
  const inWin = s
    .filter((x) => x.t >= t0 && x.t <= t1)
    .map((x) => x.bytes)
    .sort((a, b) => a - b);
  return {
    id,
    run: run.name,
    delay: 0,
    duration: t1 - t0,
    base: {
      start: 0,
      end: t1 - t0,
      curve: basePts,
      tool: "agent",
      family: "agent",
      argv: [],
      peakBytes: Math.max(...basePts.map((p) => p[1])),
    },
    calls,
    peakBytes: inWin[inWin.length - 1] ?? 0,
    medianBytes: inWin[Math.floor(inWin.length / 2)] ?? 0,
    peakAt: peakSample.t - t0,
    highPriority: false,
  };
}

/** The traced memory of an agent at trace time t after its start (step function over the samples). */
export function agentBytesAt(a: AgentPlan, t: number): number {
  const at = (p: ProcessPlan, x: number) => {
    if (x < p.start || x > p.end) return 0;
    let v = 0;
    for (const [dt, b] of p.curve) {
      if (p.start + dt <= x) v = b;
      else break;
    }
    return v;
  };
  return at(a.base, t) + a.calls.reduce((s, c) => s + at(c, t), 0);
}

export function buildPlan(o: PlanOptions): ReplayPlan {
  const { runs, warnings } = loadTraces(o.traceDir);
  const n = o.agents ?? 3;
  let chosen: Run[];
  if (o.runs && o.runs.length) {
    chosen = [];
    for (const name of o.runs) {
      const r = runs.find((x) => x.name === name);
      if (!r) throw new Error(`run '${name}' is not a usable run of ${o.traceDir}`);
      chosen.push(r);
    }
  } else {
    const usable = runs.filter((r) => r.calls.some((c) => c.tool === "Bash"));
    const skip = o.skipLargest ?? 0;
    chosen = usable
      .map((r) => ({ r, peak: Math.max(...r.samples.map((x) => x.bytes)) }))
      .sort((a, b) => b.peak - a.peak || a.r.name.localeCompare(b.r.name))
      .slice(skip, skip + n)
      .map((x) => x.r);
  }
  if (chosen.length < 2) throw new Error(`need at least 2 usable runs, found ${chosen.length}`);
  const agents = chosen.map((r, i) => agentFromRun(r, `agent${i}`, o.maxSeconds));
  const high = o.high ?? agents.reduce((m, a, i) => (a.peakBytes < agents[m]!.peakBytes ? i : m), 0);
  if (!agents[high]) throw new Error(`--high ${high}: no such agent`);
  agents[high].highPriority = true;
  // Align the peaks: each agent starts so its peak lands at the latest peak time, plus jitter.
  const rnd = prng(o.seed ?? 1);
  const jitter = o.jitter ?? 10;
  const latest = Math.max(...agents.map((a) => a.peakAt));
  for (const a of agents) a.delay = Math.max(0, latest - a.peakAt + (rnd() * 2 - 1) * jitter);
  const minDelay = Math.min(...agents.map((a) => a.delay));
  for (const a of agents) a.delay -= minDelay;
  const span = Math.max(...agents.map((a) => a.delay + a.duration));
  let concurrentPeakBytes = 0;
  for (let t = 0; t <= span; t += 0.25) {
    const tot = agents.reduce((s, a) => s + agentBytesAt(a, t - a.delay), 0);
    if (tot > concurrentPeakBytes) concurrentPeakBytes = tot;
  }
  return {
    traceDir: o.traceDir,
    seed: o.seed ?? 1,
    speed: o.speed ?? 30,
    scale: o.scale ?? 1 / 64,
    agents,
    span,
    concurrentPeakBytes,
    sumOfPeaksBytes: agents.reduce((s, a) => s + a.peakBytes, 0),
    warnings,
  };
}

/** The allocator's curve file text for one process, unscaled (acg-alloc scales it). */
export function curveText(p: ProcessPlan): string {
  return p.curve.map(([t, b]) => `${t.toFixed(3)} ${Math.round(b)}`).join("\n") + "\n";
}

/**
 * A trace combination of the isolation experiment: which runs replay
 * together and the budget they share. Two regimes:
 * - aligned: the runs with the largest peaks (big bursts that coincide), the
 *   budget a fraction of their largest concurrent total;
 * - gentle: the published prototype's kind of mix (runs with moderate peaks
 *   over a ~200 MB baseline, leaving the two largest out), the budget a
 *   fraction of the sum of their peaks (0.89: the prototype's 1100 MB for
 *   three such traces).
 * In both the agents' peaks are aligned (± the seeded jitter), and the
 * high-priority agent rotates with the seed: agent (seed - 1) mod n.
 */
export interface Combo {
  name: string;
  regime: "aligned" | "gentle";
  agents: number;
  skipLargest: number;
  budgetBasis: "concurrent-peak" | "sum-of-peaks";
  budgetFraction: number;
}

export const COMBOS: readonly Combo[] = [
  { name: "aligned-3", regime: "aligned", agents: 3, skipLargest: 0, budgetBasis: "concurrent-peak", budgetFraction: 0.7 },
  { name: "gentle-3", regime: "gentle", agents: 3, skipLargest: 2, budgetBasis: "sum-of-peaks", budgetFraction: 0.89 },
  { name: "aligned-6", regime: "aligned", agents: 6, skipLargest: 0, budgetBasis: "concurrent-peak", budgetFraction: 0.7 },
  { name: "gentle-6", regime: "gentle", agents: 6, skipLargest: 2, budgetBasis: "sum-of-peaks", budgetFraction: 0.89 },
];

export function comboByName(name: string): Combo {
  const c = COMBOS.find((x) => x.name === name);
  if (!c) throw new Error(`unknown combination '${name}' (known: ${COMBOS.map((x) => x.name).join(", ")})`);
  return c;
}

/** One combination's replays: a plan per seed and the budget basis they share (traced bytes, unscaled). */
export interface ComboPlans {
  combo: Combo;
  /** The budget's basis, the same for every seed (the concurrent peak measured without jitter). */
  budgetBasisBytes: number;
  plans: ReplayPlan[];
}

export function planCombo(
  combo: Combo,
  o: Omit<PlanOptions, "agents" | "skipLargest" | "high" | "seed" | "runs">,
  seeds: number[],
): ComboPlans {
  const base = { ...o, agents: combo.agents, skipLargest: combo.skipLargest };
  const exact = buildPlan({ ...base, seed: 1, jitter: 0 });
  const plans = seeds.map((seed) => ({ ...buildPlan({ ...base, seed, high: (seed - 1) % combo.agents }), warnings: [] }));
  return { combo, budgetBasisBytes: combo.budgetBasis === "concurrent-peak" ? exact.concurrentPeakBytes : exact.sumOfPeaksBytes, plans };
}
