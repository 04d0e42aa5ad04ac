// The decision model, shared by the compiler (ABI codes) and the runtime: the
// reference model of bpf-templates/include/acg_decide.h, the same decisions
// (burst credit, throttle delay, class choice, demotion, virtual time, queue
// order, Kleene evaluation, globs) for the runtime's cgroup-v2 fallback.
// 64-bit quantities are bigints wrapped exactly as C's unsigned arithmetic
// wraps them; test/decide checks this file against the C on random vectors.

const U64 = (1n << 64n) - 1n;
const u64 = (x: bigint): bigint => x & U64;

export const ACG_NONE = 0xffffffff;
export const ACG_UNLIMITED = U64;
export const ACG_LEVELS = 3;
export const ACG_LEVEL_LOWEST = ACG_LEVELS - 1;
export const ACG_WEIGHT_NEUTRAL = 100n;
export const ACG_MAX_CHARGE_NS = 1n << 40n;

/** x * num / den for num <= den without 64-bit overflow (same rounding as the C). */
export function scale(x: bigint, num: bigint, den: bigint): bigint {
  for (let i = 0; i < 32 && den > 0xffffffffn; i++) {
    num >>= 1n;
    den >>= 1n;
  }
  if (den === 0n || num >= den) return x;
  return u64((x / den) * num + ((x % den) * num) / den);
}

export const BurstMode = { none: 0, refill: 1, cooldown: 2 } as const;
export type BurstModeCode = (typeof BurstMode)[keyof typeof BurstMode];

export const MemVerdict = { calm: 0, bursting: 1, throttled: 2 } as const;
export type MemVerdictCode = (typeof MemVerdict)[keyof typeof MemVerdict];

export interface BurstParams {
  durationNs: bigint;
  refillNs: bigint;
  mode: BurstModeCode;
}

export interface BurstClock {
  creditNs: bigint;
  updatedNs: bigint;
  /** Start of the current continuous overage, 0 while calm. */
  overSinceNs: bigint;
  /** When the credit last ran out, 0 while some is left. */
  exhaustedAtNs: bigint;
}

export function burstInit(bp: BurstParams, now: bigint): BurstClock {
  return { creditNs: bp.mode === BurstMode.none ? 0n : bp.durationNs, updatedNs: now, overSinceNs: 0n, exhaustedAtNs: 0n };
}

/** Advances the clock (in place) to `now` given the usage sampled now; returns the verdict. */
export function burstUpdate(
  c: BurstClock,
  bp: BurstParams,
  now: bigint,
  usage: bigint,
  baseline: bigint,
  burstBytes: bigint,
): MemVerdictCode {
  const over = usage > baseline;
  if (now < c.updatedNs) now = c.updatedNs;
  const elapsed = now - c.updatedNs;
  c.updatedNs = now;

  if (bp.mode === BurstMode.none) {
    c.creditNs = 0n;
  } else if (c.overSinceNs !== 0n) {
    c.creditNs = c.creditNs > elapsed ? c.creditNs - elapsed : 0n;
    if (c.creditNs === 0n && c.exhaustedAtNs === 0n) c.exhaustedAtNs = now;
  } else if (bp.mode === BurstMode.refill) {
    const gain = elapsed >= bp.refillNs ? bp.durationNs : scale(bp.durationNs, elapsed, bp.refillNs);
    const room = bp.durationNs - (c.creditNs < bp.durationNs ? c.creditNs : bp.durationNs);
    c.creditNs = u64(c.creditNs + (gain < room ? gain : room));
  }
  if (bp.mode === BurstMode.cooldown && c.creditNs === 0n && c.exhaustedAtNs !== 0n && now - c.exhaustedAtNs >= bp.refillNs) {
    c.creditNs = bp.durationNs;
  }
  if (c.creditNs !== 0n) c.exhaustedAtNs = 0n;

  if (!over) {
    c.overSinceNs = 0n;
    return MemVerdict.calm;
  }
  if (c.overSinceNs === 0n) c.overSinceNs = now;
  if (c.creditNs === 0n && c.exhaustedAtNs === 0n) c.exhaustedAtNs = now;
  const sum = u64(baseline + burstBytes);
  const ceiling = sum < baseline ? ACG_UNLIMITED : sum;
  if (usage > ceiling || c.creditNs === 0n) return MemVerdict.throttled;
  return MemVerdict.bursting;
}

/** memory.high delay (ms) of a throttled tool call, ramping from minMs to maxMs over rampNs. */
export function throttleDelayMs(c: BurstClock, verdict: MemVerdictCode, now: bigint, minMs: number, maxMs: number, rampNs: bigint): number {
  if (verdict !== MemVerdict.throttled) return 0;
  if (maxMs < minMs) maxMs = minMs;
  const since = c.exhaustedAtNs > c.overSinceNs ? c.exhaustedAtNs : c.overSinceNs;
  const t = now > since ? now - since : 0n;
  if (rampNs === 0n || t >= rampNs) return maxMs;
  return (minMs + Number(scale(BigInt(maxMs - minMs), t, rampNs))) >>> 0;
}

export function memDemotes(verdict: MemVerdictCode): boolean {
  return verdict === MemVerdict.throttled;
}

export function chooseRule(cgroupRule: number, execRule: number, defaultRule: number, nrRules: number): number {
  if (cgroupRule >>> 0 < nrRules) return cgroupRule;
  if (execRule >>> 0 < nrRules) return execRule;
  return defaultRule;
}

export function chooseClass(ruleClass: number, overrideClass: number, nrClasses: number): number {
  if (overrideClass >>> 0 < nrClasses) return overrideClass;
  return ruleClass >>> 0 < nrClasses ? ruleClass : 0;
}

export function effectiveLevel(priority: number, demoted: boolean): number {
  if (demoted || priority >>> 0 > ACG_LEVEL_LOWEST) return ACG_LEVEL_LOWEST;
  return priority;
}

export function vtimeCharge(usedNs: bigint, weight: number): bigint {
  if (usedNs > ACG_MAX_CHARGE_NS) usedNs = ACG_MAX_CHARGE_NS;
  const w = BigInt(weight === 0 ? 1 : weight >>> 0);
  return (usedNs * ACG_WEIGHT_NEUTRAL) / w;
}

export function vtimeBefore(a: bigint, b: bigint): boolean {
  return BigInt.asIntN(64, u64(a - b)) < 0n;
}

export function vtimeFloor(vtime: bigint, clock: bigint, lagNs: bigint): bigint {
  if (vtimeBefore(u64(vtime + lagNs), clock)) return u64(clock - lagNs);
  return vtime;
}

export interface QueueView {
  level: number;
  nonempty: boolean;
  vtime: bigint;
  /** Since when it has work and has not been served, 0 when unknown. */
  waitingSinceNs: bigint;
}

export function queueStarved(q: QueueView, now: bigint, boundNs: bigint): boolean {
  return q.nonempty && q.waitingSinceNs !== 0n && now > q.waitingSinceNs && now - q.waitingSinceNs > boundNs;
}

/** Does queue a go before queue b: starved first (oldest first), then level, then class virtual time. */
export function queueBefore(a: QueueView, b: QueueView, now: bigint, boundNs: bigint): boolean {
  if (!a.nonempty) return false;
  if (!b.nonempty) return true;
  const sa = queueStarved(a, now, boundNs);
  const sb = queueStarved(b, now, boundNs);
  if (sa !== sb) return sa;
  if (sa) return a.waitingSinceNs < b.waitingSinceNs;
  if (a.level !== b.level) return a.level < b.level;
  return vtimeBefore(a.vtime, b.vtime);
}

/** The queue dispatch serves next, as the scheduler's scan picks it (first best wins ties); -1 when all are empty. */
export function pickQueue(queues: QueueView[], now: bigint, boundNs: bigint): number {
  let best = -1;
  queues.forEach((q, i) => {
    if (q.nonempty && (best < 0 || queueBefore(q, queues[best]!, now, boundNs))) best = i;
  });
  return best;
}

export const Tri = { false: 0, true: 1, unknown: 2 } as const;
export type TriValue = (typeof Tri)[keyof typeof Tri];

export const KopCode = { true: 0, unknown: 1, pattern: 2, and: 3, or: 4, not: 5 } as const;

export const KLEENE_DEPTH = 32;

export function triAnd(a: TriValue, b: TriValue): TriValue {
  if (a === Tri.false || b === Tri.false) return Tri.false;
  return a === Tri.true && b === Tri.true ? Tri.true : Tri.unknown;
}

export function triOr(a: TriValue, b: TriValue): TriValue {
  if (a === Tri.true || b === Tri.true) return Tri.true;
  return a === Tri.false && b === Tri.false ? Tri.false : Tri.unknown;
}

export function triNot(a: TriValue): TriValue {
  return a === Tri.unknown ? Tri.unknown : a === Tri.true ? Tri.false : Tri.true;
}

/**
 * Evaluates a postfix program (op codes of KopCode; `hits[i]` = truth of the
 * pattern op at i). Malformed programs (stack under/overflow, unknown op,
 * not exactly one result) yield unknown, as in the kernel.
 */
export function kleeneEval(ops: readonly number[], hits: readonly boolean[]): TriValue {
  const stack: TriValue[] = [];
  let broken = false;
  const push = (v: TriValue) => {
    if (stack.length >= KLEENE_DEPTH) broken = true;
    else stack.push(v);
  };
  const pop = (): TriValue => {
    const v = stack.pop();
    if (v === undefined) {
      broken = true;
      return Tri.unknown;
    }
    return v;
  };
  ops.forEach((op, i) => {
    switch (op) {
      case KopCode.true:
        push(Tri.true);
        break;
      case KopCode.unknown:
        push(Tri.unknown);
        break;
      case KopCode.pattern:
        push(hits[i] ? Tri.true : Tri.false);
        break;
      case KopCode.and: {
        const b = pop();
        const a = pop();
        push(triAnd(a, b));
        break;
      }
      case KopCode.or: {
        const b = pop();
        const a = pop();
        push(triOr(a, b));
        break;
      }
      case KopCode.not:
        push(triNot(pop()));
        break;
      default:
        broken = true;
    }
  });
  return broken || stack.length !== 1 ? Tri.unknown : stack[0]!;
}

/** Glob match (`*`, `?`; `exact` takes both literally) over bytes, with the kernel's length caps. */
export function globMatch(pattern: Uint8Array, str: Uint8Array, exact: boolean, patternCap: number, pathCap: number): boolean {
  const slen = Math.min(str.length, pathCap);
  const plen = Math.min(pattern.length, patternCap);
  const STAR = 0x2a,
    QUESTION = 0x3f;
  let s = 0,
    p = 0,
    star = 0,
    mark = 0;
  for (;;) {
    const pc = p < plen ? pattern[p]! : 0;
    if (s >= slen) {
      if (p < plen && pc === STAR && !exact) {
        p++;
        continue;
      }
      return p >= plen;
    }
    const sc = str[s]!;
    if (p < plen && !exact && pc === STAR) {
      p++;
      star = p;
      mark = s;
    } else if (p < plen && (pc === sc || (!exact && pc === QUESTION))) {
      p++;
      s++;
    } else if (star) {
      p = star;
      mark++;
      s = mark;
    } else {
      return false;
    }
  }
}
