// Random valid .acg policies for the kernel property test: classes with every
// priority, weight and latency range; tool rules with exe/path/argv/tool/hint
// matchers (==, in, matches, ~, not/and/or), memory baselines, limits,
// guarantees, bursts (refill and cooldown) and over_high actions; pressure
// rules with protect and throttle. Numbers are drawn inside the language's
// bounds and the checker's rules (baseline + burst <= limit, guarantee <= what
// the call may use, budget within the host), so every policy must check,
// compile and load.

import fc from "fast-check";

type Of<A> = A extends fc.Arbitrary<infer T> ? T : never;

const word = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,10}$/);
const glob = fc.tuple(word, fc.constantFrom("*", "?", "*.*", ""), fc.constantFrom("", "*", "?x")).map(([w, a, b]) => `${w}${a}${b}`);
const pathGlob = fc.tuple(fc.constantFrom("/usr/bin/", "/usr/local/bin/", "/opt/", "/tmp/"), glob).map(([d, g]) => `${d}${g}`);
const quote = (s: string) => `"${s}"`;
const list = <T>(a: fc.Arbitrary<T>) => fc.array(a, { minLength: 1, maxLength: 3 });

const predicate: fc.Arbitrary<string> = fc.oneof(
  word.map((w) => `exe == ${quote(w)}`),
  word.map((w) => `exe != ${quote(w)}`),
  list(word).map((ws) => `exe in [${ws.map(quote).join(", ")}]`),
  glob.map((g) => `exe matches ${quote(g)}`),
  list(glob).map((gs) => `exe matches [${gs.map(quote).join(", ")}]`),
  pathGlob.map((g) => `path matches ${quote(g)}`),
  fc.tuple(fc.constantFrom("/usr/bin/", "/bin/"), word).map(([d, w]) => `path == ${quote(d + w)}`),
  word.map((w) => `exe ~ /^${w.replace(/\./g, "\\.")}$/`),
  word.map((w) => `argv ~ /${w.replace(/\./g, "\\.")}/`),
  fc.tuple(word, fc.constantFrom("", "*")).map(([w, s]) => `argv matches ${quote(`* ${w}${s}`)}`),
  fc.constantFrom("Bash", "Read", "Grep", "Edit").map((t) => `tool == ${quote(t)}`),
  word.map((w) => `hint == ${quote(w)}`),
);

const expr: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    predicate,
    fc.tuple(tie("e"), fc.constantFrom("and", "or"), tie("e")).map(([a, op, b]) => `(${a} ${op} ${b})`),
    tie("e").map((a) => `not ${a}`),
  ),
})).e;

/** A bounded matcher: at most 4 predicates, so the kernel program fits 32 ops. */
const matcher = expr.filter((e) => (e.match(/==|!=| in |matches|~/g) ?? []).length <= 4 && (e.match(/,/g) ?? []).length <= 4);

const MiB = (n: number) => `${n}MiB`;

const memory = fc.record({
  baseline: fc.option(fc.integer({ min: 1, max: 2048 }), { nil: undefined }),
  burst: fc.option(
    fc.record({
      mib: fc.integer({ min: 1, max: 1024 }),
      forS: fc.integer({ min: 1, max: 120 }),
      mode: fc.constantFrom("", "refill", "cooldown"),
      afterS: fc.integer({ min: 1, max: 300 }),
    }),
    { nil: undefined },
  ),
  extraLimit: fc.option(fc.integer({ min: 0, max: 2048 }), { nil: undefined }),
  guaranteePct: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
  overHigh: fc.option(
    fc.record({
      minMs: fc.integer({ min: 1, max: 1000 }),
      maxExtraMs: fc.integer({ min: 0, max: 1000 }),
      rampS: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }),
      killAfterS: fc.option(fc.integer({ min: 1, max: 600 }), { nil: undefined }),
    }),
    { nil: undefined },
  ),
});

function memoryLines(m: Of<typeof memory>): string[] {
  const out: string[] = [];
  const base = m.baseline;
  if (base !== undefined) out.push(`memory.baseline = ${MiB(base)}`);
  const burst = base !== undefined ? m.burst : undefined;
  if (burst) {
    const tail = burst.mode === "" ? "" : `, ${burst.mode} ${burst.afterS}s`;
    out.push(`memory.burst = ${MiB(burst.mib)} for ${burst.forS}s${tail}`);
  }
  let limit: number | undefined;
  if (m.extraLimit !== undefined) {
    limit = Math.max(1, (base ?? 0) + (burst?.mib ?? 0) + m.extraLimit);
    out.push(`memory.limit = ${MiB(limit)}`);
  }
  const usable = base ?? limit;
  if (m.guaranteePct !== undefined && usable !== undefined) {
    const g = Math.floor((usable * m.guaranteePct) / 100);
    if (g > 0) out.push(`memory.guarantee = ${MiB(g)}`);
  }
  if (m.overHigh && base !== undefined) {
    const o = m.overHigh;
    const max = Math.min(o.minMs + o.maxExtraMs, 2000);
    const parts = [`throttle ${o.minMs}ms..${max}ms${o.rampS !== undefined ? ` ramp ${o.rampS}s` : ""}`];
    if (o.killAfterS !== undefined) parts.push(`kill after ${o.killAfterS}s`);
    out.push(`over_high ${parts.join(", ")}`);
  }
  return out;
}

const classDef = fc.record({
  priority: fc.constantFrom("high", "normal", "low"),
  weight: fc.integer({ min: 1, max: 10000 }),
  latency: fc.oneof(
    fc.integer({ min: 100, max: 999 }).map((u) => `${u}us`),
    fc.integer({ min: 1, max: 1000 }).map((ms) => `${ms}ms`),
    fc.constant("1s"),
  ),
});

const ruleDef = fc.record({ match: matcher, classIndex: fc.nat(), memory });

const pressureDef = fc.record({
  full: fc.boolean(),
  scope: fc.constantFrom("host", "agent"),
  threshold: fc.integer({ min: 1, max: 100 }),
  windowMs: fc.integer({ min: 500, max: 10000 }),
  protect: fc.array(fc.nat(), { maxLength: 2 }),
  throttle: fc.array(fc.record({ classes: fc.array(fc.nat(), { minLength: 1, maxLength: 2 }), ms: fc.integer({ min: 1, max: 2000 }) }), {
    maxLength: 2,
  }),
});

export const policyArb = fc.record({
  classes: fc.array(classDef, { minLength: 1, maxLength: 6 }),
  rules: fc.array(ruleDef, { maxLength: 8 }),
  defaultRule: fc.record({ classIndex: fc.nat(), memory }),
  pressure: fc.array(pressureDef, { maxLength: 3 }),
});

export type GeneratedPolicy = Of<typeof policyArb>;

/** Renders a generated policy as .acg text named `name`. */
export function renderPolicy(name: string, p: GeneratedPolicy): string {
  const cls = (i: number) => `c${i % p.classes.length}`;
  const lines = ["version 1", "", `policy ${name} {`, "  host { memory = 1TiB; reserve = 1GiB }"];
  p.classes.forEach((c, i) => lines.push(`  class c${i} { priority = ${c.priority}; cpu.weight = ${c.weight}; latency = ${c.latency} }`));
  p.rules.forEach((r, i) => {
    lines.push(`  tool t${i} {`, `    match ${r.match}`, `    class ${cls(r.classIndex)}`);
    for (const l of memoryLines(r.memory)) lines.push(`    ${l}`);
    lines.push("  }");
  });
  lines.push("  tool default {", `    class ${cls(p.defaultRule.classIndex)}`);
  for (const l of memoryLines(p.defaultRule.memory)) lines.push(`    ${l}`);
  lines.push("  }");
  for (const w of p.pressure) {
    const actions: string[] = [];
    const protect = [...new Set(w.protect.map(cls))];
    if (protect.length) actions.push(`protect ${protect.join(", ")}`);
    for (const t of w.throttle) actions.push(`throttle ${[...new Set(t.classes.map(cls))].join(", ")} ${t.ms}ms`);
    if (actions.length === 0) actions.push(`throttle ${cls(0)} 10ms`);
    lines.push(
      `  when memory.pressure${w.full ? ".full" : ""}(${w.scope}) > ${w.threshold}% for ${w.windowMs}ms { ${actions.join("; ")} }`,
    );
  }
  lines.push("}", "");
  return lines.join("\n");
}

/** `count` policies from `seed` (deterministic). */
export function generatePolicies(count: number, seed: number): { name: string; text: string }[] {
  return fc.sample(policyArb, { numRuns: count, seed }).map((p, i) => {
    const name = `kt_random_${seed}_${i}`;
    return { name, text: renderPolicy(name, p) };
  });
}
