// The fallback enforcer's decisions, driven through a stand-in cgroup tree:
// the test plays the kernel (memory.current, memory.events notifications)
// and reads back what the enforcer wrote.
import { appendFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CgroupTree } from "../../runtime/cgroup-tree.js";
import { CgroupfsEnforcer } from "../../runtime/enforce-cgroupfs.js";
import { ToolCalls, type ToolCall } from "../../runtime/tool-calls.js";
import { fakeRoot, policyOf } from "./helpers.js";

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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup() {
  const root = fakeRoot();
  const calls = new ToolCalls(policyOf(POLICY), new CgroupTree(root));
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
