/**
 * The native loader addon (native/, an N-API addon over a statically linked
 * libbpf 1.4.x): where it is built, how it is loaded, and the shape of
 * everything that crosses into it. The TypeScript faces over it have one
 * module per kind of kernel object: `bpf-object.ts`, `bpf-map.ts`,
 * `bpf-link.ts`, `ring-buffer.ts`, `kernel-probes.ts` and `spawn.ts`. The data
 * types here mirror the conversions in native/src, so that a change on one
 * side is checked against one file.
 *
 * Every failure from libbpf or the kernel is an Error with `errno`, `code`
 * (e.g. 'EINVAL') and `op` (e.g. 'bpf_object__load'), a {@link BpfError};
 * invalid arguments throw TypeError. Native resources are freed by `close()`
 * and, as a fallback, when the JS object is garbage-collected.
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// ---------------------------------------------------------------------------
// What the addon takes and returns

export interface OpenOptions {
  /** Overrides the object name (prefix of internal map names). */
  objectName?: string;
  /** Kernel verifier log level for every program (0 = log only on failure). */
  logLevel?: number;
  /** Size of the verifier log buffer in bytes (default 1 MiB, 16 MiB if logLevel > 0). */
  logSize?: number;
  /** Collect per-program verifier statistics (log level 4): verification time, states. */
  collectStats?: boolean;
  /** bpffs directory for maps declared with LIBBPF_PIN_BY_NAME. */
  pinRoot?: string;
}

export interface ProgramInfo {
  name: string;
  section: string;
  type: number;
  typeName: string;
  expectedAttachType: string;
  autoload: boolean;
  /** Instructions in the ELF (before load). */
  insnCount: number;
}

export interface MapDescription {
  name: string;
  /** ".maps", ".rodata", ".data", ".bss", ".kconfig", ".struct_ops", ".struct_ops.link" */
  section: string;
  type: number;
  typeName: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  internal: boolean;
}

/** veristat-style per-program statistics after load. */
export interface ProgramStats {
  name: string;
  section: string;
  id: number;
  type: number;
  typeName: string;
  /** Instructions processed by the verifier (bpf_prog_info.verified_insns). */
  verifiedInsns: number;
  xlatedInsns: number;
  jitedBytes: number;
  runTimeNs: number;
  runCnt: number;
  /** Wall time of the whole bpf_object__load, shared by all programs of the object. */
  loadTimeNs: number;
  /** With collectStats: the verifier's own figures. */
  verificationTimeUs?: number;
  totalStates?: number;
  peakStates?: number;
  stackDepth?: string;
  statsLog?: string;
}

export interface MapInfo {
  id: number;
  name: string;
  type: number;
  typeName: string;
  keySize: number;
  /** Kernel value size (per CPU for per-CPU maps). */
  valueSize: number;
  /** Bytes a lookup returns (per-CPU maps: 8-aligned slot × possible CPUs). */
  userValueSize: number;
  maxEntries: number;
  flags: number;
}

export interface LinkInfo {
  id: number;
  type: number;
  typeName: string;
  progId: number;
  /** Whether the kernel still has the link attached to its hook. */
  attached: boolean;
  structOpsMapId?: number;
  cgroupId?: bigint;
  attachType?: number;
  tracingTargetBtfId?: number;
}

export type BtfKind = "struct" | "union" | "enum" | "enum64" | "typedef" | "func" | "int" | "var" | "datasec";

/** A member of a kernel struct; `params` counts a callback's parameters (null: not a function pointer). */
export interface BtfMember {
  name: string;
  params: number | null;
}

export interface SpawnOptions {
  /** Executable path (no PATH search). */
  file: string;
  /** Full argv including argv[0]. */
  argv: string[];
  /** "KEY=VALUE" strings; default: this process's environment. */
  env?: string[];
  cwd?: string;
  /** cgroup v2 directory the child is created in (clone3 CLONE_INTO_CGROUP). */
  cgroupPath?: string;
  /** fds for the child's stdin/stdout/stderr; null = /dev/null. Default [0, 1, 2]. */
  stdio?: [number | null, number | null, number | null];
  /** setsid() in the child (own session and process group). */
  newSession?: boolean;
  /** Written to the child's /proc/self/oom_score_adj before exec (-1000..1000); best effort. */
  oomScoreAdj?: number;
}

export interface SpawnResult {
  pid: number;
  /** pidfd of the child (CLOEXEC); close it with fs.closeSync after waitPidfd. */
  pidfd: number;
}

// ---------------------------------------------------------------------------
// The handles (internal: the modules above wrap them)

interface NativeProgramDesc extends ProgramInfo {
  fd: number;
}

/** What the addon reports of a map: the public description plus its handle state. */
interface NativeMapDesc extends MapDescription {
  autocreate: boolean;
  fd: number;
}

export interface NativeObjectHandle {
  name(): string;
  programs(): NativeProgramDesc[];
  maps(): NativeMapDesc[];
  mapInfo(name: string): NativeMapDesc;
  setInitialValue(name: string, value: Buffer): void;
  initialValue(name: string): Buffer | null;
  setAutoload(prog: string, on: boolean): void;
  setAutocreate(map: string, on: boolean): void;
  setMaxEntries(map: string, n: number): void;
  reuseMapFd(map: string, fd: number): void;
  load(): void;
  /** bpf_object__load on a worker thread; the object refuses other uses (EBUSY) until it settles. */
  loadAsync(): Promise<void>;
  isLoaded(): boolean;
  verifierLog(): string;
  programStats(): ProgramStats[];
  mapFd(name: string): number;
  programFd(name: string): number;
  attachStructOps(map: string): NativeLinkHandle;
  attachProgram(prog: string): NativeLinkHandle;
  attachCgroup(prog: string, cgroupFd: number): NativeLinkHandle;
  close(): void;
  isClosed(): boolean;
}

export interface NativeLinkHandle {
  fd(): number;
  kind(): string;
  pin(path: string): void;
  unpin(): void;
  pinPath(): string | null;
  detach(): void;
  disconnect(): void;
  destroy(): void;
  info(): LinkInfo;
  isClosed(): boolean;
}

export interface NativeRingHandle {
  close(): void;
  consume(): number;
  ref(): void;
  unref(): void;
  isClosed(): boolean;
}

interface NativeAddon {
  libbpfVersion(): string;
  setLogCallback(cb: ((level: number, message: string) => void) | null): void;
  NativeObject: new (source: string | Buffer, opts?: OpenOptions) => NativeObjectHandle;
  NativeLink: new (path: string) => NativeLinkHandle;
  NativeRingBuffer: new (mapFd: number, cb: (rec: Buffer) => void) => NativeRingHandle;
  /** The addon reports a map by fd exactly as the public MapInfo describes it. */
  mapInfoByFd(fd: number): MapInfo;
  mapLookup(fd: number, key: Buffer, flags?: number): Buffer | null;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags?: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapNextKey(fd: number, key: Buffer | null): Buffer | null;
  mapLookupBatch(fd: number, chunk?: number): { keys: Buffer; values: Buffer; count: number };
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, count: number, flags?: number): void;
  objGet(path: string): number;
  objPin(fd: number, path: string): void;
  unpin(path: string): void;
  closeFd(fd: number): void;
  numPossibleCpus(): number;
  /** Parses vmlinux BTF on a worker thread, for the btf* calls to find it cached; settles (never rejects) when they will. */
  loadVmlinuxBtfAsync(): Promise<void>;
  btfAvailable(): { available: boolean; errno?: number; code?: string };
  btfHasType(name: string, kind?: BtfKind): boolean;
  btfHasMember(struct: string, member: string): boolean;
  btfStructMembers(struct: string): BtfMember[] | null;
  btfEnumValue(enumName: string, valueName: string): number | null;
  probeProgType(type: number): boolean;
  probeMapType(type: number): boolean;
  progTypes(): Record<string, number>;
  mapTypes(): Record<string, number>;
  spawnInCgroup(opts: SpawnOptions): SpawnResult;
  waitPidfd(pidfd: number): Promise<{ pid: number; code: number | null; signal: number | null; coreDumped?: boolean }>;
  sendSignal(pidfd: number, sig: number): void;
}

// ---------------------------------------------------------------------------
// Loading

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Where a native/ build product is looked for: from runtime/ and from
 * dist/runtime/ alike; the first of the two when neither exists.
 */
export function nativeBuildPath(file: string): string {
  const candidates = [resolve(here, "../native/build/Release", file), resolve(here, "../../native/build/Release", file)];
  return candidates.find((p) => existsSync(p)) ?? (candidates[0] as string);
}

/** Where the loader addon is looked for. */
export function addonPath(): string {
  return nativeBuildPath("acg_native.node");
}

let cached: NativeAddon | undefined;

/** Loads the addon once; throws a clear Error if it has not been built. */
export function native(): NativeAddon {
  if (cached) return cached;
  const path = addonPath();
  if (!existsSync(path)) {
    throw new Error(`native loader addon not built (${path} missing): run npm run build:native`);
  }
  const req = createRequire(import.meta.url);
  try {
    cached = req(path) as NativeAddon;
  } catch (e) {
    throw new Error(`cannot load native loader addon ${path}: ${(e as Error).message} (rebuild with npm run build:native)`);
  }
  return cached;
}

/** Checks a name or path argument before it reaches the addon. */
export function checkName(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length === 0) throw new TypeError(`${what} must be a non-empty string`);
  return v;
}

// ---------------------------------------------------------------------------
// Errors and logging

/** Error raised by a failing libbpf/kernel operation. */
export interface BpfError extends Error {
  /** Positive errno (libbpf-private codes are 4000+). */
  errno: number;
  /** Symbolic errno, e.g. 'EINVAL', 'ENOENT', 'EACCES'. */
  code: string;
  /** Failing operation, e.g. 'bpf_object__load', 'clone3', 'execve'. */
  op: string;
  /** Kernel verifier output (load failures only). */
  verifierLog?: string;
  /** libbpf's own messages printed during the operation. */
  libbpfLog?: string;
  /** Program whose load failed, when libbpf named it. */
  program?: string;
}

/** True if `e` is an Error carrying errno/code/op from the native loader. */
export function isBpfError(e: unknown): e is BpfError {
  return e instanceof Error && typeof (e as Partial<BpfError>).errno === "number" && typeof (e as Partial<BpfError>).op === "string";
}

/** A {@link BpfError} raised on the TypeScript side, shaped as the addon shapes its own. */
export function bpfError(message: string, errno: number, code: string, op: string): BpfError {
  return Object.assign(new Error(message), { errno, code, op });
}

export type LibbpfLogLevel = "warn" | "info" | "debug";
const LEVELS: readonly LibbpfLogLevel[] = ["warn", "info", "debug"];

/**
 * Routes libbpf's own messages to `cb` (called synchronously after each
 * native operation); `null` drops them (the default: never printed).
 */
export function setLibbpfLogger(cb: ((level: LibbpfLogLevel, message: string) => void) | null): void {
  if (cb !== null && typeof cb !== "function") throw new TypeError("logger must be a function or null");
  native().setLogCallback(cb === null ? null : (lvl, msg) => cb(LEVELS[lvl] ?? "debug", msg));
}

/** The libbpf release the addon was built against (e.g. "1.4.6"). */
export function libbpfVersion(): string {
  return native().libbpfVersion();
}
