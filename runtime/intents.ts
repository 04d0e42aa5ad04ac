// Intents: what an agent asks for its tool call (`--hint memory=2GiB`,
// `--hint class=build`, `--hint cpu.weight=200`), checked against its
// profile's bounds. Above a bound the request is clamped or refused, as the
// profile's `intent.excess` says; every decision is logged for the report.

import { PRIORITY_LEVELS, type AgentProfileIR, type PolicyIR, type PriorityLevel, type PriorityName } from "../compiler/ir.js";
import { formatBytes } from "../compiler/units.js";

export interface IntentRequest {
  memoryBytes?: number;
  className?: string;
  cpuWeight?: number;
  /** The agent's rank (0 high … 2 low). */
  rank?: PriorityLevel;
}

/** Hints parsed from `key=value` / bare words: intents plus the words the matcher sees. */
export interface ParsedHints {
  intent: IntentRequest;
  /** Values the `hint` match subject sees (`kind=` values and bare hints). */
  matchValues: string[];
}

export interface GrantedIntent {
  memoryBytes: number | null;
  classId: number | null;
  cpuWeight: number | null;
  /** A rank granted to the agent (it applies to the agent from this call on); absent in records of older acgds. */
  rank?: PriorityLevel | null;
  /** Human-readable decisions (clamps, ignored requests). */
  log: string[];
}

export class IntentError extends Error {}

const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/** Parses a size like `512MiB`, `2GiB`, `1.5GiB` or plain bytes. */
export function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?$/.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]) * SIZE_UNITS[m[2] ?? "B"]!;
  return Number.isSafeInteger(Math.floor(n)) ? Math.floor(n) : null;
}

/** Parses hint strings; throws IntentError with the offending hint on bad syntax. */
export function parseHints(hints: readonly string[]): ParsedHints {
  const out: ParsedHints = { intent: {}, matchValues: [] };
  for (const h of hints) {
    if (typeof h !== "string" || h.length === 0 || h.length > 256)
      throw new IntentError(`hint ${JSON.stringify(h)} is not valid: write KEY=VALUE or a word`);
    const eq = h.indexOf("=");
    if (eq < 0) {
      out.matchValues.push(h);
      continue;
    }
    const key = h.slice(0, eq);
    const value = h.slice(eq + 1);
    switch (key) {
      case "memory": {
        const bytes = parseSize(value);
        if (bytes === null || bytes <= 0)
          throw new IntentError(`hint memory=${value}: not a size; write e.g. memory=512MiB or memory=2GiB`);
        out.intent.memoryBytes = bytes;
        break;
      }
      case "class":
        out.intent.className = value;
        break;
      case "cpu.weight": {
        const w = Number(value);
        if (!Number.isInteger(w) || w < 1 || w > 10000)
          throw new IntentError(`hint cpu.weight=${value}: write a whole number from 1 to 10000`);
        out.intent.cpuWeight = w;
        break;
      }
      case "rank": {
        const level = PRIORITY_LEVELS.indexOf(value as PriorityName);
        if (level < 0) throw new IntentError(`hint rank=${value}: write rank=high, rank=normal or rank=low`);
        out.intent.rank = level as PriorityLevel;
        break;
      }
      case "kind":
        out.matchValues.push(value);
        break;
      default:
        throw new IntentError(
          `unknown hint '${key}=': hints are memory=SIZE, class=NAME, cpu.weight=N, rank=high|normal|low, kind=WORD or a bare word`,
        );
    }
  }
  return out;
}

/** Checks a request against the profile's bounds: clamps or throws IntentError (refuse). */
export function grantIntent(policy: PolicyIR, profile: AgentProfileIR, req: IntentRequest): GrantedIntent {
  const b = profile.intent;
  const refuse = b.excess === "refuse";
  const granted: GrantedIntent = { memoryBytes: null, classId: null, cpuWeight: null, log: [] };
  const deny = (msg: string, clampNote: string | null) => {
    if (refuse) throw new IntentError(`${msg} (intent.excess = refuse)`);
    granted.log.push(clampNote ?? `${msg}: ignored`);
  };

  if (req.memoryBytes !== undefined) {
    if (b.memoryMaxBytes === null) deny(`this agent may not ask for memory (its profile has no \`intent memory <= ...\`)`, null);
    else if (req.memoryBytes > b.memoryMaxBytes) {
      deny(
        `memory=${formatBytes(req.memoryBytes)} is above this agent's bound of ${formatBytes(b.memoryMaxBytes)}`,
        `memory=${formatBytes(req.memoryBytes)} clamped to the agent's bound ${formatBytes(b.memoryMaxBytes)}`,
      );
      granted.memoryBytes = b.memoryMaxBytes;
    } else granted.memoryBytes = req.memoryBytes;
  }

  if (req.className !== undefined) {
    const id = policy.classes.findIndex((c) => c.name === req.className);
    const allowed = b.classIds.map((i) => policy.classes[i]?.name).filter(Boolean);
    if (id < 0) deny(`class=${req.className}: the policy has no such class (it has ${policy.classes.map((c) => c.name).join(", ")})`, null);
    else if (!b.classIds.includes(id))
      deny(`class=${req.className} is not among the classes this agent may choose (${allowed.length ? allowed.join(", ") : "none"})`, null);
    else granted.classId = id;
  }

  if (req.cpuWeight !== undefined) {
    if (b.cpuWeightMax === null) deny(`this agent may not ask for cpu.weight`, null);
    else if (req.cpuWeight > b.cpuWeightMax) {
      deny(
        `cpu.weight=${req.cpuWeight} is above this agent's bound of ${b.cpuWeightMax}`,
        `cpu.weight=${req.cpuWeight} clamped to the agent's bound ${b.cpuWeightMax}`,
      );
      granted.cpuWeight = b.cpuWeightMax;
    } else granted.cpuWeight = req.cpuWeight;
  }

  if (req.rank !== undefined) {
    const name = PRIORITY_LEVELS[req.rank];
    if (b.rankMax === null) deny(`this agent may not ask for a rank (its profile has no \`intent rank <= ...\`)`, null);
    else if (req.rank < b.rankMax) {
      deny(
        `rank=${name} is above this agent's bound of ${PRIORITY_LEVELS[b.rankMax]}`,
        `rank=${name} clamped to the agent's bound ${PRIORITY_LEVELS[b.rankMax]}`,
      );
      granted.rank = b.rankMax;
    } else granted.rank = req.rank;
  }
  return granted;
}
