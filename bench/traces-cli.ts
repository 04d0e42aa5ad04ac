#!/usr/bin/env node
// Standalone entry for the trace tools until the `acg` CLI hosts them:
//   node dist/bench/traces-cli.js stats [DIR] [--json] [--min-count N]
import { tracesStatsCommand } from "./stats.js";

const io = { out: (s: string) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s) };
const [cmd, ...rest] = process.argv.slice(2);
if (cmd === "stats") process.exitCode = await tracesStatsCommand(rest, io);
else {
  io.err(`usage: traces-cli stats [DIR] [--json] [--min-count N]\n`);
  process.exitCode = cmd === undefined || cmd === "--help" || cmd === "-h" ? 0 : 2;
}
