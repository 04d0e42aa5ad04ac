// systemd readiness (sd_notify(3)'s protocol, written here: one datagram of
// "KEY=VALUE" lines to the socket named by $NOTIFY_SOCKET). acgd sends
// READY=1 once its socket listens, so a unit with Type=notify starts the
// agents only after acgd can take their calls, and STOPPING=1 when it stops.
// Without $NOTIFY_SOCKET (not under systemd) nothing is sent.

import { sendDatagram } from "./native-io.js";

/** Sends `fields` to $NOTIFY_SOCKET; returns why not when it could not. */
export function sdNotify(fields: Record<string, string>, env: NodeJS.ProcessEnv = process.env): string | null {
  const socket = env["NOTIFY_SOCKET"];
  if (!socket) return null;
  const message =
    Object.entries(fields)
      .map(([k, v]) => `${k}=${v.replace(/\n/g, " ")}`)
      .join("\n") + "\n";
  try {
    if (!sendDatagram(socket, message)) return `cannot notify systemd at ${socket}: the native addon is not built (npm run build:native)`;
  } catch (e) {
    return `cannot notify systemd at ${socket}: ${(e as Error).message}`;
  }
  return null;
}
