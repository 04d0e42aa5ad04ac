// `acg traces ...`: the trace tools on the command line (hosted by cli/acg.ts).
//
// Exit status: 0 ok; 1 the folder was read but holds no usable run (each
// skipped run is named in a warning); 2 usage: an unknown subcommand or option,
// or a DIR that cannot be listed.

import { defaultTraceDir, TraceFolderError } from "../traces/read.js";
import { computeStats, renderStats, type TraceStats } from "../traces/stats.js";
import type { Io } from "./io.js";

export const TRACES_HELP = `Usage: acg traces SUBCOMMAND
  stats [DIR] [--json] [--min-count N]   memory and tool-call characterization of a trace folder
                                         (acg traces stats --help)
`;

const STATS_HELP = `Usage: acg traces stats [DIR] [--json] [--min-count N]
  DIR           a folder of agent traces, one sub-folder per run (TASK/) or per
                task and attempt (TASK/attempt_N/)
                (default: $ACG_TRACES, else the shipped swe-rebench-haiku traces)
  --json        print the full characterization as JSON
  --min-count N leave out command families with fewer than N calls (default 2)
Exit status: 0 ok, 1 no usable run in DIR, 2 usage or a DIR that cannot be read.
`;

const isHelp = (a: string | undefined) => a === "--help" || a === "-h" || a === "help";

/** `args` are the words after `traces`. Returns the exit status. */
export async function tracesCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "stats") return statsCommand(rest, io);
  if (isHelp(sub)) {
    io.out(TRACES_HELP);
    return 0;
  }
  io.err(`acg traces: ${sub === undefined ? "no subcommand" : `unknown subcommand '${sub}'`}\n\n${TRACES_HELP}`);
  return 2;
}

/** `acg traces stats`; `args` are the words after `stats`. */
export async function statsCommand(args: string[], io: Io): Promise<number> {
  const usage = (msg: string) => {
    io.err(`acg traces stats: ${msg}\n\n${STATS_HELP}`);
    return 2;
  };
  let json = false;
  let minCount = 2;
  let dir: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--json") json = true;
    else if (a === "--min-count") {
      const n = Number(args[++i]);
      if (!Number.isInteger(n) || n < 1) return usage("--min-count needs a positive integer");
      minCount = n;
    } else if (a === "-h" || a === "--help") {
      io.out(STATS_HELP);
      return 0;
    } else if (a.startsWith("-")) return usage(`unknown option '${a}'`);
    else if (dir === null) dir = a;
    else return usage("one folder only");
  }
  let s: TraceStats;
  try {
    s = computeStats(dir ?? defaultTraceDir());
  } catch (e) {
    if (e instanceof TraceFolderError) {
      io.err(`acg traces stats: ${e.message}\n  help: DIR is a folder with one sub-folder per run (acg traces stats --help)\n`);
      return 2;
    }
    throw e;
  }
  for (const w of s.warnings) io.err(`warning: ${w}\n`);
  if (s.totals.runs === 0) {
    io.err(`acg traces stats: no usable run in ${s.dir}${s.warnings.length ? " (see the warnings above)" : " (it has no run folders)"}\n`);
    return 1;
  }
  io.out(json ? JSON.stringify(s, null, 2) + "\n" : renderStats({ ...s, warnings: [] }, { minCount }));
  return 0;
}
