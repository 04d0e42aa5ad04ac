// acgc simulate: a hand-computed replay on a small trace, and the shipped
// traces replayed through a tight policy, each action checked against what
// the policy's rules say it means.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../cli/acgc.js";
import { matchRule } from "../../runtime/matcher.js";
import { simulate, traceFacts } from "../../traces/simulate.js";
import { defaultTraceDir, loadTraces } from "../../traces/read.js";
import { policyOf } from "../runtime/helpers.js";

const MB = 1e6;
const MiB = 1024 * 1024;
const T0 = 1_770_000_000;
const iso = (t: number) => new Date(t * 1000).toISOString();

const SMALL_POLICY = `version 1
policy sim_test {
  host { memory = 8GiB; reserve = 64MiB }
  class build { priority = normal; cpu.weight = 100 }
  class interactive { priority = high; cpu.weight = 400 }
  agent { memory.limit = 1GiB }
  tool tests {
    match exe == "pytest" or argv ~ /-m pytest/
    class build
    memory.baseline = 100MiB
    memory.limit = 1GiB
    memory.burst = 100MiB for 2s, cooldown 60s
    over_high throttle 10ms..100ms ramp 1s, kill after 4s
  }
  tool installs { match exe == "pip"; class build; memory.baseline = 100MiB; memory.limit = 200MiB }
  tool vcs { match exe == "git"; class interactive }
  tool default { class interactive; memory.baseline = 256MiB }
}
`;

const tmp = mkdtempSync(join(tmpdir(), "acg-sim-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** One run: the agent at 100MB; calls as [start, end, command, MB above the agent per second from start]. */
function writeRun(dir: string, calls: [number, number, string, number[]][]): void {
  mkdirSync(dir, { recursive: true });
  const mem: number[] = Array(40).fill(100);
  for (const [start, , , curve] of calls) curve.forEach((mb, i) => (mem[start + i] = 100 + mb));
  writeFileSync(
    join(dir, "resources.json"),
    JSON.stringify({ samples: mem.map((mb, i) => ({ epoch: T0 + i, mem_usage: `${mb}MB / 64GB` })) }),
  );
  writeFileSync(
    join(dir, "tool_calls.json"),
    JSON.stringify(
      calls.map(([s, e, command], i) => ({
        timestamp: iso(T0 + s),
        end_timestamp: iso(T0 + e),
        tool: "Bash",
        id: `t${i}`,
        input: { command },
      })),
    ),
  );
}

describe("acgc simulate", () => {
  const dir = join(tmp, "small");
  writeRun(join(dir, "task/attempt_1"), [
    [2, 10, "cd /repo && python -m pytest -x", [0, 150, 150, 150, 150, 150, 150, 150, 0]],
    [14, 18, "pip install -e .", [0, 150, 300, 0]],
    [22, 25, "git status", [0, 5, 0]],
  ]);

  it("replays a call through the burst clock: burst, throttled when the credit is spent, killed `kill after` past the overage's start", () => {
    const sim = simulate(policyOf(SMALL_POLICY), dir);
    const [tests, pip, git] = sim.calls;
    expect(tests).toMatchObject({
      run: "task/attempt_1",
      rule: "tests",
      class: "build",
      outcome: "killed",
      given: { baselineBytes: 100 * MiB, limitBytes: 1024 * MiB, burstBytes: 100 * MiB, burstSeconds: 2 },
    });
    // Over the baseline from 1s: 2s of credit run out at 3s; killed 4s after the overage began, at 5s.
    expect(tests!.actions).toEqual([
      { atS: 1, kind: "burst", bytes: 150 * MB },
      { atS: 3, kind: "throttled", bytes: 150 * MB },
      { atS: 5, kind: "killed", bytes: 150 * MB },
    ]);
    // No burst allowance: throttled at once above the baseline; OOM-killed when above its 200MiB limit.
    expect(pip).toMatchObject({ rule: "installs", outcome: "oom_killed" });
    expect(pip!.actions).toEqual([
      { atS: 1, kind: "throttled", bytes: 150 * MB },
      { atS: 2, kind: "oom_call_limit", bytes: 300 * MB },
    ]);
    expect(git).toMatchObject({ rule: "vcs", class: "interactive", outcome: "completed", actions: [] });
    expect(sim.rules.find((r) => r.rule === "tests")).toMatchObject({
      calls: 1,
      burst: 1,
      throttled: 1,
      killed: 1,
      oomKilled: 0,
      firstThrottleS: 3,
      firstKillS: 5,
    });
    expect(sim.rules.find((r) => r.rule === "installs")).toMatchObject({ calls: 1, throttled: 1, oomKilled: 1, firstKillS: 2 });
  });

  it("prints the per-rule table and the calls acted on; exits 1 on a broken policy and 2 on a missing folder", async () => {
    const policy = join(tmp, "p.acg");
    writeFileSync(policy, SMALL_POLICY);
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) };
    expect(await main(["simulate", policy, dir, "--calls"], io)).toBe(0);
    const text = out.join("");
    expect(text).toMatch(/^policy sim_test replayed on 1 runs \(3 tool calls\) of /m);
    expect(text).toMatch(/^tests\s+build\s+1\s+100MiB\s+1GiB\s+100MiB\/2s\s+143\.05MiB\s+1\s+1\s+1\s+0\s+3\.0s\s+5\.0s$/m);
    expect(text).toContain(
      "task/attempt_1 #0 Bash `cd /repo && python -m pytest -x` -> tests/build: burst at 1.0s " +
        "(143.05MiB), throttled at 3.0s (143.05MiB), killed at 5.0s (143.05MiB)",
    );
    out.length = 0;
    expect(await main(["simulate", policy, dir, "--json"], io)).toBe(0);
    expect(JSON.parse(out.join("")).calls).toHaveLength(3);
    expect(await main(["simulate", policy, join(tmp, "nope")], io)).toBe(2);
    writeFileSync(policy, "version 1\npolicy broken {");
    expect(await main(["simulate", policy, dir], io)).toBe(1);
    expect(err.join("")).toMatch(/acgc simulate: cannot read trace folder .*nope/);
    expect(await main(["simulate"], io)).toBe(2);
  });

  it("on the shipped traces, every action is what the rule says for the recorded memory", () => {
    const policy = policyOf(`version 1
policy tight {
  host { memory = 8GiB; reserve = 64MiB }
  class build { priority = normal; cpu.weight = 100 }
  class interactive { priority = high; cpu.weight = 400 }
  agent { memory.limit = 4GiB }
  tool tests {
    match exe in ["pytest", "tox"] or argv ~ /-m pytest/
    class build
    memory.baseline = 64MiB
    memory.limit = 768MiB
    memory.burst = 64MiB for 5s, refill 30s
    over_high throttle 10ms..200ms ramp 2s, kill after 20s
  }
  tool default { class interactive; memory.baseline = 48MiB; memory.limit = 160MiB }
}
`);
    const traces = defaultTraceDir();
    const sim = simulate(policy, traces);
    const { runs } = loadTraces(traces);
    expect(sim.calls.length).toBe(runs.reduce((n, r) => n + r.calls.length, 0));
    expect(sim.calls.length).toBeGreaterThan(1000);
    const byRun = new Map(runs.map((r) => [r.name, r]));
    let acted = 0;
    for (const c of sim.calls) {
      const rule = matchRule(policy, traceFacts(byRun.get(c.run)!.calls.find((x) => x.index === c.index)!));
      expect(c.rule).toBe(rule.name);
      const m = rule.memory;
      const burstCeiling = m.baselineBytes! + (m.burst?.bytes ?? 0);
      for (const a of c.actions) {
        acted++;
        if (a.kind === "burst") expect(a.bytes > m.baselineBytes! && a.bytes <= burstCeiling).toBe(true);
        if (a.kind === "throttled") expect(a.bytes).toBeGreaterThan(m.baselineBytes!);
        if (a.kind === "calm") expect(a.bytes).toBeLessThanOrEqual(m.baselineBytes!);
        if (a.kind === "oom_call_limit") expect(a.bytes).toBeGreaterThan(m.limitBytes!);
        if (a.kind === "killed") {
          // Continuously over the baseline from some earlier action for at least `kill after`.
          const overFrom = c.actions.find((x) => x.kind === "burst" || x.kind === "throttled")!.atS;
          expect(a.atS - overFrom).toBeGreaterThanOrEqual(m.overHigh.killAfterNs! / 1e9 - 1.5);
        }
      }
      if (c.peakBytes <= m.baselineBytes!) expect(c.actions).toEqual([]);
      const ends = c.actions.filter((a) => a.kind === "killed" || a.kind.startsWith("oom"));
      expect(ends.length).toBe(c.outcome === "completed" ? 0 : 1);
    }
    expect(acted).toBeGreaterThan(0);
    const tests = sim.rules.find((r) => r.rule === "tests")!;
    expect(tests.throttled + tests.oomKilled).toBeGreaterThan(0);
  });
});
