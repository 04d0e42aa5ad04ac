// The isolation experiment: several agents replay their traces concurrently
// under one memory budget (memory.max of a parent cgroup), once per setup and
// seed, for one or more trace combinations (bench/plan.ts COMBOS):
//
//   alone   the high-priority agent by itself (the reference for its slowdown)
//   none    no per-agent control, only the shared budget
//   static  every agent capped (memory.max) at its own trace's peak: a container limit
//   hints   the high-priority agent unlimited, the others with a fixed memory.high
//           (the published prototype's setup)
//   oomd    an oomd-like killer in this driver: when the budget's usage or
//           pressure crosses a threshold, kill the largest low-priority agent
//           cgroup (what users would otherwise deploy; OomdKiller)
//   policy:FILE  a compiled policy enforced by acgd, every tool call started
//           through acgd's API as `acg run` does (AcgLauncher)
//
// Runs as root where cgroup v2 has the memory controller (the guest):
//   node dist/bench/isolation.js --combo aligned-3[,gentle-3,..] [--seeds 1,2,3] [--setups none,static,...]
//        [--speed 10] [--scale 1/8] [--max-seconds 60] [--plans-dir DIR] [--out-dir DIR] [--traces DIR]
//
// Setups run outermost, so that each policy's acgd starts once for all the
// combinations (it follows the budget's memory.max from one to the next);
// each combination's results go to OUT_DIR/isolation-COMBO.json, written
// again after every setup.

import { setTimeout as sleep } from "node:timers/promises";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllocLog } from "./alloc-log.js";
import {
  CGROUP_ROOT,
  enableControllers,
  memoryControllerAvailable,
  mkCg,
  readCg,
  readCgKeyed,
  readCgNumber,
  readPressure,
  removeCgTree,
  writeCg,
} from "./cgroupfs.js";
import {
  comboByName,
  curveText,
  planCombo,
  type AgentPlan,
  type Combo,
  type ComboPlans,
  type ProcessPlan,
  type ReplayPlan,
} from "./plan.js";
import { machineLag, parseOomLog, rejectedForLag, workLostSeconds, type CallOutcome, type ProcessTiming } from "./replay-stats.js";
import { defaultTraceDir, quantile } from "../traces/read.js";
import { restoreDefaultScheduler } from "./sched-ext.js";
import type { EventsResult } from "../runtime/event-stream.js";

const MiB = 1024 * 1024;
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** acgd's directory for agents outside any tenant (runtime/tool-calls.ts NO_TENANT). */
const NO_TENANT_DIR = "default";
/** This run's cgroups, one sub-tree per setup. */
const BENCH_CGROUP = join(CGROUP_ROOT, `acg-bench-${process.pid}`);

export interface IsolationOptions {
  setups: string[];
  /** The trace combinations (bench/plan.ts COMBOS), in the order they run within each setup. */
  combos: string[];
  seeds: number[];
  speed: number;
  scale: number;
  traceDir: string;
  /** Where isolation-COMBO.json files go. */
  outDir: string;
  workDir: string;
  allocBin: string;
  chunkBytes: number;
  /** acg-alloc: fault pages in one by one instead of MADV_POPULATE_WRITE; back chunks with transparent huge pages. */
  touch: boolean;
  hugepage: boolean;
  sampleMs: number;
  /** A run is stopped after limitFactor x its nominal length + 5 s. */
  limitFactor: number;
  /** Cut each agent's trace to this many trace seconds around its peak. */
  maxSeconds: number;
  /** A directory of plans-COMBO.json.tmp written on the host (skips reading the traces in the guest). */
  plansDir?: string;
}

export interface ProcRecord {
  agent: string;
  kind: "agent" | "call";
  index: number;
  family: string;
  pid: number | null;
  /** Wall seconds after the run's start. */
  plannedStart: number;
  start: number;
  end: number | null;
  nominalS: number;
  /** Trace seconds of the process (for work lost). */
  traceS: number;
  /**
   * oom-killed: SIGKILL by the kernel's OOM killer (the agent fails);
   * runtime-killed: the runtime (acgd) killed the call and told the agent, which goes on; for the
   *   agent's own process, acgd's ladder killed the agent whole (kill_agent: the agent fails);
   * baseline-killed: the oomd-like killer killed the agent's cgroup (the agent fails);
   * killed: stopped by the driver (its agent had failed, or the time limit).
   */
  status: "completed" | "oom-killed" | "runtime-killed" | "baseline-killed" | "killed" | "failed";
  killedBy?: string;
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
  /** Ran, and none of its processes was killed by the kernel's OOM killer, nor its cgroup by the oomd-like killer or acgd's kill_agent. */
  survived: boolean;
  /** Its own process started (false: refused or failed to start). */
  ran: boolean;
  /** All its processes ended before the run's time limit (a throttled agent may stall). */
  finished: boolean;
  /** Its processes the kernel OOM-killed (SIGKILL not sent by a runtime or the baseline killer; memory.events oom_kill). */
  oomKills: number;
  /** The oomd-like killer killed this agent. */
  baselineKilled: boolean;
  /** acgd's ladder killed this agent whole (kill_agent); absent in results recorded before that step existed. */
  runtimeKilledWhole?: boolean;
  callsPlanned: number;
  callsCompleted: number;
  /** Calls stopped by a kernel OOM kill, the baseline killer or the driver. */
  callsKilled: number;
  /** Calls the runtime killed (acgd: over_high kill, the ladder's kill): the agent is told and goes on. */
  callsRuntimeKilled: number;
  callsNotStarted: number;
  /** Trace seconds of killed calls plus calls never started. */
  workLostS: number;
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
  /** The agent's own process against its trace (for the replay-lag check). */
  timing: ProcessTiming | null;
  limits: { max: number | null; high: number | null };
}

export interface OomEpisodeRecord {
  oomMemcg: string | null;
  group: boolean;
  victims: { pid: number; comm: string; agent: string | null; high: boolean }[];
}

export interface RunResult {
  setup: string;
  combo: string;
  seed: number;
  budgetBytes: number;
  wallS: number;
  agents: AgentResult[];
  /** Kept for the first seed only (plots); later seeds keep the per-agent figures. */
  procs: ProcRecord[];
  /** Samples: t (s), per-agent used bytes, parent used. First seed only. */
  timeline: { t: number; used: number[]; parent: number }[];
  parentEvents: Record<string, number>;
  /** The kernel's OOM episodes during the run, from its log; null when the log could not be read. */
  oomEpisodes: OomEpisodeRecord[] | null;
  /** The replay's own lag behind its trace (fraction; replay-stats.ts replayLag). */
  replayLag: number | null;
  /** Lag over MAX_REPLAY_LAG: the run's timing is not the trace's; left out of the pooled figures. */
  rejected: boolean;
  /** How the setup was enforced (policy setups). */
  mode?: string;
  /** What acgd's ladder did during the run (its pressure and killed events), t in s from the run's start: the why of each kill. */
  runtimeActions?: RuntimeAction[];
  /** The run hit its time limit (limitS) and what was left was stopped. */
  timedOut: boolean;
  limitS: number;
  errors: string[];
}

export interface PlanSummary {
  seed: number;
  span: number;
  concurrentPeakBytes: number;
  sumOfPeaksBytes: number;
  agents: {
    id: string;
    run: string;
    high: boolean;
    delay: number;
    duration: number;
    peakBytes: number;
    medianBytes: number;
    calls: number;
    callFamilies: Record<string, number>;
  }[];
}

export interface IsolationResult {
  kind: "isolation";
  date: string;
  kernel: string;
  combo: Combo;
  options: Omit<IsolationOptions, "combos" | "outDir" | "workDir" | "allocBin" | "plansDir"> & { combo: string };
  budgetBasisBytes: number;
  budgetBytes: number;
  /** Measured memory of one idle replay process (binary, libc, stack, page tables), charged to its cgroup. */
  processOverheadBytes: number;
  /** Per agent: processOverheadBytes x the most processes it has at once. */
  agentOverheadBytes: Record<string, number>;
  plans: PlanSummary[];
  runs: RunResult[];
  /** Setups that could not take part, and why. */
  skipped?: { setup: string; reason: string }[];
}

export interface RuntimeAction {
  t: number;
  kind: string;
  message: string;
}

/** How one setup places and limits processes. */
export interface Launcher {
  readonly name: string;
  /** How the setup is enforced (for the report). */
  mode?: string;
  /** Before each run (a daemon is started once and kept for the setup's later runs). */
  prepare(plan: ReplayPlan, budgetBytes: number): Promise<void>;
  /** The cgroup whose memory is the agent's (for monitoring). */
  agentCgroup(agent: AgentPlan): string;
  parentCgroup(): string;
  spawn(agent: AgentPlan, proc: ProcessPlan, kind: "agent" | "call", index: number, allocArgs: string[]): Promise<Spawned>;
  /** The agent was killed whole by the setup itself (the oomd-like killer). */
  killedAgent?(agent: AgentPlan): boolean;
  /** What the runtime did since `sinceMs` (epoch ms), for a setup run by acgd. */
  runtimeActions?(sinceMs: number): Promise<RuntimeAction[]>;
  /** After each run. */
  cleanup(): Promise<void>;
  /** After the setup's last run. */
  shutdown(): Promise<void>;
}

export interface Spawned {
  child: ChildProcess;
  /** The policy's rule and class for the call, when a runtime chose them. */
  rule?: string;
  cls?: string;
  /**
   * Called after the process exited (e.g. end the tool call in acgd); says
   * whether the runtime killed it (for an agent's own process: its agent, whole).
   */
  done?: () => Promise<{ killedBy: string | null } | null>;
}

/** Bytes the replay's own processes add to an agent beyond its trace (measured; see measureProcessOverhead). */
export type AgentOverhead = (a: AgentPlan) => number;

/** Setups alone/none/static/hints/oomd: plain cgroup v2 files. */
export class CgroupLauncher implements Launcher {
  private root: string;
  private killer: OomdKiller | null = null;
  constructor(
    readonly name: "alone" | "none" | "static" | "hints" | "oomd",
    private overhead: AgentOverhead,
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
  async prepare(plan: ReplayPlan, budgetBytes: number): Promise<void> {
    makeBudgetCgroup(this.root, budgetBytes);
    const lowShare = this.lowHigh(plan, budgetBytes);
    for (const a of plan.agents) {
      const d = this.agentCgroup(a);
      mkCg(d);
      enableControllers(d, ["memory", "cpu", "pids"]);
      if (this.name === "static") writeCg(d, "memory.max", staticCap(a, plan, this.overhead));
      if (this.name === "hints" && !a.highPriority) writeCg(d, "memory.high", lowShare);
    }
    if (this.name === "oomd") {
      this.killer = new OomdKiller(
        this.root,
        budgetBytes,
        plan.agents.filter((a) => !a.highPriority).map((a) => ({ id: a.id, cgroup: this.agentCgroup(a) })),
      );
      this.killer.start();
    }
  }
  /** hints: the low-priority agents share what the budget leaves beyond the high agent's peak. */
  lowHigh(plan: ReplayPlan, budgetBytes: number): number {
    const high = plan.agents.find((a) => a.highPriority)!;
    const lows = plan.agents.filter((a) => !a.highPriority);
    const left = budgetBytes - staticCap(high, plan, this.overhead);
    const floor = Math.max(...lows.map((a) => a.medianBytes * plan.scale + this.overhead(a)));
    return Math.max(floor, left / Math.max(1, lows.length));
  }
  async spawn(agent: AgentPlan, proc: ProcessPlan, kind: "agent" | "call", index: number, allocArgs: string[]): Promise<Spawned> {
    const leaf = join(this.agentCgroup(agent), kind === "agent" ? "agent" : `call${index}`);
    mkCg(leaf);
    return { child: spawnReplay(replayExe(this.binDir, proc, kind), allocArgs, leaf, proc) };
  }
  killedAgent(a: AgentPlan): boolean {
    return this.killer?.killed.has(a.id) ?? false;
  }
  async cleanup(): Promise<void> {
    await this.killer?.stop();
    this.killer = null;
    removeCgTree(this.root);
  }
  async shutdown(): Promise<void> {
    removeCgTree(this.root);
  }
}

/**
 * The baseline users would deploy instead of AgentCgroup: an oomd-like killer
 * (systemd-oomd, Meta's oomd, earlyoom) watching the budget's cgroup. Every
 * POLL_MS it reads the budget's memory.current and its memory.pressure
 * "some" avg10; when usage reaches USAGE_KILL of the budget or the pressure
 * reaches PRESSURE_KILL, it kills (cgroup.kill) the low-priority agent cgroup
 * using the most memory, then waits COOLDOWN_MS before acting again. It is
 * generous to the baseline: oomd's defaults poll once a second and want
 * pressure held for tens of seconds; a replay at 10x needs faster.
 * The high-priority agent is never a candidate (what a user would configure).
 */
export class OomdKiller {
  static readonly POLL_MS = 100;
  static readonly USAGE_KILL = 0.9;
  static readonly PRESSURE_KILL = 10;
  static readonly COOLDOWN_MS = 1000;
  readonly killed = new Set<string>();
  readonly actions: { t: number; agent: string; usedBytes: number; reason: string }[] = [];
  private running = false;
  private loop: Promise<void> | null = null;
  constructor(
    private budgetCgroup: string,
    private budgetBytes: number,
    private candidates: { id: string; cgroup: string }[],
  ) {}
  start(): void {
    this.running = true;
    const t0 = performance.now();
    this.loop = (async () => {
      while (this.running) {
        const used = readCgNumber(this.budgetCgroup, "memory.current") ?? 0;
        const avg10 = Number(/^some avg10=(\d+(?:\.\d+)?)/m.exec(readCg(this.budgetCgroup, "memory.pressure") ?? "")?.[1] ?? 0);
        const reason =
          used >= OomdKiller.USAGE_KILL * this.budgetBytes
            ? `usage ${(used / MiB).toFixed(1)} MiB >= ${OomdKiller.USAGE_KILL * 100}% of the budget`
            : avg10 >= OomdKiller.PRESSURE_KILL
              ? `memory pressure some avg10 ${avg10}%`
              : null;
        if (reason) {
          const live = this.candidates
            .filter((c) => !this.killed.has(c.id))
            .map((c) => ({ ...c, used: readCgNumber(c.cgroup, "memory.current") ?? 0 }))
            .sort((x, y) => y.used - x.used);
          const victim = live[0];
          if (victim && victim.used > 0) {
            this.killed.add(victim.id);
            this.actions.push({ t: (performance.now() - t0) / 1000, agent: victim.id, usedBytes: victim.used, reason });
            try {
              writeCg(victim.cgroup, "cgroup.kill", "1");
            } catch {
              /* the cgroup went away: nothing left to kill */
            }
            await sleep(OomdKiller.COOLDOWN_MS);
            continue;
          }
        }
        await sleep(OomdKiller.POLL_MS);
      }
    })();
  }
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
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
  startS = 0;
  constructor(
    readonly policy: string,
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
  /** Runs so far: acgd runs through all of a setup's combinations and seeds, each run with agents of its own. */
  private run = 0;
  private agentName(a: AgentPlan): string {
    return `${a.id}-r${this.run}`;
  }
  agentCgroup(a: AgentPlan): string {
    return join(this.root, "tree", this.tenants.get(a.id) ?? NO_TENANT_DIR, this.agentName(a));
  }
  async prepare(plan: ReplayPlan, budgetBytes: number): Promise<void> {
    this.run++;
    if (!this.daemon) await this.start(plan, budgetBytes);
    else if (this.daemon.exitCode !== null)
      throw new Error(`acgd exited with ${this.daemon.exitCode}: ${this.daemonLog.trim().slice(-1000)}`);
    else await this.setBudget(budgetBytes);
    this.tenants.clear();
    if (this.tenantNames.length)
      for (const a of plan.agents)
        this.tenants.set(a.id, a.highPriority ? this.tenantNames[0]! : this.tenantNames[this.tenantNames.length - 1]!);
  }
  private tenantNames: string[] = [];
  private askHighRank = false;
  /** Starts acgd once per setup, on the budget's cgroup (its ladder's host budget is that cgroup's memory.max). */
  private async start(plan: ReplayPlan, budgetBytes: number): Promise<void> {
    const { loadPolicyFrom } = await import("../runtime/policy-source.js");
    const { scalePolicyIR } = await import("./scale-policy.js");
    const { DaemonClient } = await import("../runtime/client.js");
    const loaded = loadPolicyFrom(this.policy);
    if (!loaded.ok) throw new Error(loaded.message);
    this.tenantNames = loaded.ir.tenants.map((t) => t.name);
    // The high-priority agent asks for rank=high (as an orchestrator marking the
    // agent a person watches would) where its profile's intent allows it.
    const highTenant = loaded.ir.tenants[0];
    const profile =
      (highTenant ? loaded.ir.agentProfiles.find((p) => p.tenantId === highTenant.id) : undefined) ?? loaded.ir.agentProfiles[0];
    this.askHighRank = profile?.intent.rankMax === 0;
    // A compiled dir made on the host for this scale (objects + manifest): acgd
    // attaches its sched_ext scheduler and enforces memory through cgroup v2.
    // Without one, only the lowered policy: --no-scheduler.
    const { scaledPolicyDir } = await import("./scale-policy.js");
    const scaled = JSON.stringify(scalePolicyIR(loaded.ir, plan.scale, plan.speed));
    const compiled = scaledPolicyDir(REPO, this.policy, plan.scale, plan.speed);
    let dir = compiled;
    const usable =
      existsSync(join(compiled, "manifest.json")) &&
      existsSync(join(compiled, "ir.json")) &&
      readFileSync(join(compiled, "ir.json"), "utf8").trim() === scaled;
    if (usable) this.mode = "compiled policy directory: sched_ext scheduler attached by acgd, memory through cgroup v2 files";
    else {
      dir = join(this.o.workDir, "policies", this.name.slice(7));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "ir.json"), scaled);
      this.mode =
        `lowered policy only (no compiled objects for this scale at ${compiled}): ` + "acgd --no-scheduler, memory through cgroup v2 files";
    }
    makeBudgetCgroup(this.root, budgetBytes);
    rmSync(this.socket, { force: true });
    const acgd = join(REPO, "bin", "acgd.js");
    this.daemon = spawn(
      process.execPath,
      [acgd, "--policy", dir, "--socket", this.socket, "--cgroup-root", join(this.root, "tree"), ...(usable ? [] : ["--no-scheduler"])],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.daemon.stderr?.on("data", (d: Buffer) => (this.daemonLog = (this.daemonLog + d.toString()).slice(-4000)));
    const exited = new Promise<string>((r) =>
      this.daemon!.on("exit", (c) => r(`acgd exited with ${c}: ${this.daemonLog.trim().slice(-1000)}`)),
    );
    // Under TCG acgd takes a minute or more to start (it loads and verifies its BPF objects).
    const t0 = performance.now();
    for (let i = 0; i < 3000 && !existsSync(this.socket); i++) {
      const e = await Promise.race([exited, sleep(100).then(() => null)]);
      if (e) throw new Error(e);
    }
    if (!existsSync(this.socket)) throw new Error(`acgd did not open ${this.socket} within 300 s: ${this.daemonLog.trim().slice(-500)}`);
    this.client = await DaemonClient.connect(this.socket);
    // acgd serves while the kernel verifies its objects: the setup is measured with them attached.
    while ("bpfObjects" in ((await this.client.request({ op: "status" })) as { enforcement: Record<string, string> }).enforcement)
      await sleep(100);
    this.startS = (performance.now() - t0) / 1000;
    this.mode += `; acgd started in ${this.startS.toFixed(0)} s`;
  }
  async spawn(agent: AgentPlan, proc: ProcessPlan, kind: "agent" | "call", _index: number, allocArgs: string[]): Promise<Spawned> {
    const c = this.client!;
    const exe = replayExe(this.binDir, proc, kind);
    const argv = kind === "agent" ? ["agent"] : [safeName(proc.family), ...proc.argv.slice(1)];
    const tenant = this.tenants.get(agent.id);
    const hints = kind === "agent" && agent.highPriority && this.askHighRank ? { hints: ["rank=high"] } : {};
    const started = (await c.request({
      op: "start_call",
      ...(tenant ? { tenant } : {}),
      ...hints,
      agent: this.agentName(agent),
      tool: kind === "agent" ? "Agent" : proc.tool,
      argv,
      path: exe,
    })) as { call: string; cgroup: string; rule?: string; class?: string; oomScoreAdj?: number };
    let cg = started.cgroup.startsWith("/") ? started.cgroup : join(this.root, "tree", started.cgroup);
    let endNow = false;
    if (kind === "agent") {
      // The agent's own process goes to the agent's own leaf; the call only created the agent.
      cg = join(this.agentCgroup(agent), "agent");
      endNow = true;
    }
    // A call's processes get the oom_score_adj acgd answered, as `acg run` writes it before exec.
    const adj = kind === "call" && started.oomScoreAdj !== undefined ? ["--oom-score-adj", String(started.oomScoreAdj)] : [];
    const child = spawnReplay(exe, [...allocArgs, ...adj], cg, proc);
    if (endNow) {
      // The agent's own process, registered as an agent's launcher would (acgd steers its oom_score_adj by rank).
      if (child.pid !== undefined)
        await c
          .request({ op: "register_agent", agent: this.agentName(agent), ...(tenant ? { tenant } : {}), pid: child.pid })
          .catch((e: Error) => {
            process.stderr.write(`  register_agent ${this.agentName(agent)} (pid ${child.pid}): ${e.message}\n`);
          });
      await sleep(50);
      await c.request({ op: "end_call", call: started.call }).catch(() => {});
      const key = `${tenant ?? NO_TENANT_DIR}/${this.agentName(agent)}`;
      return { child, done: () => this.agentKilledBy(key) };
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
  async runtimeActions(sinceMs: number): Promise<RuntimeAction[]> {
    const rep = (await this.client!.request({ op: "events", follow: false }).catch(() => null)) as EventsResult | null;
    return (rep?.recent ?? [])
      .filter((e) => (e.kind === "pressure" || e.kind === "killed") && Date.parse(e.time) >= sinceMs)
      .map((e) => ({ t: (Date.parse(e.time) - sinceMs) / 1000, kind: e.kind, message: e.message }));
  }
  /** What acgd said when its ladder killed this agent whole (kill_agent), from its recent events; null if it did not. */
  private async agentKilledBy(key: string): Promise<{ killedBy: string | null } | null> {
    const rep = (await this.client!.request({ op: "events", follow: false }).catch(() => null)) as EventsResult | null;
    if (!rep) return null;
    const kill = rep.recent.find((e) => e.kind === "killed" && e.agent === key && e.call === undefined);
    return { killedBy: kill?.message ?? null };
  }
  /** A new budget for the next combination: acgd reads its ancestor's memory.max again while idle; wait until its host ladder has it. */
  private async setBudget(budgetBytes: number): Promise<void> {
    writeCg(this.root, "memory.max", budgetBytes);
    // What acgd reads back: the kernel keeps memory.max in whole pages.
    const limit = readCgNumber(this.root, "memory.max");
    const hostBudget = async () => {
      const st = (await this.client!.request({ op: "status" })) as { ladders?: { key: string; budgetBytes: number }[] };
      return st.ladders?.find((l) => l.key === "host")?.budgetBytes;
    };
    const before = await hostBudget();
    if (before === undefined) return; // no host ladder: nothing in acgd depends on the budget
    for (let i = 0; i < 600; i++) {
      const now = await hostBudget();
      if (now === limit) return;
      // The policy's own host budget is smaller than both: it rules, and does not change.
      if (now === before && limit !== null && before < limit && i >= 30) return;
      await sleep(100);
    }
    throw new Error(`acgd's host ladder did not take the new budget ${limit} (memory.max of ${this.root}) within 60 s`);
  }
  /** Kills what a run left in its agents' cgroups (a run stopped at its time limit); acgd keeps running. */
  async cleanup(): Promise<void> {
    const tree = join(this.root, "tree");
    if (!existsSync(tree)) return;
    for (const t of readdirSync(tree, { withFileTypes: true })) {
      if (!t.isDirectory()) continue;
      for (const ag of readdirSync(join(tree, t.name), { withFileTypes: true })) {
        if (!ag.isDirectory() || !ag.name.endsWith(`-r${this.run}`)) continue;
        try {
          writeCg(join(tree, t.name, ag.name), "cgroup.kill", "1");
        } catch {
          /* gone already */
        }
      }
    }
  }
  async shutdown(): Promise<void> {
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

/** An agent's static cap: its trace's peak, scaled, plus its processes' own overhead. */
export function staticCap(a: AgentPlan, plan: ReplayPlan, overhead: AgentOverhead): number {
  return Math.ceil(a.peakBytes * plan.scale) + overhead(a);
}

/** The combination's budget: its fraction of the basis (scaled) plus every agent's process overhead. */
export function budgetFor(cp: Pick<ComboPlans, "combo" | "budgetBasisBytes">, scale: number, agentOverheads: number[]): number {
  return Math.round(cp.budgetBasisBytes * scale * cp.combo.budgetFraction + agentOverheads.reduce((x, y) => x + y, 0));
}

/** The most processes an agent runs at once: its own plus its most overlapping calls. */
export function maxConcurrentProcesses(a: AgentPlan): number {
  let most = 0;
  for (const c of a.calls) most = Math.max(most, a.calls.filter((d) => d.start <= c.start && d.end > c.start).length);
  return 1 + most;
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

/** The kernel log since the last call, cleared (the guest is ours); null when it cannot be read. */
function takeKernelLog(): string | null {
  const r = spawnSync("dmesg", ["--read-clear"], { encoding: "utf8", maxBuffer: 64 * MiB });
  return r.status === 0 ? r.stdout : null;
}

export async function runSetup(
  plan: ReplayPlan,
  launcher: Launcher,
  budgetBytes: number,
  o: IsolationOptions,
  detail: boolean,
  only?: AgentPlan[],
): Promise<RunResult> {
  const errors: string[] = [];
  const agents = only ?? plan.agents;
  const logDir = join(o.workDir, "logs", `${launcher.name.replace(/[^A-Za-z0-9_-]/g, "_")}-s${plan.seed}`);
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const curveDir = join(o.workDir, "curves", `s${plan.seed}`);
  await launcher.prepare(plan, budgetBytes);
  if (takeKernelLog() === null) errors.push("dmesg --read-clear failed: kernel OOM episodes not counted");
  const procs: ProcRecord[] = [];
  const t0 = performance.now();
  const startedAtMs = Date.now();
  const now = () => (performance.now() - t0) / 1000;
  const minDelay = Math.min(...agents.map((a) => a.delay));
  const live = new Map<ChildProcess, ProcRecord>();
  const dead = new Set<string>();
  const agentDone: Promise<void>[] = [];
  const allocArgs = (name: string) => [
    "--curve",
    join(curveDir, `${name}.txt`),
    "--speed",
    String(plan.speed),
    "--scale",
    String(plan.scale),
    "--chunk",
    String(o.chunkBytes),
    "--touch",
    o.touch ? "1" : "0",
    "--hugepage",
    o.hugepage ? "1" : "0",
    "--out",
    join(logDir, `${name}.jsonl`),
    "--label",
    name,
  ];
  const startProc = async (a: AgentPlan, p: ProcessPlan, kind: "agent" | "call", index: number, planned: number): Promise<ProcRecord> => {
    const name = kind === "agent" ? `${a.id}-agent` : `${a.id}-call${index}`;
    const rec: ProcRecord = {
      agent: a.id,
      kind,
      index,
      family: p.family,
      pid: null,
      plannedStart: planned,
      start: now(),
      end: null,
      nominalS: (p.end - p.start) / plan.speed,
      traceS: p.end - p.start,
      status: "failed",
      exitCode: null,
      signal: null,
      latP50Us: null,
      steps: 0,
    };
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
    rec.pid = child.pid ?? null;
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
        rec.status =
          code === 0 ? "completed" : signal === "SIGKILL" ? "oom-killed" : signal === "SIGTERM" || code === 143 ? "killed" : "failed";
        const settle = (killedBy: string | null) => {
          if (rec.status === "oom-killed" && killedBy) {
            rec.status = "runtime-killed";
            rec.killedBy = killedBy;
          } else if (rec.status === "oom-killed" && launcher.killedAgent?.(a)) rec.status = "baseline-killed";
          if (rec.status === "failed") errors.push(`${name}: exit ${code} ${signal ?? ""} ${stderr.trim().slice(0, 300)}`);
          const wholeKill = kind === "agent" && rec.status === "runtime-killed";
          if (rec.status === "oom-killed" || rec.status === "baseline-killed" || wholeKill) dead.add(a.id);
          res(rec);
        };
        if (done)
          done().then(
            (r) => settle(r?.killedBy ?? null),
            () => settle(null),
          );
        else settle(null);
      });
    });
  };
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
      if (detail)
        timeline.push({
          t: now(),
          used: agents.map((a) => readCgNumber(launcher.agentCgroup(a), "memory.current") ?? 0),
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
  // Stop a failed agent's remaining processes (it has failed: nothing more of it runs).
  const reaper = (async () => {
    while (monitoring) {
      for (const [ch, r] of live) if (dead.has(r.agent)) ch.kill("SIGTERM");
      await sleep(100);
    }
  })();
  const limitS = (plan.span / plan.speed) * o.limitFactor + 5;
  const all = Promise.all(agentDone);
  let limitTimer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    all.then(() => false),
    new Promise<boolean>((r) => (limitTimer = setTimeout(() => r(true), limitS * 1000))),
  ]);
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
  // The kernel's OOM episodes, their victims mapped to agents by pid.
  const klog = takeKernelLog();
  const byPid = new Map(procs.filter((p) => p.pid !== null).map((p) => [p.pid!, p]));
  const oomEpisodes: OomEpisodeRecord[] | null =
    klog === null
      ? null
      : parseOomLog(klog)
          .filter(
            (e) =>
              (e.oomMemcg ?? e.taskMemcg ?? "").includes(BENCH_CGROUP.slice(CGROUP_ROOT.length)) || e.victims.some((v) => byPid.has(v.pid)),
          )
          .map((e) => ({
            oomMemcg: e.oomMemcg,
            group: e.group,
            victims: e.victims.map((v) => ({
              pid: v.pid,
              comm: v.comm,
              agent: byPid.get(v.pid)?.agent ?? null,
              high: agents.find((a) => a.id === byPid.get(v.pid)?.agent)?.highPriority ?? false,
            })),
          }));
  if (klog === null) errors.push("dmesg failed after the run: kernel OOM episodes not counted");
  // A SIGKILL the kernel log does not name, with the log read, was not the OOM killer's.
  if (oomEpisodes) {
    const victims = new Set(oomEpisodes.flatMap((e) => e.victims.map((v) => v.pid)));
    for (const p of procs)
      if (p.status === "oom-killed" && p.pid !== null && !victims.has(p.pid))
        errors.push(`${p.agent} ${p.kind} ${p.index}: SIGKILL not in the kernel's OOM reports`);
  }
  // Results per agent.
  const results: AgentResult[] = agents.map((a) => {
    const cg = launcher.agentCgroup(a);
    const ev = readCgKeyed(cg, "memory.events");
    const psi = readPressure(cg);
    const mine = procs.filter((p) => p.agent === a.id);
    const lats: number[] = [];
    let timing: ProcessTiming | null = null;
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
      p.latP50Us =
        log.summary?.lat_p50_us ??
        (log.grows.length
          ? quantile(
              log.grows.map((g) => g.lat_us),
              0.5,
            )
          : null);
      // The agent's own process against its trace: when the run's time limit
      // stopped it (its agent alive), it would have ended no sooner than its
      // pace so far says: that extrapolation is its lag (never shorter than
      // the time it ran).
      const sm = log.summary;
      const stall = readPressure(join(cg, "agent")).someUs / 1000 || 0;
      if (p.kind === "agent" && sm?.completed) timing = { nominalMs: sm.nominal_ms, durationMs: sm.duration_ms, memStallMs: stall };
      else if (p.kind === "agent" && sm && timedOut && !dead.has(a.id))
        timing = {
          nominalMs: sm.nominal_ms,
          durationMs: sm.points_done > 0 ? Math.max(sm.duration_ms, (sm.duration_ms * sm.points) / sm.points_done) : Infinity,
          memStallMs: stall,
        };
    }
    const oomKilled = mine.filter((p) => p.status === "oom-killed").length;
    const baselineKilled = launcher.killedAgent?.(a) ?? false;
    // An agent that never ran (its own process could not start, e.g. refused by the policy) did not survive either.
    const ran = mine.some((p) => p.kind === "agent" && p.status !== "failed");
    const kernelKills = Math.max(oomKilled, ev["oom_kill"] ?? 0);
    const runtimeKilledWhole = mine.some((p) => p.kind === "agent" && p.status === "runtime-killed");
    const survived = ran && kernelKills === 0 && !baselineKilled && !runtimeKilledWhole;
    const finished = mine.every((p) => p.end !== null && p.end < limitS && p.status !== "killed") || !survived;
    const start = Math.min(...mine.map((p) => p.start));
    const end = Math.max(...mine.map((p) => p.end ?? wallS));
    const completionS = survived && finished ? end - start : null;
    const nominalS = a.duration / plan.speed;
    const callRecs = mine.filter((p) => p.kind === "call");
    const outcomes: CallOutcome[] = a.calls.map((c, i) => {
      const r = callRecs.find((p) => p.index === i);
      return {
        traceSeconds: c.end - c.start,
        outcome: !r ? "not-started" : r.status === "completed" ? "completed" : r.status === "failed" ? "failed" : "killed",
      };
    });
    return {
      id: a.id,
      run: a.run,
      high: a.highPriority,
      survived,
      ran,
      finished,
      oomKills: kernelKills,
      baselineKilled,
      runtimeKilledWhole,
      callsPlanned: a.calls.length,
      callsCompleted: callRecs.filter((p) => p.status === "completed").length,
      callsKilled: callRecs.filter((p) => p.status === "oom-killed" || p.status === "baseline-killed" || p.status === "killed").length,
      callsRuntimeKilled: callRecs.filter((p) => p.status === "runtime-killed").length,
      callsNotStarted: outcomes.filter((x) => x.outcome === "not-started").length,
      workLostS: workLostSeconds(outcomes),
      completionS,
      nominalS,
      slowdown: completionS === null ? null : completionS / nominalS,
      latency: {
        n: lats.length,
        p50Us: quantile(lats, 0.5),
        p95Us: quantile(lats, 0.95),
        p99Us: quantile(lats, 0.99),
        maxUs: lats.length ? Math.max(...lats) : NaN,
      },
      latencyCdf: CDF_QS.filter(() => lats.length > 0 && detail).map((q) => [q, quantile(lats, q)]),
      memStallSomeUs: psi.someUs,
      memStallFullUs: psi.fullUs,
      ownLimitOoms: ev["oom"] ?? 0,
      highEvents: ev["high"] ?? 0,
      maxEvents: ev["max"] ?? 0,
      peakUsedBytes: readCgNumber(cg, "memory.peak") ?? 0,
      timing,
      limits: { max: finiteOrNull(readCgNumber(cg, "memory.max")), high: finiteOrNull(readCgNumber(cg, "memory.high")) },
    };
  });
  const parentEvents = readCgKeyed(launcher.parentCgroup(), "memory.events");
  const runtimeActions = await launcher.runtimeActions?.(startedAtMs);
  await launcher.cleanup();
  const lag = machineLag(results);
  return {
    setup: launcher.name,
    combo: "",
    seed: plan.seed,
    budgetBytes,
    wallS,
    agents: results,
    procs: detail ? procs : [],
    timeline,
    parentEvents,
    oomEpisodes,
    replayLag: lag,
    rejected: rejectedForLag(lag),
    ...(launcher.mode ? { mode: launcher.mode } : {}),
    ...(runtimeActions ? { runtimeActions } : {}),
    timedOut,
    limitS,
    errors,
  };
}

const CDF_QS = [...Array.from({ length: 50 }, (_, i) => i / 50), 0.97, 0.98, 0.99, 0.995, 0.999, 1];

function finiteOrNull(x: number | null): number | null {
  return x !== null && Number.isFinite(x) ? x : null;
}

/** policy:policies/X.acg for every policy the project ships, then policy:bench/policies/X.acg, written for the experiment's budgets. */
export function defaultPolicySetups(repo: string): string[] {
  const list = (dir: string) => {
    try {
      return readdirSync(join(repo, dir))
        .filter((f) => f.endsWith(".acg"))
        .sort()
        .map((f) => `policy:${dir}/${f}`);
    } catch {
      return [];
    }
  };
  return [...list("policies"), ...list("bench/policies")];
}

export const BASELINE_SETUPS = ["none", "static", "hints", "oomd"] as const;

export function parseArgs(argv: string[]): IsolationOptions {
  const o: IsolationOptions = {
    setups: [...BASELINE_SETUPS, ...defaultPolicySetups(REPO)],
    combos: [],
    seeds: [1],
    speed: 10,
    scale: 1 / 8,
    traceDir: defaultTraceDir(),
    outDir: join(REPO, "bench", "results"),
    workDir: "/tmp/acg-bench",
    allocBin: join(REPO, "dist", "bench", "alloc", "acg-alloc"),
    // 2 MiB chunks on transparent huge pages: in the TCG guest, 200 MB faulted
    // in took 3.0 s this way against 4.5 s in 1 MiB chunks and 19 s page by page.
    chunkBytes: 2 * MiB,
    touch: false,
    hugepage: true,
    sampleMs: 100,
    limitFactor: 2,
    maxSeconds: 60,
  };
  const num = (s: string | undefined, what: string): number => {
    const m = /^(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)$/.exec(s ?? "");
    const v = m ? Number(m[1]) / Number(m[2]) : Number(s);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${what}: expected a positive number, got '${s ?? ""}'`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => argv[++i];
    switch (a) {
      case "--setups":
        o.setups = (v() ?? "").split(",").filter(Boolean);
        break;
      case "--combo":
        for (const c of (v() ?? "").split(",")) o.combos.push(comboByName(c).name);
        break;
      case "--seeds":
        o.seeds = parseSeeds(v());
        break;
      case "--speed":
        o.speed = num(v(), a);
        break;
      case "--scale":
        o.scale = num(v(), a);
        break;
      case "--traces":
        o.traceDir = v() ?? o.traceDir;
        break;
      case "--out-dir":
        o.outDir = resolve(v() ?? "");
        break;
      case "--work":
        o.workDir = v() ?? o.workDir;
        break;
      case "--alloc":
        o.allocBin = resolve(v() ?? o.allocBin);
        break;
      case "--chunk":
        o.chunkBytes = num(v(), a);
        break;
      case "--touch":
        o.touch = true;
        break;
      case "--no-hugepage":
        o.hugepage = false;
        break;
      case "--max-seconds":
        o.maxSeconds = num(v(), a);
        break;
      case "--plans-dir":
        o.plansDir = v();
        break;
      case "--limit-factor":
        o.limitFactor = num(v(), a);
        break;
      default:
        throw new Error(`unknown argument '${a}'`);
    }
  }
  if (o.speed > 10) throw new Error(`--speed ${o.speed}: the experiment replays at most 10x faster than the trace`);
  if (o.scale < 1 / 8) throw new Error(`--scale ${o.scale}: the experiment scales memory by 1/8 or more`);
  const bad = o.setups.filter((x) => !x.startsWith("policy:") && !["alone", ...BASELINE_SETUPS].includes(x));
  if (bad.length)
    throw new Error(`--setups: unknown setup(s) ${bad.join(", ")} (known: alone, ${BASELINE_SETUPS.join(", ")}, policy:FILE)`);
  if (!o.combos.length) o.combos = ["aligned-3"];
  o.combos = [...new Set(o.combos)];
  return o;
}

export function parseSeeds(s: string | undefined): number[] {
  const seeds = (s ?? "").split(",").map((x) => x.trim());
  if (!seeds.length || seeds.some((x) => !/^[1-9]\d*$/.test(x)))
    throw new Error(`--seeds: expected positive integers separated by commas, got '${s ?? ""}'`);
  return seeds.map(Number);
}

export function plansFor(combo: string, o: Pick<IsolationOptions, "seeds" | "traceDir" | "speed" | "scale" | "maxSeconds">): ComboPlans {
  return planCombo(comboByName(combo), { traceDir: o.traceDir, speed: o.speed, scale: o.scale, maxSeconds: o.maxSeconds }, o.seeds);
}

/** The file bench/run.ts writes a combination's plans to, in --plans-dir. */
export function plansFileName(combo: string): string {
  return `plans-${combo}.json.tmp`;
}

/** One combination as it runs: its plans, the overheads measured for its agents, its budget, its results so far. */
interface ComboRun {
  cp: ComboPlans;
  overhead: AgentOverhead;
  agentOverheadBytes: Record<string, number>;
  budgetBytes: number;
  runs: RunResult[];
  skipped: { setup: string; reason: string }[];
}

/**
 * Memory one idle replay process adds to its cgroup (the allocator's pages,
 * libc, stack, page tables): the largest of three measurements of a process
 * holding nothing, read from memory.current of a cgroup of its own.
 */
export async function measureProcessOverhead(allocBin: string, workDir: string): Promise<number> {
  const cg = join(BENCH_CGROUP, "overhead-probe");
  mkCg(BENCH_CGROUP);
  enableControllers(CGROUP_ROOT, ["memory"]);
  enableControllers(BENCH_CGROUP, ["memory"]);
  mkdirSync(workDir, { recursive: true });
  const curve = join(workDir, "empty-curve.txt");
  writeFileSync(curve, "0 0\n");
  let most = 0;
  for (let i = 0; i < 3; i++) {
    removeCgTree(cg);
    mkCg(cg);
    const child = spawn(allocBin, ["--curve", curve, "--hold", "3", "--out", join(workDir, "probe.jsonl"), "--cgroup", cg], {
      stdio: "ignore",
    });
    const exited = new Promise((r) => child.on("exit", r));
    await sleep(1500);
    most = Math.max(most, readCgNumber(cg, "memory.current") ?? 0);
    child.kill("SIGTERM");
    await exited;
  }
  removeCgTree(cg);
  if (!(most > 0)) throw new Error("could not measure a replay process's memory (memory.current of its cgroup stayed 0)");
  return most;
}

export async function runIsolation(
  o: IsolationOptions,
  log: (s: string) => void = (s) => process.stderr.write(s + "\n"),
  written: (r: IsolationResult) => void = () => {},
): Promise<IsolationResult[]> {
  if (!memoryControllerAvailable())
    throw new Error("cgroup v2 has no memory controller here: run this in the guest (scripts/guest-run.sh)");
  if (!existsSync(o.allocBin)) throw new Error(`allocator not built: ${o.allocBin} (run bench/alloc/build.sh)`);
  rmSync(o.workDir, { recursive: true, force: true });
  const binDir = join(o.workDir, "bin");
  // Setups without a policy run on the kernel's own scheduler, whatever ran before.
  await restoreDefaultScheduler();
  const perProcess = await measureProcessOverhead(o.allocBin, o.workDir);
  const combos: ComboRun[] = o.combos.map((combo) => {
    const cp: ComboPlans = o.plansDir
      ? (JSON.parse(readFileSync(join(o.plansDir, plansFileName(combo)), "utf8")) as ComboPlans)
      : plansFor(combo, o);
    for (const plan of cp.plans) makeBinDir(plan, binDir, o.allocBin);
    // The same agents (runs) in every seed; only the alignment and the high-priority agent change.
    const agentOverheadBytes: Record<string, number> = {};
    for (const plan of cp.plans)
      for (const a of plan.agents)
        agentOverheadBytes[a.id] = Math.max(agentOverheadBytes[a.id] ?? 0, perProcess * maxConcurrentProcesses(a));
    const overhead: AgentOverhead = (a) => agentOverheadBytes[a.id] ?? perProcess * maxConcurrentProcesses(a);
    const budgetBytes = budgetFor(cp, o.scale, Object.values(agentOverheadBytes));
    log(
      `isolation: ${cp.combo.name}: a replay process holds ${(perProcess / 1024).toFixed(0)} KiB on its own; ` +
        `budget ${(budgetBytes / MiB).toFixed(1)} MiB ` +
        `(${cp.combo.budgetFraction} of the ${cp.combo.budgetBasis}, scaled, plus the processes' overhead)`,
    );
    return { cp, overhead, agentOverheadBytes, budgetBytes, runs: [], skipped: [] };
  });
  const date = new Date().toISOString();
  const result = (c: ComboRun): IsolationResult => isolationResult(c, o, perProcess, date);
  for (const setup of o.setups) {
    // One acgd per policy for every combination: it follows the budget from one to the next.
    const acg = setup.startsWith("policy:") ? new AcgLauncher(setup.slice("policy:".length), o, binDir) : null;
    for (const c of combos) {
      const { cp } = c;
      if (acg) {
        const reason = await policyCannotRun(acg.policy, cp.combo.agents);
        if (reason) {
          log(`isolation: ${cp.combo.name}: ${setup} skipped: ${reason}`);
          c.skipped.push({ setup, reason });
          continue;
        }
      }
      const launcher: Launcher = acg ?? new CgroupLauncher(setup as CgroupLauncher["name"], c.overhead, binDir);
      for (const [i, plan] of cp.plans.entries()) {
        const only = setup === "alone" ? plan.agents.filter((a) => a.highPriority) : undefined;
        log(`isolation: ${cp.combo.name} seed ${plan.seed}: ${launcher.name}...`);
        try {
          const r = await runSetup(plan, launcher, c.budgetBytes, o, i === 0, only);
          r.combo = cp.combo.name;
          c.runs.push(r);
          log(summarizeRun(r));
        } catch (e) {
          log(`  failed: ${e instanceof Error ? e.message : String(e)}`);
          await launcher.cleanup().catch(() => {});
          if (acg) break;
        }
      }
      if (!acg) await launcher.shutdown().catch((e) => log(`  shutdown: ${e instanceof Error ? e.message : String(e)}`));
    }
    await acg?.shutdown().catch((e) => log(`  shutdown: ${e instanceof Error ? e.message : String(e)}`));
    // Written after every setup: a guest that dies later loses only the setups after this one.
    for (const c of combos) written(result(c));
  }
  removeCgTree(BENCH_CGROUP);
  return combos.map(result);
}

function summarizeRun(r: RunResult): string {
  const eps = r.oomEpisodes;
  const survived = `${r.agents.filter((a) => a.survived).length}/${r.agents.length}`;
  const highLost = r.agents.some((a) => a.high && !a.survived) ? " (high-priority agent lost)" : "";
  const kills = r.agents.reduce((x, a) => x + a.callsRuntimeKilled, 0);
  const lost = r.agents.reduce((x, a) => x + a.workLostS, 0).toFixed(0);
  const lag = r.replayLag === null ? "?" : `${(100 * r.replayLag).toFixed(1)}%`;
  return (
    `  ${r.wallS.toFixed(1)} s; survived ${survived}${highLost}; kernel OOM episodes ${eps ? eps.length : "?"}; ` +
    `runtime kills ${kills}; work lost ${lost} trace-s; lag ${lag}${r.rejected ? " REJECTED" : ""}` +
    (r.errors.length ? `; ${r.errors.length} error(s): ${r.errors.slice(0, 3).join(" | ")}` : "")
  );
}

function isolationResult(c: ComboRun, o: IsolationOptions, perProcess: number, date: string): IsolationResult {
  const { combos: _c, outDir: _o, workDir: _w, allocBin: _a, plansDir: _p, ...options } = o;
  const { cp } = c;
  return {
    kind: "isolation",
    date,
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    combo: cp.combo,
    options: { ...options, combo: cp.combo.name },
    budgetBasisBytes: cp.budgetBasisBytes,
    budgetBytes: c.budgetBytes,
    processOverheadBytes: perProcess,
    agentOverheadBytes: c.agentOverheadBytes,
    plans: cp.plans.map((plan) => ({
      seed: plan.seed,
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
      })),
    })),
    runs: c.runs,
    skipped: c.skipped,
  };
}

/** Why a policy cannot take part with `agents` agents (it admits fewer at once), or null. */
async function policyCannotRun(policy: string, agents: number): Promise<string | null> {
  const { loadPolicyFrom } = await import("../runtime/policy-source.js");
  const l = loadPolicyFrom(policy);
  if (!l.ok) return l.message.split("\n")[0]!;
  // Agents without a tenant use profile 0; with tenants, the high agent goes to the first, the rest to the last.
  const ir = l.ir;
  const profileOf = (tenantId: number | null) =>
    tenantId === null ? ir.agentProfiles[0] : (ir.agentProfiles.find((p) => p.tenantId === tenantId) ?? ir.agentProfiles[0]);
  const demand = new Map<number, number>();
  for (let i = 0; i < agents; i++) {
    const tid = ir.tenants.length ? (i === 0 ? 0 : ir.tenants.length - 1) : null;
    const prof = profileOf(tid);
    if (prof) demand.set(prof.id, (demand.get(prof.id) ?? 0) + 1);
  }
  const short = [...demand].find(([pid, n]) => (ir.agentProfiles.find((p) => p.id === pid)?.maxAgents ?? Infinity) < n);
  if (!short) return null;
  const maxAgents = ir.agentProfiles.find((p) => p.id === short[0])!.maxAgents;
  const builtIn = ir.tenants.length ? "" : ", no agent block: the built-in default";
  return `admits at most ${maxAgents} agent(s) of a profile at once (max_agents; ${short[1]} needed${builtIn})`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  try {
    const o = parseArgs(process.argv.slice(2));
    mkdirSync(o.outDir, { recursive: true });
    const write = (r: IsolationResult) =>
      writeFileSync(
        join(o.outDir, `isolation-${r.combo.name}.json`),
        JSON.stringify(r, (_k, v) => (typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v)) + "\n",
      );
    const rs = await runIsolation(o, undefined, write);
    for (const r of rs) process.stderr.write(`isolation: wrote ${join(o.outDir, `isolation-${r.combo.name}.json`)}\n`);
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
