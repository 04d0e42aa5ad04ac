import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  callCurve,
  commandFamily,
  defaultTraceDir,
  loadTraces,
  parseMemUsage,
  parseSize,
  quantile,
  runCurves,
  type MemSample,
  type ToolCall,
} from "../../traces/read.js";
import { burstStats, computeStats } from "../../traces/stats.js";
import { tracesCommand } from "../../cli/traces-command.js";

const T0 = Date.UTC(2026, 1, 7, 2, 0, 0) / 1000; // 2026-02-07T02:00:00Z

function iso(t: number): string {
  return new Date(t * 1000).toISOString();
}

/** A run: `mem` in MB per second from T0, tool calls as [startOffset, endOffset | null, tool, command?]. */
function writeRun(root: string, name: string, mem: number[], calls: [number, number | null, string, string?][]): void {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const samples = mem.map((mb, i) => ({
    timestamp: "2026-02-06T18:00:00",
    epoch: T0 + i,
    mem_usage: `${mb}MB / 134.5GB`,
    mem_percent: "0.1%",
    cpu_percent: "5.0%",
  }));
  writeFileSync(join(dir, "resources.json"), JSON.stringify({ samples, summary: {} }));
  writeFileSync(
    join(dir, "tool_calls.json"),
    JSON.stringify(
      calls.map(([s, e, tool, command], i) => ({
        timestamp: iso(T0 + s),
        ...(e === null ? {} : { end_timestamp: iso(T0 + e) }),
        tool,
        id: `t${i}`,
        input: command === undefined ? {} : { command },
      })),
    ),
  );
  writeFileSync(join(dir, "results.json"), JSON.stringify({ model: "test" }));
}

describe("sizes", () => {
  it("parses podman's SI sizes and the used half of mem_usage", () => {
    expect(parseSize("185.5MB")).toBe(185.5e6);
    expect(parseSize("1.5GB")).toBe(1.5e9);
    expect(parseSize("512kB")).toBe(512e3);
    expect(parseSize("0B")).toBe(0);
    expect(parseSize("2MiB")).toBe(2 * 1024 * 1024);
    expect(parseSize("12 parsecs")).toBeNull();
    expect(parseMemUsage("185.5MB / 134.5GB")).toBe(185.5e6);
    expect(parseMemUsage("--")).toBeNull();
    expect(parseMemUsage(undefined)).toBeNull();
  });
});

describe("command families", () => {
  const cases: [string, string][] = [
    ["python -m pytest tests/ -x", "pytest"],
    ["cd /testbed && python -m pytest tests/test_a.py", "pytest"],
    ["PYTHONPATH=. pytest test/cli", "pytest"],
    ["PYTHONPATH=. python3 -m pytest control/tests/margin_test.py", "pytest"],
    ["timeout 60 python -m pytest -q", "pytest"],
    ["timeout -s KILL 60 pytest", "pytest"],
    [". testenv/bin/activate && python3 -m pytest tests/x.py", "pytest"],
    ["source venv/bin/activate && pip install -e .", "pip"],
    ["export PATH=/x:$PATH && cat /testbed/a.sql | sqlfluff format", "cat"],
    ["cd /testbed; git status", "git"],
    ["/usr/bin/git diff", "git"],
    ["git status", "git"],
    ["pip3 install foo", "pip"],
    ["python3 -c 'print(1)'", "python"],
    ["time make -j4", "make"],
    ["env FOO=1 BAR=2 npm test", "npm"],
    ["cd /testbed", ""],
    ["", ""],
  ];
  for (const [cmd, fam] of cases) it(`${JSON.stringify(cmd)} -> ${JSON.stringify(fam)}`, () => expect(commandFamily(cmd)).toBe(fam));
});

describe("per-call curves", () => {
  const samples: MemSample[] = [100, 100, 100, 300, 500, 200, 100].map((mb, i) => ({ t: 1000 + i, bytes: mb * 1e6, cpu: 0 }));
  const call = (start: number, end: number): ToolCall => ({
    index: 0,
    id: "x",
    tool: "Bash",
    start,
    end,
    endMissing: false,
    command: "pytest",
    family: "pytest",
  });

  it("subtracts the baseline before the call and keeps the samples inside it", () => {
    const c = callCurve(samples, call(1002.5, 1005.2));
    expect(c.baselineBytes).toBe(100e6);
    expect(c.points.map((p) => p.bytes / 1e6)).toEqual([200, 400, 100]);
    expect(c.points[0]!.dt).toBeCloseTo(0.5);
    expect(c.peakBytes).toBe(400e6);
    expect(c.avgBytes).toBeCloseTo(700e6 / 3);
    expect(c.sampling).toBe("inside");
  });

  it("takes the nearest later sample for a call shorter than the sampling period", () => {
    const c = callCurve(samples, call(1003.1, 1003.2));
    expect(c.sampling).toBe("nearest");
    expect(c.baselineBytes).toBe(300e6);
    expect(c.points.map((p) => p.bytes / 1e6)).toEqual([200]);
  });

  it("has no points past the end of the samples", () => {
    const c = callCurve(samples, call(1010, 1011));
    expect(c.sampling).toBe("none");
    expect(c.peakBytes).toBe(0);
  });

  it("never goes negative when memory falls below the baseline", () => {
    const c = callCurve(samples, call(1004.5, 1006.5));
    expect(c.points.map((p) => p.bytes)).toEqual([0, 0]);
  });
});

describe("loading a trace folder", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "acg-traces-"));
    // run a: baseline 100 MB, a pytest burst to 400 MB inside call 1, a small git call.
    writeRun(
      root,
      "a",
      [100, 100, 100, 250, 400, 400, 100, 100, 100, 110, 100, 100],
      [
        [0.5, 1.2, "Read"],
        [2.5, 5.5, "Bash", "cd /testbed && python -m pytest -x"],
        [8.5, 9.5, "Bash", "git status"],
        [10.2, null, "Edit"],
      ],
    );
    // run b: a burst outside every tool call.
    writeRun(root, "b", [100, 100, 100, 100, 300, 100, 100, 100, 100, 100], [[0.5, 1.5, "Bash", "ls"]]);
    mkdirSync(join(root, "broken-json"));
    writeFileSync(join(root, "broken-json", "resources.json"), "{ not json");
    writeFileSync(join(root, "broken-json", "tool_calls.json"), "[]");
    mkdirSync(join(root, "no-resources"));
    writeFileSync(join(root, "no-resources", "results.json"), "{}");
    mkdirSync(join(root, "no-calls"));
    writeFileSync(
      join(root, "no-calls", "resources.json"),
      JSON.stringify({
        samples: [
          { epoch: T0, mem_usage: "1MB / 1GB" },
          { epoch: T0 + 1, mem_usage: "2MB / 1GB" },
        ],
      }),
    );
    mkdirSync(join(root, "bad-samples"));
    writeFileSync(join(root, "bad-samples", "resources.json"), JSON.stringify({ samples: [{ epoch: "x" }, { mem_usage: 5 }] }));
    writeFileSync(join(root, "bad-samples", "tool_calls.json"), "[]");
    writeFileSync(join(root, "README.md"), "not a run");
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("keeps good runs and skips bad ones with a warning each", () => {
    const { runs, warnings } = loadTraces(root);
    expect(runs.map((r) => r.name)).toEqual(["a", "b"]);
    expect(warnings.some((w) => w.startsWith("broken-json: skipped: resources.json not valid JSON"))).toBe(true);
    expect(warnings).toContain("no-resources: skipped: no resources.json");
    expect(warnings).toContain("no-calls: skipped: no tool_calls.json");
    expect(warnings.some((w) => w.startsWith("bad-samples: skipped"))).toBe(true);
    const a = runs[0]!;
    expect(a.calls.map((c) => c.family)).toEqual(["Read", "pytest", "git", "Edit"]);
    expect(a.calls[3]!.endMissing).toBe(true);
    expect(a.calls[3]!.end - a.calls[3]!.start).toBe(1);
  });

  it("derives curves and burst shares", () => {
    const { runs } = loadTraces(root);
    const curves = runCurves(runs[0]!);
    expect(curves[1]!.peakBytes).toBe(300e6);
    expect(curves[1]!.points.length).toBe(3);
    const b = burstStats(runs);
    expect(b.bursts).toBe(2); // a's pytest burst, b's outside burst
    expect(b.burstsInCallsStrict).toBe(1);
    expect(b.burstSamples).toBe(4);
    expect(b.burstSamplesInCallsStrict).toBe(3);
  });

  it("computes per-family stats and the stats command prints and exits 0", async () => {
    const s = computeStats(root);
    const py = s.byFamily.find((g) => g.key === "pytest")!;
    expect(py.count).toBe(1);
    expect(py.peakMaxMB).toBe(300);
    let out = "";
    let err = "";
    const code = await tracesCommand(["stats", root], { out: (x) => (out += x), err: (x) => (err += x) });
    expect(code).toBe(0);
    expect(out).toContain("pytest");
    expect(out).toContain("50.0% of bursts strictly");
    expect(err).toContain("warning: no-calls: skipped");
    const j = await tracesCommand(["stats", root, "--json"], { out: (x) => (out = x), err: () => {} });
    expect(j).toBe(0);
    expect(JSON.parse(out).totals.runs).toBe(2);
  });

  it("fails with a clear message on a missing folder and on bad usage", async () => {
    let err = "";
    expect(await tracesCommand(["stats", join(root, "nope")], { out: () => {}, err: (x) => (err += x) })).toBe(2);
    expect(err).toMatch(/cannot read trace folder .*nope: it does not exist \(ENOENT\)/);
    expect(await tracesCommand(["stats", "--bogus"], { out: () => {}, err: () => {} })).toBe(2);
    expect(await tracesCommand(["stats", root, "--min-count", "0"], { out: () => {}, err: () => {} })).toBe(2);
    err = "";
    expect(await tracesCommand(["stat"], { out: () => {}, err: (x) => (err += x) })).toBe(2);
    expect(err).toContain("unknown subcommand 'stat'");
  });
});

describe("quantile", () => {
  it("interpolates", () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([5], 0.95)).toBe(5);
    expect(Number.isNaN(quantile([], 0.5))).toBe(true);
  });
});

const REAL = defaultTraceDir();
describe("smoke test on the shipped traces", () => {
  it("loads them and finds pytest as the biggest family", () => {
    expect(existsSync(REAL)).toBe(true);
    const s = computeStats(REAL);
    expect(s.totals.runs).toBeGreaterThan(40);
    expect(s.totals.calls).toBeGreaterThan(1000);
    const py = s.byFamily.find((g) => g.key === "pytest")!;
    const git = s.byFamily.find((g) => g.key === "git")!;
    expect(py.peakP95MB).toBeGreaterThan(10 * git.peakP95MB);
    expect(s.bursts.burstsInCallsTolerant / s.bursts.bursts).toBeGreaterThan(0.9);
  });
});

describe("nested trace folders (TASK/attempt_N/)", () => {
  const NESTED = join(import.meta.dirname, "../fixtures/traces-nested");

  it("reads every attempt of every task, beside flat runs, and names an unusable attempt", () => {
    const { runs, warnings } = loadTraces(NESTED);
    expect(runs.map((r) => r.name)).toEqual(["task_a/attempt_1", "task_a/attempt_2", "task_b/attempt_1", "task_c"]);
    expect(warnings).toEqual(["task_b/attempt_2: skipped: no resources.json"]);
    expect(runs[0]!.calls.map((c) => c.family)).toEqual(["Read", "pytest", "git"]);
  });

  it("acg traces stats characterizes them (exit 0)", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await tracesCommand(["stats", NESTED, "--json"], { out: (s) => void out.push(s), err: (s) => void err.push(s) });
    expect(code).toBe(0);
    expect(err.join("")).toBe("warning: task_b/attempt_2: skipped: no resources.json\n");
    const s = JSON.parse(out.join(""));
    expect(s.totals.runs).toBe(4);
    expect(s.totals.calls).toBe(8);
    expect(s.byFamily.find((g: { key: string }) => g.key === "pytest").count).toBe(3);
  });
});
