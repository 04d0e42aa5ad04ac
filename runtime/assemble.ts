// Puts a runtime together for acgd and standalone `acg run`: the cgroup tree,
// the tool-call lifecycle, and the enforcement path the kernel supports,
// chosen from the probed kernel features.

import type { PolicyIR } from "../compiler/ir.js";
import { CgroupTree } from "./cgroup-tree.js";
import { CgroupfsEnforcer } from "./enforce-cgroupfs.js";
import { BpfSchedulerEnforcer } from "./enforce-bpf.js";
import { probeKernel, type KernelFeatures } from "./loader.js";
import { psiWatcher } from "./native-io.js";
import { ToolCalls } from "./tool-calls.js";

export interface Runtime {
  calls: ToolCalls;
  /** The attached sched_ext scheduler, or null (none compiled, no sched_ext, or it failed to load). */
  scheduler: BpfSchedulerEnforcer | null;
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

export interface AssembleOptions {
  log?: (msg: string) => void;
  /** A compiled policy directory (objects + manifest.json) whose scheduler to attach when the kernel has sched_ext. */
  compiledDir?: string;
}

export function assembleRuntime(policy: PolicyIR, cgroupRoot: string, opts: AssembleOptions = {}): Runtime {
  const log = opts.log;
  const tree = new CgroupTree(cgroupRoot);
  const calls = new ToolCalls(policy, tree);
  const kernel = probe();
  // Memory is enforced through cgroup v2 files: no released kernel has
  // memcg_bpf_ops. CPU classes go to the sched_ext scheduler when there is one.
  const enforcer = new CgroupfsEnforcer(calls, { psi: psiWatcher(), ...(log && { log }) });
  calls.addEnforcer(enforcer);
  let scheduler: BpfSchedulerEnforcer | null = null;
  let schedulerNote = "no compiled policy directory given (pass acgd --policy COMPILED_DIR)";
  if (opts.compiledDir && kernel?.schedExt) {
    try {
      scheduler = new BpfSchedulerEnforcer(calls, opts.compiledDir, log ?? (() => {}));
      calls.addEnforcer(scheduler);
    } catch (e) {
      // The policy still holds through cgroup files; status says why the scheduler is not there.
      schedulerNote = `the scheduler failed to load or attach: ${(e as Error).message.split("\n")[0]}`;
      log?.(`sched_ext scheduler not attached: ${(e as Error).message}`);
    }
  }
  const cpuWeight = tree.real && !tree.controllers().includes("cpu") ? "NOT enforced: the cpu controller is not available in this cgroup tree" : "cpu.weight on tenant, agent and tool-call cgroups (class weights)";
  return {
    calls,
    kernel,
    describe: () => ({
      enforcement: {
        cpu: kernel?.schedExt ? `${cpuWeight}; sched_ext is available but not used: ${schedulerNote}` : `${cpuWeight} (no sched_ext in this kernel)`,
        ...enforcer.describe(),
        ...scheduler?.describe(),
        memcgBpfOps: kernel?.memcgBpfOps ? "available in this kernel, not attached by the runtime yet" : "not in this kernel: cgroup v2 files enforce memory",
        memoryController: tree.real && !tree.controllers().includes("memory") ? "NOT available in this cgroup tree: memory limits are not enforced" : "available",
      },
      kernel: kernel ? { schedExt: kernel.schedExt, memcgBpfOps: kernel.memcgBpfOps, btf: kernel.btf } : "native addon not loadable: kernel features unknown",
    }),
    scheduler,
    close: () => {
      enforcer.close();
      scheduler?.close();
    },
  };
}
