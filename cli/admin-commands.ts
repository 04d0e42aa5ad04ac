// `acgc status` and `acgc apply`: the operator's view of a running acgd.

import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { DaemonClient, DaemonError, DEFAULT_SOCKET } from "../runtime/client.js";
import type { PolicyIR } from "../compiler/ir.js";
import { diffPolicies, loadSide, renderChanges, renderDiff, type LoadedSide } from "../runtime/policy-diff.js";
import { STATUS_SCHEMA_VERSION, statusProblems } from "../runtime/status-schema.js";
import type { Io } from "./io.js";

function socketOption(args: string[]): { socket: string; rest: string[] } | string {
  let socket = process.env["ACG_SOCKET"] ?? DEFAULT_SOCKET;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--socket") {
      const v = args[++i];
      if (!v) return "--socket needs a path";
      socket = v;
    } else if (a.startsWith("--socket=")) socket = a.slice(9);
    else rest.push(a);
  }
  return { socket, rest };
}

async function request(socket: string, req: Parameters<DaemonClient["request"]>[0]): Promise<unknown | DaemonError> {
  let client: DaemonClient | undefined;
  try {
    client = await DaemonClient.connect(socket);
    return await client.request(req);
  } catch (e) {
    if (e instanceof DaemonError) return e;
    throw e;
  } finally {
    client?.close();
  }
}

/** acgc status [--json] [--socket PATH] */
export async function statusCommand(args: string[], io: Io): Promise<number> {
  const o = socketOption(args);
  if (typeof o === "string") return usage(io, o);
  const json = o.rest.includes("--json");
  const bad = o.rest.find((a) => a !== "--json");
  if (bad) return usage(io, `unknown option '${bad}' for status`);
  const r = await request(o.socket, { op: "status" });
  if (r instanceof DaemonError) {
    io.err(`acgc status: ${r.message}\n`);
    return 2;
  }
  const problems = await statusProblems(r);
  if (problems.length)
    io.err(
      "acgc status: warning: acgd's answer does not follow status schema " +
        `v${STATUS_SCHEMA_VERSION} (an acgd of another version?): ` +
        `${problems.slice(0, 5).join("; ")}\n`,
    );
  if (json) {
    io.out(JSON.stringify(r, null, 2) + "\n");
    return 0;
  }
  const s = r as {
    policy: { name: string; sourceHash: string };
    cgroupRoot: string;
    enforcement: Record<string, string>;
    unenforcedKnobs: Record<string, string>;
    agents: { agent: string; calls: number; spares?: number }[];
    calls: { call: string; agent: string; rule: string; class: string }[];
  };
  const lines = [`policy ${s.policy.name} (${s.policy.sourceHash.slice(0, 12)}), cgroup root ${s.cgroupRoot}`, "enforcement:"];
  for (const [k, v] of Object.entries(s.enforcement)) lines.push(`  ${k}: ${v}`);
  for (const [k, v] of Object.entries(s.unenforcedKnobs)) lines.push(`  not enforced: ${k}: ${v}`);
  lines.push(`agents: ${s.agents.length}${s.agents.length ? "" : " (none yet)"}`);
  for (const a of s.agents) lines.push(`  ${a.agent}: ${a.calls} running call(s)${a.spares ? `, ${a.spares} spare cgroup(s) ready` : ""}`);
  for (const c of s.calls) lines.push(`  call ${c.call} of ${c.agent}: rule ${c.rule}, class ${c.class}`);
  io.out(lines.join("\n") + "\n");
  return 0;
}

/** acgc apply FILE [--dry-run] [--socket PATH]: replaces the running policy; a policy with errors leaves it untouched. */
export async function applyCommand(args: string[], io: Io): Promise<number> {
  const o = socketOption(args);
  if (typeof o === "string") return usage(io, o);
  const dryRun = o.rest.includes("--dry-run");
  const files = o.rest.filter((a) => a !== "--dry-run");
  if (files.length !== 1 || files[0]!.startsWith("-")) return usage(io, "apply takes one policy file");
  const file = files[0]!;
  if (dryRun) return applyDryRun(o.socket, file, io);
  let req: Parameters<DaemonClient["request"]>[0];
  try {
    // A compiled directory is applied by path (acgd loads its objects); a .acg file by its text.
    req = statSync(file).isDirectory()
      ? { op: "apply_policy", dir: resolve(file) }
      : { op: "apply_policy", source: readFileSync(file, "utf8"), name: file };
  } catch (e) {
    io.err(`acgc apply: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    return 2;
  }
  const r = await request(o.socket, req);
  if (r instanceof DaemonError) {
    io.err(`acgc apply: ${r.message}\n`);
    return r.code === "policy_error" ? 1 : 2;
  }
  const a = r as { policy: string; sourceHash: string; scheduler: { kind: string; gapMs?: number } | null };
  const swap = a.scheduler
    ? `; scheduler ${a.scheduler.kind} ` +
      `swap${a.scheduler.gapMs !== undefined ? ` (${a.scheduler.gapMs.toFixed(2)} ms without a scheduler)` : ""}`
    : "";
  io.out(`applied policy ${a.policy} (${a.sourceHash.slice(0, 12)})${swap}\n`);
  return 0;
}

/** What `acgc apply FILE` would change in the running acgd, without applying it. */
async function applyDryRun(socket: string, file: string, io: Io): Promise<number> {
  let next: LoadedSide;
  try {
    next = loadSide(file);
  } catch (e) {
    io.err(`${(e as Error).message}\nacgc apply --dry-run: the policy has errors; acgd would refuse it\n`);
    return 1;
  }
  const r = await request(socket, { op: "policy" });
  if (r instanceof DaemonError) {
    io.err(`acgc apply --dry-run: ${r.message}\n`);
    return 2;
  }
  const running = r as { policy: PolicyIR; scheduler: boolean };
  const d = diffPolicies({ ir: running.policy, manifest: null }, next);
  const plan = running.scheduler
    ? renderDiff(d)
    : `${renderChanges(d)}swap: none (acgd runs no sched_ext scheduler: new calls follow the ` +
      `new policy, running calls keep their limits)\n`;
  io.out(`${plan}dry run: nothing was applied\n`);
  return 0;
}

function usage(io: Io, msg: string): number {
  io.err(
    `acgc: ${msg}\n  help: acgc status [--json] [--socket PATH] | acgc apply ` +
      `FILE|COMPILED_DIR [--dry-run] [--socket PATH] | acgc unload [--socket PATH]\n`,
  );
  return 2;
}

/** acgc unload [--socket PATH]: after acgd stopped, detach and unpin the scheduler it left running. */
export async function unloadCommand(args: string[], io: Io): Promise<number> {
  const o = socketOption(args);
  if (typeof o === "string") return usage(io, o);
  if (o.rest.length) return usage(io, `unknown option '${o.rest[0]}' for unload`);
  const { listenerPid, unloadScheduler } = await import("../runtime/lifecycle.js");
  const { reportUnload } = await import("./stop-command.js");
  const pid = await listenerPid(o.socket).catch(() => null);
  if (pid !== null) {
    io.err(
      `acgc unload: acgd (pid ${pid}) is running at ${o.socket} and holds the scheduler: stop it with \`acgd stop\` (which unloads too)\n`,
    );
    return 2;
  }
  return reportUnload(await unloadScheduler(), "acgc unload", io.err);
}
