/**
 * Typed wrapper over the native loader addon (native/, an N-API addon over a
 * statically linked libbpf 1.4.x).
 *
 * - {@link BpfObject}: open an ELF object (file or Buffer), inspect programs and
 *   maps, set `.rodata`/`.data`/`.bss` initial values, reuse pinned maps, load
 *   (failures throw a {@link BpfError} with the verifier log), per-program
 *   stats, attach struct_ops maps / tracing / cgroup programs.
 * - {@link BpfMap}: lookup/update/delete/iterate/batch/pin on any map fd,
 *   including pinned maps reopened with {@link BpfMap.openPinned}.
 * - {@link BpfLink}: pin/unpin, re-adopt a pinned link, detach, destroy, info.
 * - {@link RingBuffer}: records delivered to a callback from the event loop.
 * - {@link probeKernel}: BTF/program-type feature record.
 * - {@link spawnInCgroup} / {@link waitPidfd} / {@link sendSignal}: start a
 *   process directly inside a cgroup (clone3 CLONE_INTO_CGROUP) and wait for it
 *   through its pidfd without blocking the event loop.
 *
 * Every failure from libbpf or the kernel is an Error with `errno`, `code`
 * (e.g. 'EINVAL') and `op` (e.g. 'bpf_object__load'); invalid arguments throw
 * TypeError. Native resources are freed by `close()` and, as a fallback, when
 * the JS object is garbage-collected.
 */
import { createRequire } from "node:module";
import { constants as osConstants } from "node:os";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// ---------------------------------------------------------------------------
// Native binding shape (internal)

interface NativeProgramDesc {
  name: string;
  section: string;
  type: number;
  typeName: string;
  expectedAttachType: string;
  autoload: boolean;
  insnCount: number;
  fd: number;
}

/** What the addon reports of a map: the public description plus its handle state. */
interface NativeMapDesc extends MapDescription {
  autocreate: boolean;
  fd: number;
}

interface NativeObjectHandle {
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

interface NativeLinkHandle {
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

interface NativeRingHandle {
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

const here = dirname(fileURLToPath(import.meta.url));

/** Where the addon is looked for (works from runtime/ and from dist/runtime/). */
export function addonPath(): string {
  const candidates = [
    resolve(here, "../native/build/Release/acg_native.node"),
    resolve(here, "../../native/build/Release/acg_native.node"),
  ];
  return candidates.find((p) => existsSync(p)) ?? (candidates[0] as string);
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
    throw new Error(
      `cannot load native loader addon ${path}: ${(e as Error).message} (rebuild with npm run build:native)`,
    );
  }
  return cached;
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

// ---------------------------------------------------------------------------
// Objects

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

function checkName(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length === 0) throw new TypeError(`${what} must be a non-empty string`);
  return v;
}

/** A BPF ELF object: open → (configure) → load → attach. */
export class BpfObject {
  readonly #h: NativeObjectHandle;
  readonly #maps = new Map<string, BpfMap>();
  readonly #links = new Set<BpfLink>();

  private constructor(h: NativeObjectHandle) {
    this.#h = h;
  }

  /** Opens an object file (does not load it). */
  static open(path: string, opts: OpenOptions = {}): BpfObject {
    checkName(path, "path");
    return new BpfObject(new (native().NativeObject)(path, opts));
  }

  /** Opens an object from an in-memory ELF image (does not load it). */
  static openBuffer(elf: Buffer, opts: OpenOptions = {}): BpfObject {
    if (!Buffer.isBuffer(elf)) throw new TypeError("elf must be a Buffer");
    return new BpfObject(new (native().NativeObject)(elf, opts));
  }

  get name(): string {
    return this.#h.name();
  }
  get loaded(): boolean {
    return this.#h.isLoaded();
  }
  get closed(): boolean {
    return this.#h.isClosed();
  }

  programs(): ProgramInfo[] {
    return this.#h.programs().map(({ fd: _fd, ...p }) => p);
  }

  maps(): MapDescription[] {
    return this.#h.maps().map(({ fd: _fd, autocreate: _a, ...m }) => m);
  }

  /** Sets the initial contents of `.rodata`/`.data`/`.bss` (or a custom data section) before load. */
  setInitialValue(mapName: string, value: Buffer): void {
    checkName(mapName, "map name");
    if (!Buffer.isBuffer(value)) throw new TypeError("value must be a Buffer");
    this.#h.setInitialValue(mapName, value);
  }

  /** Current initial contents of a data section map (a copy), or null. */
  initialValue(mapName: string): Buffer | null {
    return this.#h.initialValue(checkName(mapName, "map name"));
  }

  setAutoload(program: string, autoload: boolean): void {
    this.#h.setAutoload(checkName(program, "program name"), autoload);
  }

  /** Leaves a map out of the load; libbpf then also skips struct_ops programs that only it uses. */
  setAutocreate(mapName: string, autocreate: boolean): void {
    this.#h.setAutocreate(checkName(mapName, "map name"), autocreate);
  }

  setMaxEntries(mapName: string, maxEntries: number): void {
    this.#h.setMaxEntries(checkName(mapName, "map name"), maxEntries);
  }

  /**
   * Makes `mapName` use an existing kernel map (e.g. a pinned one) at load:
   * hot-swap keeps state. libbpf's reuse_fd silently adopts the other map's
   * definition, so type, key/value size and max_entries are checked here
   * first (EINVAL on mismatch).
   */
  reuseMap(mapName: string, map: BpfMap | number): void {
    checkName(mapName, "map name");
    if (!(map instanceof BpfMap) && (typeof map !== "number" || !Number.isInteger(map) || map < 0)) {
      throw new TypeError("map must be a BpfMap or a map fd");
    }
    const fd = typeof map === "number" ? map : map.fd;
    const want = this.#h.mapInfo(mapName);
    const have = native().mapInfoByFd(fd);
    const diffs: string[] = [];
    if (want.type !== have.type) diffs.push(`type ${want.typeName} != ${have.typeName}`);
    if (want.keySize !== have.keySize) diffs.push(`key size ${want.keySize} != ${have.keySize}`);
    if (want.valueSize !== have.valueSize) diffs.push(`value size ${want.valueSize} != ${have.valueSize}`);
    if (want.maxEntries !== have.maxEntries) diffs.push(`max entries ${want.maxEntries} != ${have.maxEntries}`);
    if (diffs.length > 0) {
      const e = new Error(`bpf_map__reuse_fd failed: map '${mapName}' is incompatible with map fd ${fd}: ${diffs.join(", ")} (EINVAL)`) as BpfError;
      e.errno = 22;
      e.code = "EINVAL";
      e.op = "bpf_map__reuse_fd";
      throw e;
    }
    this.#h.reuseMapFd(mapName, fd);
  }

  /**
   * Loads every program and creates the maps. On failure throws a
   * {@link BpfError} whose `verifierLog` holds the kernel's explanation; the
   * object is then closed (libbpf cannot retry a failed load).
   */
  load(): void {
    this.#h.load();
  }

  /** Object-wide verifier log (non-empty on success only when opened with logLevel > 0). */
  verifierLog(): string {
    return this.#h.verifierLog();
  }

  programStats(): ProgramStats[] {
    return this.#h.programStats();
  }

  programFd(name: string): number {
    return this.#h.programFd(checkName(name, "program name"));
  }

  /**
   * The named map of a loaded object; accepts ".bss"/".rodata"/".data" for the
   * global-variable maps. The map's fd is owned by this object.
   */
  map(name: string): BpfMap {
    checkName(name, "map name");
    const hit = this.#maps.get(name);
    if (hit) return hit;
    const fd = this.#h.mapFd(name);
    const m = new BpfMap(fd, false, () => this.#h.isClosed(), name);
    this.#maps.set(name, m);
    return m;
  }

  /** Registers a struct_ops map (e.g. sched_ext_ops, tcp_congestion_ops) as a BPF link. */
  attachStructOps(mapName: string): BpfLink {
    return this.#track(new BpfLink(this.#h.attachStructOps(checkName(mapName, "map name"))));
  }

  /** Attaches a tracing program (tp_btf, raw_tp, fentry, ...) by its section's auto-attach rule. */
  attachProgram(program: string): BpfLink {
    return this.#track(new BpfLink(this.#h.attachProgram(checkName(program, "program name"))));
  }

  /** Attaches a cgroup program to the cgroup open as `cgroupFd`. */
  attachCgroup(program: string, cgroupFd: number): BpfLink {
    return this.#track(new BpfLink(this.#h.attachCgroup(checkName(program, "program name"), cgroupFd)));
  }

  #track(l: BpfLink): BpfLink {
    this.#links.add(l);
    return l;
  }

  /**
   * Frees the object (programs and maps lose this process's references).
   * Links created from it stay valid until destroyed; pinned maps/links
   * survive in bpffs.
   */
  close(): void {
    this.#h.close();
    this.#maps.clear();
    this.#links.clear();
  }
}

// ---------------------------------------------------------------------------
// Maps

/** Update flags. */
export const MapUpdate = { ANY: 0, NOEXIST: 1, EXIST: 2, LOCK: 4 } as const;
export type MapUpdateFlag = "any" | "noexist" | "exist";

function updateFlags(f: MapUpdateFlag | number | undefined): number {
  if (f === undefined || f === "any") return MapUpdate.ANY;
  if (f === "noexist") return MapUpdate.NOEXIST;
  if (f === "exist") return MapUpdate.EXIST;
  if (typeof f === "number" && Number.isInteger(f) && f >= 0) return f;
  throw new TypeError("flags must be 'any' | 'noexist' | 'exist' or a non-negative integer");
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

/** A kernel map addressed by fd: keys and values are raw Buffers of the map's sizes. */
export class BpfMap {
  readonly fd: number;
  readonly #owned: boolean;
  readonly #ownerClosed: () => boolean;
  readonly #label: string;
  #closed = false;
  #info: MapInfo | undefined;

  /** @internal use {@link BpfObject.map} or {@link BpfMap.openPinned}. */
  constructor(fd: number, owned: boolean, ownerClosed: () => boolean, label: string) {
    this.fd = fd;
    this.#owned = owned;
    this.#ownerClosed = ownerClosed;
    this.#label = label;
    if (owned) mapRegistry.register(this, fd, this);
  }

  /** Opens a map pinned in bpffs (bpf_obj_get); this handle owns the fd. */
  static openPinned(path: string): BpfMap {
    const fd = native().objGet(checkName(path, "path"));
    try {
      native().mapInfoByFd(fd);
    } catch (e) {
      native().closeFd(fd);
      throw e;
    }
    return new BpfMap(fd, true, () => false, path);
  }

  #fd(): number {
    if (this.#closed || this.#ownerClosed()) {
      const e = new Error(`map ${this.#label} is closed`) as BpfError;
      e.errno = 9;
      e.code = "EBADF";
      e.op = "map";
      throw e;
    }
    return this.fd;
  }

  info(): MapInfo {
    this.#info ??= native().mapInfoByFd(this.#fd());
    return this.#info;
  }

  /** The value for `key`, or null if absent. */
  lookup(key: Buffer): Buffer | null {
    return native().mapLookup(this.#fd(), key);
  }

  update(key: Buffer, value: Buffer, flags?: MapUpdateFlag | number): void {
    native().mapUpdate(this.#fd(), key, value, updateFlags(flags));
  }

  /** Deletes `key`; false if it was absent. */
  delete(key: Buffer): boolean {
    return native().mapDelete(this.#fd(), key);
  }

  /** Key after `key` (first key for null), or null at the end. */
  nextKey(key: Buffer | null): Buffer | null {
    return native().mapNextKey(this.#fd(), key);
  }

  /** Iterates over keys with get_next_key. */
  *keys(): IterableIterator<Buffer> {
    let k = this.nextKey(null);
    while (k !== null) {
      yield k;
      k = this.nextKey(k);
    }
  }

  /** Iterates over [key, value]; entries deleted meanwhile are skipped. */
  *entries(): IterableIterator<[Buffer, Buffer]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v !== null) yield [k, v];
    }
  }

  /** All entries, with one BPF_MAP_LOOKUP_BATCH walk where the map type supports it. */
  dump(): Array<[Buffer, Buffer]> {
    const fd = this.#fd();
    const { keySize, userValueSize } = this.info();
    try {
      const { keys, values, count } = native().mapLookupBatch(fd);
      const out: Array<[Buffer, Buffer]> = [];
      for (let i = 0; i < count; i++) {
        out.push([
          keys.subarray(i * keySize, (i + 1) * keySize),
          values.subarray(i * userValueSize, (i + 1) * userValueSize),
        ]);
      }
      return out;
    } catch (e) {
      if (isBpfError(e) && (e.code === "EINVAL" || e.code === "ENOTSUP" || e.code === "EOPNOTSUPP" || e.code === "ENOTSUPP")) {
        return [...this.entries()];
      }
      throw e;
    }
  }

  /** Writes many entries with BPF_MAP_UPDATE_BATCH. */
  updateBatch(entries: ReadonlyArray<readonly [Buffer, Buffer]>, flags?: MapUpdateFlag | number): void {
    if (!Array.isArray(entries)) throw new TypeError("entries must be an array of [key, value]");
    if (entries.length === 0) return;
    const keys = Buffer.concat(entries.map((e) => e[0]));
    const values = Buffer.concat(entries.map((e) => e[1]));
    native().mapUpdateBatch(this.#fd(), keys, values, entries.length, updateFlags(flags));
  }

  /** Pins the map at `path` in bpffs. */
  pin(path: string): void {
    native().objPin(this.#fd(), checkName(path, "path"));
  }

  /** Removes a pin (any bpffs path). */
  static unpin(path: string): void {
    native().unpin(checkName(path, "path"));
  }

  /** Closes an fd this handle owns (pinned-map handles); no-op for object maps. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) {
      mapRegistry.unregister(this);
      native().closeFd(this.fd);
    }
  }
}

// Closes owned map fds of handles that were dropped without close().
const mapRegistry = new FinalizationRegistry<number>((fd) => {
  try {
    native().closeFd(fd);
  } catch {
    /* already closed */
  }
});

// ---------------------------------------------------------------------------
// Links

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

/** A BPF link (struct_ops registration, tracing attachment, cgroup attachment). */
export class BpfLink {
  readonly #h: NativeLinkHandle;

  /** @internal */
  constructor(h: NativeLinkHandle) {
    this.#h = h;
  }

  /** Re-adopts a link pinned in bpffs (bpf_link__open). */
  static openPinned(path: string): BpfLink {
    return new BpfLink(new (native().NativeLink)(checkName(path, "path")));
  }

  get fd(): number {
    return this.#h.fd();
  }
  get kind(): string {
    return this.#h.kind();
  }
  get closed(): boolean {
    return this.#h.isClosed();
  }
  get pinPath(): string | null {
    return this.#h.pinPath();
  }

  /** Pins the link: it then outlives this process until unpinned. */
  pin(path: string): void {
    this.#h.pin(checkName(path, "path"));
  }
  unpin(): void {
    this.#h.unpin();
  }
  /** Detaches from the hook (e.g. unregisters struct_ops) but keeps the fd. */
  detach(): void {
    this.#h.detach();
  }
  /** After this, destroy() closes the fd without detaching. */
  disconnect(): void {
    this.#h.disconnect();
  }
  /** Closes the link; it detaches unless pinned elsewhere or disconnected. Idempotent. */
  destroy(): void {
    this.#h.destroy();
  }
  info(): LinkInfo {
    return this.#h.info();
  }
}

// ---------------------------------------------------------------------------
// Ring buffer

/**
 * Consumes a BPF_MAP_TYPE_RINGBUF map: `onRecord` is called on the event loop
 * with a copy of each record. Keeps the process alive while open unless
 * {@link RingBuffer.unref} is called.
 */
export class RingBuffer {
  readonly #h: NativeRingHandle;

  constructor(map: BpfMap, onRecord: (record: Buffer) => void) {
    if (!(map instanceof BpfMap)) throw new TypeError("map must be a BpfMap");
    if (typeof onRecord !== "function") throw new TypeError("onRecord must be a function");
    this.#h = new (native().NativeRingBuffer)(map.fd, onRecord);
  }

  /** Drains available records synchronously; returns how many were delivered. */
  consume(): number {
    return this.#h.consume();
  }
  ref(): void {
    this.#h.ref();
  }
  unref(): void {
    this.#h.unref();
  }
  get closed(): boolean {
    return this.#h.isClosed();
  }
  close(): void {
    this.#h.close();
  }
}

// ---------------------------------------------------------------------------
// Probes

export type BtfKind = "struct" | "union" | "enum" | "enum64" | "typedef" | "func" | "int" | "var" | "datasec";

/** Kernel features relevant to AgentCgroup, from vmlinux BTF and libbpf probes. */
export interface KernelFeatures {
  btf: boolean;
  /** struct sched_ext_ops exists: sched_ext schedulers can be loaded. */
  schedExt: boolean;
  /** struct memcg_bpf_ops exists: memcg struct_ops hooks. */
  memcgBpfOps: boolean;
  /** struct tcp_congestion_ops exists (struct_ops sanity check). */
  tcpCongestionOps: boolean;
  /** tp_btf sched_process_exec target present (btf_trace_sched_process_exec). */
  tpBtfSchedProcessExec: boolean;
  progTypes: { structOps: boolean; tracing: boolean; cgroupSkb: boolean; syscall: boolean };
  mapTypes: { ringbuf: boolean; hash: boolean; cgrpStorage: boolean; taskStorage: boolean };
  libbpfVersion: string;
}

/** Does vmlinux BTF have a type `name` of `kind` (default struct)? */
export function btfHasType(name: string, kind: BtfKind = "struct"): boolean {
  return native().btfHasType(checkName(name, "type name"), kind);
}
/** Does struct/union `struct` have a member `member`? */
export function btfHasMember(struct: string, member: string): boolean {
  return native().btfHasMember(checkName(struct, "struct name"), checkName(member, "member name"));
}
/** Does vmlinux BTF have a FUNC (e.g. a kfunc) named `name`? */
export function btfHasFunc(name: string): boolean {
  return native().btfHasType(checkName(name, "function name"), "func");
}
/** A member of a kernel struct; `params` counts a callback's parameters (null: not a function pointer). */
export interface BtfMember {
  name: string;
  params: number | null;
}
/** The members of struct `name` in vmlinux BTF, or null if the kernel has no such struct. */
export function btfStructMembers(name: string): BtfMember[] | null {
  return native().btfStructMembers(checkName(name, "struct name"));
}
export function btfEnumValue(enumName: string, valueName: string): number | null {
  return native().btfEnumValue(checkName(enumName, "enum name"), checkName(valueName, "value name"));
}
/** libbpf_probe_bpf_prog_type for a libbpf program type name, e.g. 'struct_ops'. */
export function probeProgType(typeName: string): boolean {
  const t = native().progTypes()[typeName];
  if (t === undefined) throw new TypeError(`unknown program type '${typeName}'`);
  return native().probeProgType(t);
}
/** libbpf_probe_bpf_map_type for a libbpf map type name, e.g. 'ringbuf'. */
export function probeMapType(typeName: string): boolean {
  const t = native().mapTypes()[typeName];
  if (t === undefined) throw new TypeError(`unknown map type '${typeName}'`);
  return native().probeMapType(t);
}

export function probeKernel(): KernelFeatures {
  const n = native();
  const btf = n.btfAvailable().available;
  const has = (name: string, kind: BtfKind = "struct"): boolean => btf && n.btfHasType(name, kind);
  const prog = (t: string): boolean => {
    try {
      return probeProgType(t);
    } catch {
      return false;
    }
  };
  const map = (t: string): boolean => {
    try {
      return probeMapType(t);
    } catch {
      return false;
    }
  };
  return {
    btf,
    schedExt: has("sched_ext_ops"),
    memcgBpfOps: has("memcg_bpf_ops"),
    tcpCongestionOps: has("tcp_congestion_ops"),
    tpBtfSchedProcessExec: has("btf_trace_sched_process_exec", "typedef"),
    progTypes: { structOps: prog("struct_ops"), tracing: prog("tracing"), cgroupSkb: prog("cgroup_skb"), syscall: prog("syscall") },
    mapTypes: { ringbuf: map("ringbuf"), hash: map("hash"), cgrpStorage: map("cgrp_storage"), taskStorage: map("task_storage") },
    libbpfVersion: n.libbpfVersion(),
  };
}

// ---------------------------------------------------------------------------
// Processes

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

export interface ExitStatus {
  pid: number;
  /** Exit code, or null if killed by a signal. */
  code: number | null;
  /** Signal name (e.g. 'SIGKILL'), or null if it exited. */
  signal: NodeJS.Signals | null;
  coreDumped?: boolean;
}

/**
 * Starts `file` directly inside `cgroupPath` (it never runs elsewhere).
 * Exec failures (missing binary, bad cwd) throw a {@link BpfError} with
 * `op` 'execve'/'chdir' and the child's errno; clone3 failures have op 'clone3'.
 */
export function spawnInCgroup(opts: SpawnOptions): SpawnResult {
  if (typeof opts !== "object" || opts === null) throw new TypeError("spawnInCgroup expects an options object");
  return native().spawnInCgroup(opts);
}

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(osConstants.signals).map(([k, v]) => [v, k as NodeJS.Signals]),
);

/** Resolves when the child exits and reaps it (waitid P_PIDFD); never blocks the event loop. */
export async function waitPidfd(pidfd: number): Promise<ExitStatus> {
  const r = await native().waitPidfd(pidfd);
  const out: ExitStatus = {
    pid: r.pid,
    code: r.code,
    signal: r.signal === null ? null : (signalNames.get(r.signal) ?? (`SIG${r.signal}` as NodeJS.Signals)),
  };
  if (r.coreDumped !== undefined) out.coreDumped = r.coreDumped;
  return out;
}

/** pidfd_send_signal; `signal` is a name ('SIGTERM') or number. */
export function sendSignal(pidfd: number, signal: NodeJS.Signals | number = "SIGTERM"): void {
  const sig = typeof signal === "number" ? signal : osConstants.signals[signal];
  if (sig === undefined) throw new TypeError(`unknown signal ${String(signal)}`);
  native().sendSignal(pidfd, sig);
}

/** Number of possible CPUs (per-CPU map value layout). */
export function numPossibleCpus(): number {
  return native().numPossibleCpus();
}
