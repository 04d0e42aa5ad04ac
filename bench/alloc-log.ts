// Reading acg-alloc's JSON-lines log (see bench/alloc/acg-alloc.c).

export interface AllocStep {
  t_ms: number;
  op: "grow" | "shrink";
  bytes: number;
  lat_us: number;
  resident: number;
}

export interface AllocSummary {
  summary: true;
  label: string;
  pid: number;
  completed: boolean;
  signal: number;
  points: number;
  points_done: number;
  steps: number;
  chunk: number;
  peak_bytes: number;
  duration_ms: number;
  nominal_ms: number;
  max_lag_ms: number;
  lat_p50_us: number;
  lat_p95_us: number;
  lat_p99_us: number;
  lat_max_us: number;
}

export interface AllocLog {
  grows: AllocStep[];
  shrinks: AllocStep[];
  /** null when the process was killed (SIGKILL, OOM) before it could write one. */
  summary: AllocSummary | null;
  /** Lines that did not parse (a torn last line after a kill). */
  badLines: number;
}

export function parseAllocLog(text: string): AllocLog {
  const log: AllocLog = { grows: [], shrinks: [], summary: null, badLines: 0 };
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      log.badLines++;
      continue;
    }
    const r = o as Partial<AllocStep & AllocSummary>;
    if (r.summary === true) log.summary = r as AllocSummary;
    else if (r.op === "grow") log.grows.push(r as AllocStep);
    else if (r.op === "shrink") log.shrinks.push(r as AllocStep);
    else log.badLines++;
  }
  return log;
}
