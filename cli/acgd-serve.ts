// acgd's daemon, given its parsed command line (cli/acgd.ts): loads the
// policy, sets up the agent cgroup tree, enforces the policy and serves the
// local API until SIGINT/SIGTERM.

import { mkdirSync, statSync } from "node:fs";
import type { Server } from "node:http";
import { dirname } from "node:path";
import { assembleRuntime } from "../runtime/assemble.js";
import { CallStateStore, defaultStateFile, takeOverCalls } from "../runtime/call-state.js";
import { cgroupFsAt } from "../runtime/cgroup-fs.js";
import { CgroupTree, defaultCgroupRoot } from "../runtime/cgroup-tree.js";
import { Daemon } from "../runtime/daemon.js";
import { events } from "../runtime/events.js";
import type { KernelFeatures } from "../runtime/kernel-probes.js";
import { createLog, type LogFormat, type LogLevel } from "../runtime/log.js";
import type * as MetricsModule from "../runtime/metrics.js";
import type { RuntimeMetrics } from "../runtime/metrics.js";
import { loadPolicyPath } from "../runtime/policy-dir.js";
import { sdNotify } from "../runtime/sd-notify.js";

/** acgd's options, checked by its command line. */
export interface ServeOptions {
  /** FILE.acg or COMPILED_DIR. */
  policy: string;
  socketPath: string;
  socketMode: number;
  socketGid?: number;
  /** Default: <cgroup2 mount>/agentcgroup. */
  cgroupRoot?: string;
  /** Default: /run/agentcgroup/calls-<cgroup root>.json. */
  stateFile?: string;
  noScheduler: boolean;
  logFormat: LogFormat;
  logLevel: LogLevel;
  /** With --metrics: runtime/metrics.js (prom-client loads only then), where to serve, and --metrics as given. */
  metrics: { module: typeof MetricsModule; listen: { host: string; port: number }; spec: string } | null;
}

/** acgd's log line when its start-up load of the BPF objects has attached them or failed (tests and scripts wait for it). */
const LOADING_ENDED = "BPF objects: loading ended";

/**
 * Runs acgd until SIGINT/SIGTERM; returns its exit status. `kernel` is the
 * kernel probe its command line started (null: the native addon is not
 * loadable), awaited only when the runtime is put together.
 */
export async function serve(o: ServeOptions, kernel: Promise<KernelFeatures | null>): Promise<number> {
  const err = (s: string) => process.stderr.write(s);
  const socketPath = o.socketPath;
  const loaded = await loadPolicyPath(o.policy);
  if (!loaded.ok) {
    err(`${loaded.message}\nacgd: not started: the policy has errors\n`);
    return 1;
  }
  const daemonLog = await createLog({ format: o.logFormat, level: o.logLevel });
  const stopLogging = daemonLog.follow(events);
  const log = (m: string) => daemonLog.note(m);
  let rt;
  try {
    const compiledDir = statSync(loaded.origin).isDirectory() ? loaded.origin : undefined;
    const root = o.cgroupRoot ?? defaultCgroupRoot();
    rt = assembleRuntime(loaded.ir, new CgroupTree(root, cgroupFsAt(root)), {
      log,
      kernel: await kernel,
      noScheduler: o.noScheduler,
      ...(compiledDir && { compiledDir }),
    });
  } catch (e) {
    err(`acgd: cannot set up the cgroup tree: ${(e as Error).message}\n`);
    return 1;
  }
  await takeOverCalls(rt.calls, new CallStateStore(o.stateFile ?? defaultStateFile(rt.calls.tree.root), rt.calls.tree.root, log), log);
  const daemon = new Daemon(rt.calls, {
    socketPath,
    socketMode: o.socketMode,
    ...(o.socketGid !== undefined && { socketGid: o.socketGid }),
    describe: rt.describe,
    scheduler: () => rt.scheduler,
    classifier: () => rt.classifier,
    attached: rt.attached,
    log,
  });
  try {
    mkdirSync(dirname(socketPath), { recursive: true });
    await daemon.listen();
  } catch (e) {
    err(`acgd: cannot serve ${socketPath}: ${(e as Error).message}\n`);
    rt.close();
    return 1;
  }
  let metrics: RuntimeMetrics | null = null;
  let metricsServer: Server | null = null;
  if (o.metrics) {
    metrics = new o.metrics.module.RuntimeMetrics(
      { calls: rt.calls, burstCredits: () => rt.memory.burstCredits(), classStats: () => rt.scheduler?.classStats() ?? null },
      events,
    );
    try {
      metricsServer = await metrics.serve(o.metrics.listen);
    } catch (e) {
      err(`acgd: cannot serve metrics on ${o.metrics.spec}: ${(e as Error).message}\n`);
      metrics.close();
      await daemon.close();
      rt.close();
      return 1;
    }
  }
  log(
    `policy ${loaded.ir.name} from ${loaded.origin}; cgroup root ${rt.calls.tree.root}; ` +
      `listening on ${socketPath}${o.metrics ? `; metrics on http://${o.metrics.listen.host}:${o.metrics.listen.port}/metrics` : ""}`,
  );
  const enforcement = () => Object.entries((rt.describe()["enforcement"] ?? {}) as Record<string, string>);
  for (const [k, v] of enforcement()) log(`${k}: ${v}`);
  // Ready once the socket listens: the BPF objects may still be loading (the
  // kernel verifying them on a worker thread); calls are served meanwhile on
  // cgroup files and handed to the scheduler and classifier as they attach.
  const status = `policy ${loaded.ir.name}; listening on ${socketPath}`;
  const loading = rt.loading;
  let stopping = false;
  const notified = sdNotify({
    READY: "1",
    STATUS: loading ? `${status}; loading the BPF objects` : status,
    MAINPID: String(process.pid),
  });
  if (notified) log(notified);
  if (loading) {
    void rt.attached.then(() => {
      if (stopping) return;
      log(`${LOADING_ENDED}; now:`);
      for (const [k, v] of enforcement()) if (k === "cpu" || k === "classifier" || k === "kernelHold") log(`${k}: ${v}`);
      sdNotify({ STATUS: status });
    });
  }
  await new Promise<void>((resolve) => {
    for (const s of ["SIGINT", "SIGTERM"] as const) process.once(s, () => resolve());
  });
  stopping = true;
  sdNotify({ STOPPING: "1" });
  await daemon.close();
  metricsServer?.close();
  metrics?.close();
  const stillLoading = rt.loading;
  rt.close();
  log("stopped");
  stopLogging();
  // A load still in the kernel's verifier would keep Node's loop alive until
  // it returns (seconds under emulation): nothing of it is attached or
  // pinned, and exiting frees it, so acgd exits now.
  if (stillLoading) process.exit(0);
  return 0;
}
