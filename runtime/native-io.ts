// PSI triggers and Unix peer credentials: the two kernel interfaces the
// runtime needs that Node cannot reach by itself (poll() for POLLPRI on a
// pressure file; getsockopt SO_PEERCRED). Both come from the small addon
// native/src/runtime_io.cc (acg_runtime_io.node, built with the loader
// addon). Without it, pressure rules are not enforced and acgd refuses
// every peer, and `status` says so.

import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { nativeBuildPath } from "./native-addon.js";

export interface PsiWatcher {
  /**
   * Registers a PSI trigger (e.g. "some 150000 1000000") on a pressure file
   * and calls `onEvent` each time the kernel signals it (POLLPRI).
   */
  watch(file: string, trigger: string, onEvent: () => void): { close(): void };
}

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

interface RuntimeIoAddon {
  psiTriggerWatch(file: string, trigger: string, cb: () => void): { close(): void };
  peerCredentials(fd: number): PeerCredentials & { pidfd: number };
  pidfdExited(pidfd: number): boolean;
  sendDatagram(path: string, message: string): void;
}

let cached: RuntimeIoAddon | null | undefined;

/** The addon, or null when it has not been built (`npm run build:native`). */
export function runtimeIo(): RuntimeIoAddon | null {
  if (cached !== undefined) return cached;
  const path = nativeBuildPath("acg_runtime_io.node");
  cached = existsSync(path) ? (createRequire(import.meta.url)(path) as RuntimeIoAddon) : null;
  return cached;
}

/** The PSI trigger watcher, or null when the addon is missing. */
export function psiWatcher(): PsiWatcher | null {
  const a = runtimeIo();
  return a ? { watch: (file, trigger, onEvent) => a.psiTriggerWatch(file, trigger, onEvent) } : null;
}

/**
 * SO_PEERCRED of a connected Unix socket fd, with SO_PEERPIDFD's pidfd (-1
 * before Linux 6.5; the caller closes it), or null when the addon is missing.
 */
export function peerCredentialsOf(fd: number): (PeerCredentials & { pidfd: number }) | null {
  return runtimeIo()?.peerCredentials(fd) ?? null;
}

/** Whether the process of a pidfd has exited. */
export function pidfdExited(pidfd: number): boolean {
  return runtimeIo()!.pidfdExited(pidfd);
}

/** One datagram to a Unix datagram socket ('@' = abstract); false when the addon is missing. */
export function sendDatagram(path: string, message: string): boolean {
  const a = runtimeIo();
  if (!a) return false;
  a.sendDatagram(path, message);
  return true;
}
