// A client of acgd's local API (newline-delimited JSON over a Unix socket).

import { createConnection, type Socket } from "node:net";
import type { ErrorCode, Request, Response } from "./api.js";

export const DEFAULT_SOCKET = "/run/agentcgroup/acgd.sock";

export class DaemonError extends Error {
  constructor(
    readonly code: ErrorCode | "unreachable" | "protocol",
    message: string,
  ) {
    super(message);
  }
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

export class DaemonClient {
  readonly #sock: Socket;
  readonly #pending: Pending[] = [];
  #buf = "";
  #closedError: DaemonError | null = null;

  private constructor(sock: Socket) {
    this.#sock = sock;
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => this.#data(chunk));
    const fail = (e: DaemonError) => {
      this.#closedError ??= e;
      for (const p of this.#pending.splice(0)) p.reject(this.#closedError);
    };
    sock.on("error", (e) => fail(new DaemonError("unreachable", `connection to acgd failed: ${e.message}`)));
    sock.on("close", () => fail(new DaemonError("unreachable", "acgd closed the connection")));
  }

  /** Connects; rejects with DaemonError "unreachable" if nothing listens at `path`. */
  static connect(path: string): Promise<DaemonClient> {
    return new Promise((resolve, reject) => {
      const sock = createConnection(path);
      sock.once("connect", () => {
        sock.removeAllListeners("error");
        resolve(new DaemonClient(sock));
      });
      sock.once("error", (e: NodeJS.ErrnoException) =>
        reject(new DaemonError("unreachable", `acgd is not reachable at ${path} (${e.code ?? e.message})`)),
      );
    });
  }

  /** Sends one request; resolves with its result or rejects with the daemon's error. */
  request(req: Request): Promise<unknown> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#sock.write(JSON.stringify(req) + "\n");
    });
  }

  close(): void {
    this.#sock.end();
  }

  #data(chunk: string): void {
    this.#buf += chunk;
    for (let nl = this.#buf.indexOf("\n"); nl >= 0; nl = this.#buf.indexOf("\n")) {
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 1);
      const p = this.#pending.shift();
      if (!p) continue;
      let r: Response;
      try {
        r = JSON.parse(line) as Response;
      } catch {
        p.reject(new DaemonError("protocol", `acgd sent a line that is not JSON: ${line.slice(0, 200)}`));
        continue;
      }
      if (r.ok) p.resolve(r.result);
      else p.reject(new DaemonError(r.error.code, r.error.message));
    }
  }
}
