// acgd's log: pino (structured, fast, well kept) writing one JSON object per
// line — `time` (ISO 8601 UTC), `level`, `event` (the event kind, or
// "daemon" for acgd's own notes), `msg`, and the event's call/agent/rule/
// class/data fields — or, in the human format, pino-pretty's one line per
// record. Every event of runtime/events.ts is logged at its kind's level;
// kinds marked noisy (pressure triggers) are also rate-limited per call and
// scope, so a pressure storm costs a line per scope per interval, with the
// number of lines left out.
// pino and pino-pretty are loaded when the log is created, and not at all for
// a silent log (`acgd --quiet`): together they are about 90 ms of acgd's
// start-up on a host, ten to twenty times that under emulation.
// Events' lines are formatted and written after the turn of the event loop
// that produced them, each with the time its event happened: requests that
// arrive together are answered before their lines are written. A human line
// costs more than the request it reports (pino-pretty: about 0.4 ms a line on
// a host, where starting a call costs about 0.2 ms). acgd's own notes (rare:
// start, stop, errors) are written at once, after the lines queued before
// them, so that the log keeps the order things happened in.

import { Writable } from "node:stream";
import { EVENT_KINDS, type AcgEvent, type EventBus, type EventLevel } from "./events.js";

export const LOG_FORMATS = ["json", "human"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogOptions {
  format: LogFormat;
  level: LogLevel;
  /** Where lines go; default stderr. */
  out?: (line: string) => void;
  /** Noisy kinds: at most one line per call/scope per this many ms; default 10 s. */
  noisyIntervalMs?: number;
}

export interface DaemonLog {
  /** acgd's own notes (not events): logged with event "daemon". */
  note(msg: string, level?: EventLevel): void;
  /** Logs every event of `bus` from now on; returns the function that stops it. */
  follow(bus: EventBus): () => void;
}

/** A silent log writes nothing, so it needs no logger. */
const SILENT: DaemonLog = { note: () => {}, follow: () => () => {} };

/** The log; pino-pretty is loaded only for the human format. */
export async function createLog(opts: LogOptions): Promise<DaemonLog> {
  if (opts.level === "silent") return SILENT;
  const { pino } = await import("pino");
  const write = opts.out ?? ((s: string) => void process.stderr.write(s));
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      write(chunk.toString());
      done();
    },
  });
  const stream =
    opts.format === "json"
      ? sink
      : (await import("pino-pretty")).default({
          destination: sink,
          sync: true,
          colorize: false,
          translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
          ignore: "pid,hostname,event,seq",
          messageFormat: "{event}: {msg}",
          singleLine: true,
        });
  /** The time of the line being written: its event's, not the moment it is written. */
  let stamp = "";
  const queue: { time: string; write: () => void }[] = [];
  let flushing: NodeJS.Immediate | null = null;
  const flush = () => {
    if (flushing) clearImmediate(flushing);
    flushing = null;
    for (const line of queue.splice(0)) {
      stamp = line.time;
      line.write();
    }
  };
  const later = (time: string, write: () => void) => {
    queue.push({ time, write });
    flushing ??= setImmediate(flush);
  };
  // What is still queued when acgd exits (an uncaught exception included) is written then.
  process.once("exit", flush);
  const logger = pino(
    {
      level: opts.level,
      base: null,
      timestamp: () => `,"time":"${stamp}"`,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  const interval = opts.noisyIntervalMs ?? 10_000;
  /** Noisy kinds: when each call/scope key last logged, and how many were left out since. */
  const lastNoisy = new Map<string, { at: number; skipped: number }>();
  const logEvent = (e: AcgEvent) => {
    if (!logger.isLevelEnabled(e.level)) return;
    later(e.time, () => writeEvent(e));
  };
  const writeEvent = (e: AcgEvent) => {
    const fields: Record<string, unknown> = { event: e.kind, seq: e.seq };
    for (const k of ["call", "agent", "rule", "class", "data"] as const) if (e[k] !== undefined) fields[k] = e[k];
    if ((EVENT_KINDS[e.kind] as { noisy?: boolean }).noisy) {
      const key = `${e.kind}:${e.call ?? ""}:${JSON.stringify((e.data ?? {})["scope"] ?? "")}`;
      const now = Date.now();
      const last = lastNoisy.get(key);
      if (last && now - last.at < interval) {
        last.skipped++;
        return;
      }
      if (last?.skipped) fields["suppressed"] = last.skipped;
      lastNoisy.set(key, { at: now, skipped: 0 });
    }
    logger[e.level](fields, e.message);
  };
  return {
    note: (msg, level = "info") => {
      flush();
      stamp = new Date().toISOString();
      logger[level]({ event: "daemon" }, msg);
    },
    follow: (bus) => bus.subscribe(logEvent),
  };
}
