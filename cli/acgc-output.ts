// What acgc's commands share (cli/acgc.ts and the command modules it loads):
// the exit codes, a usage error, and a policy's diagnostics as text or JSON.

import { renderDiagnostic, toJson, type JsonDiagnostic } from "../compiler/diagnostics.js";
import type { FrontendResult } from "../compiler/frontend.js";
import type { Io } from "./io.js";

export const EXIT_OK = 0;
export const EXIT_POLICY_ERRORS = 1;
export const EXIT_USAGE = 2;

export function usageError(io: Io, message: string): number {
  io.err(`acgc: ${message}\n  help: run \`acgc --help\` for usage\n`);
  return EXIT_USAGE;
}

/** The diagnostics of every result: rendered on stderr, or with `json` one document on stdout. */
export function printDiagnostics(results: FrontendResult[], io: Io, json: boolean) {
  if (json) {
    const all: JsonDiagnostic[] = results.flatMap((r) => r.diagnostics.map((d) => toJson(d, r.file, r.path)));
    io.out(
      JSON.stringify(
        {
          diagnostics: all,
          errors: all.filter((d) => d.severity === "error").length,
          warnings: all.filter((d) => d.severity === "warning").length,
        },
        null,
        2,
      ) + "\n",
    );
    return;
  }
  for (const r of results) for (const d of r.diagnostics) io.err(renderDiagnostic(d, r.file, r.path) + "\n\n");
}
