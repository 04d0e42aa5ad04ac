// What the runtime did, as events: one small emitter that acgd, the
// enforcers and the tool-call lifecycle call, and that the log, the metrics
// and the API's `events` stream listen to. An event is a plain JSON object
// (docs/observability.md#events has the list and the fields); its kind says what
// happened, and EVENT_KINDS says, for each kind, its log level and meaning.
//
// Adding a kind: add it to EVENT_KINDS with its level and one line of doc,
// and document its `data` fields in docs/observability.md. Emitting a kind that is
// not in the table is a type error, so the documented list stays complete.

/** Log level of an event; `debug` kinds are not logged at acgd's default level. */
export type EventLevel = "debug" | "info" | "warn" | "error";

export interface EventKindInfo {
  level: EventLevel;
  /** What the event means (docs/observability.md#events lists the same). */
  doc: string;
  /**
   * Kinds that can fire many times a second under load (pressure triggers):
   * the log rate-limits them per call/scope; the stream and the metrics see every one.
   */
  noisy?: boolean;
}

export const EVENT_KINDS = {
  call_started: { level: "info", doc: "a tool call got its cgroup: rule, class, limits and intent decisions" },
  call_ended: { level: "info", doc: "a tool call ended: how (exit, OOM kill, runtime kill), peak memory, CPU and throttled time" },
  burst: { level: "info", doc: "a call went above its baseline within its burst allowance: memory.high raised for the credit left" },
  throttled: { level: "info", doc: "a call is over its baseline without burst credit (or above baseline+burst): memory.high ramps down" },
  calm: { level: "debug", doc: "a bursting or throttled call is back at or below its baseline" },
  frozen: { level: "warn", doc: "a ladder froze a call's growth (memory.high at its usage)" },
  thawed: {
    level: "info",
    doc: "a ladder released a call it had capped (withdrawn or frozen), or lifted its keeper's ceiling (a freeze stood still)",
  },
  burst_withdrawn: { level: "warn", doc: "a ladder withdrew a call's burst headroom (memory.high at its usage or baseline)" },
  killed: { level: "warn", doc: "the runtime killed a call (cgroup.kill): over_high `kill after`, or a pressure action" },
  oom: { level: "warn", doc: "the kernel's OOM killer killed a process of a call: which limit was hit, the peak, the advice given" },
  pressure: {
    level: "debug",
    doc: "a pressure rule became active (state on) or cleared (state off) in a scope; a ladder engaged a step (on) or released (off)",
    noisy: true,
  },
  pressure_action: { level: "debug", doc: "a pressure rule protected or throttled one call", noisy: true },
  policy_swapped: {
    level: "info",
    doc: "acgd replaced its running policy (apply_policy): data or object swap, and the time without a scheduler",
  },
  scheduler_ejected: { level: "error", doc: "sched_ext ejected the policy's scheduler; CPU falls back to cpu.weight" },
  daemon: { level: "info", doc: "acgd itself: started, stopped, took over calls, set-up notes" },
  error: {
    level: "error",
    doc: "a decision failed (a cgroup file could not be written, a watch failed); enforcement of that call may be incomplete",
  },
} as const satisfies Record<string, EventKindInfo>;

export type EventKind = keyof typeof EVENT_KINDS;

/** One event as stored, logged and streamed. Version of this shape: {@link EVENT_SCHEMA_VERSION}. */
export interface AcgEvent {
  /** Increasing number within one acgd process: a client resumes with `since`. */
  seq: number;
  /** ISO 8601 UTC time the event was emitted. */
  time: string;
  kind: EventKind;
  level: EventLevel;
  /** One line for people. */
  message: string;
  /** The call it concerns, if any. */
  call?: string;
  /** "tenant/agent" it concerns, if any. */
  agent?: string;
  rule?: string;
  class?: string;
  /** Kind-specific fields (docs/observability.md#events). */
  data?: Record<string, unknown>;
}

export const EVENT_SCHEMA_VERSION = 1;

export type EventInput = Omit<AcgEvent, "seq" | "time" | "kind" | "level"> & { level?: EventLevel };

/** What the emitter needs to name a call in an event (structurally a ToolCall). */
export interface CallRef {
  id: string;
  agent: { key: string };
  rule: { name: string };
  cls: { name: string };
}

/** The call-identifying fields of an event for `call`. */
export function aboutCall(call: CallRef): Pick<AcgEvent, "call" | "agent" | "rule" | "class"> {
  return { call: call.id, agent: call.agent.key, rule: call.rule.name, class: call.cls.name };
}

export type EventListener = (e: AcgEvent) => void;

export class EventBus {
  readonly #listeners = new Set<EventListener>();
  readonly #recent: AcgEvent[] = [];
  readonly #keep: number;
  #seq = 0;

  /** `keep`: how many recent events are kept for clients that connect later. */
  constructor(keep = 1000) {
    this.#keep = keep;
  }

  emit(kind: EventKind, input: EventInput): AcgEvent {
    const { level, ...rest } = input;
    const e: AcgEvent = { seq: ++this.#seq, time: new Date().toISOString(), kind, level: level ?? EVENT_KINDS[kind].level, ...rest };
    this.#recent.push(e);
    if (this.#recent.length > this.#keep) this.#recent.splice(0, this.#recent.length - this.#keep);
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        // A broken listener (a closed socket) must not stop enforcement or the other listeners.
      }
    }
    return e;
  }

  /** Calls `fn` for every later event; returns the function that stops it. */
  subscribe(fn: EventListener): () => void {
    this.#listeners.add(fn);
    return () => void this.#listeners.delete(fn);
  }

  /** Kept events with seq above `since` (all kept ones by default), oldest first. */
  recent(since = 0): AcgEvent[] {
    return this.#recent.filter((e) => e.seq > since);
  }
}

/**
 * The process's event bus: the runtime's modules emit here without being
 * handed a bus (a standalone `acg run` has no listeners and only keeps the
 * last events in memory).
 */
export const events = new EventBus();

/** Shorthand for `events.emit`. */
export function emitEvent(kind: EventKind, input: EventInput): AcgEvent {
  return events.emit(kind, input);
}
