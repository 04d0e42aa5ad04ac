// Puts a runtime together for acgd and standalone `acg run` on the cgroup tree
// they give it (on the kernel's cgroup file system, or a stand-in in tests):
// the tool-call lifecycle, and the enforcement path the kernel supports,
// chosen from the probed kernel features.

import type { PolicyIR } from "../compiler/ir.js";
import { cgroup2Mount, type CgroupTree } from "./cgroup-tree.js";
import { LadderEnforcer } from "./ladder.js";
import { hostBudget, memTotalBytes, nearestMemoryMax } from "./memory-budget.js";
import { CgroupfsEnforcer } from "./enforce-cgroupfs.js";
import type { BpfSchedulerEnforcer } from "./enforce-bpf.js";
import { ExecClassifier } from "./exec-classifier.js";
import { PolicyObjects } from "./policy-objects.js";
import { probeKernel, type KernelFeatures } from "./kernel-probes.js";
import { psiWatcher } from "./native-io.js";
import { ToolCalls } from "./tool-calls.js";

export interface Runtime {
  calls: ToolCalls;
  /** The attached sched_ext scheduler, or null (none compiled, no sched_ext, it failed to load, or it is still loading). */
  readonly scheduler: BpfSchedulerEnforcer | null;
  /** The exec classifier (attached or not: it says which). */
  readonly classifier: ExecClassifier;
  /**
   * Settles (never rejects) when the compiled policy's BPF objects are
   * attached, or have failed (reported in status and the log as before):
   * they load on a worker thread, and until then the runtime serves with
   * cgroup files alone. Settled at once without a compiled directory.
   */
  readonly attached: Promise<void>;
  /** True until {@link attached} settles. */
  readonly loading: boolean;
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
  /**
   * The kernel's features when the caller probed them already (acgd, with
   * probeKernelAsync while its modules load; null: the native addon
   * is not loadable); probed here when absent.
   */
  kernel?: KernelFeatures | null;
}

const NO_COMPILED_DIR = "no compiled policy directory given (pass acgd --policy COMPILED_DIR)";

export function assembleRuntime(policy: PolicyIR, tree: CgroupTree, opts: AssembleOptions = {}): Runtime {
  const log = opts.log;
  const calls = new ToolCalls(policy, tree);
  // Under a burst of starts, the mkdir of each call's cgroup is most of its wait: make them ahead of time.
  const spares = calls.keepSpares();
  const kernel = opts.kernel !== undefined ? opts.kernel : probe();
  // Memory is enforced through cgroup v2 files: no released kernel has
  // memcg_bpf_ops. CPU classes go to the sched_ext scheduler when there is one.
  const enforcer = new CgroupfsEnforcer(calls, { psi: psiWatcher(), ...(log && { log }) });
  calls.addEnforcer(enforcer);
  const mount = cgroup2Mount();
  // The memory.max of the tree's ancestors caps the host budget. Only a tree
  // on the kernel's hierarchy has them: a stand-in is never below the mount.
  const budget = (p: PolicyIR) =>
    hostBudget(p, { memTotal: memTotalBytes(), ancestorMax: mount ? nearestMemoryMax(tree.root, mount) : null });
  const ladder = new LadderEnforcer(calls, { hostBudget: budget, capsChanged: (call) => enforcer.reevaluate(call), ...(log && { log }) });
  calls.addEnforcer(ladder);
  let scheduler: BpfSchedulerEnforcer | null = null;
  let schedulerNote = opts.noScheduler ? "acgd was started with --no-scheduler" : NO_COMPILED_DIR;
  const classifier = new ExecClassifier(calls, NO_COMPILED_DIR, log ?? (() => {}));
  calls.addEnforcer(classifier);
  const stop = new AbortController();
  let loading = false;
  let schedulerLoading = false;
  // The objects load on a worker thread (the kernel's verifier: seconds under
  // emulation), so acgd serves at once: calls started meanwhile are enforced
  // through cgroup files, as without a scheduler, and are handed to the
  // scheduler when it attaches (as a restarted acgd's calls are on take-over).
  const attach = async (dir: string): Promise<void> => {
    if (!opts.noScheduler && kernel?.schedExt) {
      schedulerLoading = true;
      try {
        // Loaded here, not at start: the scheduler's module (and the code
        // generators it compares policies with) is needed only where the
        // kernel has sched_ext, and only once acgd serves.
        const { BpfSchedulerEnforcer } = await import("./enforce-bpf.js");
        const s = await BpfSchedulerEnforcer.start(calls, dir, log ?? (() => {}), { signal: stop.signal });
        // Nothing awaits from here to addEnforcer: no call starts or ends unseen in between.
        for (const agent of calls.agents.values()) s.agentAdded(agent);
        for (const call of calls.calls.values()) s.callStarted(call);
        calls.addEnforcer(s);
        scheduler = s;
        const stale = s.forgetOtherCgroups();
        if (stale) log?.(`acg_cgroups: forgot ${stale} cgroup(s) of calls and agents that ended while no acgd ran`);
        // The kernel holds the ladders' ranks at their freeze watermarks the moment usage crosses them.
        if (s.holdsMemory) ladder.attachKernelHold(s);
      } catch (e) {
        if (stop.signal.aborted) return;
        // The policy still holds through cgroup files; status says why the scheduler is not there.
        schedulerNote = `the scheduler failed to load or attach: ${(e as Error).message.split("\n")[0]}`;
        log?.(`sched_ext scheduler not attached: ${(e as Error).message}`);
      } finally {
        schedulerLoading = false;
      }
    }
    await startClassifier(classifier, dir, calls, kernel, scheduler, stop.signal, log);
  };
  if (opts.compiledDir) {
    loading = true;
    classifier.loading();
  }
  const attached = opts.compiledDir ? attach(opts.compiledDir).finally(() => (loading = false)) : Promise.resolve();
  const cpuWeight = tree.hasController("cpu")
    ? "cpu.weight on tenant, agent and tool-call cgroups (class weights)"
    : "NOT enforced: the cpu controller is not available in this cgroup tree";
  return {
    calls,
    kernel,
    describe: () => ({
      ladders: ladder.domains(),
      enforcement: {
        // Only while loading: clients wait for this key to go (then the rest reads as it always did).
        ...(loading && {
          bpfObjects:
            "loading: the kernel is verifying the compiled policy's objects on a worker thread; " +
            "until they attach, calls are enforced through cgroup files",
        }),
        cpu: !kernel?.schedExt
          ? `${cpuWeight} (no sched_ext in this kernel)`
          : schedulerLoading
            ? `${cpuWeight}; sched_ext scheduler loading (the kernel is verifying it): the calls are handed to it when it attaches`
            : `${cpuWeight}; sched_ext is available but not used: ${schedulerNote}`,
        ...enforcer.describe(),
        ...ladder.describe(),
        ...(scheduler
          ? scheduler.describe()
          : {
              kernelHold: schedulerLoading
                ? "inactive until the sched_ext scheduler attaches (loading; acgd's ladder acts alone meanwhile)"
                : "inactive: no sched_ext scheduler is attached (acgd's ladder acts alone)",
            }),
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
    get scheduler() {
      return scheduler;
    },
    classifier,
    attached,
    get loading() {
      return loading;
    },
    memory: enforcer,
    close: () => {
      // A load still running is closed when the kernel returns from it; nothing of it is attached.
      stop.abort();
      spares.close();
      enforcer.close();
      ladder.close();
      classifier.close();
      scheduler?.close();
    },
  };
}

/** Attaches the exec classifier beside the scheduler (shared maps), or alone on objects of its own; a failure is only reported. */
async function startClassifier(
  classifier: ExecClassifier,
  dir: string,
  calls: ToolCalls,
  kernel: KernelFeatures | null,
  scheduler: BpfSchedulerEnforcer | null,
  signal: AbortSignal,
  log?: (msg: string) => void,
): Promise<void> {
  if (!kernel?.tpBtfSchedProcessExec || !kernel.mapTypes.ringbuf) {
    classifier.absent(
      kernel ? "this kernel lacks tp_btf/sched_process_exec or ring buffers" : "kernel features unknown: the native addon is not loadable",
    );
    return;
  }
  try {
    if (scheduler) await scheduler.runClassifier(classifier, signal);
    else {
      const po = PolicyObjects.open(dir);
      try {
        await po.loadAsync("classifier", signal);
        po.writePolicy(calls.policy);
        classifier.onObjects(po, true);
      } catch (e) {
        po.close();
        throw e;
      }
    }
  } catch (e) {
    if (signal.aborted) return;
    classifier.absent(`it failed to load or attach: ${(e as Error).message.split("\n")[0]}`);
    log?.(`exec classifier not attached: ${(e as Error).message}`);
  }
}
