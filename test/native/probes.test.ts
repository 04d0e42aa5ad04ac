import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import {
  btfEnumValue,
  btfHasFunc,
  btfHasMember,
  btfHasType,
  btfStructMembers,
  probeKernel,
  probeMapType,
  probeProgType,
} from "../../runtime/kernel-probes.js";
import { libbpfVersion, native } from "../../runtime/native-addon.js";
import { REPO } from "../runtime/helpers.js";

describe("kernel probes", () => {
  it("reports the pinned libbpf version", () => {
    expect(libbpfVersion()).toMatch(/^1\.4\.\d+$/);
  });

  it("probeKernel matches the running kernel", () => {
    const f = probeKernel();
    expect(f.btf).toBe(true);
    expect(f.tcpCongestionOps).toBe(true);
    // sched_ext is present iff the kernel exposes /sys/kernel/sched_ext (absent on the host).
    expect(f.schedExt).toBe(existsSync("/sys/kernel/sched_ext"));
    expect(f.tpBtfSchedProcessExec).toBe(true);
    expect(f.progTypes.structOps).toBe(true);
    // (progTypes.tracing uses libbpf's fentry-based probe: false on the host, which refuses fentry)
    expect(typeof f.progTypes.tracing).toBe("boolean");
    expect(f.mapTypes.ringbuf).toBe(true);
    expect(f.mapTypes.hash).toBe(true);
    expect(f.libbpfVersion).toBe(libbpfVersion());
  });

  it("probeKernelAsync finds what probeKernel finds, with vmlinux BTF parsed on a worker thread", () => {
    // In a process of its own (built by the global set-up): this one has vmlinux BTF cached already.
    const probes = pathToFileURL(join(REPO, "dist/runtime/kernel-probes.js")).href;
    const script =
      `const { probeKernelAsync } = await import(${JSON.stringify(probes)});\n` +
      "const parsing = probeKernelAsync();\n" +
      "console.log(JSON.stringify({ async: parsing instanceof Promise, features: await parsing }));";
    const out = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" })) as unknown;
    expect(out).toEqual({ async: true, features: JSON.parse(JSON.stringify(probeKernel())) });
  });

  it("lists a struct_ops struct's members with their callbacks' parameter counts", () => {
    const m = btfStructMembers("tcp_congestion_ops");
    expect(m).not.toBeNull();
    // void (*cong_avoid)(struct sock *sk, u32 ack, u32 acked); char name[16]
    expect(m!.find((x) => x.name === "cong_avoid")).toEqual({ name: "cong_avoid", params: 3 });
    expect(m!.find((x) => x.name === "name")).toEqual({ name: "name", params: null });
    expect(btfStructMembers("acg_no_such_type_xyz")).toBeNull();
  });

  it("answers type, member, func and enum questions from vmlinux BTF", () => {
    expect(btfHasType("tcp_congestion_ops")).toBe(true);
    expect(btfHasType("acg_no_such_type_xyz")).toBe(false);
    expect(btfHasType("task_struct", "struct")).toBe(true);
    expect(btfHasType("task_struct", "union")).toBe(false);
    expect(btfHasMember("tcp_congestion_ops", "cong_avoid")).toBe(true);
    expect(btfHasMember("tcp_congestion_ops", "acg_no_such_member")).toBe(false);
    expect(btfHasMember("acg_no_such_type_xyz", "x")).toBe(false);
    expect(btfHasFunc("bpf_rcu_read_lock")).toBe(true); // a kfunc
    expect(btfHasFunc("acg_no_such_kfunc")).toBe(false);
    expect(btfEnumValue("bpf_map_type", "BPF_MAP_TYPE_RINGBUF")).toBe(27);
    expect(btfEnumValue("bpf_map_type", "ACG_NOPE")).toBeNull();
  });

  it("probes program and map types via libbpf", () => {
    expect(probeProgType("socket_filter")).toBe(true);
    expect(probeMapType("array")).toBe(true);
    expect(() => probeProgType("acg_bogus")).toThrow(TypeError);
  });

  it("rejects bad arguments with TypeError", () => {
    const n = native() as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => n.btfHasType!(42)).toThrow(TypeError);
    expect(() => n.btfHasType!("x", "bogus-kind")).toThrow(TypeError);
    expect(() => n.btfHasMember!("x")).toThrow(TypeError);
    expect(() => n.probeProgType!("x")).toThrow(TypeError);
    expect(() => n.probeMapType!(-1)).toThrow(TypeError);
    expect(() => btfHasType("")).toThrow(TypeError);
  });
});
