// acg: the agent-side command line (`acg run`, `acg agent register`, `acg
// hook`) and the trace tools (`acg traces`).

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { packageVersion } from "../compiler/version.js";
import { answerHook, HOOK_AGENTS, type HookAgent } from "../runtime/agent-hooks.js";
import { DaemonClient, DaemonError, DEFAULT_SOCKET } from "../runtime/client.js";
import { processIo } from "./io.js";
import { RUN_USAGE, runCommand } from "./run-command.js";

const HELP = `acg — run AI agents' tool calls under AgentCgroup

Usage:
  acg run [OPTIONS] -- CMD [ARGS...]   run one tool call in its own cgroup (acg run --help)
  acg agent register --agent ID [--tenant T] [--pid PID]
                                       put an agent's own process in its agent cgroup
  acg hook claude|gemini|codex         a coding agent's pre-tool hook: reads its payload on
                                       stdin, answers with the shell command under acg run
  acg events [--json] [--no-follow] [--kind KIND]...
                                       acgd's events: calls started/ended, throttled, killed, OOM,
                                       pressure, policy swaps (acg events --help)
  acg traces stats [DIR] [--json] [--min-count N]
                                       characterize a folder of agent traces (acg traces --help)
  acg COMMAND --help | acg --help | acg --version

Environment: ACG_SOCKET (acgd's socket), ACG_AGENT, ACG_TENANT (the agent of
acg run and of the hooks).`;

const AGENT_USAGE = `Usage: acg agent register --agent ID [--tenant T] [--pid PID] [--socket PATH]

Moves process PID (default: the process that runs acg, e.g. the agent's
launcher script, which then execs the agent) into the agent's own cgroup, so
the agent itself runs under the agent's memory guarantee and limit and every
\`acg run\` it starts is attributed to it without --agent. Only root outside
the agents' cgroups may register (acgd checks the caller with SO_PEERCRED).
  --agent ID    the agent (default $ACG_AGENT)
  --tenant T    its tenant (default $ACG_TENANT)
  --socket PATH acgd's socket (default $ACG_SOCKET, else ${DEFAULT_SOCKET})
Exit status: 0 registered, 1 acgd refused, 2 usage or acgd unreachable.`;

const HOOK_USAGE = `Usage: acg hook claude|gemini|codex [--acg PATH] [--approve]

A coding agent's pre-tool hook. Reads the hook payload (JSON) on stdin; for the
agent's shell tool (Claude Code and Codex: PreToolUse of Bash; Gemini CLI:
BeforeTool of run_shell_command) prints the tool input with the command
rewritten to \`acg run --agent AGENT --tool TOOL --label ID -- bash -c COMMAND\`.
Anything else passes unchanged (no output, exit 0).
  AGENT      $ACG_AGENT, else <agent>-<session_id>
  --acg      how the rewritten command calls acg (default: acg, on PATH)
  --approve  codex only: Codex applies a rewrite only with permissionDecision
             "allow", which also skips its approval prompt; without this flag
             the command is left as it is (with a note on stderr)
See docs/integrations.md.`;

const isHelp = (a: string | undefined) => a === "--help" || a === "-h";
const isVersion = (a: string | undefined) => a === "--version" || a === "-V";

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // `acg --version`, `acg run --version`, `acg agent register --version`; never a word of `acg run`'s command.
  const subcommandVersion = cmd !== "run" && rest[0] !== undefined && !rest[0].startsWith("-") && isVersion(rest[1]);
  if (isVersion(cmd) || isVersion(rest[0]) || subcommandVersion) {
    process.stdout.write(`acg ${packageVersion()}\n`);
    return 0;
  }
  if (cmd === "run") {
    if (isHelp(rest[0])) {
      process.stdout.write(RUN_USAGE + "\n");
      return 0;
    }
    return runCommand(rest);
  }
  if (cmd === "agent") return agentCommand(rest);
  if (cmd === "hook") return hookCommand(rest);
  // Loaded on demand: `acg run` needs none of the trace or event tools.
  if (cmd === "traces") return (await import("./traces-command.js")).tracesCommand(rest, processIo);
  if (cmd === "events") return (await import("./events-command.js")).eventsCommand(rest, processIo);
  if (isHelp(cmd) || cmd === "help") {
    process.stdout.write(HELP + "\n");
    return 0;
  }
  process.stderr.write(`acg: ${cmd === undefined ? "no command" : `unknown command '${cmd}'`}\n\n${HELP}\n`);
  return 2;
}

/** node:util's parseArgs, with its errors as a usage message. */
function parse(args: string[], options: Record<string, { type: "string" | "boolean"; short?: string }>, usage: string, who: string) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: true });
  } catch (e) {
    process.stderr.write(`${who}: ${(e as Error).message}\n\n${usage}\n`);
    return null;
  }
}

async function agentCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (isHelp(sub) || sub === undefined) {
    (sub === undefined ? process.stderr : process.stdout).write(AGENT_USAGE + "\n");
    return sub === undefined ? 2 : 0;
  }
  if (sub !== "register") {
    process.stderr.write(`acg agent: unknown subcommand '${sub}'\n\n${AGENT_USAGE}\n`);
    return 2;
  }
  const parsed = parse(
    rest,
    { agent: { type: "string" }, tenant: { type: "string" }, pid: { type: "string" }, socket: { type: "string" } },
    AGENT_USAGE,
    "acg agent register",
  );
  if (!parsed) return 2;
  const v = parsed.values as { agent?: string; tenant?: string; pid?: string; socket?: string; help?: boolean };
  if (v.help) {
    process.stdout.write(AGENT_USAGE + "\n");
    return 0;
  }
  if (parsed.positionals.length) {
    process.stderr.write(`acg agent register: unexpected argument '${parsed.positionals[0]}'\n\n${AGENT_USAGE}\n`);
    return 2;
  }
  const agent = v.agent ?? (process.env["ACG_AGENT"] || undefined);
  const tenant = v.tenant ?? (process.env["ACG_TENANT"] || undefined);
  if (!agent) {
    process.stderr.write(`acg agent register: which agent? pass --agent ID (or set ACG_AGENT)\n`);
    return 2;
  }
  const pid = v.pid === undefined ? process.ppid : Number(v.pid);
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    process.stderr.write(`acg agent register: --pid ${v.pid}: give a process id (a positive integer)\n`);
    return 2;
  }
  const socket = v.socket ?? (process.env["ACG_SOCKET"] || DEFAULT_SOCKET);
  let client: DaemonClient | undefined;
  try {
    client = await DaemonClient.connect(socket);
    const r = (await client.request({ op: "register_agent", agent, ...(tenant !== undefined && { tenant }), pid })) as {
      agent: string;
      cgroup: string;
    };
    process.stderr.write(`acg: pid ${pid} registered as agent ${r.agent} (${r.cgroup})\n`);
    return 0;
  } catch (e) {
    const unreachable = e instanceof DaemonError && e.code === "unreachable";
    process.stderr.write(
      `acg agent register: ${(e as Error).message}\n${unreachable ? "  help: start acgd, or pass --socket PATH\n" : ""}`,
    );
    return unreachable ? 2 : 1;
  } finally {
    client?.close();
  }
}

function hookCommand(args: string[]): number {
  const parsed = parse(args, { acg: { type: "string" }, approve: { type: "boolean" } }, HOOK_USAGE, "acg hook");
  if (!parsed) return 2;
  if (parsed.values.help) {
    process.stdout.write(HOOK_USAGE + "\n");
    return 0;
  }
  const [framework, extra] = parsed.positionals;
  if (!HOOK_AGENTS.includes(framework as HookAgent) || extra !== undefined) {
    process.stderr.write(
      `acg hook: ${framework === undefined ? "which agent?" : `unknown agent '${framework}'`} ` +
        `(one of ${HOOK_AGENTS.join(", ")})\n\n${HOOK_USAGE}\n`,
    );
    return 2;
  }
  const { acg, approve } = parsed.values as { acg?: string; approve?: boolean };
  if (approve && framework !== "codex") {
    process.stderr.write(
      `acg hook ${framework}: --approve is for codex only (the other agents apply a rewrite without a permission decision)\n`,
    );
    return 2;
  }
  const answer = answerHook(framework as HookAgent, readFileSync(0, "utf8"), {
    ...(process.env["ACG_AGENT"] && { agent: process.env["ACG_AGENT"] }),
    ...(process.env["ACG_TENANT"] && { tenant: process.env["ACG_TENANT"] }),
    ...(acg !== undefined && { acg }),
    ...(approve && { approve }),
  });
  process.stdout.write(answer.stdout);
  process.stderr.write(answer.stderr);
  return answer.exit;
}
