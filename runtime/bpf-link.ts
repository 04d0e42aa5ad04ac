// A BPF link: what keeps a program attached to its hook, and, pinned in
// bpffs, attached after this process has gone (acgd re-adopts it on restart).
import { checkName, native, type LinkInfo, type NativeLinkHandle } from "./native-addon.js";

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
