// `acgd stop`, and what an unload of the scheduler did as both `acgd stop`
// and `acgc unload` say it.

import { parseArgs } from "node:util";
import { packageVersion } from "../compiler/version.js";
import { DEFAULT_SOCKET } from "../runtime/client.js";
import { stopDaemon, unloadScheduler, type UnloadResult } from "../runtime/lifecycle.js";

const STOP_USAGE = `Usage: acgd stop [--socket PATH] [--keep-scheduler]

Stops the acgd serving PATH (default $ACG_SOCKET, else ${DEFAULT_SOCKET}) with
SIGTERM and waits for it to exit; then detaches and unpins the sched_ext
scheduler it left running (\`acgc unload\`), unless --keep-scheduler (then a
restarted acgd adopts it). Running calls keep their cgroups and processes.
Exit status: 0 stopped (or nothing was running), 1 acgd or the scheduler did not go, 2 usage.`;

export async function stopCommand(args: string[]): Promise<number> {
  const err = (s: string) => process.stderr.write(s);
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        socket: { type: "string" },
        "keep-scheduler": { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    err(`acgd stop: ${(e as Error).message}\n\n${STOP_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(STOP_USAGE + "\n");
    return 0;
  }
  if (values.version) {
    process.stdout.write(`acgd ${packageVersion()}\n`);
    return 0;
  }
  const socket = values.socket ?? (process.env["ACG_SOCKET"] || DEFAULT_SOCKET);
  try {
    const pid = await stopDaemon(socket);
    err(pid === null ? `acgd stop: no acgd answers at ${socket}\n` : `acgd stop: acgd (pid ${pid}) stopped\n`);
    if (values["keep-scheduler"]) return 0;
    return reportUnload(await unloadScheduler(), "acgd stop", err);
  } catch (e) {
    err(`acgd stop: ${(e as Error).message}\n`);
    return 1;
  }
}

/** Says what an unload did; 1 if a scheduler was unpinned but sched_ext still runs one. */
export function reportUnload(r: UnloadResult, who: string, err: (s: string) => void): number {
  if (r.removed.length === 0) {
    err(`${who}: no AgentCgroup scheduler was pinned (sched_ext: ${r.state})\n`);
    return 0;
  }
  if (r.state === "disabled" || r.state === "absent") {
    err(`${who}: scheduler unpinned and detached (${r.removed.length} pin(s) removed; sched_ext: ${r.state})\n`);
    return 0;
  }
  err(`${who}: pins removed, but sched_ext is still ${r.state}: another process holds the scheduler (a running acgd? stop it first)\n`);
  return 1;
}
