// Hooks of coding agents that put each shell command of the agent into a
// tool call of its own: the agent runs the hook before each tool use with a
// JSON payload on stdin, and the hook answers with the command rewritten to
// run under `acg run`, carrying the agent's session as the AgentCgroup agent
// and the framework's tool-use id as the call's label.
//
// Payloads, as the agents document them:
//  - Claude Code, PreToolUse: { session_id, transcript_path, cwd,
//    hook_event_name, tool_name, tool_input: { command, ... }, tool_use_id };
//    the answer { hookSpecificOutput: { hookEventName: "PreToolUse",
//    updatedInput } } replaces the tool's input. No permissionDecision is
//    given: the hook never grants a permission the user did not.
//  - Gemini CLI, BeforeTool: { session_id, transcript_path, cwd,
//    hook_event_name, timestamp, tool_name: "run_shell_command", tool_input:
//    { command, ... } }; hookSpecificOutput.tool_input is merged into the
//    tool's arguments. It has no tool-use id: the label is the timestamp.
//  - Codex CLI (0.124+), PreToolUse: Claude Code's wire format (session_id,
//    transcript_path, cwd, hook_event_name, model, turn_id, tool_name "Bash"
//    for its shell tools, tool_input: { command }, tool_use_id). Codex applies
//    updatedInput only together with permissionDecision "allow", which also
//    skips its approval prompt: so the hook rewrites only when the operator
//    said so (`--approve`, options.approve), and otherwise passes the command
//    unchanged with a note on stderr.
// Any other event or tool passes through unchanged (empty answer, exit 0).

import { checkName } from "./cgroup-tree.js";

export type HookAgent = "claude" | "gemini" | "codex";
export const HOOK_AGENTS: readonly HookAgent[] = ["claude", "gemini", "codex"];

export interface HookOptions {
  /** The AgentCgroup agent ($ACG_AGENT); default: derived from the session id. */
  agent?: string;
  /** The agent's tenant ($ACG_TENANT). */
  tenant?: string;
  /** How the rewritten command invokes acg (default "acg": on PATH). */
  acg?: string;
  /** Codex: the operator accepts that the rewrite is answered with permissionDecision "allow". */
  approve?: boolean;
}

/** What the hook prints and its exit status (2 blocks the tool use, with stderr as the reason). */
export interface HookAnswer {
  stdout: string;
  stderr: string;
  exit: number;
}

const pass: HookAnswer = { stdout: "", stderr: "", exit: 0 };

/** One word for a POSIX shell, quoted only when it needs to be. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The agent name for a session: $ACG_AGENT, else `<framework>-<session id>` (cgroup-safe, at most 64 characters). */
export function agentOfSession(framework: HookAgent, sessionId: string, explicit?: string): string {
  if (explicit) return explicit;
  const safe = sessionId.replace(/[^A-Za-z0-9_.-]/g, "_");
  return `${framework}-${safe}`.slice(0, 64);
}

/** The command line that runs `command` (a shell script, as the agent wrote it) as one tool call. */
export function wrapCommand(command: string, call: { agent: string; tenant?: string; tool: string; label?: string }, acg = "acg"): string {
  const words = [
    acg,
    "run",
    "--agent",
    call.agent,
    ...(call.tenant ? ["--tenant", call.tenant] : []),
    "--tool",
    call.tool,
    ...(call.label ? ["--label", call.label] : []),
    "--quiet",
    "--",
    "bash",
    "-c",
    command,
  ];
  return words.map(shellQuote).join(" ");
}

/** True for a command this hook already rewrote (a retried tool use, or two hooks configured). */
function alreadyWrapped(command: string, acg: string): boolean {
  return command.startsWith(`${shellQuote(acg)} run `);
}

function field(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** Answers one hook invocation of `framework` with the payload text it gave on stdin. */
export function answerHook(framework: HookAgent, payloadText: string, opts: HookOptions = {}): HookAnswer {
  let payload: unknown;
  try {
    payload = JSON.parse(payloadText);
  } catch (e) {
    // Not blocking: a broken payload must not stop the agent's work; the message lands in the agent's hook log.
    return {
      stdout: "",
      stderr: `acg hook ${framework}: the payload on stdin is not JSON (${(e as Error).message}); command left as it is\n`,
      exit: 1,
    };
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    return { stdout: "", stderr: `acg hook ${framework}: the payload is not a JSON object; command left as it is\n`, exit: 1 };
  }
  const p = payload as Record<string, unknown>;
  const event = field(p, "hook_event_name");
  const tool = field(p, "tool_name");
  const input = p["tool_input"];
  const shellTool =
    framework === "gemini" ? event === "BeforeTool" && tool === "run_shell_command" : event === "PreToolUse" && tool === "Bash";
  if (!shellTool || typeof input !== "object" || input === null) return pass;
  const command = field(input as Record<string, unknown>, "command");
  const acg = opts.acg ?? "acg";
  if (command === undefined || alreadyWrapped(command, acg)) return pass;
  if (framework === "codex" && !opts.approve) {
    return {
      stdout: "",
      stderr:
        'acg hook codex: command left as it is: Codex applies a rewritten command only with permissionDecision "allow", ' +
        "which also skips its approval prompt; add --approve to the hook's command to accept that (docs/integrations.md)\n",
      exit: 0,
    };
  }
  const session = field(p, "session_id");
  if (session === undefined && !opts.agent)
    return {
      stdout: "",
      stderr: `acg hook ${framework}: no session_id in the payload and no $ACG_AGENT; command left as it is\n`,
      exit: 1,
    };
  const agent = agentOfSession(framework, session ?? "", opts.agent);
  const bad = checkName("agent", agent);
  if (bad) return { stdout: "", stderr: `acg hook ${framework}: ${bad} (set $ACG_AGENT); command left as it is\n`, exit: 1 };
  const label = framework === "gemini" ? field(p, "timestamp") : field(p, "tool_use_id");
  const wrapped = wrapCommand(
    command,
    { agent, tool: tool!, ...(opts.tenant && { tenant: opts.tenant }), ...(label && { label: `${framework}:${label}` }) },
    acg,
  );
  const updatedInput = { ...(input as Record<string, unknown>), command: wrapped };
  const out =
    framework === "claude"
      ? { hookSpecificOutput: { hookEventName: "PreToolUse", updatedInput } }
      : framework === "codex"
        ? { hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision: "allow", updatedInput } }
        : { hookSpecificOutput: { hookEventName: "BeforeTool", tool_input: { command: wrapped } } };
  return { stdout: JSON.stringify(out) + "\n", stderr: "", exit: 0 };
}
