// Enforcement through plain cgroup v2 files, for kernels without memcg_bpf_ops.
// Event driven: the kernel notifies changes of memory.events (inotify via
// fs.watch) and PSI triggers (see native-io.ts); the only timers are one decision
// deadline per call (burst credit expiry, throttle ramp step, kill deadline,
// cooldown end), one clear-check per active pressure rule and one release
// per call a pressure rule holds.
//
// Burst: memory.high sits at the baseline as a tripwire. When usage crosses
// it the kernel counts a `high` event; the burst clock of compiler/decide.ts
// (the same rules the BPF path follows) then says bursting → memory.high is
// raised to baseline+burst until the credit is spent, or throttled →
// memory.high is pulled from the current usage down to the baseline over the
// over_high ramp (the kernel's reclaim throttling does the slowing), and
// after `kill after` of continuous overage the call is killed (cgroup.kill).
//
// The clock only learns the usage at events and deadlines, so a burst is
// charged until the next of them: credit is used conservatively.

import { readFileSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import type { PolicyIR, PressureRuleIR } from "../compiler/ir.js";
import { formatBytes } from "../compiler/units.js";
import {
  burstInit,
  BurstMode,
  burstUpdate,
  MemVerdict,
  throttleDelayMs,
  type BurstClock,
  type BurstParams,
  type MemVerdictCode,
} from "../compiler/decide.js";
import { ownClassOf } from "./call-limits.js";
import { AGENT_LEAF } from "./cgroup-tree.js";
import { psiTotalUs } from "./cgroup-files.js";
import { aboutCall, emitEvent } from "./events.js";
import type { PsiWatcher } from "./native-io.js";
import { setMemoryHighCap, type AgentEntry, type Enforcer, type ToolCall, type ToolCalls } from "./tool-calls.js";
import { agentRank } from "./victim-order.js";

const now = (): bigint => process.hrtime.bigint();
/** Steps the over_high ramp is taken in (memory.high moves at each). */
const RAMP_STEPS = 4;
/**
 * Lowest memory.high a pressure rule's throttle sets on a call without a
 * baseline: an idle call (usage near 0) pinned at its usage could not
 * allocate a page without the kernel's over-high penalty, i.e. it would be wedged.
 */
export const PRESSURE_THROTTLE_FLOOR_BYTES = 8 * 1024 * 1024;

/**
 * memory.high of a call of a throttled class while a pressure rule is active:
 * its usage, but never below its baseline (its share: calls within it keep
 * room to work, only burst headroom is withdrawn) nor, without a baseline,
 * below {@link PRESSURE_THROTTLE_FLOOR_BYTES}; and never above the value it
 * has now (pressure only tightens).
 */
export function pressureThrottleHigh(usage: number, baseline: number | null, currentHigh: number): number {
  return Math.min(currentHigh, Math.max(usage, baseline ?? PRESSURE_THROTTLE_FLOOR_BYTES));
}

/** Who a pressure rule's ceiling on a call's memory.high belongs to (see ToolCall.memoryHighCaps). */
function pressureKey(p: PressureScope): string {
  return `pressure rule ${p.rule.id}@${p.scope}`;
}

interface MemoryState {
  call: ToolCall;
  baseline: bigint;
  burstBytes: bigint;
  params: BurstParams;
  clock: BurstClock;
  verdict: MemVerdictCode;
  /** Usage when throttling began: the ramp pulls memory.high from here to the baseline. */
  throttleFrom: bigint;
  high: bigint | null;
  watcher: FSWatcher | null;
  timer: NodeJS.Timeout | null;
  lastHighCount: number;
}

interface PressureScope {
  rule: PressureRuleIR;
  /** Where this trigger watches: "host", "tenant:<name>", "agent:<tenant/agent>". */
  scope: string;
  file: string;
  watch: { close(): void } | null;
  active: boolean;
  clearTimer: NodeJS.Timeout | null;
  /** memory.low values to restore when pressure clears (calls this rule protected): call id → value. */
  protected: Map<string, string>;
  /**
   * Calls this rule's throttle holds (a ceiling in ToolCall.memoryHighCaps),
   * each with the timer that lifts it when the policy's delay ends; the rule
   * clearing lifts them too. The next event of the rule, at most one per
   * window, holds them again.
   */
  held: Map<string, NodeJS.Timeout>;
  /** Calls that have been told of this activation's throttle (one event per call and activation). */
  told: Set<string>;
  /** The PSI line's `total` (µs stalled) and when it was read: events are checked against its growth. */
  lastTotalUs: number | null;
  lastReadNs: bigint;
}

export class CgroupfsEnforcer implements Enforcer {
  readonly #calls: ToolCalls;
  readonly #psi: PsiWatcher | null;
  readonly #mem = new Map<string, MemoryState>();
  readonly #pressure = new Map<string, PressureScope>();
  readonly #hostPressureFile: string;
  readonly #log: (msg: string) => void;

  constructor(calls: ToolCalls, opts: { psi: PsiWatcher | null; hostPressureFile?: string; log?: (msg: string) => void }) {
    this.#calls = calls;
    this.#psi = opts.psi;
    this.#hostPressureFile = opts.hostPressureFile ?? "/proc/pressure/memory";
    this.#log = opts.log ?? (() => {});
    this.policyChanged(calls.policy);
  }

  describe(): Record<string, string> {
    const pressure =
      this.#calls.policy.pressureRules.length === 0
        ? "no pressure rules"
        : this.#psi
          ? `PSI triggers (${this.#pressure.size} watched), memory.low/memory.high while active`
          : "NOT enforced: no PSI trigger support in the native addon";
    return {
      memory:
        "cgroup v2 files: memory.high (baseline, burst raise, throttle ramp), memory.max, " +
        "memory.low, memory.min; cgroup.kill for `kill after`",
      pressure,
    };
  }

  callStarted(call: ToolCall): void {
    const baseline = call.limits.baselineBytes;
    if (baseline === null) return;
    const b = call.rule.memory.burst;
    const params: BurstParams = b
      ? {
          durationNs: BigInt(b.durationNs),
          refillNs: BigInt(b.refillNs),
          mode: b.mode === "refill" ? BurstMode.refill : BurstMode.cooldown,
        }
      : { durationNs: 0n, refillNs: 0n, mode: BurstMode.none };
    const st: MemoryState = {
      call,
      baseline: BigInt(baseline),
      burstBytes: BigInt(b?.bytes ?? 0),
      params,
      clock: burstInit(params, now()),
      verdict: MemVerdict.calm,
      throttleFrom: 0n,
      high: BigInt(baseline),
      watcher: null,
      timer: null,
      lastHighCount: 0,
    };
    this.#mem.set(call.id, st);
    const events = join(call.path, "memory.events");
    // Only calls that can burst or escalate need to hear about memory.high
    // events; without the memory controller there is nothing to hear (status says so).
    const memoryController = this.#calls.tree.hasKnob(call.path, "memory.events");
    if (memoryController && (b || call.rule.memory.overHigh.killAfterNs !== null || call.rule.memory.overHigh.delayMaxMs > 0)) {
      try {
        st.watcher = watch(events, { persistent: false }, () => this.#evaluate(st));
        st.watcher.on("error", () => {});
      } catch (e) {
        call.events.push(`memory.events cannot be watched (${(e as Error).message}): burst and over_high are not enforced for this call`);
      }
    }
    for (const p of this.#pressure.values())
      if (p.active && this.#inScope(p, call.agent)) this.#guard(`pressure on ${call.id}`, () => this.#applyPressure(p, call));
  }

  callEnded(call: ToolCall): void {
    const st = this.#mem.get(call.id);
    if (st) {
      st.watcher?.close();
      if (st.timer) clearTimeout(st.timer);
      this.#mem.delete(call.id);
    }
    for (const p of this.#pressure.values()) {
      p.protected.delete(call.id);
      p.told.delete(call.id);
      clearTimeout(p.held.get(call.id));
      p.held.delete(call.id);
    }
  }

  agentAdded(agent: AgentEntry): void {
    for (const rule of this.#calls.policy.pressureRules) {
      if (rule.scope.kind === "agent") this.#watchPressure(rule, `agent:${agent.key}`, agent.path);
      if (rule.scope.kind === "tenant") {
        const t = rule.scope.tenantId === null ? agent.tenant : this.#calls.policy.tenants[rule.scope.tenantId]?.name;
        if (t === agent.tenant) this.#watchPressure(rule, `tenant:${t}`, this.#calls.tree.tenantPath(t));
      }
    }
  }

  policyChanged(policy: PolicyIR): void {
    for (const p of this.#pressure.values()) this.#closePressure(p);
    this.#pressure.clear();
    for (const rule of policy.pressureRules) if (rule.scope.kind === "host") this.#watchPressure(rule, "host", null);
    for (const a of this.#calls.agents.values()) this.agentAdded(a);
  }

  close(): void {
    for (const st of this.#mem.values()) this.callEnded(st.call);
    for (const p of this.#pressure.values()) this.#closePressure(p);
    this.#pressure.clear();
  }

  /**
   * Runs an event or timer callback: a failure (typically a call's cgroup
   * removed under it) is logged and ends that decision, never the process.
   */
  #guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      emitEvent("error", { message: `${what}: ${(e as Error).message}` });
    }
  }

  /** Re-decides a call's memory.high from its usage now (after an event or at its deadline). */
  #evaluate(st: MemoryState): void {
    this.#guard(`memory decision for ${st.call.id}`, () => this.#decide(st));
  }

  #decide(st: MemoryState): void {
    if (!this.#mem.has(st.call.id)) return;
    const tree = this.#calls.tree;
    const usageText = tree.readKnob(st.call.path, "memory.current");
    if (usageText === null) return; // the cgroup is being removed
    const usage = BigInt(usageText.trim());
    const t = now();
    const before = st.verdict;
    st.verdict = burstUpdate(st.clock, st.params, t, usage, st.baseline, st.burstBytes);
    const om = st.call.rule.memory.overHigh;
    const overFor = () => `over the baseline for ${(Number(st.clock.overSinceNs ? t - st.clock.overSinceNs : 0n) / 1e9).toFixed(2)}s`;
    switch (st.verdict) {
      case MemVerdict.calm:
        this.#setHigh(st, st.baseline);
        if (before !== MemVerdict.calm)
          this.#callEvent(
            st.call,
            "calm",
            `calm: usage ${formatBytes(Number(usage))} back at or below the baseline; memory.high ${formatBytes(Number(st.baseline))}`,
            { usageBytes: Number(usage) },
          );
        break;
      case MemVerdict.bursting:
        if (before !== MemVerdict.bursting) {
          this.#callEvent(
            st.call,
            "burst",
            `burst: usage ${formatBytes(Number(usage))} above the baseline ` +
              `${formatBytes(Number(st.baseline))}; memory.high raised by ` +
              `${formatBytes(Number(st.burstBytes))} for ` +
              `${(Number(st.clock.creditNs) / 1e9).toFixed(1)}s of credit`,
            { usageBytes: Number(usage), creditSeconds: Number(st.clock.creditNs) / 1e9 },
          );
        }
        this.#setHigh(st, st.baseline + st.burstBytes);
        break;
      case MemVerdict.throttled: {
        if (before !== MemVerdict.throttled) {
          st.throttleFrom = usage > st.baseline ? usage : st.baseline;
          const why =
            st.params.mode === BurstMode.none
              ? "no burst allowance"
              : usage > st.baseline + st.burstBytes
                ? "above baseline+burst"
                : "burst credit spent";
          this.#callEvent(
            st.call,
            "throttled",
            `throttled (${why}): usage ${formatBytes(Number(usage))}, ${overFor()}; memory.high ramps ` +
              `from ${formatBytes(Number(st.throttleFrom))} to the baseline ` +
              `${formatBytes(Number(st.baseline))}`,
            { reason: why, usageBytes: Number(usage) },
          );
        }
        const delay = throttleDelayMs(st.clock, st.verdict, t, om.delayMinMs, om.delayMaxMs, BigInt(om.rampNs));
        const span = om.delayMaxMs - om.delayMinMs;
        const frac = span > 0 ? Math.min(1, Math.max(0, (delay - om.delayMinMs) / span)) : 1;
        const high = st.throttleFrom - BigInt(Math.floor(Number(st.throttleFrom - st.baseline) * frac));
        this.#setHigh(st, high);
        const overNs = t - st.clock.overSinceNs;
        if (om.killAfterNs !== null && overNs >= BigInt(om.killAfterNs)) {
          this.#kill(
            st,
            `killed by the runtime: over its baseline ${formatBytes(Number(st.baseline))} for ` +
              `${(Number(overNs) / 1e9).toFixed(1)}s (rule '${st.call.rule.name}' kills after ` +
              `${om.killAfterNs / 1e9}s)`,
          );
          return;
        }
        break;
      }
    }
    this.#schedule(st, t);
  }

  /** Arms the call's one timer at its next decision deadline, if it has one. */
  #schedule(st: MemoryState, t: bigint): void {
    if (st.timer) clearTimeout(st.timer);
    st.timer = null;
    const om = st.call.rule.memory.overHigh;
    const deadlines: bigint[] = [];
    if (st.verdict === MemVerdict.bursting) deadlines.push(t + st.clock.creditNs);
    if (st.verdict === MemVerdict.throttled) {
      const since = st.clock.exhaustedAtNs > st.clock.overSinceNs ? st.clock.exhaustedAtNs : st.clock.overSinceNs;
      const step = BigInt(om.rampNs) / BigInt(RAMP_STEPS);
      if (step > 0n && t < since + BigInt(om.rampNs)) deadlines.push(t + step);
      if (om.killAfterNs !== null) deadlines.push(st.clock.overSinceNs + BigInt(om.killAfterNs));
      if (st.params.mode === BurstMode.cooldown && st.clock.exhaustedAtNs !== 0n)
        deadlines.push(st.clock.exhaustedAtNs + st.params.refillNs);
    }
    const future = deadlines.filter((d) => d > t);
    if (future.length === 0) return;
    const next = future.reduce((a, b) => (b < a ? b : a));
    st.timer = setTimeout(() => this.#evaluate(st), Number((next - t) / 1_000_000n) + 1);
    st.timer.unref();
  }

  #setHigh(st: MemoryState, decided: bigint): void {
    // A ladder's cap (the domain is short of memory) overrides the call's own allowance.
    const caps = st.call.memoryHighCaps;
    const cap = caps?.size ? BigInt(Math.min(...caps.values())) : null;
    const v = cap !== null && cap < decided ? cap : decided;
    if (st.high === v) return;
    st.high = v;
    this.#calls.tree.setKnob(st.call.path, "memory.high", String(v));
  }

  /** Decides a call's memory.high afresh (a ladder or a pressure rule lifted its ceiling). */
  reevaluate(call: ToolCall): void {
    const st = this.#mem.get(call.id);
    if (!st) return;
    st.high = null;
    this.#evaluate(st);
  }

  #kill(st: MemoryState, why: string): void {
    st.call.killedBy = why;
    this.#callEvent(st.call, "killed", why, { reason: "over_high" });
    this.#calls.tree.setKnob(st.call.path, "cgroup.kill", "1");
    this.callEnded(st.call);
  }

  /** Records a decision in the call's report and emits it as an event. */
  #callEvent(
    call: ToolCall,
    kind: "calm" | "burst" | "throttled" | "killed" | "pressure_action",
    message: string,
    data: Record<string, unknown>,
  ): void {
    call.events.push(message);
    emitEvent(kind, { ...aboutCall(call), message, data });
  }

  /** Burst credit left of each call with a burst allowance (seconds), for the metrics. */
  burstCredits(): { call: ToolCall; creditSeconds: number; state: "calm" | "bursting" | "throttled" }[] {
    const state = { [MemVerdict.calm]: "calm", [MemVerdict.bursting]: "bursting", [MemVerdict.throttled]: "throttled" } as const;
    return [...this.#mem.values()]
      .filter((st) => st.params.mode !== BurstMode.none)
      .map((st) => ({ call: st.call, creditSeconds: Number(st.clock.creditNs) / 1e9, state: state[st.verdict] }));
  }

  // --- pressure rules -------------------------------------------------------

  #watchPressure(rule: PressureRuleIR, scope: string, cgroupPath: string | null): void {
    const key = `${rule.id}@${scope}`;
    if (this.#pressure.has(key)) return;
    const file = cgroupPath === null ? this.#hostPressureFile : join(cgroupPath, "memory.pressure");
    const p: PressureScope = {
      rule,
      scope,
      file,
      watch: null,
      active: false,
      clearTimer: null,
      protected: new Map(),
      held: new Map(),
      told: new Set(),
      lastTotalUs: null,
      lastReadNs: 0n,
    };
    this.#stallGrowthUs(p);
    this.#pressure.set(key, p);
    if (!this.#psi) return;
    const windowUs = Math.round(rule.windowNs / 1000);
    const stallUs = Math.max(1, Math.round((windowUs * rule.thresholdPercent) / 100));
    try {
      p.watch = this.#psi.watch(file, `${rule.psi} ${stallUs} ${windowUs}`, () =>
        this.#guard(`pressure rule ${rule.id} (${scope})`, () => this.#pressureEvent(p)),
      );
    } catch (e) {
      this.#log(`pressure rule ${rule.id} (${scope}): cannot watch ${file}: ${(e as Error).message}`);
    }
  }

  #closePressure(p: PressureScope): void {
    if (p.active) this.#clearPressure(p);
    p.watch?.close();
    if (p.clearTimer) clearTimeout(p.clearTimer);
  }

  #inScope(p: PressureScope, agent: AgentEntry): boolean {
    if (p.scope === "host") return true;
    if (p.scope.startsWith("tenant:")) return agent.tenant === p.scope.slice(7);
    return agent.key === p.scope.slice(6);
  }

  /** A PSI trigger fired: apply the rule's actions, and check for clearing after two windows without events. */
  #pressureEvent(p: PressureScope): void {
    // A trigger can signal right after it is registered, against a window
    // that began before it: act only when the stall time actually grew by the
    // threshold share of the window since the last reading.
    const readNsBefore = p.lastReadNs;
    const grown = this.#stallGrowthUs(p);
    const sinceUs = Number(p.lastReadNs - readNsBefore) / 1000;
    const needUs = (Math.min(sinceUs, p.rule.windowNs / 1000) * p.rule.thresholdPercent) / 100;
    if (grown === "first reading" || (grown !== "unreadable" && grown < needUs)) return;
    if (!p.active) {
      p.active = true;
      emitEvent("pressure", {
        message: `pressure rule ${p.rule.id} (${p.scope}) active`,
        data: { state: "on", rule: p.rule.id, scope: p.scope },
      });
    }
    // Every event while active: calls that were spared for rank may be next
    // (their juniors ended), and calls whose hold ended are held again.
    for (const call of this.#calls.calls.values()) {
      if (this.#inScope(p, call.agent)) this.#guard(`pressure on ${call.id}`, () => this.#applyPressure(p, call));
    }
    if (p.clearTimer) clearTimeout(p.clearTimer);
    p.clearTimer = setTimeout(
      () => this.#guard(`pressure rule ${p.rule.id} (${p.scope})`, () => this.#clearPressure(p)),
      Math.round((2 * p.rule.windowNs) / 1e6),
    );
    p.clearTimer.unref();
  }

  /**
   * Stall time (µs) added since the last reading of the scope's pressure file.
   * An unreadable file (cgroup going away) leaves the kernel's word; a first
   * reading only sets the base (a real trigger signals again next window).
   */
  #stallGrowthUs(p: PressureScope): number | "unreadable" | "first reading" {
    let total: number | null = null;
    try {
      total = psiTotalUs(readFileSync(p.file, "utf8"), p.rule.psi);
    } catch {
      // handled below
    }
    const prev = p.lastTotalUs;
    p.lastTotalUs = total;
    p.lastReadNs = now();
    if (total === null) return "unreadable";
    return prev === null ? "first reading" : total - prev;
  }

  /**
   * Protect (memory.low at usage, for as long as the rule is active) and
   * throttle (memory.high at usage, for the policy's delay) one call. The
   * throttle is a hold bounded in time, the cgroup-file stand-in for the
   * memcg hook's extra reclaim delay: a call pinned at its usage stalls on
   * memory, which is pressure, so a hold lasting while the rule is active
   * keeps its own trigger firing. In a 2026-12-04 replay (multi-tenant,
   * aligned-3) a low-ranked pytest held that way stalled until the harness
   * gave up; held for the delay once per window, a call stalls at most
   * delay/window of its time on the rule's account.
   */
  #applyPressure(p: PressureScope, call: ToolCall): void {
    const bit = 1 << call.cls.id;
    const tree = this.#calls.tree;
    const usage = tree.readKnob(call.path, "memory.current")?.trim();
    if (!usage) return;
    const oldLow = p.rule.protectClassMask & bit && !p.protected.has(call.id) ? tree.readKnob(call.path, "memory.low")?.trim() : undefined;
    if (oldLow !== undefined) {
      p.protected.set(call.id, oldLow);
      tree.setKnob(call.path, "memory.low", String(Math.max(Number(usage), call.limits.lowBytes)));
      this.#callEvent(call, "pressure_action", `pressure (${p.scope}): protected at ${formatBytes(Number(usage))} (memory.low)`, {
        action: "protect",
        scope: p.scope,
        bytes: Number(usage),
      });
    }
    const throttle = p.rule.throttle.find((t) => t.classMask & bit);
    // A class rule reaches a higher-ranked agent's calls only after every lower-ranked agent's.
    if (!throttle || p.held.has(call.id) || agentRank(call.agent, this.#calls.policy) < this.#lowestThrottledRank(p)) return;
    const currentHigh = tree.readKnob(call.path, "memory.high")?.trim();
    if (currentHigh === undefined) return;
    const high = pressureThrottleHigh(
      Number(usage),
      call.limits.baselineBytes,
      currentHigh === "max" ? Number.POSITIVE_INFINITY : Number(currentHigh),
    );
    // A ceiling like a ladder's: the burst logic does not raise memory.high past it while it holds.
    (call.memoryHighCaps ??= new Map()).set(pressureKey(p), high);
    tree.setKnob(call.path, "memory.high", String(high));
    const release = setTimeout(() => this.#guard(`releasing ${call.id}`, () => this.#release(p, call.id)), throttle.delayMs);
    release.unref();
    p.held.set(call.id, release);
    if (p.told.has(call.id)) return;
    p.told.add(call.id);
    this.#callEvent(
      call,
      "pressure_action",
      `pressure (${p.scope}): throttled at ${formatBytes(high)} (memory.high; usage ` +
        `${formatBytes(Number(usage))}) for ${throttle.delayMs}ms, again in each window while the rule is active`,
      { action: "throttle", scope: p.scope, bytes: high, delayMs: throttle.delayMs },
    );
  }

  /** The throttle's hold on a call ends: its memory.high is decided again, under the ceilings left. */
  #release(p: PressureScope, id: string): void {
    const release = p.held.get(id);
    const call = this.#calls.calls.get(id);
    p.held.delete(id);
    if (!release || !call) return;
    clearTimeout(release);
    setMemoryHighCap(this.#calls.tree, call, pressureKey(p), null);
    this.reevaluate(call);
  }

  /**
   * The lowest agent rank (largest level) among the work in scope that this
   * rule's throttle covers: calls of its classes, and agents' own processes
   * whose class (the profile's, else the default rule's) it covers. Own
   * processes count though the rule never throttles them (a ladder freezes
   * them): in a 2026-12-04 replay (multi-tenant, aligned-3) the ladder had
   * killed the last low-ranked call and frozen a low-ranked agent's 170 MiB
   * own process; the host rule then throttled the high-ranked agent's
   * pytest as the lowest-ranked call left, the two stalls kept full
   * pressure up, and nothing moved for 12 s.
   */
  #lowestThrottledRank(p: PressureScope): number {
    const policy = this.#calls.policy;
    const throttles = (classId: number) => p.rule.throttle.some((t) => t.classMask & (1 << classId));
    let lowest = 0;
    for (const call of this.#calls.calls.values()) {
      if (this.#inScope(p, call.agent) && throttles(call.cls.id)) lowest = Math.max(lowest, agentRank(call.agent, policy));
    }
    for (const agent of this.#calls.agents.values()) {
      const rank = agentRank(agent, policy);
      if (rank <= lowest || !this.#inScope(p, agent)) continue;
      const own = ownClassOf(agent.profile, policy)?.id ?? policy.rules[policy.defaultRuleId]!.classId;
      if (throttles(own) && this.#calls.tree.populated(join(agent.path, AGENT_LEAF))) lowest = rank;
    }
    return lowest;
  }

  #clearPressure(p: PressureScope): void {
    p.active = false;
    p.clearTimer = null;
    emitEvent("pressure", {
      message: `pressure rule ${p.rule.id} (${p.scope}) cleared`,
      data: { state: "off", rule: p.rule.id, scope: p.scope },
    });
    for (const id of [...p.held.keys()]) this.#guard(`releasing ${id}`, () => this.#release(p, id));
    for (const [id, low] of p.protected) {
      const call = this.#calls.calls.get(id);
      if (call) this.#guard(`restoring ${id}`, () => this.#calls.tree.setKnob(call.path, "memory.low", low));
    }
    for (const id of new Set([...p.protected.keys(), ...p.told])) {
      this.#calls.calls.get(id)?.events.push(`pressure (${p.scope}) cleared: limits restored`);
    }
    p.protected.clear();
    p.told.clear();
  }
}
