// Host side of the kernel suite: compiles every policy the guest will load —
// the shipped ones (policies/*.acg), the suite's own (test/kernel/policies/)
// and N random valid ones (gen-policy.ts) — into OUT/<kind>-<name>/ with the
// objects, manifest.json and ir.json, and writes OUT/index.json.
//
//   node dist/test/kernel/prepare.js OUT [--random N] [--seed S]

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { compilePolicy } from "../../compiler/compile.js";
import { loadPolicyText } from "../../compiler/frontend.js";
import { lowerPolicy } from "../../compiler/lower.js";
import { generatePolicies } from "./gen-policy.js";

export type PolicyKind = "shipped" | "test" | "random";

export interface IndexEntry {
  kind: PolicyKind;
  name: string;
  source: string;
  /** Compiled policy directory (absolute). */
  dir: string;
  ok: boolean;
  /** Why it did not compile (front end or back end diagnostics). */
  error?: string;
  compileMs: number;
}

export interface SuiteIndex {
  createdAt: string;
  seed: number;
  entries: IndexEntry[];
}

async function compileOne(kind: PolicyKind, source: string, text: string, out: string): Promise<IndexEntry> {
  const t0 = performance.now();
  const front = loadPolicyText(source, text);
  const base = { kind, source, compileMs: 0 };
  if (!front.ok || !front.checked) {
    const msg = front.diagnostics
      .filter((d) => d.severity === "error")
      .map((d) => `${d.code}: ${d.message}`)
      .join("; ");
    return { ...base, name: source, dir: "", ok: false, error: `front end: ${msg}`, compileMs: performance.now() - t0 };
  }
  const ir = lowerPolicy(front.checked);
  const dir = join(out, `${kind}-${ir.name}`);
  rmSync(dir, { recursive: true, force: true });
  const r = await compilePolicy(ir, { outDir: dir });
  const entry: IndexEntry = { ...base, name: ir.name, dir, ok: r.ok, compileMs: performance.now() - t0 };
  if (!r.ok) entry.error = `back end: ${r.diagnostics.map((d) => `${d.code}: ${d.message}`).join("; ")}`;
  else writeFileSync(join(dir, "ir.json"), `${JSON.stringify(ir)}\n`);
  if (kind === "random") writeFileSync(join(dir, "policy.acg"), text);
  return entry;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const out = resolve(args[0] ?? ".cache/kernel-tests");
  let random = 40;
  let seed = Date.now() % 100000;
  for (let i = 1; i < args.length; i++) {
    if (args[i] === "--random") random = Number(args[++i]);
    else if (args[i] === "--seed") seed = Number(args[++i]);
    else throw new Error(`prepare: unknown argument ${args[i]}`);
  }
  mkdirSync(out, { recursive: true });
  const t0 = performance.now();
  const jobs: { kind: PolicyKind; source: string; text: string }[] = [];
  for (const [kind, dir] of [
    ["shipped", "policies"],
    ["test", "test/kernel/policies"],
  ] as const) {
    for (const f of readdirSync(dir)
      .filter((x) => x.endsWith(".acg"))
      .sort()) {
      jobs.push({ kind, source: join(dir, f), text: readFileSync(join(dir, f), "utf8") });
    }
  }
  for (const g of generatePolicies(random, seed)) jobs.push({ kind: "random", source: `random:${g.name}`, text: g.text });

  // Two at a time: each compile already runs clang on its three objects in parallel.
  const entries: IndexEntry[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < jobs.length) {
        const i = next++;
        const j = jobs[i]!;
        entries[i] = await compileOne(j.kind, j.source, j.text, out);
      }
    }),
  );
  const index: SuiteIndex = { createdAt: new Date().toISOString(), seed, entries };
  writeFileSync(join(out, "index.json"), `${JSON.stringify(index, null, 2)}\n`);
  const bad = entries.filter((e) => !e.ok);
  console.log(
    `prepare: ${entries.length} policies compiled into ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s ` +
      `(${random} random, seed ${seed}); ${bad.length} failed`,
  );
  for (const b of bad) console.log(`prepare: FAIL ${b.source}: ${b.error}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
