// manifest.json: what the runtime needs to load, feed and read the objects
// without reading C — maps with key/value layouts, struct_ops, programs,
// kernel features, which policy parts are data and which are code.

import {
  ABI_MAPS,
  ABI_STRUCTS,
  ABI_VERSION,
  CAPACITY,
  describeLayout,
  layoutOf,
  scalarSize,
  type LayoutDescription,
  type MapRole,
  type ObjectName,
  type ScalarType,
  type StructSpec,
} from "./abi.js";
import type { CodeFeatures } from "./emit-c.js";
import { IR_VERSION, type PolicyIR } from "./ir.js";

export const MANIFEST_VERSION = 1;

export type KernelFeature =
  | "btf:struct sched_ext_ops"
  | "btf:struct memcg_bpf_ops"
  | "kfunc:bpf_mem_cgroup_usage"
  | "kfunc:bpf_get_mem_cgroup"
  | "kfunc:bpf_put_mem_cgroup"
  | "kfunc:__scx_bpf_dsq_insert_vtime"
  | "kfunc:scx_bpf_dsq_insert_vtime"
  | "kfunc:bpf_cgroup_from_id"
  | "tp_btf:sched_process_exec"
  | "helper:bpf_loop"
  | "map:ringbuf"
  | "map:task_storage";

export interface ProgramEntry {
  name: string;
  section: string;
  /** For struct_ops programs: the member of the kernel struct it implements. */
  member?: string;
}

export interface ObjectEntry {
  name: ObjectName;
  file: string;
  programs: ProgramEntry[];
  structOps?: { map: string; kernelStruct: string; members: string[]; attach: "global" | "per-cgroup" };
  /**
   * Where the kernel struct has had several layouts: one struct_ops map per
   * layout (structOps describes the first); the loader probes the kernel's
   * BTF and creates only the matching map (runtime/policy-objects.ts).
   */
  structOpsLayouts?: { layout: string; map: string; members: string[] }[];
  maps: string[];
  requires: KernelFeature[];
  /** Used when present (probed with bpf_ksym_exists), with a fallback otherwise. */
  optional: KernelFeature[];
}

export type TypeRef = { scalar: ScalarType; size: number } | { struct: string; size: number };

export interface MapEntry {
  name: string;
  type: string;
  key: TypeRef | null;
  value: TypeRef | null;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: string[];
  role: MapRole;
  /** One kernel map shared by these objects: load the first, reuse its fd in the others. */
  objects: ObjectName[];
  doc: string;
}

export interface Manifest {
  manifestVersion: typeof MANIFEST_VERSION;
  abiVersion: number;
  irVersion: number;
  policy: { name: string; sourceHash: string; opsName: string };
  objects: ObjectEntry[];
  maps: MapEntry[];
  structs: Record<string, LayoutDescription>;
  generations: { count: number; dataMap: string; activeMap: string; protocol: string };
  capacities: typeof CAPACITY;
  codeFeatures: CodeFeatures;
  policyParts: { data: string[]; code: string[]; runtimeOnly: string[] };
  build: { clang: string; flags: string[]; templateVersion: string };
}

function typeRef(t: ScalarType | StructSpec | undefined): TypeRef | null {
  if (t === undefined) return null;
  return typeof t === "string" ? { scalar: t, size: scalarSize(t) } : { struct: t.name, size: layoutOf(t).size };
}

const SCHEDULER_MEMBERS = ["select_cpu", "enqueue", "dispatch", "tick", "exit_task", "init", "exit"];
const SCHEDULER_PROGRAMS: Record<string, string> = {
  select_cpu: "acg_select_cpu",
  enqueue: "acg_enqueue",
  dispatch: "acg_dispatch",
  tick: "acg_tick",
  exit_task: "acg_exit_task",
  init: "acg_init",
  exit: "acg_record_exit",
};
export const MEMCG_MEMBERS = ["handle_cgroup_online", "handle_cgroup_offline", "below_low", "below_min", "get_high_delay_ms"];
const MEMCG_PROGRAMS: Record<string, string> = {
  handle_cgroup_online: "acg_cgroup_online",
  handle_cgroup_offline: "acg_cgroup_offline",
  below_low: "acg_below_low",
  below_min: "acg_below_min",
  get_high_delay_ms: "acg_get_high_delay_ms",
};
/** The memcg BPF hooks RFC v7's layout (three-argument below_low/below_min, charge and uncharge hooks). */
export const MEMCG_V7_MEMBERS = [
  "handle_cgroup_online",
  "handle_cgroup_offline",
  "below_low",
  "below_min",
  "memcg_charged",
  "memcg_uncharged",
];
const MEMCG_V7_PROGRAMS: Record<string, string> = {
  handle_cgroup_online: "acg_cgroup_online_v7",
  handle_cgroup_offline: "acg_cgroup_offline_v7",
  below_low: "acg_below_low_v7",
  below_min: "acg_below_min_v7",
  memcg_charged: "acg_memcg_charged",
  memcg_uncharged: "acg_memcg_uncharged",
};

const MEMCG_KFUNCS: KernelFeature[] = ["kfunc:bpf_mem_cgroup_usage", "kfunc:bpf_get_mem_cgroup", "kfunc:bpf_put_mem_cgroup"];

function mapsOf(obj: ObjectName): string[] {
  return ABI_MAPS.filter((m) => m.objects.includes(obj)).map((m) => m.name);
}

export function objectEntries(): ObjectEntry[] {
  return [
    {
      name: "scheduler",
      file: "scheduler.bpf.o",
      programs: SCHEDULER_MEMBERS.map((member) => ({
        name: SCHEDULER_PROGRAMS[member]!,
        section: `${member === "init" ? "struct_ops.s" : "struct_ops"}/${SCHEDULER_PROGRAMS[member]!}`,
        member,
      })),
      structOps: { map: "acg_ops", kernelStruct: "sched_ext_ops", members: SCHEDULER_MEMBERS, attach: "global" },
      maps: mapsOf("scheduler"),
      requires: ["btf:struct sched_ext_ops", "map:task_storage", "kfunc:bpf_cgroup_from_id"],
      // The memcg kfuncs also feed the memory holds (every scheduler has them: domains are runtime data).
      optional: [...MEMCG_KFUNCS, "kfunc:__scx_bpf_dsq_insert_vtime", "kfunc:scx_bpf_dsq_insert_vtime"],
    },
    {
      name: "memcg",
      file: "memcg.bpf.o",
      programs: [
        ...MEMCG_MEMBERS.map((member) => ({ name: MEMCG_PROGRAMS[member]!, section: `struct_ops/${MEMCG_PROGRAMS[member]!}`, member })),
        ...MEMCG_V7_MEMBERS.map((member) => ({
          name: MEMCG_V7_PROGRAMS[member]!,
          section: `struct_ops/${MEMCG_V7_PROGRAMS[member]!}`,
          member,
        })),
      ],
      structOps: { map: "acg_memcg_ops", kernelStruct: "memcg_bpf_ops", members: MEMCG_MEMBERS, attach: "per-cgroup" },
      structOpsLayouts: [
        { layout: "v6", map: "acg_memcg_ops", members: MEMCG_MEMBERS },
        { layout: "v7", map: "acg_memcg_ops_v7", members: MEMCG_V7_MEMBERS },
      ],
      maps: mapsOf("memcg"),
      requires: ["btf:struct memcg_bpf_ops", "kfunc:bpf_cgroup_from_id"],
      optional: MEMCG_KFUNCS,
    },
    {
      name: "classifier",
      file: "classifier.bpf.o",
      programs: [{ name: "acg_on_exec", section: "tp_btf/sched_process_exec" }],
      maps: mapsOf("classifier"),
      requires: ["tp_btf:sched_process_exec", "helper:bpf_loop", "map:ringbuf"],
      optional: [],
    },
  ];
}

export interface ManifestInput {
  ir: PolicyIR;
  opsName: string;
  features: CodeFeatures;
  clangVersion: string;
  /** clang's flags, passed in (build.ts's BPF_CFLAGS): acgd reads MANIFEST_VERSION from here and must not load clang's driver. */
  clangFlags: readonly string[];
  templateVersion: string;
}

export function buildManifest(inp: ManifestInput): Manifest {
  return {
    manifestVersion: MANIFEST_VERSION,
    abiVersion: ABI_VERSION,
    irVersion: IR_VERSION,
    policy: { name: inp.ir.name, sourceHash: inp.ir.sourceHash, opsName: inp.opsName },
    objects: objectEntries(),
    maps: ABI_MAPS.map((m) => {
      const key = typeRef(m.key);
      const value = typeRef(m.value);
      return {
        name: m.name,
        type: m.type,
        key,
        value,
        keySize: key?.size ?? 0,
        valueSize: value?.size ?? 0,
        maxEntries: m.maxEntries,
        flags: m.flags ? [m.flags] : [],
        role: m.role,
        objects: m.objects,
        doc: m.doc,
      };
    }),
    structs: Object.fromEntries(ABI_STRUCTS.map((s) => [s.name, describeLayout(s)])),
    generations: {
      count: CAPACITY.generations,
      dataMap: "acg_policy",
      activeMap: "acg_gen",
      protocol:
        "write the inactive entry of acg_policy (key = 1 - acg_gen.gen), then write acg_gen.gen; programs read acg_gen once per invocation",
    },
    capacities: CAPACITY,
    codeFeatures: inp.features,
    policyParts: {
      data: [
        "classes: priority, cpuWeight, sliceNs (acg_policy.classes)",
        "rules: order, class, memory numbers, burst, over-high delays (acg_policy.rules)",
        "rules: kernelMatch programs (acg_policy.rules[].prog)",
        "exePatterns (acg_policy.patterns)",
        "pressureRules (acg_policy.pressure; activation in acg_pressure)",
        "defaultRuleId, starvation bound, vtime lag (acg_policy.hdr)",
      ],
      code: [
        "policy name (sched_ext ops name)",
        "codeFeatures.memoryDemotion (whether any rule has a memory baseline)",
        "capacities (classes, rules, patterns, ops per matcher, pressure rules, string lengths)",
      ],
      runtimeOnly: ["tenants", "agentProfiles", "full matchers (argv, tool, hint, regexes)", "host memory and reserve"],
    },
    build: { clang: inp.clangVersion, flags: [...inp.clangFlags], templateVersion: inp.templateVersion },
  };
}
