// acg: the agent-side command line (`acg run`) and the trace tools (`acg traces`).

import { RUN_USAGE, runCommand } from "./run-command.js";

const HELP = `acg — run AI agents' tool calls under AgentCgroup

Usage:
  acg run [OPTIONS] -- CMD [ARGS...]   run one tool call in its own cgroup (acg run --help)
  acg traces stats [DIR] [--json] [--min-count N]
                                       characterize a folder of agent traces (acg traces --help)
  acg --help`;

const stdio = { out: (s: string) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s) };

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === "run") {
    if (rest[0] === "--help" || rest[0] === "-h") {
      process.stdout.write(RUN_USAGE + "\n");
      return 0;
    }
    return runCommand(rest);
  }
  // Loaded on demand: `acg run` needs none of the trace tools.
  if (cmd === "traces") return (await import("../traces/command.js")).tracesCommand(rest, stdio);
  if (cmd === "--help" || cmd === "-h" || cmd === "help") {
    process.stdout.write(HELP + "\n");
    return 0;
  }
  process.stderr.write(`acg: ${cmd === undefined ? "no command" : `unknown command '${cmd}'`}\n\n${HELP}\n`);
  return 2;
}
