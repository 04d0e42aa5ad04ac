import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentBytesAt, agentFromRun, buildPlan, COMBOS, comboByName, commandArgv, curveText, planCombo, prng } from "../../bench/plan.js";
import { loadTraces } from "../../traces/read.js";
import { scalePolicyIR } from "../../bench/scale-policy.js";
import { loadPolicyFrom } from "../../runtime/policy-source.js";
import { budgetFor, maxConcurrentProcesses, staticCap } from "../../bench/isolation-budget.js";

const T0 = Date.UTC(2026, 1, 7, 2, 0, 0) / 1000;
const iso = (t: number) => new Date(t * 1000).toISOString();

function writeRun(root: string, name: string, mem: number[], calls: [number, number, string, string?][]): void {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "resources.json"),
    JSON.stringify({ samples: mem.map((mb, i) => ({ epoch: T0 + i, mem_usage: `${mb}MB / 100GB`, cpu_percent: "1%" })) }),
  );
  writeFileSync(
    join(dir, "tool_calls.json"),
    JSON.stringify(
      calls.map(([s, e, tool, command], i) => ({
        timestamp: iso(T0 + s),
        end_timestamp: iso(T0 + e),
        tool,
        id: `c${i}`,
        input: command ? { command } : {},
      })),
    ),
  );
}

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "acg-plan-"));
  // Peak 600 at t=4 inside a pytest call; a Read call that holds 20 MB more inside the agent.
  writeRun(
    root,
    "big",
    [200, 200, 200, 400, 600, 300, 200, 220, 220, 200],
    [
      [2.5, 5.5, "Bash", "cd /x && python -m pytest -k foo"],
      [6.5, 8.5, "Read"],
    ],
  );
  writeRun(root, "mid", [100, 100, 300, 100, 100, 100], [[1.5, 2.5, "Bash", "pip install -e ."]]);
  writeRun(root, "small", [50, 50, 80, 50, 50, 50, 50, 50], [[1.5, 3.5, "Bash", "git status"]]);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("agent plans", () => {
  it("splits a run into the agent's own curve and one process per Bash call that add up to the trace", () => {
    const run = loadTraces(root).runs.find((r) => r.name === "big")!;
    const a = agentFromRun(run, "a0");
    expect(a.calls.length).toBe(1);
    const c = a.calls[0]!;
    expect(c.family).toBe("pytest");
    expect(c.argv).toEqual(["python", "-m", "pytest", "-k", "foo"]);
    expect(c.start).toBeCloseTo(2.5);
    expect(c.curve.map((p) => p[1] / 1e6)).toEqual([0, 200, 400, 100, 100]);
    expect(c.peakBytes).toBe(400e6);
    // The agent holds its baseline during the call and follows the trace elsewhere (Read included).
    for (let i = 0; i < 10; i++) expect(agentBytesAt(a, i) / 1e6).toBeCloseTo(run.samples[i]!.bytes / 1e6, 6);
    expect(a.peakBytes).toBe(600e6);
    expect(a.peakAt).toBe(4);
  });

  it("picks the runs with the largest peaks, aligns peaks, marks the smallest as high priority, deterministically", () => {
    const p1 = buildPlan({ traceDir: root, agents: 2, seed: 7, jitter: 0 });
    expect(p1.agents.map((a) => a.run)).toEqual(["big", "mid"]);
    expect(p1.agents.map((a) => a.highPriority)).toEqual([false, true]);
    // jitter 0: peaks at the same replay time
    expect(p1.agents[0]!.delay + p1.agents[0]!.peakAt).toBeCloseTo(p1.agents[1]!.delay + p1.agents[1]!.peakAt);
    expect(p1.concurrentPeakBytes).toBe(900e6);
    expect(p1.sumOfPeaksBytes).toBe(900e6);
    const p2 = buildPlan({ traceDir: root, agents: 3, seed: 7 });
    const p3 = buildPlan({ traceDir: root, agents: 3, seed: 7 });
    expect(p2.agents.map((a) => a.delay)).toEqual(p3.agents.map((a) => a.delay));
    expect(Math.min(...p2.agents.map((a) => a.delay))).toBe(0);
    expect(() => buildPlan({ traceDir: root, runs: ["nope", "big"] })).toThrow(/'nope' is not a usable run/);
  });

  it("budgets and static caps follow the scale and the measured process overhead", () => {
    const p = buildPlan({ traceDir: root, agents: 2, seed: 1, jitter: 0, scale: 1 / 100 });
    expect(staticCap(p.agents[0]!, p, () => 1000)).toBe(6e6 + 1000);
    const combo = { ...COMBOS[0]!, budgetFraction: 0.5 };
    expect(budgetFor({ combo, budgetBasisBytes: p.concurrentPeakBytes }, p.scale, [1000, 1000])).toBe(Math.round(900e6 / 100 / 2 + 2000));
    // The agent's own process plus its most overlapping calls.
    expect(maxConcurrentProcesses(p.agents[0]!)).toBe(2);
  });

  it("plans a combination: the high-priority agent rotates with the seed, the budget basis does not move", () => {
    const c = {
      name: "t",
      regime: "aligned" as const,
      agents: 3,
      skipLargest: 0,
      budgetBasis: "concurrent-peak" as const,
      budgetFraction: 0.7,
    };
    const cp = planCombo(c, { traceDir: root }, [1, 2, 3, 4]);
    expect(cp.plans.map((x) => x.agents.findIndex((a) => a.highPriority))).toEqual([0, 1, 2, 0]);
    expect(cp.plans.map((x) => x.seed)).toEqual([1, 2, 3, 4]);
    expect(cp.budgetBasisBytes).toBe(buildPlan({ traceDir: root, agents: 3, jitter: 0 }).concurrentPeakBytes);
    const gentle = planCombo({ ...c, skipLargest: 1, agents: 2, budgetBasis: "sum-of-peaks" }, { traceDir: root }, [1]);
    expect(gentle.plans[0]!.agents.map((a) => a.run)).toEqual(["mid", "small"]);
    expect(gentle.budgetBasisBytes).toBe(300e6 + 80e6);
    expect(() => comboByName("nope")).toThrow(/unknown combination 'nope'/);
  });

  it("writes curves the allocator reads", () => {
    expect(
      curveText({
        start: 0,
        end: 2,
        curve: [
          [0, 0],
          [1.23456, 1e6],
        ],
        tool: "Bash",
        family: "x",
        argv: [],
        peakBytes: 1e6,
      }),
    ).toBe("0.000 0\n1.235 1000000\n");
  });

  it("prng and argv helpers", () => {
    const r = prng(1);
    const a = [r(), r()];
    expect(prng(1)()).toBe(a[0]);
    expect(a.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(commandArgv("cd /t && PYTHONPATH=. pytest -x tests")).toEqual(["pytest", "-x", "tests"]);
    expect(commandArgv("cd /t")).toEqual([]);
  });
});

describe("scaling a policy to the replay", () => {
  it("scales bytes and trace-time durations, keeps slices, clamps PSI windows", () => {
    const l = loadPolicyFrom("policies/swe-agents.acg");
    expect(l.ok).toBe(true);
    if (!l.ok) return;
    const s = scalePolicyIR(l.ir, 1 / 64, 30);
    const tests = s.rules.find((r) => r.name === "tests")!;
    const orig = l.ir.rules.find((r) => r.name === "tests")!;
    expect(tests.memory.baselineBytes).toBe(8 * 1024 * 1024); // 512 MiB / 64
    expect(tests.memory.burst!.bytes).toBe(48 * 1024 * 1024); // 3 GiB / 64
    expect(tests.memory.burst!.durationNs).toBe(2e9); // 60 s / 30
    expect(tests.memory.overHigh.killAfterNs).toBe(2e9);
    expect(s.classes).toEqual(l.ir.classes);
    for (const p of s.pressureRules) expect(p.windowNs).toBeGreaterThanOrEqual(500e6);
    expect(orig.memory.baselineBytes).toBe(512 * 1024 * 1024); // the input is not changed
    expect(s.agentProfiles[0]!.limitBytes).toBe(128 * 1024 * 1024);
    // Ladders: watermarks are shares of the budget (unchanged); the freeze bound is trace time.
    const lad = l.ir.ladders[0]!;
    expect(s.ladders[0]!.freezePercent).toBe(lad.freezePercent);
    expect(s.ladders[0]!.freezeMaxNs).toBe(Math.round(lad.freezeMaxNs! / 30));
  });
});
