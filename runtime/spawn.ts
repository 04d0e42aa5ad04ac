// Processes started directly inside a cgroup (clone3 CLONE_INTO_CGROUP), so
// that they never run elsewhere, and waited for through their pidfd without
// blocking the event loop.
import { constants as osConstants } from "node:os";
import { native, type SpawnOptions, type SpawnResult } from "./native-addon.js";

export interface ExitStatus {
  pid: number;
  /** Exit code, or null if killed by a signal. */
  code: number | null;
  /** Signal name (e.g. 'SIGKILL'), or null if it exited. */
  signal: NodeJS.Signals | null;
  coreDumped?: boolean;
}

/**
 * Starts `file` directly inside `cgroupPath` (it never runs elsewhere).
 * Exec failures (missing binary, bad cwd) throw a BpfError with
 * `op` 'execve'/'chdir' and the child's errno; clone3 failures have op 'clone3'.
 */
export function spawnInCgroup(opts: SpawnOptions): SpawnResult {
  if (typeof opts !== "object" || opts === null) throw new TypeError("spawnInCgroup expects an options object");
  return native().spawnInCgroup(opts);
}

const signalNames = new Map<number, NodeJS.Signals>(Object.entries(osConstants.signals).map(([k, v]) => [v, k as NodeJS.Signals]));

/** Resolves when the child exits and reaps it (waitid P_PIDFD); never blocks the event loop. */
export async function waitPidfd(pidfd: number): Promise<ExitStatus> {
  const r = await native().waitPidfd(pidfd);
  const out: ExitStatus = {
    pid: r.pid,
    code: r.code,
    signal: r.signal === null ? null : (signalNames.get(r.signal) ?? (`SIG${r.signal}` as NodeJS.Signals)),
  };
  if (r.coreDumped !== undefined) out.coreDumped = r.coreDumped;
  return out;
}

/** pidfd_send_signal; `signal` is a name ('SIGTERM') or number. */
export function sendSignal(pidfd: number, signal: NodeJS.Signals | number = "SIGTERM"): void {
  const sig = typeof signal === "number" ? signal : osConstants.signals[signal];
  if (sig === undefined) throw new TypeError(`unknown signal ${String(signal)}`);
  native().sendSignal(pidfd, sig);
}
