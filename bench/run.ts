// `npm run bench`: the whole benchmark, host parts here, kernel parts in one
// guest boot (scripts/guest-run.sh), then the report.
//
//   npm run bench [-- --only stats|isolation|overhead|report[,..]] [--no-guest]
//                 [--traces DIR] [--seeds 1,2,3] [--append] [--setups a,b] [--budgets 0.7,0.83] [--speed N] [--scale 1/64]
//
// Writes bench/results/{stats,isolation,overhead}.json and REPORT.md (+ plots/).
// --no-guest runs the host parts (stats, report from the results already there).

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs as parseIsolationArgs, planFor } from "./isolation.js";
import { writeReport } from "./report.js";
import { computeStats } from "../traces/stats.js";
import { compileScaledPolicy } from "./scale-policy.js";
import { defaultTraceDir } from "../traces/read.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");
const results = join(repo, "bench", "results");
const PARTS = ["stats", "isolation", "overhead", "report"] as const;
type Part = (typeof PARTS)[number];

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

function main(argv: string[]): Promise<number> | number {
  let only: Set<Part> = new Set(PARTS);
  let guest = true;
  let traceDir = defaultTraceDir();
  let seeds = [1, 2, 3];
  const isoArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--only") {
      const list = (argv[++i] ?? "").split(",").filter(Boolean);
      const bad = list.filter((p) => !(PARTS as readonly string[]).includes(p));
      if (bad.length || !list.length) {
        log(`--only takes ${PARTS.join(", ")} (comma-separated); got '${argv[i] ?? ""}'`);
        return 2;
      }
      only = new Set(list as Part[]);
    } else if (a === "--no-guest") guest = false;
    else if (a === "--append") isoArgs.push("--append");
    else if (a === "--traces") {
      traceDir = resolve(argv[++i] ?? traceDir);
      isoArgs.push("--traces", traceDir);
    } else if (a === "--seeds") {
      seeds = (argv[++i] ?? "").split(",").map(Number).filter((x) => Number.isInteger(x) && x > 0);
      if (!seeds.length) {
        log("--seeds takes positive integers, comma-separated");
        return 2;
      }
    } else if (["--setups", "--budgets", "--speed", "--scale", "--agents", "--slack", "--chunk", "--max-seconds", "--acg", "--limit-factor"].includes(a)) {
      isoArgs.push(a, argv[++i] ?? "");
    } else if (a === "-h" || a === "--help") {
      process.stdout.write(`usage: npm run bench -- [--only ${PARTS.join("|")}[,..]] [--no-guest] [--traces DIR] [isolation options]\n`);
      return 0;
    } else {
      log(`unknown argument '${a}'`);
      return 2;
    }
  }
  return run(only, guest, traceDir, isoArgs, seeds);
}

async function run(only: Set<Part>, guest: boolean, traceDir: string, isoArgs: string[], seeds: number[]): Promise<number> {
  mkdirSync(results, { recursive: true });
  let failed = 0;
  if (only.has("stats")) {
    const s = computeStats(traceDir);
    for (const w of s.warnings) log(`warning: ${w}`);
    writeFileSync(join(results, "stats.json"), JSON.stringify(s, null, 1) + "\n");
    log(`stats: ${s.totals.runs} runs, ${s.totals.calls} tool calls -> bench/results/stats.json`);
  }
  const isolationCmds: string[] = [];
  const overheadCmds: string[] = [];
  if (only.has("isolation")) {
    // One replay per seed (the seed moves the agents' alignment); seed 1 writes
    // isolation.json (the plots and per-agent tables), others
    // isolation-seedN.json (the report pools them all).
    // Policies compiled at the replay's scale, on the host (see scale-policy.ts).
    const o0 = parseIsolationArgs(isoArgs);
    for (const setup of o0.setups.filter((x) => x.startsWith("policy:"))) {
      const r = await compileScaledPolicy(repo, resolve(repo, setup.slice("policy:".length)), o0.scale, o0.speed);
      log(r.ok ? r.message : `${setup}: not compiled (${r.message}); acgd will run it without its scheduler`);
    }
    // A fresh run (not --append) replaces the pooled results: results of an
    // earlier run (other seeds, or a seed whose boot fails now) would come
    // from other code.
    if (guest && !isoArgs.includes("--append")) {
      for (const n of readdirSync(results)) {
        if (!/^isolation(-seed\d+)?\.json$/.test(n)) continue;
        rmSync(join(results, n));
        log(`isolation: removed the earlier ${n}`);
      }
    }
    for (const seed of seeds) {
      const o = parseIsolationArgs([...isoArgs, "--seed", String(seed)]);
      const planFile = join(results, `plan-seed${seed}.json.tmp`);
      writeFileSync(planFile, JSON.stringify(planFor(o)));
      const out = seed === 1 ? "bench/results/isolation.json" : `bench/results/isolation-seed${seed}.json`;
      // Extra seeds stop stalled runs sooner, to keep the guest time down.
      const extra = seed === 1 ? [] : ["--limit-factor", "2", "--no-timeline"];
      isolationCmds.push(["node", "dist/bench/isolation.js", "--plan", relative(repo, planFile), "--seed", String(seed), "--out", out, ...extra, ...isoArgs.filter((_, i, l) => l[i] !== "--traces" && l[i - 1] !== "--traces")].map(shq).join(" "));
    }
  }
  if (only.has("overhead")) {
    const c = spawnSync("node", ["dist/bench/overhead.js", "--compile-only"], { cwd: repo, stdio: "inherit" });
    if (c.status !== 0) {
      log("overhead: compiling the policies failed");
      failed++;
    } else overheadCmds.push("node dist/bench/overhead.js --out bench/results/overhead.json");
  }
  // One boot per seed, then one for the overheads. Sched_ext enable/disable
  // (static-key text patching) intermittently oopses a multi-threaded TCG
  // guest on the other vCPU (a stale int3): the overheads, with some 20
  // attach cycles, run with TCG's vCPUs on one host thread; the replays keep a
  // host thread per vCPU (their timing depends on the guest's speed), and a
  // boot of their own each, so that such an oops costs one seed, not the run.
  const boots = [
    ...isolationCmds.map((c) => ({ cmds: [c], tcgThread: "multi" })),
    ...(overheadCmds.length ? [{ cmds: overheadCmds, tcgThread: "single" }] : []),
  ];
  for (const boot of boots) {
    if (!guest) {
      log(`--no-guest: skipping ${boot.cmds.length} guest part(s): ${boot.cmds.join("; ")}`);
      continue;
    }
    const script = boot.cmds.map((c) => `${c} || st=1`).join("; ");
    log(`guest (${boot.tcgThread}-threaded TCG): ${script}`);
    // As a variable, not --tcg-thread: guest-run.sh passes ACG_* into the guest, where the overheads describe their setup with it.
    const g = spawnSync(join(repo, "scripts", "guest-run.sh"), ["--mem", "2G", "--timeout", "1800", "--", "bash", "-c", `st=0; ${script}; exit $st`], { cwd: repo, stdio: "inherit", env: { ...process.env, ACG_TCG_THREAD: boot.tcgThread } });
    if (g.status !== 0) {
      log(`guest run failed (exit ${g.status})`);
      failed++;
    }
  }
  if (only.has("report")) {
    if (!existsSync(join(results, "stats.json")) && !existsSync(join(results, "isolation.json"))) log("report: no results yet; the report will say so");
    await writeReport(results);
    log("report: bench/results/REPORT.md");
  }
  return failed ? 1 : 0;
}

function shq(s: string): string {
  return /^[A-Za-z0-9_./:=,+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

process.exitCode = await main(process.argv.slice(2));
