// acgd's local API server: a Unix socket with explicit mode and owner, one
// JSON request per line, peers identified by SO_PEERCRED and by the cgroup
// their process lives in. A peer inside an agent's subtree acts only for that
// agent; a peer outside the tree must be root (or acgd's own user) and acts
// as the agents' supervisor. Bad input gets an error response and changes
// nothing; no request can crash the daemon.

import { chmodSync, chownSync, existsSync, lstatSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { ApiError, errorResponse, MAX_REQUEST_BYTES, okResponse, parseRequest, type Request, type Response } from "./api.js";
import { peerCredentialsOf, type PeerCredentials } from "./native-io.js";
import { loadPolicyFrom, loadPolicySource } from "./policy-source.js";
import type { BpfSchedulerEnforcer, SwapResult } from "./enforce-bpf.js";
import { registerAgentProcess } from "./agent-register.js";
import { CallError, type AgentEntry, type ToolCall, type ToolCalls } from "./tool-calls.js";

export interface DaemonOptions {
  socketPath: string;
  /** Socket file mode; default 0o660. */
  socketMode?: number;
  /** Socket file group (gid); default: acgd's group. */
  socketGid?: number;
  /** The attached scheduler, for apply_policy's data or object swaps. */
  scheduler?: BpfSchedulerEnforcer | null;
  /** Extra fields for `status` (enforcement paths, kernel features). */
  describe: () => Record<string, unknown>;
  log?: (msg: string) => void;
}

/** Who sent a request: credentials, and the agent whose subtree its process lives in. */
interface Peer {
  cred: PeerCredentials;
  agent: AgentEntry | null;
  supervisor: boolean;
}

export class Daemon {
  readonly #calls: ToolCalls;
  readonly #opts: DaemonOptions;
  #server: Server | null = null;
  /** Calls whose starting connection is still open: connection → call ids. */
  readonly #owned = new Map<Socket, Set<string>>();
  readonly #log: (msg: string) => void;

  constructor(calls: ToolCalls, opts: DaemonOptions) {
    this.#calls = calls;
    this.#opts = opts;
    this.#log = opts.log ?? (() => {});
  }

  async listen(): Promise<void> {
    const path = this.#opts.socketPath;
    await removeStaleSocket(path);
    const server = createServer((sock) => this.#connection(sock));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (e) => this.#log(`socket error: ${e.message}`));
    // Mode and owner are set explicitly: the socket is the API's only gate besides peer checks.
    chmodSync(path, this.#opts.socketMode ?? 0o660);
    chownSync(path, process.getuid?.() ?? 0, this.#opts.socketGid ?? process.getgid?.() ?? 0);
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    for (const sock of this.#owned.keys()) sock.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    try {
      unlinkSync(this.#opts.socketPath);
    } catch {
      // already gone
    }
  }

  #connection(sock: Socket): void {
    this.#owned.set(sock, new Set());
    let buf = "";
    let discarding = false;
    let queue = Promise.resolve();
    const send = (r: Response) => {
      if (!sock.destroyed) sock.write(JSON.stringify(r) + "\n");
    };
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => {
      buf += chunk;
      for (;;) {
        const nl = buf.indexOf("\n");
        if (nl < 0) break;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (discarding) {
          discarding = false;
          continue;
        }
        if (line.trim() === "") continue;
        // Requests are answered in order, one at a time per connection.
        const handle = Buffer.byteLength(line) > MAX_REQUEST_BYTES ? () => tooLarge : () => this.#handleLine(sock, line);
        queue = queue.then(handle).then(send, (e) => send(errorResponse(null, "internal", String(e))));
      }
      if (!discarding && Buffer.byteLength(buf) > MAX_REQUEST_BYTES) {
        buf = "";
        discarding = true;
        queue = queue.then(() => send(tooLarge));
      } else if (discarding) buf = "";
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      const ids = this.#owned.get(sock) ?? new Set();
      this.#owned.delete(sock);
      for (const id of ids) this.#endWhenEmpty(id);
    });
  }

  async #handleLine(sock: Socket, line: string): Promise<Response> {
    let req: Request;
    try {
      req = parseRequest(line);
    } catch (e) {
      return errorResponse(null, e instanceof ApiError ? e.code : "bad_request", (e as Error).message);
    }
    try {
      const peer = this.#peer(sock);
      return okResponse(req.id ?? null, await this.#dispatch(req, peer, sock));
    } catch (e) {
      if (e instanceof ApiError) return errorResponse(req.id ?? null, e.code, e.message);
      if (e instanceof CallError) return errorResponse(req.id ?? null, e.code, e.message);
      this.#log(`internal error on ${req.op}: ${(e as Error).stack ?? String(e)}`);
      return errorResponse(req.id ?? null, "internal", `${req.op} failed: ${(e as Error).message}`);
    }
  }

  #peer(sock: Socket): Peer {
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    const cred = typeof fd === "number" && fd >= 0 ? peerCredentialsOf(fd) : null;
    if (!cred) throw new ApiError("forbidden", "the peer's credentials cannot be read (SO_PEERCRED): request refused");
    const rel = this.#calls.tree.cgroupOfPid(cred.pid);
    const supervisor = rel === null && (cred.uid === 0 || cred.uid === process.getuid?.());
    return { cred, agent: rel === null ? null : this.#agentOfPath(rel), supervisor };
  }

  /** The agent owning a tree path; agents whose cgroups outlived an earlier acgd are re-adopted. */
  #agentOfPath(rel: string): AgentEntry | null {
    const known = this.#calls.agentOfCgroup(rel);
    if (known) return known;
    const [t, a] = rel.split("/");
    if (!t || !a) return null;
    try {
      return this.#calls.ensureAgent(t, a);
    } catch {
      return null;
    }
  }

  /** The agent a request acts for: the peer's own agent, or any agent for a supervisor. */
  #agentFor(peer: Peer, tenant: string | undefined, agent: string | undefined): { tenant: string | undefined; agent: string } {
    if (peer.agent) {
      if ((agent !== undefined && agent !== peer.agent.agent) || (tenant !== undefined && tenant !== peer.agent.tenant)) {
        throw new ApiError("forbidden", `this process belongs to agent '${peer.agent.key}': it cannot act for another agent`);
      }
      return { tenant: peer.agent.tenant, agent: peer.agent.agent };
    }
    if (!peer.supervisor) throw new ApiError("forbidden", `peer pid ${peer.cred.pid} (uid ${peer.cred.uid}) is neither inside an agent's cgroup nor root: request refused`);
    if (agent === undefined) throw new ApiError("bad_request", "\"agent\" is required when the caller is not inside an agent's cgroup");
    return { tenant, agent };
  }

  #ownCall(peer: Peer, id: string): ToolCall {
    const call = this.#calls.calls.get(id);
    if (!call) throw new ApiError("not_found", `no running tool call '${id}'`);
    if (peer.agent ? call.agent !== peer.agent : !peer.supervisor) {
      throw new ApiError("forbidden", `tool call '${id}' belongs to agent '${call.agent.key}', not to this caller`);
    }
    return call;
  }

  async #dispatch(req: Request, peer: Peer, sock: Socket): Promise<unknown> {
    switch (req.op) {
      case "start_call": {
        const who = this.#agentFor(peer, req.tenant, req.agent);
        if (req.pid !== undefined) this.#checkMovablePid(peer, req.pid, who);
        const start = { ...who, argv: req.argv, ...(req.tool !== undefined && { tool: req.tool }), ...(req.hints && { hints: req.hints }), ...(req.path !== undefined && { path: req.path }), ...(req.label !== undefined && { label: req.label }) };
        const call = req.pid === undefined ? this.#calls.startCall(start) : await this.#calls.startForPid(start, req.pid);
        // A non-root agent starts the command itself (clone3 into the cgroup): it needs the call delegated.
        if (peer.cred.uid !== 0 && req.pid === undefined) this.#calls.tree.delegateProcs(call.agent.path, call.path, peer.cred.uid);
        this.#owned.get(sock)?.add(call.id);
        this.#log(`start ${call.id}${call.label !== undefined ? ` (${call.label})` : ""} agent=${call.agent.key} rule=${call.rule.name} class=${call.cls.name}${call.intent.log.length ? ` intents: ${call.intent.log.join("; ")}` : ""}`);
        return callView(call);
      }
      case "end_call": {
        this.#ownCall(peer, req.call);
        for (const ids of this.#owned.values()) ids.delete(req.call);
        return await this.#calls.endCall(req.call);
      }
      case "declare_intent": {
        const call = this.#ownCall(peer, req.call);
        const decisions = this.#calls.declareIntent(call, req.hints);
        this.#log(`intent ${call.id}: ${req.hints.join(" ")}${decisions.length ? ` (${decisions.join("; ")})` : ""}`);
        return callView(call);
      }
      case "status":
        return this.status();
      case "usage": {
        const filter = peer.agent ? { tenant: peer.agent.tenant, agent: peer.agent.agent } : this.#agentFilter(peer, req.tenant, req.agent);
        return this.#usage(filter);
      }
      case "register_agent": {
        if (!peer.supervisor) throw new ApiError("forbidden", "only root outside the agents' cgroups (the agent's launcher) may register an agent's process");
        const registered = registerAgentProcess(this.#calls, this.#agentFor(peer, req.tenant, req.agent), req.pid ?? peer.cred.pid);
        this.#log(`registered pid ${registered.pid} as agent ${registered.agent}'s own process`);
        return registered;
      }
      case "apply_policy": {
        if (!peer.supervisor) throw new ApiError("forbidden", "only root (outside the agents' cgroups) may change the policy");
        const unchanged = "policy not applied; the running policy is unchanged";
        const loaded = req.dir !== undefined ? loadPolicyFrom(req.dir) : loadPolicySource(req.name ?? "<apply_policy>", req.source ?? "");
        if (!loaded.ok) throw new ApiError("policy_error", `${unchanged}:\n${loaded.message}`);
        const scheduler = this.#opts.scheduler ?? null;
        let swap: SwapResult | { kind: "data" } | null = null;
        if (scheduler && req.dir !== undefined && scheduler.shapeChange(loaded.ir) !== null) {
          try {
            swap = scheduler.replace(req.dir, loaded.ir);
          } catch (e) {
            throw new ApiError("policy_error", `${unchanged}: its scheduler did not load or attach: ${(e as Error).message}`);
          }
        } else if (scheduler) {
          const shape = scheduler.shapeChange(loaded.ir);
          if (shape) throw new ApiError("policy_error", `${unchanged}: it needs new BPF objects (${shape}); compile it with \`acgc compile FILE -o DIR\` and apply DIR`);
          swap = { kind: "data" };
        }
        this.#calls.setPolicy(loaded.ir);
        this.#log(`policy ${loaded.ir.name} (${loaded.ir.sourceHash.slice(0, 12)}) applied${swap ? `; scheduler: ${swap.kind} swap${"gapMs" in swap && swap.gapMs !== undefined ? `, ${swap.gapMs.toFixed(2)} ms without a scheduler` : ""}` : ""}`);
        return { policy: loaded.ir.name, sourceHash: loaded.ir.sourceHash, scheduler: swap };
      }
    }
  }

  #agentFilter(peer: Peer, tenant: string | undefined, agent: string | undefined): { tenant?: string; agent?: string } {
    if (!peer.supervisor) throw new ApiError("forbidden", "usage of other agents is only for root outside the agents' cgroups");
    return { ...(tenant !== undefined && { tenant }), ...(agent !== undefined && { agent }) };
  }

  /** A pid may be moved only if it is in the acting agent's subtree and, for non-root peers, their own. */
  #checkMovablePid(peer: Peer, pid: number, who: { tenant: string | undefined; agent: string }): void {
    const rel = this.#calls.tree.cgroupOfPid(pid);
    const [t, a] = (rel ?? "").split("/");
    if (!rel || a !== who.agent || (who.tenant !== undefined && t !== who.tenant)) {
      throw new ApiError("forbidden", `process ${pid} is not in agent '${who.agent}''s cgroups: an agent may only move its own processes`);
    }
    if (peer.cred.uid !== 0 && processUid(pid) !== peer.cred.uid) throw new ApiError("forbidden", `process ${pid} belongs to another user`);
  }

  /** After the starting connection is gone, a call ends once its last process has exited. */
  #endWhenEmpty(id: string): void {
    this.#calls.endWhenEmpty(id, (r) => this.#log(`call ${id} ended after its client left: ${JSON.stringify(r)}`));
  }

  status(): Record<string, unknown> {
    const policy = this.#calls.policy;
    return {
      policy: { name: policy.name, sourceHash: policy.sourceHash },
      cgroupRoot: this.#calls.tree.root,
      cgroupfs: this.#calls.tree.real,
      controllers: this.#calls.tree.controllers(),
      ...this.#opts.describe(),
      unenforcedKnobs: Object.fromEntries(this.#calls.tree.unenforced),
      agents: [...this.#calls.agents.values()].map((a) => ({ agent: a.key, profile: a.profile.id, calls: [...this.#calls.calls.values()].filter((c) => c.agent === a).length })),
      calls: [...this.#calls.calls.values()].map(callView),
    };
  }

  #usage(filter: { tenant?: string; agent?: string }): unknown {
    const out = [];
    for (const a of this.#calls.agents.values()) {
      if ((filter.tenant !== undefined && a.tenant !== filter.tenant) || (filter.agent !== undefined && a.agent !== filter.agent)) continue;
      const calls = [...this.#calls.calls.values()].filter((c) => c.agent === a).map((c) => ({ ...callView(c), usage: this.#calls.tree.stats(c.path) }));
      out.push({ agent: a.key, usage: this.#calls.tree.stats(a.path), calls });
    }
    return { agents: out };
  }
}

const tooLarge = errorResponse(null, "too_large", `request longer than ${MAX_REQUEST_BYTES} bytes: refused (nothing was changed)`);

export function callView(c: ToolCall): Record<string, unknown> {
  return { call: c.id, agent: c.agent.key, ...(c.label !== undefined && { label: c.label }), cgroup: c.path, rule: c.rule.name, class: c.cls.name, limits: c.limits, intentLog: c.intent.log, events: c.events };
}

function processUid(pid: number): number | null {
  try {
    return lstatSync(`/proc/${pid}`).uid;
  } catch {
    return null;
  }
}

/** Removes a socket file left by a dead daemon; refuses to take over a live one. */
async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket; remove it or choose another --socket`);
  const live = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
  if (live) throw new Error(`another acgd is serving ${path}; stop it first or choose another --socket`);
  unlinkSync(path);
}
