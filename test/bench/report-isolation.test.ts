// The report's verdicts on issue 10's bar, from synthetic results: a target is
// met or missed from the figures alone, rejected runs are left out, and
// latencies count surviving agents only.
import { describe, expect, it } from "vitest";
import type { AgentResult, RunResult } from "../../bench/isolation-records.js";
import { bar, cell } from "../../bench/report-isolation.js";

function agent(id: string, o: Partial<AgentResult> = {}): AgentResult {
  return {
    id,
    run: id,
    high: false,
    survived: true,
    ran: true,
    finished: true,
    oomKills: 0,
    baselineKilled: false,
    callsPlanned: 2,
    callsCompleted: 2,
    callsKilled: 0,
    callsRuntimeKilled: 0,
    callsNotStarted: 0,
    workLostS: 0,
    completionS: 1,
    nominalS: 1,
    slowdown: 1,
    latency: { n: 10, p50Us: 100, p95Us: 1000, p99Us: 2000, maxUs: 3000 },
    latencyCdf: [],
    memStallSomeUs: 0,
    memStallFullUs: 0,
    ownLimitOoms: 0,
    highEvents: 0,
    maxEvents: 0,
    peakUsedBytes: 0,
    timing: null,
    limits: { max: null, high: null },
    ...o,
  };
}

function run(setup: string, seed: number, agents: AgentResult[], o: Partial<RunResult> = {}): RunResult {
  return {
    setup,
    combo: "c",
    seed,
    budgetBytes: 1,
    wallS: 1,
    agents,
    procs: [],
    timeline: [],
    parentEvents: {},
    oomEpisodes: [],
    replayLag: 0,
    rejected: false,
    timedOut: false,
    limitS: 10,
    errors: [],
    ...o,
  };
}

const high = (o: Partial<AgentResult> = {}) => agent("a0", { high: true, ...o });
/** An agent whose own process ended `late` × its nominal time after its trace: the report judges lag from these. */
const lagging = (late: number) => ({ timing: { nominalMs: 1000, durationMs: 1000 * (1 + late), memStallMs: 0 } });
const episode = (agentId: string, isHigh: boolean) => ({
  oomMemcg: "/b",
  group: false,
  victims: [{ pid: 1, comm: "x", agent: agentId, high: isHigh }],
});

describe("issue 10's bar in the report", () => {
  const runs: RunResult[] = [
    // none: the high agent dies in one of two runs (kernel OOM), latencies 2 ms when it lives.
    run(
      "none",
      1,
      [
        high({ latency: { n: 5, p50Us: 1, p95Us: 2000, p99Us: 1, maxUs: 1 } }),
        agent("a1", { survived: false, oomKills: 1, workLostS: 30 }),
      ],
      { oomEpisodes: [episode("a1", false)] },
    ),
    run("none", 2, [high({ survived: false, oomKills: 1, latency: { n: 5, p50Us: 1, p95Us: 90000, p99Us: 1, maxUs: 1 } }), agent("a1")], {
      oomEpisodes: [episode("a0", true)],
    }),
    // oomd: everyone but a killed low agent survives; lots of work lost.
    run("oomd", 1, [high(), agent("a1", { survived: false, baselineKilled: true, workLostS: 50 })]),
    run("oomd", 2, [high(), agent("a1")]),
    // the policy: all survive, one runtime kill, 1 ms P95; a third run lagged and is rejected.
    run("policy:p", 1, [
      high({ latency: { n: 5, p50Us: 1, p95Us: 1000, p99Us: 1, maxUs: 1 } }),
      agent("a1", { callsRuntimeKilled: 1, workLostS: 4 }),
    ]),
    run("policy:p", 2, [high({ latency: { n: 5, p50Us: 1, p95Us: 1000, p99Us: 1, maxUs: 1 } }), agent("a1")]),
    run("policy:p", 3, [high({ survived: false, ...lagging(0.5) }), agent("a1", { survived: false, ...lagging(0.6) })]),
  ];

  it("pools a setup's valid runs with Wilson intervals, kills apart, work lost per run", () => {
    const p = cell(runs, "policy:p")!;
    expect(p).toMatchObject({ runs: 2, rejected: 1, runtimeKills: 1, oomEpisodes: 0, workLostS: 2 });
    expect(p.agents).toMatchObject({ k: 4, n: 4, hi: 1 });
    const n = cell(runs, "none")!;
    expect(n).toMatchObject({ oomEpisodes: 2, oomVictims: 2, highOomVictims: 1 });
    expect(n.high).toMatchObject({ k: 1, n: 2 });
    // Latency over surviving runs only: the 90 ms of the run where it died is not counted.
    expect(n.highP95Us).toBe(2000);
    expect(cell(runs, "oomd")).toMatchObject({ wholeKills: 1, workLostS: 25 });
    // acgd's kill_agent counts as a whole-agent kill too (and the agent as dead, in its survived flag).
    const whole = run("policy:q", 1, [high(), agent("a1", { survived: false, runtimeKilledWhole: true })]);
    expect(cell([whole], "policy:q")).toMatchObject({ wholeKills: 1 });
  });

  it("says met where the data meet each target and why", () => {
    const v = Object.fromEntries(bar(runs, "policy:p").map((x) => [x.target, x]));
    expect(v["high-priority agent survives every run"]!.status).toBe("met");
    expect(v["no kernel OOM kill"]!.status).toBe("met");
    expect(v["agent survival ≥ the best baseline's"]!.status).toBe("met");
    // 4/4 against oomd's 3/4: the intervals overlap, and the report says so.
    expect(v["agent survival ≥ the best baseline's"]!.why).toMatch(/oomd 3\/4.*overlap/);
    expect(v["high-priority P95 allocation latency ≤ 0.7× no control's"]).toMatchObject({ status: "met" });
    expect(v["high-priority P95 allocation latency ≤ 0.7× no control's"]!.why).toMatch(/0\.50×/);
    expect(v["work lost below the oomd-like killer's"]!.status).toBe("met");
  });

  it("says missed where they do not", () => {
    const lose = [
      ...runs.filter((r) => r.setup !== "policy:p"),
      run("policy:q", 1, [high({ survived: false, oomKills: 1 }), agent("a1", { workLostS: 80 })], { oomEpisodes: [episode("a0", true)] }),
    ];
    const v = Object.fromEntries(bar(lose, "policy:q").map((x) => [x.target, x]));
    expect(v["high-priority agent survives every run"]).toMatchObject({ status: "missed" });
    expect(v["high-priority agent survives every run"]!.why).toMatch(
      /1 of 1 runs lost it \(1 of its processes killed by the kernel's OOM killer\)/,
    );
    expect(v["no kernel OOM kill"]!.status).toBe("missed");
    expect(v["agent survival ≥ the best baseline's"]!.status).toBe("missed");
    expect(v["high-priority P95 allocation latency ≤ 0.7× no control's"]!.status).toBe("not measured");
    expect(v["work lost below the oomd-like killer's"]!.status).toBe("missed");
  });

  it("cites the agent alone beside the latency target, and says when 0.7x is below it", () => {
    const lat = (p95Us: number) => high({ latency: { n: 5, p50Us: 1, p95Us, p99Us: 1, maxUs: 1 } });
    const target = (aloneP95Us: number) =>
      bar([...runs, run("alone", 1, [lat(aloneP95Us)])], "policy:p").find((x) => x.target.startsWith("high-priority P95"))!;
    // Alone 1.9 ms against no control's 2 ms: contention cost it nothing, and 1.4 ms is out of reach.
    expect(target(1900).why).toMatch(
      /the agent alone on the machine: 1\.90 ms \(0\.95×\): 0\.7× is below what it takes with no other agent/,
    );
    // Alone 1 ms: the target is reachable, and the report does not say otherwise.
    expect(target(1000).why).toMatch(/alone on the machine: 1\.00 ms \(0\.50×\)$/);
    expect(bar(runs, "policy:p").find((x) => x.target.startsWith("high-priority P95"))!.why).not.toMatch(/alone/);
  });

  it("counts no work lost against an oomd-like killer that lost none as met, and says why", () => {
    const quiet = [run("oomd", 1, [high(), agent("a1")]), run("policy:z", 1, [high(), agent("a1")])];
    const v = Object.fromEntries(bar(quiet, "policy:z").map((x) => [x.target, x]));
    expect(v["work lost below the oomd-like killer's"]).toMatchObject({ status: "met" });
    expect(v["work lost below the oomd-like killer's"]!.why).toMatch(/neither lost any work/);
    const lost = [run("oomd", 1, [high(), agent("a1")]), run("policy:z", 1, [high(), agent("a1", { workLostS: 3 })])];
    expect(bar(lost, "policy:z").find((x) => x.target.startsWith("work lost"))!.status).toBe("missed");
  });

  it("says, from the data, when the baseline's edge comes from agents killed whole or stalled to the time limit", () => {
    const data = [
      // The oomd-like killer kills the low agent whole: no call of it was killed, so no work is counted lost.
      run("oomd", 1, [high(), agent("a1", { survived: false, baselineKilled: true })]),
      // hints stall the low agent until the time limit: it counts as surviving.
      run("hints", 1, [high(), agent("a1", { finished: false })], { timedOut: true }),
      // The policy kills a call of the low agent instead: it lives, its call's trace seconds are lost.
      run("policy:w", 1, [high(), agent("a1", { callsRuntimeKilled: 1, workLostS: 20 })]),
      run("policy:v", 1, [high(), agent("a1", { survived: false, runtimeKilledWhole: true, workLostS: 20 })]),
    ];
    const v = Object.fromEntries(bar(data, "policy:w").map((x) => [x.target, x]));
    expect(v["work lost below the oomd-like killer's"]!.why).toMatch(
      /20\.0 vs 0\.0 .*; the oomd-like killer killed 1 agent\(s\) whole \(agents surviving 1\/2.*\), the policy 0 and 1 call\(s\)/,
    );
    expect(v["agent survival ≥ the best baseline's"]).toMatchObject({ status: "met" });
    // Where the policy killed as many agents whole, the work-lost miss is not explained by that.
    expect(bar(data, "policy:v").find((x) => x.target.startsWith("work lost"))!.why).not.toMatch(/whole/);
    const lower = [data[1]!, run("policy:u", 1, [high(), agent("a1", { survived: false, oomKills: 1 })])];
    expect(bar(lower, "policy:u").find((x) => x.target.startsWith("agent survival"))!.why).toMatch(
      /hints ran 1 of its 1 runs to the time limit, where agents it stalled count as surviving/,
    );
  });

  it("says when the kernel's OOM victim was of an agent the ladder killed in the same run: the kernel got there first", () => {
    const killedWhole = { t: 3.4, kind: "killed", message: "ladder (host): killed agent batch/a1-r3 whole, its own processes ..." };
    const killedCall = { t: 2, kind: "killed", message: "ladder (host): killed call-1-2 of agent batch/a2-r3 (rank low, class work): ..." };
    const data = [
      run("policy:k", 1, [high(), agent("a1", { survived: false }), agent("a2")], {
        oomEpisodes: [episode("a1", false), episode("a2", false), episode("a0", true)],
        runtimeActions: [killedWhole, killedCall],
      }),
    ];
    expect(bar(data, "policy:k").find((x) => x.target === "no kernel OOM kill")!.why).toBe(
      "3 episode(s), 3 process(es) killed, in 1 runs; 2 of them of an agent the ladder killed in the same run (whole or a call): " +
        "the kernel got there first",
    );
  });

  it("does not judge a policy whose every run was rejected, nor count an unreadable kernel log as no OOM", () => {
    expect(
      bar([run("policy:r", 1, [high(lagging(0.5))]), run("policy:r", 2, [high({ ran: false, survived: false })])], "policy:r"),
    ).toEqual([
      {
        target: "all",
        status: "not measured",
        why: "no valid run: 1 rejected for replay lag, 1 not carried out (an agent could not start)",
      },
    ]);
    const v = bar([run("policy:s", 1, [high()], { oomEpisodes: null })], "policy:s").find((x) => x.target === "no kernel OOM kill")!;
    expect(v.status).toBe("not measured");
  });
});
