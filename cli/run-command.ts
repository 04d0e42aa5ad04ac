// `acg run`: runs one tool call in its own cgroup. With acgd running it asks
// the daemon for the cgroup; with --policy and no daemon it does the same in
// process. The command starts directly inside the cgroup (clone3
// CLONE_INTO_CGROUP), inherits stdin/stdout/stderr, gets SIGINT/SIGTERM/SIGHUP/
// SIGQUIT forwarded (SIGTSTP stops it with acg, SIGCONT continues it), and its
// exit status becomes acg's (128+N for signal N). If acg itself is killed,
// acgd ends the call: the command never outlives its acg.

import { accessSync, closeSync, constants as fsConstants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import { DaemonClient, DaemonError, DEFAULT_SOCKET } from "../runtime/client.js";
import type { Runtime } from "../runtime/assemble.js";
import { cgroupFsAt } from "../runtime/cgroup-fs.js";
import { CgroupTree, defaultCgroupRoot } from "../runtime/cgroup-tree.js";
import { sendSignal, spawnInCgroup, waitPidfd, type ExitStatus } from "../runtime/spawn.js";
import { exitCodeOf, formatReport, jsonReport } from "../runtime/report.js";
import { CallError } from "../runtime/call-error.js";
import type { CallReport } from "../runtime/call-report.js";
import type { StartCallRequest } from "../runtime/tool-calls.js";

export const RUN_USAGE = `Usage: acg run [--agent ID] [--tenant T] [--tool NAME] [--label TEXT] [--hint KEY=VALUE]...
               [--socket PATH] [--policy FILE --cgroup-root PATH] [--quiet | --json] -- CMD [ARGS...]

Runs CMD as one tool call in its own cgroup and reports its usage on stderr.
  --agent ID        the agent (default: $ACG_AGENT, or the agent whose cgroup acg runs in)
  --tenant T        the agent's tenant (default: $ACG_TENANT)
  --tool NAME       the agent framework's tool name (matched by \`tool\`)
  --label TEXT      the framework's own id for the call (e.g. a tool_use_id), shown in status
  --hint K=V        memory=SIZE, class=NAME, cpu.weight=N, rank=high|normal|low (requests,
                    capped by the policy; a rank applies to the agent), kind=WORD or WORD
                    (labels matched by \`hint\`); repeatable
  --socket PATH     acgd's socket (default $ACG_SOCKET, else ${DEFAULT_SOCKET})
  --policy FILE     without a reachable acgd, enforce this policy in process
  --cgroup-root P   with --policy: the cgroup tree's root (default <cgroup2 mount>/agentcgroup)
  --quiet           no report (except why a killed call was killed)
  --json            the report as one JSON line
Exit status: CMD's, 128+N if a signal N ended it (137 when a memory ladder or the OOM killer
killed the call: the report says why and when to retry), 125 if acg itself failed, 126 if CMD
is not executable (or a directory), 127 if CMD was not found.`;

export const EXIT_RUN_FAILED = 125;
export const EXIT_NOT_FOUND = 127;
export const EXIT_NOT_EXECUTABLE = 126;

interface RunArgs {
  agent?: string;
  tenant?: string;
  tool?: string;
  label?: string;
  hints: string[];
  socket: string;
  policy?: string;
  cgroupRoot?: string;
  output: "text" | "quiet" | "json";
  command: string[];
}

class UsageError extends Error {}

function parseArgs(args: string[]): RunArgs {
  const out: RunArgs = { hints: [], socket: process.env["ACG_SOCKET"] || DEFAULT_SOCKET, output: "text", command: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      out.command = args.slice(i + 1);
      break;
    }
    const [flag, inline] =
      a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined || v === "") throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--agent":
        out.agent = value();
        break;
      case "--tenant":
        out.tenant = value();
        break;
      case "--tool":
        out.tool = value();
        break;
      case "--label":
        out.label = value();
        break;
      case "--hint":
        out.hints.push(value());
        break;
      case "--socket":
        out.socket = value();
        break;
      case "--policy":
        out.policy = value();
        break;
      case "--cgroup-root":
        out.cgroupRoot = value();
        break;
      case "--quiet":
        out.output = "quiet";
        break;
      case "--json":
        out.output = "json";
        break;
      default:
        if (a.startsWith("-")) throw new UsageError(`unknown option '${a}'`);
        // A command without `--`: everything from here on is the command.
        out.command = args.slice(i);
        i = args.length;
    }
  }
  if (out.command.length === 0) throw new UsageError("no command: write `acg run [OPTIONS] -- CMD [ARGS...]`");
  out.agent ??= process.env["ACG_AGENT"] || undefined;
  out.tenant ??= process.env["ACG_TENANT"] || undefined;
  return out;
}

/** PATH lookup (spawnInCgroup executes a path, it does not search). */
export function resolveExecutable(cmd: string): string | null {
  const runnable = (p: string) => {
    try {
      accessSync(p, fsConstants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (cmd.includes("/")) return runnable(cmd) ? (isAbsolute(cmd) ? cmd : resolve(cmd)) : null;
  for (const dir of (process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(delimiter)) {
    if (dir && runnable(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

/** Why an existing `cmd` (a path, or a PATH entry) cannot be run, or null when there is no such file. */
function notRunnable(cmd: string): string | null {
  const candidates = cmd.includes("/")
    ? [cmd]
    : (process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, cmd));
  for (const p of candidates) {
    try {
      return statSync(p).isDirectory() ? "is a directory" : "permission denied (not executable)";
    } catch {
      // not there: the next candidate
    }
  }
  return null;
}

/** Start and end of a call, through acgd or in process. */
interface CallBackend {
  start(req: Omit<StartCallRequest, "agent"> & { agent?: string }): Promise<{ call: string; cgroup: string; oomScoreAdj?: number }>;
  end(call: string): Promise<CallReport>;
  close(): void;
}

function daemonBackend(client: DaemonClient): CallBackend {
  return {
    start: async (req) => (await client.request({ op: "start_call", ...req })) as { call: string; cgroup: string; oomScoreAdj?: number },
    end: async (call) => (await client.request({ op: "end_call", call })) as CallReport,
    close: () => client.close(),
  };
}

function standaloneBackend(rt: Runtime): CallBackend {
  return {
    start: async (req) => {
      const own = rt.calls.tree.cgroupOfPid(process.pid)?.split("/");
      const agent = req.agent ?? own?.[1];
      if (!agent) throw new UsageError("which agent? pass --agent ID (or set ACG_AGENT)");
      const tenant = req.tenant ?? own?.[0];
      const call = rt.calls.startCall({ ...req, agent, ...(tenant !== undefined && { tenant }) });
      return { call: call.id, cgroup: call.path, oomScoreAdj: call.oomScoreAdj };
    },
    end: (call) => rt.calls.endCall(call),
    close: () => rt.close(),
  };
}

async function connectBackend(a: RunArgs, err: (s: string) => void): Promise<CallBackend | number> {
  try {
    return daemonBackend(await DaemonClient.connect(a.socket));
  } catch (e) {
    if (!a.policy) {
      err(`acg: ${(e as Error).message}\n  help: start acgd, pass --socket PATH, or run standalone with --policy FILE\n`);
      return EXIT_RUN_FAILED;
    }
  }
  // Loaded only here: the policy front end is most of acg's start-up time, and calls through acgd do not need it.
  const [{ loadPolicyPath }, { assembleRuntime }] = await Promise.all([
    import("../runtime/policy-dir.js"),
    import("../runtime/assemble.js"),
  ]);
  const loaded = await loadPolicyPath(a.policy);
  if (!loaded.ok) {
    err(`${loaded.message}\nacg: the policy has errors; nothing was run\n`);
    return EXIT_RUN_FAILED;
  }
  const root = a.cgroupRoot ?? defaultCgroupRoot();
  return standaloneBackend(assembleRuntime(loaded.ir, new CgroupTree(root, cgroupFsAt(root))));
}

export async function runCommand(args: string[], err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  let a: RunArgs;
  try {
    a = parseArgs(args);
  } catch (e) {
    err(`acg run: ${(e as Error).message}\n\n${RUN_USAGE}\n`);
    return 2;
  }
  const file = resolveExecutable(a.command[0]!);
  if (!file) {
    // As a shell says it: 126 for a file that is there but cannot be run, 127 for none.
    const why = notRunnable(a.command[0]!);
    err(`acg run: ${a.command[0]}: ${why ?? "command not found"}\n`);
    return why ? EXIT_NOT_EXECUTABLE : EXIT_NOT_FOUND;
  }
  const backend = await connectBackend(a, err);
  if (typeof backend === "number") return backend;
  try {
    let started;
    try {
      started = await backend.start({
        ...(a.agent !== undefined && { agent: a.agent }),
        ...(a.tenant !== undefined && { tenant: a.tenant }),
        ...(a.tool !== undefined && { tool: a.tool }),
        ...(a.label !== undefined && { label: a.label }),
        hints: a.hints,
        argv: a.command,
        path: file,
      });
    } catch (e) {
      if (e instanceof DaemonError || e instanceof CallError || e instanceof UsageError) {
        err(`acg run: ${e.message}\n`);
        return EXIT_RUN_FAILED;
      }
      throw e;
    }
    const status = await runInCgroup(file, a.command, started.cgroup, started.oomScoreAdj, err);
    let report: CallReport;
    try {
      report = await backend.end(started.call);
    } catch (e) {
      // The command ran; its status is still the agent's answer even if the report is lost.
      err(`acg run: no report for ${started.call}: ${(e as Error).message}\n`);
      return typeof status === "number" ? status : exitCodeOf(status);
    }
    if (typeof status === "number") return status;
    if (a.output === "json") err(jsonReport(status, report));
    else if (a.output === "text") err(formatReport(status, report));
    else if (report.advice) err(`acg: ${report.advice}\n`);
    return exitCodeOf(status);
  } catch (e) {
    err(`acg run: ${(e as Error).message}\n`);
    return EXIT_RUN_FAILED;
  } finally {
    backend.close();
  }
}

const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;

/** Spawns into the cgroup and waits; returns the exit status, or acg's exit code if it could not start. */
async function runInCgroup(
  file: string,
  argv: string[],
  cgroup: string,
  oomScoreAdj: number | undefined,
  err: (s: string) => void,
): Promise<ExitStatus | number> {
  // Handlers first: a signal that comes while the command starts is held and forwarded once it runs, not lost on acg.
  let pidfd: number | null = null;
  const early: NodeJS.Signals[] = [];
  const forward = (sig: NodeJS.Signals) => {
    if (pidfd === null) {
      early.push(sig);
      return;
    }
    try {
      sendSignal(pidfd, sig);
    } catch {
      // already exited: waitPidfd below returns its status
    }
  };
  // Job control: a terminal stop (^Z) stops the command and acg together; SIGCONT continues both.
  const stop = () => {
    forward("SIGSTOP");
    process.kill(process.pid, "SIGSTOP");
  };
  const cont = () => forward("SIGCONT");
  for (const s of FORWARDED) process.on(s, forward);
  process.on("SIGTSTP", stop);
  process.on("SIGCONT", cont);
  try {
    let child;
    try {
      // Own session: terminal signals reach acg alone, which forwards each exactly once.
      try {
        child = spawnInCgroup({
          file,
          argv,
          cgroupPath: cgroup,
          stdio: [0, 1, 2],
          newSession: true,
          ...(oomScoreAdj !== undefined ? { oomScoreAdj } : {}),
        });
      } catch (e) {
        // An executable file the kernel cannot run (no #! line): a shell runs it as a script, and so does acg.
        if ((e as { code?: string; op?: string }).op !== "execve" || (e as { code?: string }).code !== "ENOEXEC") throw e;
        child = spawnInCgroup({
          file: "/bin/sh",
          argv: ["sh", file, ...argv.slice(1)],
          cgroupPath: cgroup,
          stdio: [0, 1, 2],
          newSession: true,
          ...(oomScoreAdj !== undefined ? { oomScoreAdj } : {}),
        });
      }
    } catch (e) {
      const { code, op } = e as { code?: string; op?: string };
      err(`acg run: cannot start ${argv[0]}: ${(e as Error).message}\n`);
      // Like a shell: 127 not found, 126 not executable; any other failure (clone3 into the cgroup) is acg's.
      if (op === "execve") return code === "ENOENT" ? EXIT_NOT_FOUND : code === "EACCES" ? EXIT_NOT_EXECUTABLE : EXIT_RUN_FAILED;
      return EXIT_RUN_FAILED;
    }
    pidfd = child.pidfd;
    for (const sig of early.splice(0)) forward(sig);
    return await waitPidfd(pidfd);
  } finally {
    for (const s of FORWARDED) process.off(s, forward);
    process.off("SIGTSTP", stop);
    process.off("SIGCONT", cont);
    if (pidfd !== null) closeSync(pidfd);
  }
}
