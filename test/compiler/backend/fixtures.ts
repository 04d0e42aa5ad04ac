// Hand-built policy IR for the back-end tests (until compiler/lower.ts feeds them).

import { IR_VERSION, type ClassIR, type PolicyIR, type RuleIR } from "../../../compiler/ir.js";

const MiB = 1024 * 1024;

function rule(
  id: number,
  name: string,
  classId: number,
  kernelMatch: RuleIR["kernelMatch"],
  memory: Partial<RuleIR["memory"]> = {},
): RuleIR {
  return {
    id,
    name,
    classId,
    memory: {
      baselineBytes: null,
      limitBytes: null,
      lowBytes: 0,
      minBytes: 0,
      burst: null,
      overHigh: { delayMinMs: 10, delayMaxMs: 1000, rampNs: 10e9, killAfterNs: null },
      ...memory,
    },
    match: { kind: "true" },
    kernelMatch,
    kernelDecidable: !kernelMatch.some((k) => k.op === "unknown"),
  };
}

/** A small valid policy: three classes, a build rule (exe globs), a test rule with an argv part (unknown), a default. */
export function sampleIR(overrides: Partial<PolicyIR> = {}): PolicyIR {
  const classes: ClassIR[] = [
    { id: 0, name: "interactive", priority: 0, cpuWeight: 300, sliceNs: 3_000_000 },
    { id: 1, name: "build", priority: 1, cpuWeight: 100, sliceNs: 20_000_000 },
    { id: 2, name: "background", priority: 2, cpuWeight: 50, sliceNs: 20_000_000 },
  ];
  return {
    irVersion: IR_VERSION,
    name: "sample",
    sourceHash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    host: { memoryBytes: 8192 * MiB, reserveBytes: 512 * MiB },
    classes,
    rules: [
      rule(0, "build", 1, [{ op: "pattern", index: 0 }, { op: "pattern", index: 1 }, { op: "or" }], {
        baselineBytes: 512 * MiB,
        limitBytes: 2048 * MiB,
        burst: { bytes: 512 * MiB, durationNs: 30e9, mode: "refill", refillNs: 60e9 },
      }),
      rule(1, "tests", 0, [{ op: "pattern", index: 2 }, { op: "unknown" }, { op: "and" }], { lowBytes: 256 * MiB, minBytes: 128 * MiB }),
      rule(2, "default", 2, [{ op: "true" }]),
    ],
    defaultRuleId: 2,
    exePatterns: [
      { index: 0, subject: "exe", kind: "glob", text: "cc*" },
      { index: 1, subject: "exe", kind: "exact", text: "make" },
      { index: 2, subject: "path", kind: "glob", text: "/usr/bin/py*" },
    ],
    tenants: [],
    agentProfiles: [
      {
        id: 0,
        tenantId: null,
        guaranteeBytes: 0,
        limitBytes: null,
        cpuWeight: 100,
        maxAgents: 4,
        maxCalls: 64,
        ownClassId: null,
        rank: 1,
        intent: { memoryMaxBytes: null, cpuWeightMax: null, classIds: [], rankMax: null, excess: "clamp" },
      },
    ],
    pressureRules: [
      {
        id: 0,
        scope: { kind: "host" },
        psi: "some",
        thresholdPercent: 20,
        windowNs: 1e9,
        protectClassMask: 0b001,
        throttle: [{ classMask: 0b100, delayMs: 50 }],
      },
    ],
    ladders: [
      {
        id: 0,
        scope: { kind: "host" },
        rankMask: 0b110,
        withdrawBurstPercent: 70,
        freezePercent: 80,
        freezeMaxNs: 10e9,
        killPercent: 92,
        killAgentPercent: null,
        releasePercent: 65,
      },
    ],
    ...overrides,
  };
}
