// The policy IR: what the checked AST is lowered to, and the only input of the
// back end (C emission, manifest, typed runtime module) and of the runtime's
// fallback enforcement. Everything here is resolved: names are ids, units are
// plain numbers (bytes, nanoseconds, milliseconds, percent), defaults are filled.
//
// Byte and nanosecond counts are JavaScript numbers: exact up to 2^53, i.e.
// 8 PiB or 104 days, far beyond anything a policy can say (the checker bounds them).

export const IR_VERSION = 4;

/** The tenant (cgroup directory) of agents that belong to no tenant of the policy. */
export const NO_TENANT = "default";

/** Priority levels, strict between levels (with a starvation bound), 0 = highest. */
export const PRIORITY_LEVELS = ["high", "normal", "low"] as const;
export type PriorityName = (typeof PRIORITY_LEVELS)[number];
export type PriorityLevel = 0 | 1 | 2;

export interface PolicyIR {
  irVersion: typeof IR_VERSION;
  name: string;
  /** sha256 (hex) of the policy's source text. */
  sourceHash: string;
  host: HostIR;
  /** Class id = index. */
  classes: ClassIR[];
  /** Tool rules in match order (first match wins). The default rule is always last. */
  rules: RuleIR[];
  defaultRuleId: number;
  /** Exe/path patterns the kernel's exec classifier can decide; referenced by KernelOp "pattern". */
  exePatterns: ExePatternIR[];
  tenants: TenantIR[];
  /** Agent profiles. Index 0 is the policy's top-level `agent` block (or the built-in default). */
  agentProfiles: AgentProfileIR[];
  pressureRules: PressureRuleIR[];
  /** Pressure ladders, at most one per scope. */
  ladders: LadderIR[];
}

export interface HostIR {
  memoryBytes: number;
  reserveBytes: number;
}

export interface ClassIR {
  id: number;
  name: string;
  priority: PriorityLevel;
  /** cgroup v2 cpu.weight scale: 1..10000, 100 = neutral. */
  cpuWeight: number;
  /** Scheduling slice (the class's latency target). */
  sliceNs: number;
}

export interface RuleIR {
  id: number;
  name: string;
  classId: number;
  memory: MemoryIR;
  /** The full matcher, evaluated in user space (runtime) on tool name, hint, argv, exe, path. */
  match: MatchIR;
  /**
   * The matcher as postfix bytecode over three-valued (Kleene) logic for the
   * kernel's exec classifier: predicates it cannot decide (argv, tool, hint,
   * non-literal regexes) are "unknown". A rule whose program yields unknown
   * makes the classifier hand the exec to user space.
   */
  kernelMatch: KernelOp[];
  /** True when kernelMatch contains no "unknown": the kernel decides this rule alone. */
  kernelDecidable: boolean;
}

export interface MemoryIR {
  /** memory.high while calm; null = no baseline (max). */
  baselineBytes: number | null;
  /** memory.max; null = unlimited (bounded by the agent's limit). */
  limitBytes: number | null;
  /** memory.low (best-effort guarantee). */
  lowBytes: number;
  /** memory.min (hard guarantee). */
  minBytes: number;
  burst: BurstIR | null;
  overHigh: OverHighIR;
}

export interface BurstIR {
  /** Extra bytes allowed above the baseline while burst credit lasts. */
  bytes: number;
  /** Burst credit: how long usage may stay above the baseline unthrottled. */
  durationNs: number;
  /**
   * "refill": credit comes back linearly while at or below the baseline, full after refillNs.
   * "cooldown": once spent, no credit until refillNs has passed, then full at once.
   */
  mode: "refill" | "cooldown";
  refillNs: number;
}

export interface OverHighIR {
  /** Delay (reclaim throttle) when first over the baseline without burst credit. */
  delayMinMs: number;
  /** Delay reached after rampNs of continuous overage. */
  delayMaxMs: number;
  rampNs: number;
  /** Kill the tool call after this long continuously over (null: never). */
  killAfterNs: number | null;
}

export type MatchSubject = "exe" | "path" | "argv" | "tool" | "hint" | "tenant";

export type MatchIR =
  | { kind: "true" }
  | { kind: "and"; items: MatchIR[] }
  | { kind: "or"; items: MatchIR[] }
  | { kind: "not"; item: MatchIR }
  | { kind: "pred"; subject: MatchSubject; op: "eq"; value: string }
  | { kind: "pred"; subject: MatchSubject; op: "glob"; pattern: string }
  | { kind: "pred"; subject: MatchSubject; op: "regex"; source: string; flags: string };

export type KernelOp = { op: "true" } | { op: "unknown" } | { op: "pattern"; index: number } | { op: "and" } | { op: "or" } | { op: "not" };

export interface ExePatternIR {
  index: number;
  /** "exe" compares the basename of the executed file, "path" the full filename passed to exec. */
  subject: "exe" | "path";
  /** "exact" compares bytes; "glob" supports `*` and `?` only. */
  kind: "exact" | "glob";
  text: string;
}

export interface TenantIR {
  id: number;
  name: string;
  guaranteeBytes: number;
  limitBytes: number | null;
  cpuWeight: number;
  /** The tenant's rank; its agents rank no higher (see effectiveRank). */
  rank: PriorityLevel;
}

export interface AgentProfileIR {
  id: number;
  /** null: agents outside any tenant. */
  tenantId: number | null;
  guaranteeBytes: number;
  limitBytes: number | null;
  cpuWeight: number;
  /** Most agents of this profile at once (for the budget check). */
  maxAgents: number;
  /** Most tool calls one agent of this profile may run at once (the runtime refuses more). */
  maxCalls: number;
  /** The rank its agents get unless they ask for another (within intent.rankMax): the profile's `rank`, else its tenant's, else normal. */
  rank: PriorityLevel;
  /** The class of its agents' own processes (their `agent` leaf), or null: the default rule's class, as before IR 4. */
  ownClassId: number | null;
  intent: IntentBoundsIR;
}

export interface IntentBoundsIR {
  /** Most memory a tool call may ask for (raises its baseline and limit up to this); null = may not ask. */
  memoryMaxBytes: number | null;
  /** Highest cpu.weight an agent may ask for its tool calls; null = may not ask. */
  cpuWeightMax: number | null;
  /** Class ids an agent may ask for; empty = may not choose. */
  classIds: number[];
  /** Highest rank (lowest level number) an agent may ask for; null = may not ask. */
  rankMax: PriorityLevel | null;
  /** What happens to a request above a bound. */
  excess: "clamp" | "refuse";
}

export interface PressureRuleIR {
  id: number;
  scope: { kind: "host" } | { kind: "tenant"; tenantId: number | null } | { kind: "agent" };
  /** PSI line: "some" (memory.pressure) or "full" (memory.pressure.full). */
  psi: "some" | "full";
  /** Share of the window stalled, 1..100. */
  thresholdPercent: number;
  /** PSI window: 500ms..10s. */
  windowNs: number;
  /** Bit i set = class i is protected (memory.low/below_low) while active. */
  protectClassMask: number;
  throttle: { classMask: number; delayMs: number }[];
}

/**
 * A pressure ladder: as the memory of its domain climbs through the watermarks
 * (percent of the domain's budget), calls of agents whose effective rank is in
 * rankMask lose their burst headroom, then have their growth frozen, then are
 * killed, lowest-ranked and youngest first, and (opt-in) whole agents of those
 * ranks, lowest-ranked and largest first; below releasePercent all of it is
 * undone, highest rank first.
 */
export interface LadderIR {
  id: number;
  scope: { kind: "host" } | { kind: "tenant"; tenantId: number | null } | { kind: "agent" };
  /** Bit r set = agents of effective rank r (0 high, 1 normal, 2 low) are acted on. */
  rankMask: number;
  withdrawBurstPercent: number | null;
  freezePercent: number | null;
  /** A freeze that lasts longer than this becomes a kill; null = no bound. */
  freezeMaxNs: number | null;
  killPercent: number | null;
  /** Opt-in: kill a whole agent of the ladder's ranks (host and tenant ladders); null = never. */
  killAgentPercent: number | null;
  releasePercent: number;
}

/** An agent's rank as its calls are ordered: no higher than its tenant's (larger level = lower rank). */
export function effectiveRank(agentRank: PriorityLevel, tenantRank: PriorityLevel | undefined): PriorityLevel {
  return Math.max(agentRank, tenantRank ?? 0) as PriorityLevel;
}

/** The rules the kernel cannot decide alone (the exec classifier hands their execs to acgd), by name. */
export function userSpaceRules(ir: PolicyIR): string[] {
  return ir.rules.filter((r) => !r.kernelDecidable).map((r) => r.name);
}
