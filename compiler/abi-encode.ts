// Encoders of map keys and values from the layouts in abi.ts: the policy
// generation (IR → struct acg_policy), tool-call cgroup entries and the small
// runtime inputs. Used by the compiler's checks and by the runtime's map writes.

import {
  CAPACITY,
  PATTERN_SUBJECT,
  activeGenStruct,
  cgroupInfoStruct,
  daemonStruct,
  holdDomainStruct,
  layoutOf,
  policyStruct,
  type StructLayout,
  type StructSpec,
} from "./abi.js";
import type { KernelOp, PolicyIR } from "./ir.js";
import { ACG_NONE, ACG_UNLIMITED, BurstMode, KopCode } from "./decide.js";

/** A value for a struct: numbers/bigints for scalars, strings or bytes for char arrays, arrays, nested objects. Missing fields are zero. */
export type AbiValue = number | bigint | string | Uint8Array | AbiValue[] | { [field: string]: AbiValue };

function writeScalar(buf: Buffer, type: string, offset: number, v: AbiValue, where: string): void {
  if (typeof v !== "number" && typeof v !== "bigint") throw new TypeError(`abi-encode: ${where} wants a number`);
  const big = BigInt(v);
  const check = (bits: number, signed: boolean) => {
    const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
    const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
    if (big < min || big > max) throw new RangeError(`abi-encode: ${where} = ${big} does not fit ${type}`);
  };
  switch (type) {
    case "u8":
    case "char":
      check(8, false);
      buf.writeUInt8(Number(big), offset);
      break;
    case "u16":
      check(16, false);
      buf.writeUInt16LE(Number(big), offset);
      break;
    case "u32":
      check(32, false);
      buf.writeUInt32LE(Number(big), offset);
      break;
    case "s32":
      check(32, true);
      buf.writeInt32LE(Number(big), offset);
      break;
    case "u64":
      check(64, false);
      buf.writeBigUInt64LE(big, offset);
      break;
    case "s64":
      check(64, true);
      buf.writeBigInt64LE(big, offset);
      break;
    default:
      throw new TypeError(`abi-encode: unknown scalar ${type}`);
  }
}

function encodeInto(buf: Buffer, layout: StructLayout, base: number, value: AbiValue, where: string): void {
  if (typeof value !== "object" || value instanceof Uint8Array || Array.isArray(value)) {
    throw new TypeError(`abi-encode: ${where} wants an object for struct ${layout.name}`);
  }
  const known = new Set(layout.fields.map((f) => f.name));
  for (const k of Object.keys(value)) if (!known.has(k)) throw new TypeError(`abi-encode: struct ${layout.name} has no field ${k}`);
  for (const f of layout.fields) {
    const v = value[f.name];
    if (v === undefined) continue;
    const at = `${where}.${f.name}`;
    const off = base + f.offset;
    if (f.type === "char" && f.count !== undefined) {
      const bytes = typeof v === "string" ? Buffer.from(v, "utf8") : v instanceof Uint8Array ? v : undefined;
      if (!bytes) throw new TypeError(`abi-encode: ${at} wants a string or bytes`);
      if (bytes.length > f.count) throw new RangeError(`abi-encode: ${at} is ${bytes.length} bytes, room for ${f.count}`);
      Buffer.from(bytes).copy(buf, off);
    } else if (f.count !== undefined) {
      if (!Array.isArray(v)) throw new TypeError(`abi-encode: ${at} wants an array`);
      if (v.length > f.count) throw new RangeError(`abi-encode: ${at} has ${v.length} items, room for ${f.count}`);
      v.forEach((item, i) => {
        if (f.struct) encodeInto(buf, f.struct, off + i * f.elemSize, item, `${at}[${i}]`);
        else writeScalar(buf, f.type, off + i * f.elemSize, item, `${at}[${i}]`);
      });
    } else if (f.struct) {
      encodeInto(buf, f.struct, off, v, at);
    } else {
      writeScalar(buf, f.type, off, v, at);
    }
  }
}

/** Encodes `value` as the struct `spec` (zero-filled, little-endian). */
export function encodeStruct(spec: StructSpec, value: AbiValue): Buffer {
  const layout = layoutOf(spec);
  const buf = Buffer.alloc(layout.size);
  encodeInto(buf, layout, 0, value, layout.name);
  return buf;
}

export function encodeU32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

export function encodeU64(v: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

const KOP: Record<KernelOp["op"], number> = {
  true: KopCode.true,
  unknown: KopCode.unknown,
  pattern: KopCode.pattern,
  and: KopCode.and,
  or: KopCode.or,
  not: KopCode.not,
};

const bytesOrUnlimited = (n: number | null): bigint => (n === null ? ACG_UNLIMITED : BigInt(n));

/**
 * The scheduler's tuning that no policy sets, written into the policy header
 * (docs/bpf.md, "Decisions"). The starvation bound, and with it the starved
 * turn, scale with the policy's longest class slice.
 */
const SCHED_TUNING = {
  /** A queue waiting longer than this many of the longest slices is served first, */
  starveBoundSlices: 4,
  /** clamped to 20..200 ms: tens of milliseconds whatever the slices. */
  starveBoundMinNs: 20_000_000,
  starveBoundMaxNs: 200_000_000,
  /**
   * On a starved queue's turn a task runs for at most 1/20 of the bound, at
   * least 1 ms: the bound buys lower levels a trickle of CPU, not their full
   * slice every bound.
   */
  starvedTurnPerBound: 20,
  starvedTurnMinNs: 1_000_000,
  /** Most virtual time a class waking up may be behind its level: one longest slice, at least 1 ms. */
  vtimeLagMinNs: 1_000_000,
  /** Least time between two samples of one tool call's memory by the scheduler. */
  memSampleNs: 10_000_000n,
} as const;

const longestSliceNs = (ir: PolicyIR): number => ir.classes.reduce((m, c) => Math.max(m, c.sliceNs), 0);

/** Slices to starvation bound: a few slices of the longest class, within tens of milliseconds. */
export function starvationBoundNs(ir: PolicyIR): bigint {
  const t = SCHED_TUNING;
  return BigInt(Math.min(Math.max(t.starveBoundSlices * longestSliceNs(ir), t.starveBoundMinNs), t.starveBoundMaxNs));
}

/**
 * How long a task of a starved queue may run on that queue's turn: 1/20 of
 * the bound, at least 1 ms. With higher levels busy, a lower level so gets
 * about 1/21 of the CPU (10 ms per 200 ms bound), whatever its own slice.
 */
export function starvedTurnNs(ir: PolicyIR): bigint {
  return BigInt(Math.max(Number(starvationBoundNs(ir)) / SCHED_TUNING.starvedTurnPerBound, SCHED_TUNING.starvedTurnMinNs));
}

/**
 * The class acgd's own threads run in: the policy's highest-priority class
 * (the heaviest of them, then the first). acgd acts on memory pressure for
 * every agent, so it must not wait behind the work it governs: in the
 * shipped policies the default rule's class is the lowest level, which ran
 * acgd about 10 ms per starvation bound while the agents' calls were busy,
 * and its ladder's kills came hundreds of ms late.
 */
export function daemonClassId(ir: PolicyIR): number {
  let best = ir.classes[0];
  for (const c of ir.classes)
    if (best && (c.priority < best.priority || (c.priority === best.priority && c.cpuWeight > best.cpuWeight))) best = c;
  return best?.id ?? 0;
}

/** Where the IR does not fit the compiled shape (CAPACITY); empty when it fits. */
export function capacityProblems(ir: PolicyIR): string[] {
  const out: string[] = [];
  const over = (what: string, n: number, cap: number) => {
    if (n > cap) out.push(`${n} ${what}, the compiled maximum is ${cap}`);
  };
  over("classes", ir.classes.length, CAPACITY.classes);
  over("rules", ir.rules.length, CAPACITY.rules);
  over("exe/path patterns", ir.exePatterns.length, CAPACITY.patterns);
  over("pressure rules", ir.pressureRules.length, CAPACITY.pressureRules);
  for (const r of ir.rules) over(`ops in the exec matcher of rule "${r.name}"`, r.kernelMatch.length, CAPACITY.programOps);
  for (const p of ir.pressureRules) over(`throttles in pressure rule ${p.id}`, p.throttle.length, CAPACITY.throttlesPerPressureRule);
  for (const p of ir.exePatterns) {
    const len = Buffer.byteLength(p.text, "utf8");
    if (len > CAPACITY.patternLen) out.push(`pattern "${p.text}" is ${len} bytes, the compiled maximum is ${CAPACITY.patternLen}`);
  }
  return out;
}

/** The policy generation value (struct acg_policy) for `ir`. Throws when the IR exceeds CAPACITY. */
export function encodePolicy(ir: PolicyIR): Buffer {
  const problems = capacityProblems(ir);
  if (problems.length) throw new RangeError(`abi-encode: policy does not fit: ${problems.join("; ")}`);
  return encodeStruct(policyStruct, {
    hdr: {
      policy_hash: BigInt(`0x${ir.sourceHash.slice(0, 16).padEnd(16, "0")}`),
      starve_bound_ns: starvationBoundNs(ir),
      vtime_lag_ns: BigInt(Math.max(longestSliceNs(ir), SCHED_TUNING.vtimeLagMinNs)),
      mem_sample_ns: SCHED_TUNING.memSampleNs,
      nr_classes: ir.classes.length,
      nr_rules: ir.rules.length,
      nr_patterns: ir.exePatterns.length,
      nr_pressure: ir.pressureRules.length,
      default_rule: ir.defaultRuleId,
      daemon_class: daemonClassId(ir),
      starved_turn_ns: starvedTurnNs(ir),
    },
    classes: ir.classes.map((c) => ({ slice_ns: BigInt(c.sliceNs), cpu_weight: c.cpuWeight, priority: c.priority })),
    rules: ir.rules.map((r) => {
      const m = r.memory;
      return {
        baseline_bytes: bytesOrUnlimited(m.baselineBytes),
        limit_bytes: bytesOrUnlimited(m.limitBytes),
        low_bytes: BigInt(m.lowBytes),
        min_bytes: BigInt(m.minBytes),
        burst_bytes: BigInt(m.burst?.bytes ?? 0),
        burst_duration_ns: BigInt(m.burst?.durationNs ?? 0),
        burst_refill_ns: BigInt(m.burst?.refillNs ?? 0),
        ramp_ns: BigInt(m.overHigh.rampNs),
        kill_after_ns: BigInt(m.overHigh.killAfterNs ?? 0),
        delay_min_ms: m.overHigh.delayMinMs,
        delay_max_ms: m.overHigh.delayMaxMs,
        class_id: r.classId,
        burst_mode: m.burst ? BurstMode[m.burst.mode] : BurstMode.none,
        kernel_decidable: r.kernelDecidable ? 1 : 0,
        prog_len: r.kernelMatch.length,
        prog: r.kernelMatch.map((k) => ({ op: KOP[k.op], pattern: k.op === "pattern" ? k.index : 0 })),
      };
    }),
    patterns: ir.exePatterns.map((p) => ({
      subject: PATTERN_SUBJECT[p.subject],
      exact: p.kind === "exact" ? 1 : 0,
      len: Buffer.byteLength(p.text, "utf8"),
      text: p.text,
    })),
    pressure: ir.pressureRules.map((p) => ({
      protect_class_mask: p.protectClassMask >>> 0,
      nr_throttles: p.throttle.length,
      throttles: p.throttle.map((t) => ({ class_mask: t.classMask >>> 0, delay_ms: t.delayMs })),
    })),
  });
}

export function encodeActiveGen(gen: number): Buffer {
  return encodeStruct(activeGenStruct, { gen });
}

/** acgd's own process for the scheduler (acg_daemon); 0 when no acgd runs it. */
export function encodeDaemon(tgid: number): Buffer {
  return encodeStruct(daemonStruct, { tgid });
}

export interface CgroupEntry {
  /** The call's rule; null: not a tool call (an agent's own leaf, in a hold domain only: exec and default rules apply). */
  ruleId: number | null;
  agentId: number;
  /** A granted class request; omitted = the rule's class. */
  classId?: number;
  tenantId?: number | null;
  /** A baseline raised by intent; omitted = the rule's. "none": never demoted (an agent's own processes). */
  baselineBytes?: number | "none";
  /** The agent's effective rank (0 high, 1 normal, 2 low); omitted = normal. */
  rank?: number;
  /** Indexes of the memory hold domains (acg_hold_domains) the call lies in; omitted = none. */
  holdDomains?: readonly number[];
}

/** Ranks as the kernel numbers them: 0 high, 1 normal, 2 low. */
export const RANK_LEVELS = 3;

/** Key of acg_cgroups: the cgroup id (the cgroup directory's inode number). */
export function encodeCgroupKey(cgroupId: number | bigint): Buffer {
  return encodeU64(cgroupId);
}

export function encodeCgroupValue(e: CgroupEntry): Buffer {
  return encodeStruct(cgroupInfoStruct, {
    rule_id: e.ruleId ?? ACG_NONE,
    agent_id: e.agentId,
    class_id: e.classId ?? ACG_NONE,
    tenant_id: e.tenantId ?? ACG_NONE,
    baseline_bytes: e.baselineBytes === "none" ? ACG_UNLIMITED : BigInt(e.baselineBytes ?? 0),
    rank: checkRank(e.rank ?? 1, "rank"),
    hold_domains: domainMask(e.holdDomains ?? []),
  });
}

function checkRank(rank: number, what: string): number {
  if (!Number.isInteger(rank) || rank < 0 || rank >= RANK_LEVELS)
    throw new RangeError(`abi-encode: ${what} ${rank} is not a rank (0 high, 1 normal, 2 low)`);
  return rank;
}

function domainMask(domains: readonly number[]): number {
  let mask = 0;
  for (const d of domains) {
    if (!Number.isInteger(d) || d < 0 || d >= CAPACITY.holdDomains) {
      throw new RangeError(`abi-encode: hold domain ${d} is out of range (0..${CAPACITY.holdDomains - 1})`);
    }
    mask |= 1 << d;
  }
  return mask >>> 0;
}

/**
 * A memory hold domain: while the memory usage of cgroup `cgroupId` is at or
 * above `holdBytes`, the scheduler holds the tasks of calls in the domain
 * whose agent's effective rank is in `ranks` off the CPU, each getting a turn
 * of `turnNs` after at most `holdMaxNs` held (docs/bpf.md, "Memory holds").
 */
export interface HoldDomain {
  cgroupId: bigint | number;
  holdBytes: bigint | number;
  /** Effective ranks held (0 high, 1 normal, 2 low). */
  ranks: readonly number[];
  /** Longest a held task waits before a turn; default {@link HOLD_DEFAULTS}. */
  holdMaxNs?: bigint | number;
  turnNs?: bigint | number;
  /** Staleness bound of each CPU's cached usage of the domain. */
  sampleNs?: bigint | number;
}

/**
 * Defaults of a hold domain. A held task waits at most holdMaxNs (plus the
 * time its CPU takes to come round to dispatch) and then runs for turnNs:
 * a held allocator so proceeds at about turn / (hold + turn) = 2% of its
 * speed, and no task waits anywhere near the sched_ext watchdog's 30 s.
 * Usage cached per CPU is at most sampleNs old when a decision uses it.
 */
export const HOLD_DEFAULTS = { holdMaxNs: 100_000_000n, turnNs: 2_000_000n, sampleNs: 1_000_000n } as const;

/** Upper bound of holdMaxNs: well inside the sched_ext watchdog (30 s by default). */
export const HOLD_MAX_NS_LIMIT = 1_000_000_000n;

export function encodeHoldDomain(d: HoldDomain | null): Buffer {
  if (d === null) return encodeStruct(holdDomainStruct, {});
  const holdMaxNs = BigInt(d.holdMaxNs ?? HOLD_DEFAULTS.holdMaxNs);
  const turnNs = BigInt(d.turnNs ?? HOLD_DEFAULTS.turnNs);
  const sampleNs = BigInt(d.sampleNs ?? HOLD_DEFAULTS.sampleNs);
  if (BigInt(d.cgroupId) <= 0n) throw new RangeError("abi-encode: a hold domain needs a cgroup id (the domain directory's inode)");
  if (holdMaxNs <= 0n || holdMaxNs > HOLD_MAX_NS_LIMIT)
    throw new RangeError(`abi-encode: holdMaxNs ${holdMaxNs} must be in (0, ${HOLD_MAX_NS_LIMIT}] (inside the sched_ext watchdog)`);
  if (turnNs <= 0n || turnNs > holdMaxNs) throw new RangeError(`abi-encode: turnNs ${turnNs} must be in (0, holdMaxNs]`);
  if (sampleNs <= 0n || sampleNs > holdMaxNs) throw new RangeError(`abi-encode: sampleNs ${sampleNs} must be in (0, holdMaxNs]`);
  let rankMask = 0;
  for (const r of d.ranks) rankMask |= 1 << checkRank(r, "held rank");
  return encodeStruct(holdDomainStruct, {
    cgroup_id: BigInt(d.cgroupId),
    hold_bytes: BigInt(d.holdBytes),
    hold_max_ns: holdMaxNs,
    turn_ns: turnNs,
    sample_ns: sampleNs,
    rank_mask: rankMask,
  });
}
