// `npm run bench`: the whole benchmark, host parts here, kernel parts in guest
// boots (scripts/guest-run.sh): one for every trace combination of the isolation
// experiment, one for the overheads; then the report.
//
//   npm run bench [-- --only stats|isolation|overhead|report[,..]] [--no-guest] [--quick]
//                 [--combos aligned-3,gentle-3,..] [--seeds 1,2,3,4,5] [--setups a,b]
//                 [--traces DIR] [--speed 10] [--scale 1/8] [--max-seconds 60] [--results DIR]
//
// Writes bench/results/{stats,isolation-COMBO,overhead}.json and REPORT.md (+ plots/);
// --results DIR writes them to DIR instead (inside the checkout: guests share
// only the work tree), for trying a change without replacing the committed results.
// --no-guest runs the host parts (stats, report from the results already there).
// --quick: one combination (aligned-3), one seed, for iterating.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs as parseIsolationArgs, parseSeeds, plansFileName, plansFor } from "./isolation-options.js";
import { COMBOS, comboByName } from "./plan.js";
import { writeReport } from "./report.js";
import { computeStats } from "../traces/stats.js";
import { compileScaledPolicy } from "./scale-policy.js";
import { defaultTraceDir } from "../traces/read.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");
/** Where the results and the report go: bench/results, or --results DIR. */
let results = join(repo, "bench", "results");
const PARTS = ["stats", "isolation", "overhead", "report"] as const;
type Part = (typeof PARTS)[number];
/** The guest's memory: the replays at 1/8 scale need 4-6 GiB (issue 10). */
const GUEST_MEM = "4G";

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

function main(argv: string[]): Promise<number> | number {
  let only: Set<Part> = new Set(PARTS);
  let guest = true;
  let traceDir = defaultTraceDir();
  let seeds = [1, 2, 3, 4, 5];
  let combos = COMBOS.map((c) => c.name);
  const isoArgs: string[] = [];
  try {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === "--only") {
        const list = (argv[++i] ?? "").split(",").filter(Boolean);
        const bad = list.filter((p) => !(PARTS as readonly string[]).includes(p));
        if (bad.length || !list.length) throw new Error(`--only takes ${PARTS.join(", ")} (comma-separated); got '${argv[i] ?? ""}'`);
        only = new Set(list as Part[]);
      } else if (a === "--no-guest") guest = false;
      else if (a === "--quick") {
        combos = ["aligned-3"];
        seeds = [1];
      } else if (a === "--traces") {
        traceDir = resolve(argv[++i] ?? traceDir);
        isoArgs.push("--traces", traceDir);
      } else if (a === "--seeds") seeds = parseSeeds(argv[++i]);
      else if (a === "--results") {
        const dir = resolve(argv[++i] ?? "");
        if (!argv[i] || relative(repo, dir).startsWith(".."))
          throw new Error(`--results takes a directory inside ${repo} (the guests share only the work tree)`);
        results = dir;
      } else if (a === "--combos") {
        combos = (argv[++i] ?? "")
          .split(",")
          .filter(Boolean)
          .map((c) => comboByName(c).name);
        if (!combos.length) throw new Error("--combos takes combination names, comma-separated");
      } else if (["--setups", "--speed", "--scale", "--chunk", "--max-seconds", "--limit-factor"].includes(a))
        isoArgs.push(a, argv[++i] ?? "");
      else if (a === "--touch" || a === "--no-hugepage") isoArgs.push(a);
      else if (a === "-h" || a === "--help") {
        process.stdout.write(
          `usage: npm run bench -- [--only ${PARTS.join("|")}[,..]] [--no-guest] [--quick] ` +
            `[--combos ${COMBOS.map((c) => c.name).join(",")}] [--seeds 1,2,..] [--traces DIR] [--results DIR] ` +
            `[isolation options]\n`,
        );
        return 0;
      } else throw new Error(`unknown argument '${a}'`);
    }
    // Checked here, on the host, rather than minutes later in the guest.
    parseIsolationArgs(isoArgs);
  } catch (e) {
    log(e instanceof Error ? e.message : String(e));
    return 2;
  }
  return run(only, guest, traceDir, isoArgs, seeds, combos);
}

async function run(
  only: Set<Part>,
  guest: boolean,
  traceDir: string,
  isoArgs: string[],
  seeds: number[],
  combos: string[],
): Promise<number> {
  const t0 = Date.now();
  mkdirSync(results, { recursive: true });
  let failed = 0;
  if (only.has("stats")) {
    const s = computeStats(traceDir);
    for (const w of s.warnings) log(`warning: ${w}`);
    writeFileSync(join(results, "stats.json"), JSON.stringify(s, null, 1) + "\n");
    log(`stats: ${s.totals.runs} runs, ${s.totals.calls} tool calls -> ${relative(repo, join(results, "stats.json"))}`);
  }
  const boots: { what: string; cmds: string[]; tcgThread: string; timeoutS: number }[] = [];
  if (only.has("isolation")) {
    // Policies compiled at the replay's scale, on the host (see scale-policy.ts).
    const o0 = parseIsolationArgs(isoArgs);
    for (const setup of o0.setups.filter((x) => x.startsWith("policy:"))) {
      const r = await compileScaledPolicy(repo, resolve(repo, setup.slice("policy:".length)), o0.scale, o0.speed);
      log(r.ok ? r.message : `${setup}: not compiled (${r.message}); acgd will run it without its scheduler`);
    }
    // A fresh run replaces every earlier isolation result: results of an
    // earlier run (other combinations, older code) must not be pooled with these.
    if (guest) {
      for (const n of readdirSync(results)) {
        if (!/^isolation(-.+)?\.json$/.test(n)) continue;
        rmSync(join(results, n));
        log(`isolation: removed the earlier ${n}`);
      }
    }
    // One guest boot for every combination: setups run outermost, so that each
    // policy's acgd starts (and verifies its objects) once, not once per combination.
    const o = parseIsolationArgs([...isoArgs, "--combo", combos.join(","), "--seeds", seeds.join(",")]);
    for (const combo of o.combos) writeFileSync(join(results, plansFileName(combo)), JSON.stringify(plansFor(combo, o)));
    const args = [
      "node",
      "dist/bench/isolation.js",
      "--combo",
      o.combos.join(","),
      "--seeds",
      seeds.join(","),
      "--plans-dir",
      relative(repo, results),
      "--out-dir",
      relative(repo, results),
      ...isoArgs.filter((_, i, l) => l[i] !== "--traces" && l[i - 1] !== "--traces"),
    ];
    boots.push({
      what: `isolation ${o.combos.join(", ")}`,
      cmds: [args.map(shq).join(" ")],
      tcgThread: "multi",
      timeoutS: 1200 * o.combos.length,
    });
  }
  if (only.has("overhead")) {
    const c = spawnSync("node", ["dist/bench/overhead.js", "--compile-only"], { cwd: repo, stdio: "inherit" });
    if (c.status !== 0) {
      log("overhead: compiling the policies failed");
      failed++;
    } else {
      boots.push({
        what: "overheads",
        cmds: [`node dist/bench/overhead.js --out ${shq(relative(repo, join(results, "overhead.json")))}`],
        tcgThread: "single",
        timeoutS: 1800,
      });
      // start_call's latency again with a host thread per vCPU, as a two-CPU machine runs callers beside acgd: one attach cycle.
      boots.push({
        what: "start_call latency",
        cmds: [`node dist/bench/overhead.js --start-calls-only --out ${shq(relative(repo, join(results, "start-calls.json")))}`],
        tcgThread: "multi",
        timeoutS: 900,
      });
    }
  }
  // Sched_ext enable/disable (static-key text patching) intermittently oopses
  // a multi-threaded TCG guest on the other vCPU (a stale int3): the
  // overheads, with some 20 attach cycles, run with TCG's vCPUs on one host
  // thread; the replays keep a host thread per vCPU (their timing depends on
  // the guest's speed).
  for (const boot of boots) {
    if (!guest) {
      log(`--no-guest: skipping ${boot.what}: ${boot.cmds.join("; ")}`);
      continue;
    }
    const script = boot.cmds.map((c) => `${c} || st=1`).join("; ");
    log(`guest (${boot.tcgThread}-threaded TCG), ${boot.what}: ${script}`);
    // As a variable, not --tcg-thread: guest-run.sh passes ACG_* into the guest, where the overheads describe their setup with it.
    const g = spawnSync(
      join(repo, "scripts", "guest-run.sh"),
      ["--mem", GUEST_MEM, "--timeout", String(boot.timeoutS), "--", "bash", "-c", `st=0; ${script}; exit $st`],
      { cwd: repo, stdio: "inherit", env: { ...process.env, ACG_TCG_THREAD: boot.tcgThread } },
    );
    if (g.status !== 0) {
      log(`guest run failed (exit ${g.status})`);
      failed++;
    }
  }
  for (const n of readdirSync(results)) if (/^plans-.*\.json\.tmp$/.test(n)) rmSync(join(results, n));
  if (only.has("report")) {
    if (!existsSync(join(results, "stats.json"))) log("report: no stats.json yet; the report will say so");
    await writeReport(results);
    log(`report: ${relative(repo, join(results, "REPORT.md"))}`);
  }
  log(`done in ${((Date.now() - t0) / 60000).toFixed(1)} min${failed ? `, ${failed} part(s) failed` : ""}`);
  return failed ? 1 : 0;
}

function shq(s: string): string {
  return /^[A-Za-z0-9_./:=,+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

process.exitCode = await main(process.argv.slice(2));
