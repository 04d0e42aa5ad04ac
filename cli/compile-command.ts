// acgc compile FILE -o DIR [--emit c] [--dry-run]: front end, lowering, then the
// back end (C from templates, clang, manifest, typed runtime module). A text
// this compiler and clang compiled before is served from the compile cache
// (compiler/compile-cache.ts) before any of that is loaded.

import { basename, relative, resolve } from "node:path";
import { findClang, type BuildDiagnostic } from "../compiler/build.js";
import type { Io } from "./io.js";
import { EXIT_OK, EXIT_POLICY_ERRORS, EXIT_USAGE, printDiagnostics, usageError } from "./acgc-output.js";
import { compileKey, restoreCompile, storeCompile } from "../compiler/compile-cache.js";
import { M } from "../compiler/diagnostic-messages.js";
import { userSpaceRules } from "../compiler/ir.js";
import { readSource } from "../compiler/read-source.js";

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

  const read = readSource(file);
  let key: string | null = null;
  if (read.ok && outDir !== undefined && !emitC && !dryRun) {
    // A whole compile (objects and all) of this very text by this compiler and clang:
    // its stored result, before the front end is even loaded (compiler/compile-cache.ts).
    const clang = findClang();
    key = clang && compileKey(read.file.text, clang);
    const stored = key ? restoreCompile(key, outDir) : null;
    if (stored) {
      printDiagnostics([{ path: file, file: read.file, diagnostics: stored.diagnostics, ok: true }], io, false);
      reportBackend(stored.backendDiagnostics, file, io);
      const objects = stored.objects.map((name) => `${shown(resolve(outDir, name))} (cached)`).join(", ");
      reportCompiled(file, outDir, objects, "unchanged since an earlier compile: the whole result from the cache", stored.userSpace, io);
      return EXIT_OK;
    }
  }

  const [{ runFrontend }, { lowerPolicy }, { compilePolicy }] = await Promise.all([
    import("../compiler/frontend.js"),
    import("../compiler/lower.js"),
    import("../compiler/compile.js"),
  ]);
  const front = runFrontend(file, read);
  printDiagnostics([front], io, false);
  if (!front.ok || !front.checked) {
    io.err(`${file}: not compiled: fix the errors above first\n`);
    return EXIT_POLICY_ERRORS;
  }
  const ir = lowerPolicy(front.checked);
  const result = await compilePolicy(ir, { outDir: outDir ?? ".", ...(emitC ? { emit: "c" as const } : {}), dryRun });
  reportBackend(result.diagnostics, file, io);
  // E9001 (no clang, or one that does not run) is the machine's problem, not the policy's.
  if (!result.ok) return result.diagnostics.some((d) => d.code === M.ClangNotFound.code) ? EXIT_USAGE : EXIT_POLICY_ERRORS;
  if (emitC) {
    io.out(result.c ?? "");
    return EXIT_OK;
  }
  const userSpace = userSpaceRules(ir);
  const objects = result.objects.map((o) => `${shown(o.file)}${o.cached ? " (cached)" : ""}`);
  const timings = `codegen ${result.timings.codegenMs.toFixed(0)} ms; clang ${result.timings.clangMs.toFixed(0)} ms`;
  const what = dryRun ? "C, manifest and policy.ts (dry run, clang not called)" : objects.join(", ");
  reportCompiled(file, outDir!, what, timings, userSpace, io);
  if (key) {
    storeCompile(key, outDir!, {
      files: result.files.map((f) => basename(f)),
      objects: result.objects.map((o) => basename(o.file)),
      diagnostics: front.diagnostics,
      backendDiagnostics: result.diagnostics,
      userSpace,
    });
  }
  return EXIT_OK;
}

/** A path as the summary shows it: relative to the working directory when under it. */
function shown(f: string): string {
  return relative(".", f).startsWith("..") ? f : relative(".", f);
}

function reportCompiled(file: string, outDir: string, what: string, how: string, userSpace: string[], io: Io) {
  io.err(`compiled ${file} → ${outDir}: ${what}\n  ${how}\n`);
  if (userSpace.length) {
    io.err(
      "  note: matched in user space where the kernel cannot tell (argv, tool, hint, regex " +
        `tests): ${userSpace.join(", ")}; the exec classifier leaves those execs to acgd\n`,
    );
  }
}

/** Back-end diagnostics: against the generated file and line, as clang gave them. */
function reportBackend(diagnostics: BuildDiagnostic[], policyFile: string, io: Io) {
  for (const d of diagnostics) {
    const where = d.file ? `${d.file}${d.line ? `:${d.line}${d.column ? `:${d.column}` : ""}` : ""}` : policyFile;
    io.err(`${where}: ${d.severity}[${d.code}]: ${d.message}\n${d.help ? `  help: ${d.help}\n` : ""}`);
  }
}
