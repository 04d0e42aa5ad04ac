// What acgd knows about its running tool calls that the cgroup tree does not
// say: each call's rule, class, granted intents, limits, start time and the
// uid that started it. Every changed call is one line appended to a
// checksummed journal (runtime/state-journal.ts), compacted into snapshots,
// so that an acgd started after a crash can take the calls over. A missing,
// unreadable or damaged file is reported, never fatal: the previous
// generation is used, and calls without a usable record keep the limits their
// cgroups have.
//
// The changes of one turn of the event loop are written together, after it
// (setImmediate): requests that arrive together are answered without waiting
// for the file in between, and a call changed several times in the turn is
// written once, as it is then. An acgd killed in that moment loses the
// records of that turn's calls only; a restarted acgd takes such a call over
// as any call without a record: the rule its command line matches, the
// limits its cgroup has.

import { join } from "node:path";
import type { GrantedIntent } from "./intents.js";
import { StateJournal } from "./state-journal.js";
import type { CallLimits } from "./call-limits.js";
import type { ToolCall, ToolCalls } from "./tool-calls.js";

const STATE_VERSION = 2;

/** One running call, as persisted. */
export interface CallRecord {
  id: string;
  tenant: string;
  agent: string;
  rule: string;
  class: string;
  intent: GrantedIntent;
  limits: CallLimits;
  startedAt: number;
  events: string[];
  /** The uid of the peer that started the call (absent: started by root or in process). */
  ownerUid?: number;
}

/** The state file of the cgroup tree at `cgroupRoot`: one per tree, so several acgd (tests) never share one. */
export function defaultStateFile(cgroupRoot: string): string {
  return join("/run/agentcgroup", `calls${cgroupRoot.replace(/[^A-Za-z0-9_.]+/g, "-")}.json`);
}

export function recordOf(call: ToolCall): CallRecord {
  return {
    id: call.id,
    tenant: call.agent.tenant,
    agent: call.agent.agent,
    rule: call.rule.name,
    class: call.cls.name,
    intent: call.intent,
    limits: call.limits,
    startedAt: call.startedAt,
    events: call.events,
    ...(call.ownerUid !== undefined && { ownerUid: call.ownerUid }),
  };
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isNumOrNull = (v: unknown) => v === null || isNum(v);
const isStrings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === "string");

/** Why `v` is not a CallRecord, or null if it is one. */
function recordProblem(v: unknown): string | null {
  if (typeof v !== "object" || v === null) return "not an object";
  const r = v as Record<string, unknown>;
  for (const k of ["id", "tenant", "agent", "rule", "class"]) if (typeof r[k] !== "string") return `"${k}" is not a string`;
  if (!isNum(r["startedAt"])) return `"startedAt" is not a number`;
  if (!isStrings(r["events"])) return `"events" is not a list of strings`;
  if (r["ownerUid"] !== undefined && !Number.isSafeInteger(r["ownerUid"])) return `"ownerUid" is not a uid`;
  const i = r["intent"] as Record<string, unknown> | null;
  if (
    typeof i !== "object" ||
    i === null ||
    !isNumOrNull(i["memoryBytes"]) ||
    !isNumOrNull(i["classId"]) ||
    !isNumOrNull(i["cpuWeight"]) ||
    !isStrings(i["log"])
  ) {
    return `"intent" is not a granted intent`;
  }
  const l = r["limits"] as Record<string, unknown> | null;
  if (
    typeof l !== "object" ||
    l === null ||
    !isNumOrNull(l["baselineBytes"]) ||
    !isNumOrNull(l["limitBytes"]) ||
    !isNum(l["lowBytes"]) ||
    !isNum(l["minBytes"]) ||
    !isNum(l["cpuWeight"])
  ) {
    return `"limits" are not call limits`;
  }
  return null;
}

export interface LoadedState {
  records: Map<string, CallRecord>;
  /** What was wrong with the files (each a full sentence naming one), empty when they were fine or absent. */
  problems: string[];
}

export class CallStateStore {
  readonly file: string;
  readonly #journal: StateJournal<CallRecord>;
  readonly #log: (msg: string) => void;
  /** The last write's failure; failures are logged once until a write succeeds again. */
  #failing: string | null = null;
  /** Changes not written yet, in order: call id → the call as it is now, or null once it ended. */
  readonly #pending = new Map<string, ToolCall | null>();
  #flush: NodeJS.Immediate | null = null;

  constructor(file: string, cgroupRoot: string, log: (msg: string) => void) {
    this.file = file;
    this.#journal = new StateJournal<CallRecord>(file, { version: STATE_VERSION, scope: cgroupRoot, recordProblem });
    this.#log = log;
  }

  /** One call started or changed: a journal line after this turn. */
  put(call: ToolCall, all: Map<string, ToolCall>): void {
    this.#change(call.id, call, all);
  }

  /** One call ended: a journal line after this turn. */
  remove(id: string, all: Map<string, ToolCall>): void {
    this.#change(id, null, all);
  }

  /** A new snapshot of all running calls (after a take-over); it holds every change not written yet. */
  rewrite(all: Map<string, ToolCall>): void {
    this.#pending.clear();
    if (this.#flush) clearImmediate(this.#flush);
    this.#flush = null;
    this.#write(() => this.#journal.compact([...all.values()].map(recordOf)));
  }

  #change(id: string, call: ToolCall | null, all: Map<string, ToolCall>): void {
    // Deleted first, so that the entries stay in the order of each call's last change.
    this.#pending.delete(id);
    this.#pending.set(id, call);
    this.#flush ??= setImmediate(() => {
      this.#flush = null;
      const entries = [...this.#pending].map(([id, c]) => (c ? { put: recordOf(c) } : { remove: id }));
      this.#pending.clear();
      this.#write(() => this.#journal.append(entries, all.size, () => [...all.values()].map(recordOf)));
    });
  }

  /**
   * A failure is logged, not thrown: the calls run on, only a restart could
   * not take them over (it then reads their limits back from their cgroups).
   */
  #write(op: () => void): void {
    try {
      op();
    } catch (e) {
      const why =
        `cannot write the state file ${this.file} ` +
        `(${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): a restarted acgd could ` +
        "not take over the running calls";
      if (this.#failing === null) this.#log(why);
      this.#failing = why;
      return;
    }
    if (this.#failing) this.#log(`state file ${this.file} written again`);
    this.#failing = null;
  }

  load(): LoadedState {
    return this.#journal.load();
  }
}

/**
 * Takes over what an earlier acgd left in the tree (its agents, and its
 * calls that still have processes: they end when their last process exits),
 * then records every change of the running calls in `store`.
 */
export async function takeOverCalls(calls: ToolCalls, store: CallStateStore, log: (msg: string) => void): Promise<void> {
  const state = store.load();
  for (const p of state.problems) log(`${p}; calls found in the tree are taken over with the rule their command line matches`);
  try {
    const recovered = await calls.recover(state.records);
    for (const n of recovered.notes) log(n);
    for (const c of recovered.calls) {
      log(`took over ${c.id} of ${c.agent.key} (rule ${c.rule.name}, class ${c.cls.name}) from an earlier acgd`);
      // Its end is logged as a call_ended event.
      calls.endWhenEmpty(c.id, () => {});
    }
  } catch (e) {
    log(`cannot take over the existing cgroup tree (${(e as Error).message}): calls of an earlier acgd are not tracked`);
  }
  calls.persistTo(store);
}
