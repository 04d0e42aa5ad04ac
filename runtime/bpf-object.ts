/**
 * A BPF ELF object: open (a file or a Buffer), inspect its programs and maps,
 * set `.rodata`/`.data`/`.bss` initial values, reuse pinned maps, load
 * (failures throw a BpfError with the verifier log), per-program stats, and
 * attach struct_ops maps, tracing and cgroup programs as {@link BpfLink}s.
 */
import { BpfLink } from "./bpf-link.js";
import { BpfMap } from "./bpf-map.js";
import {
  bpfError,
  checkName,
  native,
  type MapDescription,
  type NativeObjectHandle,
  type OpenOptions,
  type ProgramInfo,
  type ProgramStats,
} from "./native-addon.js";

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
      throw bpfError(
        `bpf_map__reuse_fd failed: map '${mapName}' is incompatible with map fd ${fd}: ${diffs.join(", ")} (EINVAL)`,
        22,
        "EINVAL",
        "bpf_map__reuse_fd",
      );
    }
    this.#h.reuseMapFd(mapName, fd);
  }

  /**
   * Loads every program and creates the maps. On failure throws a
   * BpfError whose `verifierLog` holds the kernel's explanation; the
   * object is then closed (libbpf cannot retry a failed load).
   */
  load(): void {
    this.#h.load();
  }

  /**
   * {@link load} on a worker thread: the kernel's verifier (seconds for a
   * large program under emulation) does not block the event loop. Until the
   * promise settles the object refuses every other use (EBUSY); {@link close}
   * then takes effect when the load returns, and the promise rejects with
   * ECANCELED.
   */
  loadAsync(): Promise<void> {
    return this.#h.loadAsync();
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
