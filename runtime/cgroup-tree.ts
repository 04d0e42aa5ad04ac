// The agent cgroup tree: <root>/<tenant>/<agent>/<leaf>, where a leaf is a
// tool call's cgroup or the agent's own `agent` leaf (cgroup v2 lets
// processes live only in leaves once a cgroup delegates controllers).
//
// The tree works on a real cgroup v2 directory or on a plain directory (unit
// tests): on a plain directory, interface files are ordinary files that the
// tests read back, and removal deletes them. On a real cgroup without some
// controller, writes to that controller's files fail; they are recorded as
// unenforced knobs (reported by `status`) instead of aborting the call.

import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statSync,
  statfsSync,
  writeFileSync,
} from "node:fs";
import { join, relative, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseKeyed, parseSingleValue } from "./cgroup-files.js";

const CGROUP2_SUPER_MAGIC = 0x63677270;
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
  /** True when root lives on cgroup2 (else: a plain directory standing in for one, in tests). */
  readonly real: boolean;
  /** Interface files the kernel refused (controller not enabled here): knob → first error. */
  readonly unenforced = new Map<string, string>();

  constructor(root: string) {
    this.root = root;
    mkdirSync(root, { recursive: true });
    this.real = statfsSync(root).type === CGROUP2_SUPER_MAGIC;
    this.delegate(root);
  }

  /** Controllers available at the root (empty on a plain directory). */
  controllers(): string[] {
    return (this.read(join(this.root, "cgroup.controllers")) ?? "").trim().split(/\s+/).filter(Boolean);
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

  /** Creates (or updates) an agent cgroup with its own-process leaf. */
  ensureAgent(tenant: string, agent: string, limits: CgroupLimits): string {
    const p = this.agentPath(tenant, agent);
    this.ensureDir(p);
    this.delegate(p);
    this.apply(p, limits);
    this.ensureDir(join(p, AGENT_LEAF));
    return p;
  }

  /** Creates a leaf cgroup for a tool call; fails if it exists (names are unique per call). */
  createLeaf(agentPath: string, name: string, limits: CgroupLimits): string {
    const p = join(agentPath, name);
    mkdirSync(p);
    if (!this.real) this.seedStandIn(p);
    try {
      this.apply(p, limits);
    } catch (e) {
      // Nothing runs in it yet: remove it at once.
      if (this.real) rmdirSync(p);
      else rmSync(p, { recursive: true, force: true });
      throw e;
    }
    return p;
  }

  /**
   * Removes a leaf. Processes the tool call left behind are killed first
   * (cgroup.kill): a finished call must not leave work running unaccounted.
   */
  async removeLeaf(path: string, waitMs = 2000): Promise<void> {
    this.assertInside(path);
    if (!this.real) {
      rmSync(path, { recursive: true, force: true });
      return;
    }
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
        rmdirSync(path);
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
    if (!this.real) {
      rmSync(path, { recursive: true, force: true });
      return;
    }
    for (const e of safeReaddir(path)) if (statSync(join(path, e)).isDirectory()) rmdirSync(join(path, e));
    rmdirSync(path);
  }

  populated(path: string): boolean {
    const ev = this.read(join(path, "cgroup.events"));
    if (ev === null) return (this.read(join(path, "cgroup.procs")) ?? "").trim() !== "";
    return parseKeyed(ev)["populated"] === 1;
  }

  /** Writes the given limits; unsupported knobs are recorded, other failures throw. */
  apply(path: string, limits: CgroupLimits): void {
    if (limits.memoryMin !== undefined) this.setKnob(path, "memory.min", String(limits.memoryMin));
    if (limits.memoryLow !== undefined) this.setKnob(path, "memory.low", String(limits.memoryLow));
    if (limits.memoryMax !== undefined) this.setKnob(path, "memory.max", formatMax(limits.memoryMax));
    if (limits.memoryHigh !== undefined) this.setKnob(path, "memory.high", formatMax(limits.memoryHigh));
    if (limits.cpuWeight !== undefined)
      this.setKnob(path, "cpu.weight", String(Math.min(10000, Math.max(1, Math.round(limits.cpuWeight)))));
    if (limits.oomGroup !== undefined) this.setKnob(path, "memory.oom.group", limits.oomGroup ? "1" : "0");
  }

  /** Writes one interface file. Returns false if this cgroup does not have it (controller not enabled). */
  setKnob(path: string, file: string, value: string): boolean {
    this.assertInside(path);
    const target = join(path, file);
    if (this.real && !existsSync(target)) {
      if (!this.unenforced.has(file))
        this.unenforced.set(file, `${file} does not exist in ${path}: its controller is not enabled in this cgroup tree`);
      return false;
    }
    writeFileSync(target, value);
    return true;
  }

  readKnob(path: string, file: string): string | null {
    return this.read(join(path, file));
  }

  stats(path: string): CgroupStats {
    const cpu = parseKeyed(this.read(join(path, "cpu.stat")) ?? "");
    const num = (f: string) => {
      const v = parseSingleValue(this.read(join(path, f)));
      return v === null || !Number.isFinite(v) ? null : v;
    };
    return {
      memoryCurrent: num("memory.current"),
      memoryPeak: num("memory.peak"),
      cpuUsageUsec: cpu["usage_usec"] ?? null,
      cpuThrottledUsec: cpu["throttled_usec"] ?? null,
      memoryEvents: parseKeyed(this.read(join(path, "memory.events")) ?? ""),
    };
  }

  /**
   * Lets `uid` start and move processes into `leaf` (cgroup v2 delegation:
   * it needs write access to the leaf's and the common ancestor's
   * cgroup.procs — here the agent's cgroup). Limits stay root's.
   */
  delegateProcs(agentPath: string, leaf: string, uid: number): void {
    this.assertInside(leaf);
    if (!this.real) return;
    for (const p of [agentPath, leaf]) chownSync(join(p, "cgroup.procs"), uid, -1);
  }

  /** Moves a process into a cgroup (cgroup.procs write); the kernel checks delegation rules. */
  movePid(path: string, pid: number): void {
    this.assertInside(path);
    if (this.real) writeFileSync(join(path, "cgroup.procs"), String(pid));
    else appendFileSync(join(path, "cgroup.procs"), `${pid}\n`);
  }

  /** Pids in a cgroup and below it. */
  pidsBelow(path: string): number[] {
    const out: number[] = [];
    const walk = (p: string) => {
      for (const line of (this.read(join(p, "cgroup.procs")) ?? "").split("\n")) if (/^\d+$/.test(line)) out.push(Number(line));
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
    const mount = cgroup2Mount();
    if (!mount) return null;
    const abs = join(mount, line.slice(3));
    const rel = relative(this.root, abs);
    return rel === "" || rel.startsWith("..") ? null : rel;
  }

  /** A plain-directory leaf gets the files the kernel would provide, as a fresh cgroup has them. */
  private seedStandIn(p: string): void {
    for (const [f, v] of [
      ["memory.current", "0\n"],
      ["memory.events", ""],
      ["cgroup.events", "populated 0\nfrozen 0\n"],
      ["cgroup.procs", ""],
    ]) {
      writeFileSync(join(p, f!), v!);
    }
  }

  private ensureDir(p: string): void {
    this.assertInside(p);
    mkdirSync(p, { recursive: true });
  }

  /** Enables the wanted controllers that the parent offers in this cgroup's subtree_control. */
  private delegate(p: string): void {
    if (!this.real) return;
    const available = (this.read(join(p, "cgroup.controllers")) ?? "").trim().split(/\s+/);
    const enabled = (this.read(join(p, "cgroup.subtree_control")) ?? "").trim().split(/\s+/);
    const missing = WANTED_CONTROLLERS.filter((c) => available.includes(c) && !enabled.includes(c));
    if (missing.length) writeFileSync(join(p, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
  }

  private read(file: string): string | null {
    try {
      return readFileSync(file, "utf8");
    } catch {
      return null;
    }
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
