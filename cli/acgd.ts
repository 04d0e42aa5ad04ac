// acgd: loads a policy, sets up the agent cgroup tree, enforces the policy and
// serves the local API until SIGINT/SIGTERM. `acgd stop` is cli/stop-command.ts.

import { mkdirSync, statSync } from "node:fs";
import type { Server } from "node:http";
import { dirname } from "node:path";
import { assembleRuntime } from "../runtime/assemble.js";
import { CallStateStore, defaultStateFile, takeOverCalls } from "../runtime/call-state.js";
import { cgroupFsAt } from "../runtime/cgroup-fs.js";
import { CgroupTree, defaultCgroupRoot } from "../runtime/cgroup-tree.js";
import { DEFAULT_SOCKET } from "../runtime/client.js";
import { Daemon } from "../runtime/daemon.js";
import { events } from "../runtime/events.js";
import { createLog, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../runtime/log.js";
import type { RuntimeMetrics } from "../runtime/metrics.js";
import { loadPolicyPath } from "../runtime/policy-dir.js";
import { packageVersion } from "../compiler/version.js";
import { sdNotify } from "../runtime/sd-notify.js";
import { stopCommand } from "./stop-command.js";

export const ACGD_USAGE = `Usage: acgd --policy FILE.acg|COMPILED_DIR [--socket PATH] [--socket-mode OCTAL]
            [--socket-group GID] [--cgroup-root PATH] [--state-file PATH] [--no-scheduler]
            [--metrics [HOST:]PORT] [--log-format json|human] [--log-level LEVEL] [--quiet]
       acgd stop [--socket PATH] [--keep-scheduler]   (acgd stop --help)
       acgd --version

Serves the AgentCgroup local API and enforces the policy on the agent cgroup tree.
Under systemd (Type=notify) it reports READY=1 once the socket listens; a
compiled policy's BPF objects attach when the kernel has verified them
(acgc status says "loading" until then; calls meanwhile use cgroup files).
  --socket PATH        default $ACG_SOCKET, else ${DEFAULT_SOCKET}
  --socket-mode OCTAL  default 0660
  --socket-group GID   numeric group of the socket (default: acgd's group)
  --cgroup-root PATH   default <cgroup2 mount>/agentcgroup
  --state-file PATH    the running calls, for a restarted acgd to take over
                       (default /run/agentcgroup/calls-<cgroup root>.json)
  --no-scheduler       do not attach a compiled policy's sched_ext scheduler
                       (it is attached when --policy is a compiled directory and
                       the kernel has sched_ext; the exec classifier is attached
                       for a compiled directory either way)
  --metrics [HOST:]PORT  serve Prometheus metrics at http://HOST:PORT/metrics
                       (host default 127.0.0.1)
  --log-format FMT     json (one JSON object per line: time, level, event, msg)
                       or human (default)
  --log-level LEVEL    debug, info (default), warn, error or silent
  --quiet              no log lines on stderr (--log-level silent)`;

/** acgd's log line when its start-up load of the BPF objects has attached them or failed (tests and scripts wait for it). */
const LOADING_ENDED = "BPF objects: loading ended";

export async function acgdMain(args: string[]): Promise<number> {
  const err = (s: string) => process.stderr.write(s);
  if (args[0] === "stop") return stopCommand(args.slice(1));
  if (args.includes("--version") || args.includes("-V")) {
    process.stdout.write(`acgd ${packageVersion()}\n`);
    return 0;
  }
  const opts: Record<string, string> = {};
  let quiet = false;
  let noScheduler = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--help" || a === "-h") {
      process.stdout.write(ACGD_USAGE + "\n");
      return 0;
    }
    if (a === "--quiet") {
      quiet = true;
      continue;
    }
    if (a === "--no-scheduler") {
      noScheduler = true;
      continue;
    }
    const known = [
      "--policy",
      "--socket",
      "--socket-mode",
      "--socket-group",
      "--cgroup-root",
      "--state-file",
      "--metrics",
      "--log-format",
      "--log-level",
    ];
    const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    if (!known.includes(flag)) {
      err(`acgd: unknown option '${a}'\n\n${ACGD_USAGE}\n`);
      return 2;
    }
    const v = inline ?? args[++i];
    if (!v) {
      err(`acgd: ${flag} needs a value\n`);
      return 2;
    }
    opts[flag] = v;
  }
  if (!opts["--policy"]) {
    err(`acgd: --policy is required\n\n${ACGD_USAGE}\n`);
    return 2;
  }
  const mode = opts["--socket-mode"] ? Number.parseInt(opts["--socket-mode"], 8) : 0o660;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    err(`acgd: --socket-mode ${opts["--socket-mode"]}: write an octal mode such as 0660\n`);
    return 2;
  }
  const gid = opts["--socket-group"] === undefined ? undefined : Number(opts["--socket-group"]);
  if (gid !== undefined && !Number.isInteger(gid)) {
    err(`acgd: --socket-group ${opts["--socket-group"]}: give the numeric group id\n`);
    return 2;
  }
  const format = opts["--log-format"] ?? "human";
  const level = quiet ? "silent" : (opts["--log-level"] ?? "info");
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    err(`acgd: --log-format ${format}: one of ${LOG_FORMATS.join(", ")}\n`);
    return 2;
  }
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    err(`acgd: --log-level ${level}: one of ${LOG_LEVELS.join(", ")}\n`);
    return 2;
  }
  let metricsListen: { host: string; port: number } | null = null;
  // prom-client is loaded only when metrics are asked for: acgd starts faster without.
  const metricsModule = opts["--metrics"] === undefined ? null : await import("../runtime/metrics.js");
  try {
    if (metricsModule) metricsListen = metricsModule.parseListen(opts["--metrics"]!);
  } catch (e) {
    err(`acgd: ${(e as Error).message}\n`);
    return 2;
  }
  const loaded = await loadPolicyPath(opts["--policy"]);
  if (!loaded.ok) {
    err(`${loaded.message}\nacgd: not started: the policy has errors\n`);
    return 1;
  }
  const daemonLog = await createLog({ format: format as LogFormat, level: level as LogLevel });
  const stopLogging = daemonLog.follow(events);
  const log = (m: string) => daemonLog.note(m);
  const socketPath = opts["--socket"] ?? (process.env["ACG_SOCKET"] || DEFAULT_SOCKET);
  let rt;
  try {
    const compiledDir = statSync(loaded.origin).isDirectory() ? loaded.origin : undefined;
    const root = opts["--cgroup-root"] ?? defaultCgroupRoot();
    rt = assembleRuntime(loaded.ir, new CgroupTree(root, cgroupFsAt(root)), {
      log,
      noScheduler,
      ...(compiledDir && { compiledDir }),
    });
  } catch (e) {
    err(`acgd: cannot set up the cgroup tree: ${(e as Error).message}\n`);
    return 1;
  }
  await takeOverCalls(
    rt.calls,
    new CallStateStore(opts["--state-file"] ?? defaultStateFile(rt.calls.tree.root), rt.calls.tree.root, log),
    log,
  );
  const daemon = new Daemon(rt.calls, {
    socketPath,
    socketMode: mode,
    ...(gid !== undefined && { socketGid: gid }),
    describe: rt.describe,
    scheduler: () => rt.scheduler,
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
  if (metricsModule && metricsListen) {
    metrics = new metricsModule.RuntimeMetrics(
      { calls: rt.calls, burstCredits: () => rt.memory.burstCredits(), classStats: () => rt.scheduler?.classStats() ?? null },
      events,
    );
    try {
      metricsServer = await metrics.serve(metricsListen);
    } catch (e) {
      err(`acgd: cannot serve metrics on ${opts["--metrics"]}: ${(e as Error).message}\n`);
      metrics.close();
      await daemon.close();
      rt.close();
      return 1;
    }
  }
  log(
    `policy ${loaded.ir.name} from ${loaded.origin}; cgroup root ${rt.calls.tree.root}; ` +
      `listening on ${socketPath}${metricsListen ? `; metrics on http://${metricsListen.host}:${metricsListen.port}/metrics` : ""}`,
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
