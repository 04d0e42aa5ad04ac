// The formats of cgroup v2 interface files, parsed in one place for acgd, the
// benchmarks and the tests (Documentation/admin-guide/cgroup-v2.rst, "Format").

import { readFileSync } from "node:fs";

/** An interface file's text, or null where the cgroup does not have it (or it is gone). */
export function readCgroupFile(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

/**
 * A flat-keyed file, "key value" per line: memory.events, memory.stat,
 * cpu.stat, cgroup.events. Lines whose value is not a whole number are left out.
 */
export function parseKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/**
 * A single-value file (memory.current, memory.peak, memory.max, ...): "max"
 * is Infinity; null for an unreadable file (null text) or a value that is not
 * a number.
 */
export function parseSingleValue(text: string | null): number | null {
  if (text === null) return null;
  const t = text.trim();
  if (t === "max") return Number.POSITIVE_INFINITY;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

/** A list of controllers (cgroup.controllers, cgroup.subtree_control); empty for an unreadable file (null text). */
export function parseControllers(text: string | null): string[] {
  return (text ?? "").trim().split(/\s+/).filter(Boolean);
}

/** The `total=` stall time (µs) of a PSI line ("some" or "full") in a pressure file, or null. */
export function psiTotalUs(text: string, line: "some" | "full"): number | null {
  const m = new RegExp(`^${line} .*\\btotal=(\\d+)`, "m").exec(text);
  return m ? Number(m[1]) : null;
}
