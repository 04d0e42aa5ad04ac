// acgd's local API server: a Unix socket with explicit mode and owner, one
// JSON request per line, peers identified once, when they connect, by
// SO_PEERCRED and the cgroup their process was in (runtime/peer-identity.ts).
// A peer inside an agent's subtree acts only for that agent, and only with
// the agent's owner uid; a peer outside the tree must be root (or acgd's own
// user) and acts as the agents' supervisor. What one peer may cost (connections,
// buffered input and output, time) is bounded (runtime/connection-limits.ts).
// Bad input gets an error response and changes nothing; no request can crash
// the daemon. docs/security.md states the model.

import { chmodSync, chownSync, existsSync, lstatSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { ApiError, errorResponse, MAX_REQUEST_BYTES, okResponse, parseRequest, type Request, type Response } from "./api.js";
import { openEventStream } from "./event-stream.js";
import { events } from "./events.js";
import { emitPolicySwapped } from "./lifecycle-events.js";
import { STATUS_SCHEMA_VERSION } from "./status-schema.js";
import {
  ConnectionCounter,
  DEFAULT_CONNECTION_LIMITS,
  LineFramer,
  TOO_LONG,
  type ConnectionLimits,
  type Framed,
} from "./connection-limits.js";
import { Delegations } from "./delegation.js";
import { identifyPeer, UnidentifiedPeer, type PeerIdentity } from "./peer-identity.js";
import { loadPolicyPath } from "./policy-dir.js";
import type { BpfSchedulerEnforcer, SwapResult } from "./enforce-bpf.js";
import type { ExecClassifier } from "./exec-classifier.js";
import { registerAgentProcess } from "./agent-register.js";
import { CallError } from "./call-error.js";
import type { AgentEntry, ToolCall, ToolCalls } from "./tool-calls.js";
import type { PolicyIR } from "../compiler/ir.js";

export interface DaemonOptions {
  socketPath: string;
  /** Socket file mode; default 0o660. */
  socketMode?: number;
  /** Socket file group (gid); default: acgd's group. */
  socketGid?: number;
  /** The attached scheduler, for apply_policy's data, classifier or object swaps (null without one, and while it loads). */
  scheduler?: () => BpfSchedulerEnforcer | null;
  /** The exec classifier, whose program apply_policy replaces when it runs on objects of its own (no scheduler). */
  classifier?: () => ExecClassifier | null;
  /** Settles when acgd's BPF objects are attached or have failed: apply_policy waits for it, then swaps what is there. */
  attached?: Promise<void>;
  /** Extra fields for `status` (enforcement paths, kernel features). */
  describe: () => Record<string, unknown>;
  log?: (msg: string) => void;
  /** Bounds on what one peer may cost (defaults: DEFAULT_CONNECTION_LIMITS). */
  limits?: Partial<ConnectionLimits>;
}

/** Who sent a request: the identity pinned at connect time, and the agent it acts for. */
interface Peer {
  cred: PeerIdentity;
  agent: AgentEntry | null;
  supervisor: boolean;
}

export class Daemon {
  readonly #calls: ToolCalls;
  readonly #opts: DaemonOptions;
  #server: Server | null = null;
  /** Calls whose starting connection is still open: connection → call ids. */
  readonly #owned = new Map<Socket, Set<string>>();
  /** Calls whose command the client started itself (no `pid`): they end, killed, when that client's connection closes. */
  readonly #endOnClose = new Set<string>();
  /** Each open connection's identity, read once when it connected. */
  readonly #identities = new Map<Socket, PeerIdentity | UnidentifiedPeer>();
  /** The uid an agent's non-root peers must have: the first non-root uid that acted for it. */
  readonly #agentOwners = new WeakMap<AgentEntry, number>();
  /** Set by close(): connections closed then do not end their calls. */
  #stopping = false;
  readonly #limits: ConnectionLimits;
  readonly #counter: ConnectionCounter;
  readonly #delegations: Delegations;
  readonly #log: (msg: string) => void;

  constructor(calls: ToolCalls, opts: DaemonOptions) {
    this.#calls = calls;
    this.#opts = opts;
    this.#log = opts.log ?? (() => {});
    this.#limits = { ...DEFAULT_CONNECTION_LIMITS, ...opts.limits };
    this.#counter = new ConnectionCounter(this.#limits);
    this.#delegations = new Delegations(calls.tree, this.#log);
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
    // acgd stopping is not its clients leaving: their calls go on, for the next acgd to take over.
    this.#stopping = true;
    for (const sock of this.#identities.keys()) sock.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    try {
      unlinkSync(this.#opts.socketPath);
    } catch {
      // already gone
    }
  }

  #connection(sock: Socket): void {
    sock.on("error", () => {});
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    const identity = identifyPeer(fd, (pid) => this.#calls.tree.cgroupOfPid(pid));
    // An unidentified peer counts as one more non-root user: it cannot take root's reserve.
    const uid = identity instanceof UnidentifiedPeer ? -1 : identity.uid;
    const refused = this.#counter.admit(uid);
    if (refused) {
      sock.end(JSON.stringify(errorResponse(null, "refused", `${refused}; connection closed`)) + "\n");
      setTimeout(() => sock.destroy(), 1000).unref();
      return;
    }
    this.#identities.set(sock, identity);
    this.#owned.set(sock, new Set());
    const L = this.#limits;
    const framer = new LineFramer();
    const queue: Framed[] = [];
    let busy = false;
    const timers: { request?: NodeJS.Timeout; unread?: NodeJS.Timeout } = {};
    const drop = (why: string) => {
      this.#log(`closed a connection of uid ${uid}: ${why}`);
      if (!sock.destroyed && sock.writableLength < L.maxUnsentBytes)
        sock.write(JSON.stringify(errorResponse(null, "refused", `${why}; connection closed`)) + "\n");
      sock.destroySoon();
      setTimeout(() => sock.destroy(), 1000).unref();
    };
    // Reading stops while replies are unread or requests queued: the peer's own socket buffer holds the rest.
    const flow = () => {
      if (sock.destroyed) return;
      const full = sock.writableLength >= L.maxUnsentBytes;
      if (full || queue.length >= L.maxQueuedRequests) sock.pause();
      else sock.resume();
      if (full) timers.unread ??= setTimeout(() => drop(`its replies stayed unread for ${L.unreadMs / 1000} s`), L.unreadMs);
      else if (timers.unread) {
        clearTimeout(timers.unread);
        delete timers.unread;
      }
    };
    const pump = async () => {
      if (busy) return;
      busy = true;
      // Requests are answered in order, one at a time per connection.
      while (queue.length > 0 && !sock.destroyed && sock.writableLength < L.maxUnsentBytes) {
        const item = queue.shift()!;
        const r =
          item === TOO_LONG ? tooLarge : await this.#handleLine(sock, item).catch((e) => errorResponse(null, "internal", String(e)));
        if (!sock.destroyed) sock.write(JSON.stringify(r) + "\n");
      }
      busy = false;
      flow();
    };
    sock.on("drain", () => {
      flow();
      void pump();
    });
    sock.on("data", (chunk: Buffer) => {
      queue.push(...framer.push(chunk));
      if (framer.partial)
        timers.request ??= setTimeout(() => drop(`a request line was not completed within ${L.requestMs / 1000} s`), L.requestMs);
      else if (timers.request) {
        clearTimeout(timers.request);
        delete timers.request;
      }
      flow();
      void pump();
    });
    // Idle: nothing read or written for idleMs. A connection that started a call waits for it as long as it runs.
    sock.setTimeout(L.idleMs, () => {
      if ((this.#owned.get(sock)?.size ?? 0) === 0 && queue.length === 0 && !busy) drop(`idle for ${L.idleMs / 1000} s`);
      else sock.setTimeout(L.idleMs);
    });
    sock.on("close", () => {
      clearTimeout(timers.request);
      clearTimeout(timers.unread);
      this.#counter.release(uid);
      this.#identities.delete(sock);
      const ids = this.#owned.get(sock) ?? new Set();
      this.#owned.delete(sock);
      if (this.#stopping) return;
      for (const id of ids) {
        if (this.#endOnClose.delete(id)) this.#endAbandoned(id);
        else this.#endWhenEmpty(id);
      }
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
      const peer = this.#peer(this.#identities.get(sock) ?? new UnidentifiedPeer("the connection is closed"));
      return okResponse(req.id ?? null, await this.#dispatch(req, peer, sock));
    } catch (e) {
      if (e instanceof ApiError) return errorResponse(req.id ?? null, e.code, e.message);
      if (e instanceof CallError) return errorResponse(req.id ?? null, e.code, e.message);
      this.#log(`internal error on ${req.op}: ${(e as Error).stack ?? String(e)}`);
      return errorResponse(req.id ?? null, "internal", `${req.op} failed: ${(e as Error).message}`);
    }
  }

  #peer(identity: PeerIdentity | UnidentifiedPeer): Peer {
    if (identity instanceof UnidentifiedPeer) throw new ApiError("forbidden", `${identity.reason}: request refused`);
    const rel = identity.cgroup;
    const supervisor = rel === null && (identity.uid === 0 || identity.uid === process.getuid?.());
    const agent = rel === null ? null : this.#agentOfPath(rel);
    if (agent && identity.uid !== 0) {
      // An agent is one user's: a process of another uid in its cgroups (moved there by someone) cannot act for it.
      const owner = this.#ownerOf(agent) ?? identity.uid;
      if (owner !== identity.uid)
        throw new ApiError(
          "forbidden",
          `agent '${agent.key}' belongs to uid ${owner}; peer pid ${identity.pid} runs as uid ${identity.uid}: request refused`,
        );
      this.#agentOwners.set(agent, owner);
    }
    return { cred: identity, agent, supervisor };
  }

  /** The agent's owner uid: pinned by its first non-root peer, or (after a restart) the uid that started its running calls. */
  #ownerOf(agent: AgentEntry): number | undefined {
    const pinned = this.#agentOwners.get(agent);
    if (pinned !== undefined) return pinned;
    for (const c of this.#calls.calls.values()) if (c.agent === agent && c.ownerUid !== undefined && c.ownerUid !== 0) return c.ownerUid;
    return undefined;
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
    if (!peer.supervisor)
      throw new ApiError(
        "forbidden",
        `peer pid ${peer.cred.pid} (uid ${peer.cred.uid}) is neither inside an agent's cgroup nor root: request refused`,
      );
    if (agent === undefined) throw new ApiError("bad_request", '"agent" is required when the caller is not inside an agent\'s cgroup');
    return { tenant, agent };
  }

  #ownCall(peer: Peer, id: string): ToolCall {
    const call = this.#calls.calls.get(id);
    if (!call) throw new ApiError("not_found", `no running tool call '${id}'`);
    if (peer.agent ? call.agent !== peer.agent : !peer.supervisor) {
      throw new ApiError("forbidden", `tool call '${id}' belongs to agent '${call.agent.key}', not to this caller`);
    }
    // Within an agent, a non-root caller ends or changes only the calls its own uid started.
    if (peer.cred.uid !== 0 && !peer.supervisor && (call.ownerUid ?? 0) !== peer.cred.uid) {
      throw new ApiError("forbidden", `tool call '${id}' was started by uid ${call.ownerUid ?? 0}, not by uid ${peer.cred.uid}`);
    }
    return call;
  }

  async #dispatch(req: Request, peer: Peer, sock: Socket): Promise<unknown> {
    // What the other operations read or change includes the enforcers' view of the calls started just before.
    if (req.op !== "start_call") this.#calls.announcePending();
    switch (req.op) {
      case "start_call": {
        const who = this.#agentFor(peer, req.tenant, req.agent);
        if (req.pid !== undefined) this.#checkMovablePid(peer, req.pid, who);
        const start = {
          ...who,
          argv: req.argv,
          ...(req.tool !== undefined && { tool: req.tool }),
          ...(req.hints && { hints: req.hints }),
          ...(req.path !== undefined && { path: req.path }),
          ...(req.label !== undefined && { label: req.label }),
          ...(peer.cred.uid !== 0 && { uid: peer.cred.uid }),
        };
        // The enforcers hear of it after the reply (ToolCalls.startCall): the caller waits only for its cgroup.
        const call =
          req.pid === undefined ? this.#calls.startCall(start, { announceLater: true }) : await this.#calls.startForPid(start, req.pid);
        // A non-root agent starts the command itself (clone3 into the cgroup): it needs the call delegated, until its first process is in.
        if (peer.cred.uid !== 0 && req.pid === undefined) this.#delegations.delegate(call, peer.cred.uid);
        this.#owned.get(sock)?.add(call.id);
        if (req.pid === undefined) this.#endOnClose.add(call.id);
        return callView(call);
      }
      case "end_call": {
        this.#ownCall(peer, req.call);
        for (const ids of this.#owned.values()) ids.delete(req.call);
        this.#endOnClose.delete(req.call);
        this.#delegations.revoke(req.call);
        return await this.#calls.endCall(req.call);
      }
      case "declare_intent": {
        const call = this.#ownCall(peer, req.call);
        const decisions = this.#calls.declareIntent(call, req.hints);
        this.#log(logSafe(`intent ${call.id}: ${req.hints.join(" ")}${decisions.length ? ` (${decisions.join("; ")})` : ""}`));
        return callView(call);
      }
      case "status":
        // Others' agents and calls are for supervisors: an agent sees its own.
        if (peer.supervisor) return this.status();
        if (peer.agent) return this.status(peer.agent);
        throw new ApiError(
          "forbidden",
          `peer pid ${peer.cred.pid} (uid ${peer.cred.uid}) is neither inside an agent's cgroup nor root: request refused`,
        );
      case "policy":
        if (!peer.supervisor) throw new ApiError("forbidden", "only root (outside the agents' cgroups) may read the running policy");
        return { policy: this.#calls.policy, scheduler: (this.#opts.scheduler?.() ?? null) !== null };
      case "events":
        if (!peer.agent && !peer.supervisor)
          throw new ApiError(
            "forbidden",
            `peer pid ${peer.cred.pid} (uid ${peer.cred.uid}) is neither inside an agent's cgroup nor root: request refused`,
          );
        return openEventStream(events, sock, req, peer.agent?.key ?? null);
      case "usage": {
        const filter = peer.agent ? { tenant: peer.agent.tenant, agent: peer.agent.agent } : this.#agentFilter(peer, req.tenant, req.agent);
        return this.#usage(filter);
      }
      case "register_agent": {
        if (!peer.supervisor)
          throw new ApiError("forbidden", "only root outside the agents' cgroups (the agent's launcher) may register an agent's process");
        const registered = registerAgentProcess(this.#calls, this.#agentFor(peer, req.tenant, req.agent), req.pid ?? peer.cred.pid);
        this.#log(`registered pid ${registered.pid} as agent ${registered.agent}'s own process`);
        return registered;
      }
      case "apply_policy": {
        if (!peer.supervisor) throw new ApiError("forbidden", "only root (outside the agents' cgroups) may change the policy");
        const unchanged = "policy not applied; the running policy is unchanged";
        const loaded =
          req.dir !== undefined
            ? await loadPolicyPath(req.dir)
            : (await import("./policy-source.js")).loadPolicySource(req.name ?? "<apply_policy>", req.source ?? "");
        if (!loaded.ok) throw new ApiError("policy_error", `${unchanged}:\n${loaded.message}`);
        await this.#opts.attached;
        const swap = this.#swapObjects(loaded.ir, req.dir, unchanged);
        const previous = this.#calls.policy;
        this.#calls.setPolicy(loaded.ir);
        emitPolicySwapped(previous, loaded.ir, swap);
        return { policy: loaded.ir.name, sourceHash: loaded.ir.sourceHash, scheduler: swap };
      }
    }
  }

  /**
   * Brings the running BPF objects to `ir` before its data is written: a new
   * exec classifier program, or new objects, from the compiled directory
   * `dir` (a policy text brings none: refused when it needs them). What the
   * scheduler did, or null without one. Throws an ApiError starting with
   * `unchanged`, nothing changed, on failure.
   */
  #swapObjects(ir: PolicyIR, dir: string | undefined, unchanged: string): SwapResult | null {
    const scheduler = this.#opts.scheduler?.() ?? null;
    const classifier = this.#opts.classifier?.() ?? null;
    if (!scheduler) {
      // On objects of its own, the classifier's program is all there is to replace.
      if (!classifier?.onOwnObjects || dir === undefined || !classifier.needsNewProgram(ir)) return null;
      try {
        classifier.replaceProgram(dir, ir);
      } catch (e) {
        throw new ApiError("policy_error", `${unchanged}: its exec classifier did not load or attach: ${(e as Error).message}`);
      }
      return null;
    }
    const k = scheduler.swapKind(ir);
    if (k.kind === "data") return { kind: "data" };
    const what = k.kind === "classifier" ? "a new exec classifier program" : "new BPF objects";
    if (dir === undefined)
      throw new ApiError(
        "policy_error",
        `${unchanged}: it needs ${what} (${k.reason}); compile it with \`acgc compile FILE -o DIR\` and apply DIR`,
      );
    try {
      return k.kind === "classifier" ? scheduler.replaceClassifier(dir, ir) : scheduler.replace(dir, ir);
    } catch (e) {
      const which = k.kind === "classifier" ? "exec classifier" : "scheduler";
      throw new ApiError("policy_error", `${unchanged}: its ${which} did not load or attach: ${(e as Error).message}`);
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

  /** The client that ran the call's command is gone (acg killed): the call ends now, its processes killed. */
  #endAbandoned(id: string): void {
    if (!this.#calls.calls.has(id)) return;
    this.#delegations.revoke(id);
    this.#calls.endCall(id).then(
      (r) =>
        this.#log(
          `call ${id} ended: its client closed the connection without end_call (${r.events.length ? r.events.join("; ") : "no events"})`,
        ),
      (e) => this.#log(`call ${id}: its client left, and ending it failed: ${(e as Error).message}`),
    );
  }

  /** After the starting connection is gone, a call adopted by pid ends once its last process has exited. */
  #endWhenEmpty(id: string): void {
    this.#calls.endWhenEmpty(id, (r) => {
      this.#delegations.revoke(id);
      this.#log(`call ${id} ended after its client left: ${JSON.stringify(r)}`);
    });
  }

  /** The daemon's state; with `only`, that agent's entry and calls alone. */
  status(only?: AgentEntry): Record<string, unknown> {
    const policy = this.#calls.policy;
    const agents = [...this.#calls.agents.values()].filter((a) => !only || a === only);
    return {
      schemaVersion: STATUS_SCHEMA_VERSION,
      policy: { name: policy.name, sourceHash: policy.sourceHash },
      cgroupRoot: this.#calls.tree.root,
      cgroupfs: this.#calls.tree.fs.kind === "cgroup2",
      controllers: this.#calls.tree.controllers(),
      ...this.#opts.describe(),
      unenforcedKnobs: Object.fromEntries(this.#calls.tree.unenforced),
      agents: agents.map((a) => ({
        agent: a.key,
        profile: a.profile.id,
        calls: [...this.#calls.calls.values()].filter((c) => c.agent === a).length,
        spares: this.#calls.sparesFor(a),
      })),
      calls: [...this.#calls.calls.values()].filter((c) => !only || c.agent === only).map(callView),
      connections: this.#counter.open,
    };
  }

  #usage(filter: { tenant?: string; agent?: string }): unknown {
    const out = [];
    for (const a of this.#calls.agents.values()) {
      if ((filter.tenant !== undefined && a.tenant !== filter.tenant) || (filter.agent !== undefined && a.agent !== filter.agent)) continue;
      const calls = [...this.#calls.calls.values()]
        .filter((c) => c.agent === a)
        .map((c) => ({ ...callView(c), usage: this.#calls.tree.stats(c.path) }));
      out.push({ agent: a.key, usage: this.#calls.tree.stats(a.path), calls });
    }
    return { agents: out };
  }
}

/** A log line cannot be forged by what a peer sent: control characters (a newline above all) are escaped. */
export function logSafe(line: string): string {
  // eslint-disable-next-line no-control-regex -- the control characters are what it escapes
  return line.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

const tooLarge = errorResponse(null, "too_large", `request longer than ${MAX_REQUEST_BYTES} bytes: refused (nothing was changed)`);

export function callView(c: ToolCall): Record<string, unknown> {
  return {
    call: c.id,
    agent: c.agent.key,
    ...(c.label !== undefined && { label: c.label }),
    cgroup: c.path,
    oomScoreAdj: c.oomScoreAdj,
    rule: c.rule.name,
    class: c.cls.name,
    limits: c.limits,
    intentLog: c.intent.log,
    events: c.events,
  };
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
