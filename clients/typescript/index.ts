// A dependency-free TypeScript client of acgd's local API (docs/runtime.md,
// "The local API"): newline-delimited JSON over a Unix socket, one response
// line per request, in order. Requests are checked before they are sent and
// responses before they are returned (a field of the wrong type is a
// ProtocolError, never a silently wrong value).
//
//   import { AgentCgroupClient } from "agentcgroup/client";
//   const acg = await AgentCgroupClient.connect();          // $ACG_SOCKET or the default
//   const call = await acg.startCall({ agent: "alice", argv: ["pytest", "-x"], tool: "Bash" });
//   ... start the command in call.cgroup (clone3 CLONE_INTO_CGROUP, or write its pid to cgroup.procs) ...
//   const report = await acg.endCall(call.call);
//
// Versioned: CLIENT_VERSION follows semver; PROTOCOL_VERSION changes only when
// a request or response shape changes incompatibly.

import { createConnection, type Socket } from "node:net";

export const CLIENT_VERSION = "1.0.0";
export const PROTOCOL_VERSION = 1;
export const DEFAULT_SOCKET = "/run/agentcgroup/acgd.sock";

/** acgd answered with an error (code: bad_request, forbidden, not_found, refused, policy_error, ...). */
export class AcgdError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "AcgdError";
  }
}
/** The connection failed, or acgd's answer does not have the documented shape. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

export interface StartCallOptions {
  agent?: string;
  tenant?: string;
  tool?: string;
  hints?: string[];
  argv: string[];
  path?: string;
  pid?: number;
  label?: string;
}
export interface CallView {
  call: string;
  agent: string;
  label?: string;
  cgroup: string;
  rule: string;
  class: string;
  limits: Record<string, unknown>;
  intentLog: string[];
  events: string[];
}
export interface CallReport {
  id: string;
  rule: string;
  class: string;
  durationMs: number;
  memoryPeakBytes: number | null;
  cpuUsageUsec: number | null;
  oomKilled: boolean;
  advice: string | null;
  [field: string]: unknown;
}
export interface RegisteredAgent {
  agent: string;
  cgroup: string;
  pid: number;
}

type Kind = "string" | "number" | "boolean" | "object" | "strings" | "string|null" | "number|null";
type Shape = Record<string, Kind | `${Kind}?`>;

const CALL_VIEW: Shape = {
  call: "string",
  agent: "string",
  label: "string?",
  cgroup: "string",
  rule: "string",
  class: "string",
  limits: "object",
  intentLog: "strings",
  events: "strings",
};
const CALL_REPORT: Shape = {
  id: "string",
  rule: "string",
  class: "string",
  durationMs: "number",
  memoryPeakBytes: "number|null",
  cpuUsageUsec: "number|null",
  oomKilled: "boolean",
  advice: "string|null",
};
const REGISTERED: Shape = { agent: "string", cgroup: "string", pid: "number" };
const STATUS: Shape = { policy: "object", cgroupRoot: "string", agents: "object", calls: "object" };

function kindOf(v: unknown): Kind[] {
  if (v === null) return ["string|null", "number|null"];
  if (Array.isArray(v)) return v.every((s) => typeof s === "string") ? ["strings", "object"] : ["object"];
  const t = typeof v;
  if (t === "string") return ["string", "string|null"];
  if (t === "number") return ["number", "number|null"];
  if (t === "boolean") return ["boolean"];
  if (t === "object") return ["object"];
  return [];
}

/** Checks `v` against a shape; returns it typed, or throws ProtocolError naming the field. */
export function checkShape<T>(what: string, v: unknown, shape: Shape): T {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new ProtocolError(`${what}: expected an object, got ${JSON.stringify(v)?.slice(0, 100)}`);
  const o = v as Record<string, unknown>;
  for (const [key, want] of Object.entries(shape)) {
    const optional = want.endsWith("?");
    const kind = want.replace("?", "") as Kind;
    if (o[key] === undefined) {
      if (optional) continue;
      throw new ProtocolError(`${what}: missing field "${key}"`);
    }
    if (!kindOf(o[key]).includes(kind))
      throw new ProtocolError(`${what}: field "${key}" should be ${kind}, got ${JSON.stringify(o[key])?.slice(0, 100)}`);
  }
  return v as T;
}

function checkRequest(o: StartCallOptions): void {
  if (!Array.isArray(o.argv) || o.argv.length === 0 || !o.argv.every((a) => typeof a === "string"))
    throw new TypeError("startCall: argv must be a non-empty array of strings");
  if (o.hints !== undefined && !(Array.isArray(o.hints) && o.hints.every((h) => typeof h === "string")))
    throw new TypeError("startCall: hints must be an array of strings");
  if (o.pid !== undefined && !(Number.isSafeInteger(o.pid) && o.pid > 0)) throw new TypeError("startCall: pid must be a positive integer");
}

export class AgentCgroupClient {
  readonly #sock: Socket;
  readonly #waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  #buf = "";
  #failed: Error | null = null;
  #nextId = 1;

  private constructor(sock: Socket) {
    this.#sock = sock;
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => {
      this.#buf += chunk;
      for (let nl = this.#buf.indexOf("\n"); nl >= 0; nl = this.#buf.indexOf("\n")) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        this.#waiting.shift()?.resolve(line);
      }
    });
    const fail = (e: Error) => {
      this.#failed ??= e;
      for (const w of this.#waiting.splice(0)) w.reject(this.#failed);
    };
    sock.on("error", (e) => fail(new ProtocolError(`connection to acgd failed: ${e.message}`)));
    sock.on("close", () => fail(new ProtocolError("acgd closed the connection")));
  }

  /** Connects to acgd at `socket` (default $ACG_SOCKET, else /run/agentcgroup/acgd.sock). */
  static connect(socket: string = process.env["ACG_SOCKET"] || DEFAULT_SOCKET): Promise<AgentCgroupClient> {
    return new Promise((resolve, reject) => {
      const sock = createConnection(socket);
      sock.once("connect", () => {
        sock.removeAllListeners("error");
        resolve(new AgentCgroupClient(sock));
      });
      sock.once("error", (e: NodeJS.ErrnoException) =>
        reject(new ProtocolError(`acgd is not reachable at ${socket} (${e.code ?? e.message})`)),
      );
    });
  }

  /** Sends one request object; returns its result, or throws AcgdError / ProtocolError. */
  async request(op: string, fields: Record<string, unknown> = {}): Promise<unknown> {
    if (this.#failed) throw this.#failed;
    const id = this.#nextId++;
    const line = await new Promise<string>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#sock.write(JSON.stringify({ ...fields, op, id }) + "\n");
    });
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      throw new ProtocolError(`acgd sent a line that is not JSON: ${line.slice(0, 200)}`);
    }
    const env = checkShape<{ id: unknown; ok: boolean; result?: unknown; error?: { code: string; message: string } }>("response", r, {
      ok: "boolean",
    });
    if (env.id !== id && env.id !== null) throw new ProtocolError(`response id ${JSON.stringify(env.id)} does not match request id ${id}`);
    if (!env.ok) {
      const err = checkShape<{ code: string; message: string }>("error", env.error, { code: "string", message: "string" });
      throw new AcgdError(err.code, err.message);
    }
    return env.result;
  }

  async startCall(o: StartCallOptions): Promise<CallView> {
    checkRequest(o);
    return checkShape<CallView>("start_call result", await this.request("start_call", { ...o }), CALL_VIEW);
  }
  async endCall(call: string): Promise<CallReport> {
    return checkShape<CallReport>("end_call result", await this.request("end_call", { call }), CALL_REPORT);
  }
  async declareIntent(call: string, hints: string[]): Promise<CallView> {
    return checkShape<CallView>("declare_intent result", await this.request("declare_intent", { call, hints }), CALL_VIEW);
  }
  async registerAgent(agent: string, opts: { tenant?: string; pid?: number } = {}): Promise<RegisteredAgent> {
    return checkShape<RegisteredAgent>("register_agent result", await this.request("register_agent", { agent, ...opts }), REGISTERED);
  }
  async status(): Promise<Record<string, unknown>> {
    return checkShape<Record<string, unknown>>("status result", await this.request("status"), STATUS);
  }
  async usage(filter: { agent?: string; tenant?: string } = {}): Promise<{ agents: unknown[] }> {
    return checkShape<{ agents: unknown[] }>("usage result", await this.request("usage", filter), { agents: "object" });
  }

  close(): void {
    this.#sock.end();
  }
}
