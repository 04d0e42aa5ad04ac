// Units of the language: sizes in binary multiples, durations, percentages, plain counts.

import type { Quantity } from "./ast.js";

export type UnitKind = "size" | "duration" | "percent" | "count";

const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
const DURATION_UNITS: Record<string, number> = { us: 1e3, ms: 1e6, s: 1e9 };
/** Units people write by habit, and what to write instead. */
const UNIT_HINTS: Record<string, string> = {
  K: "KiB",
  KB: "KiB",
  k: "KiB",
  kB: "KiB",
  Ki: "KiB",
  kib: "KiB",
  M: "MiB",
  MB: "MiB",
  Mi: "MiB",
  mb: "MiB",
  mib: "MiB",
  G: "GiB",
  GB: "GiB",
  Gi: "GiB",
  gb: "GiB",
  gib: "GiB",
  T: "TiB",
  TB: "TiB",
  Ti: "TiB",
  b: "B",
  ns: "us",
  µs: "us",
  usec: "us",
  msec: "ms",
  sec: "s",
  secs: "s",
  seconds: "s",
  S: "s",
  Ms: "ms",
  MS: "ms",
  m: "s (60s for a minute)",
  min: "s (60s for a minute)",
  h: "s (3600s for an hour)",
  pct: "%",
  percent: "%",
};

export type UnitResult =
  | { ok: true; kind: UnitKind; value: number }
  /** The checker reports these as E0204 (with unitSuggestion) and E0210. */
  | { ok: false; problem: "unknown unit" | "too large" };

/** A word that is a unit, or one people write for a unit (`512 MiB` then needs the space removed). */
export function isUnitWord(word: string): boolean {
  return word in SIZE_UNITS || word in DURATION_UNITS || word in UNIT_HINTS;
}

export function unitKindOf(q: Quantity): UnitKind | undefined {
  if (q.unit === "") return "count";
  if (q.unit === "%") return "percent";
  if (q.unit in SIZE_UNITS) return "size";
  if (q.unit in DURATION_UNITS) return "duration";
  return undefined;
}

/** Converts a quantity to bytes, nanoseconds, percent or a plain number. */
export function evaluate(q: Quantity): UnitResult {
  const n = Number(q.number);
  const kind = unitKindOf(q);
  if (kind === undefined) return { ok: false, problem: "unknown unit" };
  const scale = kind === "size" ? SIZE_UNITS[q.unit]! : kind === "duration" ? DURATION_UNITS[q.unit]! : 1;
  const value = n * scale;
  if (!Number.isSafeInteger(Math.round(value))) {
    return { ok: false, problem: "too large" };
  }
  // Sizes and durations are whole bytes and nanoseconds; a count or a share keeps
  // its fraction, so that a setting needing a whole number can refuse it (E0209).
  return { ok: true, kind, value: kind === "size" || kind === "duration" ? Math.round(value) : value };
}

/** The quantity as it was probably meant, for a unit people write by habit (`512MB` → `512MiB`). */
export function unitSuggestion(q: Quantity): string | undefined {
  const hint = UNIT_HINTS[q.unit];
  return hint === undefined ? undefined : q.number + hint;
}

const SIZE_ORDER: [string, number][] = [
  ["TiB", 1024 ** 4],
  ["GiB", 1024 ** 3],
  ["MiB", 1024 ** 2],
  ["KiB", 1024],
];

/** Renders bytes the way a person would write them in a policy. */
export function formatBytes(bytes: number): string {
  for (const [u, s] of SIZE_ORDER) {
    if (bytes >= s && bytes % s === 0) return `${bytes / s}${u}`;
  }
  for (const [u, s] of SIZE_ORDER) {
    if (bytes >= s) return `${+(bytes / s).toFixed(2)}${u}`;
  }
  return `${bytes}B`;
}

export function formatDuration(ns: number): string {
  if (ns >= 1e9 && ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns >= 1e6 && ns % 1e6 === 0) return `${ns / 1e6}ms`;
  if (ns >= 1e6) return `${+(ns / 1e6).toFixed(3)}ms`;
  return `${+(ns / 1e3).toFixed(3)}us`;
}

export function describeKind(kind: UnitKind): string {
  switch (kind) {
    case "size":
      return "a size (e.g. 512MiB)";
    case "duration":
      return "a duration (e.g. 20ms)";
    case "percent":
      return "a percentage (e.g. 40%)";
    case "count":
      return "a plain number";
  }
}
