// The pressure ladder's decisions, driven through a stand-in cgroup tree: the
// test plays the kernel (the domain's and the calls' memory.current, a
// memory.events notification) and reads back what acgd wrote — caps on the
// calls' memory.high, the domain's tripwire, cgroup.kill — and in which
// order: ranks first, then class priority, then the youngest.
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { CgroupfsEnforcer } from "../../runtime/enforce-cgroupfs.js";
import { LadderEnforcer, FREEZE_FLOOR_BYTES } from "../../runtime/ladder.js";
import { hostBudget, nearestMemoryMax } from "../../runtime/memory-budget.js";
import { ToolCalls, type ToolCall } from "../../runtime/tool-calls.js";
import { oomScoreAdj } from "../../runtime/victim-order.js";
import { events, type AcgEvent } from "../../runtime/events.js";
import { fakeRoot, policyOf, standInTree } from "./helpers.js";

const MiB = 1024 * 1024;
const POLICY = `version 1
policy ladder_test {
  host { memory = 100MiB }
  class interactive { priority = high }
  class background { priority = low }
  agent {
    max_agents = 4
    memory.guarantee = 2MiB
    intent rank <= high
  }
  tool build { match exe == "build"; class background; memory.baseline = 8MiB; memory.burst = 32MiB for 60s }
  tool vcs { match exe == "git"; class interactive; memory.baseline = 8MiB }
  tool default { class background }
  ladder host {
    ranks = [low, normal]
    withdraw_burst = 50%
    freeze = 70% for ${"2s"}
    kill = 90%
    release = 40%
  }
}
`;
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(
  text = POLICY,
  { kernelHold = true, ancestorMax = () => null as number | null, releaseWaitMs = undefined as number | undefined } = {},
) {
  const root = fakeRoot();
  writeFileSync(join(root, "memory.current"), "0");
  writeFileSync(join(root, "memory.events"), "");
  writeFileSync(join(root, "memory.high"), "max");
  const policy = policyOf(text);
  const calls = new ToolCalls(policy, standInTree(root));
  const cgroupfs = new CgroupfsEnforcer(calls, { psi: null });
  calls.addEnforcer(cgroupfs);
  const log: string[] = [];
  const holds: string[] = [];
  const ownHolds: string[] = [];
  const ladder = new LadderEnforcer(calls, {
    hostBudget: (p) => {
      const bytes = ancestorMax();
      return hostBudget(p, { memTotal: null, ancestorMax: bytes === null ? null : { bytes, path: "/sys/fs/cgroup/budget" } });
    },
    log: (m) => log.push(m),
    capsChanged: (c) => cgroupfs.reevaluate(c),
    ...(releaseWaitMs !== undefined && { releaseWaitMs }),
  });
  calls.addEnforcer(ladder);
  // The scheduler's side, recorded.
  if (kernelHold)
    ladder.attachKernelHold({
      setHoldDomain: (i, d) =>
        holds.push(
          d ? `slot ${i}: ${d.path === root ? "root" : d.path} at ${d.holdBytes}, ranks ${d.ranks.join(",")}` : `slot ${i}: cleared`,
        ),
      setCallHold: (c, h) => holds.push(`${c.agent.key}: rank ${h.rank}, slots ${h.holdDomains.join(",")}`),
      setAgentHold: (a, h) => ownHolds.push(`${a.key}'s own: rank ${h.rank}, slots ${h.holdDomains.join(",")}`),
    });
  cleanups.push(() => {
    ladder.close();
    cgroupfs.close();
    rmSync(root, { recursive: true, force: true });
  });
  let events = 0;
  /** Plays the kernel: the domain's usage and (unless `quiet`, as below a tripwire) a memory.events change. */
  const domainAt = (bytes: number, { quiet = false } = {}) => {
    writeFileSync(join(root, "memory.current"), String(bytes));
    if (!quiet) appendFileSync(join(root, "memory.events"), `high ${++events}\n`);
  };
  return { root, calls, log, holds, ownHolds, domainAt };
}

const file = (path: string, name: string) => readFileSync(join(path, name), "utf8").trim();
const killedWhole = (c: ToolCall) => existsSync(join(c.agent.path, "cgroup.kill")) && file(c.agent.path, "cgroup.kill") === "1";
const high = (call: ToolCall) => file(call.path, "memory.high");
const usageOf = (call: ToolCall, bytes: number) => writeFileSync(join(call.path, "memory.current"), String(bytes));
async function until(cond: () => boolean, ms = 2000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
  return cond();
}

describe("pressure ladder on the host domain", () => {
  it("withdraws, freezes and kills low-ranked calls in order, never the high-ranked agent's, and releases", async () => {
    const { root, calls, holds, domainAt } = setup();
    const seen: AcgEvent[] = [];
    const unsubscribe = events.subscribe((e) => seen.push(e));
    cleanups.push(unsubscribe);
    const boss = calls.startCall({ agent: "boss", argv: ["build"], hints: ["rank=high"] });
    const old = calls.startCall({ agent: "worker1", argv: ["build"] });
    await sleep(5);
    const young = calls.startCall({ agent: "worker2", argv: ["build"] });
    const vcs = calls.startCall({ agent: "worker2", argv: ["git"] });
    for (const c of [boss, old, young]) usageOf(c, 20 * MiB);
    usageOf(vcs, 5 * MiB);
    // Bursting builds: their burst logic raised memory.high by the allowance.
    for (const c of [boss, old, young]) writeFileSync(join(c.path, "memory.high"), String(40 * MiB));
    // The scheduler holds this domain: the tripwire sits at the kill mark only.
    expect(file(root, "memory.high")).toBe(String(90 * MiB));

    writeFileSync(join(vcs.path, "memory.high"), String(12 * MiB));
    domainAt(55 * MiB);
    expect(await until(() => high(young) === String(20 * MiB))).toBe(true);
    // withdraw_burst: usage or baseline, whichever is larger; the boss is out of the ladder's ranks,
    // and the keeper keeps its burst: of the bursting targets (over their baseline), the highest-ranked,
    // oldest — worker1's build; the interactive git call ranks above it by class but bursts nothing.
    expect(high(old)).toBe(String(40 * MiB));
    expect(high(vcs)).toBe(String(8 * MiB));
    expect(high(boss)).toBe(String(40 * MiB));

    usageOf(young, 19 * MiB);
    domainAt(75 * MiB);
    // freeze: every target but the keeper is pinned; the keeper may grow up to halfway from the freeze mark (70%)
    // to the kill mark (90%): 5 MiB more than its 20.
    expect(await until(() => young.events.some((e) => e.includes("frozen at 19MiB")))).toBe(true);
    expect(vcs.events.some((e) => e.includes("frozen at 8MiB"))).toBe(true);
    expect(old.events.some((e) => e.startsWith("ladder"))).toBe(false);
    expect(high(old)).toBe(String(25 * MiB));
    expect(boss.events.some((e) => e.startsWith("ladder"))).toBe(false);
    // The scheduler holds from the freeze watermark on, for ranks normal and low, in the calls' domain, all but the keeper.
    expect(holds).toEqual([
      `slot 0: root at ${Math.floor(0.7 * 100 * MiB)}, ranks 1,2`,
      "default/boss: rank 0, slots 0",
      "default/worker1: rank 1, slots ",
      "default/worker2: rank 1, slots 0",
      "default/worker2: rank 1, slots 0",
    ]);

    domainAt(92 * MiB);
    // kill: the lowest-ranked, youngest first: worker2's background build (younger than worker1's).
    expect(await until(() => young.killedBy !== undefined)).toBe(true);
    expect(file(young.path, "cgroup.kill")).toBe("1");
    expect(old.killedBy).toBeUndefined();
    expect(young.killedBy).toMatch(
      /reached 92% of its 100MiB budget \(kill at 90%\); it was the lowest-ranked, youngest call there \(agent rank normal, class background\)/,
    );
    // Still above the kill mark, and the first kill's memory never came back (this stand-in kernel keeps usage at 92%):
    // after the wait for it (1 s), the next one goes (worker1's build: the kill mark stops the keeper too), never the boss.
    await sleep(500);
    expect(old.killedBy).toBeUndefined();
    expect(await until(() => old.killedBy !== undefined, 2500)).toBe(true);
    await calls.endCall(young.id);
    await calls.endCall(old.id);
    domainAt(60 * MiB);
    await sleep(300);
    expect(vcs.killedBy).toBeUndefined();
    expect(boss.killedBy).toBeUndefined();

    // The git call, the only target left, keeps now: thawed at once, before the release.
    expect(vcs.events.some((e) => e.includes("released (its burst is the one that goes on"))).toBe(true);
    domainAt(30 * MiB);
    expect(await until(() => seen.some((e) => e.kind === "pressure" && e.message.includes("released")), 1500)).toBe(true);
    expect(high(vcs)).toBe(String(8 * MiB)); // its burst logic's decision again: its baseline, it has no allowance
    expect(file(root, "memory.high")).toBe(String(90 * MiB));
    expect(seen.filter((e) => e.kind === "pressure").map((e) => e.message)).toEqual([
      "ladder (host): burst withdrawn at 55% of its 100MiB budget",
      "ladder (host): freeze at 75% of its 100MiB budget",
      "ladder (host): released at 30% of its 100MiB budget",
    ]);
    expect(seen.filter((e) => e.kind === "killed").map((e) => e.call)).toEqual([young.id, old.id]);
    expect(seen.some((e) => e.kind === "frozen" && e.call === young.id)).toBe(true);
    expect(seen.some((e) => e.kind === "thawed" && e.call === vcs.id)).toBe(true);
  });

  it("lets the keeper's burst go on, and hands the keeping on when it ends: the next one is thawed and leaves the hold", async () => {
    const { calls, holds, domainAt } = setup();
    const boss = calls.startCall({ agent: "boss", argv: ["build"], hints: ["rank=high"] });
    const first = calls.startCall({ agent: "worker1", argv: ["build"] });
    await sleep(5);
    const second = calls.startCall({ agent: "worker2", argv: ["build"] });
    for (const c of [boss, first, second]) usageOf(c, 20 * MiB);
    for (const a of [first, second]) writeFileSync(join(a.agent.path, "memory.current"), String(20 * MiB));
    for (const c of [first, second]) writeFileSync(join(c.path, "memory.high"), String(40 * MiB));
    domainAt(75 * MiB);
    expect(await until(() => high(second) === String(20 * MiB))).toBe(true);
    // The oldest target's burst goes on up to halfway to the kill mark (80 MiB: its 20 and 5 more), and its
    // agent's tripwire follows the headroom to the kill mark itself.
    expect(high(first)).toBe(String(25 * MiB));
    expect(file(first.agent.path, "memory.high")).toBe(String(35 * MiB));
    expect(file(second.agent.path, "memory.high")).toBe(String(35 * MiB));
    // It grew 5 MiB and the domain fell back 2 (memory freed elsewhere): its tripwire rises with the headroom, the frozen one's does not.
    writeFileSync(join(first.agent.path, "memory.current"), String(25 * MiB));
    domainAt(80 * MiB);
    expect(await until(() => file(first.agent.path, "memory.high") === String(35 * MiB))).toBe(true);
    usageOf(first, 25 * MiB);
    domainAt(78 * MiB);
    await sleep(250);
    expect(file(first.agent.path, "memory.high")).toBe(String(37 * MiB));
    // Its own ceiling moves with the room as well, both ways: none at 80 MiB, 2 MiB at 78.
    expect(high(first)).toBe(String(27 * MiB));
    expect(file(second.agent.path, "memory.high")).toBe(String(32 * MiB)); // lowered with the headroom, never raised
    // The kernel lets it past its memory.high by a little: without room, the ceiling does not follow the usage up.
    usageOf(first, 29 * MiB);
    domainAt(82 * MiB);
    await sleep(250);
    expect(high(first)).toBe(String(27 * MiB));
    domainAt(78 * MiB);
    // The keeper ends: the second build keeps now, thawed at once and out of the hold.
    holds.length = 0;
    await calls.endCall(first.id);
    // Its burst logic decides its memory.high again (the 32 MiB allowance over its 8 MiB baseline: 40 MiB), under the
    // keeper's ceiling: its 20 MiB and the 2 MiB of room to 80.
    expect(await until(() => high(second) === String(22 * MiB))).toBe(true);
    expect(second.events.join("\n")).toMatch(/released \(its burst is the one that goes on while the host domain is short of memory\)/);
    expect(holds).toEqual(["default/worker2: rank 1, slots "]);
    expect(second.killedBy).toBeUndefined();
  });

  it("with kill_agent, holds the target agents' own leaves at its mark (a second slot), telling the scheduler of changes only", async () => {
    const { calls, holds, ownHolds } = setup(POLICY.replace("kill = 90%", "kill = 90%\n    kill_agent = 95%"));
    // The freeze mark's slot for calls, the kill_agent mark's for agents' own leaves.
    expect(holds.slice(0, 2)).toEqual([
      `slot 0: root at ${Math.floor(0.7 * 100 * MiB)}, ranks 1,2`,
      `slot 1: root at ${Math.floor(0.95 * 100 * MiB)}, ranks 1,2`,
    ]);
    calls.startCall({ agent: "worker1", argv: ["build"] });
    calls.startCall({ agent: "worker1", argv: ["git"] });
    expect(ownHolds).toEqual(["default/worker1's own: rank 1, slots 1"]);
    // An agent granted rank high at its first call leaves the brake (it joined it as a normal agent).
    calls.startCall({ agent: "boss", argv: ["build"], hints: ["rank=high"] });
    expect(ownHolds.slice(1)).toEqual(["default/boss's own: rank 1, slots 1", "default/boss's own: rank 0, slots "]);
    // Nothing changed: nothing told.
    calls.startCall({ agent: "worker1", argv: ["build"] });
    expect(ownHolds).toHaveLength(3);
  });

  it("holds no agent's own leaf without kill_agent", () => {
    const { calls, ownHolds } = setup();
    calls.startCall({ agent: "worker1", argv: ["build"] });
    calls.startCall({ agent: "boss", argv: ["build"], hints: ["rank=high"] });
    expect(ownHolds).toEqual([]);
  });

  it("without a kernel hold, walks the domain's tripwire up through every watermark", async () => {
    const { root, calls, domainAt } = setup(POLICY, { kernelHold: false });
    const c = calls.startCall({ agent: "w1", argv: ["build"] });
    usageOf(c, 20 * MiB);
    expect(file(root, "memory.high")).toBe(String(50 * MiB));
    domainAt(55 * MiB);
    expect(await until(() => file(root, "memory.high") === String(70 * MiB))).toBe(true);
    domainAt(75 * MiB);
    expect(await until(() => file(root, "memory.high") === String(90 * MiB))).toBe(true);
    domainAt(30 * MiB);
    expect(await until(() => file(root, "memory.high") === String(50 * MiB), 1500)).toBe(true);
  });

  it("with a kernel hold, notices a watermark without a tripwire event by polling near it", async () => {
    const { root, calls, domainAt } = setup();
    const keeper = calls.startCall({ agent: "w0", argv: ["build"] });
    usageOf(keeper, 20 * MiB); // bursting and older: the keeper
    await sleep(5);
    const a = calls.startCall({ agent: "w1", argv: ["build"] });
    usageOf(a, 20 * MiB);
    writeFileSync(join(a.path, "memory.high"), String(40 * MiB));
    // Near the withdraw mark (within 10% of the budget): polled every 50 ms, not every second.
    domainAt(45 * MiB, { quiet: true });
    await sleep(1100);
    domainAt(55 * MiB, { quiet: true });
    expect(await until(() => high(a) === String(20 * MiB), 300)).toBe(true);
    expect(file(root, "memory.high")).toBe(String(90 * MiB));
  });

  it("with a kernel hold, gives each low-ranked agent a tripwire of its own at the domain's headroom, never the high-ranked one", async () => {
    const { calls, domainAt } = setup();
    const boss = calls.startCall({ agent: "boss", argv: ["build"], hints: ["rank=high"] });
    const keeper = calls.startCall({ agent: "keeper", argv: ["build"] });
    await sleep(5);
    const w = calls.startCall({ agent: "worker", argv: ["build"] });
    writeFileSync(join(keeper.agent.path, "memory.current"), "0");
    writeFileSync(join(w.agent.path, "memory.current"), String(10 * MiB));
    writeFileSync(join(boss.agent.path, "memory.current"), String(30 * MiB));
    for (const c of [boss, w]) writeFileSync(join(c.agent.path, "memory.high"), "max");
    // 40 MiB used, the withdraw mark at 50: the worker may grow 10 MiB more before it alone crosses it.
    domainAt(40 * MiB);
    expect(await until(() => file(w.agent.path, "memory.high") === String(20 * MiB))).toBe(true);
    // Frozen (75 MiB): never raised, though the headroom to the kill mark would allow 30 MiB.
    writeFileSync(join(w.agent.path, "memory.current"), String(15 * MiB));
    domainAt(75 * MiB);
    await sleep(300);
    expect(file(w.agent.path, "memory.high")).toBe(String(20 * MiB));
    // Crossed while frozen: left where it is, the kernel's penalty growing with the overage.
    writeFileSync(join(w.agent.path, "memory.current"), String(25 * MiB));
    domainAt(80 * MiB);
    await sleep(300);
    expect(file(w.agent.path, "memory.high")).toBe(String(20 * MiB));
    // Released (below 40%): armed again at its usage plus the headroom to the withdraw mark.
    domainAt(30 * MiB);
    expect(await until(() => file(w.agent.path, "memory.high") === String(45 * MiB), 1500)).toBe(true);
    expect(file(boss.agent.path, "memory.high")).toBe("max");
  });

  it("at the freeze mark freezes the low-ranked agents' own processes when a higher-ranked agent shares the domain, and releases them", async () => {
    const { calls, domainAt } = setup();
    const boss = calls.startCall({ agent: "boss", argv: ["build"], hints: ["rank=high"] });
    const w = calls.startCall({ agent: "worker", argv: ["build"] });
    const leaf = (c: ToolCall) => join(c.agent.path, "agent");
    writeFileSync(join(leaf(w), "memory.current"), String(30 * MiB + 5));
    writeFileSync(join(leaf(boss), "memory.current"), String(30 * MiB));
    for (const c of [boss, w]) writeFileSync(join(leaf(c), "memory.high"), "max");
    const seen: AcgEvent[] = [];
    const off = events.subscribe((e) => seen.push(e));
    cleanups.push(off);
    domainAt(60 * MiB);
    await sleep(200);
    expect(file(leaf(w), "memory.high")).toBe("max"); // withdraw does not reach an agent's own processes
    domainAt(75 * MiB);
    expect(await until(() => file(leaf(w), "memory.high") === String(31 * MiB))).toBe(true);
    expect(file(leaf(boss), "memory.high")).toBe("max");
    expect(seen.some((e) => e.kind === "frozen" && e.agent === w.agent.key && e.call === undefined)).toBe(true);
    // Never raised while frozen.
    writeFileSync(join(leaf(w), "memory.current"), String(40 * MiB));
    domainAt(76 * MiB);
    await sleep(300);
    expect(file(leaf(w), "memory.high")).toBe(String(31 * MiB));
    domainAt(30 * MiB);
    expect(await until(() => file(leaf(w), "memory.high") === "max", 1500)).toBe(true);
    expect(seen.some((e) => e.kind === "thawed" && e.agent === w.agent.key && e.call === undefined)).toBe(true);
  });

  it("leaves the agents' own processes alone where every agent is a target: nobody is protected by stalling them", async () => {
    const { calls, domainAt } = setup();
    const w1 = calls.startCall({ agent: "w1", argv: ["build"] });
    await sleep(5);
    const w2 = calls.startCall({ agent: "w2", argv: ["build"] });
    for (const c of [w1, w2]) usageOf(c, 10 * MiB);
    writeFileSync(join(w1.agent.path, "agent", "memory.current"), String(30 * MiB));
    writeFileSync(join(w1.agent.path, "agent", "memory.high"), "max");
    domainAt(75 * MiB);
    expect(await until(() => w2.events.some((e) => e.includes("frozen")))).toBe(true);
    expect(file(join(w1.agent.path, "agent"), "memory.high")).toBe("max");
  });

  it("kill_agent: past its mark kills the lowest-ranked, then largest agent whole, one at a time, never the high-ranked one", async () => {
    const { root, calls, log, domainAt } = setup(POLICY.replace("kill = 90%", "kill = 90%\n    kill_agent = 95%"));
    const seen: AcgEvent[] = [];
    cleanups.push(events.subscribe((e) => seen.push(e)));
    const boss = calls.startCall({ agent: "boss", argv: ["build"], hints: ["rank=high"] });
    const big = calls.startCall({ agent: "big", argv: ["git"] });
    const small = calls.startCall({ agent: "small", argv: ["git"] });
    const own = (c: ToolCall, bytes: number) => writeFileSync(join(c.agent.path, "memory.current"), String(bytes));
    own(boss, 50 * MiB);
    own(big, 30 * MiB);
    own(small, 10 * MiB);
    const populated = (c: ToolCall, n: 0 | 1) => writeFileSync(join(c.agent.path, "cgroup.events"), `populated ${n}\nfrozen 0\n`);
    for (const c of [big, small]) populated(c, 1);
    // Held by the scheduler: the domain's one tripwire is at the kill mark, none at kill_agent's below it (it would
    // throttle the boss too).
    expect(file(root, "memory.high")).toBe(String(90 * MiB));
    // The kill mark kills calls (each frees the 21 MiB over the freeze mark); past it, the tripwire moves to
    // kill_agent's mark, the next that can act.
    usageOf(big, 25 * MiB);
    usageOf(small, 22 * MiB);
    domainAt(91 * MiB);
    expect(await until(() => big.killedBy !== undefined && small.killedBy !== undefined)).toBe(true);
    expect(await until(() => file(root, "memory.high") === String(Math.floor(0.95 * 100 * MiB)))).toBe(true);
    // A killed call still being reaped: its memory is on its way back, so no agent is killed for it yet.
    writeFileSync(join(big.path, "cgroup.events"), "populated 1\nfrozen 0\n");
    domainAt(96 * MiB);
    await sleep(400);
    expect(killedWhole(big) || killedWhole(small)).toBe(false);
    writeFileSync(join(big.path, "cgroup.events"), "populated 0\nfrozen 0\n");
    await calls.endCall(big.id);
    await calls.endCall(small.id);
    const next = calls.startCall({ agent: "big", argv: ["git"] });
    domainAt(96 * MiB);
    // Both are normal-ranked: the larger goes, whole, and its calls are told why.
    expect(await until(() => killedWhole(big))).toBe(true);
    expect(next.killedBy).toMatch(
      /^killed with its agent by the runtime: the host domain reached 96% .*\(kill_agent at 95%\); it was the lowest-ranked, largest agent there \(rank normal, 30MiB\)/,
    );
    const killed = seen.filter((e) => e.kind === "killed" && e.call === undefined);
    expect(killed).toHaveLength(1);
    expect(killed[0]?.agent).toBe(big.agent.key);
    expect(log.some((m) => m.includes(`killed agent ${big.agent.key} whole`))).toBe(true);
    // Not another while the first is still being reaped, though usage stays above the mark.
    await sleep(400);
    expect(killedWhole(small)).toBe(false);
    // Reaped, and still above: the next one; never the high-ranked boss, nor an agent twice.
    populated(big, 0);
    expect(await until(() => killedWhole(small))).toBe(true);
    populated(small, 0);
    await sleep(400);
    expect(seen.filter((e) => e.kind === "killed" && e.call === undefined).map((e) => e.agent)).toEqual([big.agent.key, small.agent.key]);
    expect(boss.killedBy).toBeUndefined();
  });

  it("kill_agent does not wait for a killed call whose memory, all of it back, would leave the domain past the mark", async () => {
    const { calls, domainAt } = setup(POLICY.replace("kill = 90%", "kill = 90%\n    kill_agent = 95%"));
    const boss = calls.startCall({ agent: "boss", argv: ["build"], hints: ["rank=high"] });
    const worker = calls.startCall({ agent: "worker", argv: ["git"] });
    writeFileSync(join(boss.agent.path, "memory.current"), String(60 * MiB));
    // Neither the worker nor any call of it frees the 21 MiB over the freeze mark: its call goes first.
    writeFileSync(join(worker.agent.path, "memory.current"), String(10 * MiB));
    writeFileSync(join(worker.agent.path, "cgroup.events"), "populated 1\nfrozen 0\n");
    // The worker's small call dies at the kill mark, and takes its time to exit.
    usageOf(worker, 2 * MiB);
    domainAt(91 * MiB);
    expect(await until(() => worker.killedBy !== undefined)).toBe(true);
    writeFileSync(join(worker.path, "cgroup.events"), "populated 1\nfrozen 0\n");
    // Its 2 MiB would bring 96% back to 94%, under kill_agent's 95%: wait for it.
    domainAt(96 * MiB);
    await sleep(400);
    expect(killedWhole(worker)).toBe(false);
    // The boss grows on: 98% less the 2 MiB is still past kill_agent's 95%, so the worker goes now, whole.
    domainAt(98 * MiB);
    expect(await until(() => killedWhole(worker))).toBe(true);
    expect(boss.killedBy).toBeUndefined();
  });

  it("kills the youngest call that frees enough, not a younger one too small to bring the domain under its freeze mark", async () => {
    const { calls, domainAt } = setup();
    const big = calls.startCall({ agent: "w1", argv: ["build"] });
    await sleep(5);
    const small = calls.startCall({ agent: "w2", argv: ["build"] });
    usageOf(big, 30 * MiB);
    usageOf(small, 3 * MiB);
    // The kernel takes a while to reap a killed call: no other kill meanwhile.
    writeFileSync(join(big.path, "cgroup.events"), "populated 1\nfrozen 0\n");
    // 92% against a 70% freeze mark: 22 MiB must go; the small call holds 3.
    domainAt(92 * MiB);
    expect(await until(() => big.killedBy !== undefined)).toBe(true);
    expect(big.killedBy).toMatch(/it was the lowest-ranked call there that frees enough alone \(agent rank normal, class background\)/);
    await sleep(300);
    expect(small.killedBy).toBeUndefined();
    writeFileSync(join(big.path, "cgroup.events"), "populated 0\nfrozen 0\n");
    domainAt(60 * MiB);
    await sleep(300);
    expect(small.killedBy).toBeUndefined();
  });

  it("with kill_agent, kills no call too small to help where the agent kill frees enough, and kills that agent at its mark", async () => {
    const { calls, domainAt } = setup(POLICY.replace("kill = 90%", "kill = 90%\n    kill_agent = 95%"));
    const boss = calls.startCall({ agent: "boss", argv: ["build"], hints: ["rank=high"] });
    const grower = calls.startCall({ agent: "grower", argv: ["git"] });
    const small = calls.startCall({ agent: "other", argv: ["build"] });
    // The grower's own process holds the memory, not its calls.
    writeFileSync(join(grower.agent.path, "memory.current"), String(50 * MiB));
    writeFileSync(join(small.agent.path, "memory.current"), String(4 * MiB));
    usageOf(grower, 1 * MiB);
    usageOf(small, 3 * MiB);
    domainAt(92 * MiB);
    await sleep(400);
    expect(small.killedBy).toBeUndefined();
    expect(grower.killedBy).toBeUndefined();
    writeFileSync(join(grower.agent.path, "cgroup.events"), "populated 1\nfrozen 0\n");
    domainAt(96 * MiB);
    expect(await until(() => killedWhole(grower))).toBe(true);
    await sleep(300);
    expect(killedWhole(small)).toBe(false);
    expect(small.killedBy).toBeUndefined();
    expect(boss.killedBy).toBeUndefined();
  });

  /** Two killable calls of equal size; the ladder waits up to 10 s for a kill's memory, so that an early end is told from the timeout. */
  async function afterFirstKill(killAt: number) {
    const t = setup(POLICY, { releaseWaitMs: 10_000 });
    const a = t.calls.startCall({ agent: "w1", argv: ["build"] });
    await sleep(5);
    const b = t.calls.startCall({ agent: "w2", argv: ["build"] });
    usageOf(a, 30 * MiB);
    usageOf(b, 30 * MiB);
    t.domainAt(killAt);
    expect(await until(() => b.killedBy !== undefined)).toBe(true);
    return { ...t, a };
  }

  it("kills again once the last kill's memory has shown in the domain's usage and usage climbs back over the mark", async () => {
    const { a, domainAt } = await afterFirstKill(99 * MiB);
    // Not back yet, and usage no higher than at the kill: wait for it rather than kill again.
    domainAt(97 * MiB);
    await sleep(300);
    expect(a.killedBy).toBeUndefined();
    // The kernel gave b's 30 MiB back, then the domain grows past the kill mark again.
    domainAt(70 * MiB);
    await sleep(150);
    expect(a.killedBy).toBeUndefined();
    domainAt(95 * MiB);
    expect(await until(() => a.killedBy !== undefined, 5000)).toBe(true);
  });

  it("does not wait for a kill's memory while usage climbs above its level at the kill: someone else is growing", async () => {
    const { a, domainAt } = await afterFirstKill(95 * MiB);
    domainAt(99 * MiB);
    expect(await until(() => a.killedBy !== undefined, 5000)).toBe(true);
  });

  it("follows a change of the ancestor's memory.max while idle: watermarks, hold and tripwire move", async () => {
    let limit = 100 * MiB;
    const { root, holds } = setup(POLICY, { ancestorMax: () => limit });
    expect(file(root, "memory.high")).toBe(String(90 * MiB));
    limit = 50 * MiB;
    expect(await until(() => file(root, "memory.high") === String(45 * MiB), 2500)).toBe(true);
    expect(holds).toContain(`slot 0: root at ${Math.floor(0.7 * 50 * MiB)}, ranks 1,2`);
  });

  /** Two low-ranked calls under a 1 s freeze bound, the domain just past the freeze mark: b (the younger) frozen. */
  async function frozenPair() {
    const { calls, domainAt } = setup(POLICY.replace("freeze = 70% for 2s", "freeze = 70% for 1s"));
    const a = calls.startCall({ agent: "w1", argv: ["build"] });
    await sleep(5);
    const b = calls.startCall({ agent: "w2", argv: ["build"] });
    usageOf(a, 10 * MiB);
    usageOf(b, 10 * MiB);
    domainAt(75 * MiB);
    expect(await until(() => b.events.some((e) => e.includes("frozen")))).toBe(true);
    return { a, b, domainAt };
  }

  it("counts the freeze bound only while the domain stays at or above the freeze mark", async () => {
    const { b, domainAt } = await frozenPair();
    // Back between the release and freeze marks: still frozen, but not short enough of memory to kill.
    domainAt(60 * MiB);
    await sleep(1500);
    expect(b.killedBy).toBeUndefined();
    expect(b.events.some((e) => e.includes("released"))).toBe(false);
  });

  it("kills a call frozen longer than the freeze bound even below the kill mark, never the keeper", async () => {
    const { a, b } = await frozenPair();
    expect(b.killedBy).toBeUndefined();
    expect(await until(() => b.killedBy !== undefined, 2500)).toBe(true);
    expect(b.killedBy).toMatch(/stayed frozen for 1s/);
    expect(a.killedBy).toBeUndefined();
    // The keeper (the older build, still bursting) was never frozen: a second bound later it still runs.
    await sleep(1600);
    expect(a.killedBy).toBeUndefined();
    expect(a.events.some((e) => e.includes("frozen"))).toBe(false);
  });

  /**
   * Two builds frozen with no bound: the younger is pinned at 20 MiB; the older keeps, and has grown to its
   * ceiling (25 MiB: halfway to the kill mark), where the kernel throttles it.
   */
  async function stillPair() {
    const { calls, domainAt } = setup(POLICY.replace("freeze = 70% for 2s", "freeze = 70%"));
    const keeper = calls.startCall({ agent: "w1", argv: ["build"] });
    await sleep(5);
    const frozen = calls.startCall({ agent: "w2", argv: ["build"] });
    for (const c of [keeper, frozen]) usageOf(c, 20 * MiB);
    // Bursting: their burst logic raised memory.high by the allowance.
    for (const c of [keeper, frozen]) writeFileSync(join(c.path, "memory.high"), String(40 * MiB));
    domainAt(75 * MiB);
    expect(await until(() => high(frozen) === String(20 * MiB) && high(keeper) === String(25 * MiB))).toBe(true);
    usageOf(keeper, 25 * MiB);
    domainAt(80 * MiB);
    let highEvents = 0;
    /** Plays the kernel throttling the keeper at its ceiling: its memory.events `high` count rises. */
    const pressing = setInterval(() => writeFileSync(join(keeper.path, "memory.events"), `low 0\nhigh ${++highEvents}\n`), 50);
    cleanups.push(() => clearInterval(pressing));
    return { keeper, frozen, domainAt, stopPressing: () => clearInterval(pressing) };
  }

  it("ends a freeze that stands still: the pressing keeper's ceiling goes to the next mark, then a frozen call is killed", async () => {
    const { keeper, frozen, domainAt } = await stillPair();
    // Nothing moves for STALL_MS (1 s) with the keeper at its ceiling: its burst may go on up to the kill mark (90 MiB: 10 more).
    expect(await until(() => high(keeper) === String(35 * MiB), 2500)).toBe(true);
    expect(keeper.events.join("\n")).toMatch(/may go on up to the next mark: the domain's freeze stood still at 80% .* for 1s/);
    expect(frozen.killedBy).toBeUndefined();
    // It grows to that ceiling, less than a MiB short of the kill mark, and presses there; nothing moves again: the
    // frozen call is killed as at a freeze bound, never the keeper.
    usageOf(keeper, 35 * MiB);
    domainAt(89.5 * MiB);
    expect(await until(() => frozen.killedBy !== undefined, 2500)).toBe(true);
    expect(frozen.killedBy).toMatch(/freeze stood still at 90%/);
    expect(keeper.killedBy).toBeUndefined();
  });

  it("leaves a freeze alone while the usage moves or the keeper keeps its size", async () => {
    const { keeper, frozen, domainAt, stopPressing } = await stillPair();
    // Moving (above halfway to the kill mark: no room, the keeper stays at its ceiling): nothing is lifted.
    for (const mib of [83, 80, 83, 80, 83]) {
      domainAt(mib * MiB);
      await sleep(400);
    }
    expect(keeper.events.join("\n")).not.toMatch(/next mark/);
    // Still, but the keeper presses no more (it works within its memory): not stuck.
    stopPressing();
    domainAt(80 * MiB);
    await sleep(2500);
    expect(keeper.events.join("\n")).not.toMatch(/next mark/);
    expect(frozen.killedBy).toBeUndefined();
  });

  it("freezes an idle call at a floor, not at its near-zero usage", async () => {
    const { calls, domainAt } = setup();
    const a = calls.startCall({ agent: "w1", argv: ["true"] });
    await sleep(5);
    const b = calls.startCall({ agent: "w2", argv: ["true"] });
    usageOf(b, 100_000);
    domainAt(75 * MiB);
    expect(await until(() => high(b) === String(FREEZE_FLOOR_BYTES))).toBe(true);
    // The oldest target keeps going (its default rule has no baseline: nothing to withdraw), up to halfway to the
    // kill mark (5 MiB more than its ~0), or the floor.
    expect(await until(() => high(a) === String(FREEZE_FLOOR_BYTES))).toBe(true);
  });
});

describe("ranks and the kernel's backstop", () => {
  it("grants a rank within the intent bound and steers oom_score_adj by rank and class", () => {
    const { calls } = setup();
    const boss = calls.startCall({ agent: "boss", argv: ["git"], hints: ["rank=high"] });
    const worker = calls.startCall({ agent: "worker", argv: ["build"] });
    expect(boss.intent.log).toContain("rank=high granted to agent 'default/boss' (was normal)");
    expect(boss.oomScoreAdj).toBe(oomScoreAdj(0, 0));
    expect(boss.oomScoreAdj).toBe(0);
    expect(worker.oomScoreAdj).toBe(550);
    expect(file(worker.path, "memory.oom.group")).toBe("1");
  });

  it("clamps a rank above the agent's bound, and writes guarantees up to acgd's root", () => {
    const { root, calls } = setup(
      POLICY.replace("intent rank <= high", "intent rank <= normal").replace("ranks = [low, normal]", "ranks = [low]"),
    );
    const c = calls.startCall({ agent: "a", argv: ["build"], hints: ["rank=high"] });
    expect(c.intent.log).toContain("rank=high clamped to the agent's bound normal");
    calls.startCall({ agent: "b", argv: ["build"] });
    expect(file(join(root, "default"), "memory.low")).toBe(String(4 * MiB));
    expect(file(root, "memory.low")).toBe(String(4 * MiB));
  });

  it("takes the host budget from the smallest of the policy, the machine and the nearest limited ancestor", () => {
    const policy = policyOf(POLICY.replace("memory = 100MiB", "memory = 64GiB; reserve = 1GiB"));
    const b = hostBudget(policy, { memTotal: 16 * 1024 * MiB, ancestorMax: { bytes: 3 * 1024 * MiB, path: "/sys/fs/cgroup/agents" } });
    expect(b.bytes).toBe(3 * 1024 * MiB);
    expect(b.source).toBe("memory.max 3GiB of /sys/fs/cgroup/agents");
    expect(b.warnings).toHaveLength(2);
    expect(b.warnings[0]).toMatch(/says the host has 64GiB, but this machine has 16GiB/);
    const files: Record<string, string> = { "/cg/a/b/memory.max": "max\n", "/cg/a/memory.max": "1048576\n" };
    expect(nearestMemoryMax("/cg/a/b", "/cg", (f) => files[f] ?? null)).toEqual({ bytes: 1048576, path: "/cg/a" });
    expect(nearestMemoryMax("/cg/x", "/cg", () => "max")).toBeNull();
    // A small guest under a policy written for a larger host, whose reserve is more than the guest has: the guest's memory, not 0.
    const small = hostBudget(policy, { memTotal: 512 * MiB, ancestorMax: null });
    expect(small.bytes).toBe(512 * MiB);
    expect(small.source).toBe("this machine's 512MiB (the policy's reserve 1GiB is more than it has)");
  });
});
