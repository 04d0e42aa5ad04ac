// Who is at the other end of an acgd connection, decided once, when it
// connects, and never again: SO_PEERCRED gives the pid and uid the kernel
// recorded at connect(); SO_PEERPIDFD gives a pidfd of that very process, so
// the cgroup read from /proc/PID/cgroup can be checked to belong to it (the
// process had not exited when the read finished, so its pid could not have
// been reused). A pid is never looked up again later: a connection whose
// process exits keeps the identity it had, and a process that later gets
// the same pid gains nothing from it.

import { closeSync } from "node:fs";
import { peerCredentialsOf, pidfdExited, type PeerCredentials } from "./native-io.js";

/** The identity pinned for a connection. */
export interface PeerIdentity {
  pid: number;
  uid: number;
  gid: number;
  /** The tree-relative cgroup ("tenant/agent/leaf") the peer was in when it connected, or null if outside the tree. */
  cgroup: string | null;
  /** How the cgroup read was tied to the connecting process ("pidfd" or, on kernels before 6.5, "pid"). */
  pinnedBy: "pidfd" | "pid";
}

/** Why a connection has no identity: every request on it is refused with this reason. */
export class UnidentifiedPeer {
  constructor(readonly reason: string) {}
}

/**
 * Reads the identity of the process at the other end of the socket `fd`.
 * `cgroupOfPid` maps a pid to its tree-relative cgroup (null outside the tree).
 */
export function identifyPeer(fd: number | undefined, cgroupOfPid: (pid: number) => string | null): PeerIdentity | UnidentifiedPeer {
  let cred: (PeerCredentials & { pidfd?: number }) | null;
  try {
    cred = typeof fd === "number" && fd >= 0 ? peerCredentialsOf(fd) : null;
  } catch (e) {
    return new UnidentifiedPeer(`the peer's credentials cannot be read (SO_PEERCRED: ${(e as Error).message})`);
  }
  if (!cred) return new UnidentifiedPeer("the peer's credentials cannot be read (SO_PEERCRED; is the native runtime addon built?)");
  const pidfd = cred.pidfd ?? -1;
  try {
    const cgroup = cgroupOfPid(cred.pid);
    // Checked after the read: had the peer exited before it, its pid might name another process now.
    if (pidfd >= 0 && pidfdExited(pidfd)) return new UnidentifiedPeer(`peer pid ${cred.pid} exited before its cgroup could be read`);
    return { pid: cred.pid, uid: cred.uid, gid: cred.gid, cgroup, pinnedBy: pidfd >= 0 ? "pidfd" : "pid" };
  } finally {
    if (pidfd >= 0) closeSync(pidfd);
  }
}
