// What acgd knows about its running tool calls that the cgroup tree does not
// say: each call's rule, class, granted intents, limits and start time. It is
// written (temp file + rename, so a reader never sees half a file) after
// every change, so that an acgd started after a crash can take the calls
// over. A missing, unreadable or corrupt file is reported, never fatal: the
// calls found in the tree are then recovered from their processes.

import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { GrantedIntent } from "./intents.js";
import type { CallLimits, ToolCall } from "./tool-calls.js";

const STATE_VERSION = 1;

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
}

/** The state file of the cgroup tree at `cgroupRoot`: one per tree, so several acgd (tests) never share one. */
export function defaultStateFile(cgroupRoot: string): string {
  return join("/run/agentcgroup", `calls${cgroupRoot.replace(/[^A-Za-z0-9_.]+/g, "-")}.json`);
}

export function recordOf(call: ToolCall): CallRecord {
  return {
    id: call.id, tenant: call.agent.tenant, agent: call.agent.agent, rule: call.rule.name, class: call.cls.name,
    intent: call.intent, limits: call.limits, startedAt: call.startedAt, events: call.events,
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
  const i = r["intent"] as Record<string, unknown> | null;
  if (typeof i !== "object" || i === null || !isNumOrNull(i["memoryBytes"]) || !isNumOrNull(i["classId"]) || !isNumOrNull(i["cpuWeight"]) || !isStrings(i["log"])) {
    return `"intent" is not a granted intent`;
  }
  const l = r["limits"] as Record<string, unknown> | null;
  if (typeof l !== "object" || l === null || !isNumOrNull(l["baselineBytes"]) || !isNumOrNull(l["limitBytes"]) || !isNum(l["lowBytes"]) || !isNum(l["minBytes"]) || !isNum(l["cpuWeight"])) {
    return `"limits" are not call limits`;
  }
  return null;
}

export interface LoadedState {
  records: Map<string, CallRecord>;
  /** What was wrong with the file (each a full sentence naming it), empty when it was fine or absent. */
  problems: string[];
}

export class CallStateStore {
  readonly file: string;
  readonly #cgroupRoot: string;
  readonly #log: (msg: string) => void;
  /** The last write's failure; failures are logged once until a write succeeds again. */
  #failing: string | null = null;

  constructor(file: string, cgroupRoot: string, log: (msg: string) => void) {
    this.file = file;
    this.#cgroupRoot = cgroupRoot;
    this.#log = log;
  }

  /**
   * Replaces the file with the given calls, atomically; with no calls it is
   * removed (no file, nothing to take over). A failure is logged, not
   * thrown: the calls run on, only a restart could not take them over.
   */
  save(calls: Iterable<ToolCall>): void {
    const records = [...calls].map(recordOf);
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      if (records.length === 0) rmSync(this.file, { force: true });
      else {
        mkdirSync(dirname(this.file), { recursive: true });
        writeFileSync(tmp, JSON.stringify({ version: STATE_VERSION, cgroupRoot: this.#cgroupRoot, calls: records }), { mode: 0o600 });
        renameSync(tmp, this.file);
      }
    } catch (e) {
      const why = `cannot write the state file ${this.file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): a restarted acgd could not take over the running calls`;
      if (this.#failing === null) this.#log(why);
      this.#failing = why;
      return;
    }
    if (this.#failing) this.#log(`state file ${this.file} written again`);
    this.#failing = null;
  }

  load(): LoadedState {
    const records = new Map<string, CallRecord>();
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return { records, problems: code === "ENOENT" ? [] : [`state file ${this.file} is not readable (${code ?? (e as Error).message})`] };
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      return { records, problems: [`state file ${this.file} is not valid JSON (${(e as Error).message}): it is ignored`] };
    }
    const o = v as { version?: unknown; cgroupRoot?: unknown; calls?: unknown };
    if (typeof v !== "object" || v === null || o.version !== STATE_VERSION || !Array.isArray(o.calls)) {
      return { records, problems: [`state file ${this.file} is not a version ${STATE_VERSION} call list: it is ignored`] };
    }
    if (o.cgroupRoot !== this.#cgroupRoot) {
      return { records, problems: [`state file ${this.file} describes the cgroup tree ${JSON.stringify(o.cgroupRoot)}, not ${this.#cgroupRoot}: it is ignored`] };
    }
    const problems: string[] = [];
    o.calls.forEach((c, i) => {
      const bad = recordProblem(c);
      if (bad) problems.push(`state file ${this.file}: call ${i + 1}: ${bad}: that entry is ignored`);
      else records.set((c as CallRecord).id, c as CallRecord);
    });
    return { records, problems };
  }
}
