// `acgc simulate POLICY [TRACES]`: see traces/simulate.ts. Options are
// parsed with node:util's parseArgs.

import { parseArgs } from "node:util";
import { formatBytes } from "../compiler/units.js";
import { defaultTraceDir, TraceFolderError } from "../traces/read.js";
import { loadPolicyFrom } from "../runtime/policy-source.js";
import { simulate, type SimCall, type Simulation } from "../traces/simulate.js";
import type { Io } from "./io.js";

export const SIMULATE_USAGE = `Usage: acgc simulate POLICY [TRACES] [--json] [--calls]
  POLICY   a policy file (.acg) or a compiled policy directory
  TRACES   a folder of agent traces, flat (TASK/) or nested (TASK/attempt_N/)
           (default: $ACG_TRACES, else the shipped swe-rebench-haiku traces)
  --json   the whole replay as JSON: every call, what it was given, its actions
  --calls  also list every call the policy would have acted on (burst, throttle, kill, OOM)
Replays each recorded tool call through the policy's matcher and memory
decisions (no kernel): per rule, what its calls would have been given and when
they would have burst, been throttled, killed (over_high kill after) or
OOM-killed (memory.limit or the agent's limit).
Exit status: 0 ok, 1 the policy has errors, 2 usage or traces that cannot be read.`;

const size = (b: number | null) => (b === null ? "-" : formatBytes(Math.round(b)));
const secs = (s: number | null) => (s === null ? "-" : `${s.toFixed(1)}s`);

export async function simulateCommand(args: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        json: { type: "boolean", default: false },
        calls: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      allowPositionals: true,
    });
  } catch (e) {
    io.err(`acgc simulate: ${(e as Error).message}\n\n${SIMULATE_USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(SIMULATE_USAGE + "\n");
    return 0;
  }
  const [policyPath, traces, extra] = parsed.positionals;
  if (policyPath === undefined || extra !== undefined) {
    io.err(`acgc simulate: ${policyPath === undefined ? "give a policy" : "one policy and one trace folder"}\n\n${SIMULATE_USAGE}\n`);
    return 2;
  }
  const loaded = loadPolicyFrom(policyPath);
  if (!loaded.ok) {
    io.err(`${loaded.message}\nacgc simulate: the policy has errors\n`);
    return 1;
  }
  let sim: Simulation;
  try {
    sim = simulate(loaded.ir, traces ?? defaultTraceDir());
  } catch (e) {
    if (e instanceof TraceFolderError) {
      io.err(`acgc simulate: ${e.message}\n  help: TRACES is a folder with one sub-folder per run (TASK/ or TASK/attempt_N/)\n`);
      return 2;
    }
    throw e;
  }
  for (const w of sim.warnings) io.err(`warning: ${w}\n`);
  if (sim.runs === 0) {
    io.err(`acgc simulate: no usable run in ${sim.traces}\n`);
    return 2;
  }
  io.out(parsed.values.json ? JSON.stringify(sim, null, 2) + "\n" : renderSimulation(sim, parsed.values.calls));
  return 0;
}

/** The per-rule table, the calls acted on (with `calls`), and what was not replayed. */
export function renderSimulation(sim: Simulation, calls: boolean): string {
  const head = [
    "rule",
    "class",
    "calls",
    "baseline",
    "limit",
    "burst",
    "peak max",
    "burst",
    "throttled",
    "killed",
    "OOM",
    "1st throttle",
    "1st kill",
  ];
  const rows = sim.rules.map((r) => [
    r.rule,
    r.class,
    String(r.calls),
    size(r.given.baselineBytes),
    size(r.given.limitBytes),
    r.given.burstBytes ? `${size(r.given.burstBytes)}/${r.given.burstSeconds}s` : "-",
    size(r.peakMaxBytes),
    String(r.burst),
    String(r.throttled),
    String(r.killed),
    String(r.oomKilled),
    secs(r.firstThrottleS),
    secs(r.firstKillS),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [
    `policy ${sim.policy} replayed on ${sim.runs} runs (${sim.calls.length} tool calls) of ${sim.traces}`,
    "memory per call is above the agent's own before the call; peak max, and when the policy acts, in seconds into the call",
    "",
    line(head),
    ...rows.map(line),
  ];
  if (calls) {
    const acted = sim.calls.filter((c) => c.actions.length > 0);
    out.push("", `calls acted on: ${acted.length}`);
    for (const c of acted) out.push(`  ${callLine(c)}`);
  }
  const unsampled = sim.rules.reduce((n, r) => n + r.unsampled, 0);
  if (unsampled)
    out.push(
      "",
      `${unsampled} call(s) had no memory sample inside them (shorter than the trace's sampling): given a rule, nothing replayed`,
    );
  for (const n of sim.notReplayed) out.push(`not replayed: ${n}`);
  return out.join("\n") + "\n";
}

function callLine(c: SimCall): string {
  const what = c.command === null ? c.tool : `${c.tool} \`${c.command.length > 60 ? c.command.slice(0, 57) + "..." : c.command}\``;
  const acts = c.actions.map((a) => `${a.kind.replace(/_/g, " ")} at ${a.atS.toFixed(1)}s (${size(a.bytes)})`).join(", ");
  return `${c.run} #${c.index} ${what} -> ${c.rule}/${c.class}: ${acts}`;
}
