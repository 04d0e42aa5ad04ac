// acgc compile FILE -o DIR [--emit c] [--dry-run]: front end, lowering, then the
// back end (C from templates, clang, manifest, typed runtime module).

import { relative } from "node:path";
import type { Io } from "./cli.js";
import { EXIT_OK, EXIT_POLICY_ERRORS, EXIT_USAGE, printDiagnostics, usageError } from "./cli.js";
import { compilePolicy, type CompileResult } from "./compile.js";
import { M } from "./diagnostic-messages.js";
import { loadPolicy } from "./frontend.js";
import { lowerPolicy } from "./lower.js";

export async function compileCommand(args: string[], io: Io): Promise<number> {
  let file: string | undefined;
  let outDir: string | undefined;
  let emitC = false;
  let dryRun = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-o" || a === "--out") {
      outDir = args[++i];
      if (outDir === undefined) return usageError(io, `${a} needs a directory`);
    } else if (a === "--emit") {
      if (args[++i] !== "c") return usageError(io, "--emit takes `c`");
      emitC = true;
    } else if (a === "--emit=c") emitC = true;
    else if (a === "--dry-run") dryRun = true;
    else if (a.startsWith("-")) return usageError(io, `unknown option '${a}' for compile`);
    else if (file === undefined) file = a;
    else return usageError(io, "compile takes one policy file");
  }
  if (file === undefined) return usageError(io, "compile needs a policy file");
  if (outDir === undefined && !emitC) return usageError(io, "compile needs an output directory: -o DIR");

  const front = loadPolicy(file);
  printDiagnostics([front], io, false);
  if (!front.ok || !front.checked) {
    io.err(`${file}: not compiled: fix the errors above first\n`);
    return EXIT_POLICY_ERRORS;
  }
  const ir = lowerPolicy(front.checked);
  const result = await compilePolicy(ir, { outDir: outDir ?? ".", ...(emitC ? { emit: "c" as const } : {}), dryRun });
  reportBackend(result, file, io);
  if (!result.ok) return result.diagnostics.some((d) => d.code === M.ClangNotFound.code) ? EXIT_USAGE : EXIT_POLICY_ERRORS;
  if (emitC) {
    io.out(result.c ?? "");
    return EXIT_OK;
  }
  const shown = (f: string) => (relative(".", f).startsWith("..") ? f : relative(".", f));
  const objects = result.objects.map((o) => `${shown(o.file)}${o.cached ? " (cached)" : ""}`);
  io.err(`compiled ${file} → ${outDir}: ${dryRun ? "C, manifest and policy.ts (dry run, clang not called)" : objects.join(", ")}\n`);
  io.err(`  codegen ${result.timings.codegenMs.toFixed(0)} ms; clang ${result.timings.clangMs.toFixed(0)} ms\n`);
  const userSpace = ir.rules.filter((r) => !r.kernelDecidable).map((r) => r.name);
  if (userSpace.length) {
    io.err(
      "  note: matched in user space where the kernel cannot tell (argv, tool, hint, regex " +
        `tests): ${userSpace.join(", ")}; the exec classifier leaves those execs to acgd\n`,
    );
  }
  return EXIT_OK;
}

/** Back-end diagnostics: against the generated file and line, as clang gave them. */
function reportBackend(result: CompileResult, policyFile: string, io: Io) {
  for (const d of result.diagnostics) {
    const where = d.file ? `${d.file}${d.line ? `:${d.line}${d.column ? `:${d.column}` : ""}` : ""}` : policyFile;
    io.err(`${where}: ${d.severity}[${d.code}]: ${d.message}\n${d.help ? `  help: ${d.help}\n` : ""}`);
  }
}
