// The policy:FILE setups: acgd enforcing a compiled policy on the budget's
// cgroup (AcgLauncher), started once per setup and kept for all of its
// combinations and seeds, every tool call started through acgd's API as
// `acg run` starts one; and whether a policy can take part at all
// (policyCannotRun). Everything that talks to acgd is here.

import { setTimeout as sleep } from "node:timers/promises";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCgNumber, removeCgTree, writeCg } from "./cgroupfs.js";
import { REPO, type IsolationOptions } from "./isolation-options.js";
import { BENCH_CGROUP, makeBudgetCgroup, replayExe, safeName, spawnReplay, type Launcher, type Spawned } from "./isolation-launcher.js";
import type { RuntimeAction } from "./isolation-records.js";
import type { AgentPlan, ProcessPlan, ReplayPlan } from "./plan.js";
import { restoreDefaultScheduler } from "./sched-ext.js";
import type { EventsResult } from "../runtime/event-stream.js";

/** acgd's directory for agents outside any tenant (runtime/tool-calls.ts NO_TENANT). */
const NO_TENANT_DIR = "default";

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

/** Why a policy cannot take part with `agents` agents (it admits fewer at once), or null. */
export async function policyCannotRun(policy: string, agents: number): Promise<string | null> {
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
