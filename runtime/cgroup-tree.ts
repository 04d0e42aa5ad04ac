// The agent cgroup tree: <root>/<tenant>/<agent>/<leaf>, where a leaf is a
// tool call's cgroup or the agent's own `agent` leaf (cgroup v2 lets
// processes live only in leaves once a cgroup delegates controllers).
//
// The tree works on the cgroup file system it is given (cgroup-fs.ts): the
// kernel's cgroup v2 hierarchy, or a plain directory standing in for one in
// unit tests. Where the kernel's tree lacks some controller, that
// controller's files are not there; writes to them are recorded as
// unenforced knobs (reported by `status`) instead of aborting the call.

import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseControllers, parseKeyed, parseSingleValue, readCgroupFile } from "./cgroup-files.js";
import { FRESH_KNOBS, type CgroupFs } from "./cgroup-fs.js";

/** The controllers the runtime delegates down the tree when the kernel offers them. */
export const WANTED_CONTROLLERS = ["memory", "cpu", "pids"] as const;
/** Name of the leaf an agent's own process lives in. */
export const AGENT_LEAF = "agent";
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Values the runtime writes to a cgroup; absent fields are left as the kernel has them. */
export interface CgroupLimits {
  memoryHigh?: number | null;
  memoryMax?: number | null;
  memoryLow?: number;
  memoryMin?: number;
  cpuWeight?: number;
  /** memory.oom.group: the kernel's OOM killer takes the whole cgroup, not one process of it. */
  oomGroup?: boolean;
}

/** The interface files of a leaf that hold other values than a fresh cgroup's (FRESH_KNOBS): file to value. */
export type LeafKnobs = Map<string, string>;

export interface CgroupStats {
  memoryCurrent: number | null;
  memoryPeak: number | null;
  cpuUsageUsec: number | null;
  cpuThrottledUsec: number | null;
  /** memory.events counters (low, high, max, oom, oom_kill, oom_group_kill). */
  memoryEvents: Record<string, number>;
}

/** The mount point of the cgroup v2 hierarchy (/sys/fs/cgroup, or .../unified on hybrid hosts). */
export function cgroup2Mount(): string | null {
  let text: string;
  try {
    text = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const [pre, post] = line.split(" - ");
    if (post?.split(" ")[0] === "cgroup2") return pre?.split(" ")[4] ?? null;
  }
  return null;
}

export function defaultCgroupRoot(): string {
  return join(cgroup2Mount() ?? "/sys/fs/cgroup", "agentcgroup");
}

/** Checks a tenant/agent/call name: one path component, no dots at the start, bounded. */
export function checkName(kind: string, name: string): string | null {
  if (typeof name !== "string" || !NAME_RE.test(name)) {
    return `${kind} name ${JSON.stringify(name)} is not valid: use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit`;
  }
  if (name === AGENT_LEAF && kind === "tool call") return `'${AGENT_LEAF}' is reserved for the agent's own leaf`;
  return null;
}

function formatMax(v: number | null): string {
  return v === null ? "max" : String(Math.max(0, Math.floor(v)));
}

/** The interface files and values that `limits` set, in the order they are written. */
function knobValues(limits: CgroupLimits): [file: string, value: string][] {
  const out: [string, string][] = [];
  if (limits.memoryMin !== undefined) out.push(["memory.min", String(limits.memoryMin)]);
  if (limits.memoryLow !== undefined) out.push(["memory.low", String(limits.memoryLow)]);
  if (limits.memoryMax !== undefined) out.push(["memory.max", formatMax(limits.memoryMax)]);
  if (limits.memoryHigh !== undefined) out.push(["memory.high", formatMax(limits.memoryHigh)]);
  if (limits.cpuWeight !== undefined) out.push(["cpu.weight", String(Math.min(10000, Math.max(1, Math.round(limits.cpuWeight))))]);
  if (limits.oomGroup !== undefined) out.push(["memory.oom.group", limits.oomGroup ? "1" : "0"]);
  return out;
}

/** A process's argv (/proc/PID/cmdline), or null if it is gone or unreadable. */
export function commandLineOf(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    // NUL-terminated arguments: the split leaves one empty string after the last.
    return text === "" ? [] : text.replace(/\0$/, "").split("\0");
  } catch {
    return null;
  }
}

export class CgroupTree {
  readonly root: string;
  /** The kernel's cgroup file system or a stand-in, as whoever made the tree chose. */
  readonly fs: CgroupFs;
  /** Interface files the kernel refused (controller not enabled here): knob → first error. */
  readonly unenforced = new Map<string, string>();
  /** The cgroup2 mount, read once: every connection to acgd asks where its peer is (cgroupOfPid). */
  #mount: string | null | undefined;

  constructor(root: string, fs: CgroupFs) {
    this.root = root;
    this.fs = fs;
    mkdirSync(root, { recursive: true });
    this.delegate(root);
  }

  /** Controllers available at the root, as its cgroup.controllers lists them (none on a stand-in). */
  controllers(): string[] {
    return parseControllers(readCgroupFile(join(this.root, "cgroup.controllers")));
  }

  /** Whether the tree offers a controller (the stand-in offers every one). */
  hasController(controller: string): boolean {
    return this.fs.hasController(this.root, controller);
  }

  /** Whether a cgroup of the tree has an interface file (its controller is enabled there). */
  hasKnob(path: string, file: string): boolean {
    return this.fs.hasFile(path, file);
  }

  tenantPath(tenant: string): string {
    return join(this.root, tenant);
  }
  agentPath(tenant: string, agent: string): string {
    return join(this.root, tenant, agent);
  }

  /** Creates (or updates) a tenant cgroup and delegates controllers below it. */
  ensureTenant(tenant: string, limits: CgroupLimits): string {
    const p = this.tenantPath(tenant);
    this.ensureDir(p);
    this.delegate(p);
    this.apply(p, limits);
    return p;
  }

  /** Creates (or updates) an agent cgroup with its own-process leaf, and that leaf's limits (`own`). */
  ensureAgent(tenant: string, agent: string, limits: CgroupLimits, own: CgroupLimits = {}): string {
    const p = this.agentPath(tenant, agent);
    this.ensureDir(p);
    this.delegate(p);
    this.apply(p, limits);
    this.ensureDir(join(p, AGENT_LEAF));
    this.apply(join(p, AGENT_LEAF), own);
    return p;
  }

  /**
   * Creates a leaf cgroup for a tool call; fails if it exists (names are
   * unique per call). Of its limits, only those a fresh cgroup does not
   * already have are written: this is on every start_call's path.
   */
  createLeaf(agentPath: string, name: string, limits: CgroupLimits): string {
    const p = join(agentPath, name);
    this.mkdirLeaf(p);
    this.fitLeaf(p, new Map(), limits);
    return p;
  }

  /** Makes an empty leaf, with a fresh cgroup's limits; fails if it exists. */
  mkdirLeaf(path: string): void {
    this.assertInside(path);
    this.fs.mkdir(path);
  }

  /** Removes a leaf nothing has run in (the kernel refuses, EBUSY, one with processes). */
  removeEmptyLeaf(path: string): void {
    this.assertInside(path);
    this.fs.rmdir(path);
  }

  /**
   * Gives a leaf that nothing runs in yet `limits`, writing only the files
   * whose value is not already theirs: `knobs` says what the leaf holds apart
   * from a fresh cgroup's values, and is kept up to date. Limits that `limits`
   * leaves out go back to a fresh cgroup's value, so a leaf made ahead of time
   * for other limits (spare-leaves.ts) ends as if made for these. A failed
   * write removes the leaf and throws.
   */
  fitLeaf(path: string, knobs: LeafKnobs, limits: CgroupLimits): void {
    const want = new Map(knobValues(limits));
    const files = [...want.keys(), ...[...knobs.keys()].filter((f) => !want.has(f))];
    try {
      for (const file of files) {
        // knobValues() writes only files that FRESH_KNOBS lists.
        const fresh = FRESH_KNOBS[file]!;
        const value = want.get(file) ?? fresh;
        if ((knobs.get(file) ?? fresh) === value) continue;
        // An absent file (its controller not enabled) stays absent: nothing to remember.
        if (!this.setKnob(path, file, value)) continue;
        if (value === fresh) knobs.delete(file);
        else knobs.set(file, value);
      }
    } catch (e) {
      this.removeEmptyLeaf(path);
      throw e;
    }
  }

  /**
   * Removes a leaf. Processes the tool call left behind are killed first
   * (cgroup.kill): a finished call must not leave work running unaccounted.
   */
  async removeLeaf(path: string, waitMs = 2000): Promise<void> {
    this.assertInside(path);
    if (!existsSync(path)) return;
    if (this.populated(path)) {
      try {
        writeFileSync(join(path, "cgroup.kill"), "1");
      } catch {
        // kernels before 5.14: nothing to kill with; rmdir reports EBUSY below
      }
    }
    const end = Date.now() + waitMs;
    for (;;) {
      try {
        this.fs.rmdir(path);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return;
        // The killed tasks leave the cgroup asynchronously; a short wait, bounded.
        if (code !== "EBUSY" || Date.now() > end) throw e;
        await sleep(5);
      }
    }
  }

  /** Removes an agent cgroup whose processes are all gone (its own leaf included). */
  removeAgent(path: string): void {
    this.assertInside(path);
    for (const e of safeReaddir(path)) if (statSync(join(path, e)).isDirectory()) this.fs.rmdir(join(path, e));
    this.fs.rmdir(path);
  }

  populated(path: string): boolean {
    const ev = readCgroupFile(join(path, "cgroup.events"));
    if (ev === null) return (readCgroupFile(join(path, "cgroup.procs")) ?? "").trim() !== "";
    return parseKeyed(ev)["populated"] === 1;
  }

  /** Writes the given limits; unsupported knobs are recorded, other failures throw. */
  apply(path: string, limits: CgroupLimits): void {
    for (const [file, value] of knobValues(limits)) this.setKnob(path, file, value);
  }

  /** Writes one interface file. Returns false if this cgroup does not have it (controller not enabled). */
  setKnob(path: string, file: string, value: string): boolean {
    this.assertInside(path);
    if (this.fs.writeFile(path, file, value)) return true;
    if (!this.unenforced.has(file))
      this.unenforced.set(file, `${file} does not exist in ${path}: its controller is not enabled in this cgroup tree`);
    return false;
  }

  readKnob(path: string, file: string): string | null {
    return readCgroupFile(join(path, file));
  }

  stats(path: string): CgroupStats {
    const cpu = parseKeyed(readCgroupFile(join(path, "cpu.stat")) ?? "");
    const num = (f: string) => {
      const v = parseSingleValue(readCgroupFile(join(path, f)));
      return v === null || !Number.isFinite(v) ? null : v;
    };
    return {
      memoryCurrent: num("memory.current"),
      memoryPeak: num("memory.peak"),
      cpuUsageUsec: cpu["usage_usec"] ?? null,
      cpuThrottledUsec: cpu["throttled_usec"] ?? null,
      memoryEvents: parseKeyed(readCgroupFile(join(path, "memory.events")) ?? ""),
    };
  }

  /**
   * Lets `uid` start and move processes into `leaf` (cgroup v2 delegation:
   * it needs write access to the leaf's and the common ancestor's
   * cgroup.procs — here the agent's cgroup). Limits stay root's.
   */
  delegateProcs(agentPath: string, leaf: string, uid: number): void {
    this.assertInside(leaf);
    for (const p of [agentPath, leaf]) chownSync(join(p, "cgroup.procs"), uid, -1);
  }

  /** Moves a process into a cgroup (cgroup.procs write); the kernel checks delegation rules. */
  movePid(path: string, pid: number): void {
    this.assertInside(path);
    this.fs.movePid(path, pid);
  }

  /** Pids in a cgroup and below it. */
  pidsBelow(path: string): number[] {
    const out: number[] = [];
    const walk = (p: string) => {
      for (const line of (readCgroupFile(join(p, "cgroup.procs")) ?? "").split("\n")) if (/^\d+$/.test(line)) out.push(Number(line));
      for (const e of safeReaddir(p)) if (statSync(join(p, e)).isDirectory()) walk(join(p, e));
    };
    walk(path);
    return out;
  }

  /** The tree-relative path of a process's cgroup ("tenant/agent/leaf"), or null if outside the tree. */
  cgroupOfPid(pid: number): string | null {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/cgroup`, "utf8");
    } catch {
      return null;
    }
    const line = text.split("\n").find((l) => l.startsWith("0::"));
    if (!line) return null;
    if (this.#mount === undefined) this.#mount = cgroup2Mount();
    if (!this.#mount) return null;
    const abs = join(this.#mount, line.slice(3));
    const rel = relative(this.root, abs);
    return rel === "" || rel.startsWith("..") ? null : rel;
  }

  /**
   * Makes a tenant's or agent's cgroup (or its own leaf) if it is not there:
   * a plain mkdir on either file system. Unlike a call's leaf, a stand-in
   * gets no files here: the tests write what they want the kernel to show.
   */
  private ensureDir(p: string): void {
    this.assertInside(p);
    mkdirSync(p, { recursive: true });
  }

  /** Enables the wanted controllers that the parent offers in this cgroup's subtree_control (a stand-in offers none). */
  private delegate(p: string): void {
    const available = parseControllers(readCgroupFile(join(p, "cgroup.controllers")));
    const enabled = parseControllers(readCgroupFile(join(p, "cgroup.subtree_control")));
    const missing = WANTED_CONTROLLERS.filter((c) => available.includes(c) && !enabled.includes(c));
    if (missing.length) writeFileSync(join(p, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
  }

  private assertInside(p: string): void {
    const rel = relative(this.root, p);
    if (rel.startsWith("..") || rel.split(sep).includes(".."))
      throw new Error(`refusing to touch ${p}: outside the cgroup root ${this.root}`);
  }
}

function safeReaddir(p: string): string[] {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
}
