// acgd's metrics, in the Prometheus text exposition format, from prom-client
// (the Prometheus client for Node: counters, gauges, collect-time callbacks,
// the process's own health metrics). Counters follow the events of
// runtime/events.ts; gauges (running calls, burst credit, the scheduler's
// per-class counters read from its acg_stats map) are read when scraped.
// `acgd --metrics [HOST:]PORT` serves them at /metrics (docs/observability.md#metrics).

import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { ClassStats } from "./policy-objects.js";
import type { AcgEvent, EventBus } from "./events.js";
import type { ToolCall, ToolCalls } from "./tool-calls.js";

/** What the metrics read at scrape time. */
export interface MetricsSource {
  calls: ToolCalls;
  /** Burst credit left per call with a burst allowance (runtime/enforce-cgroupfs.ts). */
  burstCredits(): { call: ToolCall; creditSeconds: number; state: string }[];
  /** The sched_ext scheduler's per-class counters, or null when no scheduler runs. */
  classStats(): ClassStats[] | null;
}

const RULE_CLASS = ["rule", "class"] as const;

export class RuntimeMetrics {
  readonly registry = new Registry();
  readonly #stop: () => void;
  /** Calls in the throttled state: call id → when it began (ms), for throttled seconds. */
  readonly #throttledSince = new Map<string, { at: number; rule: string; class: string }>();

  constructor(source: MetricsSource, bus: EventBus) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "acgd_" });
    const started = new Counter({
      name: "acg_calls_started_total",
      help: "Tool calls started, by rule and class.",
      labelNames: RULE_CLASS,
      registers,
    });
    const ended = new Counter({
      name: "acg_calls_ended_total",
      help: "Tool calls ended, by rule, class and outcome (exited, oom_killed, killed).",
      labelNames: [...RULE_CLASS, "outcome"],
      registers,
    });
    const throttles = new Counter({
      name: "acg_throttles_total",
      help: "Times a call entered the throttled state (over its baseline without burst credit).",
      labelNames: RULE_CLASS,
      registers,
    });
    const throttledSeconds = new Counter({
      name: "acg_throttled_seconds_total",
      help: "Time calls spent throttled (memory.high ramped down to the baseline), counted when they leave that state.",
      labelNames: RULE_CLASS,
      registers,
    });
    const bursts = new Counter({
      name: "acg_bursts_total",
      help: "Times a call went above its baseline within its burst allowance.",
      labelNames: RULE_CLASS,
      registers,
    });
    const kills = new Counter({
      name: "acg_kills_total",
      help: "Calls killed by the runtime (cgroup.kill), by reason.",
      labelNames: [...RULE_CLASS, "reason"],
      registers,
    });
    const ooms = new Counter({
      name: "acg_oom_kills_total",
      help: "Calls the kernel's OOM killer struck, by whose limit was hit (call or agent).",
      labelNames: [...RULE_CLASS, "limit"],
      registers,
    });
    const frozen = new Counter({
      name: "acg_freezes_total",
      help: "Calls frozen by a pressure action.",
      labelNames: RULE_CLASS,
      registers,
    });
    const pressureChanges = new Counter({
      name: "acg_pressure_activations_total",
      help: "Times a pressure rule became active in a scope.",
      labelNames: ["pressure_rule", "scope"],
      registers,
    });
    const pressureActive = new Gauge({
      name: "acg_pressure_active",
      help: "1 while a pressure rule is active in a scope.",
      labelNames: ["pressure_rule", "scope"],
      registers,
    });
    const swaps = new Counter({
      name: "acg_policy_swaps_total",
      help: "Policies applied to the running acgd, by scheduler swap kind (data, classifier, objects, none).",
      labelNames: ["swap"],
      registers,
    });
    const eventsTotal = new Counter({ name: "acg_events_total", help: "Events emitted, by kind.", labelNames: ["kind"], registers });
    const errors = new Counter({ name: "acgd_errors_total", help: "Enforcement decisions that failed (events of kind error).", registers });

    new Gauge({
      name: "acg_calls_running",
      help: "Tool calls running now, by rule and class.",
      labelNames: RULE_CLASS,
      registers,
      collect() {
        this.reset();
        for (const c of source.calls.calls.values()) this.inc({ rule: c.rule.name, class: c.cls.name });
      },
    });
    new Gauge({
      name: "acg_agents",
      help: "Agents known to acgd (with cgroups in the tree).",
      registers,
      collect() {
        this.set(source.calls.agents.size);
      },
    });
    new Gauge({
      name: "acg_policy_info",
      help: "The running policy (value 1).",
      labelNames: ["policy", "source_hash"],
      registers,
      collect() {
        this.reset();
        this.set({ policy: source.calls.policy.name, source_hash: source.calls.policy.sourceHash.slice(0, 12) }, 1);
      },
    });
    new Gauge({
      name: "acg_burst_credit_seconds",
      help: "Burst credit left per running call with a burst allowance, as of its last memory decision.",
      labelNames: ["call", ...RULE_CLASS, "state"],
      registers,
      collect() {
        this.reset();
        for (const b of source.burstCredits())
          this.set({ call: b.call.id, rule: b.call.rule.name, class: b.call.cls.name, state: b.state }, b.creditSeconds);
      },
    });
    new Gauge({
      name: "acg_scheduler_attached",
      help: "1 while the policy's sched_ext scheduler runs (0: none attached, or ejected).",
      registers,
      collect() {
        this.set(source.classStats() === null ? 0 : 1);
      },
    });
    // The scheduler's counters live in its acg_stats map: each scrape reads them and sets the counters to the kernel's values.
    const schedCounter = (name: string, help: string, read: (s: ClassStats) => number) =>
      new Counter({
        name,
        help,
        labelNames: ["class"],
        registers,
        collect() {
          this.reset();
          const stats = source.classStats();
          const classes = source.calls.policy.classes;
          for (const s of stats ?? []) this.inc({ class: classes[s.classId]?.name ?? String(s.classId) }, read(s));
        },
      });
    schedCounter("acg_sched_enqueued_total", "sched_ext scheduler: tasks enqueued, by class (acg_stats).", (s) => Number(s.enqueued));
    schedCounter("acg_sched_dispatched_total", "sched_ext scheduler: tasks dispatched, by class (acg_stats).", (s) => Number(s.dispatched));
    schedCounter(
      "acg_sched_runtime_seconds_total",
      "sched_ext scheduler: CPU time run, by class (acg_stats).",
      (s) => Number(s.runtimeNs) / 1e9,
    );
    schedCounter(
      "acg_sched_demoted_total",
      "sched_ext scheduler: dispatches of throttled calls demoted to the lowest level, by class (acg_stats).",
      (s) => Number(s.demoted),
    );

    const rc = (e: AcgEvent) => ({ rule: e.rule ?? "", class: e.class ?? "" });
    const endThrottle = (e: AcgEvent) => {
      const t = e.call === undefined ? undefined : this.#throttledSince.get(e.call);
      if (!t || e.call === undefined) return;
      this.#throttledSince.delete(e.call);
      throttledSeconds.inc({ rule: t.rule, class: t.class }, (Date.parse(e.time) - t.at) / 1000);
    };
    this.#stop = bus.subscribe((e) => {
      eventsTotal.inc({ kind: e.kind });
      const data = e.data ?? {};
      switch (e.kind) {
        case "call_started":
          started.inc(rc(e));
          break;
        case "call_ended":
          endThrottle(e);
          ended.inc({ ...rc(e), outcome: String(data["outcome"]) });
          break;
        case "throttled":
          throttles.inc(rc(e));
          if (e.call !== undefined && !this.#throttledSince.has(e.call))
            this.#throttledSince.set(e.call, { at: Date.parse(e.time), ...rc(e) });
          break;
        case "calm":
        case "burst":
          endThrottle(e);
          if (e.kind === "burst") bursts.inc(rc(e));
          break;
        case "killed":
          endThrottle(e);
          kills.inc({ ...rc(e), reason: String(data["reason"] ?? "unknown") });
          break;
        case "oom":
          ooms.inc({ ...rc(e), limit: String(data["limit"]) });
          break;
        case "frozen":
          frozen.inc(rc(e));
          break;
        case "pressure": {
          const labels = { pressure_rule: String(data["rule"]), scope: String(data["scope"]) };
          if (data["state"] === "on") pressureChanges.inc(labels);
          pressureActive.set(labels, data["state"] === "on" ? 1 : 0);
          break;
        }
        case "policy_swapped":
          swaps.inc({ swap: String(data["swap"] ?? "none") });
          break;
        case "error":
          errors.inc();
          break;
      }
    });
  }

  /** The metrics in the Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Serves GET /metrics on host:port (see {@link parseListen}). */
  async serve({ host, port }: { host: string; port: number }): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("acgd serves only GET /metrics\n");
        return;
      }
      this.text().then(
        (body) => res.writeHead(200, { "content-type": this.registry.contentType }).end(body),
        (e: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${e.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return server;
  }

  close(): void {
    this.#stop();
  }
}

/** Parses a --metrics value ("PORT", "HOST:PORT" or "[IPv6]:PORT"; host default 127.0.0.1); throws an Error saying what is wrong. */
export function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new Error(`--metrics ${v}: write PORT or HOST:PORT (e.g. 127.0.0.1:9464)`);
  return { host: (m[1] ?? "127.0.0.1").replace(/^\[|\]$/g, ""), port };
}
