/**
 * A kernel map addressed by fd: lookup, update, delete, iterate, batch and
 * pin, for the maps of a loaded BpfObject and for pinned maps reopened with
 * {@link BpfMap.openPinned}.
 */
import { bpfError, checkName, isBpfError, native, type MapInfo } from "./native-addon.js";

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
      throw bpfError(`map ${this.#label} is closed`, 9, "EBADF", "map");
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
        out.push([keys.subarray(i * keySize, (i + 1) * keySize), values.subarray(i * userValueSize, (i + 1) * userValueSize)]);
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

/** Number of possible CPUs (per-CPU map value layout). */
export function numPossibleCpus(): number {
  return native().numPossibleCpus();
}
