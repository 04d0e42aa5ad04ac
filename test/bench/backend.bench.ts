// `acgc compile` as a user runs it: the whole command, process start and module
// loading included, against bare clang on the same emitted C. For each shipped
// policy: a cold compile (empty object cache), a cached one (the same policy
// again), and clang alone on the three .c files the cold one wrote. CPU is the
// children's user + system time as bash's `times` reports it (clang runs in
// parallel, so CPU, not wall time, is the fair comparison); wall time is shown
// too. Targets: cold ≤ 1.5× clang's CPU, cached ≤ 150 ms. Prints figures;
// asserts nothing.
//   npm run bench:compile

import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compileFlags, findClang } from "../../compiler/build.js";
import { includeDir } from "../../compiler/emit-c.js";

const ACGC = resolve("bin/acgc.js");

/** Runs a shell command line; returns its wall time and its children's CPU time (ms). */
function measure(commandLine: string, env: NodeJS.ProcessEnv): { wallMs: number; cpuMs: number } {
  const t0 = performance.now();
  const out = execFileSync("bash", ["-c", `${commandLine} >/dev/null 2>&1 || exit 1; times`], { env, encoding: "utf8" });
  const wallMs = performance.now() - t0;
  // `times`: shell user/sys, then children user/sys, as 0m1.234s.
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

const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
const ms = (x: number) => `${x.toFixed(0)} ms`.padStart(9);

async function main(): Promise<void> {
  const clang = await findClang();
  if (!clang) throw new Error("clang not found: run scripts/setup-system.sh");
  const tmp = mkdtempSync(join(tmpdir(), "acg-bench-"));
  const policies = readdirSync("policies")
    .filter((n) => n.endsWith(".acg"))
    .sort();
  console.log(
    "policy".padEnd(20) +
      ["clang cpu", "cold cpu"].map((h) => h.padStart(10)).join("") +
      "ratio".padStart(7) +
      "cold wall".padStart(10) +
      "cached cpu".padStart(11) +
      "cached wall".padStart(12),
  );
  for (const f of policies) {
    const env = { ...process.env, ACG_CACHE_DIR: join(tmp, f, "cache") };
    const cold = join(tmp, f, "cold");
    const c = measure(`node ${q(ACGC)} compile ${q(join("policies", f))} -o ${q(cold)}`, env);
    const w = measure(`node ${q(ACGC)} compile ${q(join("policies", f))} -o ${q(join(tmp, f, "warm"))}`, env);
    const flags = compileFlags([cold, includeDir()]).map(q).join(" ");
    const sources = ["scheduler", "memcg", "classifier"];
    const clangOne = (s: string) => `${q(clang.path)} ${flags} -c ${q(join(cold, `${s}.bpf.c`))} -o ${q(join(tmp, f, `${s}.o`))} &`;
    const bare = measure(`${sources.map(clangOne).join(" ")} wait`, env);
    const ratio = `${(c.cpuMs / bare.cpuMs).toFixed(2)}x`.padStart(7);
    console.log(
      f.padEnd(20) +
        ms(bare.cpuMs).padStart(10) +
        ms(c.cpuMs).padStart(10) +
        ratio +
        ms(c.wallMs).padStart(10) +
        ms(w.cpuMs).padStart(11) +
        ms(w.wallMs).padStart(12),
    );
  }
  console.log("clang cpu: bare clang on the three emitted .c files; cold: `node bin/acgc.js compile` with an empty object cache;");
  console.log("cached: the same command again (objects from the cache, clang not run). CPU = user + system of every child process.");
  rmSync(tmp, { recursive: true, force: true });
}

void main();
