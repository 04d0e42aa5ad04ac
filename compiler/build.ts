// Builds emitted BPF C into objects with clang, through a content-addressed
// object cache: the key is what clang reads (the emitted C, the ABI header, the
// static headers they include) and the toolchain (clang's version, the flags),
// so C that did not change is never compiled twice, whatever the policy's numbers. clang's diagnostics come back structured, with the
// generated file and line.

import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from "node:fs";
import { copyFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { M } from "./diagnostic-messages.js";
import { diagnostic, type Diagnostic } from "./diagnostics.js";

const run = promisify(execFile);

export const BPF_CFLAGS: readonly string[] = ["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror"];

/** A back-end diagnostic (E9xxx and its W/N companions): located in the generated C, if anywhere. */
export interface BuildDiagnostic extends Pick<Diagnostic, "severity" | "code" | "message" | "help"> {
  file?: string;
  line?: number;
  column?: number;
}

/** The table's message for each kind of line clang prints (a fatal error is an error). */
const CLANG_MESSAGES = { error: M.ClangError, warning: M.ClangWarning, note: M.ClangNote };

export interface ClangInfo {
  path: string;
  /**
   * First line of `clang --version`, as remembered from an earlier run; null until
   * {@link clangVersion} learns it (a cold compile reads it from the first object built).
   */
  version: string | null;
  /**
   * The executable's real path, size and modification time: what identifies
   * the toolchain without running it (ccache's `compiler_check = mtime`).
   */
  identity: string;
}

const CLANG_CANDIDATES = ["clang-19", "clang"];
const clangFound = new Map<string, ClangInfo | null>();

/** The file a command name runs: the name itself if it has a slash, else the first match on $PATH. */
function executable(name: string): string | null {
  const dirs = name.includes("/") ? [""] : (process.env.PATH ?? "").split(":").filter(Boolean);
  for (const dir of dirs) {
    const path = dir ? join(dir, name) : name;
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // not here: try the next directory
    }
  }
  return null;
}

/**
 * The clang to use: $ACG_CLANG, else clang-19, else clang (the first that is
 * an executable file); null when there is none. It is not run here: a child
 * clang costs ~20 ms of CPU, and its version is remembered per toolchain
 * identity in the cache directory (see {@link clangVersion}).
 */
export function findClang(): ClangInfo | null {
  const wanted = process.env.ACG_CLANG ?? "";
  if (clangFound.has(wanted)) return clangFound.get(wanted)!;
  let found: ClangInfo | null = null;
  for (const name of wanted ? [wanted] : CLANG_CANDIDATES) {
    const path = executable(name);
    if (!path) continue;
    const real = realpathSync(path);
    const st = statSync(real);
    const identity = `${real} ${st.size} ${st.mtimeMs}`;
    let version: string | null = null;
    try {
      version = readFileSync(versionMemo(identity), "utf8");
    } catch {
      // not remembered yet: clangVersion() learns it
    }
    found = { path, version, identity };
    break;
  }
  clangFound.set(wanted, found);
  return found;
}

function versionMemo(identity: string): string {
  return join(cacheRoot(), "toolchains", createHash("sha256").update(identity).digest("hex").slice(0, 32));
}

/**
 * The first line of `clang --version`, learnt once per toolchain identity and
 * remembered: from the object clang built (with -g, the DWARF producer string
 * in .debug_str is that same line), else by running `clang --version`.
 * Throws when clang does not run.
 */
export function clangVersion(clang: ClangInfo, builtObject?: string): string {
  if (clang.version !== null) return clang.version;
  const version =
    (builtObject && producerOf(builtObject)) ||
    execFileSync(clang.path, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
      .split("\n")[0]!
      .trim();
  clang.version = version;
  writeAtomically(versionMemo(clang.identity), version);
  return version;
}

/** The DWARF producer of an object clang built ("Debian clang version 19.1.7 (...)"), or null. */
function producerOf(objectPath: string): string | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(objectPath);
  } catch {
    return null;
  }
  const at = bytes.indexOf("clang version");
  if (at < 0) return null;
  const end = bytes.indexOf(0, at);
  return (
    bytes
      .subarray(bytes.lastIndexOf(0, at) + 1, end < 0 ? bytes.length : end)
      .toString("utf8")
      .trim() || null
  );
}

/** Writes beside and renames, so that a concurrent reader never sees half a file; failures (a read-only cache) are ignored. */
function writeAtomically(path: string, text: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch {
    // only a cache: the next run asks clang again
  }
}

/** $ACG_CACHE_DIR, default ~/.cache/agentcgroup: objects, toolchain versions, whole compiles. */
export function cacheRoot(): string {
  return process.env.ACG_CACHE_DIR ?? join(homedir(), ".cache", "agentcgroup");
}

export function cacheDir(): string {
  return join(cacheRoot(), "objects");
}

/** Where the host keeps <asm/types.h>, which <linux/types.h> needs under -target bpf. */
function multiarchInclude(): string[] {
  const dir = `/usr/include/${process.arch === "arm64" ? "aarch64" : "x86_64"}-linux-gnu`;
  return existsSync(dir) ? [`-I${dir}`] : [];
}

export function compileFlags(includeDirs: readonly string[]): string[] {
  return [...BPF_CFLAGS, ...includeDirs.map((d) => `-I${d}`), ...multiarchInclude()];
}

let clangRuns = 0;
/** How many times clang was run by this process (the cache test observes it). */
export function clangInvocations(): number {
  return clangRuns;
}

const CLANG_LINE = /^(.*?):(\d+):(\d+): (error|warning|note|fatal error): (.*)$/;

export function parseClangOutput(stderr: string): BuildDiagnostic[] {
  const out: BuildDiagnostic[] = [];
  for (const line of stderr.split("\n")) {
    const m = CLANG_LINE.exec(line);
    if (!m) continue;
    const kind = m[4] === "note" ? "note" : m[4] === "warning" ? "warning" : "error";
    out.push({ ...diagnostic(CLANG_MESSAGES[kind], undefined, { message: m[5]! }), file: m[1]!, line: Number(m[2]), column: Number(m[3]) });
  }
  return out;
}

export interface BuildRequest {
  /** The emitted .c file (already written, so clang's messages name it). */
  sourcePath: string;
  sourceText: string;
  /** Text of the generated header it includes, and the hash of the static ones (for the cache key). */
  headerText: string;
  includesHash: string;
  includeDirs: string[];
  outPath: string;
}

export interface BuildOutcome {
  ok: boolean;
  cached: boolean;
  diagnostics: BuildDiagnostic[];
  clangMs: number;
}

export function cacheKey(req: BuildRequest, clang: ClangInfo): string {
  return createHash("sha256")
    .update(`${req.includesHash}\0${clang.identity}\0${BPF_CFLAGS.join(" ")}\0`)
    .update(req.headerText)
    .update("\0")
    .update(req.sourceText)
    .digest("hex");
}

/** Why a clang could not be started at all (errno names spawn reports), as opposed to clang failing on the C. */
const SPAWN_FAILURES = new Set(["ENOENT", "EACCES", "ENOEXEC", "EPERM"]);

export async function buildObject(req: BuildRequest, clang: ClangInfo): Promise<BuildOutcome> {
  const dir = cacheDir();
  const cached = join(dir, `${cacheKey(req, clang)}.o`);
  if (existsSync(cached)) {
    await copyFile(cached, req.outPath);
    return { ok: true, cached: true, diagnostics: [], clangMs: 0 };
  }
  // Synchronous up to the spawn of clang, so that a caller starting several
  // builds has every clang running before it does anything else.
  mkdirSync(dir, { recursive: true });
  const tmp = `${cached}.${process.pid}.${Date.now()}.tmp`;
  const t0 = performance.now();
  clangRuns++;
  try {
    const { stderr } = await run(clang.path, [...compileFlags(req.includeDirs), "-c", req.sourcePath, "-o", tmp], {
      maxBuffer: 16 << 20,
    });
    // -Werror makes any warning an error; a message on success is unexpected but never dropped.
    const diagnostics = parseClangOutput(stderr);
    await rename(tmp, cached);
    await copyFile(cached, req.outPath);
    return { ok: true, cached: false, diagnostics, clangMs: performance.now() - t0 };
  } catch (e) {
    const err = e as { stderr?: string; message: string; code?: unknown };
    const stderr = err.stderr ?? "";
    const diagnostics = parseClangOutput(stderr);
    // The toolchain, not the C: findClang() takes the first executable file without running it.
    if (typeof err.code === "string" && SPAWN_FAILURES.has(err.code)) {
      diagnostics.push(diagnostic(M.ClangDoesNotRun, undefined, { path: clang.path, error: err.code }));
    } else if (diagnostics.length === 0) {
      const output = (stderr.trim() || err.message).slice(0, 2000);
      diagnostics.push({ ...diagnostic(M.ClangFailed, undefined, { file: req.sourcePath, output }), file: req.sourcePath });
    }
    await rm(tmp, { force: true });
    await writeFile(`${req.outPath}.clang.log`, stderr).catch(() => undefined);
    return { ok: false, cached: false, diagnostics, clangMs: performance.now() - t0 };
  }
}
