// The back end: policy IR → BPF C (templates) → objects (clang, cached) +
// manifest.json + policy.ts. User-facing failures come back as diagnostics;
// only bugs throw.

import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { capacityProblems, encodePolicy } from "./abi-encode.js";
import { BPF_CFLAGS, buildObject, clangVersion, findClang, type BuildDiagnostic } from "./build.js";
import { M } from "./diagnostic-messages.js";
import { diagnostic } from "./diagnostics.js";
import { emitC } from "./emit-c.js";
import { includeDir } from "./templates-dir.js";
import { policyModuleText } from "./emit-ts.js";
import type { PolicyIR } from "./ir.js";
import { buildManifest, type Manifest } from "./manifest.js";

export interface CompileOptions {
  outDir: string;
  /** "c": stop after emitting C (returned in `c`; the caller prints it). */
  emit?: "c";
  /** Write C, manifest and policy.ts, but do not run clang. */
  dryRun?: boolean;
}

export interface ObjectResult {
  object: string;
  file: string;
  cached: boolean;
  clangMs: number;
}

export interface CompileResult {
  ok: boolean;
  diagnostics: BuildDiagnostic[];
  /** Absolute paths of every file written. */
  files: string[];
  objects: ObjectResult[];
  manifest?: Manifest;
  /** The emitted C, header first, when emit = "c". */
  c?: string;
  /** codegenMs: the C (before clang; the manifest and policy.ts follow the objects); clangMs: summed over objects built in parallel. */
  timings: { codegenMs: number; clangMs: number; wallMs: number };
}

export async function compilePolicy(ir: PolicyIR, opts: CompileOptions): Promise<CompileResult> {
  const t0 = performance.now();
  const outDir = resolve(opts.outDir);
  const result: CompileResult = { ok: false, diagnostics: [], files: [], objects: [], timings: { codegenMs: 0, clangMs: 0, wallMs: 0 } };

  const problems = capacityProblems(ir);
  if (problems.length) {
    result.diagnostics.push(...problems.map((problem) => diagnostic(M.OverCapacity, undefined, { policy: ir.name, problem })));
    return result;
  }
  // Encoding checks every number against its field; the runtime writes this same value.
  encodePolicy(ir);

  const c = emitC(ir);
  if (opts.emit === "c") {
    result.c = [c.header, ...c.sources].map((s) => `/* ==== ${s.file} ==== */\n${s.text}`).join("\n");
    result.ok = true;
    result.timings.codegenMs = performance.now() - t0;
    return result;
  }

  const clang = opts.dryRun ? null : findClang();
  if (!opts.dryRun && !clang) {
    result.diagnostics.push(diagnostic(M.ClangNotFound, undefined));
    return result;
  }

  await mkdir(outDir, { recursive: true });
  const write = async (name: string, text: string) => {
    const path = join(outDir, name);
    await writeFile(path, text);
    result.files.push(path);
    return path;
  };
  await write(c.header.file, c.header.text);
  const sourcePaths = new Map<string, string>();
  for (const s of c.sources) sourcePaths.set(s.object, await write(s.file, s.text));

  // Its clang version is filled in once the objects are built (a cold compile reads it from them).
  const manifest = buildManifest({
    ir,
    opsName: c.opsName,
    features: c.features,
    clangVersion: clang ? (clang.version ?? "") : "(dry run)",
    clangFlags: BPF_CFLAGS,
    templateVersion: c.templateVersion,
  });
  result.manifest = manifest;
  const writeManifest = async () => {
    await write("manifest.json", `${JSON.stringify(manifest, null, 2)}\n`);
    // The lowered policy, so that acgd can run a compiled directory as it is.
    await write("ir.json", `${JSON.stringify(ir)}\n`);
    await write("policy.ts", policyModuleText(manifest));
  };
  if (!clang) await writeManifest();
  result.timings.codegenMs = performance.now() - t0;

  const outcomes = clang
    ? await Promise.all(
        c.sources.map(async (s) => {
          const file = manifest.objects.find((o) => o.name === s.object)!.file;
          const outPath = join(outDir, file);
          const outcome = await buildObject(
            {
              sourcePath: sourcePaths.get(s.object)!,
              sourceText: s.text,
              headerText: c.header.text,
              includesHash: c.includesHash,
              includeDirs: [outDir, includeDir()],
              outPath,
            },
            clang,
          );
          return { s, outPath, outcome };
        }),
      )
    : [];
  // A diagnostic of no file (a clang that does not start) is the same for every object: said once.
  const said = (d: BuildDiagnostic) => !d.file && result.diagnostics.some((x) => x.code === d.code && x.message === d.message);
  for (const { s, outPath, outcome } of outcomes) {
    result.diagnostics.push(...outcome.diagnostics.filter((d) => !said(d)));
    result.timings.clangMs += outcome.clangMs;
    if (outcome.ok) {
      result.files.push(outPath);
      result.objects.push({ object: s.object, file: outPath, cached: outcome.cached, clangMs: outcome.clangMs });
    }
  }
  if (outcomes.some((o) => !o.outcome.ok)) return result;
  if (clang) {
    manifest.build.clang = clangVersion(clang, outcomes[0]?.outPath);
    await writeManifest();
  }
  result.ok = !result.diagnostics.some((d) => d.severity === "error");
  result.timings.wallMs = performance.now() - t0;
  return result;
}
