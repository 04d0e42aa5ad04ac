// What the running kernel offers: vmlinux BTF types and members, and
// libbpf's probes of program and map types, gathered in {@link probeKernel}.
import { checkName, native, type BtfKind, type BtfMember } from "./native-addon.js";

/** Kernel features relevant to AgentCgroup, from vmlinux BTF and libbpf probes. */
export interface KernelFeatures {
  btf: boolean;
  /** struct sched_ext_ops exists: sched_ext schedulers can be loaded. */
  schedExt: boolean;
  /** struct memcg_bpf_ops exists: memcg struct_ops hooks. */
  memcgBpfOps: boolean;
  /** struct tcp_congestion_ops exists (struct_ops sanity check). */
  tcpCongestionOps: boolean;
  /** tp_btf sched_process_exec target present (btf_trace_sched_process_exec). */
  tpBtfSchedProcessExec: boolean;
  progTypes: { structOps: boolean; tracing: boolean; cgroupSkb: boolean; syscall: boolean };
  mapTypes: { ringbuf: boolean; hash: boolean; cgrpStorage: boolean; taskStorage: boolean };
  libbpfVersion: string;
}

/** Does vmlinux BTF have a type `name` of `kind` (default struct)? */
export function btfHasType(name: string, kind: BtfKind = "struct"): boolean {
  return native().btfHasType(checkName(name, "type name"), kind);
}
/** Does struct/union `struct` have a member `member`? */
export function btfHasMember(struct: string, member: string): boolean {
  return native().btfHasMember(checkName(struct, "struct name"), checkName(member, "member name"));
}
/** Does vmlinux BTF have a FUNC (e.g. a kfunc) named `name`? */
export function btfHasFunc(name: string): boolean {
  return native().btfHasType(checkName(name, "function name"), "func");
}
/** The members of struct `name` in vmlinux BTF, or null if the kernel has no such struct. */
export function btfStructMembers(name: string): BtfMember[] | null {
  return native().btfStructMembers(checkName(name, "struct name"));
}
export function btfEnumValue(enumName: string, valueName: string): number | null {
  return native().btfEnumValue(checkName(enumName, "enum name"), checkName(valueName, "value name"));
}
/** libbpf_probe_bpf_prog_type for a libbpf program type name, e.g. 'struct_ops'. */
export function probeProgType(typeName: string): boolean {
  const t = native().progTypes()[typeName];
  if (t === undefined) throw new TypeError(`unknown program type '${typeName}'`);
  return native().probeProgType(t);
}
/** libbpf_probe_bpf_map_type for a libbpf map type name, e.g. 'ringbuf'. */
export function probeMapType(typeName: string): boolean {
  const t = native().mapTypes()[typeName];
  if (t === undefined) throw new TypeError(`unknown map type '${typeName}'`);
  return native().probeMapType(t);
}

export function probeKernel(): KernelFeatures {
  const n = native();
  const btf = n.btfAvailable().available;
  const has = (name: string, kind: BtfKind = "struct"): boolean => btf && n.btfHasType(name, kind);
  const prog = (t: string): boolean => {
    try {
      return probeProgType(t);
    } catch {
      return false;
    }
  };
  const map = (t: string): boolean => {
    try {
      return probeMapType(t);
    } catch {
      return false;
    }
  };
  return {
    btf,
    schedExt: has("sched_ext_ops"),
    memcgBpfOps: has("memcg_bpf_ops"),
    tcpCongestionOps: has("tcp_congestion_ops"),
    tpBtfSchedProcessExec: has("btf_trace_sched_process_exec", "typedef"),
    progTypes: { structOps: prog("struct_ops"), tracing: prog("tracing"), cgroupSkb: prog("cgroup_skb"), syscall: prog("syscall") },
    mapTypes: { ringbuf: map("ringbuf"), hash: map("hash"), cgrpStorage: map("cgrp_storage"), taskStorage: map("task_storage") },
    libbpfVersion: n.libbpfVersion(),
  };
}

/**
 * {@link probeKernel} with vmlinux BTF parsed on a worker thread, most of
 * the probe's time: the caller's event loop runs meanwhile (acgd loads its
 * modules). Rejects where the native addon is not loadable.
 */
export async function probeKernelAsync(): Promise<KernelFeatures> {
  await native().loadVmlinuxBtfAsync();
  return probeKernel();
}
