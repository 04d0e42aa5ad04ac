// Plots for the benchmark report: Vega-Lite specs compiled with vega-lite,
// rendered headless to SVG by vega (`view.toSVG()`), and to PNG by resvg.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as vega from "vega";
import * as vl from "vega-lite";
import { Resvg } from "@resvg/resvg-js";
import type { TopLevelSpec } from "vega-lite";
import type { IsolationResult, RunResult } from "./isolation.js";
import type { TraceStats } from "../traces/stats.js";

const MiB = 1024 * 1024;

/** Renders a Vega-Lite spec to DIR/NAME.svg and DIR/NAME.png; returns the file names. */
export async function render(spec: TopLevelSpec, dir: string, name: string): Promise<{ svg: string; png: string }> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  writeFileSync(join(dir, `${name}.svg`), svg);
  const png = new Resvg(svg, { background: "white", fitTo: { mode: "zoom", value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" } }).render().asPng();
  writeFileSync(join(dir, `${name}.png`), png);
  return { svg: `${name}.svg`, png: `${name}.png` };
}

const CONFIG = { font: "DejaVu Sans", view: { stroke: "#ccc" }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 320 }, title: { fontSize: 14 } };

function agentLabel(r: IsolationResult, id: string): string {
  const a = r.plan.agents.find((x) => x.id === id);
  return a ? `${id}${a.high ? " (high)" : ""}: ${a.run.replace(/__.*$/, "")}` : id;
}

/** Memory over time per agent, one panel per setup, tool calls marked under the curves. */
export function memoryTimelineSpec(r: IsolationResult, runs: RunResult[], title: string): TopLevelSpec {
  const panels = runs.map((run) => {
    const mem = run.timeline.flatMap((s) => run.agents.map((a, i) => ({ t: s.t, agent: agentLabel(r, a.id), mib: (s.used[i] ?? 0) / MiB })));
    const calls = run.procs
      .filter((p) => p.kind === "call" && p.end !== null)
      .map((p) => ({ start: p.start, end: Math.max(p.end!, p.start + 0.05), agent: agentLabel(r, p.agent), family: p.family, status: p.status, lane: -1.2 - 1.2 * run.agents.findIndex((a) => a.id === p.agent) }));
    const kills = calls.filter((c) => c.status === "oom-killed");
    return {
      title: `${run.setup}: budget ${(run.budgetBytes / MiB).toFixed(1)} MiB, ${run.agents.filter((a) => a.survived).length}/${run.agents.length} agents survive, ${run.agents.filter((a) => a.survived && a.finished !== false).length} finish in time`,
      width: 640,
      height: 170,
      layer: [
        {
          data: { values: mem },
          mark: { type: "line", interpolate: "step-after", strokeWidth: 1.5 },
          encoding: {
            x: { field: "t", type: "quantitative", title: "time (s)" },
            y: { field: "mib", type: "quantitative", title: "memory.current (MiB)" },
            color: { field: "agent", type: "nominal", title: "agent" },
          },
        },
        {
          data: { values: [{ b: run.budgetBytes / MiB }] },
          mark: { type: "rule", strokeDash: [6, 3], color: "#b00" },
          encoding: { y: { field: "b", type: "quantitative" } },
        },
        {
          data: { values: calls },
          mark: { type: "rect", opacity: 0.8, height: 5 },
          encoding: {
            x: { field: "start", type: "quantitative" },
            x2: { field: "end" },
            y: { field: "lane", type: "quantitative" },
            color: { field: "agent", type: "nominal" },
            tooltip: [{ field: "family" }, { field: "status" }],
          },
        },
        ...(kills.length
          ? [
              {
                data: { values: kills },
                mark: { type: "point", shape: "cross", size: 120, color: "#b00", strokeWidth: 2.5 },
                encoding: { x: { field: "end", type: "quantitative" }, y: { field: "lane", type: "quantitative" } },
              },
            ]
          : []),
      ],
    };
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: title, subtitle: "lines: each agent's memory; bars under the axis: its tool calls (x: OOM kill); dashed: the budget" },
    vconcat: panels,
    resolve: { scale: { color: "shared" } },
    config: CONFIG,
  } as TopLevelSpec;
}

/** Allocation latency CDFs: one panel per agent, one line per setup. */
export function latencyCdfSpec(r: IsolationResult, runs: RunResult[], title: string): TopLevelSpec {
  const values = runs.flatMap((run) =>
    run.agents.flatMap((a) => (a.latencyCdf ?? []).map(([q, us]) => ({ setup: `${run.setup} ${(run.budgetBytes / MiB).toFixed(0)}MiB`, agent: agentLabel(r, a.id), q, ms: Math.max(us / 1000, 0.001) }))),
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: title, subtitle: "every allocation step (one chunk mmapped and touched) of every process of the agent" },
    data: { values },
    facet: { column: { field: "agent", type: "nominal", title: null } },
    spec: {
      width: 260,
      height: 220,
      mark: { type: "line", interpolate: "linear", strokeWidth: 1.6 },
      encoding: {
        x: { field: "ms", type: "quantitative", scale: { type: "log" }, title: "allocation step latency (ms, log)" },
        y: { field: "q", type: "quantitative", title: "fraction of steps ≤ x" },
        color: { field: "setup", type: "nominal" },
      },
    },
    config: CONFIG,
  } as TopLevelSpec;
}

/** Survival and finishing per setup and budget, pooled over every replay given. */
export function survivalSpec(all: IsolationResult[]): TopLevelSpec {
  const order: string[] = [];
  const values: { setup: string; budget: string; metric: string; pct: number; n: string }[] = [];
  const keys = new Map<string, RunResult[]>();
  for (const x of all)
    for (const r of x.runs) {
      if (r.setup === "alone") continue;
      if (!order.includes(r.setup)) order.push(r.setup);
      const k = `${r.setup}\u0000${r.budgetFraction}`;
      keys.set(k, [...(keys.get(k) ?? []), r]);
    }
  for (const [k, rs] of keys) {
    const [setup, fr] = k.split("\u0000") as [string, string];
    const ag = rs.flatMap((r) => r.agents);
    const n = `${ag.length} agent runs`;
    values.push({ setup, budget: `${Number(fr).toFixed(2)} of the concurrent peak`, metric: "survive (no OOM kill)", pct: (100 * ag.filter((a) => a.survived).length) / ag.length, n });
    values.push({ setup, budget: `${Number(fr).toFixed(2)} of the concurrent peak`, metric: "finish within the time limit", pct: (100 * ag.filter((a) => a.survived && a.finished !== false).length) / ag.length, n });
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: "Agents surviving and finishing", subtitle: `pooled over ${all.length} replay(s) (seeds ${all.map((x) => x.options.seed).join(", ")})` },
    data: { values },
    facet: { column: { field: "metric", type: "nominal", title: null, sort: ["survive (no OOM kill)", "finish within the time limit"] } },
    spec: {
      width: 330,
      height: 220,
      mark: "bar",
      encoding: {
        x: { field: "setup", type: "nominal", title: null, sort: order, axis: { labelAngle: -30 } },
        xOffset: { field: "budget" },
        y: { field: "pct", type: "quantitative", title: "% of agents", scale: { domain: [0, 100] } },
        color: { field: "budget", type: "nominal", title: "budget" },
        tooltip: [{ field: "n" }],
      },
    },
    config: CONFIG,
  } as TopLevelSpec;
}

/** Trace characterization: P95 and max peak per command family. */
export function familySpec(s: TraceStats, minCount = 3): TopLevelSpec {
  const values = s.byFamily
    .filter((g) => g.count >= minCount)
    .flatMap((g) => [
      { family: `${g.key} (${g.count})`, stat: "P50 peak", mb: Math.max(g.peakP50MB, 0.05) },
      { family: `${g.key} (${g.count})`, stat: "P95 peak", mb: Math.max(g.peakP95MB, 0.05) },
      { family: `${g.key} (${g.count})`, stat: "max peak", mb: Math.max(g.peakMaxMB, 0.05) },
    ]);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: "Memory above the agent's baseline per Bash call, by command family", subtitle: "family (number of calls); shipped swe-rebench-haiku traces" },
    data: { values },
    width: 520,
    height: 260,
    mark: "bar",
    encoding: {
      y: { field: "family", type: "nominal", title: null, sort: { op: "max", field: "mb", order: "descending" } },
      yOffset: { field: "stat" },
      x: { field: "mb", type: "quantitative", scale: { type: "log", domainMin: 0.05 }, stack: null, title: "MB above the baseline (log)" },
      x2: { datum: 0.05 },
      color: { field: "stat", type: "nominal", title: null },
    },
    config: CONFIG,
  } as TopLevelSpec;
}
