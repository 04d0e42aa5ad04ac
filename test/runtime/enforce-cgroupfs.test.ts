// The fallback enforcer's decisions, driven through a stand-in cgroup tree:
// the test plays the kernel (memory.current, memory.events notifications)
// and reads back what the enforcer wrote.
import { appendFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { CgroupfsEnforcer, PRESSURE_THROTTLE_FLOOR_BYTES } from "../../runtime/enforce-cgroupfs.js";
import { ToolCalls, type ToolCall } from "../../runtime/tool-calls.js";
import { fakeRoot, policyOf, standInTree } from "./helpers.js";

const MiB = 1024 * 1024;
const POLICY = `version 1
policy burst_test {
  host { memory = 1GiB }
  class build { priority = normal; cpu.weight = 100 }
  tool bursty {
    match exe == "bursty"
    class build
    memory.baseline = 16MiB
    memory.limit = 64MiB
    memory.burst = 8MiB for 300ms, cooldown 1s
    over_high throttle 10ms..200ms ramp 400ms, kill after 1s
  }
  tool default {
    class build
    memory.baseline = 16MiB
    memory.limit = 64MiB
  }
}
`;
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup() {
  const root = fakeRoot();
  const calls = new ToolCalls(policyOf(POLICY), standInTree(root));
  const enforcer = new CgroupfsEnforcer(calls, { psi: null });
  calls.addEnforcer(enforcer);
  cleanups.push(() => {
    enforcer.close();
    rmSync(root, { recursive: true, force: true });
  });
  return calls;
}

let highCount = 0;
/** Plays the kernel: usage now, and a `high` event notification. */
function kernelHigh(call: ToolCall, usage: number) {
  writeFileSync(join(call.path, "memory.current"), String(usage));
  appendFileSync(join(call.path, "memory.events"), `high ${++highCount}\n`);
}
const high = (call: ToolCall) => Number(readFileSync(join(call.path, "memory.high"), "utf8"));
async function until(cond: () => boolean, ms = 2000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
  return cond();
}

describe("burst and over_high through memory.high", () => {
  it("raises memory.high by the burst while credit lasts, then ramps it down to the baseline and kills", async () => {
    const calls = setup();
    const call = calls.startCall({ agent: "a", argv: ["bursty"] });
    expect(high(call)).toBe(16 * MiB);
    kernelHigh(call, 20 * MiB);
    expect(await until(() => high(call) === 24 * MiB)).toBe(true);
    expect(call.events.at(-1)).toMatch(/^burst: usage 20MiB above the baseline 16MiB; memory.high raised by 8MiB for 0.3s of credit/);
    // Credit expiry (300ms): throttled, memory.high pulled to the usage first...
    expect(await until(() => high(call) <= 20 * MiB, 1000)).toBe(true);
    expect(call.events.some((e) => e.startsWith("throttled (burst credit spent)"))).toBe(true);
    // ...then down to the baseline over the ramp, and killed after 1s over.
    expect(await until(() => high(call) === 16 * MiB, 1500)).toBe(true);
    expect(await until(() => call.killedBy !== undefined, 1500)).toBe(true);
    expect(readFileSync(join(call.path, "cgroup.kill"), "utf8")).toBe("1");
    expect(call.killedBy).toMatch(/^killed by the runtime: over its baseline 16MiB for 1\.\ds \(rule 'bursty' kills after 1s\)$/);
  });

  it("throttles at once above baseline+burst, and is calm again below the baseline", async () => {
    const calls = setup();
    const call = calls.startCall({ agent: "a", argv: ["bursty"] });
    kernelHigh(call, 30 * MiB);
    expect(await until(() => call.events.some((e) => e.startsWith("throttled (above baseline+burst): usage 30MiB")))).toBe(true);
    expect(high(call)).toBe(30 * MiB);
    kernelHigh(call, 10 * MiB);
    expect(await until(() => call.events.some((e) => e.startsWith("calm:")))).toBe(true);
    expect(high(call)).toBe(16 * MiB);
    expect(call.killedBy).toBeUndefined();
  });

  it("leaves calls of rules without burst or over_high settings at their baseline with default throttling", async () => {
    const calls = setup();
    const call = calls.startCall({ agent: "a", argv: ["other"] });
    kernelHigh(call, 20 * MiB);
    expect(await until(() => call.events.some((e) => e.startsWith("throttled (no burst allowance)")))).toBe(true);
    expect(high(call)).toBe(20 * MiB);
    await calls.endCall(call.id);
  });
});

describe("pressure rules through PSI triggers", () => {
  const PRESSURE_POLICY = `version 1
policy pressure_test {
  host { memory = 1GiB }
  class interactive { priority = high; cpu.weight = 400 }
  class background { priority = low; cpu.weight = 25 }
  agent { max_agents = 2 }
  tool vcs { match exe == "git"; class interactive; memory.baseline = 8MiB; memory.limit = 16MiB; memory.guarantee = 1MiB }
  tool unbounded { match exe == "cat"; class background; memory.limit = 64MiB }
  tool default { class background; memory.baseline = 16MiB; memory.limit = 32MiB }
  when memory.pressure(agent) > 20% for 500ms { protect interactive; throttle background 100ms }
}
`;
  it("protects and throttles the agent's calls while its pressure is high, and restores them after", async () => {
    const root = fakeRoot();
    const calls = new ToolCalls(policyOf(PRESSURE_POLICY), standInTree(root));
    const triggers: { file: string; trigger: string; fire: () => void }[] = [];
    const enforcer = new CgroupfsEnforcer(calls, {
      psi: { watch: (file, trigger, fire) => (triggers.push({ file, trigger, fire }), { close: () => {} }) },
    });
    calls.addEnforcer(enforcer);
    cleanups.push(() => {
      enforcer.close();
      rmSync(root, { recursive: true, force: true });
    });
    const pressure = join(root, "default", "a", "memory.pressure");
    const setTotal = (us: number) =>
      writeFileSync(pressure, `some avg10=0.00 avg60=0.00 avg300=0.00 total=${us}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n`);
    const git = calls.startCall({ agent: "a", argv: ["git"] });
    setTotal(1000);
    const bg = calls.startCall({ agent: "a", argv: ["make"] });
    const idle = calls.startCall({ agent: "a", argv: ["make"] });
    const noBaseline = calls.startCall({ agent: "a", argv: ["cat"] });
    expect(triggers.map((t) => [t.file, t.trigger])).toEqual([[pressure, "some 100000 500000"]]);
    writeFileSync(join(git.path, "memory.current"), String(5 * MiB));
    // bg bursts (memory.high raised above its 16MiB baseline); idle uses almost nothing.
    writeFileSync(join(bg.path, "memory.current"), String(20 * MiB));
    writeFileSync(join(bg.path, "memory.high"), String(24 * MiB));
    writeFileSync(join(idle.path, "memory.current"), "4096");
    writeFileSync(join(noBaseline.path, "memory.current"), "4096");
    // An event without stall growth (a trigger signalling at registration) changes nothing.
    triggers[0]!.fire();
    expect(readFileSync(join(git.path, "memory.low"), "utf8")).toBe(String(1 * MiB));
    // Real pressure: 300ms stalled since the last reading.
    setTotal(301_000);
    triggers[0]!.fire();
    expect(readFileSync(join(git.path, "memory.low"), "utf8")).toBe(String(5 * MiB));
    // The bursting call loses its headroom; idle calls are not pinned at their ~0 usage (that would wedge
    // them): they keep their baseline, or the stated floor without one.
    expect(readFileSync(join(bg.path, "memory.high"), "utf8")).toBe(String(20 * MiB));
    expect(readFileSync(join(idle.path, "memory.high"), "utf8")).toBe(String(16 * MiB));
    expect(readFileSync(join(noBaseline.path, "memory.high"), "utf8")).toBe(String(PRESSURE_THROTTLE_FLOOR_BYTES));
    const throttled = (at: string, usage: string) =>
      `pressure (agent:default/a): throttled at ${at} (memory.high; usage ${usage}) for 100ms, ` +
      "again in each window while the rule is active";
    expect(bg.events.at(-1)).toBe(throttled("20MiB", "20MiB"));
    expect(idle.events.at(-1)).toBe(throttled("16MiB", "4KiB"));
    // The hold lasts the policy's delay (a call pinned at its usage stalls, which is pressure: held for as long
    // as the rule is active it would keep its own trigger firing), then the next window's event holds it again.
    expect(await until(() => readFileSync(join(noBaseline.path, "memory.high"), "utf8") === "max", 1000)).toBe(true);
    const told = noBaseline.events.length;
    setTotal(601_000);
    triggers[0]!.fire();
    expect(readFileSync(join(noBaseline.path, "memory.high"), "utf8")).toBe(String(PRESSURE_THROTTLE_FLOOR_BYTES));
    expect(noBaseline.events.length).toBe(told);
    // No event for two windows: cleared, limits restored (bg is back under its baseline meanwhile: calm).
    writeFileSync(join(bg.path, "memory.current"), String(10 * MiB));
    expect(await until(() => readFileSync(join(git.path, "memory.low"), "utf8") === String(1 * MiB), 2000)).toBe(true);
    expect(readFileSync(join(bg.path, "memory.high"), "utf8")).toBe(String(16 * MiB));
    expect(git.events.at(-1)).toBe("pressure (agent:default/a) cleared: limits restored");
  });

  it("throttles a class one agent rank at a time: a higher-ranked agent only after every lower-ranked one, own processes included", async () => {
    const RANKED = `version 1
policy ranked {
  host { memory = 1GiB }
  class background { priority = low }
  agent { max_agents = 4; intent rank <= high }
  tool default { class background; memory.baseline = 16MiB }
  when memory.pressure(host) > 20% for 500ms { throttle background 100ms }
}
`;
    const root = fakeRoot();
    const hostPressure = join(root, "host.pressure");
    const setTotal = (us: number) =>
      writeFileSync(hostPressure, `some avg10=0.00 avg60=0.00 avg300=0.00 total=${us}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n`);
    setTotal(0);
    const calls = new ToolCalls(policyOf(RANKED), standInTree(root));
    const triggers: (() => void)[] = [];
    const enforcer = new CgroupfsEnforcer(calls, {
      hostPressureFile: hostPressure,
      psi: { watch: (_f, _t, fire) => (triggers.push(fire), { close: () => {} }) },
    });
    calls.addEnforcer(enforcer);
    cleanups.push(() => {
      enforcer.close();
      rmSync(root, { recursive: true, force: true });
    });
    const boss = calls.startCall({ agent: "boss", argv: ["pip"], hints: ["rank=high"] });
    const worker = calls.startCall({ agent: "worker", argv: ["pip"] });
    for (const c of [boss, worker]) {
      writeFileSync(join(c.path, "memory.current"), String(20 * MiB));
      writeFileSync(join(c.path, "memory.high"), String(24 * MiB));
    }
    setTotal(300_000);
    triggers[0]!();
    expect(readFileSync(join(worker.path, "memory.high"), "utf8")).toBe(String(20 * MiB));
    expect(readFileSync(join(boss.path, "memory.high"), "utf8")).toBe(String(24 * MiB));
    // The low-ranked call ends, the worker's own process lives on (a ladder may have frozen it): still lower-ranked
    // work of a throttled class (the default rule's, the worker having no class of its own) in scope, so the boss is spared.
    const workerOwn = join(worker.agent.path, "agent", "cgroup.events");
    writeFileSync(workerOwn, "populated 1\nfrozen 0\n");
    await calls.endCall(worker.id);
    setTotal(600_000);
    triggers[0]!();
    expect(readFileSync(join(boss.path, "memory.high"), "utf8")).toBe(String(24 * MiB));
    // Its own process gone too: at the next event the boss's call is next.
    writeFileSync(workerOwn, "populated 0\nfrozen 0\n");
    setTotal(900_000);
    triggers[0]!();
    expect(readFileSync(join(boss.path, "memory.high"), "utf8")).toBe(String(20 * MiB));
  });
});
