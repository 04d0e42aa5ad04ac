// acgd: its command line. The daemon itself (loads a policy, sets up the agent
// cgroup tree, enforces the policy and serves the local API until
// SIGINT/SIGTERM) is cli/acgd-serve.ts, loaded once the kernel probe has
// started; `acgd stop` is cli/stop-command.ts.

import { DEFAULT_SOCKET } from "../runtime/client.js";
import { probeKernelAsync } from "../runtime/kernel-probes.js";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../runtime/log.js";
import { packageVersion } from "../compiler/version.js";
import type { ServeOptions } from "./acgd-serve.js";

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

export async function acgdMain(args: string[]): Promise<number> {
  const err = (s: string) => process.stderr.write(s);
  if (args[0] === "stop") return (await import("./stop-command.js")).stopCommand(args.slice(1));
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
  let metrics: ServeOptions["metrics"] = null;
  if (opts["--metrics"] !== undefined) {
    // prom-client is loaded only when metrics are asked for: acgd starts faster without.
    const module = await import("../runtime/metrics.js");
    try {
      metrics = { module, listen: module.parseListen(opts["--metrics"]), spec: opts["--metrics"] };
    } catch (e) {
      err(`acgd: ${(e as Error).message}\n`);
      return 2;
    }
  }
  // The kernel probe's vmlinux BTF parse runs on a worker thread while the
  // daemon's modules load: these two are the largest parts of acgd's start
  // before it listens, so they overlap (the daemon awaits the probe only
  // when it puts the runtime together).
  const kernel = probeKernelAsync().catch(() => null);
  const { serve } = await import("./acgd-serve.js");
  return serve(
    {
      policy: opts["--policy"],
      socketPath: opts["--socket"] ?? (process.env["ACG_SOCKET"] || DEFAULT_SOCKET),
      socketMode: mode,
      ...(gid !== undefined && { socketGid: gid }),
      ...(opts["--cgroup-root"] !== undefined && { cgroupRoot: opts["--cgroup-root"] }),
      ...(opts["--state-file"] !== undefined && { stateFile: opts["--state-file"] }),
      noScheduler,
      logFormat: format as LogFormat,
      logLevel: level as LogLevel,
      metrics,
    },
    kernel,
  );
}
