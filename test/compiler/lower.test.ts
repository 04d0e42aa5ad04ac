// Lowering: names become ids, units base numbers, defaults are filled, and each
// matcher is split into what the kernel decides and what needs user space.

import { describe, expect, it } from "vitest";
import { loadPolicy, loadPolicyText } from "../../compiler/frontend.js";
import { lowerPolicy, DEFAULT_OVER_HIGH } from "../../compiler/lower.js";
import type { PolicyIR } from "../../compiler/ir.js";

function lower(text: string): PolicyIR {
  const r = loadPolicyText("t.acg", text);
  if (!r.checked) throw new Error(JSON.stringify(r.diagnostics));
  return lowerPolicy(r.checked);
}

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe("lowering ranks and ladders", () => {
  it("gives a tenant's agents the tenant's rank unless their profile has one, and lowers ladders with defaults", () => {
    const ir = lower(`version 1
policy p {
  host { memory = 8GiB }
  class c { priority = normal }
  tenant paid { rank = high; memory.limit = 4GiB }
  tenant free { rank = low; agent { rank = high; intent rank <= normal } }
  tool default { class c }
  ladder host { freeze = 80% for 10s; kill = 90% }
  ladder tenant paid { ranks = [low]; withdraw_burst = 50% }
}
`);
    expect(ir.tenants.map((t) => t.rank)).toEqual([0, 2]);
    expect(ir.agentProfiles.map((p) => [p.tenantId, p.rank, p.intent.rankMax])).toEqual([
      [null, 1, null],
      [0, 0, null],
      [1, 0, 1],
    ]);
    expect(ir.ladders).toEqual([
      {
        id: 0,
        scope: { kind: "host" },
        rankMask: 0b110,
        withdrawBurstPercent: null,
        freezePercent: 80,
        freezeMaxNs: 10e9,
        killPercent: 90,
        killAgentPercent: null,
        releasePercent: 70,
      },
      {
        id: 1,
        scope: { kind: "tenant", tenantId: 0 },
        rankMask: 0b100,
        withdrawBurstPercent: 50,
        freezePercent: null,
        freezeMaxNs: null,
        killPercent: null,
        killAgentPercent: null,
        releasePercent: 40,
      },
    ]);
  });
});

describe("lowering", () => {
  it("resolves the SWE agent host policy", () => {
    const r = loadPolicy("policies/swe-agents.acg");
    const ir = lowerPolicy(r.checked!);
    expect(ir.name).toBe("swe_agent_host");
    expect(ir.sourceHash).toMatch(/^[0-9a-f]{64}$/);
    expect(ir.host).toEqual({ memoryBytes: 64 * GiB, reserveBytes: 4 * GiB });
    expect(ir.classes.map((c) => [c.name, c.priority, c.cpuWeight, c.sliceNs])).toEqual([
      ["interactive", 0, 400, 2e6],
      ["build", 1, 100, 20e6],
      ["background", 2, 25, 50e6],
    ]);
    expect(ir.rules.map((r) => r.name)).toEqual(["tests", "installs", "builds", "vcs", "inspect", "default"]);
    expect(ir.defaultRuleId).toBe(5);
    const tests = ir.rules[0]!;
    expect(tests.memory).toEqual({
      baselineBytes: 512 * MiB,
      limitBytes: 4 * GiB,
      lowBytes: 0,
      minBytes: 0,
      burst: { bytes: 3 * GiB, durationNs: 60e9, mode: "refill", refillNs: 120e9 },
      overHigh: { delayMinMs: 20, delayMaxMs: 2000, rampNs: 10e9, killAfterNs: 60e9 },
    });
    // exe in [...] is kernel-decidable; argv regex and hint are not.
    expect(tests.kernelDecidable).toBe(false);
    expect(ir.rules[3]!.kernelDecidable).toBe(true); // vcs: exe in ["git", "hg"]
    expect(ir.agentProfiles[0]).toMatchObject({
      tenantId: null,
      guaranteeBytes: 256 * MiB,
      limitBytes: 8 * GiB,
      maxAgents: 16,
      intent: { memoryMaxBytes: 4 * GiB, cpuWeightMax: null, classIds: [1, 2], excess: "clamp" },
    });
    expect(ir.pressureRules[0]).toEqual({
      id: 0,
      scope: { kind: "host" },
      psi: "some",
      thresholdPercent: 40,
      windowNs: 1e9,
      protectClassMask: 1,
      throttle: [{ classMask: 4, delayMs: 200 }],
    });
  });

  it("reads max_calls, 64 by default, and refuses one out of range", () => {
    const base = (agent: string) =>
      "version 1\npolicy p {\n  host { memory = 8GiB; reserve = 1GiB }\n  class c { priority = normal }\n" +
      `  agent { ${agent} }\n  tool default { class c }\n}\n`;
    expect(lower(base("max_calls = 3")).agentProfiles[0]!.maxCalls).toBe(3);
    expect(lower(base("max_agents = 2")).agentProfiles[0]!.maxCalls).toBe(64);
    const bad = loadPolicyText("t.acg", base("max_calls = 0"));
    expect(bad.checked).toBeFalsy();
    expect(bad.diagnostics.map((d) => d.code)).toContain("E0205");
  });

  it("fills defaults and gives rules without a class the default rule's class", () => {
    const ir = lower(`version 1
policy p {
  host { memory = 8GiB }
  class a {}
  class b {}
  tool t { match exe == "x" }
  tool default { class b }
}`);
    expect(ir.classes[0]).toEqual({ id: 0, name: "a", priority: 1, cpuWeight: 100, sliceNs: 20e6 });
    expect(ir.rules[0]!.classId).toBe(1);
    expect(ir.rules[0]!.memory).toEqual({
      baselineBytes: null,
      limitBytes: null,
      lowBytes: 0,
      minBytes: 0,
      burst: null,
      overHigh: DEFAULT_OVER_HIGH,
    });
    expect(ir.rules[1]!.match).toEqual({ kind: "true" });
    expect(ir.rules[1]!.kernelMatch).toEqual([{ op: "true" }]);
    expect(ir.agentProfiles).toHaveLength(1);
  });

  it("compiles matchers to postfix Kleene programs over a deduplicated pattern table", () => {
    const ir = lower(`version 1
policy p {
  host { memory = 8GiB }
  class c {}
  tool a { match exe in ["git", "hg"] and not path matches "/opt/*" }
  tool b { match exe == "git" or argv ~ /--fast/ }
  tool r { match exe ~ /^make$/ or exe ~ /^g?make$/ }
  tool default { class c }
}`);
    expect(ir.exePatterns).toEqual([
      { index: 0, subject: "exe", kind: "exact", text: "git" },
      { index: 1, subject: "exe", kind: "exact", text: "hg" },
      { index: 2, subject: "path", kind: "glob", text: "/opt/*" },
      { index: 3, subject: "exe", kind: "exact", text: "make" },
    ]);
    expect(ir.rules[0]!.kernelMatch).toEqual([
      { op: "pattern", index: 0 },
      { op: "pattern", index: 1 },
      { op: "or" },
      { op: "pattern", index: 2 },
      { op: "not" },
      { op: "and" },
    ]);
    expect(ir.rules[0]!.kernelDecidable).toBe(true);
    expect(ir.rules[1]!.kernelMatch).toEqual([{ op: "pattern", index: 0 }, { op: "unknown" }, { op: "or" }]);
    expect(ir.rules[1]!.kernelDecidable).toBe(false);
    // An anchored literal regex is an exact comparison; anything else stays in user space.
    expect(ir.rules[2]!.kernelMatch).toEqual([{ op: "pattern", index: 3 }, { op: "unknown" }, { op: "or" }]);
  });

  it("keeps long or bracketed globs out of the kernel", () => {
    const long = "x".repeat(64);
    const ir = lower(`version 1
policy p {
  host { memory = 8GiB }
  class c {}
  tool a { match exe == "${long}" or exe matches "py[23]" }
  tool default { class c }
}`);
    expect(ir.exePatterns).toEqual([]);
    expect(ir.rules[0]!.kernelMatch).toEqual([{ op: "unknown" }, { op: "unknown" }, { op: "or" }]);
  });

  it("gives tenants their own agent profile, or the top-level one", () => {
    const ir = lowerPolicy(loadPolicy("policies/multi-tenant.acg").checked!);
    expect(ir.tenants.map((t) => [t.name, t.guaranteeBytes, t.limitBytes, t.cpuWeight])).toEqual([
      ["interactive_team", 48 * GiB, 96 * GiB, 300],
      ["batch_eval", 32 * GiB, 64 * GiB, 50],
    ]);
    expect(ir.agentProfiles.map((a) => [a.id, a.tenantId, a.maxAgents, a.intent.excess])).toEqual([
      [0, null, 1, "clamp"],
      [1, 0, 12, "clamp"],
      [2, 1, 64, "refuse"],
    ]);
    expect(ir.pressureRules[0]!.scope).toEqual({ kind: "tenant", tenantId: 1 });
    expect(ir.pressureRules[1]!.psi).toBe("full");
    expect(ir.rules[2]!.memory.burst).toEqual({ bytes: GiB, durationNs: 20e9, mode: "cooldown", refillNs: 40e9 });
  });
});
