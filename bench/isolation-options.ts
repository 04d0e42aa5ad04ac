// What the isolation experiment is asked to run: its options (the command line
// of bench/isolation.ts, which bench/run.ts also checks on the host before it
// boots a guest) and the plans they name. A module of its own so that
// bench/run.ts checks arguments and writes plans without loading the
// launchers or the run loop.

import { readdirSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { comboByName, planCombo, type ComboPlans } from "./plan.js";
import { defaultTraceDir } from "../traces/read.js";

const MiB = 1024 * 1024;
/** The repository (this module runs from dist/bench/): the options' default paths, and acgd's for the policy setups. */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

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
    setups: ["alone", ...BASELINE_SETUPS, ...defaultPolicySetups(REPO)],
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
