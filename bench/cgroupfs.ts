// Small cgroup v2 file helpers for the replay (plain files, no runtime needed).

import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseKeyed, parseSingleValue, psiTotalUs } from "../runtime/cgroup-files.js";

export const CGROUP_ROOT = "/sys/fs/cgroup";

export function readCg(dir: string, file: string): string | null {
  try {
    return readFileSync(join(dir, file), "utf8");
  } catch {
    return null;
  }
}

/** A single number file ("max" = Infinity); null if unreadable. */
export function readCgNumber(dir: string, file: string): number | null {
  return parseSingleValue(readCg(dir, file));
}

/** "key value" lines (memory.events, memory.stat, cpu.stat); empty if unreadable. */
export function readCgKeyed(dir: string, file: string): Record<string, number> {
  return parseKeyed(readCg(dir, file) ?? "");
}

/** The PSI stall totals of a pressure file in microseconds (NaN where absent). */
export function readPressure(dir: string, file = "memory.pressure"): { someUs: number; fullUs: number } {
  const t = readCg(dir, file) ?? "";
  return { someUs: psiTotalUs(t, "some") ?? NaN, fullUs: psiTotalUs(t, "full") ?? NaN };
}

export function writeCg(dir: string, file: string, value: string | number): void {
  writeFileSync(join(dir, file), typeof value === "number" ? String(Math.round(value)) : value);
}

export function mkCg(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir);
}

export function enableControllers(dir: string, controllers: string[]): void {
  const avail = (readCg(dir, "cgroup.controllers") ?? "").split(/\s+/);
  const want = controllers.filter((c) => avail.includes(c));
  if (want.length) writeCg(dir, "cgroup.subtree_control", want.map((c) => `+${c}`).join(" "));
}

/** Kills every process left in a cgroup subtree and removes it, children first. */
export function removeCgTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgTree(join(dir, e.name));
  try {
    writeCg(dir, "cgroup.kill", "1");
  } catch {
    /* older kernels: processes exit by themselves */
  }
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

export function memoryControllerAvailable(root = CGROUP_ROOT): boolean {
  return (readCg(root, "cgroup.controllers") ?? "").split(/\s+/).includes("memory");
}
