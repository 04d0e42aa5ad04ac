// Polling for a condition that a test cannot be told about (a process's
// output, a cgroup appearing or going): kept free of other imports so that
// the guest tests can use it without loading the compiler.
import { setTimeout as sleep } from "node:timers/promises";

/** Polls `cond` every 20 ms for up to `ms`; returns its last value. */
export async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; !cond() && Date.now() < end;) await sleep(20);
  return cond();
}
