// A tiny assertion harness for the in-guest suite (plain node: no vitest
// inside the guest). Tests run in order; each prints PASS/FAIL with its time;
// summary() prints "N passed, N failed" and sets the exit status.

export class AssertionError extends Error {}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new AssertionError(message);
}

export function assertEq<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) throw new AssertionError(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}

export interface Outcome {
  name: string;
  ok: boolean;
  ms: number;
  detail?: string;
  error?: string;
}

const outcomes: Outcome[] = [];

/** Runs `fn`; a thrown error fails the test. Returns fn's value or undefined on failure. */
export async function test<T>(name: string, fn: () => Promise<T> | T): Promise<T | undefined> {
  const t0 = performance.now();
  try {
    const v = await fn();
    const ms = performance.now() - t0;
    const detail = typeof v === "string" ? v : undefined;
    outcomes.push({ name, ok: true, ms, ...(detail ? { detail } : {}) });
    console.log(`PASS ${name} (${ms.toFixed(0)} ms)${detail ? `: ${detail}` : ""}`);
    return v;
  } catch (e) {
    const ms = performance.now() - t0;
    const err = e as Error & { verifierLog?: string; op?: string; code?: string };
    let msg = e instanceof AssertionError ? err.message : `${err.name}: ${err.message}${err.op ? ` [op ${err.op}, ${err.code}]` : ""}`;
    if (err.verifierLog)
      msg += `\n    verifier log (tail):\n${err.verifierLog
        .trim()
        .split("\n")
        .slice(-25)
        .map((l) => `      ${l}`)
        .join("\n")}`;
    else if (!(e instanceof AssertionError) && err.stack) msg += `\n${err.stack.split("\n").slice(1, 5).join("\n")}`;
    outcomes.push({ name, ok: false, ms, error: msg });
    console.log(`FAIL ${name} (${ms.toFixed(0)} ms): ${msg}`);
    return undefined;
  }
}

/** Records a failure without running anything (e.g. a policy that did not compile). */
export function fail(name: string, error: string): void {
  outcomes.push({ name, ok: false, ms: 0, error });
  console.log(`FAIL ${name}: ${error}`);
}

export function results(): readonly Outcome[] {
  return outcomes;
}

export function summary(): number {
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length) {
    console.log("\nfailed:");
    for (const f of failed) console.log(`  - ${f.name}`);
  }
  const line = `${outcomes.length - failed.length} passed, ${failed.length} failed`;
  console.log(`\n${line}`);
  return failed.length ? 1 : 0;
}
