// The oomd setup's killer: the baseline users would deploy instead of
// AgentCgroup, run by the driver itself next to the plain cgroups of
// isolation-baselines.ts. It owns nothing but its polling loop and the
// agents it killed (which the run's results count as failed).

import { setTimeout as sleep } from "node:timers/promises";
import { readCg, readCgNumber, writeCg } from "./cgroupfs.js";

const MiB = 1024 * 1024;

/**
 * The baseline users would deploy instead of AgentCgroup: an oomd-like killer
 * (systemd-oomd, Meta's oomd, earlyoom) watching the budget's cgroup. Every
 * POLL_MS it reads the budget's memory.current and its memory.pressure
 * "some" avg10; when usage reaches USAGE_KILL of the budget or the pressure
 * reaches PRESSURE_KILL, it kills (cgroup.kill) the low-priority agent cgroup
 * using the most memory, then waits COOLDOWN_MS before acting again. It is
 * generous to the baseline: oomd's defaults poll once a second and want
 * pressure held for tens of seconds; a replay at 10x needs faster.
 * The high-priority agent is never a candidate (what a user would configure).
 */
export class OomdKiller {
  static readonly POLL_MS = 100;
  static readonly USAGE_KILL = 0.9;
  static readonly PRESSURE_KILL = 10;
  static readonly COOLDOWN_MS = 1000;
  readonly killed = new Set<string>();
  readonly actions: { t: number; agent: string; usedBytes: number; reason: string }[] = [];
  private running = false;
  private loop: Promise<void> | null = null;
  constructor(
    private budgetCgroup: string,
    private budgetBytes: number,
    private candidates: { id: string; cgroup: string }[],
  ) {}
  start(): void {
    this.running = true;
    const t0 = performance.now();
    this.loop = (async () => {
      while (this.running) {
        const used = readCgNumber(this.budgetCgroup, "memory.current") ?? 0;
        const avg10 = Number(/^some avg10=(\d+(?:\.\d+)?)/m.exec(readCg(this.budgetCgroup, "memory.pressure") ?? "")?.[1] ?? 0);
        const reason =
          used >= OomdKiller.USAGE_KILL * this.budgetBytes
            ? `usage ${(used / MiB).toFixed(1)} MiB >= ${OomdKiller.USAGE_KILL * 100}% of the budget`
            : avg10 >= OomdKiller.PRESSURE_KILL
              ? `memory pressure some avg10 ${avg10}%`
              : null;
        if (reason) {
          const live = this.candidates
            .filter((c) => !this.killed.has(c.id))
            .map((c) => ({ ...c, used: readCgNumber(c.cgroup, "memory.current") ?? 0 }))
            .sort((x, y) => y.used - x.used);
          const victim = live[0];
          if (victim && victim.used > 0) {
            this.killed.add(victim.id);
            this.actions.push({ t: (performance.now() - t0) / 1000, agent: victim.id, usedBytes: victim.used, reason });
            try {
              writeCg(victim.cgroup, "cgroup.kill", "1");
            } catch {
              /* the cgroup went away: nothing left to kill */
            }
            await sleep(OomdKiller.COOLDOWN_MS);
            continue;
          }
        }
        await sleep(OomdKiller.POLL_MS);
      }
    })();
  }
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
