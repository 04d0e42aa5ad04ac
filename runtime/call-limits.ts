// The limits of the cgroups the tool-call registry makes: a tenant's and an
// agent's from the policy; a call's from its rule's memory, raised by a
// granted intent and never above its agent's limit, with its class's (or
// intent's) CPU weight, as the cgroup files the tree writes; and a taken-over
// call's read back from its cgroup. The registry (tool-calls.ts) decides when
// they are written.

import type { AgentProfileIR, ClassIR, MemoryIR, PolicyIR, RuleIR } from "../compiler/ir.js";
import type { CgroupLimits, CgroupTree } from "./cgroup-tree.js";
import type { GrantedIntent } from "./intents.js";

/** The rule's memory settings after intents, and the class's (or intent's) CPU weight. */
export interface CallLimits extends Pick<MemoryIR, "baselineBytes" | "limitBytes" | "lowBytes" | "minBytes"> {
  cpuWeight: number;
}

/**
 * A rule's memory and the class's weight, raised by a granted memory intent,
 * and never above the agent's own limit (`agentLimitBytes`, null = none): a
 * call's memory.max above its agent's would promise memory the agent cannot give.
 */
export function callLimits(rule: RuleIR, cls: ClassIR, intent: GrantedIntent, agentLimitBytes: number | null): CallLimits {
  const m = rule.memory;
  const ask = intent.memoryBytes;
  const withinAgent = (bytes: number) => (agentLimitBytes === null ? bytes : Math.min(bytes, agentLimitBytes));
  return {
    baselineBytes: m.baselineBytes === null ? null : withinAgent(ask === null ? m.baselineBytes : Math.max(m.baselineBytes, ask)),
    limitBytes: m.limitBytes === null ? null : withinAgent(ask === null ? m.limitBytes : Math.max(m.limitBytes, ask)),
    lowBytes: m.lowBytes,
    minBytes: m.minBytes,
    cpuWeight: intent.cpuWeight ?? cls.cpuWeight,
  };
}

export function cgroupLimits(l: CallLimits): CgroupLimits {
  return {
    memoryHigh: l.baselineBytes,
    memoryMax: l.limitBytes,
    memoryLow: l.lowBytes,
    memoryMin: l.minBytes,
    cpuWeight: l.cpuWeight,
    oomGroup: true,
  };
}

export function tenantLimits(policy: PolicyIR, tenant: string): CgroupLimits {
  const t = policy.tenants.find((x) => x.name === tenant);
  return t ? { memoryMax: t.limitBytes, memoryLow: t.guaranteeBytes, cpuWeight: t.cpuWeight } : {};
}

export function agentLimits(p: AgentProfileIR): CgroupLimits {
  return { memoryMax: p.limitBytes, memoryLow: p.guaranteeBytes, cpuWeight: p.cpuWeight };
}

/** The class of an agent's own processes (`agent { class NAME }`), or undefined: they are in no class of their own. */
export function ownClassOf(p: AgentProfileIR, policy: PolicyIR): ClassIR | undefined {
  return p.ownClassId === null ? undefined : policy.classes[p.ownClassId];
}

/** The limits a call's cgroup files hold; a file that is absent or unreadable keeps the fallback's value. */
export function limitsInCgroup(tree: CgroupTree, path: string, fallback: CallLimits): CallLimits {
  const read = (file: string, dflt: number | null): number | null => {
    const text = tree.readKnob(path, file)?.trim();
    if (text === undefined) return dflt;
    if (text === "max") return null;
    return /^\d+$/.test(text) ? Number(text) : dflt;
  };
  return {
    baselineBytes: read("memory.high", fallback.baselineBytes),
    limitBytes: read("memory.max", fallback.limitBytes),
    lowBytes: read("memory.low", fallback.lowBytes) ?? fallback.lowBytes,
    minBytes: read("memory.min", fallback.minBytes) ?? fallback.minBytes,
    cpuWeight: read("cpu.weight", fallback.cpuWeight) ?? fallback.cpuWeight,
  };
}
