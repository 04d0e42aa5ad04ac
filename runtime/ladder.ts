// Pressure ladders (docs/language.md, "ladder"): acgd acts on a memory
// domain's budget before the kernel's OOM killer must. As the domain's usage
// climbs through the ladder's watermarks, the calls of agents whose rank the
// ladder covers lose their burst headroom (withdraw_burst), then have their
// growth frozen (freeze: memory.high at their usage), then are killed whole
// (cgroup.kill), lowest-ranked and youngest first, passing over a call too
// small to bring the domain back under its freeze mark. Below the release mark
// everything is undone, highest rank first. One call of the ladder's ranks,
// the domain's keeper (of the calls bursting — over their baseline — the
// highest-ranked, oldest: the last in victim order; of all of them where none
// bursts), is left out of the withdraw and freeze steps and of the
// scheduler's hold, so that one burst at a time still proceeds: with every
// burst stopped, the 2026-12-04 benchmark's domains sat still until the
// freeze bound killed a call (a replay of aligned-3 seed 3: 1.4 s at 88% with
// nothing growing), and a keeper chosen by rank alone was a 1 MiB `find` of
// class interactive while a pytest froze. Its burst goes on up to halfway
// from the freeze mark to the kill mark (its own memory.high, see
// #keeperCap): beyond, it waits with the others. Never the agent's own leaf,
// unless the ladder opts in to its last step (kill_agent): past that mark a
// whole agent of the ladder's ranks is killed, its own processes too, the
// lowest-ranked and then the largest first, so that the others of its domain
// live where the kernel's OOM killer would otherwise choose (in the traces an
// agent's own process grows by hundreds of MiB with no call to kill).
//
// Event driven: a memory.high tripwire on the domain's cgroup at the next
// watermark makes the kernel count a `high` event in the domain's
// memory.events, which inotify reports; acgd then acts and moves the
// tripwire above the usage again, so the domain itself is throttled at most
// for the moment acgd takes to react. A slow poll backs the events up (and
// notices usage falling, which raises no event).
//
// Where the sched_ext scheduler holds the domain's ranks (a hold slot), the
// kernel already stops them about 1 ms after the freeze mark, and a tripwire
// would throttle every agent in the domain, the high-ranked ones too, for
// the hundreds of ms acgd may take to wake on a loaded host. There the
// tripwire sits only at the first kill mark (kill, else kill_agent), and past
// it at kill_agent's (#wiredMarks), and acgd instead reads the domain's usage
// every NEAR_POLL_MS while it is within NEAR_MARK_PERCENT of a watermark it
// has not reached. (A second tripwire at kill_agent armed from the start cost
// the high-ranked agent of the 2026-12-03 benchmark's aligned-6 mix its P95
// latency: 56 ms against 31 without control.) The
// low-ranked agents of a host or tenant domain get tripwires of their own:
// each agent's memory.high at its usage plus the domain's headroom to its
// next watermark, so that one of them growing past the mark alone is slowed
// at once and wakes acgd (memory.events counts its descendants' events),
// while nothing above the ladder's ranks is throttled before the kill mark.
// That covers the growth the hold does not reach: an agent's own processes,
// which the scheduler holds only at the kill_agent mark (its brake slot, see
// #holdAgentsOwn) and acgd kills only by kill_agent.
//
// At the freeze mark of a host or tenant domain that holds an agent ranked
// above the ladder's, the target agents' own processes are frozen too (the
// memory.high of their agent leaf at its usage): in the traces an agent's own
// process grows by hundreds of MiB with no tool call, and left to grow it
// takes the room the freeze keeps for the higher-ranked agent until the
// kernel's OOM killer must choose. Where every agent is a target nobody is
// protected by stalling them, so their own processes go on.

import { watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { PRIORITY_LEVELS, type LadderIR, type PolicyIR } from "../compiler/ir.js";
import { formatBytes } from "../compiler/units.js";
import { parseKeyed } from "./cgroup-files.js";
import { AGENT_LEAF } from "./cgroup-tree.js";
import { aboutCall, emitEvent } from "./events.js";
import type { HostBudget } from "./memory-budget.js";
import { setMemoryHighCap, type AgentEntry, type Enforcer, type ToolCall, type ToolCalls } from "./tool-calls.js";
import { agentRank, victimOrder } from "./victim-order.js";

/** A frozen call keeps at least this much room: below it, an idle call could not allocate a page without the over-high penalty. */
export const FREEZE_FLOOR_BYTES = 8 * 1024 * 1024;
/** The safety poll while a ladder is engaged (usage falling raises no event) and while it is idle. */
export const ENGAGED_POLL_MS = 200;
export const IDLE_POLL_MS = 1000;
/** A held domain's poll while its usage is near a watermark (no tripwire there, see above), and how near is near. */
export const NEAR_POLL_MS = 50;
export const NEAR_MARK_PERCENT = 10;
const MIB = 1024 * 1024;
/** An idle host domain reads its budget again this often: an operator may change the ancestor's memory.max. */
const BUDGET_REREAD_MS = 1000;
/** After a kill, the memory comes back as the kernel reaps the processes: look again this soon. */
const AFTER_KILL_MS = 100;
/** Longest wait for a kill's memory to show in the domain's usage before the next kill (it may not have been the victim's own). */
export const RELEASE_WAIT_MS = 1000;
/**
 * A freeze stands still (see #watchStall) when the domain's usage stays within this share of its budget (at least
 * STILL_BAND_MIN_BYTES: a keeper throttled at its memory.high still creeps up by a page now and then) for STALL_MS
 * while the keeper presses its ceiling.
 */
export const STILL_BAND_PERCENT = 1;
const STILL_BAND_MIN_BYTES = 2 * MIB;
export const STALL_MS = 1000;

/**
 * The mark whose crossing is behind a kill the ladder is about to make: kill_agent's for an agent's
 * kill, the kill mark's for a call's, else the freeze mark's (a freeze that outlasted its bound).
 */
function killMarkPercent(l: LadderIR, agentKill: boolean, pastKillMark: boolean): number {
  if (agentKill) return l.killAgentPercent!;
  return pastKillMark ? l.killPercent! : l.freezePercent!;
}

/** A ladder's watermarks, lowest first. */
type Mark = "withdraw" | "freeze" | "kill" | "killAgent";

const enum Step {
  none = 0,
  withdraw = 1,
  freeze = 2,
}

interface Domain {
  key: string;
  ladder: LadderIR;
  /** The domain's cgroup: acgd's root, a tenant's or an agent's. */
  path: string;
  budget: number;
  /** What the ladder has engaged; kills are actions taken while at or above the kill mark, not a state. */
  step: Step;
  frozenSinceMs: number | null;
  watcher: FSWatcher | null;
  poll: NodeJS.Timeout | null;
  /** The value the tripwire (the domain's memory.high) was last set to, "max" when disarmed. */
  tripwire: string;
  /** Held host or tenant domains: each target agent's own tripwire (its memory.high), by agent key. */
  agentTripwires: Map<string, { path: string; value: string }>;
  /** Target agents whose own processes this ladder froze: agent key → their leaf and its memory.high before the freeze. */
  frozenAgents: Map<string, { path: string; saved: string }>;
  /** Calls this ladder capped (each holds its cap in ToolCall.memoryHighCaps under the domain's key). */
  capped: Set<string>;
  /** What it did to each capped call, so that the call's events say each step once. */
  stepOf: Map<string, string>;
  /** Calls killed and not yet gone (a kill is not repeated on them). */
  killed: Set<string>;
  /** Agents killed whole while the ladder was engaged (one kill each; their memory is still being reaped). */
  killedAgents: Set<string>;
  /** The last kill's memory, until it is seen back: the domain's usage then, the victim's, and when. */
  lastKill: { usage: number; victimBytes: number; atMs: number } | null;
  /** The scheduler's hold slot for this domain's freeze watermark, or null. */
  holdSlot: number | null;
  /** Its slot at the kill_agent mark, which holds the target agents' own leaves (#holdAgentsOwn), or null. */
  brakeSlot: number | null;
  /** The call left out of the steps and of the hold (see the head of this file), or null while the domain has no target. */
  keeper: ToolCall | null;
  /**
   * A freeze that may be standing still (#watchStall): since when the usage has stayed within the still band of
   * `usage` with this keeper, its memory.events `high` count then, and whether its ceiling was lifted to the next mark.
   */
  stall: { sinceMs: number; usage: number; keeperId: string; keeperHighEvents: number; lifted: boolean } | null;
}

export interface LadderOptions {
  /** The host domain's budget for a policy, as the machine and the cgroup tree say now (read again while the domain is idle). */
  hostBudget: (policy: PolicyIR) => HostBudget;
  log?: (msg: string) => void;
  /** Called when a ladder lifts or moves its ceiling on a call, so that its burst logic decides memory.high again under the ceilings. */
  capsChanged?: (call: ToolCall) => void;
  /** The longest wait for a kill's memory (default RELEASE_WAIT_MS; tests lengthen it to tell its early ends from its timeout). */
  releaseWaitMs?: number;
}

/**
 * The sched_ext scheduler's memory hold (runtime/enforce-bpf.ts): armed at
 * each ladder's freeze watermark, it keeps the tasks of the ladder's ranks
 * off the CPU from the moment the domain's usage crosses it — before acgd
 * has even woken up. acgd's ladder then freezes, kills and releases.
 */
export interface KernelHold {
  /** Slot `index` (0..MAX_HOLD_DOMAINS-1): the domain's cgroup, its freeze watermark, the ranks held; null clears it. */
  setHoldDomain(index: number, domain: { path: string; holdBytes: number; ranks: number[] } | null): void;
  /** A call's effective agent rank and the hold slots of the domains it lies in. */
  setCallHold(call: ToolCall, hold: { rank: number; holdDomains: readonly number[] }): void;
  /** The same for an agent's own leaf (no slots: not held). */
  setAgentHold(agent: AgentEntry, hold: { rank: number; holdDomains: readonly number[] }): void;
}

/** Hold slots the scheduler has (acg_hold_domains); domains beyond them are acgd's alone. */
export const MAX_HOLD_DOMAINS = 8;

export class LadderEnforcer implements Enforcer {
  readonly #calls: ToolCalls;
  readonly #opts: LadderOptions;
  readonly #log: (msg: string) => void;
  readonly #domains = new Map<string, Domain>();
  #hold: KernelHold | null = null;
  /** What the scheduler was last told of each agent's own leaf ("rank:slots"), by agent key. */
  readonly #toldOwn = new Map<string, string>();
  #hostBudget!: HostBudget;
  #hostBudgetReadMs = 0;

  constructor(calls: ToolCalls, opts: LadderOptions) {
    this.#calls = calls;
    this.#opts = opts;
    this.#log = opts.log ?? (() => {});
    this.policyChanged(calls.policy);
  }

  describe(): Record<string, string> {
    const ladders = this.#calls.policy.ladders;
    if (ladders.length === 0) return { ladder: "no ladders in the policy" };
    const memory = this.#calls.tree.hasController("memory");
    if (!memory) return { ladder: "NOT enforced: the memory controller is not available in this cgroup tree" };
    const parts = [...this.#domains.values()].map((d) => `${d.key} ${formatBytes(d.budget)} (${stepName(d.step)})`);
    return {
      ladder:
        `acgd: memory.high tripwire + memory.events on ${this.#domains.size} domain(s): ${parts.join(", ") || "none yet"}; ` +
        `host budget from ${this.#hostBudget.source}`,
    };
  }

  /** Snapshot for status: each domain's usage against its budget and what is engaged. */
  domains(): { key: string; budgetBytes: number; usageBytes: number | null; step: string; capped: number }[] {
    return [...this.#domains.values()].map((d) => ({
      key: d.key,
      budgetBytes: d.budget,
      usageBytes: this.#usage(d.path),
      step: stepName(d.step),
      capped: d.capped.size,
    }));
  }

  /** From now on the scheduler holds each ladder's ranks at its freeze watermark (see {@link KernelHold}). */
  attachKernelHold(hold: KernelHold): void {
    this.#hold = hold;
    for (const d of this.#domains.values()) {
      d.keeper = this.#chooseKeeper(d, this.#targets(d));
      this.#armHold(d);
    }
    for (const call of this.#calls.calls.values()) this.#holdCall(call);
  }

  callStarted(call: ToolCall): void {
    // A new call bursts nothing yet: it keeps only where nothing did (each look at the domain elects again).
    const told = [...this.#domains.values()].flatMap((d) => (this.#inDomain(d, call) && d.keeper === null ? this.#electKeeper(d) : []));
    if (!told.includes(call)) this.#holdCall(call);
    // Its start may have granted its agent a rank.
    this.#holdAgentsOwn([call.agent]);
    for (const d of this.#domains.values()) {
      // A new agent's own tripwire, at once.
      if (d.holdSlot !== null && this.#inDomain(d, call) && !d.agentTripwires.has(call.agent.key)) this.#soon(d, 0);
      if (d.step === Step.none || !this.#inDomain(d, call) || !this.#isTarget(d, call)) continue;
      this.#guard(d, () => this.#capFor(d, call, d.step, this.#usage(d.path)));
    }
  }

  callEnded(call: ToolCall): void {
    for (const d of this.#domains.values()) {
      d.capped.delete(call.id);
      d.stepOf.delete(call.id);
      d.killed.delete(call.id);
      if (!this.#inDomain(d, call)) continue;
      if (d.keeper === call) this.#guard(d, () => this.#electKeeper(d));
      // An engaged domain may release now; an idle one is looked at by its poll (a second at most, 50 ms near a
      // mark): a look reads every call's and agent's usage, and 50 calls ending at once cost 50 looks.
      if (d.step !== Step.none) this.#soon(d, 0);
    }
  }

  agentAdded(agent: AgentEntry): void {
    for (const ladder of this.#calls.policy.ladders) {
      if (ladder.scope.kind === "agent" && agent.profile.limitBytes !== null) {
        this.#addDomain(ladder, `agent ${agent.key}`, agent.path, agent.profile.limitBytes);
      }
      if (ladder.scope.kind === "tenant") {
        const tenant = this.#calls.policy.tenants.find((t) => t.name === agent.tenant);
        const wanted = ladder.scope.tenantId === null || this.#calls.policy.tenants[ladder.scope.tenantId]?.name === agent.tenant;
        if (tenant && wanted && tenant.limitBytes !== null)
          this.#addDomain(ladder, `tenant ${tenant.name}`, this.#calls.tree.tenantPath(tenant.name), tenant.limitBytes);
      }
    }
    this.#holdAgentsOwn([agent]);
  }

  agentRemoved(agent: AgentEntry): void {
    // The scheduler forgets its leaf; the same key coming back is a new agent to tell.
    this.#toldOwn.delete(agent.key);
  }

  policyChanged(policy: PolicyIR): void {
    for (const d of this.#domains.values()) this.#closeDomain(d);
    this.#domains.clear();
    this.#hostBudget = this.#opts.hostBudget(policy);
    this.#hostBudgetReadMs = Date.now();
    for (const w of this.#hostBudget.warnings) this.#log(`warning: ${w}`);
    for (const ladder of policy.ladders) {
      if (ladder.scope.kind === "host") this.#addDomain(ladder, "host", this.#calls.tree.root, this.#hostBudget.bytes);
    }
    for (const a of this.#calls.agents.values()) this.agentAdded(a);
  }

  close(): void {
    for (const d of this.#domains.values()) this.#closeDomain(d);
    this.#domains.clear();
  }

  // --- domains ----------------------------------------------------------------

  #addDomain(ladder: LadderIR, key: string, path: string, budget: number): void {
    if (this.#domains.has(key)) return;
    if (budget <= 0) {
      this.#log(`ladder (${key}): no budget to measure against (${budget} bytes): not enforced`);
      return;
    }
    const d: Domain = {
      key,
      ladder,
      path,
      budget,
      step: Step.none,
      frozenSinceMs: null,
      watcher: null,
      poll: null,
      tripwire: "max",
      agentTripwires: new Map(),
      frozenAgents: new Map(),
      capped: new Set(),
      stepOf: new Map(),
      killed: new Set(),
      killedAgents: new Set(),
      lastKill: null,
      holdSlot: null,
      brakeSlot: null,
      keeper: null,
      stall: null,
    };
    this.#domains.set(key, d);
    this.#armHold(d);
    if (!this.#calls.tree.hasKnob(path, "memory.current")) {
      this.#log(`ladder (${key}): ${path} has no memory.current (no memory controller there): not enforced`);
      return;
    }
    try {
      d.watcher = watch(join(path, "memory.events"), { persistent: false }, () => this.#soon(d, 0));
      d.watcher.on("error", () => {});
    } catch (e) {
      this.#log(`ladder (${key}): cannot watch ${join(path, "memory.events")}: ${(e as Error).message}; the poll alone watches it`);
    }
    this.#log(`ladder (${key}): budget ${formatBytes(budget)}; ${describeSteps(ladder)}`);
    this.#evaluate(d);
  }

  /**
   * Gives a domain with a freeze step a hold slot in the scheduler and arms
   * it; and one with a kill_agent step its brake slot (see #holdAgentsOwn).
   */
  #armHold(d: Domain): void {
    if (!this.#hold) return;
    if (d.ladder.freezePercent !== null && d.holdSlot === null) {
      const slot = this.#freeSlot(d, "acgd alone freezes this domain");
      if (slot === undefined) return;
      this.#guard(d, () => {
        this.#hold!.setHoldDomain(slot, holdSpec(d, d.ladder.freezePercent!));
        d.holdSlot = slot;
        for (const call of this.#calls.calls.values()) if (this.#inDomain(d, call)) this.#holdCall(call);
        // The hold takes over the marks below the kill mark: lower the tripwire's reach now, not at the next event.
        const usage = this.#usage(d.path);
        if (usage !== null) this.#armTripwire(d, usage);
      });
    }
    if (d.ladder.killAgentPercent !== null && d.ladder.scope.kind !== "agent" && d.brakeSlot === null) {
      const slot = this.#freeSlot(d, "agents' own processes are not held at its kill_agent mark");
      if (slot === undefined) return;
      this.#guard(d, () => {
        this.#hold!.setHoldDomain(slot, holdSpec(d, d.ladder.killAgentPercent!));
        d.brakeSlot = slot;
        this.#holdAgentsOwn();
      });
    }
  }

  /** A hold slot no domain uses, or undefined (logged with `without`: what the domain goes without). */
  #freeSlot(d: Domain, without: string): number | undefined {
    const used = new Set([...this.#domains.values()].flatMap((x) => [x.holdSlot, x.brakeSlot]));
    const slot = [...Array(MAX_HOLD_DOMAINS).keys()].find((i) => !used.has(i));
    if (slot === undefined) this.#log(`ladder (${d.key}): no scheduler hold slot left (${MAX_HOLD_DOMAINS}): ${without}`);
    return slot;
  }

  #holdCall(call: ToolCall): void {
    if (!this.#hold) return;
    const slots = [...this.#domains.values()]
      .filter((d) => d.holdSlot !== null && this.#inDomain(d, call) && d.keeper !== call)
      .map((d) => d.holdSlot!);
    try {
      this.#hold.setCallHold(call, { rank: agentRank(call.agent, this.#calls.policy), holdDomains: slots });
    } catch (e) {
      this.#log(`ladder: cannot tell the scheduler about ${call.id}: ${(e as Error).message}`);
    }
  }

  /**
   * Puts each target agent's own leaf in the brake of the domains that kill
   * agents whole: held by the scheduler from the kill_agent mark on, an
   * agent's own growth stops there within a millisecond, and acgd's next
   * look (50 ms near a mark, more under load) kills an agent as the ladder
   * says rather than the kernel's OOM killer. (The benchmark's one kernel
   * OOM episode turned out to be a high-ranked agent's burst, which this
   * does not reach; docs/benchmark.md.) Not at the freeze mark: held from
   * there, a low-ranked agent's own process could not free its memory
   * either, and a quick A/B lost 3 more agents of 30 (kill_agent, as the
   * high-ranked agent grew) and stalled a run. The scheduler is told only
   * of changes, and only of `agents` (a rank granted at a call's start
   * changes its agent's alone).
   */
  #holdAgentsOwn(agents: Iterable<AgentEntry> = this.#calls.agents.values()): void {
    if (!this.#hold) return;
    const policy = this.#calls.policy;
    const domains = [...this.#domains.values()].filter((d) => d.brakeSlot !== null);
    for (const agent of agents) {
      const rank = agentRank(agent, policy);
      const slots = domains.filter((d) => this.#agentInDomain(d, agent) && this.#agentIsTarget(d, agent)).map((d) => d.brakeSlot!);
      const told = `${rank}:${slots.join(",")}`;
      if ((this.#toldOwn.get(agent.key) ?? `${rank}:`) === told) continue;
      try {
        this.#hold.setAgentHold(agent, { rank, holdDomains: slots });
        this.#toldOwn.set(agent.key, told);
      } catch (e) {
        this.#log(`ladder: cannot tell the scheduler about ${ownOf(agent.key)}: ${(e as Error).message}`);
      }
    }
  }

  #closeDomain(d: Domain): void {
    for (const which of ["holdSlot", "brakeSlot"] as const) {
      const slot = d[which];
      if (!this.#hold || slot === null) continue;
      d[which] = null;
      this.#guard(d, () => this.#hold!.setHoldDomain(slot, null));
    }
    this.#holdAgentsOwn();
    d.watcher?.close();
    if (d.poll) clearTimeout(d.poll);
    d.poll = null;
    this.#guard(d, () => {
      this.#release(d, "acgd stopped watching this domain");
      this.#setTripwire(d, "max");
      this.#disarmAgentTripwires(d);
    });
  }

  /** (Re)evaluates a domain after `ms` (0: on the next turn of the event loop), once. */
  #soon(d: Domain, ms: number): void {
    if (d.poll) clearTimeout(d.poll);
    d.poll = setTimeout(() => this.#evaluate(d), ms);
    d.poll.unref();
  }

  #evaluate(d: Domain): void {
    d.poll = null;
    if (this.#domains.get(d.key) !== d) return;
    let next = d.step === Step.none ? IDLE_POLL_MS : ENGAGED_POLL_MS;
    this.#guard(d, () => {
      if (d.key === "host" && d.step === Step.none) this.#rereadHostBudget(d);
      const usage = this.#usage(d.path);
      if (usage === null) return;
      if (this.#nearUnwiredMark(d, usage)) next = NEAR_POLL_MS;
      next = this.#act(d, usage) ?? next;
    });
    if (!d.poll) this.#soon(d, next);
  }

  /** Follows a change of the host budget (the ancestor's memory.max set anew): watermarks, hold and tripwire move with it. */
  #rereadHostBudget(d: Domain): void {
    if (Date.now() - this.#hostBudgetReadMs < BUDGET_REREAD_MS) return;
    this.#hostBudgetReadMs = Date.now();
    const b = this.#opts.hostBudget(this.#calls.policy);
    if (b.bytes === d.budget || b.bytes <= 0) return;
    this.#log(`ladder (host): budget ${formatBytes(d.budget)} -> ${formatBytes(b.bytes)} (${b.source})`);
    this.#hostBudget = b;
    d.budget = b.bytes;
    if (d.holdSlot !== null) this.#hold!.setHoldDomain(d.holdSlot, holdSpec(d, d.ladder.freezePercent!));
    if (d.brakeSlot !== null) this.#hold!.setHoldDomain(d.brakeSlot, holdSpec(d, d.ladder.killAgentPercent!));
  }

  /** One decision on the domain at `usage`; returns an earlier time to look again, if one is needed. */
  #act(d: Domain, usage: number): number | undefined {
    const l = d.ladder;
    const pct = (usage / d.budget) * 100;
    const at = (p: number | null) => p !== null && pct >= p;
    const level = at(l.freezePercent) ? Step.freeze : at(l.withdrawBurstPercent) ? Step.withdraw : Step.none;
    const where = `${pct.toFixed(0)}% of its ${formatBytes(d.budget)} budget`;
    if (pct < l.releasePercent) {
      if (d.step !== Step.none) {
        emitEvent("pressure", {
          message: `ladder (${d.key}): released at ${where}`,
          data: { state: "off", ladder: d.key, usageBytes: usage },
        });
        this.#release(d, `the ${d.key} domain is back at ${where}`);
      }
    } else if (level > d.step) {
      emitEvent("pressure", {
        level: "warn",
        message: `ladder (${d.key}): ${stepName(level)} at ${where}`,
        data: { state: "on", ladder: d.key, step: stepName(level), usageBytes: usage },
      });
      d.step = level;
    }
    // The freeze bound counts time spent at or above the freeze mark, without a break:
    // a domain that fell back between the freeze and release marks is not short of memory.
    if (d.step === Step.freeze && at(l.freezePercent)) d.frozenSinceMs ??= Date.now();
    else d.frozenSinceMs = null;
    const targets = this.#targets(d);
    this.#electKeeper(d, targets);
    const standingStill = this.#watchStall(d, usage, where);
    if (d.step >= Step.withdraw) for (const call of targets) this.#capFor(d, call, d.step, usage);
    if (d.step === Step.freeze) this.#freezeAgentsOwn(d);
    let lookAgain: number | undefined;
    const overFreezeBound = d.frozenSinceMs !== null && l.freezeMaxNs !== null && Date.now() - d.frozenSinceMs >= l.freezeMaxNs / 1e6;
    const agentVictim = at(l.killAgentPercent) ? this.#agentVictim(d) : undefined;
    const killing = agentVictim !== undefined || at(l.killPercent) || overFreezeBound || standingStill;
    // Evaluated on every look, so that memory seen back below the kill mark counts.
    const awaitingRelease = this.#awaitingRelease(d, usage);
    const mark = killing ? killMarkPercent(l, agentVictim !== undefined, at(l.killPercent)) : 100;
    if (killing && (this.#reapingSuffices(d, usage, mark) || awaitingRelease)) {
      lookAgain = AFTER_KILL_MS;
    } else if (agentVictim) {
      // Past the last mark a call's kill would be too little: the agent goes whole, its calls with it.
      this.#killAgent(d, agentVictim, `the ${d.key} domain reached ${where} (kill_agent at ${l.killAgentPercent}%)`);
      lookAgain = AFTER_KILL_MS;
    } else if (killing) {
      // A freeze that outlasted its bound, or stood still, kills a frozen call, never the keeper: its burst was not stopped.
      const victim = this.#callVictim(d, at(l.killPercent) ? targets : targets.filter((c) => c !== d.keeper), usage);
      if (victim) {
        const why = at(l.killPercent)
          ? `the ${d.key} domain reached ${where} (kill at ${l.killPercent}%)`
          : overFreezeBound
            ? `the ${d.key} domain stayed frozen for ${(l.freezeMaxNs! / 1e9).toFixed(0)}s (at ${where})`
            : `the ${d.key} domain's freeze stood still at ${where}, its keeper's burst stopped even at the next mark`;
        this.#kill(d, victim.call, why, victim.which);
        if (d.frozenSinceMs !== null) d.frozenSinceMs = Date.now();
        if (d.stall) d.stall.sinceMs = Date.now();
        lookAgain = AFTER_KILL_MS;
      }
    }
    this.#armTripwire(d, usage);
    return lookAgain;
  }

  /**
   * Ends a freeze in which nothing can move. Every burst but the keeper's is
   * stopped, and the keeper's stops at its ceiling; when the memory the
   * frozen calls hold leaves the keeper too little room, the domain stands
   * still until someone else's memory comes back, which may be never: in the
   * 2026-12-04 benchmark (budget-ladder, aligned-6, seed 3) two batch agents
   * sat frozen at 84% from 3 s until the run's limit at 18 s, long after the
   * high-ranked agent had finished. Standing still is the usage staying
   * within the still band (STILL_BAND_PERCENT) for STALL_MS while the keeper
   * presses its ceiling (at it at every look, its memory.events `high` count
   * rising); a keeper that keeps its size while it works is not stuck. First
   * its ceiling is lifted to the next mark (#keeperCap): its burst may finish
   * there, or bring the domain to the kill mark, where the kill step frees
   * room. If the domain still stands still, returns true: a frozen call is
   * killed as at the end of a freeze bound (never the keeper), and the wait
   * starts over.
   */
  #watchStall(d: Domain, usage: number, where: string): boolean {
    const keeper = d.keeper;
    if (d.step !== Step.freeze || !keeper || d.killed.has(keeper.id)) {
      d.stall = null;
      return false;
    }
    const s = d.stall;
    const now = Date.now();
    const tree = this.#calls.tree;
    const keeperHigh = parseKeyed(tree.readKnob(keeper.path, "memory.events") ?? "").high ?? 0;
    const ceiling = Number(tree.readKnob(keeper.path, "memory.high")?.trim());
    const atCeiling = Number.isFinite(ceiling) && (this.#usage(keeper.path) ?? 0) + MIB >= ceiling;
    const band = Math.max((d.budget * STILL_BAND_PERCENT) / 100, STILL_BAND_MIN_BYTES);
    const moved = !s || s.keeperId !== keeper.id || Math.abs(usage - s.usage) > band;
    if (moved || !atCeiling) {
      const lifted = s?.keeperId === keeper.id && s.lifted;
      d.stall = { sinceMs: now, usage, keeperId: keeper.id, keeperHighEvents: keeperHigh, lifted };
      return false;
    }
    if (now - s.sinceMs < STALL_MS) return false;
    const pressing = keeperHigh > s.keeperHighEvents;
    s.sinceMs = now;
    s.keeperHighEvents = keeperHigh;
    if (!pressing) return false;
    if (s.lifted) return true;
    s.lifted = true;
    const message =
      `ladder (${d.key}): its burst may go on up to the next mark: ` +
      `the domain's freeze stood still at ${where} for ${STALL_MS / 1000}s with it at its ceiling`;
    this.#log(message);
    keeper.events.push(message);
    emitEvent("thawed", { ...aboutCall(keeper), message, data: { domain: d.key, usageBytes: usage } });
    return false;
  }

  /** The calls a domain's ladder may act on, first to be acted on first. */
  #targets(d: Domain): ToolCall[] {
    const policy = this.#calls.policy;
    return [...this.#calls.calls.values()]
      .filter((c) => this.#inDomain(d, c) && this.#isTarget(d, c))
      .sort((a, b) => victimOrder(a, b, policy));
  }

  #inDomain(d: Domain, call: ToolCall): boolean {
    return this.#agentInDomain(d, call.agent);
  }

  #isTarget(d: Domain, call: ToolCall): boolean {
    return this.#agentIsTarget(d, call.agent);
  }

  #agentIsTarget(d: Domain, agent: AgentEntry): boolean {
    return (d.ladder.rankMask & (1 << agentRank(agent, this.#calls.policy))) !== 0;
  }

  /**
   * The domain's keeper: the last in victim order (the highest-ranked,
   * oldest) of its live targets that burst (use more than their baseline, or
   * than the freeze floor without one), or of all of them where none does.
   */
  #chooseKeeper(d: Domain, targets: ToolCall[]): ToolCall | null {
    const live = targets.filter((c) => !d.killed.has(c.id));
    // Idle, nothing is capped or held yet: the last target stands in, unread (an election reads calls'
    // usage, and 50 calls ending at once elected 50 times). The first step elects by bursting.
    if (d.step === Step.none) return live.at(-1) ?? null;
    // From the end: the first that bursts is the keeper, and the calls before it need not be read.
    for (let i = live.length - 1; i >= 0; i--) {
      const c = live[i]!;
      if ((this.#usage(c.path) ?? 0) > (c.limits.baselineBytes ?? FREEZE_FLOOR_BYTES)) return c;
    }
    return live.at(-1) ?? null;
  }

  /**
   * Chooses the domain's keeper again and tells the scheduler when it
   * changes: the new keeper leaves the domain's hold (its caps lifted at
   * once), the old one (if it still runs) joins it, and caps come to the old
   * one at the next step. Returns the calls whose hold it told the scheduler.
   */
  #electKeeper(d: Domain, targets = this.#targets(d)): ToolCall[] {
    const keeper = this.#chooseKeeper(d, targets);
    if (keeper === d.keeper) return [];
    const old = d.keeper;
    d.keeper = keeper;
    const told = [keeper, old && this.#calls.calls.get(old.id) === old ? old : null].filter((c): c is ToolCall => c !== null);
    if (keeper && d.capped.has(keeper.id))
      this.#lift(d, keeper, `its burst is the one that goes on while the ${d.key} domain is short of memory`);
    for (const c of told) this.#holdCall(c);
    return told;
  }

  /**
   * The memory.high a step gives a call: withdraw keeps a call's baseline or
   * its usage, whichever is larger (no new burst); freeze pins it at its
   * usage (with a floor). The keeper's burst goes on: withdraw leaves it
   * alone, freeze gives it {@link #keeperCap}.
   */
  #capFor(d: Domain, call: ToolCall, step: Step, domainUsage: number | null): void {
    if (call === d.keeper) {
      if (step === Step.freeze && domainUsage !== null) this.#keeperCap(d, call, domainUsage);
      return;
    }
    const usage = this.#usage(call.path);
    if (usage === null) return;
    let cap: number | null = null;
    let what = "";
    if (step === Step.freeze) {
      cap = Math.max(usage, FREEZE_FLOOR_BYTES);
      what = "frozen";
    } else if (call.limits.baselineBytes !== null) {
      cap = Math.max(usage, call.limits.baselineBytes);
      what = "burst withdrawn";
    }
    if (cap === null) return;
    const caps = (call.memoryHighCaps ??= new Map());
    const prev = caps.get(d.key);
    const tree = this.#calls.tree;
    const current = tree.readKnob(call.path, "memory.high")?.trim();
    if (current === undefined) return;
    d.capped.add(call.id);
    // Caps only tighten while the ladder is engaged.
    const effective = prev !== undefined && prev < cap ? prev : cap;
    caps.set(d.key, effective);
    if (current === "max" || Number(current) > effective) tree.setKnob(call.path, "memory.high", String(effective));
    if (d.stepOf.get(call.id) !== what) {
      d.stepOf.set(call.id, what);
      const message = `ladder (${d.key}): ${what} at ${capText(effective, usage)} while the domain is short of memory`;
      call.events.push(message);
      emitEvent(what === "frozen" ? "frozen" : "burst_withdrawn", {
        ...aboutCall(call),
        message,
        data: { domain: d.key, memoryHighBytes: effective, usageBytes: usage },
      });
    }
  }

  /**
   * The keeper's ceiling while the domain is frozen: its usage plus the
   * domain's room up to halfway from the freeze mark to the next mark (kill,
   * else kill_agent, else the budget). It rises as others give memory back.
   * Uncapped, the keeper grew into the kill mark, and every step of its
   * burst past it cost a frozen call's life: kill-mark kills rose from 21 to
   * 32 in the 2026-12-04 benchmark against holding every burst. The upper
   * half is left to higher-ranked agents, which no step holds, and to the
   * kernel's overshoot of memory.high before its throttle bites.
   */
  #keeperCap(d: Domain, call: ToolCall, domainUsage: number): void {
    const usage = this.#usage(call.path);
    const [freeze] = this.#marks(d, ["freeze"]);
    if (usage === null || freeze === undefined) return;
    const next = [...this.#marks(d, ["kill", "killAgent"]), d.budget].find((b) => b > freeze) ?? d.budget;
    const ceiling = d.stall?.lifted ? next : freeze + Math.floor((next - freeze) / 2);
    const room = Math.floor((ceiling - domainUsage) / MIB) * MIB;
    const prev = call.memoryHighCaps?.get(d.key);
    // Whole MiB, so that it moves only when the room does. Without room it is
    // not raised: the kernel lets a cgroup past its memory.high by a little
    // before the throttle bites, and a ceiling that followed the usage up
    // let the guest suite's keeper creep from 15 to 20 MiB into the kill
    // mark. Nor is it written below the usage (that makes the writer reclaim).
    let cap = Math.max(usage + Math.max(0, room), FREEZE_FLOOR_BYTES);
    if (room <= 0 && prev !== undefined) cap = Math.min(cap, prev);
    if (prev === cap) return;
    d.capped.add(call.id);
    setMemoryHighCap(this.#calls.tree, call, d.key, cap);
    this.#opts.capsChanged?.(call);
  }

  /**
   * Pins the own leaf of each target agent at its usage (with the call's
   * floor), never raising it while frozen, when the domain holds an agent
   * above the ladder's ranks (see the head of this file).
   */
  #freezeAgentsOwn(d: Domain): void {
    if (!this.#freezesAgentsOwn(d)) return;
    const tree = this.#calls.tree;
    for (const agent of this.#agentsIn(d)) {
      if (!this.#agentIsTarget(d, agent) || d.frozenAgents.has(agent.key)) continue;
      const leaf = join(agent.path, AGENT_LEAF);
      const usage = this.#usage(leaf);
      const current = tree.readKnob(leaf, "memory.high")?.trim();
      if (usage === null || current === undefined) continue;
      const cap = Math.max(Math.ceil(usage / MIB) * MIB, FREEZE_FLOOR_BYTES);
      d.frozenAgents.set(agent.key, { path: leaf, saved: current });
      if (current === "max" || Number(current) > cap) tree.setKnob(leaf, "memory.high", String(cap));
      emitEvent("frozen", {
        agent: agent.key,
        message: `ladder (${d.key}): ${ownOf(agent.key)} frozen at ${capText(cap, usage)} while the domain is short of memory`,
        data: { domain: d.key, memoryHighBytes: cap, usageBytes: usage },
      });
    }
  }

  /** Whether the domain's freeze reaches its target agents' own processes: a host or tenant domain with an agent above its ranks. */
  #freezesAgentsOwn(d: Domain): boolean {
    return d.ladder.scope.kind !== "agent" && !this.#agentsIn(d).every((a) => this.#agentIsTarget(d, a));
  }

  #thawAgentsOwn(d: Domain, why: string): void {
    for (const [key, f] of d.frozenAgents) {
      if (!this.#calls.agents.get(key)) continue;
      this.#calls.tree.setKnob(f.path, "memory.high", f.saved);
      emitEvent("thawed", {
        agent: key,
        message: `ladder (${d.key}): ${ownOf(key)} released (${why})`,
        data: { domain: d.key },
      });
    }
    d.frozenAgents.clear();
  }

  /**
   * The call a kill takes, and how it was chosen. Of the calls of the
   * lowest-ranked agents, in victimOrder (class priority, then the
   * youngest), the first whose memory alone brings the domain back under its
   * freeze mark (the kill mark where there is none): one that frees less
   * would be killed for nothing, its work lost and the next kill needed
   * anyway. If none frees that much and the ladder kills agents whole, no
   * call is killed where the agent kill would free it: in the 2026-12-03
   * benchmark an agent's own process grew past the kill mark, the ladder
   * killed another agent's 39 trace-second call that freed a few MiB, and
   * killed the growing agent at the kill_agent mark anyway. Otherwise the
   * first in victimOrder.
   */
  #callVictim(d: Domain, targets: ToolCall[], usage: number): { call: ToolCall; which: string } | undefined {
    const policy = this.#calls.policy;
    const live = targets.filter((c) => !d.killed.has(c.id));
    const first = live[0];
    if (!first) return undefined;
    const lowest = live.filter((c) => agentRank(c.agent, policy) === agentRank(first.agent, policy));
    const l = d.ladder;
    const need = usage - (d.budget * (l.freezePercent ?? l.killPercent ?? 100)) / 100;
    const about = (c: ToolCall) => `(agent rank ${PRIORITY_LEVELS[agentRank(c.agent, policy)]}, class ${c.cls.name})`;
    const enough = lowest.find((c) => (this.#usage(c.path) ?? 0) >= need);
    if (enough === first) return { call: first, which: `the lowest-ranked, youngest call there ${about(first)}` };
    const needText = formatBytes(Math.ceil(need));
    if (enough)
      return {
        call: enough,
        which: `the lowest-ranked call there that frees enough alone ${about(enough)}: those before it hold less than ${needText}`,
      };
    const agent = l.killAgentPercent !== null ? this.#agentVictim(d) : undefined;
    if (agent && (this.#usage(agent.path) ?? 0) >= need) return undefined;
    return { call: first, which: `the lowest-ranked, youngest call there ${about(first)}; none alone frees ${needText}` };
  }

  #kill(d: Domain, call: ToolCall, why: string, which: string): void {
    d.killed.add(call.id);
    this.#rememberKill(d, call.path);
    const rank = PRIORITY_LEVELS[agentRank(call.agent, this.#calls.policy)];
    call.killedBy = `killed by the runtime: ${why}; it was ${which}`;
    const room = `acgd released it below ${d.ladder.releasePercent}% of ${formatBytes(d.budget)}`;
    call.killAdvice = `retry when the ${d.key} domain has room (${room}), or ask the operator for a higher rank`;
    call.events.push(call.killedBy);
    emitEvent("killed", {
      ...aboutCall(call),
      message: `ladder (${d.key}): killed ${call.id} of agent ${call.agent.key} (rank ${rank}, class ${call.cls.name}): ${why}`,
      data: { reason: "ladder", domain: d.key, rank },
    });
    this.#calls.tree.setKnob(call.path, "cgroup.kill", "1");
  }

  /**
   * The agent kill_agent takes: of the ladder's ranks, not killed already,
   * lowest-ranked first, then the one using the most memory (one kill frees
   * the most, as oomd chooses). Never the domain's only agent: killing it
   * would keep nobody alive.
   */
  #agentVictim(d: Domain): AgentEntry | undefined {
    const agents = this.#agentsIn(d);
    if (agents.length < 2) return undefined;
    const policy = this.#calls.policy;
    return agents
      .filter((a) => this.#agentIsTarget(d, a) && !d.killedAgents.has(a.key))
      .map((a) => ({ a, rank: agentRank(a, policy), usage: this.#usage(a.path) ?? 0 }))
      .filter((x) => x.usage > 0)
      .sort((x, y) => y.rank - x.rank || y.usage - x.usage)[0]?.a;
  }

  /**
   * Whether the last kill's memory has yet to show in the domain's usage
   * (less than half of what the victim held has come off it), for at most
   * RELEASE_WAIT_MS, and while usage is no higher than at the kill. In the
   * 17:27 benchmark (aligned-3, seed 4) the ladder killed a second agent
   * 80 ms after the first, the domain still reading 100% though the first
   * agent's cgroup was already empty. Usage above the kill's means someone
   * else is growing: then waiting would leave it to the kernel's OOM killer.
   */
  #awaitingRelease(d: Domain, usage: number): boolean {
    const k = d.lastKill;
    if (!k) return false;
    const waitMs = this.#opts.releaseWaitMs ?? RELEASE_WAIT_MS;
    if (usage > k.usage || usage <= k.usage - k.victimBytes / 2 || Date.now() - k.atMs >= waitMs) {
      d.lastKill = null;
      return false;
    }
    return true;
  }

  /** Removes this domain's ceiling from a call: its memory.high is decided again under the ceilings left (see setMemoryHighCap). */
  #lift(d: Domain, call: ToolCall, why: string): void {
    d.capped.delete(call.id);
    d.stepOf.delete(call.id);
    setMemoryHighCap(this.#calls.tree, call, d.key, null);
    const message = `ladder (${d.key}): released (${why})`;
    call.events.push(message);
    emitEvent("thawed", { ...aboutCall(call), message, data: { domain: d.key } });
    this.#opts.capsChanged?.(call);
  }

  /** Remembers a kill's memory for {@link #awaitingRelease}. */
  #rememberKill(d: Domain, victimPath: string): void {
    const usage = this.#usage(d.path);
    const victimBytes = this.#usage(victimPath);
    d.lastKill = usage === null || !victimBytes ? null : { usage, victimBytes, atMs: Date.now() };
  }

  /**
   * Whether the memory of calls and agents this ladder killed that still
   * have processes (cgroup.events `populated 1`), on its way back as the
   * kernel reaps them, would bring the domain from `usage` under `markPercent`:
   * then a kill meanwhile would be one kill too many. Unreadable memory of a
   * populated one counts as enough (wait for it). In the 2026-12-03
   * benchmark a call killed at the kill mark was still being reaped at the
   * kill_agent mark 100 ms later, and its agent was killed whole for memory
   * that was already on its way back; in the 20:06 one a small call killed
   * at 94% was still exiting while the high-ranked agent grew to 99%:
   * someone else was growing, and waiting for it left the kill to the kernel.
   */
  #reapingSuffices(d: Domain, usage: number, markPercent: number): boolean {
    const tree = this.#calls.tree;
    const paths = [
      ...[...d.killed].map((id) => this.#calls.calls.get(id)?.path),
      ...[...d.killedAgents].map((key) => this.#calls.agents.get(key)?.path),
    ];
    let bytes = 0;
    for (const path of paths) if (path !== undefined && tree.populated(path)) bytes += this.#usage(path) ?? Infinity;
    return bytes > 0 && usage - bytes < (markPercent / 100) * d.budget;
  }

  #killAgent(d: Domain, agent: AgentEntry, why: string): void {
    d.killedAgents.add(agent.key);
    this.#rememberKill(d, agent.path);
    const rank = PRIORITY_LEVELS[agentRank(agent, this.#calls.policy)];
    const usage = this.#usage(agent.path);
    const which = `the lowest-ranked, largest agent there (rank ${rank}, ${usage === null ? "usage unknown" : formatBytes(usage)})`;
    for (const call of this.#calls.calls.values()) {
      if (call.agent !== agent || d.killed.has(call.id)) continue;
      d.killed.add(call.id);
      call.killedBy = `killed with its agent by the runtime: ${why}; it was ${which}`;
      call.events.push(call.killedBy);
    }
    emitEvent("killed", {
      agent: agent.key,
      message: `ladder (${d.key}): killed agent ${agent.key} whole, its own processes and calls (rank ${rank}): ${why}`,
      data: { reason: "ladder", domain: d.key, rank, whole: "agent", usageBytes: usage },
    });
    this.#log(`ladder (${d.key}): killed agent ${agent.key} whole: ${why}; it was ${which}`);
    this.#calls.tree.setKnob(agent.path, "cgroup.kill", "1");
  }

  /** Lifts every cap this domain set, highest rank first, and disengages. */
  #release(d: Domain, why: string): void {
    const policy = this.#calls.policy;
    const capped = [...d.capped]
      .map((id) => this.#calls.calls.get(id))
      .filter((c): c is ToolCall => c !== undefined)
      .sort((a, b) => victimOrder(b, a, policy));
    for (const call of capped) this.#lift(d, call, why);
    this.#thawAgentsOwn(d, why);
    d.killedAgents.clear();
    d.lastKill = null;
    d.capped.clear();
    d.stepOf.clear();
    d.step = Step.none;
    d.frozenSinceMs = null;
    d.stall = null;
  }

  /** The tripwire goes to the next watermark above the usage that would change something (only kill marks where the scheduler holds). */
  #armTripwire(d: Domain, usage: number): void {
    const next = this.#wiredMarks(d, usage).find((b) => b > usage);
    this.#setTripwire(d, next === undefined ? "max" : String(next));
    if (d.holdSlot !== null && d.ladder.scope.kind !== "agent") this.#armAgentTripwires(d, usage);
  }

  /**
   * Each target agent's memory.high at its usage plus the domain's headroom to
   * its next watermark, or past the last one to the budget itself (rounded up
   * to a MiB, so that it moves rarely). While the domain is frozen they are
   * never raised.
   */
  #armAgentTripwires(d: Domain, usage: number): void {
    const next = [...this.#marks(d), d.budget].find((b) => b > usage) ?? usage;
    const seen = new Set<string>();
    for (const agent of this.#agentsIn(d)) {
      if (!this.#agentIsTarget(d, agent)) continue;
      const own = this.#usage(agent.path);
      if (own === null) continue;
      seen.add(agent.key);
      const prev = d.agentTripwires.get(agent.key);
      let bytes = Math.ceil((own + next - usage) / MIB) * MIB;
      // The keeper's agent follows the domain's headroom both ways: its burst is the one that goes on.
      if (d.step === Step.freeze && prev && d.keeper?.agent !== agent) {
        // While frozen, an agent's tripwire is never raised: one that crossed it stays
        // over it, and the kernel's penalty grows with the overage. Nor is it set below
        // the usage (a write below usage makes the writer reclaim).
        if (Number(prev.value) <= own) continue;
        bytes = Math.max(Math.min(bytes, Number(prev.value)), Math.ceil(own / MIB) * MIB);
      }
      const value = String(bytes);
      if (prev?.value === value) continue;
      d.agentTripwires.set(agent.key, { path: agent.path, value });
      this.#calls.tree.setKnob(agent.path, "memory.high", value);
    }
    for (const [key, t] of d.agentTripwires) {
      if (seen.has(key)) continue;
      d.agentTripwires.delete(key);
      if (this.#calls.agents.get(key)) this.#calls.tree.setKnob(t.path, "memory.high", "max");
    }
  }

  #disarmAgentTripwires(d: Domain): void {
    for (const [key, t] of d.agentTripwires) if (this.#calls.agents.get(key)) this.#calls.tree.setKnob(t.path, "memory.high", "max");
    d.agentTripwires.clear();
  }

  #agentsIn(d: Domain): AgentEntry[] {
    return [...this.#calls.agents.values()].filter((a) => this.#agentInDomain(d, a));
  }

  #agentInDomain(d: Domain, agent: AgentEntry): boolean {
    const s = d.ladder.scope;
    if (s.kind === "host") return true;
    if (s.kind === "tenant") return d.key === `tenant ${agent.tenant}`;
    return d.key === `agent ${agent.key}`;
  }

  /** The watermarks in bytes, lowest first. */
  #marks(d: Domain, which: readonly Mark[] = ["withdraw", "freeze", "kill", "killAgent"]): number[] {
    const l = d.ladder;
    const percent = { withdraw: l.withdrawBurstPercent, freeze: l.freezePercent, kill: l.killPercent, killAgent: l.killAgentPercent };
    return which
      .map((w) => percent[w])
      .filter((p): p is number => p !== null)
      .map((p) => Math.floor((p / 100) * d.budget));
  }

  /**
   * The watermarks that get a tripwire at `usage`. Where the scheduler holds the domain, the first
   * kill mark only, until usage is past it: then kill_agent's too. Between the two, acgd may be
   * waiting for kill_agent (an agent kill frees what no call's would), and a burst no step holds (a
   * higher-ranked agent's) crossed that gap in tens of ms: in three benchmark runs in a row the
   * kernel's OOM killer took the agent acgd was about to kill, acgd's poll seeing 100%.
   */
  #wiredMarks(d: Domain, usage: number): number[] {
    if (d.holdSlot === null) return this.#marks(d);
    const kills = this.#marks(d, ["kill", "killAgent"]);
    return kills.length > 0 && usage >= kills[0]! ? kills : kills.slice(0, 1);
  }

  /** Whether the usage is within NEAR_MARK_PERCENT of the budget below a watermark that has no tripwire. */
  #nearUnwiredMark(d: Domain, usage: number): boolean {
    const wired = new Set(this.#wiredMarks(d, usage));
    const near = (NEAR_MARK_PERCENT / 100) * d.budget;
    return this.#marks(d).some((b) => !wired.has(b) && usage < b && usage >= b - near);
  }

  #setTripwire(d: Domain, value: string): void {
    if (d.tripwire === value) return;
    d.tripwire = value;
    this.#calls.tree.setKnob(d.path, "memory.high", value);
  }

  #usage(path: string): number | null {
    const v = this.#calls.tree.readKnob(path, "memory.current")?.trim();
    return v && /^\d+$/.test(v) ? Number(v) : null;
  }

  #guard(d: Domain, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#log(`ladder (${d.key}): ${(e as Error).message}`);
    }
  }
}

/** A hold slot's setting: the domain's cgroup, its mark at `percent` of the budget, the ladder's ranks. */
function holdSpec(d: Domain, percent: number): { path: string; holdBytes: number; ranks: number[] } {
  const ranks = PRIORITY_LEVELS.map((_, r) => r).filter((r) => d.ladder.rankMask & (1 << r));
  return { path: d.path, holdBytes: Math.floor((percent / 100) * d.budget), ranks };
}

/** How the events name an agent's own processes. */
function ownOf(agentKey: string): string {
  return `agent ${agentKey}'s own processes`;
}

/** "16MiB (memory.high; usage 15MiB)": a cap as the events say it. */
function capText(cap: number, usage: number): string {
  return `${formatBytes(cap)} (memory.high; usage ${formatBytes(usage)})`;
}

function stepName(s: Step): string {
  return s === Step.freeze ? "freeze" : s === Step.withdraw ? "burst withdrawn" : "idle";
}

function describeSteps(l: LadderIR): string {
  const ranks = PRIORITY_LEVELS.filter((_, i) => l.rankMask & (1 << i)).join(", ");
  const steps = [
    l.withdrawBurstPercent !== null ? `withdraw_burst ${l.withdrawBurstPercent}%` : null,
    l.freezePercent !== null ? `freeze ${l.freezePercent}%${l.freezeMaxNs !== null ? ` for ${l.freezeMaxNs / 1e9}s` : ""}` : null,
    l.killPercent !== null ? `kill ${l.killPercent}%` : null,
    l.killAgentPercent !== null ? `kill_agent ${l.killAgentPercent}%` : null,
  ].filter(Boolean);
  return `${steps.join(", ")}, release ${l.releasePercent}%, acting on ranks ${ranks}`;
}
