// Taking AgentCgroup off a host: `acgd stop` (stop the acgd serving a socket,
// then unload) and `acgc unload` (after acgd stopped: remove the pins of the
// sched_ext scheduler it left running, so the kernel detaches it).
//
// A stopped acgd leaves its scheduler pinned on purpose (a restarted acgd
// adopts it, so enforcement survives restarts and upgrades); unloading is the
// explicit way back to the kernel's default scheduler.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createConnection } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { peerCredentialsOf } from "./native-io.js";

export interface UnloadResult {
  /** Pins that were removed (none: nothing was pinned). */
  removed: string[];
  /** /sys/kernel/sched_ext/state afterwards ("disabled", or "absent" on kernels without sched_ext). */
  state: string;
}

function schedExtState(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "absent";
  }
}

/** True while `pid` exists and is not a zombie (an exited child its parent has not reaped yet). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** The pid of the process listening on a Unix socket (SO_PEERCRED of a connection), or null if none answers. */
export function listenerPid(socket: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    c.once("error", () => resolve(null));
    c.once("connect", () => {
      const fd = (c as unknown as { _handle?: { fd?: number } })._handle?.fd;
      try {
        const cred = typeof fd === "number" && fd >= 0 ? peerCredentialsOf(fd) : null;
        if (!cred) reject(new Error("the peer's credentials cannot be read (the native addon is not built: npm run build:native)"));
        else resolve(cred.pid);
      } catch (e) {
        reject(e);
      } finally {
        c.destroy();
      }
    });
  });
}

/** Removes the pinned scheduler and waits (up to `waitMs`) until sched_ext reports it gone. */
export async function unloadScheduler(waitMs = 5000): Promise<UnloadResult> {
  const { defaultPins, dropSchedulerPins, SCHED_EXT_STATE } = await import("./enforce-bpf.js");
  const pins = defaultPins();
  const removed = [
    ...(existsSync(pins.dir) ? readdirSync(pins.dir).map((f) => `${pins.dir}/${f}`) : []),
    ...(existsSync(pins.stateFile) ? [pins.stateFile] : []),
  ];
  dropSchedulerPins(pins);
  let state = schedExtState(SCHED_EXT_STATE);
  // The link detaches when its last reference (the pin) goes; sched_ext then disables asynchronously.
  for (
    const until = Date.now() + waitMs;
    removed.length > 0 && state !== "disabled" && state !== "absent" && Date.now() < until;
    await sleep(50)
  ) {
    state = schedExtState(SCHED_EXT_STATE);
  }
  return { removed, state };
}

/**
 * Stops the acgd listening on `socket` (SIGTERM, as systemd does) and waits
 * until its process has exited. Returns its pid, or null if none answered.
 */
export async function stopDaemon(socket: string, waitMs = 30_000): Promise<number | null> {
  const pid = await listenerPid(socket);
  if (pid === null) return null;
  process.kill(pid, "SIGTERM");
  for (const until = Date.now() + waitMs; running(pid); await sleep(50)) {
    if (Date.now() >= until) throw new Error(`acgd (pid ${pid}) did not exit within ${waitMs / 1000} s of SIGTERM`);
  }
  return pid;
}
