// acg: the agent-side command line (`acg run`).

import { RUN_USAGE, runCommand } from "./run-command.js";

const HELP = `acg — run AI agents' tool calls under AgentCgroup

Usage:
  acg run [OPTIONS] -- CMD [ARGS...]   run one tool call in its own cgroup (acg run --help)
  acg --help`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === "run") {
    if (rest[0] === "--help" || rest[0] === "-h") {
      process.stdout.write(RUN_USAGE + "\n");
      return 0;
    }
    return runCommand(rest);
  }
  if (cmd === "--help" || cmd === "-h" || cmd === "help") {
    process.stdout.write(HELP + "\n");
    return 0;
  }
  process.stderr.write(`acg: ${cmd === undefined ? "no command" : `unknown command '${cmd}'`}\n\n${HELP}\n`);
  return 2;
}
