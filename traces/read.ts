// Agent resource traces: loading, joining tool calls with memory samples, and
// per-tool-call memory curves.
//
// A trace folder holds one sub-folder per run (flat: `TASK/`) or one per
// task with a sub-folder per attempt (nested: `TASK/attempt_N/`), each run
// with `resources.json` (container
// memory sampled about once a second; `epoch` is Unix seconds), `tool_calls.json`
// (UTC ISO start/end of every tool call) and `results.json`. See
// shared/traces/README.md. Nothing here copies the data: it is read where it lies.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** Where the shipped traces live, relative to the repository (shared/ beside the work tree). */
export function defaultTraceDir(): string {
  if (process.env["ACG_TRACES"]) return process.env["ACG_TRACES"];
  // dist/traces/read.js or traces/read.ts -> the repository root -> ../shared/...
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; dir !== "/"; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "..", "shared", "traces"))) {
      return join(dir, "..", "shared", "traces", "swe-rebench-haiku");
    }
  }
  return "/work/shared/traces/swe-rebench-haiku";
}

export interface MemSample {
  /** Unix seconds. */
  t: number;
  /** Container memory in use, bytes. */
  bytes: number;
  /** CPU percent (may exceed 100), NaN if unreadable. */
  cpu: number;
}

export interface ToolCall {
  index: number;
  id: string;
  tool: string;
  /** Unix seconds. */
  start: number;
  /** Unix seconds; equals start + missingEndSeconds when the trace has no end. */
  end: number;
  endMissing: boolean;
  /** For Bash: the shell command. */
  command: string | null;
  /** Command family for Bash calls (`pytest`, `git`, ...); the tool name otherwise. */
  family: string;
}

export interface Run {
  name: string;
  dir: string;
  samples: MemSample[];
  calls: ToolCall[];
  /** results.json, parsed, if present and valid. */
  results: Record<string, unknown> | null;
}

export interface LoadResult {
  runs: Run[];
  /** One line per run or file skipped, with the reason. */
  warnings: string[];
}

/** Tool calls without an end time are taken to last this long. */
export const MISSING_END_SECONDS = 1;

const UNIT: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/**
 * Parses a size as written by `podman stats` ("185.5MB", "1.2GB", "512kB",
 * "0B"); podman prints SI units (1 MB = 10^6 bytes). Returns null if unreadable.
 */
export function parseSize(text: string): number | null {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return null;
  const unit = (m[2] ?? "").toLowerCase() || "b";
  const mult = UNIT[unit];
  if (mult === undefined) return null;
  return Number(m[1]) * mult;
}

/** The "used" half of a `mem_usage` string such as "185.5MB / 134.5GB". */
export function parseMemUsage(text: unknown): number | null {
  if (typeof text === "number" && Number.isFinite(text)) return text;
  if (typeof text !== "string") return null;
  const used = text.split("/")[0];
  return used === undefined ? null : parseSize(used);
}

export function parseIsoUtc(text: unknown): number | null {
  if (typeof text !== "string") return null;
  // Only absolute times: a zone (Z or +hh:mm) is required, local times are ambiguous.
  if (!/(Z|[+-]\d\d:?\d\d)$/.test(text.trim())) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms / 1000 : null;
}

const PY_RE = /^python(\d+(\.\d+)?)?$/;
const WRAPPERS = new Set(["time", "sudo", "nohup", "nice", "ionice", "exec", "command", "env", "stdbuf", "xvfb-run"]);

/**
 * The command family of a Bash command: its first program, past `cd X &&`,
 * `source X &&` / `. X &&`, `export A=B &&`, environment assignments,
 * `timeout N` and other wrappers; `python -m M` gives M; a path gives its
 * basename. "" for an empty command.
 */
export function commandFamily(command: string): string {
  const words = mainCommand(command);
  if (words === null) return "";
  const base = words[0]!.replace(/^.*\//, "");
  if (PY_RE.test(base)) {
    const m = words.indexOf("-m", 1);
    if (m >= 0 && words[m + 1] !== undefined) return words[m + 1]!;
    return "python";
  }
  if (base === "pip3") return "pip";
  return base;
}

/**
 * The words of a Bash command's first meaningful simple command (split on
 * && || ; | and newlines), from its program on: past the shell set-up and
 * wrappers {@link commandFamily} skips. null when there is none.
 */
export function mainCommand(command: string): string[] | null {
  for (const part of command.split(/&&|\|\||;|\n|\|/)) {
    const words = programWords(part);
    if (words !== null) return words;
  }
  return null;
}

/** null when the simple command only sets up the shell (cd, source, export, assignment). */
function programWords(part: string): string[] | null {
  const words = tokenize(part);
  let i = 0;
  while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!)) i++;
  while (i < words.length) {
    const w = words[i]!;
    if (w === "timeout") {
      i++;
      while (i < words.length && words[i]!.startsWith("-")) {
        // -s SIG, -k DUR, --signal SIG, --kill-after DUR take a value
        if (/^(-s|-k|--signal|--kill-after)$/.test(words[i]!)) i++;
        i++;
      }
      i++; // the duration
      continue;
    }
    if (WRAPPERS.has(w)) {
      i++;
      while (i < words.length && (words[i]!.startsWith("-") || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!))) i++;
      continue;
    }
    break;
  }
  const first = words[i];
  if (first === undefined) return null;
  if (
    first === "cd" ||
    first === "source" ||
    first === "." ||
    first === "export" ||
    first === "set" ||
    first === "pushd" ||
    first === "popd"
  )
    return null;
  return words.slice(i);
}

/** Shell-ish word split: whitespace, single and double quotes (no expansion). */
export function tokenize(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let has = false;
  let q: string | null = null;
  for (const ch of s) {
    if (q) {
      if (ch === q) q = null;
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      q = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += ch;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

function readJson(path: string): { ok: true; value: unknown } | { ok: false; error: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return { ok: false, error: `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: `not valid JSON (${e instanceof Error ? e.message : String(e)})` };
  }
}

/** Parses resources.json content; samples sorted by time, unreadable ones dropped (counted). */
export function parseResources(value: unknown): { samples: MemSample[]; dropped: number } | string {
  const list = Array.isArray(value) ? value : (value as { samples?: unknown } | null)?.samples;
  if (!Array.isArray(list)) return "no `samples` list";
  const samples: MemSample[] = [];
  let dropped = 0;
  for (const s of list) {
    const o = s as Record<string, unknown> | null;
    const t = typeof o?.["epoch"] === "number" ? o["epoch"] : NaN;
    const bytes = parseMemUsage(o?.["mem_usage"]);
    if (!Number.isFinite(t) || bytes === null) {
      dropped++;
      continue;
    }
    const cpu =
      typeof o?.["cpu_percent"] === "string"
        ? parseFloat(o["cpu_percent"])
        : typeof o?.["cpu_percent"] === "number"
          ? o["cpu_percent"]
          : NaN;
    samples.push({ t, bytes, cpu });
  }
  samples.sort((a, b) => a.t - b.t);
  return { samples, dropped };
}

/** Parses tool_calls.json content; calls without a readable start are dropped (counted). */
export function parseToolCalls(value: unknown): { calls: ToolCall[]; dropped: number } | string {
  if (!Array.isArray(value)) return "not a list of tool calls";
  const calls: ToolCall[] = [];
  let dropped = 0;
  value.forEach((c, index) => {
    const o = c as Record<string, unknown> | null;
    const start = parseIsoUtc(o?.["timestamp"]);
    const tool = typeof o?.["tool"] === "string" ? o["tool"] : null;
    if (start === null || tool === null) {
      dropped++;
      return;
    }
    let end = parseIsoUtc(o?.["end_timestamp"]);
    const endMissing = end === null || end < start;
    if (endMissing) end = start + MISSING_END_SECONDS;
    const input = o?.["input"] as Record<string, unknown> | undefined;
    const command = tool === "Bash" && typeof input?.["command"] === "string" ? input["command"] : null;
    const family = command !== null ? commandFamily(command) || "bash" : tool;
    calls.push({ index, id: typeof o?.["id"] === "string" ? o["id"] : `#${index}`, tool, start, end: end!, endMissing, command, family });
  });
  calls.sort((a, b) => a.start - b.start);
  return { calls, dropped };
}

const FOLDER_PROBLEM: Record<string, string> = {
  ENOENT: "it does not exist",
  ENOTDIR: "it is not a folder",
  EACCES: "permission denied",
};

/** The trace folder itself cannot be listed (as against a run inside it that is unusable). */
export class TraceFolderError extends Error {
  constructor(
    readonly folder: string,
    readonly code: string,
  ) {
    super(`cannot read trace folder ${folder}: ${FOLDER_PROBLEM[code] ? `${FOLDER_PROBLEM[code]} (${code})` : code}`);
    this.name = "TraceFolderError";
  }
}

/** The files that make a folder a run. */
const RUN_FILES = ["resources.json", "tool_calls.json", "results.json"];

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/**
 * The runs of a trace folder, named by their path below it: a sub-folder
 * holding any run file is a run (`TASK`); one holding none is a task whose
 * sub-folders are its runs (`TASK/attempt_1`). Both layouts may mix.
 */
export function runFolders(root: string): { name: string; dir: string }[] {
  const out: { name: string; dir: string }[] = [];
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    if (!isDir(dir)) continue;
    if (RUN_FILES.some((f) => existsSync(join(dir, f)))) {
      out.push({ name, dir });
      continue;
    }
    let attempts: string[] = [];
    try {
      attempts = readdirSync(dir)
        .sort()
        .filter((a) => isDir(join(dir, a)));
    } catch {
      // an unreadable task folder is reported as a run without resources.json
    }
    if (attempts.length === 0) out.push({ name, dir });
    for (const a of attempts) out.push({ name: `${name}/${a}`, dir: join(dir, a) });
  }
  return out;
}

/**
 * Loads every run of a trace folder (flat or nested, see {@link runFolders}). A run without a usable resources.json is
 * skipped with a warning; a run without tool_calls.json is kept with no calls
 * only if `allowNoCalls` (it still has a memory curve). Throws TraceFolderError
 * when the folder itself cannot be listed.
 */
export function loadTraces(dir: string, opts: { allowNoCalls?: boolean } = {}): LoadResult {
  const warnings: string[] = [];
  const runs: Run[] = [];
  const root = resolve(dir);
  let folders: { name: string; dir: string }[];
  try {
    folders = runFolders(root);
  } catch (e) {
    throw new TraceFolderError(root, (e as NodeJS.ErrnoException).code ?? String(e));
  }
  for (const { name, dir: runDir } of folders) {
    const resPath = join(runDir, "resources.json");
    if (!existsSync(resPath)) {
      warnings.push(`${name}: skipped: no resources.json`);
      continue;
    }
    const res = readJson(resPath);
    if (!res.ok) {
      warnings.push(`${name}: skipped: resources.json ${res.error}`);
      continue;
    }
    const parsed = parseResources(res.value);
    if (typeof parsed === "string") {
      warnings.push(`${name}: skipped: resources.json: ${parsed}`);
      continue;
    }
    if (parsed.samples.length < 2) {
      warnings.push(`${name}: skipped: resources.json has ${parsed.samples.length} usable sample(s)`);
      continue;
    }
    if (parsed.dropped > 0) warnings.push(`${name}: ${parsed.dropped} unreadable sample(s) ignored`);
    let calls: ToolCall[] = [];
    const tcPath = join(runDir, "tool_calls.json");
    if (!existsSync(tcPath)) {
      if (!opts.allowNoCalls) {
        warnings.push(`${name}: skipped: no tool_calls.json`);
        continue;
      }
    } else {
      const tc = readJson(tcPath);
      const ptc = tc.ok ? parseToolCalls(tc.value) : tc.error;
      if (typeof ptc === "string") {
        if (!opts.allowNoCalls) {
          warnings.push(`${name}: skipped: tool_calls.json ${ptc}`);
          continue;
        }
        warnings.push(`${name}: tool_calls.json ${ptc}; kept without tool calls`);
      } else {
        calls = ptc.calls;
        if (ptc.dropped > 0) warnings.push(`${name}: ${ptc.dropped} tool call(s) without a readable start or tool ignored`);
      }
    }
    let results: Record<string, unknown> | null = null;
    const rPath = join(runDir, "results.json");
    if (existsSync(rPath)) {
      const r = readJson(rPath);
      if (r.ok && r.value && typeof r.value === "object") results = r.value as Record<string, unknown>;
      else warnings.push(`${name}: results.json ignored: ${r.ok ? "not an object" : r.error}`);
    }
    runs.push({ name, dir: runDir, samples: parsed.samples, calls, results });
  }
  return { runs, warnings };
}

// ---------------------------------------------------------------------------
// Per-tool-call memory curves

export interface CurvePoint {
  /** Seconds from the tool call's start. */
  dt: number;
  /** Bytes above the agent's baseline before the call (never negative). */
  bytes: number;
}

export interface CallCurve {
  call: ToolCall;
  /** The agent's memory just before the call (last sample before its start). */
  baselineBytes: number;
  /** Samples inside [start, end]; when none, the first sample after the start within one sample period ("nearest"). */
  points: CurvePoint[];
  sampling: "inside" | "nearest" | "none";
  peakBytes: number;
  avgBytes: number;
  durationS: number;
}

/** Index of the first sample with t >= x (samples sorted). */
export function lowerBound(samples: readonly MemSample[], x: number): number {
  let lo = 0;
  let hi = samples.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (samples[mid]!.t < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function medianInterval(samples: readonly MemSample[]): number {
  const d: number[] = [];
  for (let i = 1; i < samples.length; i++) d.push(samples[i]!.t - samples[i - 1]!.t);
  return d.length ? quantile(d, 0.5) : 1;
}

export function callCurve(samples: readonly MemSample[], call: ToolCall, period = medianInterval(samples)): CallCurve {
  const i0 = lowerBound(samples, call.start);
  const before = i0 > 0 ? samples[i0 - 1]! : samples[0];
  const baselineBytes = before ? before.bytes : 0;
  const points: CurvePoint[] = [];
  let i = i0;
  for (; i < samples.length && samples[i]!.t <= call.end; i++) {
    points.push({ dt: samples[i]!.t - call.start, bytes: Math.max(0, samples[i]!.bytes - baselineBytes) });
  }
  let sampling: CallCurve["sampling"] = "inside";
  if (points.length === 0) {
    const s = samples[i0];
    if (s && s.t - call.end <= period) {
      points.push({ dt: s.t - call.start, bytes: Math.max(0, s.bytes - baselineBytes) });
      sampling = "nearest";
    } else sampling = "none";
  }
  const peakBytes = points.reduce((m, p) => Math.max(m, p.bytes), 0);
  const avgBytes = points.length ? points.reduce((s, p) => s + p.bytes, 0) / points.length : 0;
  return { call, baselineBytes, points, sampling, peakBytes, avgBytes, durationS: call.end - call.start };
}

export function runCurves(run: Run): CallCurve[] {
  const period = medianInterval(run.samples);
  return run.calls.map((c) => callCurve(run.samples, c, period));
}

// ---------------------------------------------------------------------------
// Small statistics

/** Linear-interpolated quantile (q in [0,1]); NaN for no data. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}
