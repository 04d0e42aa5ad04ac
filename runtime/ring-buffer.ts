// A BPF ring buffer's records, delivered to a callback from the event loop.
import { BpfMap } from "./bpf-map.js";
import { native, type NativeRingHandle } from "./native-addon.js";

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
