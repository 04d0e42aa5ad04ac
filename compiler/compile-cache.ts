// The whole result of `acgc compile FILE -o DIR`, kept by what decides it: the
// policy's text, the compiler (its own code, its templates and headers, and
// package.json, which pins chevrotain and handlebars), clang (its identity,
// build.ts) and the host's architecture (the include path). Recompiling an
// unchanged policy then costs a hash and a few file copies: no parser, no
// template engine, no clang — the front end alone is most of a compile's CPU
// besides clang and Node's start. Any edit misses here and goes the whole way,
// where the object cache (build.ts) still skips clang when the C is unchanged.

import { createHash, type Hash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot, type BuildDiagnostic, type ClangInfo } from "./build.js";
import type { Diagnostic } from "./diagnostics.js";
import { templatesDir } from "./templates-dir.js";

/** What a successful compile wrote and printed, to be written and printed again. */
export interface CachedCompile {
  /** The files of the output directory, by name. */
  files: string[];
  /** The object files among them, in the order they were reported. */
  objects: string[];
  /** The front end's diagnostics (warnings and notes: there were no errors). */
  diagnostics: Diagnostic[];
  /** clang's messages on success (none, under -Werror, but never dropped). */
  backendDiagnostics: BuildDiagnostic[];
  /** Rules matched in user space, for the summary's note. */
  userSpace: string[];
}

/** Every file under `dir` whose name matches, in a stable order, into the hash. */
function hashTree(hash: Hash, dir: string, wanted: RegExp): void {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) hashTree(hash, path, wanted);
    else if (wanted.test(entry.name)) hash.update(`${entry.name}\0`).update(readFileSync(path)).update("\0");
  }
}

/** The compiler's modules (this directory: compiler/*.ts, or dist/compiler/*.js when built), templates and package.json. */
function compilerIdentity(hash: Hash): void {
  hashTree(hash, dirname(fileURLToPath(import.meta.url)), /\.[jt]s$/);
  const templates = templatesDir();
  hashTree(hash, templates, /./);
  hash.update(readFileSync(join(dirname(templates), "package.json")));
}

export function compileKey(policyText: string, clang: ClangInfo): string {
  const hash = createHash("sha256");
  compilerIdentity(hash);
  return hash.update(`\0${clang.identity}\0${process.arch}\0`).update(policyText).digest("hex");
}

function entryDir(key: string): string {
  return join(cacheRoot(), "compiles", key);
}

/** The stored result for `key`, its files copied into `outDir`; null when there is none. */
export function restoreCompile(key: string, outDir: string): CachedCompile | null {
  const dir = entryDir(key);
  let entry: CachedCompile;
  try {
    entry = JSON.parse(readFileSync(join(dir, "result.json"), "utf8")) as CachedCompile;
  } catch {
    return null;
  }
  mkdirSync(outDir, { recursive: true });
  for (const name of entry.files) copyFileSync(join(dir, name), join(outDir, name));
  return entry;
}

/** Keeps a successful compile's files (read back from `outDir`) under `key`; a cache that cannot be written is skipped. */
export function storeCompile(key: string, outDir: string, entry: CachedCompile): void {
  const dir = entryDir(key);
  // Filled beside and renamed, so that a reader sees a whole entry or none.
  const tmp = `${dir}.${process.pid}.tmp`;
  try {
    mkdirSync(tmp, { recursive: true });
    for (const name of entry.files) copyFileSync(join(outDir, name), join(tmp, name));
    writeFileSync(join(tmp, "result.json"), JSON.stringify(entry));
    renameSync(tmp, dir);
  } catch {
    // Read-only cache, or another acgc stored the same result first: nothing lost.
    rmSync(tmp, { recursive: true, force: true });
  }
}
