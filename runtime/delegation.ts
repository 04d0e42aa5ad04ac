// Delegation of a call's cgroup to a non-root agent, as little and as short
// as possible. `acg run` of a non-root agent starts its command itself
// (clone3 into the call's cgroup), which cgroup v2 allows only with write
// access to the call's and its agent's `cgroup.procs`. Those two files are
// chowned to the caller's uid when the call starts and given back to root as
// soon as one of the caller's own processes is in the call (or the call ends,
// or after DELEGATION_MS). Meanwhile the delegation could move any process of
// the agent's cgroups into the call, which the API would refuse for a process
// of another uid (cgroup v2 checks no process owner): every process that
// arrives is checked as the API checks it, and one of another uid is moved
// back to the agent's own leaf.

import { chownSync, lstatSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { AGENT_LEAF, type CgroupTree } from "./cgroup-tree.js";
import type { ToolCall } from "./tool-calls.js";

/** Longest a delegation may stay unused before it is taken back. */
export const DELEGATION_MS = 30_000;

interface Delegation {
  call: ToolCall;
  uid: number;
  watcher: FSWatcher | null;
  timer: NodeJS.Timeout;
}

export class Delegations {
  readonly #tree: CgroupTree;
  readonly #log: (msg: string) => void;
  readonly #byCall = new Map<string, Delegation>();
  /** Open delegations per agent cgroup: its cgroup.procs goes back to root when the last one closes. */
  readonly #perAgent = new Map<string, number>();

  constructor(tree: CgroupTree, log: (msg: string) => void) {
    this.#tree = tree;
    this.#log = log;
  }

  delegate(call: ToolCall, uid: number): void {
    // A stand-in tree holds no processes: there is nothing to let the caller start there.
    if (!this.#tree.fs.holdsProcesses || this.#byCall.has(call.id)) return;
    this.#tree.delegateProcs(call.agent.path, call.path, uid);
    this.#perAgent.set(call.agent.path, (this.#perAgent.get(call.agent.path) ?? 0) + 1);
    const d: Delegation = { call, uid, watcher: null, timer: setTimeout(() => this.revoke(call.id), DELEGATION_MS) };
    d.timer.unref();
    this.#byCall.set(call.id, d);
    try {
      d.watcher = watch(join(call.path, "cgroup.events"), { persistent: false }, () => this.#arrived(d));
      d.watcher.on("error", () => {});
    } catch {
      // the cgroup is already gone: revoke below finds nothing to check
    }
    // A process may have arrived before the watch began.
    this.#arrived(d);
  }

  /** Checks who is in the call; once the caller's own process is there, the delegation has served. */
  #arrived(d: Delegation): void {
    if (this.#byCall.get(d.call.id) !== d) return;
    if (this.#expel(d)) this.revoke(d.call.id);
  }

  /** Moves out processes of other uids; returns whether one of the caller's own is in the call. */
  #expel(d: Delegation): boolean {
    let own = false;
    for (const pid of this.#tree.pidsBelow(d.call.path)) {
      if (processUid(pid) === d.uid) {
        own = true;
        continue;
      }
      try {
        this.#tree.movePid(join(d.call.agent.path, AGENT_LEAF), pid);
        this.#log(
          `call ${d.call.id}: process ${pid} of another user was moved into it through its ` +
            `delegation to uid ${d.uid}: moved back to ${d.call.agent.key}'s own cgroup`,
        );
      } catch {
        // it exited meanwhile
      }
    }
    return own;
  }

  /** Gives the call's (and, with its last delegation, the agent's) cgroup.procs back to root. */
  revoke(callId: string): void {
    const d = this.#byCall.get(callId);
    if (!d) return;
    this.#byCall.delete(callId);
    clearTimeout(d.timer);
    d.watcher?.close();
    const agentPath = d.call.agent.path;
    const left = (this.#perAgent.get(agentPath) ?? 1) - 1;
    if (left <= 0) this.#perAgent.delete(agentPath);
    else this.#perAgent.set(agentPath, left);
    const back = left <= 0 ? [agentPath, d.call.path] : [d.call.path];
    for (const p of back) {
      try {
        chownSync(join(p, "cgroup.procs"), process.getuid?.() ?? 0, -1);
      } catch {
        // the call's cgroup is already removed
      }
    }
    // After the call's file is root's again nothing more can arrive: a last check for what came meanwhile.
    this.#expel(d);
  }
}

function processUid(pid: number): number | null {
  try {
    return lstatSync(`/proc/${pid}`).uid;
  } catch {
    return null;
  }
}
