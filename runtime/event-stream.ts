// The API's `events` op: after its response, the connection carries one line
// per event, `{"event": {...}}` (the shape of runtime/events.ts), until the
// client closes it. A peer inside an agent's cgroups sees only that agent's
// events; a supervisor sees all. A client that does not read is cut off
// rather than let acgd buffer without bound.

import type { Socket } from "node:net";
import { ApiError } from "./api.js";
import { EVENT_SCHEMA_VERSION, type AcgEvent, type EventBus } from "./events.js";

/** Unread output after which a following client is disconnected. */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;

export interface EventsRequest {
  since?: number;
  follow?: boolean;
}

export interface EventsResult {
  schemaVersion: number;
  /** Kept events after `since`, oldest first (acgd keeps the last 1000). */
  recent: AcgEvent[];
  /** Whether later events follow on this connection. */
  following: boolean;
}

/**
 * Answers an `events` request and, when it follows, subscribes the socket.
 * `agent`: the "tenant/agent" key the peer is confined to, or null for a supervisor.
 */
export function openEventStream(bus: EventBus, sock: Socket, req: EventsRequest, agent: string | null): EventsResult {
  const visible = (e: AcgEvent) => agent === null || e.agent === agent;
  const follow = req.follow ?? true;
  const result: EventsResult = {
    schemaVersion: EVENT_SCHEMA_VERSION,
    recent: bus.recent(req.since ?? 0).filter(visible),
    following: follow,
  };
  if (!follow) return result;
  if (sock.destroyed) throw new ApiError("refused", "the connection closed");
  // Events emitted before the response line is written wait for it, so the stream starts after the response.
  const held: AcgEvent[] = [];
  let live = false;
  const write = (e: AcgEvent) => {
    if (sock.destroyed) return;
    if (sock.writableLength > MAX_BACKLOG_BYTES) {
      sock.destroy();
      return;
    }
    sock.write(JSON.stringify({ event: e }) + "\n");
  };
  const stop = bus.subscribe((e) => {
    if (!visible(e)) return;
    if (live) write(e);
    else held.push(e);
  });
  sock.once("close", stop);
  setImmediate(() => {
    live = true;
    for (const e of held.splice(0)) write(e);
  });
  return result;
}
