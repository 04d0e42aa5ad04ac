// PSI triggers and Unix peer credentials: the two kernel interfaces the
// runtime needs that Node cannot reach by itself (poll() for POLLPRI on a
// pressure file; getsockopt SO_PEERCRED). Both come from the native addon's
// runtime functions (native/src/runtime_io.cc); an addon built without them
// leaves pressure rules unenforced and the daemon refusing every peer.

import { native } from "./loader.js";

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
  psiTriggerWatch?(file: string, trigger: string, cb: () => void): { close(): void };
  peerCredentials?(fd: number): PeerCredentials;
}

function addon(): RuntimeIoAddon | null {
  try {
    return native() as unknown as RuntimeIoAddon;
  } catch {
    return null;
  }
}

/** The PSI trigger watcher, or null when the addon lacks it. */
export function psiWatcher(): PsiWatcher | null {
  const a = addon();
  const fn = a?.psiTriggerWatch;
  if (!a || typeof fn !== "function") return null;
  return { watch: (file, trigger, onEvent) => fn.call(a, file, trigger, onEvent) };
}

/** SO_PEERCRED of a connected Unix socket fd, or null when unavailable. */
export function peerCredentialsOf(fd: number): PeerCredentials | null {
  const a = addon();
  if (!a || typeof a.peerCredentials !== "function") return null;
  return a.peerCredentials(fd);
}
