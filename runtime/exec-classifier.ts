// Processes an agent starts without `acg run`: the exec classifier
// (classifier.bpf.o, tp_btf/sched_process_exec) reports every exec on the
// host through its ring buffer; for an exec in an agent's own `agent` leaf
// whose command matches a rule other than the default one, the runtime
// creates a tool-call cgroup and moves the process into it, as `start_call`
// with a `pid` does. Execs inside a tool-call cgroup or outside the agent
// tree are left alone.
//
// The kernel decides only what it can see (exe and path patterns); the
// runtime decides on the full matcher with the process's command line read
// from /proc, so `argv` rules work too. Records arrive on the event loop
// (uv_poll on the ring buffer's epoll fd), never by polling.
//
// The classifier shares acg_policy, acg_gen and acg_exec with the scheduler
// when one runs (PolicyObjects reuses the first loader's maps, or the pinned
// ones of an adopted scheduler), so policy data swaps reach it with the
// scheduler's; an object replacement loads a new classifier beside the new
// scheduler (see BpfSchedulerEnforcer.replace). Without a scheduler it runs on
// objects of its own, whose policy data it writes itself.

import { basename, join } from "node:path";
import { execEventStruct, layoutOf } from "../compiler/abi.js";
import { classifierMatchersDiffer } from "../compiler/emit-classifier.js";
import type { PolicyIR } from "../compiler/ir.js";
import { ACG_NONE } from "../compiler/decide.js";
import { AGENT_LEAF, commandLineOf } from "./cgroup-tree.js";
import { RingBuffer } from "./ring-buffer.js";
import { matchRule } from "./matcher.js";
import { cgroupIdOf, type PolicyObjects, type VerifierRow } from "./policy-objects.js";
import type { AgentEntry, Enforcer, ToolCall, ToolCalls } from "./tool-calls.js";

/** One record of acg_events (struct acg_exec_event). */
export interface ExecEvent {
  pid: number;
  tgid: number;
  cgroupId: bigint;
  /** The kernel's decision: a rule id, or ACG_NONE when it left the decision to user space. */
  ruleId: number;
  generation: number;
  comm: string;
  /** The executed file as exec saw it (bprm->filename). */
  filename: string;
}

const layout = layoutOf(execEventStruct);
const field = (name: string) => layout.fields.find((f) => f.name === name)!;
const cString = (b: Buffer) => {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString("utf8");
};

export function decodeExecEvent(rec: Buffer): ExecEvent {
  if (rec.length < layout.size) throw new RangeError(`exec event of ${rec.length} bytes, struct acg_exec_event has ${layout.size}`);
  const str = (name: string) => {
    const f = field(name);
    return cString(rec.subarray(f.offset, f.offset + f.size));
  };
  return {
    pid: rec.readUInt32LE(field("pid").offset),
    tgid: rec.readUInt32LE(field("tgid").offset),
    cgroupId: rec.readBigUInt64LE(field("cgroup_id").offset),
    ruleId: rec.readUInt32LE(field("rule_id").offset),
    generation: rec.readUInt32LE(field("generation").offset),
    comm: str("comm"),
    filename: str("filename"),
  };
}

/** `acg` itself (node running bin/acg.js, the installed `acg`, the native acg-run) starts its own call: it is never moved. */
export function isAcgClient(argv: readonly string[]): boolean {
  return argv.slice(0, 2).some((a) => ["acg", "acg.js", "acg-run"].includes(basename(a)));
}

/** The classifier program attached to one set of policy objects, with its ring buffer open. */
class Attachment {
  readonly po: PolicyObjects;
  readonly #onRecord: (rec: Buffer) => void;
  #ring: RingBuffer;

  /** `po` has the classifier loaded; attaching it and opening the ring buffer start the events. */
  constructor(po: PolicyObjects, onRecord: (rec: Buffer) => void) {
    po.attachClassifier();
    try {
      this.#ring = Attachment.#open(po, onRecord);
    } catch (e) {
      po.detachClassifier();
      throw e;
    }
    this.po = po;
    this.#onRecord = onRecord;
  }

  static #open(po: PolicyObjects, onRecord: (rec: Buffer) => void): RingBuffer {
    const ring = new RingBuffer(po.map("acg_events"), onRecord);
    // acgd lives on its socket and signals; the ring buffer must not keep it alive on its own.
    ring.unref();
    return ring;
  }

  /**
   * Replaces the program with the one compiled in `dir` (see
   * PolicyObjects.replaceClassifier). The ring buffer is the same kernel map:
   * the reader moves to the new object's descriptor of it, after reading
   * what the old one had not, so no record is lost or read twice.
   */
  replaceProgram(dir: string): VerifierRow[] {
    return this.po.replaceClassifier(dir, () => {
      const next = Attachment.#open(this.po, this.#onRecord);
      this.#ring.consume();
      this.#ring.close();
      this.#ring = next;
    });
  }

  close(): void {
    this.#ring.close();
    this.po.detachClassifier();
  }
}

/**
 * The event side: which exec becomes a call. Kept apart from the BPF side so
 * that it can be driven with events built by hand (host tests).
 */
export class ExecPlacement {
  readonly #calls: ToolCalls;
  readonly #log: (msg: string) => void;
  /** cgroup id of each agent's own leaf → the agent. */
  readonly #leaves = new Map<bigint, AgentEntry>();
  /** Processes moved into calls so far, for status. */
  moved = 0;

  constructor(calls: ToolCalls, log: (msg: string) => void) {
    this.#calls = calls;
    this.#log = log;
    for (const a of calls.agents.values()) this.agentAdded(a);
  }

  agentAdded(agent: AgentEntry): void {
    try {
      this.#leaves.set(cgroupIdOf(join(agent.path, AGENT_LEAF)), agent);
    } catch (e) {
      this.#log(`exec classifier: cannot watch agent ${agent.key}'s own cgroup: ${(e as Error).message}`);
    }
  }

  /** Places one exec: returns the call it now runs in, or null when it stays where it is. */
  async handle(ev: ExecEvent): Promise<ToolCall | null> {
    const agent = this.#leaves.get(ev.cgroupId);
    if (!agent) return null;
    if (this.#calls.agents.get(agent.key) !== agent) {
      this.#leaves.delete(ev.cgroupId); // the agent was forgotten (max_agents made room)
      return null;
    }
    const argv = commandLineOf(ev.tgid);
    if (!argv || argv.length === 0 || isAcgClient(argv)) return null;
    const policy: PolicyIR = this.#calls.policy;
    const rule = matchRule(policy, { hints: [], argv, path: ev.filename, tenant: agent.tenant });
    if (rule.id === policy.defaultRuleId) return null;
    // The event is about the past: the process may have moved or exited since.
    if (this.#calls.tree.cgroupOfPid(ev.tgid) !== `${agent.tenant}/${agent.agent}/${AGENT_LEAF}`) return null;
    const call = await this.#calls.startForPid({ tenant: agent.tenant, agent: agent.agent, argv, path: ev.filename }, ev.tgid);
    const kernel = ev.ruleId === ACG_NONE ? "undecided in the kernel" : `kernel rule ${policy.rules[ev.ruleId]?.name ?? ev.ruleId}`;
    call.events.push(
      `exec of ${ev.filename} (pid ${ev.tgid}) in the agent's own cgroup: moved into this call ` +
        `(${kernel}; rule '${call.rule.name}' on its command line)`,
    );
    this.moved++;
    this.#log(
      `start ${call.id} agent=${agent.key} rule=${call.rule.name} class=${call.cls.name}: exec ` +
        `of ${ev.filename} (pid ${ev.tgid}) moved from the agent's own cgroup`,
    );
    this.#calls.endWhenEmpty(call.id, (r) => this.#log(`call ${call.id} (unwrapped pid ${ev.tgid}) ended: ${JSON.stringify(r)}`));
    return call;
  }
}

/**
 * The exec classifier as the runtime runs it: attached to the scheduler's
 * objects (see {@link ExecClassifier.onObjects}) or to objects of its own,
 * its events given to an {@link ExecPlacement}. Reports itself in `status`.
 */
export class ExecClassifier implements Enforcer {
  readonly #placement: ExecPlacement;
  readonly #log: (msg: string) => void;
  #attachment: Attachment | null = null;
  /** True when the objects are the classifier's own (no scheduler): it writes their policy data. */
  #ownObjects = false;
  /** Why it is not attached, for status. */
  #absent: string;
  /** Set while acgd's start-up loads its objects (the kernel verifying them): status says so. */
  #loading = false;
  /** The policy its program's matchers were compiled from. */
  #kernelPolicy: PolicyIR;

  constructor(calls: ToolCalls, absent: string, log: (msg: string) => void) {
    this.#placement = new ExecPlacement(calls, log);
    this.#kernelPolicy = calls.policy;
    this.#absent = absent;
    this.#log = log;
  }

  /** Loads the classifier into `po` (sharing the maps of what is loaded or adopted there); throws, changing nothing, on failure. */
  static prepare(po: PolicyObjects): void {
    po.load("classifier");
  }

  /**
   * Runs the classifier on `po` (prepared with {@link prepare}): attached
   * there first, then detached from the objects it ran on before, so no exec
   * goes unseen (one seen twice is placed once: the second finds it moved).
   */
  onObjects(po: PolicyObjects, ownObjects: boolean): void {
    const next = new Attachment(po, (rec) => this.#record(rec));
    this.#attachment?.close();
    this.#attachment = next;
    this.#ownObjects = ownObjects;
    this.#loading = false;
  }

  /** Records that the classifier's objects are loading: it attaches with {@link onObjects}, or {@link absent} says why not. */
  loading(): void {
    this.#loading = true;
  }

  /** Records that the classifier could not be (re)attached; the runtime goes on without it. */
  absent(why: string): void {
    this.close();
    this.#absent = why;
    this.#loading = false;
  }

  get attached(): boolean {
    return this.#attachment !== null;
  }

  /** Attached on objects of its own (no scheduler): it writes their policy data, and its program is its alone to replace. */
  get onOwnObjects(): boolean {
    return this.#attachment !== null && this.#ownObjects;
  }

  /** Whether `policy`'s exe/path matchers differ from those its kernel program was compiled from. */
  needsNewProgram(policy: PolicyIR): boolean {
    return classifierMatchersDiffer(this.#kernelPolicy, policy);
  }

  /**
   * Replaces its kernel program with the one compiled in `dir` for `policy`
   * (new exe/path matchers), on the objects it runs on, the new one attached
   * before the old one is detached. Throws, the running program untouched,
   * when it does not load or attach.
   */
  replaceProgram(dir: string, policy: PolicyIR): VerifierRow[] {
    if (!this.#attachment) throw new Error(`the exec classifier is not attached (${this.#absent})`);
    const rows = this.#attachment.replaceProgram(dir);
    this.#kernelPolicy = policy;
    return rows;
  }

  #record(rec: Buffer): void {
    let ev: ExecEvent;
    try {
      ev = decodeExecEvent(rec);
    } catch (e) {
      this.#log(`exec classifier: ${(e as Error).message}`);
      return;
    }
    this.#placement.handle(ev).catch((e: Error) => this.#log(`exec classifier: pid ${ev.tgid} (${ev.filename}) not moved: ${e.message}`));
  }

  /** Events lost to a full ring buffer, as the kernel counted them; null when unreadable. */
  #drops(): string {
    try {
      return `${this.#attachment!.po.execEventDrops()} exec events dropped (ring buffer full)`;
    } catch (e) {
      return `dropped exec events unknown: ${(e as Error).message}`;
    }
  }

  describe(): Record<string, string> {
    return {
      classifier: this.#attachment
        ? "exec classifier attached " +
          `(tp_btf/sched_process_exec${this.#ownObjects ? ", own maps" : ", maps shared with the scheduler"}): ` +
          "execs in an agent's own cgroup that match a non-default rule get a tool call of their own " +
          `(${this.#placement.moved} so far); ${this.#drops()}`
        : this.#loading
          ? "exec classifier loading (the kernel is verifying it): until it attaches, processes started without acg run " +
            "stay in their agent's own cgroup"
          : `exec classifier NOT attached (${this.#absent}): processes started without acg run stay in their agent's own cgroup`,
    };
  }

  callStarted(_call: ToolCall): void {}
  callEnded(_call: ToolCall): void {}

  agentAdded(agent: AgentEntry): void {
    this.#placement.agentAdded(agent);
  }

  policyChanged(policy: PolicyIR): void {
    // With the scheduler the data is shared and the scheduler writes it (and
    // replaces the objects, this classifier's with them, when matchers change).
    if (!this.#ownObjects || !this.#attachment) return;
    // Changed matchers need a new program (acgd replaces it when the policy
    // comes as a compiled directory, before this): otherwise the kernel keeps
    // deciding with the old ones (its verdict only informs the log; the
    // runtime places every exec with the new policy).
    if (this.needsNewProgram(policy)) {
      this.#log(
        "exec classifier keeps the previous policy's matchers in the kernel (they are code; " +
          "apply the policy's compiled directory to change them); the runtime matches with " +
          "the new policy",
      );
    }
    try {
      this.#attachment.po.writePolicy(policy);
    } catch (e) {
      this.#log(
        `exec classifier keeps the previous policy's data in the kernel (${(e as Error).message}); the runtime matches with the new policy`,
      );
    }
  }

  close(): void {
    this.#attachment?.close();
    if (this.#ownObjects) this.#attachment?.po.close();
    this.#attachment = null;
  }
}
