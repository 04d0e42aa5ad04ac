// Puts a runtime together for acgd and standalone `acg run` on the cgroup tree
// they give it (on the kernel's cgroup file system, or a stand-in in tests):
// the tool-call lifecycle, and the enforcement path the kernel supports,
// chosen from the probed kernel features.

import type { PolicyIR } from "../compiler/ir.js";
import { cgroup2Mount, type CgroupTree } from "./cgroup-tree.js";
import { LadderEnforcer } from "./ladder.js";
import { hostBudget, memTotalBytes, nearestMemoryMax } from "./memory-budget.js";
import { CgroupfsEnforcer } from "./enforce-cgroupfs.js";
import { BpfSchedulerEnforcer } from "./enforce-bpf.js";
import { ExecClassifier } from "./exec-classifier.js";
import { PolicyObjects } from "./policy-objects.js";
import { probeKernel, type KernelFeatures } from "./kernel-probes.js";
import { psiWatcher } from "./native-io.js";
import { ToolCalls } from "./tool-calls.js";

export interface Runtime {
  calls: ToolCalls;
  /** The attached sched_ext scheduler, or null (none compiled, no sched_ext, or it failed to load). */
  scheduler: BpfSchedulerEnforcer | null;
  /** Memory enforcement through cgroup v2 files (burst clocks, pressure rules). */
  memory: CgroupfsEnforcer;
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
  /**
   * A compiled policy directory (objects + manifest.json): its exec classifier
   * is attached, and its scheduler when the kernel has sched_ext.
   */
  compiledDir?: string;
  /** Keep CPU on cpu.weight: do not attach the compiled scheduler. */
  noScheduler?: boolean;
}

const NO_COMPILED_DIR = "no compiled policy directory given (pass acgd --policy COMPILED_DIR)";

export function assembleRuntime(policy: PolicyIR, tree: CgroupTree, opts: AssembleOptions = {}): Runtime {
  const log = opts.log;
  const calls = new ToolCalls(policy, tree);
  const kernel = probe();
  // Memory is enforced through cgroup v2 files: no released kernel has
  // memcg_bpf_ops. CPU classes go to the sched_ext scheduler when there is one.
  const enforcer = new CgroupfsEnforcer(calls, { psi: psiWatcher(), ...(log && { log }) });
  calls.addEnforcer(enforcer);
  const mount = cgroup2Mount();
  // The memory.max of the tree's ancestors caps the host budget. Only a tree
  // on the kernel's hierarchy has them: a stand-in is never below the mount.
  const budget = (p: PolicyIR) =>
    hostBudget(p, { memTotal: memTotalBytes(), ancestorMax: mount ? nearestMemoryMax(tree.root, mount) : null });
  const ladder = new LadderEnforcer(calls, { hostBudget: budget, released: (call) => enforcer.reevaluate(call), ...(log && { log }) });
  calls.addEnforcer(ladder);
  let scheduler: BpfSchedulerEnforcer | null = null;
  let schedulerNote = opts.noScheduler ? "acgd was started with --no-scheduler" : NO_COMPILED_DIR;
  if (opts.compiledDir && !opts.noScheduler && kernel?.schedExt) {
    try {
      scheduler = new BpfSchedulerEnforcer(calls, opts.compiledDir, log ?? (() => {}));
      calls.addEnforcer(scheduler);
      // The kernel holds the ladders' ranks at their freeze watermarks the moment usage crosses them.
      if (scheduler.holdsMemory) ladder.attachKernelHold(scheduler);
    } catch (e) {
      // The policy still holds through cgroup files; status says why the scheduler is not there.
      schedulerNote = `the scheduler failed to load or attach: ${(e as Error).message.split("\n")[0]}`;
      log?.(`sched_ext scheduler not attached: ${(e as Error).message}`);
    }
  }
  const classifier = new ExecClassifier(calls, NO_COMPILED_DIR, log ?? (() => {}));
  calls.addEnforcer(classifier);
  if (opts.compiledDir) startClassifier(classifier, opts.compiledDir, policy, kernel, scheduler, log);
  const cpuWeight = tree.hasController("cpu")
    ? "cpu.weight on tenant, agent and tool-call cgroups (class weights)"
    : "NOT enforced: the cpu controller is not available in this cgroup tree";
  return {
    calls,
    kernel,
    describe: () => ({
      ladders: ladder.domains(),
      enforcement: {
        cpu: kernel?.schedExt
          ? `${cpuWeight}; sched_ext is available but not used: ${schedulerNote}`
          : `${cpuWeight} (no sched_ext in this kernel)`,
        ...enforcer.describe(),
        ...ladder.describe(),
        ...(scheduler ? scheduler.describe() : { kernelHold: "inactive: no sched_ext scheduler is attached (acgd's ladder acts alone)" }),
        ...classifier.describe(),
        memcgBpfOps: kernel?.memcgBpfOps
          ? "available in this kernel, not attached by the runtime yet"
          : "not in this kernel: cgroup v2 files enforce memory",
        memoryController: tree.hasController("memory") ? "available" : "NOT available in this cgroup tree: memory limits are not enforced",
      },
      kernel: kernel
        ? { schedExt: kernel.schedExt, memcgBpfOps: kernel.memcgBpfOps, btf: kernel.btf }
        : "native addon not loadable: kernel features unknown",
    }),
    scheduler,
    memory: enforcer,
    close: () => {
      enforcer.close();
      ladder.close();
      classifier.close();
      scheduler?.close();
    },
  };
}

/** Attaches the exec classifier beside the scheduler (shared maps), or alone on objects of its own; a failure is only reported. */
function startClassifier(
  classifier: ExecClassifier,
  dir: string,
  policy: PolicyIR,
  kernel: KernelFeatures | null,
  scheduler: BpfSchedulerEnforcer | null,
  log?: (msg: string) => void,
): void {
  if (!kernel?.tpBtfSchedProcessExec || !kernel.mapTypes.ringbuf) {
    classifier.absent(
      kernel ? "this kernel lacks tp_btf/sched_process_exec or ring buffers" : "kernel features unknown: the native addon is not loadable",
    );
    return;
  }
  try {
    if (scheduler) scheduler.runClassifier(classifier);
    else {
      const po = PolicyObjects.open(dir);
      try {
        ExecClassifier.prepare(po);
        po.writePolicy(policy);
        classifier.onObjects(po, true);
      } catch (e) {
        po.close();
        throw e;
      }
    }
  } catch (e) {
    classifier.absent(`it failed to load or attach: ${(e as Error).message.split("\n")[0]}`);
    log?.(`exec classifier not attached: ${(e as Error).message}`);
  }
}
