// The binary interface between the BPF programs and the runtime, defined once:
// struct layouts (fields, types, offsets, sizes), shape constants and maps.
// From this description come the C declarations in the emitted acg_abi.h, the
// layouts in manifest.json, the typed policy.ts module and abi-encode.ts.
//
// Every struct is declared with explicit padding: layoutOf() refuses a hole,
// so the C compiler has no padding to add and the emitted _Static_asserts pin
// each offset the runtime relies on.

/** Bumped when a layout or map below changes meaning. */
export const ABI_VERSION = 7;

/**
 * Keys of acg_placement_epochs: counters bumped after each change to what a
 * task's class is decided from, so the scheduler knows when a placement it
 * remembered may be stale. Each has one writer: the exec classifier (an
 * acg_exec entry set or removed) and acgd (an acg_cgroups or acg_daemon write).
 */
export const PLACEMENT_EPOCH = { exec: 0, runtime: 1 } as const;

/**
 * Shape constants: compiled into the programs (array bounds, loop bounds), so
 * a policy that outgrows one needs new objects; everything under them is data.
 * Masks in the IR are 32-bit numbers, hence at most 32 classes.
 */
export const CAPACITY = {
  classes: 32,
  rules: 64,
  /** The classifier keeps one hit bit per pattern in a u64. */
  patterns: 64,
  /** Postfix ops per rule; the Kleene stack holds as many 2-bit values in a u64. */
  programOps: 32,
  pressureRules: 8,
  throttlesPerPressureRule: 4,
  /** Bytes of one pattern's text (power of two: the glob masks indexes with it). */
  patternLen: 128,
  /** Bytes of the exec filename kept (power of two). */
  pathLen: 256,
  commLen: 16,
  exitReasonLen: 128,
  /** The kernel's SCX_EXIT_MSG_LEN. */
  exitMsgLen: 1024,
  /** Tool-call cgroups and exec'd processes tracked at once. */
  cgroups: 16384,
  execProcesses: 16384,
  eventRingBytes: 256 * 1024,
  generations: 2,
  /** Memory domains the scheduler can hold low-ranked calls for (one held DSQ each; bits of a u32 mask). */
  holdDomains: 8,
} as const;

/** acg_pattern.subject: what an exe pattern is compared with. */
export const PATTERN_SUBJECT = { exe: 0, path: 1 } as const;

/** 3 levels × (normal, demoted) queue per class. */
export const QUEUES = CAPACITY.classes * 2;

export type ScalarType = "u8" | "u16" | "u32" | "u64" | "s32" | "s64" | "char";

const SCALAR_SIZE: Record<ScalarType, number> = { u8: 1, u16: 2, u32: 4, u64: 8, s32: 4, s64: 8, char: 1 };

export interface FieldSpec {
  name: string;
  type: ScalarType | StructSpec;
  /** Array length; absent for a single value. */
  count?: number;
  doc?: string;
}

export interface StructSpec {
  name: string;
  doc: string;
  fields: FieldSpec[];
  /** A kernel UAPI struct (linux/bpf.h declares it): described here, not emitted into acg_abi.h. */
  uapi?: true;
}

export interface FieldLayout {
  name: string;
  /** A scalar type name or "struct <name>". */
  type: string;
  offset: number;
  /** Bytes of the whole field (all elements). */
  size: number;
  /** Bytes of one element. */
  elemSize: number;
  count?: number;
  /** Layout of a struct-typed field's element. */
  struct?: StructLayout;
  doc?: string;
}

export interface StructLayout {
  name: string;
  size: number;
  align: number;
  fields: FieldLayout[];
  doc: string;
}

const layoutCache = new Map<StructSpec, StructLayout>();

/** Offsets and sizes under the C (and BPF) natural-alignment rules; throws on an implicit hole. */
export function layoutOf(spec: StructSpec): StructLayout {
  const cached = layoutCache.get(spec);
  if (cached) return cached;
  let offset = 0;
  let align = 1;
  const fields: FieldLayout[] = spec.fields.map((f) => {
    const sub = typeof f.type === "string" ? undefined : layoutOf(f.type);
    const elemSize = sub ? sub.size : SCALAR_SIZE[f.type as ScalarType];
    const fieldAlign = sub ? sub.align : elemSize;
    if (offset % fieldAlign !== 0) {
      throw new Error(`abi: struct ${spec.name}.${f.name} at offset ${offset} needs explicit padding to ${fieldAlign}`);
    }
    align = Math.max(align, fieldAlign);
    const layout: FieldLayout = {
      name: f.name,
      type: sub ? `struct ${sub.name}` : (f.type as string),
      offset,
      size: elemSize * (f.count ?? 1),
      elemSize,
      ...(f.count !== undefined ? { count: f.count } : {}),
      ...(sub ? { struct: sub } : {}),
      ...(f.doc ? { doc: f.doc } : {}),
    };
    offset += layout.size;
    return layout;
  });
  if (offset % align !== 0) throw new Error(`abi: struct ${spec.name} needs tail padding to ${align}`);
  const result: StructLayout = { name: spec.name, size: offset, align, fields, doc: spec.doc };
  layoutCache.set(spec, result);
  return result;
}

// ---- policy data (one per generation) -------------------------------------

export const classStruct: StructSpec = {
  name: "acg_class",
  doc: "A scheduling class: its own dispatch queues, a priority level, a cpu weight and a slice.",
  fields: [
    { name: "slice_ns", type: "u64", doc: "scheduling slice: the class's latency target" },
    { name: "cpu_weight", type: "u32", doc: "1..10000, 100 neutral" },
    { name: "priority", type: "u8", doc: "0 high, 1 normal, 2 low" },
    { name: "_pad", type: "u8", count: 3 },
  ],
};

export const kopStruct: StructSpec = {
  name: "acg_kop",
  doc: "One postfix op of a rule's kernel matcher (enum acg_kop_code).",
  fields: [
    { name: "op", type: "u8" },
    { name: "_pad", type: "u8" },
    { name: "pattern", type: "u16", doc: "pattern index for ACG_KOP_PATTERN" },
  ],
};

export const ruleStruct: StructSpec = {
  name: "acg_rule",
  doc: "A tool rule: its class, its memory allowances and its exec matcher.",
  fields: [
    { name: "baseline_bytes", type: "u64", doc: "memory.high while calm; ACG_UNLIMITED = none" },
    { name: "limit_bytes", type: "u64", doc: "memory.max; ACG_UNLIMITED = none" },
    { name: "low_bytes", type: "u64" },
    { name: "min_bytes", type: "u64" },
    { name: "burst_bytes", type: "u64", doc: "allowed above the baseline while credit lasts" },
    { name: "burst_duration_ns", type: "u64", doc: "burst credit when full" },
    { name: "burst_refill_ns", type: "u64" },
    { name: "ramp_ns", type: "u64", doc: "throttle delay goes from min to max over this" },
    { name: "kill_after_ns", type: "u64", doc: "0 = never" },
    { name: "delay_min_ms", type: "u32" },
    { name: "delay_max_ms", type: "u32" },
    { name: "class_id", type: "u32" },
    { name: "burst_mode", type: "u8", doc: "enum acg_burst_mode" },
    { name: "kernel_decidable", type: "u8" },
    { name: "prog_len", type: "u16" },
    { name: "prog", type: kopStruct, count: CAPACITY.programOps },
  ],
};

export const patternStruct: StructSpec = {
  name: "acg_pattern",
  doc: "An exe or path pattern the exec classifier can decide.",
  fields: [
    { name: "subject", type: "u8", doc: "ACG_SUBJECT_EXE (basename) or ACG_SUBJECT_PATH (full filename)" },
    { name: "exact", type: "u8", doc: "1: bytes compared; 0: glob with * and ?" },
    { name: "len", type: "u16" },
    { name: "text", type: "char", count: CAPACITY.patternLen },
  ],
};

export const throttleStruct: StructSpec = {
  name: "acg_throttle",
  doc: "While its pressure rule is active, classes in class_mask get at least delay_ms of memory.high delay.",
  fields: [
    { name: "class_mask", type: "u32" },
    { name: "delay_ms", type: "u32" },
  ],
};

export const pressureStruct: StructSpec = {
  name: "acg_pressure_rule",
  doc: "A pressure rule; user space activates it from PSI triggers (acg_pressure map).",
  fields: [
    { name: "protect_class_mask", type: "u32", doc: "classes kept below_low while active" },
    { name: "nr_throttles", type: "u32" },
    { name: "throttles", type: throttleStruct, count: CAPACITY.throttlesPerPressureRule },
  ],
};

export const policyHeaderStruct: StructSpec = {
  name: "acg_policy_header",
  doc: "Counts and policy-wide numbers of one generation.",
  fields: [
    { name: "policy_hash", type: "u64", doc: "first 8 bytes of the policy's sha256, big-endian" },
    { name: "starve_bound_ns", type: "u64", doc: "a queue waiting longer than this is served first" },
    { name: "vtime_lag_ns", type: "u64", doc: "most virtual time a sleeper may be behind" },
    { name: "mem_sample_ns", type: "u64", doc: "least time between two memory samples of one cgroup" },
    { name: "nr_classes", type: "u32" },
    { name: "nr_rules", type: "u32" },
    { name: "nr_patterns", type: "u32" },
    { name: "nr_pressure", type: "u32" },
    { name: "default_rule", type: "u32" },
    { name: "daemon_class", type: "u32", doc: "the class acgd's own threads run in: the policy's highest-priority class" },
    { name: "starved_turn_ns", type: "u64", doc: "longest run of a task on a starved queue's turn" },
  ],
};

export const policyStruct: StructSpec = {
  name: "acg_policy",
  doc: "One generation of policy data: everything a policy edit within the capacities changes.",
  fields: [
    { name: "hdr", type: policyHeaderStruct },
    { name: "classes", type: classStruct, count: CAPACITY.classes },
    { name: "rules", type: ruleStruct, count: CAPACITY.rules },
    { name: "patterns", type: patternStruct, count: CAPACITY.patterns },
    { name: "pressure", type: pressureStruct, count: CAPACITY.pressureRules },
  ],
};

export const activeGenStruct: StructSpec = {
  name: "acg_active_gen",
  doc: "Which acg_policy entry is live; the runtime writes the other entry, then flips this.",
  fields: [{ name: "gen", type: "u32" }],
};

// ---- runtime inputs ---------------------------------------------------------

export const cgroupInfoStruct: StructSpec = {
  name: "acg_cgroup_info",
  doc: "A tool-call cgroup, written by the runtime when it creates the cgroup (key: cgroup id).",
  fields: [
    { name: "rule_id", type: "u32" },
    { name: "agent_id", type: "u32" },
    { name: "class_id", type: "u32", doc: "an agent's granted class request; ACG_NONE = the rule's class" },
    { name: "tenant_id", type: "u32", doc: "ACG_NONE = no tenant" },
    { name: "baseline_bytes", type: "u64", doc: "raised baseline from an intent; 0 = the rule's" },
    { name: "rank", type: "u8", doc: "the agent's effective rank: 0 high, 1 normal, 2 low" },
    { name: "_pad", type: "u8", count: 3 },
    { name: "hold_domains", type: "u32", doc: "bit d: the call lies in memory hold domain d (acg_hold_domains)" },
  ],
};

export const daemonStruct: StructSpec = {
  name: "acg_daemon",
  doc: "acgd itself, written by the runtime when it attaches or adopts the scheduler (tgid 0: no acgd).",
  fields: [{ name: "tgid", type: "u32", doc: "acgd's process id: its threads run in the policy header's daemon_class" }],
};

export const holdDomainStruct: StructSpec = {
  name: "acg_hold_domain",
  doc: "A memory domain the scheduler holds low-ranked calls for: written by the runtime (acgd's ladder).",
  fields: [
    { name: "cgroup_id", type: "u64", doc: "the domain's cgroup (its memcg is read); 0 = slot unused" },
    { name: "hold_bytes", type: "u64", doc: "watermark: while usage >= this, calls of the ranks in rank_mask are held" },
    { name: "hold_max_ns", type: "u64", doc: "longest a held task waits before a turn" },
    { name: "turn_ns", type: "u64", doc: "the slice of a held task's turn" },
    { name: "sample_ns", type: "u64", doc: "staleness bound of a CPU's cached usage of the domain" },
    { name: "rank_mask", type: "u32", doc: "bit r: calls whose agent's effective rank is r are held" },
    { name: "_pad", type: "u32" },
  ],
};

export const pressureStateStruct: StructSpec = {
  name: "acg_pressure_state",
  doc: "Bit i set = pressure rule i is active (the runtime's PSI triggers fired).",
  fields: [{ name: "active_mask", type: "u64" }],
};

// ---- kernel-side state the runtime may read ----------------------------------

export const memStateStruct: StructSpec = {
  name: "acg_mem_state",
  doc: "Burst clock of one tool-call cgroup (struct acg_burst_clock) and its last memory sample.",
  fields: [
    { name: "credit_ns", type: "u64" },
    { name: "updated_ns", type: "u64" },
    { name: "over_since_ns", type: "u64" },
    { name: "exhausted_at_ns", type: "u64" },
    { name: "usage_bytes", type: "u64" },
    { name: "verdict", type: "u32", doc: "enum acg_mem_verdict" },
    { name: "generation", type: "u32", doc: "policy generation the clock was last advanced under" },
  ],
};

export const schedStateStruct: StructSpec = {
  name: "acg_sched_state",
  doc: "Scheduler-wide clocks: per-class virtual time and per-queue waiting time.",
  fields: [
    { name: "class_vtime", type: "u64", count: CAPACITY.classes, doc: "shares a level between classes by weight" },
    { name: "task_clock", type: "u64", count: CAPACITY.classes, doc: "virtual clock of the tasks within each class" },
    { name: "level_vtime", type: "u64", count: 4, doc: "virtual clock of each level (3 used)" },
    { name: "queue_waiting_since_ns", type: "u64", count: QUEUES },
    { name: "queues_used", type: "u64", doc: "bit q set once a task was queued on queue q: dispatch() scans only these" },
    {
      name: "hold_queues_used",
      type: "u64",
      doc: "bit d set once a task was put on hold domain d's held queue: dispatch() looks only at these",
    },
    {
      name: "class_queue_inserts",
      type: "u64",
      doc:
        "tasks put on a class queue, ever: dispatch() skips its scan while this has not moved " +
        "since that CPU's last scan found every class queue empty",
    },
    {
      name: "smt",
      type: "u32",
      doc:
        "0 until select_cpu() first looks; then 1 where CPUs have no SMT siblings " +
        "(an idle previous CPU is taken without the kernel's selection), 2 where they do",
    },
    { name: "_pad", type: "u32" },
  ],
};

export const schedCpuStruct: StructSpec = {
  name: "acg_sched_cpu",
  doc: "Per-CPU scheduler state.",
  fields: [
    {
      name: "empty_scan_inserts",
      type: "u64",
      doc: "class_queue_inserts + 1 when this CPU's last scan found every class queue empty; 0 = no such scan",
    },
  ],
};

export const classStatsStruct: StructSpec = {
  name: "acg_class_stats",
  doc: "Per-class, per-CPU counters.",
  fields: [
    { name: "enqueued", type: "u64" },
    { name: "dispatched", type: "u64" },
    { name: "runtime_ns", type: "u64" },
    { name: "demoted", type: "u64", doc: "enqueues at the lowest level because the tool call is throttled" },
    { name: "held", type: "u64", doc: "tasks held off the CPU by a memory hold domain (enqueues into a held queue)" },
    { name: "hold_preempted", type: "u64", doc: "running tasks cut short because their hold domain engaged" },
  ],
};

export const holdStateStruct: StructSpec = {
  name: "acg_hold_state",
  doc: "Kernel-side state of one hold domain (the runtime reads it for status and tests).",
  fields: [
    { name: "holding_since_ns", type: "u64", doc: "when usage was first seen at or above the watermark; 0 = not holding" },
    { name: "usage_bytes", type: "u64", doc: "the latest usage read" },
    { name: "sampled_ns", type: "u64", doc: "when it was read" },
    { name: "waiting_since_ns", type: "u64", doc: "since when the held queue's oldest task waits; 0 = empty" },
    { name: "engaged", type: "u64", doc: "times the hold engaged" },
    { name: "released", type: "u64", doc: "times it was released (usage back under the watermark)" },
    { name: "turns", type: "u64", doc: "bounded turns given to held tasks" },
    { name: "longest_wait_ns", type: "u64", doc: "the longest a held queue waited for a turn (since the scheduler was loaded)" },
    { name: "last_engaged_ns", type: "u64" },
    { name: "last_released_ns", type: "u64" },
  ],
};

/** The UAPI's struct bpf_timer (opaque to programs and runtime alike). */
export const bpfTimerStruct: StructSpec = {
  name: "bpf_timer",
  doc: "A BPF timer (linux/bpf.h); the kernel owns its contents.",
  fields: [{ name: "__opaque", type: "u64", count: 2 }],
  uapi: true,
};

export const holdTimerStruct: StructSpec = {
  name: "acg_hold_timer",
  doc: "The scheduler's hold timer: reads hold domains' usage while no CPU schedules, kicks CPUs.",
  fields: [{ name: "timer", type: bpfTimerStruct }],
};

export const holdSampleStruct: StructSpec = {
  name: "acg_hold_sample",
  doc: "A CPU's cached usage of one hold domain (per-CPU: no shared cache line on the enqueue path).",
  fields: [
    { name: "usage_bytes", type: "u64" },
    { name: "sampled_ns", type: "u64", doc: "0 = never read" },
    { name: "cgroup_id", type: "u64", doc: "the domain the sample is of (a rewritten slot invalidates it)" },
  ],
};

export const taskCtxStruct: StructSpec = {
  name: "acg_task_ctx",
  doc: "Per-task scheduler state (task storage).",
  fields: [
    {
      name: "charged_runtime_ns",
      type: "u64",
      doc: "the task's CPU time (se.sum_exec_runtime) up to which its class was charged",
    },
    { name: "vtime", type: "u64", doc: "the task's virtual time within its class queue" },
    {
      name: "placed_runtime_ns",
      type: "u64",
      doc: "its CPU time when it was last placed or its slice refilled: enqueue() measures the run from it",
    },
    { name: "class_id", type: "u32" },
    { name: "queue", type: "u32" },
    {
      name: "slice_ns",
      type: "u64",
      doc: "the slice the task was placed with (or a bounded turn capped it at)",
    },
    { name: "hold_turn", type: "u32", doc: "1 while the task runs a held queue's bounded turn (not preempted by the hold)" },
    {
      name: "charging",
      type: "u32",
      doc: "1 once the scheduler placed the task: its CPU time since charged_runtime_ns is its class's",
    },
    { name: "placed_cgroup_id", type: "u64", doc: "the cgroup select_cpu() last placed the task in" },
    { name: "placed_exec_epoch", type: "u64", doc: "acg_placement_epochs[ACG_EPOCH_EXEC] when it did" },
    { name: "placed_runtime_epoch", type: "u64", doc: "acg_placement_epochs[ACG_EPOCH_RUNTIME] when it did" },
    { name: "placed_gen", type: "u32", doc: "the policy generation it placed the task under" },
    { name: "placed_class", type: "u32", doc: "the class it chose + 1; 0 = nothing remembered (the placement depended on memory)" },
  ],
};

export const exitRecordStruct: StructSpec = {
  name: "acg_exit_record",
  doc: "Why sched_ext ejected or stopped the scheduler (from struct scx_exit_info).",
  fields: [
    { name: "kind", type: "u32", doc: "enum scx_exit_kind; 0 = still running" },
    { name: "_pad", type: "u32" },
    { name: "exit_code", type: "s64" },
    { name: "reason", type: "char", count: CAPACITY.exitReasonLen },
    { name: "msg", type: "char", count: CAPACITY.exitMsgLen },
  ],
};

export const execClassStruct: StructSpec = {
  name: "acg_exec_class",
  doc: "The exec classifier's decision for a process (key: tgid).",
  fields: [
    { name: "rule_id", type: "u32" },
    { name: "generation", type: "u32" },
  ],
};

export const execEventStruct: StructSpec = {
  name: "acg_exec_event",
  doc: "Ring buffer record of every exec, so the runtime can match argv and place the process.",
  fields: [
    { name: "pid", type: "u32" },
    { name: "tgid", type: "u32" },
    { name: "cgroup_id", type: "u64" },
    { name: "rule_id", type: "u32", doc: "ACG_NONE = undecided: user space decides" },
    { name: "generation", type: "u32" },
    { name: "comm", type: "char", count: CAPACITY.commLen },
    { name: "filename", type: "char", count: CAPACITY.pathLen },
  ],
};

export const execScratchStruct: StructSpec = {
  name: "acg_exec_scratch",
  doc: "Per-CPU working space of the exec classifier.",
  fields: [
    { name: "path", type: "char", count: CAPACITY.pathLen },
    { name: "base", type: "char", count: CAPACITY.pathLen, doc: "the basename, copied to the start of its own buffer" },
    { name: "path_len", type: "u32" },
    { name: "base_off", type: "u32", doc: "offset of the basename in path" },
    { name: "dfa_state", type: "u32", doc: "state of the pattern DFA being walked (generated per policy)" },
    { name: "_pad", type: "u32" },
  ],
};

/** Every shared struct, in declaration order (dependencies first). */
export const ABI_STRUCTS: StructSpec[] = [
  classStruct,
  kopStruct,
  ruleStruct,
  patternStruct,
  throttleStruct,
  pressureStruct,
  policyHeaderStruct,
  policyStruct,
  activeGenStruct,
  cgroupInfoStruct,
  daemonStruct,
  holdDomainStruct,
  pressureStateStruct,
  memStateStruct,
  schedStateStruct,
  schedCpuStruct,
  classStatsStruct,
  holdStateStruct,
  holdSampleStruct,
  bpfTimerStruct,
  holdTimerStruct,
  taskCtxStruct,
  exitRecordStruct,
  execClassStruct,
  execEventStruct,
  execScratchStruct,
];

// ---- maps ---------------------------------------------------------------------

export type ObjectName = "scheduler" | "memcg" | "classifier";

export type MapType =
  | "BPF_MAP_TYPE_ARRAY"
  | "BPF_MAP_TYPE_PERCPU_ARRAY"
  | "BPF_MAP_TYPE_HASH"
  | "BPF_MAP_TYPE_LRU_HASH"
  | "BPF_MAP_TYPE_TASK_STORAGE"
  | "BPF_MAP_TYPE_RINGBUF";

/**
 * policy-data: written from the IR (hot-swappable by generation);
 * generation: the active-generation switch; runtime-input: written by the
 * runtime as it runs; kernel-state: written by the programs, readable;
 * output: stats, exit record, events.
 */
export type MapRole = "policy-data" | "generation" | "runtime-input" | "kernel-state" | "output";

export interface MapSpec {
  name: string;
  type: MapType;
  key?: ScalarType | StructSpec;
  value?: ScalarType | StructSpec;
  maxEntries: number;
  flags?: "BPF_F_NO_PREALLOC";
  role: MapRole;
  /** Objects declaring it; a map in several objects is one kernel map (the loader reuses the first fd). */
  objects: ObjectName[];
  doc: string;
}

export const ABI_MAPS: MapSpec[] = [
  {
    name: "acg_policy",
    type: "BPF_MAP_TYPE_ARRAY",
    key: "u32",
    value: policyStruct,
    maxEntries: CAPACITY.generations,
    role: "policy-data",
    objects: ["scheduler", "memcg", "classifier"],
    doc: "policy data per generation",
  },
  {
    name: "acg_gen",
    type: "BPF_MAP_TYPE_ARRAY",
    key: "u32",
    value: activeGenStruct,
    maxEntries: 1,
    role: "generation",
    objects: ["scheduler", "memcg", "classifier"],
    doc: "active generation",
  },
  {
    name: "acg_cgroups",
    type: "BPF_MAP_TYPE_HASH",
    key: "u64",
    value: cgroupInfoStruct,
    maxEntries: CAPACITY.cgroups,
    role: "runtime-input",
    objects: ["scheduler", "memcg"],
    doc: "tool-call cgroups by cgroup id (kernfs id)",
  },
  {
    name: "acg_hold_domains",
    type: "BPF_MAP_TYPE_ARRAY",
    key: "u32",
    value: holdDomainStruct,
    maxEntries: CAPACITY.holdDomains,
    role: "runtime-input",
    objects: ["scheduler"],
    doc: "memory hold domains (acgd's ladder domains)",
  },
  {
    name: "acg_daemon",
    type: "BPF_MAP_TYPE_ARRAY",
    key: "u32",
    value: daemonStruct,
    maxEntries: 1,
    role: "runtime-input",
    objects: ["scheduler"],
    doc: "acgd's own process",
  },
  {
    name: "acg_pressure",
    type: "BPF_MAP_TYPE_ARRAY",
    key: "u32",
    value: pressureStateStruct,
    maxEntries: 1,
    role: "runtime-input",
    objects: ["memcg"],
    doc: "active pressure rules",
  },
  {
    name: "acg_exec",
    type: "BPF_MAP_TYPE_LRU_HASH",
    key: "u32",
    value: execClassStruct,
    maxEntries: CAPACITY.execProcesses,
    role: "kernel-state",
    objects: ["scheduler", "classifier"],
    doc: "exec classification by tgid",
  },
  {
    name: "acg_placement_epochs",
    type: "BPF_MAP_TYPE_ARRAY",
    key: "u32",
    value: "u64",
    maxEntries: 2,
    role: "runtime-input",
    objects: ["scheduler", "classifier"],
    doc: "placement epochs (ACG_EPOCH_EXEC: the classifier's, ACG_EPOCH_RUNTIME: acgd's)",
  },
  {
    name: "acg_memstate",
    type: "BPF_MAP_TYPE_HASH",
    key: "u64",
    value: memStateStruct,
    maxEntries: CAPACITY.cgroups,
    role: "kernel-state",
    objects: ["scheduler", "memcg"],
    doc: "burst clocks by cgroup id",
  },
  {
    name: "acg_sched",
    type: "BPF_MAP_TYPE_ARRAY",
    key: "u32",
    value: schedStateStruct,
    maxEntries: 1,
    role: "kernel-state",
    objects: ["scheduler"],
    doc: "scheduler clocks",
  },
  {
    name: "acg_sched_cpu",
    type: "BPF_MAP_TYPE_PERCPU_ARRAY",
    key: "u32",
    value: schedCpuStruct,
    maxEntries: 1,
    role: "kernel-state",
    objects: ["scheduler"],
    doc: "per-CPU scheduler state",
  },
  {
    name: "acg_hold",
    type: "BPF_MAP_TYPE_ARRAY",
    key: "u32",
    value: holdStateStruct,
    maxEntries: CAPACITY.holdDomains,
    role: "kernel-state",
    objects: ["scheduler"],
    doc: "state of each hold domain",
  },
  {
    name: "acg_hold_samples",
    type: "BPF_MAP_TYPE_PERCPU_ARRAY",
    key: "u32",
    value: holdSampleStruct,
    maxEntries: CAPACITY.holdDomains,
    role: "kernel-state",
    objects: ["scheduler"],
    doc: "per-CPU cached usage of each hold domain",
  },
  {
    name: "acg_hold_timer",
    type: "BPF_MAP_TYPE_ARRAY",
    key: "u32",
    value: holdTimerStruct,
    maxEntries: 1,
    role: "kernel-state",
    objects: ["scheduler"],
    doc: "the hold timer",
  },
  {
    name: "acg_tasks",
    type: "BPF_MAP_TYPE_TASK_STORAGE",
    key: "s32",
    value: taskCtxStruct,
    maxEntries: 0,
    flags: "BPF_F_NO_PREALLOC",
    role: "kernel-state",
    objects: ["scheduler"],
    doc: "per-task scheduler state",
  },
  {
    name: "acg_stats",
    type: "BPF_MAP_TYPE_PERCPU_ARRAY",
    key: "u32",
    value: classStatsStruct,
    maxEntries: CAPACITY.classes,
    role: "output",
    objects: ["scheduler"],
    doc: "per-class counters (sum over CPUs)",
  },
  {
    name: "acg_exit",
    type: "BPF_MAP_TYPE_ARRAY",
    key: "u32",
    value: exitRecordStruct,
    maxEntries: 1,
    role: "output",
    objects: ["scheduler"],
    doc: "why the scheduler was ejected",
  },
  {
    name: "acg_events",
    type: "BPF_MAP_TYPE_RINGBUF",
    maxEntries: CAPACITY.eventRingBytes,
    role: "output",
    objects: ["classifier"],
    doc: "exec events (struct acg_exec_event)",
  },
  {
    name: "acg_scratch",
    type: "BPF_MAP_TYPE_PERCPU_ARRAY",
    key: "u32",
    value: execScratchStruct,
    maxEntries: 1,
    role: "kernel-state",
    objects: ["classifier"],
    doc: "classifier working space",
  },
  {
    name: "acg_exec_drops",
    type: "BPF_MAP_TYPE_PERCPU_ARRAY",
    key: "u32",
    value: "u64",
    maxEntries: 1,
    role: "output",
    objects: ["classifier"],
    doc: "exec events the ring buffer had no room for (sum over CPUs)",
  },
];

// ---- C emission -------------------------------------------------------------

function cType(t: ScalarType | StructSpec): string {
  return typeof t === "string" ? t : `struct ${t.name}`;
}

function cStruct(spec: StructSpec): string {
  const l = layoutOf(spec);
  const lines = [`/* ${spec.doc} */`, `struct ${spec.name} {`];
  for (const f of spec.fields) {
    const arr = f.count !== undefined ? `[${f.count}]` : "";
    lines.push(`\t${cType(f.type)} ${f.name}${arr};${f.doc ? ` /* ${f.doc} */` : ""}`);
  }
  lines.push("};");
  lines.push(`_Static_assert(sizeof(struct ${spec.name}) == ${l.size}, "abi: struct ${spec.name} size");`);
  for (const f of l.fields) {
    if (f.name.startsWith("_pad")) continue;
    lines.push(`_Static_assert(__builtin_offsetof(struct ${spec.name}, ${f.name}) == ${f.offset}, "abi: ${spec.name}.${f.name}");`);
  }
  return lines.join("\n");
}

function cMapMacro(m: MapSpec): string {
  const body = [
    `__uint(type, ${m.type});`,
    `__uint(max_entries, ${m.maxEntries});`,
    ...(m.flags ? [`__uint(map_flags, ${m.flags});`] : []),
    ...(m.key ? [`__type(key, ${cType(m.key)});`] : []),
    ...(m.value ? [`__type(value, ${cType(m.value)});`] : []),
  ];
  return [`/* ${m.doc} */`, `#define ACG_MAP_DEF_${m.name} struct { \\`, ...body.map((b) => `\t${b} \\`), `} ${m.name} SEC(".maps")`].join(
    "\n",
  );
}

/** Shape constants and codes as C macros (also passed to the host decision-logic build). */
export function shapeDefines(): Record<string, number> {
  return {
    ACG_ABI_VERSION: ABI_VERSION,
    ACG_MAX_CLASSES: CAPACITY.classes,
    ACG_MAX_RULES: CAPACITY.rules,
    ACG_MAX_PATTERNS: CAPACITY.patterns,
    ACG_MAX_PROG: CAPACITY.programOps,
    ACG_MAX_PRESSURE: CAPACITY.pressureRules,
    ACG_MAX_THROTTLES: CAPACITY.throttlesPerPressureRule,
    ACG_PATTERN_LEN: CAPACITY.patternLen,
    ACG_PATH_LEN: CAPACITY.pathLen,
    ACG_COMM_LEN: CAPACITY.commLen,
    ACG_EXIT_REASON_LEN: CAPACITY.exitReasonLen,
    ACG_EXIT_MSG_LEN: CAPACITY.exitMsgLen,
    ACG_GENERATIONS: CAPACITY.generations,
    ACG_MAX_HOLD_DOMAINS: CAPACITY.holdDomains,
    ACG_QUEUES: QUEUES,
    ACG_SUBJECT_EXE: PATTERN_SUBJECT.exe,
    ACG_SUBJECT_PATH: PATTERN_SUBJECT.path,
    ACG_EPOCH_EXEC: PLACEMENT_EPOCH.exec,
    ACG_EPOCH_RUNTIME: PLACEMENT_EPOCH.runtime,
  };
}

/**
 * acg_abi.h: shape constants, the decision logic (which needs them), the
 * shared structs with layout asserts, and one ACG_MAP(name) definition per map.
 * Include after acg_kernel.h (u8..u64, SEC, __uint/__type).
 */
export function emitAbiHeader(): string {
  const defines = Object.entries(shapeDefines()).map(([k, v]) => `#define ${k} ${v}`);
  return [
    "/* Generated from compiler/abi.ts: do not edit. */",
    "#ifndef ACG_ABI_H",
    "#define ACG_ABI_H",
    "",
    ...defines,
    "",
    '#include "acg_decide.h"',
    "",
    ...ABI_STRUCTS.filter((s) => !s.uapi)
      .map(cStruct)
      .flatMap((s) => [s, ""]),
    "#define ACG_MAP(name) ACG_MAP_DEF_##name",
    "",
    ...ABI_MAPS.map(cMapMacro).flatMap((s) => [s, ""]),
    "#endif /* ACG_ABI_H */",
    "",
  ].join("\n");
}

/** Struct layouts for the manifest (nested layouts by reference to their names). */
export interface LayoutDescription {
  name: string;
  size: number;
  align: number;
  doc: string;
  fields: { name: string; type: string; offset: number; size: number; count?: number; doc?: string }[];
}

export function describeLayout(spec: StructSpec): LayoutDescription {
  const l = layoutOf(spec);
  return {
    name: l.name,
    size: l.size,
    align: l.align,
    doc: l.doc,
    fields: l.fields.map((f) => ({
      name: f.name,
      type: f.type,
      offset: f.offset,
      size: f.size,
      ...(f.count !== undefined ? { count: f.count } : {}),
      ...(f.doc ? { doc: f.doc } : {}),
    })),
  };
}

export function scalarSize(t: ScalarType): number {
  return SCALAR_SIZE[t];
}
