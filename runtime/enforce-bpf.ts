// The compiled policy's sched_ext scheduler, driven by the runtime: loaded
// and attached at start, told about each tool-call cgroup (acg_cgroups:
// cgroup id → rule, agent, class, raised baseline), its policy data swapped
// in place (inactive generation, then flip) when only data changes, its
// objects replaced when the code shape changes. If sched_ext ejects the
// scheduler the runtime notices within a second and says so; class weights
// are always written as cpu.weight too, so the cgroup tree keeps them.
//
// Memory stays with the cgroup-file enforcer: memcg_bpf_ops exists in no
// released kernel (PolicyObjects refuses to load it without the BTF type).
// The one memory action in the kernel is the hold (docs/bpf.md, "Memory
// holds"): acgd's ladder names its domains with setHoldDomain() and each
// call's rank and domains with setCallHold(); while a domain's usage is at
// or above its watermark, the scheduler keeps the held ranks' tasks off the
// CPU (bounded). userspace kills, the kernel holds.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { PolicyIR } from "../compiler/ir.js";
import { codeFeatures } from "../compiler/emit-c.js";
import { encodeCgroupKey, type HoldDomain } from "../compiler/abi-encode.js";
import { ABI_VERSION } from "../compiler/abi.js";
import { ExecClassifier } from "./exec-classifier.js";
import { emitEvent } from "./events.js";
import { btfHasFunc } from "./kernel-probes.js";
import { swapKind, type SwapKind } from "./swap-kind.js";
import { cgroupIdOf, PolicyObjects, type ClassStats, type ExitInfo, type HoldState } from "./policy-objects.js";
import { AGENT_LEAF } from "./cgroup-tree.js";
import { ownClassOf } from "./call-limits.js";
import type { AgentEntry, Enforcer, ToolCall, ToolCalls } from "./tool-calls.js";
import { agentRank } from "./victim-order.js";

/** sched_ext's state: "enabled" while a BPF scheduler runs. */
export const SCHED_EXT_STATE = "/sys/kernel/sched_ext/state";
/** How often the scheduler's state is checked: ejection is noticed within this. */
const EJECT_CHECK_MS = 500;

/** Where a running scheduler is pinned, and the record of which policy it runs. */
export interface SchedulerPins {
  /** bpffs directory for the link and maps. */
  dir: string;
  /** JSON file naming the compiled directory and policy hash of the pinned scheduler. */
  stateFile: string;
}

/** What the pinned scheduler runs: its objects' directory, and the policy (and generation) its maps hold. */
interface PinnedState {
  dir: string;
  sourceHash: string;
  /** acg_policy's active generation when the record was written (absent in records of older acgd). */
  generation?: number;
  /** The map ABI of the pinned objects (absent before version 3): another ABI's maps are never adopted. */
  abiVersion?: number;
}

export function defaultPins(): SchedulerPins {
  return { dir: "/sys/fs/bpf/agentcgroup/scheduler", stateFile: "/run/agentcgroup/scheduler.json" };
}

/**
 * Ends the enforcement a stopped acgd left pinned: removes the scheduler's
 * pins and record, so that its link, unreferenced, detaches. For tools that
 * start and stop acgd and want the kernel's default scheduler back (the
 * benchmark between setups); a running acgd does this itself when it loads
 * another policy.
 */
export function dropSchedulerPins(pins: SchedulerPins = defaultPins()): void {
  if (existsSync(pins.dir)) for (const f of readdirSync(pins.dir)) rmSync(join(pins.dir, f), { force: true });
  rmSync(pins.stateFile, { force: true });
}

function readState(file: string): PinnedState | null {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as PinnedState;
  } catch {
    return null;
  }
}

function readSchedState(): string {
  try {
    return readFileSync(SCHED_EXT_STATE, "utf8").trim();
  } catch {
    return "unknown";
  }
}

/** The memcg kfuncs the scheduler reads a hold domain's usage with (mm/bpf_memcontrol.c, 7.x). */
export const HOLD_KFUNCS = ["bpf_get_mem_cgroup", "bpf_mem_cgroup_usage", "bpf_put_mem_cgroup"] as const;

/** Is the kernel hold path possible here: does the kernel have the memcg kfuncs? */
export function kernelHoldSupport(): { active: boolean; missing: string[] } {
  const missing = HOLD_KFUNCS.filter((f) => {
    try {
      return !btfHasFunc(f);
    } catch {
      return true;
    }
  });
  return { active: missing.length === 0, missing };
}

/** A hold domain as acgd's ladder names it: by its cgroup directory, or by cgroup id. */
export type HoldDomainSpec = Omit<HoldDomain, "cgroupId"> & ({ path: string } | { cgroupId: bigint | number });

/** A call's place in the memory holds: its agent's effective rank and the hold domains it lies in. */
export interface CallHold {
  /** 0 high, 1 normal, 2 low. */
  rank: number;
  /** Indexes of the domains set with {@link BpfSchedulerEnforcer.setHoldDomain}. */
  holdDomains: readonly number[];
}

export interface SwapResult {
  kind: SwapKind["kind"];
  /** For "objects": time from detaching the old scheduler to the new one attached (ms). */
  gapMs?: number;
  /** For "classifier": time to load and attach the new program and detach the old one (ms; no gap: both run meanwhile). */
  replaceMs?: number;
}

/** The pinned scheduler's objects when they run `policy` from `dir`; otherwise drops any pinned scheduler and returns null. */
function adoptPinned(policy: PolicyIR, dir: string, pins: SchedulerPins, log: (msg: string) => void): PolicyObjects | null {
  const pinned = readState(pins.stateFile);
  if (!pinned || !existsSync(join(pins.dir, "scheduler_link"))) return null;
  if (pinned.dir === dir && pinned.sourceHash === policy.sourceHash && pinned.abiVersion === ABI_VERSION) {
    const po = PolicyObjects.adopt(dir, pins.dir);
    // The maps must hold what the record says; otherwise the record is stale and the scheduler is reloaded.
    const generationOk = pinned.generation === undefined || po.activeGeneration() === pinned.generation;
    if (readSchedState() === "enabled" && generationOk) {
      log(`re-adopted the pinned sched_ext scheduler of ${dir}`);
      return po;
    }
    po.close();
  }
  // Another policy's (or a dead) scheduler: it makes way for this one.
  dropSchedulerPins(pins);
  log(`dropped the pinned scheduler of ${pinned.dir} (another policy or map ABI, or no longer running)`);
  return null;
}

function pinScheduler(pins: SchedulerPins, po: PolicyObjects, dir: string, sourceHash: string): void {
  mkdirSync(pins.dir, { recursive: true });
  PolicyObjects.unpinScheduler(po.manifest, pins.dir);
  po.pinScheduler(pins.dir);
  recordPinned(pins, po, dir, sourceHash);
}

/** Records what the pinned scheduler runs, atomically (a reader sees the old record or the new one). */
function recordPinned(pins: SchedulerPins, po: PolicyObjects, dir: string, sourceHash: string): void {
  mkdirSync(dirname(pins.stateFile), { recursive: true });
  const tmp = `${pins.stateFile}.${process.pid}.tmp`;
  try {
    writeFileSync(
      tmp,
      JSON.stringify({ dir, sourceHash, generation: po.activeGeneration(), abiVersion: ABI_VERSION } satisfies PinnedState),
    );
    renameSync(tmp, pins.stateFile);
  } finally {
    rmSync(tmp, { force: true });
  }
}

export class BpfSchedulerEnforcer implements Enforcer {
  readonly #calls: ToolCalls;
  readonly #log: (msg: string) => void;
  #objects: PolicyObjects;
  /**
   * The policy these objects were built for: its code features and its exec
   * classifier's matchers decide whether another policy can be written into
   * them (weighed only when a policy changes, not while acgd starts).
   */
  #objectsPolicy: PolicyIR;
  #ejected: string | null = null;
  #timer: NodeJS.Timeout;
  readonly #pins: SchedulerPins;
  /** The compiled directory the running scheduler came from. */
  #dir: string;
  /** How the running scheduler was obtained, for status: loaded now, or adopted from pins. */
  readonly #origin: "loaded" | "adopted";
  /** Set when the pins were found removed (cleared when they are back), so that it is handled once. */
  #pinsLost = false;
  /** cgroup id of each call registered in acg_cgroups. */
  readonly #ids = new Map<string, bigint>();
  /** cgroup id of each agent's own leaf registered in acg_cgroups (a class from its profile, or a hold), by agent key. */
  #ownIds = new Map<string, bigint>();
  /** The exec classifier running on these objects (sharing their maps), if any. */
  #classifier: ExecClassifier | null = null;
  /** Hold domains set by acgd's ladder, by index: written again into replacement objects. */
  readonly #holdDomains = new Map<number, HoldDomain>();
  /** Each call's rank and hold domains (by call id), as acgd's ladder last set them. */
  readonly #callHolds = new Map<string, CallHold>();
  /** The same for agents' own leaves (by agent key), where the ladder holds them. */
  readonly #ownHolds = new Map<string, CallHold>();
  /** Whether the kernel has the memcg kfuncs the holds read usage with. */
  readonly #hold = kernelHoldSupport();

  private constructor(
    calls: ToolCalls,
    log: (msg: string) => void,
    pins: SchedulerPins,
    dir: string,
    objects: PolicyObjects,
    origin: "loaded" | "adopted",
  ) {
    this.#calls = calls;
    this.#log = log;
    this.#pins = pins;
    this.#objectsPolicy = calls.policy;
    this.#dir = dir;
    this.#objects = objects;
    this.#origin = origin;
    this.#timer = setInterval(() => this.#checkEjected(), EJECT_CHECK_MS);
    this.#timer.unref();
  }

  /**
   * Takes over the scheduler pinned in `pins.dir` when it runs this same
   * policy; otherwise loads (the kernel's verifier on a worker thread: acgd
   * serves meanwhile), fills and attaches the compiled directory's scheduler
   * (replacing a pinned one of another policy) and pins it, so it keeps
   * enforcing if acgd dies. Rejects, with nothing attached, on failure or
   * when `signal` aborts (acgd stopping during the load).
   */
  static async start(
    calls: ToolCalls,
    compiledDir: string,
    log: (msg: string) => void,
    opts: { pins?: SchedulerPins; signal?: AbortSignal } = {},
  ): Promise<BpfSchedulerEnforcer> {
    const pins = opts.pins ?? defaultPins();
    const dir = resolve(compiledDir);
    const adopted = adoptPinned(calls.policy, dir, pins, log);
    if (adopted) {
      adopted.setDaemon(process.pid);
      return new BpfSchedulerEnforcer(calls, log, pins, dir, adopted, "adopted");
    }
    const po = PolicyObjects.open(dir);
    try {
      await po.loadAsync("scheduler", opts.signal);
      po.writePolicy(calls.policy);
      po.setDaemon(process.pid);
      po.attachScheduler();
      pinScheduler(pins, po, dir, calls.policy.sourceHash);
    } catch (e) {
      po.close();
      throw e;
    }
    return new BpfSchedulerEnforcer(calls, log, pins, dir, po, "loaded");
  }

  /**
   * Runs the exec classifier on the scheduler's objects (maps shared), its
   * program verified on a worker thread; rejects, attaching nothing, if it
   * does not load (or `signal` aborts the load).
   */
  async runClassifier(classifier: ExecClassifier, signal?: AbortSignal): Promise<void> {
    await this.#objects.loadAsync("classifier", signal);
    classifier.onObjects(this.#objects, false);
    this.#classifier = classifier;
  }

  /**
   * Removes acg_cgroups entries of cgroups that are not running calls of
   * this acgd: after re-adopting a pinned scheduler, those of calls that
   * ended while no acgd watched (the calls still running are registered again).
   */
  forgetOtherCgroups(): number {
    const keep = new Set([...this.#ids.values(), ...this.#ownIds.values()].map((id) => encodeCgroupKey(id).toString("hex")));
    let n = 0;
    for (const key of [...this.#objects.map("acg_cgroups").keys()]) {
      if (!keep.has(key.toString("hex")) && this.#objects.clearCgroup(key.readBigUInt64LE(0))) n++;
    }
    return n;
  }

  /**
   * Kernel hold path: sets memory hold domain `index` (0..7): while the usage
   * of cgroup `domain.cgroupId` is at or above `domain.holdBytes`, the tasks
   * of calls in the domain (see {@link setCallHold}) whose agent's rank is in
   * `domain.ranks` are held off the CPU, each with a turn after at most
   * `holdMaxNs`. null clears the slot (held tasks are released). Throws on
   * bad values (a RangeError naming the field).
   *
   * ```ts
   * sched.setHoldDomain(0, { path: domainCgroupDir, holdBytes: freezeBytes, ranks: [2] });
   * sched.setCallHold(call, { rank: 2, holdDomains: [0] });
   * ```
   * (acgd's ladder, runtime/ladder.ts, calls both through its KernelHold interface.)
   */
  /** Whether this kernel lets the scheduler hold calls (it has the memcg kfuncs). */
  get holdsMemory(): boolean {
    return this.#hold.active;
  }

  setHoldDomain(index: number, spec: HoldDomainSpec | null): void {
    let domain: HoldDomain | null = null;
    if (spec) {
      const { cgroupId, path, ...rest } = spec as HoldDomainSpec & { cgroupId?: bigint | number; path?: string };
      domain = { ...rest, cgroupId: path !== undefined ? cgroupIdOf(path) : cgroupId! };
    }
    this.#objects.setHoldDomain(index, domain);
    if (domain) this.#holdDomains.set(index, domain);
    else this.#holdDomains.delete(index);
  }

  /** Sets a running call's effective agent rank and its hold domains (kept across policy swaps and object replacements). */
  setCallHold(call: ToolCall, hold: CallHold): void {
    this.#callHolds.set(call.id, hold);
    const id = this.#ids.get(call.id);
    if (id !== undefined) this.#register(this.#objects, call, id);
  }

  /**
   * Puts an agent's own leaf in hold domains (an empty list takes it out):
   * registered in acg_cgroups for the hold alone where its profile names no
   * class, as no tool call (its tasks keep the rule their exec or the
   * default gives them).
   */
  setAgentHold(agent: AgentEntry, hold: CallHold): void {
    if (hold.holdDomains.length > 0) this.#ownHolds.set(agent.key, hold);
    else if (!this.#ownHolds.delete(agent.key)) return;
    this.#registerOwn(this.#objects, agent);
  }

  /** The scheduler's view of each hold domain (usage read, engaged/released counts). */
  holdStates(): HoldState[] {
    return this.#objects.holdStates();
  }

  describe(): Record<string, string> {
    return {
      kernelHold: this.#hold.active
        ? "active: the scheduler holds low-ranked calls at a domain's watermark (memcg kfuncs " +
          `present; ${this.#holdDomains.size} domain(s) set)`
        : `inactive: the kernel lacks ${this.#hold.missing.join(", ")} (acgd's ladder acts alone)`,
      cpu: this.#ejected
        ? `cpu.weight on the cgroup tree: the sched_ext scheduler was ejected (${this.#ejected})`
        : `sched_ext scheduler '${this.#objects.manifest.policy.opsName}' (${this.#origin}, pinned ` +
          `in ${this.#pins.dir}: classes, priorities, slices; demotion of throttled calls); ` +
          "cpu.weight also written",
    };
  }

  callStarted(call: ToolCall): void {
    try {
      const id = cgroupIdOf(call.path);
      this.#register(this.#objects, call, id);
      this.#ids.set(call.id, id);
    } catch (e) {
      // The call still runs, under its rule's class weight (cpu.weight).
      call.events.push(`not registered with the scheduler: ${(e as Error).message}`);
    }
  }

  callEnded(call: ToolCall): void {
    this.#callHolds.delete(call.id);
    this.#forget(this.#ids, call.id, call.id);
  }

  /**
   * An agent whose profile gives its own processes a class (`agent { class
   * NAME }`): its own leaf is registered like a call's cgroup, under the
   * default rule and that class, never demoted for memory, and in the hold
   * domains the ladder puts it in ({@link setAgentHold}).
   */
  agentAdded(agent: AgentEntry): void {
    this.#registerOwn(this.#objects, agent);
  }

  agentRemoved(agent: AgentEntry): void {
    this.#ownHolds.delete(agent.key);
    this.#forget(this.#ownIds, agent.key, `agent ${agent.key}'s own processes`);
  }

  /** Removes the cgroup registered under `key` in `ids` from acg_cgroups; a failure is logged (`what` names it). */
  #forget(ids: Map<string, bigint>, key: string, what: string): void {
    const id = ids.get(key);
    if (id === undefined) return;
    ids.delete(key);
    try {
      this.#objects.clearCgroup(id);
    } catch (e) {
      this.#log(`acg_cgroups: cannot forget ${what}: ${(e as Error).message}`);
    }
  }

  /** Registers (or forgets) the agent's own leaf in `po`, recording its cgroup id in `ids`. */
  #registerOwn(po: PolicyObjects, agent: AgentEntry, ids = this.#ownIds): void {
    const policy = this.#calls.policy;
    const own = ownClassOf(agent.profile, policy);
    const hold = this.#ownHolds.get(agent.key);
    const known = ids.get(agent.key);
    try {
      if (!own && !hold) {
        if (known !== undefined) po.clearCgroup(known);
        ids.delete(agent.key);
        return;
      }
      const id = known ?? cgroupIdOf(join(agent.path, AGENT_LEAF));
      po.setCgroup(id, {
        ...(own ? { ruleId: policy.defaultRuleId, classId: own.id, baselineBytes: "none" as const } : { ruleId: null }),
        agentId: agent.id,
        tenantId: this.#tenantIdOf(agent),
        rank: agentRank(agent, policy),
        ...hold,
      });
      ids.set(agent.key, id);
    } catch (e) {
      const why = (e as Error).message;
      const without = own ? "they run in the default rule's class" : "the scheduler does not hold them";
      this.#log(`agent ${agent.key}'s own processes not registered with the scheduler (${without}): ${why}`);
    }
  }

  /**
   * How `policy` reaches these objects: written as data, with a new
   * classifier program ({@link replaceClassifier}), or new objects ({@link replace}).
   */
  swapKind(policy: PolicyIR): SwapKind {
    const k = swapKind(codeFeatures(this.#objectsPolicy), this.#objectsPolicy, policy);
    // Without a classifier on these objects its matchers are nobody's code: the data is all there is.
    return k.kind === "classifier" && !this.#classifier?.attached ? { kind: "data" } : k;
  }

  /**
   * A data-only change is written in place (callers check {@link swapKind}
   * first, and replace the classifier's program or the objects before).
   */
  policyChanged(policy: PolicyIR): void {
    const k = this.swapKind(policy);
    if (k.kind !== "data") {
      // Written under the old matchers, the classifier would stamp the new generation with the old rules.
      const what = k.kind === "classifier" ? "a new classifier program" : "new objects";
      this.#log(`scheduler keeps the previous policy's data: the new policy needs ${what} (${k.reason})`);
      return;
    }
    const gen = this.#objects.writePolicy(policy);
    // The record follows the data: a restarted acgd must not take the old policy's record for what the maps hold.
    recordPinned(this.#pins, this.#objects, this.#dir, policy.sourceHash);
    for (const call of this.#calls.calls.values()) {
      const id = this.#ids.get(call.id);
      if (id !== undefined) this.#register(this.#objects, call, id);
    }
    for (const agent of this.#calls.agents.values()) this.#registerOwn(this.#objects, agent);
    this.#log(`scheduler policy data swapped (generation ${gen})`);
  }

  /**
   * Replaces only the exec classifier's program with `compiledDir`'s (its
   * exe/path matchers changed, the scheduler's code did not): the scheduler
   * stays attached, the new program is attached before the old one is
   * detached. The data follows ({@link policyChanged}): until the generation
   * flips, what the new program decides is stamped with the old generation,
   * which the scheduler then ignores, rather than the old matchers' rules
   * being stamped with the new one. Throws, nothing changed, on failure.
   */
  replaceClassifier(compiledDir: string, policy: PolicyIR): SwapResult {
    if (!this.#classifier?.attached) throw new Error("no exec classifier runs beside the scheduler");
    const t0 = performance.now();
    this.#classifier.replaceProgram(compiledDir, policy);
    const replaceMs = performance.now() - t0;
    this.#objectsPolicy = policy;
    // A restarted acgd given this directory adopts the pinned scheduler (its record follows with the data).
    this.#dir = resolve(compiledDir);
    return { kind: "classifier", replaceMs };
  }

  /**
   * Replaces the objects with those of another compiled directory: the new
   * ones are loaded and filled first (a failure leaves the running scheduler
   * untouched), then the old scheduler is detached and the new one attached.
   */
  replace(compiledDir: string, policy: PolicyIR): SwapResult {
    const next = PolicyObjects.open(compiledDir);
    const nextOwnIds = new Map<string, bigint>();
    try {
      next.load("scheduler");
      // The classifier must come along: the old one reads the old objects' maps.
      if (this.#classifier?.attached) ExecClassifier.prepare(next);
      next.writePolicy(policy);
      next.setDaemon(process.pid);
      for (const [index, domain] of this.#holdDomains) next.setHoldDomain(index, domain);
      for (const call of this.#calls.calls.values()) {
        const id = this.#ids.get(call.id);
        if (id !== undefined) this.#register(next, call, id);
      }
      for (const agent of this.#calls.agents.values()) this.#registerOwn(next, agent, nextOwnIds);
    } catch (e) {
      next.close();
      throw e;
    }
    const t0 = performance.now();
    // Unpinned first: a pinned link stays attached when its fd is closed.
    PolicyObjects.unpinScheduler(this.#objects.manifest, this.#pins.dir);
    this.#objects.detachScheduler();
    try {
      next.attachScheduler();
    } catch (e) {
      next.close();
      // Put the old one back: a replacement that cannot attach changes nothing
      // (an adopted scheduler has no loaded objects to re-attach: then say so).
      try {
        this.#objects.attachScheduler();
        pinScheduler(this.#pins, this.#objects, this.#dir, this.#calls.policy.sourceHash);
      } catch (again) {
        this.#ejected =
          "replaced by a scheduler that failed to attach, and the previous one could not be re-attached: " + (again as Error).message;
      }
      throw e;
    }
    const gapMs = performance.now() - t0;
    if (this.#classifier?.attached) {
      try {
        this.#classifier.onObjects(next, false);
      } catch (e) {
        this.#classifier.absent(`it did not attach beside the replacement scheduler: ${(e as Error).message}`);
      }
    }
    this.#objects.close();
    this.#objects = next;
    this.#ownIds = nextOwnIds;
    this.#dir = resolve(compiledDir);
    pinScheduler(this.#pins, next, this.#dir, policy.sourceHash);
    this.#objectsPolicy = policy;
    this.#ejected = null;
    return { kind: "objects", gapMs };
  }

  /** The scheduler's per-class counters (acg_stats, summed over CPUs) for the policy's classes; null once ejected. */
  classStats(): ClassStats[] | null {
    return this.#ejected ? null : this.#objects.classStats(this.#calls.policy.classes.length);
  }

  /**
   * Stops watching; the pinned scheduler keeps running for the next acgd to
   * adopt, which names itself to it (this process id, once free, could be
   * another program's).
   */
  close(): void {
    clearInterval(this.#timer);
    this.#objects.setDaemon(0);
    this.#objects.release();
  }

  #register(po: PolicyObjects, call: ToolCall, id: bigint): void {
    const raised = call.limits.baselineBytes !== null && call.limits.baselineBytes !== call.rule.memory.baselineBytes;
    po.setCgroup(id, {
      ruleId: call.rule.id,
      agentId: call.agent.id,
      ...(call.cls.id !== call.rule.classId && { classId: call.cls.id }),
      tenantId: this.#tenantIdOf(call.agent),
      ...(raised && { baselineBytes: call.limits.baselineBytes! }),
      ...this.#callHolds.get(call.id),
    });
  }

  /** The index of the agent's tenant in the policy, or null (an agent outside the policy's tenants). */
  #tenantIdOf(agent: AgentEntry): number | null {
    const i = this.#calls.policy.tenants.findIndex((t) => t.name === agent.tenant);
    return i >= 0 ? i : null;
  }

  /** Pins removed from bpffs (by hand) would leave the next acgd nothing to adopt: they are put back, once, and logged. */
  #checkPins(): void {
    if (existsSync(join(this.#pins.dir, "scheduler_link"))) {
      this.#pinsLost = false;
      return;
    }
    if (this.#pinsLost) return;
    this.#pinsLost = true;
    try {
      pinScheduler(this.#pins, this.#objects, this.#dir, this.#calls.policy.sourceHash);
      this.#log(`the running scheduler's pins in ${this.#pins.dir} were removed: pinned again`);
    } catch (e) {
      this.#log(
        `the running scheduler's pins in ${this.#pins.dir} were removed and cannot be put back ` +
          `(${(e as Error).message}): a restarted acgd will load the scheduler again`,
      );
    }
  }

  #checkEjected(): void {
    if (this.#ejected) return;
    const state = readSchedState();
    let exit: ExitInfo | null = null;
    try {
      exit = this.#objects.exitInfo();
    } catch {
      // map unreadable: the state file decides
    }
    if (state === "enabled" && (!exit || exit.kind === 0)) {
      this.#checkPins();
      return;
    }
    this.#ejected =
      exit && exit.kind !== 0 ? `exit kind ${exit.kind}: ${exit.reason}${exit.msg ? `: ${exit.msg}` : ""}` : `sched_ext state ${state}`;
    emitEvent("scheduler_ejected", {
      message: `the sched_ext scheduler is no longer running (${this.#ejected}); CPU falls back to cpu.weight`,
      data: { reason: this.#ejected },
    });
  }
}
