// `acgc compile` as a user runs it: the whole command, process start and module
// loading included, against bare clang on the same emitted C, all measured in
// this one run. For each shipped policy, REPEATS times:
// - cold: an empty cache (front end, C, three clangs);
// - cached: the same command again (the whole result from the compile cache);
// - data edit: the policy with a comment added, so the text differs but the C
//   does not (the front end runs, clang does not: the object cache);
// - clang: bare clang on the three .c files the cold compile wrote, in
//   parallel as acgc runs them;
// and Node's own start (`node -e 0`), the floor under any command written in it.
// CPU is user + system time from the rusage of the measured command and every
// process it waited for (clang included; bash's `times`, after the command
// exits), so parallel clangs count in full; wall time is shown too. Medians
// of the repeats; targets: cold ≤ 1.5× clang's CPU, cached ≤ 150 ms. Prints
// figures and verdicts; asserts nothing.
//   npm run bench:compile [-- REPEATS]

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { clangVersion, compileFlags, findClang } from "../../compiler/build.js";
import { includeDir } from "../../compiler/templates-dir.js";

const ACGC = resolve("bin/acgc.js");
const REPEATS = Number(process.argv[2] ?? 3);
const COLD_RATIO_TARGET = 1.5;
const CACHED_MS_TARGET = 150;

interface Cost {
  wallMs: number;
  cpuMs: number;
}

/** Runs a shell command line; returns its wall time and the CPU of every process it ran (ms). */
function measure(commandLine: string, env: NodeJS.ProcessEnv): Cost {
  const t0 = performance.now();
  const out = execFileSync("bash", ["-c", `${commandLine} >/dev/null 2>&1 || exit 1; times`], { env, encoding: "utf8" });
  const wallMs = performance.now() - t0;
  // `times`: the shell's user/sys, then its children's user/sys, as 0m1.234s.
  const children = out
    .trim()
    .split("\n")
    .at(-1)!
    .split(/\s+/)
    .map((t) => {
      const m = /^(\d+)m([\d.]+)s$/.exec(t);
      return m ? (Number(m[1]) * 60 + Number(m[2])) * 1000 : 0;
    });
  return { wallMs, cpuMs: children.reduce((a, b) => a + b, 0) };
}

function median(costs: Cost[]): Cost {
  const mid = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  return { wallMs: mid(costs.map((c) => c.wallMs)), cpuMs: mid(costs.map((c) => c.cpuMs)) };
}

const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
const ms = (x: number) => `${x.toFixed(0)} ms`;
const COLUMNS: [string, number][] = [
  ["policy", 18],
  ["clang cpu", 10],
  ["cold cpu", 10],
  ["ratio", 7],
  ["cold wall", 10],
  ["cached cpu", 11],
  ["cached wall", 12],
  ["edit cpu", 10],
  ["edit wall", 10],
];
const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(COLUMNS[0]![1]) : c.padStart(COLUMNS[i]![1]))).join("");

function main(): void {
  const clang = findClang();
  if (!clang) throw new Error("clang not found: run scripts/setup-system.sh");
  const tmp = mkdtempSync(join(tmpdir(), "acg-bench-"));
  const policies = readdirSync("policies")
    .filter((n) => n.endsWith(".acg"))
    .sort();
  const node = median(Array.from({ length: REPEATS * 2 }, () => measure("node -e 0", process.env)));
  console.log(`${REPEATS} repeats, medians; ${clangVersion(clang)}`);
  console.log(row(COLUMNS.map(([h]) => h)));
  const verdicts: { policy: string; ratio: number; cachedMs: number }[] = [];
  for (const f of policies) {
    const runs = { clang: [] as Cost[], cold: [] as Cost[], cached: [] as Cost[], edit: [] as Cost[] };
    for (let i = 0; i < REPEATS; i++) {
      const dir = join(tmp, f, String(i));
      mkdirSync(dir, { recursive: true });
      const env = { ...process.env, ACG_CACHE_DIR: join(dir, "cache") };
      const compile = (policy: string, out: string) => measure(`node ${q(ACGC)} compile ${q(policy)} -o ${q(join(dir, out))}`, env);
      runs.cold.push(compile(join("policies", f), "cold"));
      runs.cached.push(compile(join("policies", f), "cached"));
      const edited = join(dir, f);
      writeFileSync(edited, `// a data-only edit\n${readFileSync(join("policies", f), "utf8")}`);
      runs.edit.push(compile(edited, "edit"));
      const flags = compileFlags([join(dir, "cold"), includeDir()])
        .map(q)
        .join(" ");
      const clangOne = (s: string) => `${q(clang.path)} ${flags} -c ${q(join(dir, "cold", `${s}.bpf.c`))} -o ${q(join(dir, `${s}.o`))} &`;
      runs.clang.push(measure(`${["scheduler", "memcg", "classifier"].map(clangOne).join(" ")} wait`, env));
    }
    const [bare, cold, cached, edit] = [runs.clang, runs.cold, runs.cached, runs.edit].map(median) as [Cost, Cost, Cost, Cost];
    const ratio = cold.cpuMs / bare.cpuMs;
    verdicts.push({ policy: f, ratio, cachedMs: cached.cpuMs });
    console.log(
      row([
        f,
        ms(bare.cpuMs),
        ms(cold.cpuMs),
        `${ratio.toFixed(2)}x`,
        ms(cold.wallMs),
        ms(cached.cpuMs),
        ms(cached.wallMs),
        ms(edit.cpuMs),
        ms(edit.wallMs),
      ]),
    );
  }
  console.log(`node -e 0 (Node's own start, in every command above): ${ms(node.cpuMs)} CPU, ${ms(node.wallMs)} wall`);
  const worstRatio = verdicts.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  const worstCached = verdicts.reduce((a, b) => (b.cachedMs > a.cachedMs ? b : a));
  const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
  console.log(
    `cold ≤ ${COLD_RATIO_TARGET}x bare clang's CPU: ${verdict(worstRatio.ratio <= COLD_RATIO_TARGET)} ` +
      `(worst ${worstRatio.ratio.toFixed(2)}x, ${worstRatio.policy})`,
  );
  console.log(
    `cached ≤ ${CACHED_MS_TARGET} ms CPU: ${verdict(worstCached.cachedMs <= CACHED_MS_TARGET)} ` +
      `(worst ${ms(worstCached.cachedMs)}, ${worstCached.policy}; ${ms(worstCached.cachedMs - node.cpuMs)} above Node's start)`,
  );
  console.log("cold: empty cache; cached: the same command again; edit: a comment added (the C unchanged, so clang does not run).");
  rmSync(tmp, { recursive: true, force: true });
}

main();
