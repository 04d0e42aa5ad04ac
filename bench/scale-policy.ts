// Scales a lowered policy to the replay: byte quantities by the memory scale,
// trace-time durations (burst credit, refill, throttle delays, ramps, kill
// timers, pressure throttles, ladders' freeze bounds) by 1/speed. Scheduling slices stay as they are
// (they are CPU latencies, not trace time); PSI windows stay within the
// kernel's 500 ms..10 s.

import type { PolicyIR } from "../compiler/ir.js";

export function scalePolicyIR(ir: PolicyIR, scale: number, speed: number): PolicyIR {
  const b = (x: number) => Math.max(4096, Math.round((x * scale) / 4096) * 4096);
  const bn = (x: number | null) => (x === null ? null : b(x));
  const b0 = (x: number) => (x === 0 ? 0 : b(x));
  const ns = (x: number) => Math.max(1e6, Math.round(x / speed));
  const msd = (x: number) => Math.max(1, Math.round(x / speed));
  const out: PolicyIR = structuredClone(ir);
  out.name = `${ir.name}`;
  out.host = { memoryBytes: b(ir.host.memoryBytes), reserveBytes: b0(ir.host.reserveBytes) };
  for (const r of out.rules) {
    const m = r.memory;
    m.baselineBytes = bn(m.baselineBytes);
    m.limitBytes = bn(m.limitBytes);
    m.lowBytes = b0(m.lowBytes);
    m.minBytes = b0(m.minBytes);
    if (m.burst) m.burst = { ...m.burst, bytes: b(m.burst.bytes), durationNs: ns(m.burst.durationNs), refillNs: ns(m.burst.refillNs) };
    m.overHigh = {
      delayMinMs: msd(m.overHigh.delayMinMs),
      delayMaxMs: msd(m.overHigh.delayMaxMs),
      rampNs: ns(m.overHigh.rampNs),
      killAfterNs: m.overHigh.killAfterNs === null ? null : ns(m.overHigh.killAfterNs),
    };
  }
  for (const t of out.tenants) {
    t.guaranteeBytes = b0(t.guaranteeBytes);
    t.limitBytes = bn(t.limitBytes);
  }
  for (const p of out.agentProfiles) {
    p.guaranteeBytes = b0(p.guaranteeBytes);
    p.limitBytes = bn(p.limitBytes);
    p.intent.memoryMaxBytes = bn(p.intent.memoryMaxBytes);
  }
  // Ladder watermarks are shares of the domain's budget: only the freeze bound is trace time.
  for (const l of out.ladders) if (l.freezeMaxNs !== null) l.freezeMaxNs = ns(l.freezeMaxNs);
  for (const p of out.pressureRules) {
    p.windowNs = Math.min(10e9, Math.max(500e6, Math.round(p.windowNs / speed)));
    p.throttle = p.throttle.map((t) => ({ ...t, delayMs: msd(t.delayMs) }));
  }
  return out;
}

/** Where the host puts a policy compiled at the replay's scale (inside the work tree, so the guest sees it). */
export function scaledPolicyDir(repo: string, policyPath: string, scale: number, speed: number): string {
  const base = policyPath.replace(/^.*\//, "").replace(/\.acg$/, "");
  return `${repo}/.cache/bench-policies/${base}-scale${Math.round(1 / scale)}-speed${speed}`;
}

/**
 * Compiles the scaled policy (objects, manifest, ir.json) on the host: clang in
 * the guest (emulated, empty object cache) would take minutes per policy.
 */
export async function compileScaledPolicy(
  repo: string,
  policyPath: string,
  scale: number,
  speed: number,
): Promise<{ dir: string; ok: boolean; message: string }> {
  const { loadPolicyFrom } = await import("../runtime/policy-source.js");
  const { compilePolicy } = await import("../compiler/compile.js");
  const l = loadPolicyFrom(policyPath);
  if (!l.ok) return { dir: "", ok: false, message: l.message };
  const dir = scaledPolicyDir(repo, policyPath, scale, speed);
  const r = await compilePolicy(scalePolicyIR(l.ir, scale, speed), { outDir: dir });
  return {
    dir,
    ok: r.ok,
    message: r.ok
      ? `compiled ${policyPath} at scale 1/${Math.round(1 / scale)}, speed ${speed} -> ${dir}`
      : r.diagnostics.map((d) => d.message).join("; "),
  };
}
