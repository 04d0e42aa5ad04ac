// Overheads, measured in the guest kernel:
// - scheduler: the same CPU workload (bench/alloc/acg-cpu.c) under the
//   kernel's default scheduler and under each compiled policy's sched_ext
//   scheduler, repeats interleaved; per-callback run time and counts from
//   bpf_stats (/proc/sys/kernel/bpf_stats_enabled, bpf_prog_info
//   run_time_ns/run_cnt).
// - `acg run` per call, hot-swap gap, acgd footprint: need the runtime; noted
//   as not measured until it exists.
//
//   node dist/bench/overhead.js [--policies a.acg,b.acg] [--repeats 3] [--out FILE]
//   node dist/bench/overhead.js --compile-only   (host: compile the objects into the cache)

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { quantile } from "./traces.js";
import type { BpfObject as BpfObjectT, ProgramStats } from "../runtime/loader.js";

export interface CallbackStat {
  name: string;
  runCnt: number;
  runTimeNs: number;
  avgNs: number;
}

export interface SchedulerOverhead {
  policy: string;
  wallS: number[];
  p50S: number;
  minS: number;
  /** p50 wall time / the default scheduler's p50. */
  ratioP50: number | null;
  callbacks: CallbackStat[];
  /** Total BPF run time / total CPU time of the workload (user+sys of the repeats). */
  bpfShare: number | null;
  error?: string;
}

export interface OverheadResult {
  kind: "overhead";
  date: string;
  kernel: string;
  workload: string;
  repeats: number;
  baseline: { wallS: number[]; p50S: number; minS: number } | null;
  scheduler: SchedulerOverhead[];
  notes: string[];
}

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");

interface Opts {
  policies: string[];
  repeats: number;
  out: string;
  compileOnly: boolean;
  cpuArgs: string[];
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = {
    policies: readdirSync(join(repo, "policies")).filter((f) => f.endsWith(".acg")).sort().map((f) => join(repo, "policies", f)),
    repeats: 5,
    out: join(repo, "bench", "results", "overhead.json"),
    compileOnly: false,
    cpuArgs: ["--workers", "4", "--rounds", "400", "--iters", "100000", "--sleep-us", "500"],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--policies") o.policies = (argv[++i] ?? "").split(",").filter(Boolean).map((p) => resolve(p));
    else if (a === "--repeats") o.repeats = Number(argv[++i]);
    else if (a === "--out") o.out = resolve(argv[++i] ?? o.out);
    else if (a === "--compile-only") o.compileOnly = true;
    else if (a === "--cpu") o.cpuArgs = (argv[++i] ?? "").split(" ").filter(Boolean);
    else throw new Error(`unknown argument '${a}'`);
  }
  return o;
}

function objDir(policy: string): string {
  return join(repo, ".cache", "bench-objects", policy.replace(/^.*\//, "").replace(/\.acg$/, ""));
}

/** Compiles a policy (front end, lowering, back end); returns its IR and the object dir. */
async function compile(policy: string): Promise<{ ir: import("../compiler/ir.js").PolicyIR; dir: string }> {
  const { loadPolicy } = await import("../compiler/frontend.js");
  const { lowerPolicy } = await import("../compiler/lower.js");
  const { compilePolicy } = await import("../compiler/compile.js");
  const front = loadPolicy(policy);
  if (!front.ok || !front.checked) throw new Error(`${policy}: does not check`);
  const ir = lowerPolicy(front.checked);
  const dir = objDir(policy);
  mkdirSync(dir, { recursive: true });
  const r = await compilePolicy(ir, { outDir: dir });
  writeFileSync(join(dir, "ir.json"), JSON.stringify(ir));
  if (!r.ok) throw new Error(`${policy}: compile failed: ${r.diagnostics.map((d) => d.message).join("; ")}`);
  return { ir, dir };
}

/**
 * The objects `--compile-only` built on the host (clang under TCG, with the
 * guest's empty object cache, would take minutes), and the policy's IR.
 */
async function compiled_(policy: string): Promise<{ ir: import("../compiler/ir.js").PolicyIR; dir: string }> {
  const { loadPolicyFrom } = await import("../runtime/policy-source.js");
  const l = loadPolicyFrom(policy);
  if (!l.ok) throw new Error(l.message);
  const dir = objDir(policy);
  const irFile = join(dir, "ir.json");
  const obj = join(dir, "scheduler.bpf.o");
  if (!existsSync(obj)) throw new Error(`${obj} missing: run \`node dist/bench/overhead.js --compile-only\` on the host first`);
  if (existsSync(irFile) && readFileSync(irFile, "utf8") !== JSON.stringify(l.ir)) throw new Error(`${dir} was compiled from another version of ${policy}: recompile (--compile-only)`);
  return { ir: l.ir, dir };
}

function cpuTimes(): number {
  // user+sys of reaped children, in seconds (process.resourceUsage counts this process only).
  const t = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  const hz = 100;
  return (Number(t[13]) + Number(t[14])) / hz; // cutime, cstime (fields 16, 17)
}

function runWorkload(bin: string, args: string[]): { wallS: number } {
  const out = execFileSync(bin, args, { encoding: "utf8" });
  return { wallS: (JSON.parse(out) as { wall_s: number }).wall_s };
}

export async function runOverhead(o: Opts, log: (s: string) => void): Promise<OverheadResult> {
  const notes: string[] = [];
  const bin = join(repo, "dist", "bench", "alloc", "acg-cpu");
  if (!existsSync(bin)) throw new Error(`${bin} not built (bench/alloc/build.sh)`);
  const { BpfObject } = await import("../runtime/loader.js");
  const { encodeActiveGen, encodePolicy, encodeU32 } = await import("../compiler/abi-encode.js");
  const result: OverheadResult = {
    kind: "overhead",
    date: new Date().toISOString(),
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    workload: `acg-cpu ${o.cpuArgs.join(" ")} (4 processes on 2 vCPUs: busy loops with ${"a 500 µs sleep"} every round)`,
    repeats: o.repeats,
    baseline: null,
    scheduler: [],
    notes,
  };
  const compiled: { policy: string; ir: import("../compiler/ir.js").PolicyIR; dir: string }[] = [];
  for (const p of o.policies) {
    try {
      compiled.push({ policy: p.replace(/^.*\//, "").replace(/\.acg$/, ""), ...(await compiled_(p)) });
    } catch (e) {
      result.scheduler.push({ policy: p, wallS: [], p50S: NaN, minS: NaN, ratioP50: null, callbacks: [], bpfShare: null, error: e instanceof Error ? e.message : String(e) });
    }
  }
  writeFileSync("/proc/sys/kernel/bpf_stats_enabled", "1");
  runWorkload(bin, o.cpuArgs); // warm-up
  const base: number[] = [];
  const per = new Map<string, { wall: number[]; cb: Map<string, CallbackStat>; cpu: number; error?: string }>();
  for (const c of compiled) per.set(c.policy, { wall: [], cb: new Map(), cpu: 0 });
  for (let rep = 0; rep < o.repeats; rep++) {
    base.push(runWorkload(bin, o.cpuArgs).wallS);
    log(`overhead: default scheduler, repeat ${rep + 1}: ${base[base.length - 1]!.toFixed(3)} s`);
    for (const c of compiled) {
      const st = per.get(c.policy)!;
      if (st.error) continue;
      let sched: BpfObjectT | null = null;
      try {
        sched = BpfObject.open(join(c.dir, "scheduler.bpf.o"));
        sched.load();
        sched.map("acg_policy").update(encodeU32(1), encodePolicy(c.ir));
        sched.map("acg_gen").update(encodeU32(0), encodeActiveGen(1));
        const link = sched.attachStructOps("acg_ops");
        const state = readFileSync("/sys/kernel/sched_ext/state", "utf8").trim();
        if (state !== "enabled") throw new Error(`sched_ext state is '${state}' after attach`);
        const before = new Map<string, ProgramStats>(sched.programStats().map((p: ProgramStats) => [p.name, p] as const));
        const cpu0 = cpuTimes();
        const w = runWorkload(bin, o.cpuArgs).wallS;
        st.cpu += cpuTimes() - cpu0;
        for (const p of sched.programStats()) {
          const b = before.get(p.name);
          const cnt = p.runCnt - (b?.runCnt ?? 0);
          const ns = p.runTimeNs - (b?.runTimeNs ?? 0);
          const acc = st.cb.get(p.name) ?? { name: p.name, runCnt: 0, runTimeNs: 0, avgNs: 0 };
          acc.runCnt += cnt;
          acc.runTimeNs += ns;
          acc.avgNs = acc.runCnt ? acc.runTimeNs / acc.runCnt : 0;
          st.cb.set(p.name, acc);
        }
        link.destroy();
        st.wall.push(w);
        log(`overhead: ${c.policy}, repeat ${rep + 1}: ${w.toFixed(3)} s`);
      } catch (e) {
        st.error = e instanceof Error ? e.message : String(e);
        log(`overhead: ${c.policy}: ${st.error}`);
      } finally {
        sched?.close();
      }
    }
  }
  writeFileSync("/proc/sys/kernel/bpf_stats_enabled", "0");
  const bp50 = quantile(base, 0.5);
  result.baseline = { wallS: base, p50S: bp50, minS: Math.min(...base) };
  for (const c of compiled) {
    const st = per.get(c.policy)!;
    const cbs = [...st.cb.values()].filter((x) => x.runCnt > 0).sort((a, b) => b.runTimeNs - a.runTimeNs);
    const bpfNs = cbs.reduce((s, x) => s + x.runTimeNs, 0);
    const p50 = quantile(st.wall, 0.5);
    result.scheduler.push({
      policy: c.policy,
      wallS: st.wall,
      p50S: p50,
      minS: st.wall.length ? Math.min(...st.wall) : NaN,
      ratioP50: st.wall.length ? p50 / bp50 : null,
      callbacks: cbs,
      bpfShare: st.cpu > 0 ? bpfNs / 1e9 / st.cpu : null,
      ...(st.error ? { error: st.error } : {}),
    });
  }
  notes.push("`acg run` overhead per call, the hot-swap gap and acgd's idle and 100-call footprint are not measured yet: they need the runtime (`acg run`, acgd), which has not landed.");
  notes.push("Under TCG every instruction is emulated, so absolute times are far from hardware; the ratio between schedulers on the same emulated CPU is the figure to read. Repeats are interleaved (default, then each policy) to spread host noise.");
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const log = (s: string) => process.stderr.write(s + "\n");
  try {
    const o = parseArgs(process.argv.slice(2));
    if (o.compileOnly) {
      for (const p of o.policies) {
        const { dir } = await compile(p);
        log(`compiled ${p} -> ${dir}`);
      }
    } else {
      const r = await runOverhead(o, log);
      mkdirSync(dirname(o.out), { recursive: true });
      writeFileSync(o.out, JSON.stringify(r, null, 1) + "\n");
      log(`overhead: wrote ${o.out}`);
    }
  } catch (e) {
    log(`overhead: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  }
}
