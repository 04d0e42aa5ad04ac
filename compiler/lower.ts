// Pass 4: checked AST → IR. Resolves names to ids, units to numbers, fills
// defaults, and splits each matcher into what the kernel can decide and what
// needs user space.

import { createHash } from "node:crypto";
import type * as A from "./ast.js";
import type { CheckedPolicy } from "./check.js";
import * as IR from "./ir.js";
import { isKernelGlob } from "./matcher-logic.js";
import { agentBlocksOf, burstOf, numberOf, settingOf, wordOf } from "./passes/values.js";
import { DEFAULT_RELEASE_GAP, LADDER_STEPS } from "./passes/ladder.js";
import { evaluate } from "./units.js";

export const DEFAULT_CPU_WEIGHT = 100;
/** Tool calls one agent may run at once when its profile does not say (`max_calls`). */
export const DEFAULT_MAX_CALLS = 64;
export const DEFAULT_SLICE_NS = 20e6;
export const DEFAULT_OVER_HIGH: IR.OverHighIR = { delayMinMs: 10, delayMaxMs: 1000, rampNs: 10e9, killAfterNs: null };
/** Longest exe/path pattern the kernel classifier stores (bytes, without the NUL). */
export const KERNEL_PATTERN_MAX = 63;

export function lowerPolicy(c: CheckedPolicy): IR.PolicyIR {
  const m = c.model;
  const v = c.values;
  const classes: IR.ClassIR[] = m.classes.map((cls, id) => ({
    id,
    name: cls.name.name,
    priority: IR.PRIORITY_LEVELS.indexOf((wordOf(v, cls.body, "priority") ?? "normal") as IR.PriorityName) as IR.PriorityLevel,
    cpuWeight: numberOf(v, cls.body, "cpu.weight") ?? DEFAULT_CPU_WEIGHT,
    sliceNs: numberOf(v, cls.body, "latency") ?? DEFAULT_SLICE_NS,
  }));
  const classId = (name: string) => classes.findIndex((k) => k.name === name);
  const classMask = (ids: A.Ident[]) => ids.reduce((mask, i) => mask | (1 << classId(i.name)), 0);

  const patterns: IR.ExePatternIR[] = [];
  const patternIds = new Map<string, number>();
  const patternIndex = (subject: "exe" | "path", kind: "exact" | "glob", text: string): number => {
    const key = `${subject}\u0000${kind}\u0000${text}`;
    let index = patternIds.get(key);
    if (index === undefined) {
      index = patterns.length;
      patterns.push({ index, subject, kind, text });
      patternIds.set(key, index);
    }
    return index;
  };

  const defaultTool = m.defaultTool!;
  const defaultClass = classId(classRefOf(defaultTool)!);
  const rules: IR.RuleIR[] = [...m.tools, defaultTool].map((tool, id) => {
    const matchStmt = tool.body.find((s): s is A.MatchStmt => s.kind === "match");
    const ref = classRefOf(tool);
    const kernelMatch = matchStmt ? kernelProgram(matchStmt.expr, patternIndex) : [{ op: "true" as const }];
    return {
      id,
      name: tool.name.name,
      classId: ref ? classId(ref) : defaultClass,
      memory: lowerMemory(c, tool),
      match: matchStmt ? lowerExpr(matchStmt.expr) : { kind: "true" },
      kernelMatch,
      kernelDecidable: !kernelMatch.some((o) => o.op === "unknown"),
    };
  });

  const tenants: IR.TenantIR[] = m.tenants.map((t, id) => ({
    id,
    name: t.name.name,
    guaranteeBytes: numberOf(v, t.body, "memory.guarantee") ?? 0,
    limitBytes: numberOf(v, t.body, "memory.limit") ?? null,
    cpuWeight: numberOf(v, t.body, "cpu.weight") ?? DEFAULT_CPU_WEIGHT,
    rank: rankLevel(wordOf(v, t.body, "rank")),
  }));

  const blocks = agentBlocksOf(m);
  const top = blocks.find((b) => !b.tenant)?.agent;
  const profile = (agent: A.AgentBlock | undefined, tenantId: number | null, id: number): IR.AgentProfileIR => {
    const body = agent?.body ?? [];
    const intent = (subject: string) => body.find((s): s is A.IntentStmt => s.kind === "intent" && s.subject.name === subject);
    const bound = (subject: string) => {
      const s = intent(subject);
      const val = s ? c.intentValues.get(s) : undefined;
      return typeof val === "number" ? val : null;
    };
    const classNames = (() => {
      const s = intent("class");
      const val = s ? c.intentValues.get(s) : undefined;
      return Array.isArray(val) ? val : [];
    })();
    return {
      id,
      tenantId,
      guaranteeBytes: numberOf(v, body, "memory.guarantee") ?? 0,
      limitBytes: numberOf(v, body, "memory.limit") ?? null,
      cpuWeight: numberOf(v, body, "cpu.weight") ?? DEFAULT_CPU_WEIGHT,
      maxAgents: numberOf(v, body, "max_agents") ?? 1,
      maxCalls: numberOf(v, body, "max_calls") ?? DEFAULT_MAX_CALLS,
      // Without a rank of its own, a tenant's agent has its tenant's.
      rank:
        wordOf(v, body, "rank") !== undefined
          ? rankLevel(wordOf(v, body, "rank"))
          : tenantId !== null
            ? tenants[tenantId]!.rank
            : rankLevel(undefined),
      ownClassId: (() => {
        const own = body.find((s): s is A.ClassRef => s.kind === "classref");
        return own ? classId(own.name.name) : null;
      })(),
      intent: {
        memoryMaxBytes: bound("memory"),
        cpuWeightMax: bound("cpu.weight"),
        classIds: classNames.map(classId),
        rankMax: (() => {
          const s = intent("rank");
          const val = s ? c.intentValues.get(s) : undefined;
          return Array.isArray(val) ? rankLevel(val[0]) : null;
        })(),
        excess: (wordOf(v, body, "intent.excess") ?? "clamp") as "clamp" | "refuse",
      },
    };
  };
  const agentProfiles: IR.AgentProfileIR[] = [profile(top, null, 0)];
  m.tenants.forEach((t, tid) => {
    const own = t.body.find((b): b is A.AgentBlock => b.kind === "agent");
    // A tenant without its own agent block gives its agents the top-level profile.
    agentProfiles.push(profile(own ?? top, tid, agentProfiles.length));
  });

  const pressureRules: IR.PressureRuleIR[] = m.whens.map((w, id) => ({
    id,
    scope: lowerScope(w.scope),
    psi: w.metric.name === "memory.pressure.full" ? "full" : "some",
    thresholdPercent: quantity(w.threshold),
    windowNs: quantity(w.window),
    protectClassMask: w.actions
      .filter((a): a is A.ProtectAction => a.kind === "protect")
      .reduce((mask, a) => mask | classMask(a.classes), 0),
    throttle: w.actions
      .filter((a): a is A.ThrottleAction => a.kind === "throttle")
      .map((a) => ({ classMask: classMask(a.classes), delayMs: quantity(a.delay) / 1e6 })),
  }));

  const ladders: IR.LadderIR[] = m.ladders.map((l, id) => {
    const percent = (key: string) => numberOf(v, l.body, key) ?? null;
    const steps = LADDER_STEPS.map(percent).filter((p): p is number => p !== null);
    const freezeBound = settingOf(l.body, "freeze")?.modifiers.find((mod) => mod.keyword === "for");
    const ranks = (wordOf(v, l.body, "ranks") ?? "normal,low").split(",");
    return {
      id,
      scope: lowerScope(l.scope),
      rankMask: ranks.reduce((mask, r) => mask | (1 << rankLevel(r)), 0),
      withdrawBurstPercent: percent("withdraw_burst"),
      freezePercent: percent("freeze"),
      freezeMaxNs: freezeBound ? quantity(freezeBound.value) : null,
      killPercent: percent("kill"),
      killAgentPercent: percent("kill_agent"),
      releasePercent: percent("release") ?? Math.max(1, Math.min(...steps) - DEFAULT_RELEASE_GAP),
    };
  });

  return {
    irVersion: IR.IR_VERSION,
    name: m.policy.name.name,
    sourceHash: createHash("sha256").update(c.source.text).digest("hex"),
    host: { memoryBytes: numberOf(v, m.host!.body, "memory")!, reserveBytes: numberOf(v, m.host!.body, "reserve") ?? 0 },
    classes,
    rules,
    defaultRuleId: rules.length - 1,
    exePatterns: patterns,
    tenants,
    agentProfiles,
    pressureRules,
    ladders,
  };

  function lowerScope(scope: A.PressureScope): IR.PressureRuleIR["scope"] {
    return scope.kind === "tenant"
      ? { kind: "tenant", tenantId: scope.name ? tenants.findIndex((t) => t.name === scope.name!.name) : null }
      : { kind: scope.kind };
  }
}

function rankLevel(word: string | undefined): IR.PriorityLevel {
  return IR.PRIORITY_LEVELS.indexOf((word ?? "normal") as IR.PriorityName) as IR.PriorityLevel;
}

function classRefOf(tool: A.ToolBlock): string | undefined {
  return tool.body.find((s): s is A.ClassRef => s.kind === "classref")?.name.name;
}

/** A value the checker already accepted. */
function quantity(v: A.Value): number {
  const r = v.kind === "quantity" ? evaluate(v) : undefined;
  if (!r || !r.ok) throw new Error("lowering reached an unchecked quantity");
  return r.value;
}

function lowerMemory(c: CheckedPolicy, tool: A.ToolBlock): IR.MemoryIR {
  const v = c.values;
  const burst = burstOf(v, tool.body);
  const over = tool.body.find((s): s is A.OverHighStmt => s.kind === "over_high");
  const overHigh: IR.OverHighIR = { ...DEFAULT_OVER_HIGH };
  for (const a of over?.actions ?? []) {
    if (a.kind === "kill") overHigh.killAfterNs = a.after ? quantity(a.after) : 0;
    else if (a.range.kind === "range") {
      overHigh.delayMinMs = quantity(a.range.lo) / 1e6;
      overHigh.delayMaxMs = quantity(a.range.hi) / 1e6;
      if (a.ramp) overHigh.rampNs = quantity(a.ramp);
    }
  }
  return {
    baselineBytes: numberOf(v, tool.body, "memory.baseline") ?? null,
    limitBytes: numberOf(v, tool.body, "memory.limit") ?? null,
    lowBytes: numberOf(v, tool.body, "memory.guarantee") ?? 0,
    minBytes: numberOf(v, tool.body, "memory.min") ?? 0,
    burst: burst ? { ...burst } : null,
    overHigh,
  };
}

export function lowerExpr(e: A.Expr): IR.MatchIR {
  switch (e.kind) {
    case "or":
      return { kind: "or", items: e.items.map(lowerExpr) };
    case "and":
      return { kind: "and", items: e.items.map(lowerExpr) };
    case "not":
      return { kind: "not", item: lowerExpr(e.item) };
    case "group":
      return lowerExpr(e.item);
    case "pred": {
      const subject = e.subject.name as IR.MatchSubject;
      const v = e.value;
      const strings = v.kind === "list" ? v.items.map((i) => (i as A.Str).value) : v.kind === "string" ? [v.value] : [];
      switch (e.op) {
        case "==":
          return { kind: "pred", subject, op: "eq", value: strings[0]! };
        case "!=":
          return { kind: "not", item: { kind: "pred", subject, op: "eq", value: strings[0]! } };
        case "in":
          return anyOf(strings.map((value) => ({ kind: "pred", subject, op: "eq", value })));
        case "matches":
          return anyOf(strings.map((pattern) => ({ kind: "pred", subject, op: "glob", pattern })));
        case "~": {
          const r = v as A.Regex;
          return { kind: "pred", subject, op: "regex", source: r.source, flags: r.flags };
        }
      }
    }
  }
}

function anyOf(items: IR.MatchIR[]): IR.MatchIR {
  return items.length === 1 ? items[0]! : { kind: "or", items };
}

/** Postfix program over Kleene logic; predicates the kernel cannot see are "unknown". */
function kernelProgram(e: A.Expr, patternIndex: (s: "exe" | "path", k: "exact" | "glob", t: string) => number): IR.KernelOp[] {
  const out: IR.KernelOp[] = [];
  const emit = (m: IR.MatchIR) => {
    switch (m.kind) {
      case "true":
        out.push({ op: "true" });
        return;
      case "and":
      case "or":
        m.items.forEach((item, i) => {
          emit(item);
          if (i > 0) out.push({ op: m.kind });
        });
        return;
      case "not":
        emit(m.item);
        out.push({ op: "not" });
        return;
      case "pred": {
        if (m.subject !== "exe" && m.subject !== "path") return void out.push({ op: "unknown" });
        const literal = m.op === "eq" ? m.value : m.op === "glob" ? m.pattern : anchoredLiteral(m.source, m.flags);
        const kind = m.op === "glob" ? "glob" : "exact";
        const ok = literal !== undefined && Buffer.byteLength(literal) <= KERNEL_PATTERN_MAX && (kind === "exact" || isKernelGlob(literal));
        out.push(ok ? { op: "pattern", index: patternIndex(m.subject, kind, literal) } : { op: "unknown" });
      }
    }
  };
  emit(lowerExpr(e));
  return out;
}

/** `/^git$/` is an exact comparison the kernel can do; other regexes need user space. */
export function anchoredLiteral(source: string, flags: string): string | undefined {
  if (flags !== "") return undefined;
  const m = /^\^((?:[^\\.*+?()[\]{}|^$]|\\[.*+?()[\]{}|^$/\\-])*)\$$/.exec(source);
  return m ? m[1]!.replace(/\\(.)/g, "$1") : undefined;
}
