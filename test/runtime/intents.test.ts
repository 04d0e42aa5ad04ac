import { describe, expect, it } from "vitest";
import { grantIntent, IntentError, parseHints, parseSize } from "../../runtime/intents.js";
import { callLimits } from "../../runtime/call-limits.js";
import { policyOf, TEST_POLICY } from "./helpers.js";

const policy = policyOf(TEST_POLICY);
const free = policy.agentProfiles[0]!; // clamp, memory <= 96MiB, classes build/background, cpu.weight <= 200
const strict = policy.agentProfiles[1]!; // refuse, memory <= 48MiB, no class, no cpu.weight
const MiB = 1024 * 1024;

describe("hint parsing", () => {
  it("parses sizes in binary units", () => {
    expect(parseSize("512MiB")).toBe(512 * MiB);
    expect(parseSize("1.5GiB")).toBe(1.5 * 1024 * MiB);
    expect(parseSize("4096")).toBe(4096);
    expect(parseSize("2GB")).toBeNull();
  });

  it("separates intents from match labels", () => {
    expect(parseHints(["memory=32MiB", "class=build", "cpu.weight=150", "kind=tests", "slow"])).toEqual({
      intent: { memoryBytes: 32 * MiB, className: "build", cpuWeight: 150 },
      matchValues: ["tests", "slow"],
    });
  });

  it("names the bad hint and how to write it", () => {
    expect(() => parseHints(["memory=lots"])).toThrow(/memory=lots: not a size; write e\.g\. memory=512MiB/);
    expect(() => parseHints(["cpu.weight=0"])).toThrow(/1 to 10000/);
    expect(() => parseHints(["colour=red"])).toThrow(/unknown hint 'colour='/);
  });
});

describe("intent bounds", () => {
  it("grants requests within the bounds", () => {
    expect(grantIntent(policy, free, { memoryBytes: 64 * MiB, className: "build", cpuWeight: 200 })).toEqual({
      memoryBytes: 64 * MiB,
      classId: 1,
      cpuWeight: 200,
      log: [],
    });
  });

  it("clamps above a bound and logs it", () => {
    const g = grantIntent(policy, free, { memoryBytes: 1024 * MiB, cpuWeight: 5000 });
    expect(g.memoryBytes).toBe(96 * MiB);
    expect(g.cpuWeight).toBe(200);
    expect(g.log).toEqual(["memory=1GiB clamped to the agent's bound 96MiB", "cpu.weight=5000 clamped to the agent's bound 200"]);
  });

  it("ignores (and logs) a class outside the allowed set under clamp", () => {
    const g = grantIntent(policy, free, { className: "interactive" });
    expect(g.classId).toBeNull();
    expect(g.log[0]).toMatch(/class=interactive is not among the classes this agent may choose \(build, background\)/);
  });

  it("refuses above a bound under `intent.excess = refuse`", () => {
    expect(() => grantIntent(policy, strict, { memoryBytes: 64 * MiB })).toThrow(IntentError);
    expect(() => grantIntent(policy, strict, { memoryBytes: 64 * MiB })).toThrow(
      /above this agent's bound of 48MiB \(intent.excess = refuse\)/,
    );
    expect(() => grantIntent(policy, strict, { cpuWeight: 10 })).toThrow(/may not ask for cpu.weight/);
    expect(grantIntent(policy, strict, { memoryBytes: 48 * MiB }).memoryBytes).toBe(48 * MiB);
  });
});

describe("a call's limits against its agent's", () => {
  // An IR as an older acgc (before E0507) could produce: a bound above the agent's limit.
  const rule = policy.rules[0]!;
  const cls = policy.classes[rule.classId]!;
  const ask = (bytes: number) => ({ memoryBytes: bytes, classId: null, cpuWeight: null, log: [] });

  it("raises the rule's baseline and limit to a granted intent, up to the agent's limit and never above it", () => {
    const agentLimit = 6 * 1024 * MiB;
    const within = callLimits(
      { ...rule, memory: { ...rule.memory, baselineBytes: 64 * MiB, limitBytes: 128 * MiB } },
      cls,
      ask(2048 * MiB),
      agentLimit,
    );
    expect([within.baselineBytes, within.limitBytes]).toEqual([2048 * MiB, 2048 * MiB]);
    const above = callLimits(
      { ...rule, memory: { ...rule.memory, baselineBytes: 64 * MiB, limitBytes: 128 * MiB } },
      cls,
      ask(8 * 1024 * MiB),
      agentLimit,
    );
    expect([above.baselineBytes, above.limitBytes]).toEqual([agentLimit, agentLimit]);
    const noAgentLimit = callLimits(
      { ...rule, memory: { ...rule.memory, baselineBytes: 64 * MiB, limitBytes: 128 * MiB } },
      cls,
      ask(8 * 1024 * MiB),
      null,
    );
    expect(noAgentLimit.limitBytes).toBe(8 * 1024 * MiB);
  });
});
