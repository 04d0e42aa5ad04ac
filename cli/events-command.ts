// `acg events`: acgd's event stream (the API's `events` op), as lines for
// people or as JSON lines. Options are parsed with node:util's parseArgs.

import { createConnection } from "node:net";
import { parseArgs } from "node:util";
import { DEFAULT_SOCKET } from "../runtime/client.js";
import { EVENT_KINDS, type AcgEvent } from "../runtime/events.js";
import type { Io } from "./io.js";

export const EVENTS_USAGE = `Usage: acg events [--json] [--no-follow] [--since SEQ] [--kind KIND]... [--socket PATH]

Prints acgd's recent events (it keeps the last 1000), then every new one as it
happens, until interrupted.
  --json         one JSON object per line (docs/observability.md#events)
  --no-follow    print the recent events and exit
  --since SEQ    only events after this sequence number
  --kind KIND    only events of this kind (repeatable); kinds: ${Object.keys(EVENT_KINDS).join(", ")}
  --socket PATH  acgd's socket (default $ACG_SOCKET or ${DEFAULT_SOCKET})
Exit status: 0 with --no-follow or when interrupted, 1 if acgd ends the stream, 2 usage or acgd unreachable.`;

/** One event as a line for people: time, level, kind, who, what. */
export function formatEvent(e: AcgEvent): string {
  const who = [e.agent, e.call].filter((x) => x !== undefined).join(" ");
  return `${e.time} ${e.level.toUpperCase().padEnd(5)} ${e.kind}${who ? ` [${who}]` : ""} ${e.message}`;
}

export async function eventsCommand(args: string[], io: Io): Promise<number> {
  let opts;
  try {
    opts = parseArgs({
      args,
      options: {
        json: { type: "boolean", default: false },
        "no-follow": { type: "boolean", default: false },
        since: { type: "string" },
        kind: { type: "string", multiple: true },
        socket: { type: "string", default: process.env["ACG_SOCKET"] ?? DEFAULT_SOCKET },
        help: { type: "boolean", short: "h", default: false },
      },
      allowPositionals: false,
    }).values;
  } catch (e) {
    io.err(`acg events: ${(e as Error).message}\n\n${EVENTS_USAGE}\n`);
    return 2;
  }
  if (opts.help) {
    io.out(EVENTS_USAGE + "\n");
    return 0;
  }
  const since = opts.since === undefined ? 0 : Number(opts.since);
  if (!Number.isSafeInteger(since) || since < 0) {
    io.err(`acg events: --since ${opts.since}: a sequence number (the seq field of an event)\n`);
    return 2;
  }
  const kinds = opts.kind ?? [];
  const unknown = kinds.find((k) => !(k in EVENT_KINDS));
  if (unknown) {
    io.err(`acg events: --kind ${unknown}: unknown kind; kinds: ${Object.keys(EVENT_KINDS).join(", ")}\n`);
    return 2;
  }
  const follow = !opts["no-follow"];
  const show = (e: AcgEvent) => {
    if (kinds.length && !kinds.includes(e.kind)) return;
    io.out(opts.json ? JSON.stringify(e) + "\n" : formatEvent(e) + "\n");
  };
  return new Promise<number>((resolve) => {
    const sock = createConnection(opts.socket);
    let answered = false;
    let done = false;
    const interrupted = () => finish(0);
    const finish = (code: number, msg?: string) => {
      if (done) return;
      done = true;
      process.off("SIGINT", interrupted);
      process.off("SIGTERM", interrupted);
      if (msg) io.err(`acg events: ${msg}\n`);
      sock.destroy();
      resolve(code);
    };
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(JSON.stringify({ op: "events", follow, ...(since && { since }) }) + "\n"));
    sock.on("data", (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: { ok?: boolean; result?: { recent: AcgEvent[] }; error?: { message: string }; event?: AcgEvent };
        try {
          msg = JSON.parse(line);
        } catch {
          finish(1, `acgd sent a line that is not JSON: ${line.slice(0, 200)}`);
          return;
        }
        if (!answered) {
          answered = true;
          if (!msg.ok) return finish(2, msg.error?.message ?? "acgd refused the request");
          for (const e of msg.result?.recent ?? []) show(e);
          if (!follow) return finish(0);
        } else if (msg.event) show(msg.event);
      }
    });
    sock.on("error", (e: NodeJS.ErrnoException) => finish(2, `acgd is not reachable at ${opts.socket} (${e.code ?? e.message})`));
    sock.on("close", () => finish(1, "acgd closed the connection"));
    process.once("SIGINT", interrupted);
    process.once("SIGTERM", interrupted);
  });
}
