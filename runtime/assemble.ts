// Puts a runtime together for acgd and standalone `acg run`: the cgroup tree,
// the tool-call lifecycle, and the enforcement path the kernel supports,
// chosen from the probed kernel features.

import type { PolicyIR } from "../compiler/ir.js";
import { CgroupTree } from "./cgroup-tree.js";
import { CgroupfsEnforcer } from "./enforce-cgroupfs.js";
import { probeKernel, type KernelFeatures } from "./loader.js";
import { psiWatcher } from "./native-io.js";
import { ToolCalls } from "./tool-calls.js";

export interface Runtime {
  calls: ToolCalls;
  kernel: KernelFeatures | null;
  /** Which mechanism enforces what, for `status`. */
  describe(): Record<string, unknown>;
  close(): void;
}

function probe(): KernelFeatures | null {
  try {
    return probeKernel();
  } catch {
    return null;
  }
}

export function assembleRuntime(policy: PolicyIR, cgroupRoot: string, log?: (msg: string) => void): Runtime {
  const tree = new CgroupTree(cgroupRoot);
  const calls = new ToolCalls(policy, tree);
  const kernel = probe();
  // Phase 1: the memcg struct_ops and scheduler objects are not attached by the
  // runtime yet, so memory is always enforced through cgroup v2 files.
  const enforcer = new CgroupfsEnforcer(calls, { psi: psiWatcher(), ...(log && { log }) });
  calls.addEnforcer(enforcer);
  const cpuWeight = tree.real && !tree.controllers().includes("cpu") ? "NOT enforced: the cpu controller is not available in this cgroup tree" : "cpu.weight on tenant, agent and tool-call cgroups (class weights)";
  return {
    calls,
    kernel,
    describe: () => ({
      enforcement: {
        cpu: kernel?.schedExt ? `${cpuWeight}; sched_ext is available but the runtime does not load the scheduler yet` : `${cpuWeight} (no sched_ext in this kernel)`,
        ...enforcer.describe(),
        memcgBpfOps: kernel?.memcgBpfOps ? "available in this kernel, not attached by the runtime yet" : "not in this kernel: cgroup v2 files enforce memory",
        memoryController: tree.real && !tree.controllers().includes("memory") ? "NOT available in this cgroup tree: memory limits are not enforced" : "available",
      },
      kernel: kernel ? { schedExt: kernel.schedExt, memcgBpfOps: kernel.memcgBpfOps, btf: kernel.btf } : "native addon not loadable: kernel features unknown",
    }),
    close: () => enforcer.close(),
  };
}
