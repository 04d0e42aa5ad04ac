// acg_decide.h (built with gcc) against compiler/decide.ts on random vectors:
// the kernel and the cgroup-v2 fallback must decide alike.

import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAPACITY } from "../../compiler/abi.js";
import { includeDir } from "../../compiler/templates-dir.js";
import * as D from "../../compiler/decide.js";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "acg-decide-"));
const driver = join(tmp, "decide-driver");
const VECTORS = 3000;

beforeAll(() => {
  execFileSync("gcc", [
    "-O2",
    "-Wall",
    "-Werror",
    `-DACG_PATTERN_LEN=${CAPACITY.patternLen}`,
    `-DACG_PATH_LEN=${CAPACITY.pathLen}`,
    `-I${includeDir()}`,
    join(here, "decide-driver.c"),
    "-o",
    driver,
  ]);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the C driver over all lines at once; returns its output lines. */
function runC(lines: string[]): string[] {
  const r = spawnSync(driver, { input: `${lines.join("\n")}\n`, encoding: "utf8", maxBuffer: 64 << 20 });
  expect(r.status).toBe(0);
  return r.stdout.trimEnd().split("\n");
}

function sample<T>(arb: fc.Arbitrary<T>): T[] {
  return fc.sample(arb, { numRuns: VECTORS, seed: 0x5eed });
}

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
// Times and sizes that make the interesting branches likely: small, near each other, sometimes huge.
const ns = fc.oneof(fc.bigInt({ min: 0n, max: 100_000n }), fc.bigInt({ min: 0n, max: 1n << 40n }), u64);
const small = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constant(0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));

describe("acg_decide.h = compiler/decide.ts", () => {
  it("scale", () => {
    const v = sample(fc.tuple(u64, ns, ns));
    const c = runC(v.map(([x, n, d]) => `scale ${x} ${n} ${d}`));
    v.forEach(([x, n, d], i) => expect(c[i], `scale ${x} ${n} ${d}`).toBe(String(D.scale(x, n, d))));
  });

  it("burst clock, throttle delay and demotion over sample sequences", () => {
    const step = fc.tuple(fc.bigInt({ min: 0n, max: 5_000_000_000n }), fc.bigInt({ min: 0n, max: 3000n }));
    const arb = fc.record({
      mode: fc.constantFrom(0, 1, 2),
      duration: fc.oneof(fc.bigInt({ min: 0n, max: 10_000_000_000n }), ns),
      refill: fc.oneof(fc.bigInt({ min: 0n, max: 20_000_000_000n }), ns),
      baseline: fc.bigInt({ min: 0n, max: 2000n }),
      burst: fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), u64),
      minMs: fc.integer({ min: 0, max: 2000 }),
      maxMs: fc.integer({ min: 0, max: 5000 }),
      ramp: fc.oneof(fc.bigInt({ min: 0n, max: 10_000_000_000n }), ns),
      t0: fc.bigInt({ min: 1n, max: 1n << 50n }),
      steps: fc.array(step, { minLength: 1, maxLength: 12 }),
    });
    const v = sample(arb);
    const c = runC(
      v.map((x) => {
        let now = x.t0;
        const seq = x.steps.map(([dt, usage]) => {
          now += dt;
          return `${now} ${usage}`;
        });
        const args = [x.mode, x.duration, x.refill, x.baseline, x.burst, x.minMs, x.maxMs, x.ramp, x.t0, x.steps.length];
        return `burst ${args.join(" ")} ${seq.join(" ")}`;
      }),
    );
    v.forEach((x, i) => {
      const bp = { durationNs: x.duration, refillNs: x.refill, mode: x.mode };
      const clock = D.burstInit(bp, x.t0);
      let now = x.t0;
      const ts = x.steps.map(([dt, usage]) => {
        now += dt;
        const verdict = D.burstUpdate(clock, bp, now, usage, x.baseline, x.burst);
        const delay = D.throttleDelayMs(clock, verdict, now, x.minMs, x.maxMs, x.ramp);
        return `${verdict} ${clock.creditNs} ${clock.overSinceNs} ${clock.exhaustedAtNs} ${delay} ${D.memDemotes(verdict) ? 1 : 0}`;
      });
      expect(c[i]).toBe(ts.join(" "));
    });
  });

  it("rule, class and level choice", () => {
    const v = sample(fc.tuple(small, small, small, small, small, small, small, small, fc.boolean()));
    const c = runC(v.map((x) => `choose ${x.slice(0, 8).join(" ")} ${x[8] ? 1 : 0}`));
    v.forEach(([cr, er, dr, nr, rc, oc, nc, prio, dem], i) => {
      expect(c[i]).toBe(`${D.chooseRule(cr, er, dr, nr) >>> 0} ${D.chooseClass(rc, oc, nc) >>> 0} ${D.effectiveLevel(prio, dem)}`);
    });
  });

  it("virtual time charge and floor", () => {
    const v = sample(fc.tuple(ns, fc.integer({ min: 0, max: 10000 }), u64, u64, ns));
    const c = runC(v.map((x) => `vtime ${x.join(" ")}`));
    v.forEach(([used, w, vt, clock, lag], i) => {
      expect(c[i]).toBe(`${D.vtimeCharge(used, w)} ${D.vtimeFloor(vt, clock, lag)} ${D.vtimeBefore(vt, clock) ? 1 : 0}`);
    });
  });

  it("queue choice: starvation, level, virtual time", () => {
    const queue = fc.record({
      level: fc.integer({ min: 0, max: 2 }),
      nonempty: fc.boolean(),
      vtime: fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), u64),
      waitingSinceNs: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 200_000_000n })),
    });
    const v = sample(
      fc.tuple(fc.bigInt({ min: 0n, max: 200_000_000n }), fc.bigInt({ min: 0n, max: 100_000_000n }), fc.array(queue, { maxLength: 64 })),
    );
    const c = runC(
      v.map(
        ([now, bound, qs]) =>
          `pick ${now} ${bound} ${qs.length} ${qs.map((q) => `${q.level} ${q.nonempty ? 1 : 0} ${q.vtime} ${q.waitingSinceNs}`).join(" ")}`,
      ),
    );
    v.forEach(([now, bound, qs], i) => expect(c[i]).toBe(String(D.pickQueue(qs, now, bound))));
  });

  it("Kleene evaluation of postfix programs, malformed ones included", () => {
    const op = fc.tuple(fc.integer({ min: 0, max: 6 }), fc.boolean());
    const v = sample(fc.array(op, { maxLength: 40 }));
    const c = runC(v.map((ops) => `kleene ${ops.length} ${ops.map(([o, h]) => `${o} ${h ? 1 : 0}`).join(" ")}`));
    v.forEach((ops, i) =>
      expect(c[i]).toBe(
        String(
          D.kleeneEval(
            ops.map(([o]) => o),
            ops.map(([, h]) => h),
          ),
        ),
      ),
    );
  });

  it("glob and exact matching, within the step bound", () => {
    const alpha = fc.constantFrom(..."ab/*?.".split(""));
    const text = (max: number) => fc.array(alpha, { maxLength: max }).map((a) => a.join(""));
    const v = sample(fc.tuple(fc.boolean(), text(12), text(24)));
    const hex = (s: string) => `${Buffer.byteLength(s)} ${Buffer.from(s).toString("hex") || "-"}`;
    const c = runC(v.map(([exact, p, s]) => `glob ${exact ? 1 : 0} ${hex(p)} ${hex(s)}`));
    v.forEach(([exact, p, s], i) => {
      const ts = D.globMatch(Buffer.from(p), Buffer.from(s), exact, CAPACITY.patternLen, CAPACITY.pathLen);
      expect(c[i], `${exact} ${p} ${s}`).toBe(`${ts ? 1 : 2} 1`);
    });
  });

  it("glob and exact: known cases", () => {
    const cases: [string, string, boolean][] = [
      ["cc*", "cc1plus", true],
      ["cc*", "gcc", false],
      ["*", "", true],
      ["?", "", false],
      ["py*3*", "python3.11", true],
      ["a*b*c", "aXbYbZc", true],
      ["a*b", "ab/c", false],
    ];
    for (const [p, s, want] of cases) expect(D.globMatch(Buffer.from(p), Buffer.from(s), false, 128, 256), `${p} ~ ${s}`).toBe(want);
    expect(D.globMatch(Buffer.from("a*"), Buffer.from("a*"), true, 128, 256)).toBe(true);
    expect(D.globMatch(Buffer.from("a*"), Buffer.from("ab"), true, 128, 256)).toBe(false);
  });
});
