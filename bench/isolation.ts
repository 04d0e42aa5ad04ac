// The isolation experiment: several agents replay their traces concurrently
// under one memory budget (memory.max of a parent cgroup), once per setup:
//
//   alone   the high-priority agent by itself (the reference for its slowdown)
//   none    no per-agent control, only the shared budget
//   static  every agent capped (memory.max) at its own trace's peak: a container limit
//   hints   the high-priority agent unlimited, the others with a fixed memory.high
//           (the published prototype's setup)
//   policy:FILE  a compiled policy enforced by acgd, every tool call started
//           through `acg run` (needs the runtime; see AcgLauncher)
//
// Runs as root where cgroup v2 has the memory controller (the guest):
//   node dist/bench/isolation.js [--setups alone,none,static,hints] [--budgets 0.7,0.83]
//        [--speed 30] [--scale 1/64] [--agents 3] [--seed 1] [--out FILE] [--traces DIR]

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllocLog } from "./alloc-log.js";
import { CGROUP_ROOT, enableControllers, memoryControllerAvailable, mkCg, readCgKeyed, readCgNumber, readPressure, removeCgTree, writeCg } from "./cgroupfs.js";
import { buildPlan, curveText, type AgentPlan, type ProcessPlan, type ReplayPlan } from "./plan.js";
import { defaultTraceDir, quantile } from "../traces/read.js";
import { restoreDefaultScheduler } from "./sched-ext.js";

const MiB = 1024 * 1024;
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** acgd's directory for agents outside any tenant (runtime/tool-calls.ts NO_TENANT). */
const NO_TENANT_DIR = "default";
/** This run's cgroups, one sub-tree per setup. */
const BENCH_CGROUP = join(CGROUP_ROOT, `acg-bench-${process.pid}`);

export interface IsolationOptions {
  setups: string[];
  /** Budgets as fractions of the plan's concurrent peak (scaled). */
  budgets: number[];
  speed: number;
  scale: number;
  agents: number;
  seed: number;
  traceDir: string;
  outFile: string;
  workDir: string;
  allocBin: string;
  /** Added to each agent's static cap and counted in budgets: the processes' own overhead. */
  slackBytes: number;
  chunkBytes: number;
  sampleMs: number;
  /** A run is stopped after limitFactor x its nominal length + 15 s. */
  limitFactor: number;
  maxSeconds?: number;
  acg?: string;
  /** A plan written by `--write-plan` on the host (skips reading the traces in the guest). */
  planFile?: string;
  /** Merge into an existing --out file instead of replacing it. */
  append?: boolean;
  /** Leave the per-100-ms memory timeline out of the output (extra seeds: only pooled figures are used). */
  noTimeline?: boolean;
}

export interface ProcRecord {
  agent: string;
  kind: "agent" | "call";
  index: number;
  family: string;
  /** Wall seconds after the run's start. */
  plannedStart: number;
  start: number;
  end: number | null;
  nominalS: number;
  /** oom-killed: SIGKILL by the kernel; policy-killed: the runtime's over_high kill (the agent goes on). */
  status: "completed" | "oom-killed" | "policy-killed" | "killed" | "failed" | "not-started";
  rule?: string;
  cls?: string;
  exitCode: number | null;
  signal: string | null;
  latP50Us: number | null;
  steps: number;
}

export interface AgentResult {
  id: string;
  run: string;
  high: boolean;
  /** No OOM kill of any of its processes. */
  survived: boolean;
  /** Its own process started (false: refused or failed to start). */
  ran: boolean;
  /** All its processes ended before the run's time limit (a throttled agent may stall). */
  finished: boolean;
  oomKills: number;
  callsPlanned: number;
  callsCompleted: number;
  callsKilled: number;
  /** Calls the runtime killed (over_high kill after): the agent is told and goes on. */
  callsPolicyKilled: number;
  completionS: number | null;
  nominalS: number;
  slowdown: number | null;
  latency: { n: number; p50Us: number; p95Us: number; p99Us: number; maxUs: number };
  /** [quantile, microseconds] points of the allocation latency distribution. */
  latencyCdf: [number, number][];
  memStallSomeUs: number;
  memStallFullUs: number;
  /** memory.events "oom" of the agent cgroup: its own limit was hit (vs the shared budget's). */
  ownLimitOoms: number;
  highEvents: number;
  maxEvents: number;
  peakUsedBytes: number;
  /** Mean of the memory set aside for the agent (Launcher.reservedBytes); null when the setup reserves none. */
  reservedAvgBytes: number | null;
  usedAvgBytes: number;
  /** Mean of max(0, reserved - used) over mean reserved: the reservation left idle; null without one. */
  wasteFraction: number | null;
  limits: { max: number | null; high: number | null };
}

export interface RunResult {
  setup: string;
  budgetFraction: number;
  budgetBytes: number;
  wallS: number;
  agents: AgentResult[];
  procs: ProcRecord[];
  /** Samples: t (s), per-agent used and reserved bytes, parent used. */
  timeline: { t: number; used: number[]; reserved: (number | null)[]; parent: number }[];
  parentEvents: Record<string, number>;
  /** How the setup was enforced (policy setups). */
  mode?: string;
  /** The run hit its time limit (limitS) and what was left was stopped. */
  timedOut: boolean;
  limitS: number;
  errors: string[];
}

export interface IsolationResult {
  kind: "isolation";
  date: string;
  kernel: string;
  options: Omit<IsolationOptions, "outFile" | "workDir" | "allocBin">;
  plan: Pick<ReplayPlan, "span" | "concurrentPeakBytes" | "sumOfPeaksBytes"> & {
    agents: { id: string; run: string; high: boolean; delay: number; duration: number; peakBytes: number; medianBytes: number; calls: number; callFamilies: Record<string, number>; callTimes: { start: number; end: number; family: string }[] }[];
  };
  runs: RunResult[];
  /** Setups that could not take part, and why. */
  skipped?: { setup: string; reason: string }[];
}

/** How one setup places and limits processes. */
export interface Launcher {
  readonly name: string;
  /** How the setup is enforced (for the report). */
  mode?: string;
  prepare(plan: ReplayPlan, budgetBytes: number): Promise<void>;
  /** The cgroup whose memory is the agent's (for monitoring). */
  agentCgroup(agent: AgentPlan): string;
  parentCgroup(): string;
  /**
   * Memory set aside for the agent now: a static cap (a container's limit
   * must be provisioned) or a guarantee (memory.low/min); null when none.
   */
  reservedBytes(agent: AgentPlan): number | null;
  spawn(agent: AgentPlan, proc: ProcessPlan, kind: "agent" | "call", index: number, allocArgs: string[]): Promise<Spawned>;
  cleanup(): Promise<void>;
}

export interface Spawned {
  child: ChildProcess;
  /** The policy's rule and class for the call, when a runtime chose them. */
  rule?: string;
  cls?: string;
  /** Called after the process exited (e.g. end the tool call in acgd); says whether the runtime killed it. */
  done?: () => Promise<{ killedBy: string | null } | null>;
}

/** Setups alone/none/static/hints: plain cgroup v2 files. */
export class CgroupLauncher implements Launcher {
  private root: string;
  constructor(
    readonly name: "alone" | "none" | "static" | "hints",
    private o: IsolationOptions,
    private binDir: string,
  ) {
    this.root = join(BENCH_CGROUP, name);
  }
  parentCgroup(): string {
    return this.root;
  }
  agentCgroup(a: AgentPlan): string {
    return join(this.root, a.id);
  }
  reservedBytes(a: AgentPlan): number | null {
    if (this.name !== "static") return null;
    const m = readCgNumber(this.agentCgroup(a), "memory.max");
    return m !== null && Number.isFinite(m) ? m : 0;
  }
  async prepare(plan: ReplayPlan, budgetBytes: number): Promise<void> {
    makeBudgetCgroup(this.root, budgetBytes);
    const lowShare = this.lowHigh(plan, budgetBytes);
    for (const a of plan.agents) {
      const d = this.agentCgroup(a);
      mkCg(d);
      enableControllers(d, ["memory", "cpu", "pids"]);
      if (this.name === "static") writeCg(d, "memory.max", staticCap(a, plan, this.o));
      if (this.name === "hints" && !a.highPriority) writeCg(d, "memory.high", lowShare);
    }
  }
  /** hints: the low-priority agents share what the budget leaves beyond the high agent's peak. */
  lowHigh(plan: ReplayPlan, budgetBytes: number): number {
    const high = plan.agents.find((a) => a.highPriority)!;
    const lows = plan.agents.filter((a) => !a.highPriority);
    const left = budgetBytes - staticCap(high, plan, this.o);
    const floor = Math.max(...lows.map((a) => a.medianBytes * plan.scale)) + this.o.slackBytes;
    return Math.max(floor, left / Math.max(1, lows.length));
  }
  async spawn(agent: AgentPlan, proc: ProcessPlan, kind: "agent" | "call", index: number, allocArgs: string[]): Promise<Spawned> {
    const leaf = join(this.agentCgroup(agent), kind === "agent" ? "agent" : `call${index}`);
    mkCg(leaf);
    return { child: spawnReplay(replayExe(this.binDir, proc, kind), allocArgs, leaf, proc) };
  }
  async cleanup(): Promise<void> {
    removeCgTree(this.root);
  }
}

/**
 * Setup policy:FILE: acgd enforces the compiled policy (scaled to the replay:
 * bytes by `scale`, trace-time durations by 1/speed). Each tool call is
 * started the way `acg run` starts one: a start_call request to acgd with the
 * trace's tool name and command (so the policy's matchers pick the rule and
 * class), the process placed in the cgroup acgd returns, end_call when it
 * exits. (The driver talks to acgd's API itself instead of exec-ing `acg run`
 * per call: under TCG a node start per call would take longer than many
 * compressed calls last.) The agent's own process lives in the agent's own
 * leaf, as the real agent would.
 */
export class AcgLauncher implements Launcher {
  readonly name: string;
  private daemon: ChildProcess | null = null;
  private client: import("../runtime/client.js").DaemonClient | null = null;
  private root: string;
  private socket: string;
  private daemonLog = "";
  mode = "";
  constructor(
    private policy: string,
    private o: IsolationOptions,
    private binDir: string,
  ) {
    const base = policy.replace(/^.*\//, "").replace(/\.acg$/, "");
    this.name = `policy:${base}`;
    this.root = join(BENCH_CGROUP, `policy-${base}`);
    this.socket = join(o.workDir, `acgd-${base}.sock`);
  }
  parentCgroup(): string {
    return this.root;
  }
  /** Tenant of each agent: with tenants in the policy, the high-priority agent in the first, the others in the last. */
  private tenants = new Map<string, string>();
  reservedBytes(a: AgentPlan): number | null {
    const d = this.agentCgroup(a);
    return Math.max(readCgNumber(d, "memory.low") ?? 0, readCgNumber(d, "memory.min") ?? 0);
  }
  agentCgroup(a: AgentPlan): string {
    return join(this.root, "tree", this.tenants.get(a.id) ?? NO_TENANT_DIR, a.id);
  }
  async prepare(plan: ReplayPlan, budgetBytes: number): Promise<void> {
    const { loadPolicyFrom } = await import("../runtime/policy-source.js");
    const { scalePolicyIR } = await import("./scale-policy.js");
    const { DaemonClient } = await import("../runtime/client.js");
    const loaded = loadPolicyFrom(this.policy);
    if (!loaded.ok) throw new Error(loaded.message);
    const ts = loaded.ir.tenants;
    if (ts.length) for (const a of plan.agents) this.tenants.set(a.id, (a.highPriority ? ts[0]! : ts[ts.length - 1]!).name);
    // A compiled dir made on the host for this scale (objects + manifest): acgd
    // attaches its sched_ext scheduler and enforces memory through cgroup v2.
    // Without one, only the lowered policy: --no-scheduler.
    const { scaledPolicyDir } = await import("./scale-policy.js");
    const scaled = JSON.stringify(scalePolicyIR(loaded.ir, plan.scale, plan.speed));
    const compiled = scaledPolicyDir(REPO, this.policy, plan.scale, plan.speed);
    let dir = compiled;
    const usable = existsSync(join(compiled, "manifest.json")) && existsSync(join(compiled, "ir.json")) && readFileSync(join(compiled, "ir.json"), "utf8").trim() === scaled;
    if (usable) this.mode = "compiled policy directory: sched_ext scheduler attached by acgd, memory through cgroup v2 files";
    else {
      dir = join(this.o.workDir, "policies", this.name.slice(7));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "ir.json"), scaled);
      this.mode = `lowered policy only (no compiled objects for this scale at ${compiled}): acgd --no-scheduler, memory through cgroup v2 files`;
    }
    makeBudgetCgroup(this.root, budgetBytes);
    rmSync(this.socket, { force: true });
    const acgd = join(REPO, "bin", "acgd.js");
    this.daemon = spawn(process.execPath, [acgd, "--policy", dir, "--socket", this.socket, "--cgroup-root", join(this.root, "tree"), ...(usable ? [] : ["--no-scheduler"])], { stdio: ["ignore", "ignore", "pipe"] });
    this.daemon.stderr?.on("data", (d: Buffer) => (this.daemonLog = (this.daemonLog + d.toString()).slice(-4000)));
    const exited = new Promise<string>((r) => this.daemon!.on("exit", (c) => r(`acgd exited with ${c}: ${this.daemonLog.trim().slice(-1000)}`)));
    for (let i = 0; i < 600 && !existsSync(this.socket); i++) {
      const e = await Promise.race([exited, sleep(100).then(() => null)]);
      if (e) throw new Error(e);
    }
    if (!existsSync(this.socket)) throw new Error(`acgd did not open ${this.socket} within 60 s: ${this.daemonLog.trim().slice(-500)}`);
    this.client = await DaemonClient.connect(this.socket);
  }
  async spawn(agent: AgentPlan, proc: ProcessPlan, kind: "agent" | "call", _index: number, allocArgs: string[]): Promise<Spawned> {
    const c = this.client!;
    const exe = replayExe(this.binDir, proc, kind);
    const argv = kind === "agent" ? ["agent"] : [safeName(proc.family), ...proc.argv.slice(1)];
    const tenant = this.tenants.get(agent.id);
    const started = (await c.request({ op: "start_call", ...(tenant ? { tenant } : {}), agent: agent.id, tool: kind === "agent" ? "Agent" : proc.tool, argv, path: exe })) as { call: string; cgroup: string; rule?: string; class?: string };
    let cg = started.cgroup.startsWith("/") ? started.cgroup : join(this.root, "tree", started.cgroup);
    let endNow = false;
    if (kind === "agent") {
      // The agent's own process goes to the agent's own leaf; the call only created the agent.
      cg = join(this.agentCgroup(agent), "agent");
      endNow = true;
    }
    const child = spawnReplay(exe, allocArgs, cg, proc);
    if (endNow) {
      await sleep(50);
      await c.request({ op: "end_call", call: started.call }).catch(() => {});
      return { child };
    }
    const info = { ...(started.rule ? { rule: started.rule } : {}), ...(started.class ? { cls: started.class } : {}) };
    return {
      child,
      ...info,
      done: async () => {
        const rep = (await c.request({ op: "end_call", call: started.call }).catch(() => null)) as { killedBy?: string | null } | null;
        return rep ? { killedBy: rep.killedBy ?? null } : null;
      },
    };
  }
  async cleanup(): Promise<void> {
    this.client?.close();
    if (this.daemon && this.daemon.exitCode === null) {
      this.daemon.kill("SIGTERM");
      await Promise.race([new Promise((r) => this.daemon!.on("exit", r)), sleep(5000)]);
    }
    await restoreDefaultScheduler();
    removeCgTree(this.root);
  }
}

/** The link a replay process starts through: named after its command family, so exe matchers see the traced call's program. */
function replayExe(binDir: string, proc: ProcessPlan, kind: "agent" | "call"): string {
  return join(binDir, kind === "agent" ? "agent" : safeName(proc.family));
}

/** The allocator replaying `proc` inside `cgroup`; the traced words after `--` (none for the agent) only show in its argv. */
function spawnReplay(exe: string, allocArgs: string[], cgroup: string, proc: ProcessPlan): ChildProcess {
  return spawn(exe, [...allocArgs, "--cgroup", cgroup, "--", ...proc.argv.slice(1)], { stdio: ["ignore", "ignore", "pipe"] });
}

function safeName(family: string): string {
  const s = family.replace(/[^A-Za-z0-9._+-]/g, "_");
  return s && s !== "." && s !== ".." ? s : "bash";
}

/** An agent's static cap: its trace's peak, scaled, plus the processes' own overhead. */
export function staticCap(a: AgentPlan, plan: ReplayPlan, o: Pick<IsolationOptions, "slackBytes">): number {
  return Math.ceil(a.peakBytes * plan.scale) + o.slackBytes;
}

export function budgetFor(plan: ReplayPlan, fraction: number, o: Pick<IsolationOptions, "slackBytes">): number {
  return Math.round(plan.concurrentPeakBytes * plan.scale * fraction + plan.agents.length * o.slackBytes);
}

/** Per-family symlinks to the allocator, so exe matchers see `pytest`, `git`, ... */
function makeBinDir(plan: ReplayPlan, dir: string, allocBin: string): void {
  mkdirSync(dir, { recursive: true });
  const names = new Set(["agent", ...plan.agents.flatMap((a) => a.calls.map((c) => safeName(c.family)))]);
  for (const n of names) {
    const p = join(dir, n);
    if (!existsSync(p)) symlinkSync(allocBin, p);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSetup(plan: ReplayPlan, launcher: Launcher, fraction: number, o: IsolationOptions, only?: AgentPlan[]): Promise<RunResult> {
  const budgetBytes = budgetFor(plan, fraction, o);
  const errors: string[] = [];
  const agents = only ?? plan.agents;
  const logDir = join(o.workDir, "logs", `${launcher.name.replace(/[^A-Za-z0-9_-]/g, "_")}-${fraction}`);
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const curveDir = join(o.workDir, "curves");
  await launcher.prepare(plan, budgetBytes);
  const procs: ProcRecord[] = [];
  const t0 = performance.now();
  const now = () => (performance.now() - t0) / 1000;
  const minDelay = Math.min(...agents.map((a) => a.delay));
  const live = new Map<ChildProcess, ProcRecord>();
  const dead = new Set<string>();
  const agentDone: Promise<void>[] = [];
  const allocArgs = (name: string) => [
    "--curve", join(curveDir, `${name}.txt`),
    "--speed", String(plan.speed),
    "--scale", String(plan.scale),
    "--chunk", String(o.chunkBytes),
    "--out", join(logDir, `${name}.jsonl`),
    "--label", name,
  ];
  const startProc = async (a: AgentPlan, p: ProcessPlan, kind: "agent" | "call", index: number, planned: number): Promise<ProcRecord> => {
    const name = kind === "agent" ? `${a.id}-agent` : `${a.id}-call${index}`;
    const rec: ProcRecord = { agent: a.id, kind, index, family: p.family, plannedStart: planned, start: now(), end: null, nominalS: (p.end - p.start) / plan.speed, status: "failed", exitCode: null, signal: null, latP50Us: null, steps: 0 };
    procs.push(rec);
    let child: ChildProcess;
    let done: Spawned["done"];
    try {
      const sp = await launcher.spawn(a, p, kind, index, allocArgs(name));
      child = sp.child;
      done = sp.done;
      if (sp.rule) rec.rule = sp.rule;
      if (sp.cls) rec.cls = sp.cls;
    } catch (e) {
      errors.push(`${name}: spawn failed: ${e instanceof Error ? e.message : String(e)}`);
      return rec;
    }
    live.set(child, rec);
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    return new Promise((res) => {
      child.on("error", (e) => {
        errors.push(`${name}: ${e.message}`);
        live.delete(child);
        res(rec);
      });
      child.on("exit", (code, signal) => {
        live.delete(child);
        rec.end = now();
        rec.exitCode = code;
        rec.signal = signal;
        rec.status = code === 0 ? "completed" : signal === "SIGKILL" ? "oom-killed" : signal === "SIGTERM" || code === 143 ? "killed" : "failed";
        const settle = (killedBy: string | null) => {
          if (rec.status === "oom-killed" && killedBy) rec.status = "policy-killed";
          if (rec.status === "failed") errors.push(`${name}: exit ${code} ${signal ?? ""} ${stderr.trim().slice(0, 300)}`);
          if (rec.status === "oom-killed") dead.add(a.id);
          res(rec);
        };
        if (done) done().then((r) => settle(r?.killedBy ?? null), () => settle(null));
        else settle(null);
      });
    });
  };
  // Curves are written once per plan (same files for every setup).
  for (const a of agents) {
    mkdirSync(curveDir, { recursive: true });
    writeFileSync(join(curveDir, `${a.id}-agent.txt`), curveText(a.base));
    a.calls.forEach((c, i) => writeFileSync(join(curveDir, `${a.id}-call${i}.txt`), curveText(c)));
  }
  // Monitor.
  const timeline: RunResult["timeline"] = [];
  let monitoring = true;
  const monitor = (async () => {
    while (monitoring) {
      timeline.push({
        t: now(),
        used: agents.map((a) => readCgNumber(launcher.agentCgroup(a), "memory.current") ?? 0),
        reserved: agents.map((a) => {
          const r = launcher.reservedBytes(a);
          // An agent whose cgroup does not exist yet (acgd creates it at its first call) reserves nothing.
          return r === null ? null : readCgNumber(launcher.agentCgroup(a), "memory.current") === null ? 0 : Math.min(r, budgetBytes);
        }),
        parent: readCgNumber(launcher.parentCgroup(), "memory.current") ?? 0,
      });
      await sleep(o.sampleMs);
    }
  })();
  // Agents.
  for (const a of agents) {
    agentDone.push(
      (async () => {
        const startAt = (a.delay - minDelay) / plan.speed;
        await sleep(startAt * 1000);
        const base = startProc(a, a.base, "agent", 0, startAt);
        let shift = 0; // lateness of finished calls: the agent waits for each result
        const calls: Promise<ProcRecord>[] = [];
        let prevPlannedEnd = 0;
        for (let i = 0; i < a.calls.length; i++) {
          const c = a.calls[i]!;
          const prev = calls[calls.length - 1];
          // Sequential calls (the previous one ended before this one started in
          // the trace): wait for its result and carry its lateness forward.
          if (prev && a.calls[i - 1]!.end <= c.start) {
            const pr = await prev;
            if (pr.end !== null) shift += Math.max(0, pr.end - prevPlannedEnd);
          }
          if (dead.has(a.id)) break;
          const planned = startAt + c.start / plan.speed + shift;
          const wait = planned - now();
          if (wait > 0) await sleep(wait * 1000);
          if (dead.has(a.id)) break;
          prevPlannedEnd = planned + (c.end - c.start) / plan.speed;
          calls.push(startProc(a, c, "call", i, planned));
        }
        await Promise.all(calls);
        await base;
      })(),
    );
  }
  // Kill an agent's remaining processes once it has been OOM-killed (the agent has failed).
  const reaper = (async () => {
    while (monitoring) {
      for (const [ch, r] of live) if (dead.has(r.agent)) ch.kill("SIGTERM");
      await sleep(100);
    }
  })();
  const limitS = (plan.span / plan.speed) * o.limitFactor + 15;
  const all = Promise.all(agentDone);
  let limitTimer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (limitTimer = setTimeout(() => r(true), limitS * 1000)))]);
  clearTimeout(limitTimer);
  if (timedOut) {
    errors.push(`run did not finish within ${limitS.toFixed(0)} s; killing what is left`);
    for (const ch of live.keys()) ch.kill("SIGTERM");
    await Promise.race([all, sleep(5000)]);
  }
  const wallS = now();
  monitoring = false;
  await monitor;
  await reaper;
  // Results per agent.
  const results: AgentResult[] = agents.map((a) => {
    const cg = launcher.agentCgroup(a);
    const ev = readCgKeyed(cg, "memory.events");
    const psi = readPressure(cg);
    const mine = procs.filter((p) => p.agent === a.id);
    const lats: number[] = [];
    for (const p of mine) {
      const name = p.kind === "agent" ? `${a.id}-agent` : `${a.id}-call${p.index}`;
      let text = "";
      try {
        text = readFileSync(join(logDir, `${name}.jsonl`), "utf8");
      } catch {
        continue;
      }
      const log = parseAllocLog(text);
      for (const g of log.grows) lats.push(g.lat_us);
      p.steps = log.grows.length;
      p.latP50Us = log.summary?.lat_p50_us ?? (log.grows.length ? quantile(log.grows.map((g) => g.lat_us), 0.5) : null);
    }
    const idx = agents.indexOf(a);
    const used = timeline.map((s) => s.used[idx] ?? 0);
    const reserved = timeline.map((s) => s.reserved[idx] ?? null);
    const hasRes = reserved.some((r) => r !== null);
    const resAvg = hasRes ? reserved.reduce<number>((s, r) => s + (r ?? 0), 0) / Math.max(1, reserved.length) : null;
    const idleAvg = hasRes ? reserved.reduce<number>((s, r, i) => s + Math.max(0, (r ?? 0) - (used[i] ?? 0)), 0) / Math.max(1, reserved.length) : null;
    const usedAvg = used.reduce((s, x) => s + x, 0) / Math.max(1, used.length);
    const oomKilled = mine.filter((p) => p.status === "oom-killed").length;
    // An agent that never ran (its own process could not start, e.g. refused by the policy) did not survive either.
    const ran = mine.some((p) => p.kind === "agent" && p.status !== "failed");
    const survived = ran && oomKilled === 0 && (ev["oom_kill"] ?? 0) === 0;
    const finished = mine.every((p) => p.status !== "killed" || dead.has(a.id)) && mine.every((p) => p.end !== null && p.end < limitS);
    const start = Math.min(...mine.map((p) => p.start));
    const end = Math.max(...mine.map((p) => p.end ?? wallS));
    const completionS = survived && finished ? end - start : null;
    const nominalS = a.duration / plan.speed;
    return {
      id: a.id,
      run: a.run,
      high: a.highPriority,
      survived,
      ran,
      finished,
      oomKills: Math.max(oomKilled, ev["oom_kill"] ?? 0),
      callsPlanned: a.calls.length,
      callsCompleted: mine.filter((p) => p.kind === "call" && p.status === "completed").length,
      callsKilled: mine.filter((p) => p.kind === "call" && (p.status === "oom-killed" || p.status === "killed")).length,
      callsPolicyKilled: mine.filter((p) => p.kind === "call" && p.status === "policy-killed").length,
      completionS,
      nominalS,
      slowdown: completionS === null ? null : completionS / nominalS,
      latency: { n: lats.length, p50Us: quantile(lats, 0.5), p95Us: quantile(lats, 0.95), p99Us: quantile(lats, 0.99), maxUs: lats.length ? Math.max(...lats) : NaN },
      latencyCdf: CDF_QS.filter(() => lats.length > 0).map((q) => [q, quantile(lats, q)]),
      memStallSomeUs: psi.someUs,
      memStallFullUs: psi.fullUs,
      ownLimitOoms: ev["oom"] ?? 0,
      highEvents: ev["high"] ?? 0,
      maxEvents: ev["max"] ?? 0,
      peakUsedBytes: readCgNumber(cg, "memory.peak") ?? Math.max(0, ...used),
      reservedAvgBytes: resAvg,
      usedAvgBytes: usedAvg,
      wasteFraction: resAvg && idleAvg !== null ? idleAvg / resAvg : null,
      limits: { max: finiteOrNull(readCgNumber(cg, "memory.max")), high: finiteOrNull(readCgNumber(cg, "memory.high")) },
    };
  });
  const parentEvents = readCgKeyed(launcher.parentCgroup(), "memory.events");
  await launcher.cleanup();
  return { setup: launcher.name, budgetFraction: fraction, budgetBytes, wallS, agents: results, procs, timeline, parentEvents, ...(launcher.mode ? { mode: launcher.mode } : {}), timedOut, limitS, errors };
}

const CDF_QS = [...Array.from({ length: 50 }, (_, i) => i / 50), 0.97, 0.98, 0.99, 0.995, 0.999, 1];

function finiteOrNull(x: number | null): number | null {
  return x !== null && Number.isFinite(x) ? x : null;
}

/** policy:policies/X.acg for every policy the project ships. */
function shippedPolicies(repo: string): string[] {
  try {
    return readdirSync(join(repo, "policies")).filter((f) => f.endsWith(".acg")).sort().map((f) => `policy:policies/${f}`);
  } catch {
    return [];
  }
}

export function parseArgs(argv: string[]): IsolationOptions {
  const here = dirname(fileURLToPath(import.meta.url));
  const repo = resolve(here, "..", "..");
  const o: IsolationOptions = {
    setups: ["alone", "none", "static", "hints", ...shippedPolicies(repo)],
    budgets: [0.7, 0.83],
    speed: 30,
    scale: 1 / 64,
    agents: 3,
    seed: 1,
    traceDir: defaultTraceDir(),
    outFile: join(repo, "bench", "results", "isolation.json"),
    workDir: "/tmp/acg-bench",
    allocBin: join(repo, "dist", "bench", "alloc", "acg-alloc"),
    slackBytes: 2 * MiB,
    chunkBytes: 256 * 1024,
    sampleMs: 100,
    limitFactor: 3,
  };
  const num = (s: string | undefined, what: string): number => {
    const m = /^(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)$/.exec(s ?? "");
    const v = m ? Number(m[1]) / Number(m[2]) : Number(s);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${what}: expected a positive number, got '${s}'`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => argv[++i];
    switch (a) {
      case "--setups": o.setups = (v() ?? "").split(",").filter(Boolean); break;
      case "--budgets": o.budgets = (v() ?? "").split(",").map((x) => num(x, "--budgets")); break;
      case "--speed": o.speed = num(v(), a); break;
      case "--scale": o.scale = num(v(), a); break;
      case "--agents": o.agents = num(v(), a); break;
      case "--seed": o.seed = num(v(), a); break;
      case "--traces": o.traceDir = v() ?? o.traceDir; break;
      case "--out": o.outFile = resolve(v() ?? o.outFile); break;
      case "--work": o.workDir = v() ?? o.workDir; break;
      case "--alloc": o.allocBin = resolve(v() ?? o.allocBin); break;
      case "--slack": o.slackBytes = num(v(), a); break;
      case "--chunk": o.chunkBytes = num(v(), a); break;
      case "--max-seconds": o.maxSeconds = num(v(), a); break;
      case "--acg": o.acg = v(); break;
      case "--plan": o.planFile = v(); break;
      case "--append": o.append = true; break;
      case "--no-timeline": o.noTimeline = true; break;
      case "--limit-factor": o.limitFactor = num(v(), a); break;
      default: throw new Error(`unknown argument '${a}'`);
    }
  }
  return o;
}

export function planFor(o: IsolationOptions): ReplayPlan {
  return buildPlan({ traceDir: o.traceDir, agents: o.agents, speed: o.speed, scale: o.scale, seed: o.seed, ...(o.maxSeconds ? { maxSeconds: o.maxSeconds } : {}) });
}

export async function runIsolation(o: IsolationOptions, log: (s: string) => void = (s) => process.stderr.write(s + "\n")): Promise<IsolationResult> {
  if (!memoryControllerAvailable()) throw new Error("cgroup v2 has no memory controller here: run this in the guest (scripts/guest-run.sh)");
  if (!existsSync(o.allocBin)) throw new Error(`allocator not built: ${o.allocBin} (run bench/alloc/build.sh)`);
  const plan: ReplayPlan = o.planFile ? (JSON.parse(readFileSync(o.planFile, "utf8")) as ReplayPlan) : planFor(o);
  if (!o.planFile) for (const w of plan.warnings) log(`warning: ${w}`);
  rmSync(o.workDir, { recursive: true, force: true });
  const binDir = join(o.workDir, "bin");
  makeBinDir(plan, binDir, o.allocBin);
  // Setups without a policy run on the kernel's own scheduler, whatever ran before.
  await restoreDefaultScheduler();
  const runs: RunResult[] = [];
  const skipped: { setup: string; reason: string }[] = [];
  for (const setup of o.setups) {
    if (setup.startsWith("policy:")) {
      // A policy that admits fewer agents than the experiment runs cannot take part.
      const { loadPolicyFrom } = await import("../runtime/policy-source.js");
      const l = loadPolicyFrom(setup.slice("policy:".length));
      if (!l.ok) {
        skipped.push({ setup, reason: l.message.split("\n")[0]! });
        continue;
      }
      // Agents without a tenant use profile 0; with tenants, the high agent goes to the first, the rest to the last.
      const ir = l.ir;
      const profileOf = (tenantId: number | null) => (tenantId === null ? ir.agentProfiles[0] : ir.agentProfiles.find((p) => p.tenantId === tenantId) ?? ir.agentProfiles[0]);
      const demand = new Map<number, number>();
      for (const a of plan.agents) {
        const tid = ir.tenants.length ? (a.highPriority ? 0 : ir.tenants.length - 1) : null;
        const prof = profileOf(tid);
        if (prof) demand.set(prof.id, (demand.get(prof.id) ?? 0) + 1);
      }
      const short = [...demand].find(([pid, n]) => (ir.agentProfiles.find((p) => p.id === pid)?.maxAgents ?? Infinity) < n);
      if (short) {
        const maxAgents = ir.agentProfiles.find((p) => p.id === short[0])!.maxAgents;
        const reason = `admits at most ${maxAgents} agent(s) of a profile at once (max_agents; ${short[1]} needed${ir.tenants.length ? "" : ", no agent block: the built-in default"})`;
        log(`isolation: ${setup} skipped: ${reason}`);
        skipped.push({ setup, reason });
        continue;
      }
    }
    const fractions = setup === "alone" ? [Math.max(...o.budgets)] : o.budgets;
    for (const f of fractions) {
      const launcher: Launcher =
        setup === "alone" || setup === "none" || setup === "static" || setup === "hints"
          ? new CgroupLauncher(setup, o, binDir)
          : setup.startsWith("policy:")
            ? new AcgLauncher(setup.slice("policy:".length), o, binDir)
            : (() => {
                throw new Error(`unknown setup '${setup}'`);
              })();
      const only = setup === "alone" ? plan.agents.filter((a) => a.highPriority) : undefined;
      log(`isolation: ${launcher.name} at ${f} of the concurrent peak (${(budgetFor(plan, f, o) / MiB).toFixed(1)} MiB)...`);
      try {
        const r = await runSetup(plan, launcher, f, o, only);
        runs.push(r);
        log(`  ${r.wallS.toFixed(1)} s; survived ${r.agents.filter((a) => a.survived).length}/${r.agents.length}; ` + r.agents.map((a) => `${a.id}${a.high ? "*" : ""} p95 ${(a.latency.p95Us / 1000).toFixed(2)} ms`).join(", ") + (r.errors.length ? `; ${r.errors.length} error(s): ${r.errors.slice(0, 3).join(" | ")}` : ""));
      } catch (e) {
        log(`  failed: ${e instanceof Error ? e.message : String(e)}`);
        await launcher.cleanup().catch(() => {});
      }
    }
  }
  removeCgTree(BENCH_CGROUP);
  const { outFile: _o, workDir: _w, allocBin: _a, ...options } = o;
  return {
    kind: "isolation",
    date: new Date().toISOString(),
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    options,
    plan: {
      span: plan.span,
      concurrentPeakBytes: plan.concurrentPeakBytes,
      sumOfPeaksBytes: plan.sumOfPeaksBytes,
      agents: plan.agents.map((a) => ({
        id: a.id,
        run: a.run,
        high: a.highPriority,
        delay: a.delay,
        duration: a.duration,
        peakBytes: a.peakBytes,
        medianBytes: a.medianBytes,
        calls: a.calls.length,
        callFamilies: a.calls.reduce<Record<string, number>>((m, c) => ((m[c.family] = (m[c.family] ?? 0) + 1), m), {}),
        callTimes: a.calls.map((c) => ({ start: c.start, end: c.end, family: c.family })),
      })),
    },
    runs,
    skipped,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  try {
    const o = parseArgs(process.argv.slice(2));
    const r = await runIsolation(o);
    mkdirSync(dirname(o.outFile), { recursive: true });
    if (o.append && existsSync(o.outFile)) {
      // Merge into an earlier result of the same plan: these runs replace the same setup and budget.
      const old = JSON.parse(readFileSync(o.outFile, "utf8")) as IsolationResult;
      const key = (x: RunResult) => `${x.setup} ${x.budgetFraction}`;
      const fresh = new Set(r.runs.map(key));
      r.runs = [...old.runs.filter((x) => !fresh.has(key(x))), ...r.runs];
      r.skipped = [...(old.skipped ?? []).filter((x) => !r.skipped?.some((y) => y.setup === x.setup)), ...(r.skipped ?? [])];
      r.options = { ...old.options, setups: [...new Set([...old.options.setups, ...r.options.setups])] };
    }
    if (o.noTimeline) for (const run of r.runs) run.timeline = [];
    writeFileSync(o.outFile, JSON.stringify(r, (_k, v) => (typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v)) + "\n");
    process.stderr.write(`isolation: wrote ${o.outFile}\n`);
  } catch (e) {
    process.stderr.write(`isolation: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}

/** A fresh cgroup at `root` holding the experiment's memory budget (no swap), controllers delegated. */
function makeBudgetCgroup(root: string, budgetBytes: number): void {
  const top = dirname(root);
  mkCg(top);
  enableControllers(CGROUP_ROOT, ["memory", "cpu", "pids"]);
  enableControllers(top, ["memory", "cpu", "pids"]);
  removeCgTree(root);
  mkCg(root);
  writeCg(root, "memory.max", budgetBytes);
  writeCg(root, "memory.swap.max", 0);
  enableControllers(root, ["memory", "cpu", "pids"]);
}
