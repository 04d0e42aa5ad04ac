// `acgc diff OLD NEW`: see runtime/policy-diff.ts.

import { parseArgs } from "node:util";
import { diffPolicies, loadSide, renderDiff, type LoadedSide } from "../runtime/policy-diff.js";
import type { Io } from "./io.js";

export const DIFF_USAGE = `Usage: acgc diff OLD NEW [--json]
  OLD, NEW  policy files (.acg) or compiled policy directories
  --json    the changes and the swap plan as JSON
Lists every setting that differs (classes, rules and their order, memory,
bursts, tenants, agent bounds, pressure rules) and how acgd would swap NEW in
for OLD: in place (data) or with new BPF objects.
Exit status: 0 no setting differs, 1 settings differ, 2 usage or a policy with errors.`;

export async function diffCommand(args: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { json: { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false } },
      allowPositionals: true,
    });
  } catch (e) {
    io.err(`acgc diff: ${(e as Error).message}\n\n${DIFF_USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(DIFF_USAGE + "\n");
    return 0;
  }
  if (parsed.positionals.length !== 2) {
    io.err(`acgc diff: give two policies (OLD NEW)\n\n${DIFF_USAGE}\n`);
    return 2;
  }
  const sides: LoadedSide[] = [];
  for (const p of parsed.positionals) {
    try {
      sides.push(loadSide(p));
    } catch (e) {
      io.err(`${(e as Error).message}\nacgc diff: ${p} cannot be compared\n`);
      return 2;
    }
  }
  const d = diffPolicies(sides[0]!, sides[1]!);
  io.out(parsed.values.json ? JSON.stringify(d, null, 2) + "\n" : renderDiff(d));
  return d.changes.length ? 1 : 0;
}
