// Checks every `key = value` setting against the schema of its block: known keys,
// value types, units and ranges; records each accepted value in base units.

import type * as A from "../ast.js";
import { describeValue } from "../ast.js";
import type { CheckContext, Pass } from "../check.js";
import { M } from "../diagnostic-messages.js";
import { evaluate, describeKind, formatBytes, formatDuration, unitSuggestion, type UnitKind } from "../units.js";
import { closest } from "../suggest.js";
import type { BurstIR } from "../ir.js";

/** A `memory.burst` setting's value: already the IR's form (lowering copies it). */
export type BurstValue = BurstIR;

export type SettingValue = number | string | BurstValue;

type BlockKind = "host" | "class" | "tenant" | "agent" | "tool" | "ladder";

interface Spec {
  kind: UnitKind | "enum" | "burst";
  min?: number;
  max?: number;
  integer?: boolean;
  words?: readonly string[];
  /** An enum given as a list of its words (`ranks = [low, normal]`); the value is them joined by ','. */
  list?: boolean;
  /** Takes `for DURATION` (a ladder's freeze bound), checked by the pass that owns the block. */
  takesFor?: boolean;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const PiB = 1024 ** 5;
const size = (min = 0): Spec => ({ kind: "size", min, max: PiB });
const weight: Spec = { kind: "count", min: 1, max: 10000, integer: true };
/** Agents' and tenants' ranks use the words of class priorities, in the same order. */
export const RANK_WORDS = ["high", "normal", "low"] as const;
const RANK: Spec = { kind: "enum", words: RANK_WORDS };
/** A ladder's watermarks: shares of the domain's budget. */
const WATERMARK: Spec = { kind: "percent", min: 1, max: 100 };

/** What each block accepts. docs/language.md describes each key; keep the two in step. */
export const SCHEMAS: Record<BlockKind, Record<string, Spec>> = {
  host: { memory: size(64 * MiB), reserve: size() },
  class: {
    priority: { kind: "enum", words: ["high", "normal", "low"] },
    "cpu.weight": weight,
    latency: { kind: "duration", min: 100_000, max: 1e9 },
  },
  tenant: { "memory.guarantee": size(), "memory.limit": size(MiB), "cpu.weight": weight, rank: RANK },
  agent: {
    rank: RANK,
    "memory.guarantee": size(),
    "memory.limit": size(MiB),
    "cpu.weight": weight,
    max_agents: { kind: "count", min: 1, max: 65536, integer: true },
    max_calls: { kind: "count", min: 1, max: 4096, integer: true },
    "intent.excess": { kind: "enum", words: ["clamp", "refuse"] },
  },
  tool: {
    "memory.baseline": size(MiB),
    "memory.limit": size(MiB),
    "memory.guarantee": size(),
    "memory.min": size(),
    "memory.burst": { kind: "burst" },
  },
  ladder: {
    ranks: { kind: "enum", words: RANK_WORDS, list: true },
    withdraw_burst: WATERMARK,
    freeze: { ...WATERMARK, takesFor: true },
    kill: WATERMARK,
    kill_agent: WATERMARK,
    release: WATERMARK,
  },
};

/** Burst credit bounds: at least one PSI-scale tick, at most an hour. */
const BURST_MIN_NS = 10e6;
const BURST_MAX_NS = 3600e9;

export const settingsPass: Pass = {
  name: "settings",
  run(ctx) {
    const m = ctx.model;
    if (m.host) checkBlock(ctx, "host", m.host.body);
    for (const c of m.classes) checkBlock(ctx, "class", c.body);
    for (const t of m.tenants) {
      checkBlock(
        ctx,
        "tenant",
        t.body.filter((b): b is A.Setting => b.kind === "setting"),
      );
      for (const a of t.body) if (a.kind === "agent") checkAgent(ctx, a);
    }
    if (m.agent) checkAgent(ctx, m.agent);
    for (const tool of [...m.tools, ...(m.defaultTool ? [m.defaultTool] : [])]) {
      checkBlock(
        ctx,
        "tool",
        tool.body.filter((b): b is A.Setting => b.kind === "setting"),
      );
    }
    if (m.host && !m.host.body.some((s) => s.key.name === "memory")) {
      ctx.diags.report(M.HostMemoryMissing, { start: m.host.span.start, end: m.host.span.start + "host".length });
    }
  },
};

function checkAgent(ctx: CheckContext, agent: A.AgentBlock) {
  checkBlock(
    ctx,
    "agent",
    agent.body.filter((b): b is A.Setting => b.kind === "setting"),
  );
  const seen = new Map<string, A.IntentStmt>();
  for (const stmt of agent.body) {
    if (stmt.kind !== "intent") continue;
    const subject = stmt.subject.name;
    if (seen.has(subject)) {
      ctx.diags.report(M.IntentTwice, stmt.subject.span, { subject });
      continue;
    }
    seen.set(subject, stmt);
    checkIntent(ctx, stmt);
  }
}

function checkIntent(ctx: CheckContext, stmt: A.IntentStmt) {
  const d = ctx.diags;
  const subject = stmt.subject.name;
  if (subject === "memory" || subject === "cpu.weight") {
    if (stmt.op !== "<=") {
      d.report(M.IntentBoundOperator, stmt.span, { subject, example: subject === "memory" ? "4GiB" : "200" });
      return;
    }
    const v = numeric(ctx, stmt.value, subject === "memory" ? size(MiB) : weight, `intent ${subject}`);
    if (v !== undefined) ctx.intentValues.set(stmt, v);
  } else if (subject === "rank") {
    if (stmt.op !== "<=" || stmt.value.kind !== "word") {
      d.report(M.IntentRankForm, stmt.span);
      return;
    }
    const v = word(ctx, stmt.value, RANK, "intent rank");
    if (v !== undefined) ctx.intentValues.set(stmt, [v]);
  } else if (subject === "class") {
    if (stmt.op !== "in" || stmt.value.kind !== "list") {
      d.report(M.IntentClassForm, stmt.span);
      return;
    }
    const names: string[] = [];
    for (const item of stmt.value.items) {
      if (item.kind !== "word") d.report(M.ClassNameExpected, item.span, { found: describeValue(item) });
      else names.push(item.name);
    }
    ctx.intentValues.set(stmt, names);
  } else {
    const hint = closest(subject, ["memory", "cpu.weight", "class", "rank"]);
    d.report(M.UnknownIntentSubject, stmt.subject.span, hint ? { subject, help: "didYouMean", hint } : { subject, help: "known" });
  }
}

export function checkBlock(ctx: CheckContext, kind: BlockKind, settings: A.Setting[]) {
  const schema = SCHEMAS[kind];
  const seen = new Map<string, A.Setting>();
  for (const s of settings) {
    const key = s.key.name;
    const spec = schema[key];
    if (!spec) {
      const known = Object.keys(schema);
      const hint = closest(key, known);
      const args = { key, block: kind };
      ctx.diags.report(
        M.UnknownSetting,
        s.key.span,
        hint ? { ...args, help: "didYouMean", hint } : { ...args, help: "known", keys: known.join(", ") },
      );
      continue;
    }
    const prev = seen.get(key);
    if (prev) {
      ctx.diags.report(M.SettingTwice, s.key.span, { key }, prev.key.span);
      continue;
    }
    seen.set(key, s);
    if (spec.kind !== "burst") {
      for (const mod of s.modifiers) {
        if (spec.takesFor && mod.keyword === "for" && mod === s.modifiers[0]) continue;
        ctx.diags.report(M.ModifierNotApplicable, mod.span, { modifier: mod.keyword, key });
      }
    }
    const v =
      spec.kind === "burst"
        ? burst(ctx, s)
        : spec.kind === "enum"
          ? spec.list
            ? wordList(ctx, s.value, spec, key)
            : word(ctx, s.value, spec, key)
          : numeric(ctx, s.value, spec, key);
    if (v !== undefined) ctx.values.set(s, v);
  }
}

function wordList(ctx: CheckContext, v: A.Value, spec: Spec, key: string): string | undefined {
  if (v.kind !== "list" || v.items.length === 0) {
    ctx.diags.report(M.WordListExpected, v.span, { key, words: (spec.words ?? []).join(", "), found: describeValue(v) });
    return undefined;
  }
  const words = v.items.map((item) => word(ctx, item, spec, key));
  return words.every((w) => w !== undefined) ? words.join(",") : undefined;
}

function word(ctx: CheckContext, v: A.Value, spec: Spec, key: string): string | undefined {
  const words = spec.words ?? [];
  if (v.kind !== "word") {
    ctx.diags.report(M.WordExpected, v.span, { key, words: words.join(", "), found: describeValue(v) });
    return undefined;
  }
  if (!words.includes(v.name)) {
    const hint = closest(v.name, words);
    const args = { word: v.name, key, words: words.join(", ") };
    ctx.diags.report(M.NotAllowedWord, v.span, hint ? { ...args, help: "didYouMean", hint } : { ...args, help: "allowed" });
    return undefined;
  }
  return v.name;
}

/** Validates a quantity against a spec and returns it in base units. */
export function numeric(ctx: CheckContext, v: A.Value, spec: Spec, what: string): number | undefined {
  const d = ctx.diags;
  const expected = spec.kind as UnitKind;
  if (v.kind !== "quantity") {
    const help = v.kind === "word" && expected === "size" ? "sizeWithUnit" : undefined;
    d.report(M.WrongKind, v.span, { what, expected: describeKind(expected), found: describeValue(v), help });
    return undefined;
  }
  const r = evaluate(v);
  if (!r.ok) {
    if (r.problem === "too large") d.report(M.NumberTooLarge, v.span, { quantity: v.number + v.unit });
    else {
      const suggestion = unitSuggestion(v);
      d.report(M.UnknownUnit, v.span, suggestion ? { unit: v.unit, help: "suggest", suggestion } : { unit: v.unit, help: "list" });
    }
    return undefined;
  }
  if (r.kind !== expected) {
    const args = { what, expected: describeKind(expected), found: describeKind(r.kind) };
    if (expected === "size" && r.kind === "count") d.report(M.WrongKind, v.span, { ...args, help: "addSizeUnit", number: v.number });
    else if (expected === "duration" && r.kind === "count")
      d.report(M.WrongKind, v.span, { ...args, help: "addDurationUnit", number: v.number });
    else d.report(M.WrongKind, v.span, { ...args, help: expected === "count" ? "dropUnit" : undefined });
    return undefined;
  }
  if (r.value < 0 || v.number.startsWith("-")) {
    d.report(M.Negative, v.span, { what });
    return undefined;
  }
  if (spec.integer && !Number.isInteger(r.value)) {
    d.report(M.NotWholeNumber, v.span, { what });
    return undefined;
  }
  const show = (n: number) =>
    expected === "size" ? formatBytes(n) : expected === "duration" ? formatDuration(n) : expected === "percent" ? `${n}%` : String(n);
  if ((spec.min !== undefined && r.value < spec.min) || (spec.max !== undefined && r.value > spec.max)) {
    const args = { quantity: v.number + v.unit, what, min: show(spec.min ?? 0) };
    // Every size is capped at 1 PiB, a bound no policy means: its help names the minimum alone.
    d.report(
      M.OutOfRange,
      v.span,
      spec.max === PiB ? { ...args, help: "atLeast" } : { ...args, help: "between", max: show(spec.max ?? 0) },
    );
    return undefined;
  }
  return r.value;
}

function burst(ctx: CheckContext, s: A.Setting): BurstValue | undefined {
  const d = ctx.diags;
  const bytes = numeric(ctx, s.value, size(MiB), "memory.burst");
  let durationNs: number | undefined;
  let mode: BurstValue["mode"] | undefined;
  let refillNs: number | undefined;
  let ok = bytes !== undefined;
  const durSpec: Spec = { kind: "duration", min: BURST_MIN_NS, max: BURST_MAX_NS };
  for (const mod of s.modifiers) {
    if (mod.keyword === "for") {
      if (durationNs !== undefined) {
        d.report(M.BurstDurationTwice, mod.span);
        ok = false;
        continue;
      }
      durationNs = numeric(ctx, mod.value, durSpec, "memory.burst ... for");
      ok &&= durationNs !== undefined;
    } else {
      if (mode !== undefined) {
        d.report(M.BurstModeTwice, mod.span);
        ok = false;
        continue;
      }
      mode = mod.keyword;
      refillNs = numeric(ctx, mod.value, durSpec, `memory.burst ... ${mod.keyword}`);
      ok &&= refillNs !== undefined;
    }
  }
  if (durationNs === undefined && ok) {
    d.report(M.BurstWithoutDuration, s.value.span, { size: s.value.kind === "quantity" ? s.value.number + s.value.unit : "1GiB" });
    return undefined;
  }
  if (!ok || bytes === undefined || durationNs === undefined) return undefined;
  // Without a stated refill, credit comes back over twice the burst: a tool call
  // cannot stay in burst more than a third of the time.
  return { bytes, durationNs, mode: mode ?? "refill", refillNs: refillNs ?? 2 * durationNs };
}
