// Call cgroups made ahead of time. Making a memory cgroup is the costliest
// step of a start_call (a mkdir the kernel answers by setting up the memory,
// cpu and pids state of a new cgroup: ~1.1 ms of acgd's event loop under
// emulation, docs/runtime.md), and a burst of starts waits for each other's.
// So after a lull acgd makes, below each agent that has started calls, as
// many empty leaves as it has run at once, with the limits of its last call
// already written; a start takes one, writes only the limits that differ, and
// answers. cgroup v2 cannot rename a cgroup, so a spare is named for the call
// that will take it: its id is drawn when the spare is made.

import { join } from "node:path";
import type { CgroupLimits, CgroupTree, LeafKnobs } from "./cgroup-tree.js";

/** A call cgroup made ahead of time. */
interface SpareLeaf {
  id: string;
  path: string;
  knobs: LeafKnobs;
}

/** What acgd keeps ready for one agent. */
interface AgentSpares {
  /** The agent's cgroup, where its spares are. */
  agentPath: string;
  ready: SpareLeaf[];
  /** How many to keep ready: the most calls the agent has run at once, bounded. */
  want: number;
  /** The limits of its last call, written into new spares. */
  limits: CgroupLimits;
}

export interface SpareLeavesOptions {
  /** Quiet time after the last start before spares are made (ms). */
  lullMs?: number;
  /** Under a steady stream of starts, spares are made at the latest this long after one is wanted (ms). */
  maxWaitMs?: number;
  /** Most spares kept for one agent. */
  perAgent?: number;
  /** Most spares kept in all: each is a memory cgroup's kernel state (per-CPU statistics: more on bigger hosts). */
  total?: number;
}

export class SpareLeaves {
  readonly #tree: CgroupTree;
  readonly #nextId: () => string;
  readonly #lullMs: number;
  readonly #maxWaitMs: number;
  readonly #perAgent: number;
  readonly #total: number;
  /** By agent key ("tenant/agent"). */
  readonly #agents = new Map<string, AgentSpares>();
  #timer: NodeJS.Timeout | null = null;
  #wantedSince = 0;
  #making: NodeJS.Immediate | null = null;

  constructor(tree: CgroupTree, nextId: () => string, opts: SpareLeavesOptions = {}) {
    this.#tree = tree;
    this.#nextId = nextId;
    this.#lullMs = opts.lullMs ?? 25;
    this.#maxWaitMs = opts.maxWaitMs ?? 250;
    this.#perAgent = opts.perAgent ?? 8;
    this.#total = opts.total ?? 64;
  }

  /**
   * A call of the agent at `agentPath` starts with `limits`, making `running`
   * calls of the agent at once: returns a spare fitted to the limits, or null
   * (none ready: the caller makes the cgroup). Either way the agent's spares
   * are made up after the next lull. Throws, the spare removed, if a limit
   * cannot be written.
   */
  take(agentKey: string, agentPath: string, limits: CgroupLimits, running: number): { id: string; path: string } | null {
    let a = this.#agents.get(agentKey);
    if (!a) this.#agents.set(agentKey, (a = { agentPath, ready: [], want: 0, limits }));
    a.want = Math.max(a.want, Math.min(running, this.#perAgent));
    a.limits = limits;
    const spare = a.ready.shift() ?? null;
    this.#schedule();
    if (!spare) return null;
    this.#tree.fitLeaf(spare.path, spare.knobs, limits);
    return { id: spare.id, path: spare.path };
  }

  /** The spares ready for an agent (status, tests). */
  readyFor(agentKey: string): number {
    return this.#agents.get(agentKey)?.ready.length ?? 0;
  }

  /** The agent is being removed: its spares are removed, and no more are made for it. */
  forget(agentKey: string): void {
    const a = this.#agents.get(agentKey);
    if (!a) return;
    this.#agents.delete(agentKey);
    for (const s of a.ready) this.#remove(s);
  }

  /** Removes every spare and makes no more (acgd stopping: a next acgd would only find them empty). */
  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#making) clearImmediate(this.#making);
    this.#timer = this.#making = null;
    for (const key of [...this.#agents.keys()]) this.forget(key);
  }

  /**
   * Arms (or re-arms, within maxWaitMs of the first wish) the timer that
   * makes spares after a lull. A start while spares are being made ends the
   * lull: making them waits for the next.
   */
  #schedule(): void {
    if (this.#making) clearImmediate(this.#making);
    this.#making = null;
    const now = Date.now();
    if (this.#timer) clearTimeout(this.#timer);
    else this.#wantedSince = now;
    const delay = Math.max(0, Math.min(this.#lullMs, this.#wantedSince + this.#maxWaitMs - now));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#makeOne();
    }, delay);
    this.#timer.unref();
  }

  /**
   * Makes one spare, then yields to the event loop before the next: requests
   * that arrive meanwhile wait for one mkdir at most.
   */
  #makeOne(): void {
    this.#making = null;
    const all = [...this.#agents.values()];
    const a = all.find((x) => x.ready.length < x.want);
    if (!a || all.reduce((n, x) => n + x.ready.length, 0) >= this.#total) return;
    const id = this.#nextId();
    const path = join(a.agentPath, id);
    const knobs: LeafKnobs = new Map();
    try {
      this.#tree.mkdirLeaf(path);
      this.#tree.fitLeaf(path, knobs, a.limits);
      a.ready.push({ id, path, knobs });
    } catch {
      // The agent's cgroup went, or the kernel refused (limits on descendants,
      // memory): its starts make their cgroups as they come, and report why.
      a.want = a.ready.length;
    }
    this.#making = setImmediate(() => this.#makeOne());
  }

  #remove(s: SpareLeaf): void {
    try {
      this.#tree.removeEmptyLeaf(s.path);
    } catch {
      // already gone with its agent
    }
  }
}
