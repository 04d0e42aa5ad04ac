// The isolation experiment's statistics on the host: Wilson intervals, work
// lost, the replay-lag rejection and the kernel OOM log parser.
import { describe, expect, it } from "vitest";
import { machineLag, parseOomLog, rejectedForLag, replayLag, separated, wilson, workLostSeconds } from "../../bench/replay-stats.js";

describe("wilson", () => {
  it("matches the textbook Wilson score interval", () => {
    // 8/10 at 95%: 0.4902 .. 0.9433 (Wilson 1927; Newcombe 1998, table I).
    const w = wilson(8, 10);
    expect(w.p).toBeCloseTo(0.8, 10);
    expect(w.lo).toBeCloseTo(0.4902, 3);
    expect(w.hi).toBeCloseTo(0.9433, 3);
  });
  it("is exact at the edges and never leaves [0, 1]", () => {
    const none = wilson(0, 15);
    expect(none.lo).toBe(0);
    expect(none.hi).toBeCloseTo(0.2039, 3);
    const all = wilson(15, 15);
    expect(all.hi).toBe(1);
    expect(all.lo).toBeCloseTo(0.7961, 3);
    expect(wilson(0, 0)).toMatchObject({ lo: 0, hi: 1 });
    expect(Number.isNaN(wilson(0, 0).p)).toBe(true);
  });
  it("narrows with more trials", () => {
    expect(wilson(30, 60).hi - wilson(30, 60).lo).toBeLessThan(wilson(5, 10).hi - wilson(5, 10).lo);
  });
  it("refuses impossible counts", () => {
    expect(() => wilson(4, 3)).toThrow(/0 <= k <= n/);
    expect(() => wilson(-1, 3)).toThrow();
    expect(() => wilson(1.5, 3)).toThrow();
  });
  it("separates 3/9 from 9/9 only with enough runs", () => {
    // The old report's 9 agent-runs per cell: 3/9 vs 6/9 overlap; 0/30 vs 30/30 do not.
    expect(separated(wilson(3, 9), wilson(6, 9))).toBe(false);
    expect(separated(wilson(0, 30), wilson(30, 30))).toBe(true);
  });
});

describe("work lost", () => {
  it("counts killed and never-started calls in trace seconds, not completed or failed ones", () => {
    expect(
      workLostSeconds([
        { traceSeconds: 10, outcome: "completed" },
        { traceSeconds: 4, outcome: "killed" },
        { traceSeconds: 2.5, outcome: "not-started" },
        { traceSeconds: 7, outcome: "failed" },
      ]),
    ).toBe(6.5);
    expect(workLostSeconds([])).toBe(0);
  });
});

describe("replay lag", () => {
  it("is the worst agent's lateness beyond its memory stalls, as a fraction of nominal", () => {
    expect(replayLag([{ nominalMs: 1000, durationMs: 1050, memStallMs: 0 }])).toBeCloseTo(0.05);
    // 300 ms late but 250 ms stalled on memory: the setup's doing, 5% is the replay's.
    expect(replayLag([{ nominalMs: 1000, durationMs: 1300, memStallMs: 250 }])).toBeCloseTo(0.05);
    expect(
      replayLag([
        { nominalMs: 1000, durationMs: 1020, memStallMs: 0 },
        { nominalMs: 2000, durationMs: 2400, memStallMs: 0 },
      ]),
    ).toBeCloseTo(0.2);
    // Early or more stalled than late: no lag, not negative.
    expect(replayLag([{ nominalMs: 1000, durationMs: 990, memStallMs: 100 }])).toBe(0);
    expect(replayLag([])).toBeNull();
    expect(replayLag([{ nominalMs: 0, durationMs: 5, memStallMs: 0 }])).toBeNull();
    // A process that made no progress before the time limit: infinitely late, rejected.
    expect(replayLag([{ nominalMs: 1000, durationMs: Infinity, memStallMs: 0 }])).toBe(Infinity);
    expect(rejectedForLag(Infinity)).toBe(true);
  });
  it("of the machine is the least-delayed whole agent's: a setup's freeze or hold of some agents is its result, not lag", () => {
    const whole = { survived: true, finished: true, callsKilled: 0, callsRuntimeKilled: 0, callsNotStarted: 0 };
    const t = (durationMs: number) => ({ nominalMs: 1000, durationMs, memStallMs: 0 });
    // One agent frozen by the ladder (3× late), the others on time: not the machine.
    expect(
      machineLag([
        { ...whole, timing: t(3000) },
        { ...whole, timing: t(1020) },
        { ...whole, timing: t(1050) },
      ]),
    ).toBeCloseTo(0.02);
    // Every agent late: the machine.
    expect(
      machineLag([
        { ...whole, timing: t(1500) },
        { ...whole, timing: t(1300) },
      ]),
    ).toBeCloseTo(0.3);
    // An agent with a killed call did less work: it does not vouch for the machine.
    expect(
      machineLag([
        { ...whole, callsRuntimeKilled: 1, timing: t(1000) },
        { ...whole, timing: t(1400) },
      ]),
    ).toBeCloseTo(0.4);
    // No whole agent: the worst of all, the conservative reading.
    expect(
      machineLag([
        { ...whole, survived: false, timing: t(1000) },
        { ...whole, finished: false, timing: t(1600) },
      ]),
    ).toBeCloseTo(0.6);
    expect(machineLag([])).toBeNull();
  });
  it("rejects a run lagging by more than 10%, not one at 10%", () => {
    expect(rejectedForLag(0.1)).toBe(false);
    expect(rejectedForLag(0.1001)).toBe(true);
    expect(rejectedForLag(null)).toBe(false);
  });
});

// Shaped like a 6.x/7.x kernel's memcg OOM report (mm/oom_kill.c, mm/memcontrol.c), shortened.
/* eslint-disable max-len -- the kernel's lines as it writes them */
const LOG = `[  812.118230] pytest invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
[  812.118544] CPU: 1 UID: 0 PID: 2211 Comm: pytest Not tainted 7.3.0 #1
[  812.120001] memory: usage 409600kB, limit 409600kB, failcnt 31
[  812.121900] Tasks state (memory values in pages):
[  812.121910] [  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name
[  812.121930] [   2201]     0  2201     2100    51200    51150       50         0    450560        0           200 pytest
[  812.122100] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/acg-bench-77/none,task_memcg=/acg-bench-77/none/agent1/call4,task=pytest,pid=2201,uid=0
[  812.122180] Memory cgroup out of memory: Killed process 2201 (pytest) total-vm:8400kB, anon-rss:204600kB, file-rss:200kB, shmem-rss:0kB, UID:0 pgtables:440kB oom_score_adj:200
[  812.130000] oom_reaper: reaped process 2201 (pytest), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB
[  813.500000] agent invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
[  813.500400] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/acg-bench-77/policy-x,task_memcg=/acg-bench-77/policy-x/tree/batch/agent2/calls/c9,task=pip,pid=2300,uid=0
[  813.500500] Memory cgroup out of memory: Killed process 2300 (pip) total-vm:8400kB, anon-rss:10000kB, file-rss:200kB, shmem-rss:0kB, UID:0 pgtables:44kB oom_score_adj:500
[  813.500600] Tasks in /acg-bench-77/policy-x/tree/batch/agent2/calls/c9 are going to be killed due to memory.oom.group set
[  813.500700] Memory cgroup out of memory: Killed process 2300 (pip) total-vm:8400kB, anon-rss:10000kB, file-rss:200kB, shmem-rss:0kB, UID:0 pgtables:44kB oom_score_adj:500
[  813.500800] Memory cgroup out of memory: Killed process 2301 (pip) total-vm:8400kB, anon-rss:9000kB, file-rss:200kB, shmem-rss:0kB, UID:0 pgtables:44kB oom_score_adj:500
[  814.000000] virtio_net virtio0: something unrelated
`;
/* eslint-enable max-len */

describe("kernel OOM log", () => {
  it("splits the log into episodes with their cgroups and victims", () => {
    const eps = parseOomLog(LOG);
    expect(eps).toHaveLength(2);
    expect(eps[0]).toEqual({
      invoker: "pytest",
      oomMemcg: "/acg-bench-77/none",
      taskMemcg: "/acg-bench-77/none/agent1/call4",
      victims: [{ pid: 2201, comm: "pytest" }],
      group: false,
    });
    // memory.oom.group: the whole call dies in one episode, each process once.
    expect(eps[1]!.group).toBe(true);
    expect(eps[1]!.victims.map((v) => v.pid)).toEqual([2300, 2301]);
    expect(eps[1]!.taskMemcg).toBe("/acg-bench-77/policy-x/tree/batch/agent2/calls/c9");
  });
  it("reads dmesg without timestamps, a global OOM, and a kill whose header was rate-limited", () => {
    const eps = parseOomLog(
      [
        "stress invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
        "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/x,task=stress,pid=10,uid=0",
        "Out of memory: Killed process 10 (stress) total-vm:1kB, anon-rss:1kB, file-rss:0kB, " +
          "shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0",
        "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/b,task_memcg=/b/c,task=git,pid=11,uid=0",
        "Memory cgroup out of memory: Killed process 11 (git) total-vm:1kB, anon-rss:1kB, file-rss:0kB, " +
          "shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0",
      ].join("\n"),
    );
    expect(eps).toHaveLength(2);
    expect(eps[0]).toMatchObject({ invoker: "stress", oomMemcg: null, taskMemcg: "/x", victims: [{ pid: 10, comm: "stress" }] });
    expect(eps[1]).toMatchObject({ invoker: "", oomMemcg: "/b", taskMemcg: "/b/c", victims: [{ pid: 11, comm: "git" }] });
  });
  it("finds nothing in a log without OOM reports", () => {
    expect(parseOomLog("[    0.000000] Linux version 7.3.0\n[    1.0] random: crng init done\n")).toEqual([]);
    expect(parseOomLog("")).toEqual([]);
  });
});
