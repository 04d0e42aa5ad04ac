// What one peer may cost acgd: how many connections (per uid and in total,
// with slots only root can take, so that `acgc status`/`apply` answer while
// others hold every ordinary slot), how much unread input and unsent output
// a connection may hold, and how long it may sit idle, dribble a request or
// leave its replies unread. A connection over a bound is told why and closed;
// nothing it asked before is undone.

import { MAX_REQUEST_BYTES } from "./api.js";

export interface ConnectionLimits {
  /** Connections of non-root peers, all uids together. */
  maxConnections: number;
  /** Connections of one non-root uid. */
  maxConnectionsPerUid: number;
  /** Extra connections only uid 0 may use, beyond maxConnections. */
  reservedForRoot: number;
  /** A connection with no running call of its own and no request in progress is closed after this long. */
  idleMs: number;
  /** A request line must be complete this long after its first byte (slow senders are closed). */
  requestMs: number;
  /** Replies a peer has not read, in bytes; above it acgd reads no further requests from it. */
  maxUnsentBytes: number;
  /** A peer whose unread replies stay above maxUnsentBytes this long is closed. */
  unreadMs: number;
  /** Requests read but not yet answered, per connection; above it acgd stops reading until they are. */
  maxQueuedRequests: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 256,
  maxConnectionsPerUid: 64,
  reservedForRoot: 32,
  idleMs: 60_000,
  requestMs: 10_000,
  maxUnsentBytes: 1024 * 1024,
  unreadMs: 30_000,
  maxQueuedRequests: 8,
};

/** Counts open connections per uid and admits new ones within the limits. */
export class ConnectionCounter {
  readonly #limits: ConnectionLimits;
  readonly #perUid = new Map<number, number>();
  #nonRoot = 0;
  #root = 0;

  constructor(limits: ConnectionLimits) {
    this.#limits = limits;
  }

  /** Counts the connection in and returns null, or says why it is refused (nothing counted then). */
  admit(uid: number): string | null {
    const l = this.#limits;
    if (uid === 0) {
      // Root shares the ordinary slots first and then has its reserve, so it is never locked out by others.
      if (this.#root >= l.maxConnections + l.reservedForRoot)
        return `too many connections from root (at most ${l.maxConnections + l.reservedForRoot})`;
      this.#root++;
      return null;
    }
    const mine = this.#perUid.get(uid) ?? 0;
    if (mine >= l.maxConnectionsPerUid)
      return `too many connections from uid ${uid} (at most ${l.maxConnectionsPerUid} per user): close some and retry`;
    if (this.#nonRoot >= l.maxConnections) return `acgd has its maximum of ${l.maxConnections} connections of non-root users: retry later`;
    this.#perUid.set(uid, mine + 1);
    this.#nonRoot++;
    return null;
  }

  release(uid: number): void {
    if (uid === 0) {
      this.#root--;
      return;
    }
    const mine = (this.#perUid.get(uid) ?? 1) - 1;
    if (mine <= 0) this.#perUid.delete(uid);
    else this.#perUid.set(uid, mine);
    this.#nonRoot--;
  }

  get open(): number {
    return this.#nonRoot + this.#root;
  }
}

/** A request line, or the marker for a line longer than MAX_REQUEST_BYTES (discarded up to its newline). */
export type Framed = string | typeof TOO_LONG;
export const TOO_LONG = Symbol("too long");

/**
 * Splits a byte stream into request lines without ever holding more than
 * MAX_REQUEST_BYTES of an unfinished line: each chunk is scanned once, so a
 * peer dribbling a huge line costs linear time, not quadratic.
 */
export class LineFramer {
  #parts: Buffer[] = [];
  #length = 0;
  #discarding = false;

  /** True while part of a line has been received but not its newline. */
  get partial(): boolean {
    return this.#length > 0 || this.#discarding;
  }

  push(chunk: Buffer): Framed[] {
    const out: Framed[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.#discarding) {
        this.#discarding = false;
        continue;
      }
      if (this.#length + piece.length > MAX_REQUEST_BYTES) {
        this.#reset();
        out.push(TOO_LONG);
        continue;
      }
      const line = Buffer.concat([...this.#parts, piece]).toString("utf8");
      this.#reset();
      if (line.trim() !== "") out.push(line);
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0 || this.#discarding) return out;
    if (this.#length + rest.length > MAX_REQUEST_BYTES) {
      this.#reset();
      this.#discarding = true;
      out.push(TOO_LONG);
    } else {
      // Copied: the chunk's memory belongs to the socket's read buffer pool.
      this.#parts.push(Buffer.from(rest));
      this.#length += rest.length;
    }
    return out;
  }

  #reset(): void {
    this.#parts = [];
    this.#length = 0;
  }
}
