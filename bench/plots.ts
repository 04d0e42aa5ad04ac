// Plots for the benchmark report: Vega-Lite specs compiled with vega-lite,
// rendered headless to SVG by vega (`view.toSVG()`), and to PNG by resvg.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as vega from "vega";
import * as vl from "vega-lite";
import { Resvg } from "@resvg/resvg-js";
import type { TopLevelSpec } from "vega-lite";
import type { IsolationResult, RunResult } from "./isolation-records.js";
import type { TraceStats } from "../traces/stats.js";
import { wilson } from "./replay-stats.js";

const MiB = 1024 * 1024;

/** Renders a Vega-Lite spec to DIR/NAME.svg and DIR/NAME.png; returns the file names. */
export async function render(spec: TopLevelSpec, dir: string, name: string): Promise<{ svg: string; png: string }> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  writeFileSync(join(dir, `${name}.svg`), svg);
  const png = new Resvg(svg, {
    background: "white",
    fitTo: { mode: "zoom", value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" },
  })
    .render()
    .asPng();
  writeFileSync(join(dir, `${name}.png`), png);
  return { svg: `${name}.svg`, png: `${name}.png` };
}

const CONFIG = {
  font: "DejaVu Sans",
  view: { stroke: "#ccc" },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 320 },
  title: { fontSize: 14 },
};

function agentLabel(r: IsolationResult, id: string): string {
  const a = r.plans[0]?.agents.find((x) => x.id === id);
  return a ? `${id}${a.high ? " (high)" : ""}: ${a.run.replace(/__.*$/, "")}` : id;
}

/** Memory over time per agent, one panel per setup, tool calls marked under the curves. */
export function memoryTimelineSpec(r: IsolationResult, runs: RunResult[], title: string): TopLevelSpec {
  const panels = runs.map((run) => {
    const mem = run.timeline.flatMap((s) =>
      run.agents.map((a, i) => ({ t: s.t, agent: agentLabel(r, a.id), mib: (s.used[i] ?? 0) / MiB })),
    );
    const calls = run.procs
      .filter((p) => p.kind === "call" && p.end !== null)
      .map((p) => ({
        start: p.start,
        end: Math.max(p.end!, p.start + 0.05),
        agent: agentLabel(r, p.agent),
        family: p.family,
        status: p.status,
        lane: -1.2 - 1.2 * run.agents.findIndex((a) => a.id === p.agent),
      }));
    const kills = calls.filter((c) => c.status === "oom-killed" || c.status === "runtime-killed" || c.status === "baseline-killed");
    return {
      title:
        `${run.setup}: budget ${(run.budgetBytes / MiB).toFixed(1)} MiB, ` +
        `${run.agents.filter((a) => a.survived).length}/${run.agents.length} agents survive, ` +
        `${run.agents.filter((a) => a.survived && a.finished !== false).length} finish in time`,
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
    title: {
      text: title,
      subtitle:
        "lines: each agent's memory; bars under the axis: its tool calls (x: killed by the " +
        "kernel, the runtime or oomd); dashed: the budget",
    },
    vconcat: panels,
    resolve: { scale: { color: "shared" } },
    config: CONFIG,
  } as TopLevelSpec;
}

/** Agent survival per setup and combination with Wilson 95% intervals, over the runs not rejected for lag. */
export function survivalSpec(all: IsolationResult[]): TopLevelSpec {
  const order: string[] = [];
  const values: { setup: string; combo: string; pct: number; lo: number; hi: number; n: string }[] = [];
  for (const x of all) {
    for (const setup of [...new Set(x.runs.map((r) => r.setup))]) {
      if (setup === "alone") continue;
      if (!order.includes(setup)) order.push(setup);
      const ag = x.runs.filter((r) => r.setup === setup && !r.rejected).flatMap((r) => r.agents);
      if (!ag.length) continue;
      const w = wilson(ag.filter((a) => a.survived).length, ag.length);
      values.push({ setup, combo: x.combo.name, pct: 100 * w.p, lo: 100 * w.lo, hi: 100 * w.hi, n: `${w.k}/${w.n} agent-runs` });
    }
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: {
      text: "Agents surviving",
      subtitle: "no kernel OOM kill and not killed by oomd; bars: share of agent-runs, whiskers: Wilson 95% interval",
    },
    data: { values },
    facet: { column: { field: "combo", type: "nominal", title: null } },
    spec: {
      width: 220,
      height: 220,
      layer: [
        {
          mark: "bar",
          encoding: {
            x: { field: "setup", type: "nominal", title: null, sort: order, axis: { labelAngle: -40 } },
            y: { field: "pct", type: "quantitative", title: "% of agent-runs", scale: { domain: [0, 100] } },
            color: { field: "setup", type: "nominal", legend: null },
            tooltip: [{ field: "n" }],
          },
        },
        {
          mark: { type: "rule", color: "#333" },
          encoding: { x: { field: "setup", type: "nominal", sort: order }, y: { field: "lo", type: "quantitative" }, y2: { field: "hi" } },
        },
      ],
    },
    config: CONFIG,
  };
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
    title: {
      text: "Memory above the agent's baseline per Bash call, by command family",
      subtitle: "family (number of calls); shipped swe-rebench-haiku traces",
    },
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
  };
}
