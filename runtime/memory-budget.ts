// What the agents under acgd's cgroup root may use together: the host
// domain's budget. The policy's `host` block says what it expects; the
// machine and the cgroup tree say what there is. The smallest wins, and a
// disagreement is said once, at start.

import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { PolicyIR } from "../compiler/ir.js";
import { formatBytes } from "../compiler/units.js";

export interface HostBudget {
  /** Bytes the host domain's ladder measures its watermarks against. */
  bytes: number;
  /** Which limit that is, for status and the log. */
  source: string;
  /** Disagreements between the policy and the machine, one line each. */
  warnings: string[];
}

/** MemTotal of /proc/meminfo (or the given text), in bytes; null if unreadable. */
export function memTotalBytes(meminfo?: string): number | null {
  let text = meminfo;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/meminfo", "utf8");
    } catch {
      return null;
    }
  }
  const m = /^MemTotal:\s+(\d+)\s*kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

/**
 * The nearest `memory.max` that is not "max" on the way from `root` up to
 * (not including) the cgroup2 mount `mount`, root itself included.
 */
export function nearestMemoryMax(
  root: string,
  mount: string,
  read: (file: string) => string | null = readOrNull,
): { bytes: number; path: string } | null {
  let p = resolve(root);
  const top = resolve(mount);
  while (p.startsWith(top) && p !== top) {
    const v = read(`${p}/memory.max`)?.trim();
    if (v !== undefined && v !== "max" && /^\d+$/.test(v)) return { bytes: Number(v), path: p };
    p = dirname(p);
  }
  return null;
}

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

export function hostBudget(
  policy: PolicyIR,
  limits: { memTotal: number | null; ancestorMax: { bytes: number; path: string } | null },
): HostBudget {
  const reserve = policy.host.reserveBytes;
  const candidates: { bytes: number; source: string }[] = [
    {
      bytes: policy.host.memoryBytes - reserve,
      source: `the policy's host memory ${formatBytes(policy.host.memoryBytes)} less its reserve ${formatBytes(reserve)}`,
    },
  ];
  const warnings: string[] = [];
  if (limits.memTotal !== null) {
    // A reserve sized for a larger host than this one cannot be kept back here: the machine's memory is the budget then.
    const keep = reserve < limits.memTotal ? reserve : 0;
    candidates.push({
      bytes: limits.memTotal - keep,
      source: keep
        ? `this machine's ${formatBytes(limits.memTotal)} less the reserve ${formatBytes(reserve)}`
        : `this machine's ${formatBytes(limits.memTotal)} (the policy's reserve ${formatBytes(reserve)} is more than it has)`,
    });
    if (policy.host.memoryBytes > limits.memTotal) {
      warnings.push(
        `policy '${policy.name}' says the host has ${formatBytes(policy.host.memoryBytes)}, but ` +
          `this machine has ${formatBytes(limits.memTotal)}: budgets and ladders use the machine's`,
      );
    }
  }
  if (limits.ancestorMax !== null) {
    candidates.push({
      bytes: limits.ancestorMax.bytes,
      source: `memory.max ${formatBytes(limits.ancestorMax.bytes)} of ${limits.ancestorMax.path}`,
    });
    if (limits.ancestorMax.bytes < policy.host.memoryBytes - reserve) {
      warnings.push(
        `acgd's cgroup root is limited to ${formatBytes(limits.ancestorMax.bytes)} (memory.max of ` +
          `${limits.ancestorMax.path}), less than the ` +
          `${formatBytes(policy.host.memoryBytes - reserve)} policy '${policy.name}' hands out: ` +
          "budgets and ladders use the limit",
      );
    }
  }
  const best = candidates.reduce((a, b) => (b.bytes < a.bytes ? b : a));
  return { bytes: Math.max(0, best.bytes), source: best.source, warnings };
}
