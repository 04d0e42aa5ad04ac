// The characterization of agent resource traces that `acg traces stats` prints
// (cli/traces-command.ts) and the benchmark report quotes (bench/report.ts).
//
// Definitions (also in docs/benchmark.md):
// - A tool call's memory curve is the container memory sampled inside
//   [start, end] minus the agent's baseline (the last sample before the start),
//   floored at 0. A call with no sample inside takes the first sample after its
//   start if it lies within one sample period of its end ("nearest"), else none.
// - A burst sample is a sample above 1.5x the run's median memory and more than
//   50 MB (10^6 bytes) above it. A burst is a maximal sequence of consecutive
//   burst samples. A burst falls inside tool calls if its samples lie in some
//   call's [start, end] (strict) or within one sample period of one (tolerant).
// - Per group peak-to-average: the largest per-call peak divided by the mean
//   per-call average (both above the baseline): how far the worst call exceeds
//   what a typical call holds.

import { loadTraces, mean, medianInterval, quantile, runCurves, type CallCurve, type Run } from "./read.js";

export const BURST_FACTOR = 1.5;
export const BURST_MIN_BYTES = 50e6;

/** The paper's published figures (shared/traces/README.md). */
export const PUBLISHED = {
  burstsInToolCallsPct: 98.5,
  pytestP95MB: 518,
  gitStatusP95MB: 13.5,
  peakToAverageMax: 15.4,
  baselineMB: 185,
  demandVariationX: 20,
} as const;

export interface GroupStats {
  key: string;
  count: number;
  /** Calls with at least one sample (inside or nearest). */
  sampled: number;
  durationP50S: number;
  durationP95S: number;
  peakP50MB: number;
  peakP95MB: number;
  peakMaxMB: number;
  avgMeanMB: number;
  peakToAverage: number;
}

export interface BurstStats {
  runs: number;
  samples: number;
  burstSamples: number;
  burstSamplesInCallsStrict: number;
  burstSamplesInCallsTolerant: number;
  bursts: number;
  burstsInCallsStrict: number;
  burstsInCallsTolerant: number;
  /** Bursts overlapping a Bash call (tolerant): the calls that start processes. */
  burstsInBashTolerant: number;
}

export interface RunStats {
  name: string;
  samples: number;
  calls: number;
  durationS: number;
  medianMB: number;
  peakMB: number;
  avgMB: number;
  peakToAverage: number;
}

export interface TraceStats {
  dir: string;
  warnings: string[];
  runs: RunStats[];
  byTool: GroupStats[];
  byFamily: GroupStats[];
  bursts: BurstStats;
  totals: {
    runs: number;
    calls: number;
    bashCalls: number;
    callsUnsampled: number;
    peakToAverageMax: number;
    peakToAverageP50: number;
    demandVariationX: number;
    baselineMedianMB: number;
  };
  published: typeof PUBLISHED;
}

const MB = 1e6;

function groupStats(key: string, curves: CallCurve[]): GroupStats {
  const sampled = curves.filter((c) => c.sampling !== "none");
  const peaks = sampled.map((c) => c.peakBytes / MB);
  const avgs = sampled.map((c) => c.avgBytes / MB);
  const avgMean = mean(avgs);
  const peakMax = peaks.length ? Math.max(...peaks) : NaN;
  return {
    key,
    count: curves.length,
    sampled: sampled.length,
    durationP50S: quantile(
      curves.map((c) => c.durationS),
      0.5,
    ),
    durationP95S: quantile(
      curves.map((c) => c.durationS),
      0.95,
    ),
    peakP50MB: quantile(peaks, 0.5),
    peakP95MB: quantile(peaks, 0.95),
    peakMaxMB: peakMax,
    avgMeanMB: avgMean,
    peakToAverage: avgMean > 0 ? peakMax / avgMean : NaN,
  };
}

function groupBy(curves: CallCurve[], key: (c: CallCurve) => string): GroupStats[] {
  const m = new Map<string, CallCurve[]>();
  for (const c of curves) {
    const k = key(c);
    const l = m.get(k);
    if (l) l.push(c);
    else m.set(k, [c]);
  }
  return [...m.entries()].map(([k, l]) => groupStats(k, l)).sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));
}

/** Burst samples of a run (indices), by the definition above. */
export function burstMask(run: Run): boolean[] {
  const med = quantile(
    run.samples.map((s) => s.bytes),
    0.5,
  );
  return run.samples.map((s) => s.bytes > BURST_FACTOR * med && s.bytes - med > BURST_MIN_BYTES);
}

export function burstStats(runs: Run[]): BurstStats {
  const b: BurstStats = {
    runs: 0,
    samples: 0,
    burstSamples: 0,
    burstSamplesInCallsStrict: 0,
    burstSamplesInCallsTolerant: 0,
    bursts: 0,
    burstsInCallsStrict: 0,
    burstsInCallsTolerant: 0,
    burstsInBashTolerant: 0,
  };
  for (const run of runs) {
    if (run.calls.length === 0) continue;
    b.runs++;
    const period = medianInterval(run.samples);
    const mask = burstMask(run);
    const inCall = (t: number, tol: number, bashOnly = false) =>
      run.calls.some((c) => (!bashOnly || c.tool === "Bash") && t >= c.start - tol && t <= c.end + tol);
    b.samples += run.samples.length;
    let inBurst = false;
    let strict = false;
    let tolerant = false;
    let bash = false;
    const close = () => {
      if (!inBurst) return;
      b.bursts++;
      if (strict) b.burstsInCallsStrict++;
      if (tolerant) b.burstsInCallsTolerant++;
      if (bash) b.burstsInBashTolerant++;
      inBurst = strict = tolerant = bash = false;
    };
    run.samples.forEach((s, i) => {
      if (!mask[i]) {
        close();
        return;
      }
      inBurst = true;
      b.burstSamples++;
      const st = inCall(s.t, 0);
      const tl = inCall(s.t, period);
      if (st) b.burstSamplesInCallsStrict++;
      if (tl) b.burstSamplesInCallsTolerant++;
      strict ||= st;
      tolerant ||= tl;
      bash ||= inCall(s.t, period, true);
    });
    close();
  }
  return b;
}

export function computeStats(dir: string): TraceStats {
  const { runs, warnings } = loadTraces(dir);
  const all: CallCurve[] = [];
  const runStats: RunStats[] = [];
  for (const run of runs) {
    const curves = runCurves(run);
    all.push(...curves);
    const mem = run.samples.map((s) => s.bytes / MB);
    const avg = mean(mem);
    const peak = Math.max(...mem);
    runStats.push({
      name: run.name,
      samples: run.samples.length,
      calls: run.calls.length,
      durationS: run.samples[run.samples.length - 1]!.t - run.samples[0]!.t,
      medianMB: quantile(mem, 0.5),
      peakMB: peak,
      avgMB: avg,
      peakToAverage: peak / avg,
    });
  }
  const p2a = runStats.map((r) => r.peakToAverage);
  const peaks = runStats.map((r) => r.peakMB);
  return {
    dir,
    warnings,
    runs: runStats,
    byTool: groupBy(all, (c) => c.call.tool),
    byFamily: groupBy(
      all.filter((c) => c.call.tool === "Bash"),
      (c) => c.call.family,
    ),
    bursts: burstStats(runs),
    totals: {
      runs: runs.length,
      calls: all.length,
      bashCalls: all.filter((c) => c.call.tool === "Bash").length,
      callsUnsampled: all.filter((c) => c.sampling === "none").length,
      peakToAverageMax: p2a.length ? Math.max(...p2a) : NaN,
      peakToAverageP50: quantile(p2a, 0.5),
      demandVariationX: peaks.length ? Math.max(...peaks) / Math.min(...peaks) : NaN,
      baselineMedianMB: quantile(
        runStats.map((r) => r.medianMB),
        0.5,
      ),
    },
    published: PUBLISHED,
  };
}

// ---------------------------------------------------------------------------
// Text output

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");
const pct = (a: number, b: number) => (b > 0 ? `${((100 * a) / b).toFixed(1)}%` : "-");

export function table(headers: string[], rows: string[][]): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), line(w.map((n) => "-".repeat(n))), ...rows.map(line)].join("\n");
}

function groupRows(groups: GroupStats[]): string[][] {
  return groups.map((g) => [
    g.key,
    String(g.count),
    String(g.sampled),
    f1(g.durationP50S),
    f1(g.durationP95S),
    f1(g.peakP50MB),
    f1(g.peakP95MB),
    f1(g.peakMaxMB),
    f1(g.avgMeanMB),
    f1(g.peakToAverage),
  ]);
}
const GROUP_HEAD = ["", "calls", "sampled", "dur P50 s", "dur P95 s", "peak P50 MB", "peak P95 MB", "peak max MB", "avg MB", "peak/avg"];

export function renderStats(s: TraceStats, opts: { minCount?: number } = {}): string {
  const min = opts.minCount ?? 2;
  const b = s.bursts;
  const fam = s.byFamily.filter((g) => g.count >= min);
  const famOther = s.byFamily.filter((g) => g.count < min);
  const pytest = s.byFamily.find((g) => g.key === "pytest");
  const git = s.byFamily.find((g) => g.key === "git");
  const out = [
    `Traces: ${s.dir}`,
    `${s.totals.runs} runs, ${s.totals.calls} tool calls (${s.totals.bashCalls} Bash), ` +
      `${s.totals.callsUnsampled} calls with no memory sample near them`,
    "",
    "By tool (memory above the agent's baseline before the call):",
    table(["tool", ...GROUP_HEAD.slice(1)], groupRows(s.byTool)),
    "",
    `By command family (Bash; families with >= ${min} calls${famOther.length ? `, ${famOther.length} rarer ones left out` : ""}):`,
    table(["family", ...GROUP_HEAD.slice(1)], groupRows(fam)),
    "",
    `Memory bursts (sample > ${BURST_FACTOR}x the run's median and > +${BURST_MIN_BYTES / 1e6} MB):`,
    `  ${b.bursts} bursts (${b.burstSamples} samples of ${b.samples}) in ${b.runs} runs with tool calls`,
    `  inside a tool call: ${pct(b.burstsInCallsStrict, b.bursts)} of bursts strictly, ` +
      `${pct(b.burstsInCallsTolerant, b.bursts)} within one sample period; ` +
      `${pct(b.burstSamplesInCallsStrict, b.burstSamples)} / ` +
      `${pct(b.burstSamplesInCallsTolerant, b.burstSamples)} of burst samples`,
    `  overlapping a Bash call (within one period): ${pct(b.burstsInBashTolerant, b.bursts)} of bursts`,
    "",
    "Runs: container memory peak-to-average " +
      `max ${f1(s.totals.peakToAverageMax)}x, median ${f1(s.totals.peakToAverageP50)}x; median ` +
      `baseline ${f1(s.totals.baselineMedianMB)} MB; peak varies ` +
      `${f1(s.totals.demandVariationX)}x across runs`,
    "",
    "Against the published figures (144 tasks, two models; here one model's runs):",
    table(
      ["figure", "published", "these traces"],
      [
        [
          "bursts inside tool calls",
          `${PUBLISHED.burstsInToolCallsPct}%`,
          `${pct(b.burstsInCallsStrict, b.bursts)} strict, ${pct(b.burstsInCallsTolerant, b.bursts)} tolerant`,
        ],
        [
          "pytest P95 peak above baseline",
          `${PUBLISHED.pytestP95MB} MB`,
          pytest ? `${f1(pytest.peakP95MB)} MB (${pytest.count} calls)` : "no pytest calls",
        ],
        [
          "git P95 peak above baseline",
          `${PUBLISHED.gitStatusP95MB} MB (git status)`,
          git ? `${f1(git.peakP95MB)} MB (all git, ${git.count} calls)` : "no git calls",
        ],
        ["peak-to-average, max over runs", `${PUBLISHED.peakToAverageMax}x`, `${f1(s.totals.peakToAverageMax)}x`],
        ["baseline", `~${PUBLISHED.baselineMB} MB`, `${f1(s.totals.baselineMedianMB)} MB (median of run medians)`],
        ["demand variation across tasks", `${PUBLISHED.demandVariationX}x`, `${f1(s.totals.demandVariationX)}x (max/min run peak)`],
      ],
    ),
  ];
  if (s.warnings.length) out.push("", `Warnings (${s.warnings.length}):`, ...s.warnings.map((w) => `  ${w}`));
  return out.join("\n") + "\n";
}
