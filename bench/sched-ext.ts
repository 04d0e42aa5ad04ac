// Between benchmark setups: the kernel's default scheduler back.
//
// acgd leaves its sched_ext scheduler pinned when it stops (enforcement
// outlives the daemon), so a setup that ran acgd on a compiled policy would
// otherwise hand its scheduler to every setup after it.

import { existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { dropSchedulerPins, SCHED_EXT_STATE as STATE } from "../runtime/enforce-bpf.js";

/** Drops the pins a stopped acgd left and waits (up to 5 s) until no sched_ext scheduler is enabled. */
export async function restoreDefaultScheduler(): Promise<void> {
  dropSchedulerPins();
  if (!existsSync(STATE)) return;
  for (let i = 0; i < 250; i++) {
    if (readFileSync(STATE, "utf8").trim() !== "enabled") return;
    await sleep(20);
  }
  throw new Error("a sched_ext scheduler is still enabled 5 s after its pins were dropped");
}
