// The tool-call lifecycle, shared by acgd and standalone `acg run`: agents get
// their cgroups on first use; a call is matched to a rule, its intents
// checked, its cgroup created with the rule's limits and handed to the
// enforcer; at the end its usage is read, the cgroup removed, and a report
// (with actionable advice after an OOM kill) returned. This is the registry
// of agents and calls and the order of those steps; the limits are computed
// in call-limits.ts, the report in call-report.ts, and the order in which
// memory actions and the kernel's OOM killer reach calls in victim-order.ts.

import { readdirSync, statSync, watch } from "node:fs";
import { join } from "node:path";
import {
  NO_TENANT,
  PRIORITY_LEVELS,
  type AgentProfileIR,
  type ClassIR,
  type PolicyIR,
  type PriorityLevel,
  type RuleIR,
} from "../compiler/ir.js";
import { agentLimits, callLimits, cgroupLimits, limitsInCgroup, ownClassOf, tenantLimits, type CallLimits } from "./call-limits.js";
import { buildReport, type CallReport } from "./call-report.js";
import type { CallRecord, CallStateStore } from "./call-state.js";
import { AGENT_LEAF, checkName, commandLineOf, type CgroupTree } from "./cgroup-tree.js";
import { grantIntent, IntentError, parseHints, type GrantedIntent } from "./intents.js";
import { emitCallEnded, emitCallStarted } from "./lifecycle-events.js";
import { matchRule, type CallFacts } from "./matcher.js";
import { SpareLeaves, type SpareLeavesOptions } from "./spare-leaves.js";
import { CallError } from "./call-error.js";
import { agentRank, oomScoreAdj, setOomScoreAdj } from "./victim-order.js";

export { NO_TENANT } from "../compiler/ir.js";

export interface AgentEntry {
  /** Numeric id for the BPF maps (acg_cgroup_info.agent_id), unique while acgd runs. */
  id: number;
  key: string;
  tenant: string;
  agent: string;
  profile: AgentProfileIR;
  path: string;
  /** The agent's own rank: its profile's, or what it was granted (intent rank). See {@link agentRank}. */
  rank: PriorityLevel;
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
  /** Set when the runtime itself killed the call (over_high kill after, a ladder). */
  killedBy?: string;
  /** The uid of the non-root peer that started it: only that uid (or root) may end or change it. */
  ownerUid?: number;
  /** When the runtime kills a call, what the agent should do about it (a retry hint). */
  killAdvice?: string;
  /** Ceilings on memory.high set by ladders and pressure rules (who → bytes): the burst logic never writes above the lowest. */
  memoryHighCaps?: Map<string, number>;
  /** oom_score_adj for its processes (set at clone3 time, inherited by children). */
  oomScoreAdj: number;
  /** The agent framework's own name for the call (e.g. Claude Code's tool_use_id), for status and logs. */
  label?: string;
}

export interface StartCallRequest {
  tenant?: string;
  agent: string;
  tool?: string;
  hints?: string[];
  argv: string[];
  path?: string;
  /** The uid of a non-root caller (recorded as the call's owner). */
  uid?: number;
  label?: string;
}

/** What enforcement path each mechanism uses; filled by the enforcer and the BPF loader. */
export interface Enforcer {
  describe(): Record<string, string>;
  callStarted(call: ToolCall): void;
  callEnded(call: ToolCall): void;
  agentAdded(agent: AgentEntry): void;
  /** Before the agent's cgroups are removed (it is idle: no calls, no processes). */
  agentRemoved?(agent: AgentEntry): void;
  policyChanged(policy: PolicyIR): void;
  close(): void;
}

/**
 * Sets (bytes) or removes (null) one ceiling (`who`'s) on a call's
 * memory.high. A call with a baseline is left to its burst logic, which
 * writes its memory.high under the ceilings (the caller has it decide again:
 * the enforcer's reevaluate); one without gets the lowest ceiling, else "max".
 */
export function setMemoryHighCap(tree: CgroupTree, call: ToolCall, who: string, bytes: number | null): void {
  if (bytes === null) call.memoryHighCaps?.delete(who);
  else (call.memoryHighCaps ??= new Map()).set(who, bytes);
  if (call.limits.baselineBytes !== null) return;
  const lowest = call.memoryHighCaps?.size ? Math.min(...call.memoryHighCaps.values()) : null;
  tree.setKnob(call.path, "memory.high", lowest === null ? "max" : String(lowest));
}

export class ToolCalls {
  #policy: PolicyIR;
  readonly tree: CgroupTree;
  readonly agents = new Map<string, AgentEntry>();
  readonly calls = new Map<string, ToolCall>();
  #seq = 0;
  #agentSeq = 0;
  #enforcers: Enforcer[] = [];
  #store: CallStateStore | null = null;
  #spares: SpareLeaves | null = null;
  /** Calls started with `announceLater` whose enforcers and event wait for {@link announcePending}, oldest first. */
  #unannounced: { call: ToolCall; argv: string[] }[] = [];

  constructor(policy: PolicyIR, tree: CgroupTree) {
    this.#policy = policy;
    this.tree = tree;
  }

  get policy(): PolicyIR {
    return this.#policy;
  }

  addEnforcer(e: Enforcer): void {
    this.announcePending();
    this.#enforcers.push(e);
  }

  /**
   * From now on call cgroups are made ahead of time, after a lull, and
   * starts take them (spare-leaves.ts; acgd). The caller closes it when done.
   */
  keepSpares(opts?: SpareLeavesOptions): SpareLeaves {
    this.#spares ??= new SpareLeaves(this.tree, () => this.#nextCallId(), opts);
    return this.#spares;
  }

  /** The empty call cgroups made ahead of time for the agent's next calls (status). */
  sparesFor(agent: AgentEntry): number {
    return this.#spares?.readyFor(agent.key) ?? 0;
  }

  #nextCallId(): string {
    return `call-${process.pid}-${++this.#seq}`;
  }

  /** From now on every change of the running calls is written to `store` (acgd; see {@link recover}). */
  persistTo(store: CallStateStore): void {
    this.#store = store;
    store.rewrite(this.calls);
  }

  /** New calls follow the new policy; running calls keep the settings they started with. */
  setPolicy(policy: PolicyIR): void {
    this.announcePending();
    this.#policy = policy;
    for (const a of this.agents.values()) {
      a.profile = this.profileFor(a.tenant);
      this.tree.ensureTenant(a.tenant, tenantLimits(this.#policy, a.tenant));
      // The own leaf's weight is written back to the default when the new policy gives it no class.
      this.tree.ensureAgent(a.tenant, a.agent, agentLimits(a.profile), { cpuWeight: ownClassOf(a.profile, policy)?.cpuWeight ?? 100 });
    }
    this.#writeGuarantees();
    for (const e of this.#enforcers) e.policyChanged(policy);
  }

  /** The agent's cgroups, created on first use. */
  ensureAgent(tenant: string | undefined, agent: string): AgentEntry {
    const t = tenant ?? NO_TENANT;
    const bad = checkName("agent", agent) ?? checkName("tenant", t);
    if (bad) throw new CallError("bad_request", bad);
    if (t !== NO_TENANT && !this.#policy.tenants.some((x) => x.name === t)) {
      const names = this.#policy.tenants.map((x) => x.name);
      throw new CallError(
        "not_found",
        `unknown tenant '${tenant}': the policy ${names.length ? `defines ${names.join(", ")}` : "defines no tenants; leave --tenant out"}`,
      );
    }
    const key = `${t}/${agent}`;
    const known = this.agents.get(key);
    if (known) return known;
    const profile = this.profileFor(t);
    const sameProfile = () => [...this.agents.values()].filter((a) => a.profile.id === profile.id);
    // Idle agents of the profile are forgotten only when their slots are needed.
    const same =
      sameProfile().length < profile.maxAgents ? sameProfile().length : sameProfile().filter((a) => !this.removeIfIdle(a)).length;
    if (same >= profile.maxAgents) {
      throw new CallError(
        "refused",
        `agent '${key}' refused: the policy allows at most ${profile.maxAgents} agent(s) of this profile at once (max_agents)`,
      );
    }
    return this.#addAgent(t, agent);
  }

  #addAgent(tenant: string, agent: string): AgentEntry {
    const profile = this.profileFor(tenant);
    this.tree.ensureTenant(tenant, tenantLimits(this.#policy, tenant));
    const own = ownClassOf(profile, this.#policy);
    const path = this.tree.ensureAgent(tenant, agent, agentLimits(profile), own ? { cpuWeight: own.cpuWeight } : {});
    const entry: AgentEntry = { id: this.#agentSeq++, key: `${tenant}/${agent}`, tenant, agent, profile, path, rank: profile.rank };
    this.agents.set(entry.key, entry);
    this.#writeGuarantees();
    for (const e of this.#enforcers) e.agentAdded(entry);
    return entry;
  }

  /**
   * memory.low protects a cgroup only as far as every ancestor's protection
   * covers it: each tenant gets at least the sum of its agents' guarantees,
   * and acgd's root the sum of its tenants', so that the guarantees below
   * mean what they say. (The root's parent is the operator's: acgd logs the
   * root's value, and docs/runtime.md says to extend it upwards.)
   */
  #writeGuarantees(): void {
    const perTenant = new Map<string, number>();
    for (const a of this.agents.values()) perTenant.set(a.tenant, (perTenant.get(a.tenant) ?? 0) + a.profile.guaranteeBytes);
    let total = 0;
    for (const [tenant, agents] of perTenant) {
      const own = this.#policy.tenants.find((t) => t.name === tenant)?.guaranteeBytes ?? 0;
      const low = Math.max(own, agents);
      total += low;
      this.tree.setKnob(this.tree.tenantPath(tenant), "memory.low", String(low));
    }
    this.tree.setKnob(this.tree.root, "memory.low", String(total));
  }

  /** Forgets an agent with no running calls and no live process, removing its cgroups; true if removed. */
  removeIfIdle(agent: AgentEntry): boolean {
    if ([...this.calls.values()].some((c) => c.agent === agent) || this.tree.populated(agent.path)) return false;
    for (const e of this.#enforcers) e.agentRemoved?.(agent);
    this.#spares?.forget(agent.key);
    this.tree.removeAgent(agent.path);
    this.agents.delete(agent.key);
    this.#writeGuarantees();
    return true;
  }

  /** The agent a tree-relative cgroup path ("tenant/agent/leaf") belongs to. */
  agentOfCgroup(rel: string | null): AgentEntry | null {
    if (!rel) return null;
    const [t, a] = rel.split("/");
    return t && a ? (this.agents.get(`${t}/${a}`) ?? null) : null;
  }

  /**
   * Creates the call's cgroup with its rule's limits. Throws CallError on bad input or refused intents.
   *
   * With `announceLater`, the enforcers (scheduler entry, burst watch, ladder) and the call_started
   * event wait for {@link announcePending}, which runs on the event loop's next check phase — after
   * the reply acgd writes in this one, and before any timer — or sooner, when another operation on the
   * calls needs them. The cgroup and its limits are in place before the call is returned either way.
   * Under 50 concurrent start_calls that work was a third of each reply's wait (docs/runtime.md).
   */
  startCall(req: StartCallRequest, { announceLater = false } = {}): ToolCall {
    // Everything that can refuse the call is checked before any cgroup is made.
    const t = req.tenant ?? NO_TENANT;
    const bad = checkName("agent", req.agent) ?? checkName("tenant", t);
    if (bad) throw new CallError("bad_request", bad);
    const profile = this.profileFor(t);
    let hints;
    try {
      hints = parseHints(req.hints ?? []);
    } catch (e) {
      throw new CallError("bad_request", (e as Error).message);
    }
    const facts: CallFacts = { hints: hints.matchValues, argv: req.argv, tenant: t };
    if (req.tool !== undefined) facts.tool = req.tool;
    if (req.path !== undefined) facts.path = req.path;
    const policy = this.#policy;
    const rule = matchRule(policy, facts);
    let intent: GrantedIntent;
    try {
      intent = grantIntent(policy, profile, hints.intent);
    } catch (e) {
      throw new CallError("refused", (e as Error).message);
    }
    const running = this.agents.get(`${t}/${req.agent}`);
    const count = running ? [...this.calls.values()].filter((c) => c.agent === running).length : 0;
    if (count >= profile.maxCalls) {
      throw new CallError(
        "refused",
        `agent '${t}/${req.agent}' already runs ${count} tool call(s), the most the policy allows ` +
          `at once (max_calls = ${profile.maxCalls}): end some first`,
      );
    }
    const agent = this.ensureAgent(req.tenant, req.agent);
    if (intent.rank !== undefined && intent.rank !== null && intent.rank !== agent.rank) {
      intent.log.push(`rank=${PRIORITY_LEVELS[intent.rank]} granted to agent '${agent.key}' (was ${PRIORITY_LEVELS[agent.rank]})`);
      agent.rank = intent.rank;
    }
    const cls = policy.classes[intent.classId ?? rule.classId] ?? policy.classes[0]!;
    const limits = callLimits(rule, cls, intent, agent.profile.limitBytes);
    const leafLimits = cgroupLimits(limits);
    const spare = this.#spares?.take(agent.key, agent.path, leafLimits, count + 1) ?? null;
    const id = spare?.id ?? this.#nextCallId();
    const path = spare?.path ?? this.tree.createLeaf(agent.path, id, leafLimits);
    const call: ToolCall = {
      id,
      agent,
      path,
      rule,
      cls,
      limits,
      intent,
      startedAt: Date.now(),
      events: [...intent.log],
      oomScoreAdj: oomScoreAdj(agentRank(agent, policy), cls.priority),
      ...(req.uid !== undefined && { ownerUid: req.uid }),
      ...(req.label !== undefined && { label: req.label }),
    };
    this.#record(call);
    if (!announceLater) this.#announce(call, req.argv);
    else {
      if (this.#unannounced.length === 0) setImmediate(() => this.announcePending());
      this.#unannounced.push({ call, argv: req.argv });
    }
    return call;
  }

  /** Tells the enforcers of the calls started with `announceLater`, and emits their call_started events (see {@link startCall}). */
  announcePending(): void {
    for (const { call, argv } of this.#unannounced.splice(0)) if (this.calls.get(call.id) === call) this.#announce(call, argv);
  }

  #announce(call: ToolCall, argv: string[]): void {
    this.#tellEnforcers(call);
    emitCallStarted(call, argv);
  }

  /** Adds the call to the running ones and to the state journal. */
  #record(call: ToolCall): void {
    this.calls.set(call.id, call);
    this.#store?.put(call, this.calls);
  }

  #tellEnforcers(call: ToolCall): void {
    for (const e of this.#enforcers) e.callStarted(call);
  }

  /**
   * A new call for a process of the agent that is already running (started
   * without `acg run`): the call is created as by {@link startCall} and the
   * process moved into it; if it cannot be moved, the call is ended again.
   */
  async startForPid(req: StartCallRequest, pid: number): Promise<ToolCall> {
    const call = this.startCall(req);
    try {
      this.adoptPid(call.id, pid);
    } catch (e) {
      await this.endCall(call.id);
      throw e;
    }
    return call;
  }

  /** Checks new intents of a running call against the agent's bounds and applies its new limits; returns the decisions. */
  declareIntent(call: ToolCall, hints: string[]): string[] {
    this.announcePending();
    let granted;
    try {
      granted = grantIntent(this.#policy, call.agent.profile, parseHints(hints).intent);
    } catch (e) {
      throw new CallError(e instanceof IntentError ? "refused" : "bad_request", (e as Error).message);
    }
    const cls = this.#policy.classes[granted.classId ?? call.cls.id] ?? call.cls;
    call.limits = callLimits(call.rule, cls, granted, call.agent.profile.limitBytes);
    call.cls = cls;
    call.intent = granted;
    call.events.push(...granted.log, `intent declared: ${hints.join(" ")}`);
    this.tree.apply(call.path, cgroupLimits(call.limits));
    this.#store?.put(call, this.calls);
    return granted.log;
  }

  /**
   * Ends the call once its last process has exited (cgroup.events populated
   * 0, watched with inotify): for calls nobody will end explicitly (the
   * client left, an unwrapped process, a call taken over after a restart).
   */
  endWhenEmpty(id: string, onEnded: (report: CallReport) => void): void {
    this.announcePending();
    const call = this.calls.get(id);
    if (!call) return;
    let watcher: ReturnType<typeof watch> | null = null;
    const finish = () => {
      if (!this.calls.has(id) || this.tree.populated(call.path)) return false;
      watcher?.close();
      this.endCall(id).then(onEnded, () => {});
      return true;
    };
    if (finish()) return;
    try {
      watcher = watch(join(call.path, "cgroup.events"), { persistent: false }, finish);
      watcher.on("error", () => {});
    } catch {
      // a plain directory (tests) has no cgroup.events: the call stays until ended
    }
  }

  /**
   * Takes over the tree an earlier acgd left: every agent cgroup becomes
   * known again, each tool-call cgroup that still has processes becomes a
   * running call again (with its persisted rule, class, intents and limits;
   * without a record, with the rule its processes' command line matches),
   * its limits are written again (undoing what a pressure rule of the dead
   * acgd may have left) and the enforcers take it up; empty ones are
   * removed (they ended while no acgd watched, or were spares an acgd that
   * did not stop cleanly made ahead of time). Returns the recovered calls
   * and what was noteworthy, for the log.
   */
  async recover(records: Map<string, CallRecord>): Promise<{ calls: ToolCall[]; notes: string[] }> {
    const out: ToolCall[] = [];
    const notes: string[] = [];
    const dirs = (p: string) =>
      readdirSync(p, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    for (const tenant of dirs(this.tree.root)) {
      for (const agentName of dirs(this.tree.tenantPath(tenant))) {
        const where = `${tenant}/${agentName}`;
        if (
          checkName("tenant", tenant) ||
          checkName("agent", agentName) ||
          (tenant !== NO_TENANT && !this.#policy.tenants.some((t) => t.name === tenant))
        ) {
          notes.push(`${where}: not an agent of this policy (unknown tenant or bad name): left as it is`);
          continue;
        }
        const agent = this.agents.get(where) ?? this.#addAgent(tenant, agentName);
        for (const leaf of dirs(agent.path)) {
          if (leaf === AGENT_LEAF) continue;
          const path = join(agent.path, leaf);
          if (!this.tree.populated(path)) {
            await this.tree.removeLeaf(path);
            notes.push(
              records.has(leaf)
                ? `${where}/${leaf}: no processes left: removed (it ended while no acgd watched it)`
                : `${where}/${leaf}: empty and no call on record: removed (a spare an acgd that did not stop ` +
                    `cleanly made ahead of time, or a call whose record was never written)`,
            );
            continue;
          }
          const call = this.#recoveredCall(agent, leaf, path, records.get(leaf), notes);
          this.tree.apply(path, cgroupLimits(call.limits));
          this.#record(call);
          this.#tellEnforcers(call);
          out.push(call);
        }
      }
    }
    this.#store?.rewrite(this.calls);
    return { calls: out, notes };
  }

  #recoveredCall(agent: AgentEntry, id: string, path: string, rec: CallRecord | undefined, notes: string[]): ToolCall {
    const policy = this.#policy;
    const rule = rec && policy.rules.find((r) => r.name === rec.rule);
    const cls = rec && policy.classes.find((c) => c.name === rec.class);
    if (rec && rule && cls && rec.tenant === agent.tenant && rec.agent === agent.agent) {
      return {
        id,
        agent,
        path,
        rule,
        cls,
        limits: rec.limits,
        intent: rec.intent,
        startedAt: rec.startedAt,
        events: [...rec.events, `taken over by acgd ${process.pid} after a restart`],
        oomScoreAdj: oomScoreAdj(agentRank(agent, policy), cls.priority),
        ...(rec.ownerUid !== undefined && { ownerUid: rec.ownerUid }),
      };
    }
    // Nothing (usable) recorded: the rule its processes match now, without intents.
    const facts = { ...this.#processFacts(path), tenant: agent.tenant };
    const inferred = matchRule(policy, facts);
    const inferredCls = policy.classes[inferred.classId] ?? policy.classes[0]!;
    const intent: GrantedIntent = { memoryBytes: null, classId: null, cpuWeight: null, log: [] };
    const why = rec ? `its recorded rule '${rec.rule}' or class '${rec.class}' is not in policy '${policy.name}'` : "no state record";
    // Its grant is unknown, so the limits its cgroup has are kept: recomputing them could only take away what was granted.
    const limits = limitsInCgroup(this.tree, path, callLimits(inferred, inferredCls, intent, agent.profile.limitBytes));
    notes.push(
      `${agent.key}/${id}: ${why}: taken over with rule '${inferred.name}' (matched on ` +
        `${JSON.stringify(facts.argv.join(" "))}), keeping the limits its cgroup has`,
    );
    let startedAt = Date.now();
    try {
      startedAt = statSync(path).ctimeMs;
    } catch {
      // keeps now
    }
    return {
      id,
      agent,
      path,
      rule: inferred,
      cls: inferredCls,
      limits,
      intent,
      startedAt,
      oomScoreAdj: oomScoreAdj(agentRank(agent, policy), inferredCls.priority),
      events: [
        `taken over by acgd ${process.pid} after a restart (${why}): rule '${inferred.name}' ` +
          "matched on its command line; limits read back from its cgroup",
      ],
    };
  }

  /** The command line of the first process in a cgroup that has one (empty if none can be read). */
  #processFacts(path: string): CallFacts {
    for (const pid of this.tree.pidsBelow(path)) {
      const argv = commandLineOf(pid);
      if (argv?.length) return { hints: [], argv };
    }
    return { hints: [], argv: [] };
  }

  /**
   * Moves an already running process into a call's cgroup: the path for
   * processes that were started in an agent cgroup without `acg run`.
   * The pid must be inside the call's agent subtree.
   */
  adoptPid(callId: string, pid: number): void {
    this.announcePending();
    const call = this.calls.get(callId);
    if (!call) throw new CallError("not_found", `no running tool call '${callId}'`);
    if (!this.pidInAgent(pid, call.agent)) {
      throw new CallError("forbidden", `process ${pid} is not in agent '${call.agent.key}': an agent may only move its own processes`);
    }
    this.tree.movePid(call.path, pid);
    setOomScoreAdj(pid, call.oomScoreAdj);
  }

  /** Whether a pid lives in the agent's subtree (on a stand-in: whether the tests recorded it there). */
  pidInAgent(pid: number, agent: AgentEntry): boolean {
    if (this.tree.fs.holdsProcesses) return this.agentOfCgroup(this.tree.cgroupOfPid(pid)) === agent;
    return this.tree.pidsBelow(agent.path).includes(pid);
  }

  /** Reads the call's usage, removes its cgroup, and reports. */
  async endCall(id: string): Promise<CallReport> {
    this.announcePending();
    const call = this.calls.get(id);
    if (!call) throw new CallError("not_found", `no running tool call '${id}'`);
    this.calls.delete(id);
    for (const e of this.#enforcers) e.callEnded(call);
    this.#store?.remove(id, this.calls);
    const stats = this.tree.stats(call.path);
    await this.tree.removeLeaf(call.path);
    const report = buildReport(call, stats, this.#policy);
    emitCallEnded(call, report);
    return report;
  }

  private profileFor(tenant: string): AgentProfileIR {
    const tid = this.#policy.tenants.findIndex((t) => t.name === tenant);
    const profiles = this.#policy.agentProfiles;
    return (tid >= 0 ? profiles.find((p) => p.tenantId === tid) : undefined) ?? profiles[0]!;
  }
}
