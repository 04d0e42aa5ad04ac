// acgc: the AgentCgroup policy compiler's command line.
// Exit codes: 0 ok, 1 the policy has errors, 2 usage or internal error.

import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { packageVersion } from "../compiler/version.js";
import type { FrontendResult } from "../compiler/frontend.js";
import { EXIT_OK, EXIT_POLICY_ERRORS, EXIT_USAGE, printDiagnostics, usageError } from "./acgc-output.js";
import { processIo, type Io } from "./io.js";

const HELP = `acgc — the AgentCgroup policy compiler

Usage:
  acgc check [--format text|json|sarif] FILE...
                                               check policies and report every problem
  acgc fmt [--check] FILE...                   rewrite policies in the canonical layout
  acgc compile FILE -o DIR [--emit c] [--dry-run]
                                               compile a policy to BPF objects, a manifest
                                               and a typed runtime module
  acgc status [--json] [--socket PATH]         what a running acgd enforces, and how
  acgc apply FILE [--dry-run] [--socket PATH]  replace acgd's policy (errors leave it untouched);
                                               --dry-run: show what would change, apply nothing
  acgc unload [--socket PATH]                  after acgd stopped: detach and unpin the
                                               scheduler it left running
  acgc diff OLD NEW [--json]                   what changes between two policies, and the swap kind
  acgc simulate POLICY [TRACES] [--json] [--calls]
                                               replay recorded agent traces through the policy:
                                               what each call gets, when it is throttled or killed
  acgc lsp [--stdio]                           a language server for editors (diagnostics, hover,
                                               completion, formatting) over stdio
  acgc COMMAND --help | acgc --help | --version

FILE may be \`-\` for check and fmt --check: the policy is read from stdin.
acgd's socket: --socket, else $ACG_SOCKET, else /run/agentcgroup/acgd.sock.

Exit status: 0 ok, 1 a policy has errors (or fmt --check found changes),
2 usage or internal error.
Language reference: docs/language.md. Diagnostics: docs/diagnostics.md.`;

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (e) {
    // Never a stack trace for the user; the message says where to report it.
    io.err(
      `acgc: internal error: ${e instanceof Error ? e.message : String(e)}\n  help: this is a ` +
        `bug in acgc; please report it with the input that caused it\n`,
    );
    if (process.env["ACGC_DEBUG"]) io.err(`${e instanceof Error ? e.stack : ""}\n`);
    return EXIT_USAGE;
  }
}

/** Each command's own --help. */
const COMMAND_HELP: Record<string, string> = {
  check: `Usage: acgc check [--format text|json] FILE...
Checks policies and reports every problem, located, with a hint. FILE \`-\` reads stdin.
Exit status: 0 no errors, 1 a policy has errors, 2 usage.`,
  fmt: `Usage: acgc fmt [--check] FILE...
Rewrites policies in the canonical layout (comments kept); --check only reports
files that are not canonical (exit 1). \`fmt --check -\` checks stdin.`,
  compile: `Usage: acgc compile FILE -o DIR [--emit c] [--dry-run]
Compiles a policy to BPF objects (scheduler, memcg hooks, exec classifier),
manifest.json and policy.ts in DIR. --emit c prints the generated C; --dry-run
does everything but clang. Objects are cached in $ACG_CACHE_DIR
(default ~/.cache/agentcgroup).`,
  status: `Usage: acgc status [--json] [--socket PATH]
What a running acgd enforces, and how. Socket: --socket, $ACG_SOCKET, or /run/agentcgroup/acgd.sock.`,
  apply: `Usage: acgc apply FILE|COMPILED_DIR [--socket PATH]
Replaces acgd's policy; a policy with errors leaves the running one (exit 1).`,
  unload: `Usage: acgc unload [--socket PATH]
After acgd has stopped: removes the pins of the sched_ext scheduler it left
running (under /sys/fs/bpf/agentcgroup/, recorded in /run/agentcgroup/), so the
kernel detaches it and the default scheduler runs again. Refuses while an acgd
answers on the socket (stop it with \`acgd stop\`, which unloads too).`,
};

async function dispatch(argv: string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd !== undefined && COMMAND_HELP[cmd] !== undefined) {
    // Before a command's own parsing, so that every command answers them alike.
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(COMMAND_HELP[cmd] + "\n");
      return EXIT_OK;
    }
    if (rest.includes("--version") || rest.includes("-V")) {
      io.out(`acgc ${packageVersion()}\n`);
      return EXIT_OK;
    }
  }
  switch (cmd) {
    case undefined:
    case "-h":
    case "--help":
    case "help":
      io.out(HELP + "\n");
      return cmd === undefined ? EXIT_USAGE : EXIT_OK;
    case "-V":
    case "--version":
      io.out(`acgc ${packageVersion()}\n`);
      return EXIT_OK;
    // Each command loads only what it uses: `status` needs no parser, `check` no back end.
    case "check":
      return checkCommand(rest, io);
    case "fmt":
      return fmtCommand(rest, io);
    case "compile":
      return (await import("./compile-command.js")).compileCommand(rest, io);
    case "status":
      return (await import("./admin-commands.js")).statusCommand(rest, io);
    case "apply":
      return (await import("./admin-commands.js")).applyCommand(rest, io);
    case "lsp":
      if (rest.some((a) => a !== "--stdio")) return usageError(io, "lsp takes only --stdio (it speaks the protocol on stdin/stdout)");
      return (await import("./lsp-command.js")).lspCommand();
    case "diff":
      return (await import("./diff-command.js")).diffCommand(rest, io);
    case "simulate":
      return (await import("./simulate-command.js")).simulateCommand(rest, io);
    case "unload":
      return (await import("./admin-commands.js")).unloadCommand(rest, io);
    default:
      return usageError(io, `unknown command '${cmd}'`);
  }
}

function summary(results: FrontendResult[]): string {
  const errors = results.reduce((n, r) => n + r.diagnostics.filter((d) => d.severity === "error").length, 0);
  const warnings = results.reduce((n, r) => n + r.diagnostics.filter((d) => d.severity === "warning").length, 0);
  const files = results.length === 1 ? "1 file" : `${results.length} files`;
  return `${files} checked: ${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}`;
}

async function checkCommand(args: string[], io: Io): Promise<number> {
  let fmt = "text";
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--format" || a.startsWith("--format=")) {
      const v = a === "--format" ? args[++i] : a.slice(9);
      if (v !== "text" && v !== "json" && v !== "sarif") return usageError(io, "--format takes `text`, `json` or `sarif`");
      fmt = v;
    } else if (a === "-") {
      files.push(STDIN);
    } else if (a.startsWith("-")) {
      return usageError(io, `unknown option '${a}' for check`);
    } else files.push(a);
  }
  if (files.length === 0) return usageError(io, "check needs at least one policy file");
  const results = await Promise.all(files.map(loadPolicyArg));
  if (fmt === "sarif") io.out(JSON.stringify((await import("../compiler/sarif.js")).toSarif(results, packageVersion()), null, 2) + "\n");
  else printDiagnostics(results, io, fmt === "json");
  if (fmt === "text") io.err(summary(results) + "\n");
  return results.every((r) => r.ok) ? EXIT_OK : EXIT_POLICY_ERRORS;
}

/** The command-line word for stdin, and the name diagnostics give it. */
const STDIN = "-";
const STDIN_NAME = "<stdin>";

/** A policy named on the command line: a file, or stdin for \`-\` (a pipe is not a regular file, so it is read here). */
async function loadPolicyArg(arg: string): Promise<FrontendResult> {
  const { loadPolicy, loadPolicyText } = await import("../compiler/frontend.js");
  return arg === STDIN ? loadPolicyText(STDIN_NAME, readFileSync(0)) : loadPolicy(arg);
}

async function fmtCommand(args: string[], io: Io): Promise<number> {
  let checkOnly = false;
  const files: string[] = [];
  for (const a of args) {
    if (a === "--check") checkOnly = true;
    else if (a === STDIN) files.push(STDIN);
    else if (a.startsWith("-")) return usageError(io, `unknown option '${a}' for fmt`);
    else files.push(a);
  }
  if (files.length === 0) return usageError(io, "fmt needs at least one policy file");
  const [{ loadPolicyText }, { format, stripSpans }] = await Promise.all([import("../compiler/frontend.js"), import("../compiler/fmt.js")]);
  let status = EXIT_OK;
  if (files.includes(STDIN) && !checkOnly) return usageError(io, "fmt rewrites files in place; for stdin use `fmt --check -`");
  for (const arg of files) {
    const path = arg === STDIN ? STDIN_NAME : arg;
    const r = await loadPolicyArg(arg);
    // Formatting needs a complete syntax tree; semantic errors do not stop it.
    const syntaxBroken = !r.ast || !r.file || r.diagnostics.some((d) => d.code.startsWith("E01") || d.code.startsWith("E000"));
    if (syntaxBroken) {
      printDiagnostics([r], io, false);
      io.err(`${path}: not formatted: fix the errors above first\n`);
      status = EXIT_POLICY_ERRORS;
      continue;
    }
    const formatted = format(r.ast!, r.file!.text);
    // Guard: the formatter must never change meaning. Reparse and compare.
    const again = loadPolicyText(path, formatted);
    if (!again.ast || JSON.stringify(stripSpans(again.ast)) !== JSON.stringify(stripSpans(r.ast!))) {
      io.err(`acgc: internal error: formatting ${path} would change its meaning; file left untouched\n`);
      return EXIT_USAGE;
    }
    if (formatted === r.file!.text) continue;
    if (checkOnly) {
      io.err(`${path}: not in canonical format (run \`acgc fmt ${path}\`)\n`);
      status = EXIT_POLICY_ERRORS;
    } else {
      // Write beside and rename, so an interrupted fmt never leaves half a file.
      const tmp = `${path}.acgc-fmt.tmp`;
      writeFileSync(tmp, formatted);
      renameSync(tmp, path);
      io.err(`formatted ${path}\n`);
    }
  }
  return status;
}
