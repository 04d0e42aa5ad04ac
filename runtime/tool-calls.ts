// The tool-call lifecycle, shared by acgd and standalone `acg run`: agents get
// their cgroups on first use; a call is matched to a rule, its intents
// checked, its cgroup created with the rule's limits and handed to the
// enforcer; at the end its usage is read, the cgroup removed, and a report
// (with actionable advice after an OOM kill) returned.

import type { AgentProfileIR, ClassIR, MemoryIR, PolicyIR, RuleIR } from "../compiler/ir.js";
import { formatBytes } from "../compiler/units.js";
import { checkName, type CgroupLimits, type CgroupStats, CgroupTree } from "./cgroup-tree.js";
import { grantIntent, parseHints, type GrantedIntent } from "./intents.js";
import { matchRule, type CallFacts } from "./matcher.js";

/** Tenant directory of agents that belong to no tenant. */
export const NO_TENANT = "default";

export class CallError extends Error {
  constructor(readonly code: "bad_request" | "forbidden" | "not_found" | "refused", message: string) {
    super(message);
  }
}

export interface AgentEntry {
  /** Numeric id for the BPF maps (acg_cgroup_info.agent_id), unique while acgd runs. */
  id: number;
  key: string;
  tenant: string;
  agent: string;
  profile: AgentProfileIR;
  path: string;
}

/** The rule's memory settings after intents, and the class's (or intent's) CPU weight. */
export interface CallLimits extends Pick<MemoryIR, "baselineBytes" | "limitBytes" | "lowBytes" | "minBytes"> {
  cpuWeight: number;
}

export interface ToolCall {
  id: string;
  agent: AgentEntry;
  path: string;
  rule: RuleIR;
  cls: ClassIR;
  limits: CallLimits;
  intent: GrantedIntent;
  startedAt: number;
  /** Enforcement decisions, in order, for status and the report. */
  events: string[];
  /** Set when the runtime itself killed the call (over_high kill after). */
  killedBy?: string;
}

export interface StartCallRequest {
  tenant?: string;
  agent: string;
  tool?: string;
  hints?: string[];
  argv: string[];
  path?: string;
}

export interface CallReport {
  id: string;
  rule: string;
  class: string;
  limits: CallLimits;
  durationMs: number;
  memoryPeakBytes: number | null;
  cpuUsageUsec: number | null;
  cpuThrottledUsec: number | null;
  memoryEvents: Record<string, number>;
  oomKilled: boolean;
  killedBy: string | null;
  intentLog: string[];
  events: string[];
  /** What an agent should do after an OOM kill or a runtime kill, or null. */
  advice: string | null;
}

/** What enforcement path each mechanism uses; filled by the enforcer and the BPF loader. */
export interface Enforcer {
  describe(): Record<string, string>;
  callStarted(call: ToolCall): void;
  callEnded(call: ToolCall): void;
  agentAdded(agent: AgentEntry): void;
  policyChanged(policy: PolicyIR): void;
  close(): void;
}

export class ToolCalls {
  #policy: PolicyIR;
  readonly tree: CgroupTree;
  readonly agents = new Map<string, AgentEntry>();
  readonly calls = new Map<string, ToolCall>();
  #seq = 0;
  #agentSeq = 0;
  #enforcers: Enforcer[] = [];

  constructor(policy: PolicyIR, tree: CgroupTree) {
    this.#policy = policy;
    this.tree = tree;
  }

  get policy(): PolicyIR {
    return this.#policy;
  }

  addEnforcer(e: Enforcer): void {
    this.#enforcers.push(e);
  }

  /** New calls follow the new policy; running calls keep the settings they started with. */
  setPolicy(policy: PolicyIR): void {
    this.#policy = policy;
    for (const a of this.agents.values()) {
      a.profile = this.profileFor(a.tenant);
      this.tree.ensureTenant(a.tenant, this.tenantLimits(a.tenant));
      this.tree.ensureAgent(a.tenant, a.agent, agentLimits(a.profile));
    }
    for (const e of this.#enforcers) e.policyChanged(policy);
  }

  /** The agent's cgroups, created on first use. */
  ensureAgent(tenant: string | undefined, agent: string): AgentEntry {
    const t = tenant ?? NO_TENANT;
    const bad = checkName("agent", agent) ?? checkName("tenant", t);
    if (bad) throw new CallError("bad_request", bad);
    if (t !== NO_TENANT && !this.#policy.tenants.some((x) => x.name === t)) {
      const names = this.#policy.tenants.map((x) => x.name);
      throw new CallError("not_found", `unknown tenant '${tenant}': the policy ${names.length ? `defines ${names.join(", ")}` : "defines no tenants; leave --tenant out"}`);
    }
    const key = `${t}/${agent}`;
    const known = this.agents.get(key);
    if (known) return known;
    const profile = this.profileFor(t);
    const same = [...this.agents.values()].filter((a) => a.profile.id === profile.id && !this.removeIfIdle(a)).length;
    if (same >= profile.maxAgents) {
      throw new CallError("refused", `agent '${key}' refused: the policy allows at most ${profile.maxAgents} agent(s) of this profile at once (max_agents)`);
    }
    this.tree.ensureTenant(t, this.tenantLimits(t));
    const path = this.tree.ensureAgent(t, agent, agentLimits(profile));
    const entry: AgentEntry = { id: this.#agentSeq++, key, tenant: t, agent, profile, path };
    this.agents.set(key, entry);
    for (const e of this.#enforcers) e.agentAdded(entry);
    return entry;
  }

  /** Forgets an agent with no running calls and no live process, removing its cgroups; true if removed. */
  removeIfIdle(agent: AgentEntry): boolean {
    if ([...this.calls.values()].some((c) => c.agent === agent) || this.tree.populated(agent.path)) return false;
    this.tree.removeAgent(agent.path);
    this.agents.delete(agent.key);
    return true;
  }

  /** The agent a tree-relative cgroup path ("tenant/agent/leaf") belongs to. */
  agentOfCgroup(rel: string | null): AgentEntry | null {
    if (!rel) return null;
    const [t, a] = rel.split("/");
    return t && a ? (this.agents.get(`${t}/${a}`) ?? null) : null;
  }

  /** Creates the call's cgroup with its rule's limits. Throws CallError on bad input or refused intents. */
  startCall(req: StartCallRequest): ToolCall {
    const agent = this.ensureAgent(req.tenant, req.agent);
    let hints;
    try {
      hints = parseHints(req.hints ?? []);
    } catch (e) {
      throw new CallError("bad_request", (e as Error).message);
    }
    const facts: CallFacts = { hints: hints.matchValues, argv: req.argv };
    if (req.tool !== undefined) facts.tool = req.tool;
    if (req.path !== undefined) facts.path = req.path;
    const policy = this.#policy;
    const rule = matchRule(policy, facts);
    let intent: GrantedIntent;
    try {
      intent = grantIntent(policy, agent.profile, hints.intent);
    } catch (e) {
      throw new CallError("refused", (e as Error).message);
    }
    const cls = policy.classes[intent.classId ?? rule.classId] ?? policy.classes[0]!;
    const limits = callLimits(rule, cls, intent);
    const id = `call-${process.pid}-${++this.#seq}`;
    const path = this.tree.createLeaf(agent.path, id, cgroupLimits(limits));
    const call: ToolCall = { id, agent, path, rule, cls, limits, intent, startedAt: Date.now(), events: [...intent.log] };
    this.calls.set(id, call);
    for (const e of this.#enforcers) e.callStarted(call);
    return call;
  }

  /**
   * Moves an already running process into a call's cgroup: the path for
   * processes that were started in an agent cgroup without `acg run`.
   * The pid must be inside the call's agent subtree.
   */
  adoptPid(callId: string, pid: number): void {
    const call = this.calls.get(callId);
    if (!call) throw new CallError("not_found", `no running tool call '${callId}'`);
    if (!this.pidInAgent(pid, call.agent)) {
      throw new CallError("forbidden", `process ${pid} is not in agent '${call.agent.key}': an agent may only move its own processes`);
    }
    this.tree.movePid(call.path, pid);
  }

  /** Whether a pid lives in the agent's subtree. */
  pidInAgent(pid: number, agent: AgentEntry): boolean {
    if (this.tree.real) return this.agentOfCgroup(this.tree.cgroupOfPid(pid)) === agent;
    return this.tree.pidsBelow(agent.path).includes(pid);
  }

  /** Reads the call's usage, removes its cgroup, and reports. */
  async endCall(id: string): Promise<CallReport> {
    const call = this.calls.get(id);
    if (!call) throw new CallError("not_found", `no running tool call '${id}'`);
    this.calls.delete(id);
    for (const e of this.#enforcers) e.callEnded(call);
    const stats = this.tree.stats(call.path);
    await this.tree.removeLeaf(call.path);
    return buildReport(call, stats, this.#policy);
  }

  private profileFor(tenant: string): AgentProfileIR {
    const tid = this.#policy.tenants.findIndex((t) => t.name === tenant);
    const profiles = this.#policy.agentProfiles;
    return (tid >= 0 ? profiles.find((p) => p.tenantId === tid) : undefined) ?? profiles[0]!;
  }

  private tenantLimits(tenant: string): CgroupLimits {
    const t = this.#policy.tenants.find((x) => x.name === tenant);
    return t ? { memoryMax: t.limitBytes, memoryLow: t.guaranteeBytes, cpuWeight: t.cpuWeight } : {};
  }
}

function agentLimits(p: AgentProfileIR): CgroupLimits {
  return { memoryMax: p.limitBytes, memoryLow: p.guaranteeBytes, cpuWeight: p.cpuWeight };
}

/** A rule's memory and the class's weight, raised by a granted memory intent. */
export function callLimits(rule: RuleIR, cls: ClassIR, intent: GrantedIntent): CallLimits {
  const m = rule.memory;
  const ask = intent.memoryBytes;
  return {
    baselineBytes: m.baselineBytes === null ? null : ask === null ? m.baselineBytes : Math.max(m.baselineBytes, ask),
    limitBytes: m.limitBytes === null ? null : ask === null ? m.limitBytes : Math.max(m.limitBytes, ask),
    lowBytes: m.lowBytes,
    minBytes: m.minBytes,
    cpuWeight: intent.cpuWeight ?? cls.cpuWeight,
  };
}

export function cgroupLimits(l: CallLimits): CgroupLimits {
  return { memoryHigh: l.baselineBytes, memoryMax: l.limitBytes, memoryLow: l.lowBytes, memoryMin: l.minBytes, cpuWeight: l.cpuWeight };
}

const fmt = (b: number | null) => (b === null ? "unlimited" : formatBytes(b));

/** A hint size comfortably above what was used, rounded to a size people write. */
function suggestedSize(used: number): number {
  const want = used * 2;
  // A quarter of the power of two below it: 24MiB stays 24MiB, 1.2GiB becomes 1.25GiB.
  const step = Math.max(1024 ** 2, 2 ** Math.floor(Math.log2(want)) / 4);
  return Math.ceil(want / step) * step;
}

export function buildReport(call: ToolCall, stats: CgroupStats, policy: PolicyIR): CallReport {
  const ev = stats.memoryEvents;
  const oomKilled = (ev["oom_kill"] ?? 0) > 0 || (ev["oom_group_kill"] ?? 0) > 0;
  let advice: string | null = null;
  if (oomKilled) advice = oomAdvice(call, stats, policy);
  else if (call.killedBy) advice = `${call.killedBy}; ask for more with --hint memory=SIZE (up to ${fmt(call.agent.profile.intent.memoryMaxBytes)}) or keep the call under its baseline ${fmt(call.limits.baselineBytes)}`;
  return {
    id: call.id,
    rule: call.rule.name,
    class: call.cls.name,
    limits: call.limits,
    durationMs: Date.now() - call.startedAt,
    memoryPeakBytes: stats.memoryPeak,
    cpuUsageUsec: stats.cpuUsageUsec,
    cpuThrottledUsec: stats.cpuThrottledUsec,
    memoryEvents: ev,
    oomKilled,
    killedBy: call.killedBy ?? null,
    intentLog: call.intent.log,
    events: call.events,
    advice,
  };
}

function oomAdvice(call: ToolCall, stats: CgroupStats, policy: PolicyIR): string {
  const limit = call.limits.limitBytes;
  const used = Math.max(stats.memoryPeak ?? 0, limit ?? 0);
  // The call's own limit was hit when its memory.events counts `max`/`oom`; otherwise an ancestor's (agent, tenant) was.
  const ownLimit = limit !== null && ((stats.memoryEvents["oom"] ?? 0) > 0 || (stats.memoryEvents["max"] ?? 0) > 0);
  const where = ownLimit
    ? `the tool call hit its memory limit of ${fmt(limit)} (rule '${call.rule.name}': baseline ${fmt(call.rule.memory.baselineBytes)}, limit ${fmt(call.rule.memory.limitBytes)})`
    : `the agent '${call.agent.key}' hit its memory limit of ${fmt(call.agent.profile.limitBytes)}`;
  const head = `killed by the OOM killer: ${where}; peak usage ${fmt(stats.memoryPeak)}.`;
  if (!ownLimit) return `${head} Other tool calls of this agent share that limit: run fewer at once, or ask the operator for a larger agent limit.`;
  const bound = call.agent.profile.intent.memoryMaxBytes;
  const want = suggestedSize(used);
  if (bound === null) return `${head} This agent may not ask for more memory (no \`intent memory\` bound in policy '${policy.name}'); ask the operator or split the work.`;
  if (limit !== null && limit >= bound) return `${head} That is already the most this agent may ask for (${fmt(bound)}); split the work into smaller calls or ask the operator to raise the agent's bound.`;
  if (want <= bound) return `${head} Retry with --hint memory=${formatBytes(want)} (this agent may ask for up to ${fmt(bound)}).`;
  return `${head} Retry with --hint memory=${formatBytes(bound)}, the most this agent may ask for; it may still not be enough (about ${formatBytes(want)} would be comfortable).`;
}
