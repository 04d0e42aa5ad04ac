// The acgd local API: newline-delimited JSON over a Unix socket. One request
// per line, one response line per request, in order. This file is the
// protocol: request shapes, their validation, and the response envelope.

/** Longest request line accepted; longer ones are answered with an error and discarded. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

export type ErrorCode =
  "bad_json" | "bad_request" | "unknown_op" | "too_large" | "forbidden" | "not_found" | "refused" | "policy_error" | "internal";

export interface StartCall {
  op: "start_call";
  agent?: string;
  tenant?: string;
  tool?: string;
  hints?: string[];
  /** The command the call runs (matched on argv/exe). */
  argv: string[];
  /** Full executable path (the `path` subject), when the client resolved it. */
  path?: string;
  /** Move this already running process into the new call (processes started without `acg run`). */
  pid?: number;
  /** The agent framework's name for the call (Claude Code's tool_use_id...), shown in status and logs. */
  label?: string;
}
export interface EndCall {
  op: "end_call";
  call: string;
}
export interface DeclareIntent {
  op: "declare_intent";
  call: string;
  hints: string[];
}
export interface Status {
  op: "status";
}
export interface Usage {
  op: "usage";
  agent?: string;
  tenant?: string;
}
export interface ApplyPolicy {
  op: "apply_policy";
  /** Policy source text (.acg); exactly one of source and dir. */
  source?: string;
  /** A compiled policy directory on acgd's host (objects, manifest.json, ir.json): replaces the scheduler's objects too. */
  dir?: string;
  /** Name used in diagnostics. */
  name?: string;
}

/** Recent events, then (unless follow is false) every later one on this connection (runtime/event-stream.ts). */
export interface Events {
  op: "events";
  /** Only events with a larger seq. */
  since?: number;
  /** Default true. */
  follow?: boolean;
}

/** The running policy (its IR) and whether a scheduler runs it, for `acgc apply --dry-run`. */
export interface RunningPolicy {
  op: "policy";
}

/** Puts an agent's own process into its agent cgroup (supervisor only; see agent-register.ts). */
export interface RegisterAgent {
  op: "register_agent";
  agent: string;
  tenant?: string;
  /** The process to register (default: the caller's own). */
  pid?: number;
}

export type Request = (StartCall | EndCall | DeclareIntent | Status | Usage | ApplyPolicy | Events | RunningPolicy | RegisterAgent) & {
  id?: number | string;
};

export type Response =
  | { id?: number | string | null; ok: true; result: unknown }
  | { id?: number | string | null; ok: false; error: { code: ErrorCode; message: string } };

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const OPS = ["start_call", "end_call", "declare_intent", "status", "usage", "apply_policy", "events", "policy", "register_agent"] as const;

type Fields = Record<string, "string" | "string?" | "strings" | "strings?" | "pid?" | "count?" | "bool?">;
const SHAPES: Record<(typeof OPS)[number], Fields> = {
  start_call: {
    agent: "string?",
    tenant: "string?",
    tool: "string?",
    hints: "strings?",
    argv: "strings",
    path: "string?",
    pid: "pid?",
    label: "string?",
  },
  end_call: { call: "string" },
  declare_intent: { call: "string", hints: "strings" },
  status: {},
  usage: { agent: "string?", tenant: "string?" },
  apply_policy: { source: "string?", dir: "string?", name: "string?" },
  events: { since: "count?", follow: "bool?" },
  policy: {},
  register_agent: { agent: "string", tenant: "string?", pid: "pid?" },
};

const MAX_STRING = 64 * 1024;
const MAX_ITEMS = 4096;

/** Parses and validates one request line; throws ApiError with what is wrong. */
export function parseRequest(line: string): Request {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new ApiError("bad_json", `request is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new ApiError("bad_request", 'a request is a JSON object with an "op" field');
  const o = v as Record<string, unknown>;
  if (typeof o["op"] !== "string") throw new ApiError("bad_request", 'missing "op" (one of ' + OPS.join(", ") + ")");
  const op = o["op"];
  if (!(OPS as readonly string[]).includes(op))
    throw new ApiError("unknown_op", `unknown op "${op.slice(0, 64)}": ops are ${OPS.join(", ")}`);
  const id = o["id"];
  if (id !== undefined && typeof id !== "number" && typeof id !== "string")
    throw new ApiError("bad_request", '"id" must be a number or a string');
  const shape = SHAPES[op as (typeof OPS)[number]];
  for (const key of Object.keys(o)) {
    if (key !== "op" && key !== "id" && !Object.hasOwn(shape, key))
      throw new ApiError("bad_request", `${op}: unknown field "${key.slice(0, 64)}" (fields: ${Object.keys(shape).join(", ") || "none"})`);
  }
  for (const [key, kind] of Object.entries(shape)) {
    const val = o[key];
    const optional = kind.endsWith("?");
    if (val === undefined) {
      if (!optional) throw new ApiError("bad_request", `${op}: missing field "${key}"`);
      continue;
    }
    const base = kind.replace("?", "");
    if (base === "string" && (typeof val !== "string" || val.length > (key === "source" ? MAX_REQUEST_BYTES : MAX_STRING))) {
      throw new ApiError("bad_request", `${op}: "${key}" must be a string`);
    }
    if (base === "strings") {
      if (!Array.isArray(val) || val.length > MAX_ITEMS || !val.every((s) => typeof s === "string" && s.length <= MAX_STRING)) {
        throw new ApiError("bad_request", `${op}: "${key}" must be an array of strings`);
      }
      if (key === "argv" && val.length === 0) throw new ApiError("bad_request", `${op}: "argv" must name the command`);
    }
    if (base === "pid" && (!Number.isSafeInteger(val) || (val as number) <= 0))
      throw new ApiError("bad_request", `${op}: "pid" must be a positive integer`);
    if (base === "count" && (!Number.isSafeInteger(val) || (val as number) < 0))
      throw new ApiError("bad_request", `${op}: "${key}" must be a non-negative integer`);
    if (base === "bool" && typeof val !== "boolean") throw new ApiError("bad_request", `${op}: "${key}" must be true or false`);
  }
  if (op === "apply_policy" && (o["source"] === undefined) === (o["dir"] === undefined)) {
    throw new ApiError("bad_request", 'apply_policy: give exactly one of "source" (policy text) and "dir" (a compiled policy directory)');
  }
  return o as unknown as Request;
}

export function okResponse(id: Request["id"] | null, result: unknown): Response {
  return { id: id ?? null, ok: true, result };
}

export function errorResponse(id: Request["id"] | null, code: ErrorCode, message: string): Response {
  return { id: id ?? null, ok: false, error: { code, message } };
}
