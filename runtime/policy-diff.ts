// `acgc diff OLD NEW` and `acgc apply --dry-run`: what changes between two
// policies, setting by setting, and how acgd would swap it in. The swap kind
// is decided as acgd decides it (runtime/swap-kind.ts): a policy that fits
// the running objects' capacities and code features is a data swap (map
// writes into the running scheduler), or a classifier swap when its exe/path
// matchers differ; otherwise the objects are replaced. For a compiled
// directory the running side's code features are read from its manifest.json
// (its data/code split), not recomputed.

import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { codeFeatures } from "../compiler/emit-c.js";
import type { MatchIR, PolicyIR, PressureRuleIR } from "../compiler/ir.js";
import type { Manifest } from "../compiler/manifest.js";
import { formatBytes, formatDuration } from "../compiler/units.js";
import { loadPolicyFrom } from "./policy-source.js";
import { swapKind, type SwapKind } from "./swap-kind.js";

export interface SettingChange {
  /** What changed: "class build", "rule tests", "agent (tenant strict)", "host", ... */
  what: string;
  /** The setting, or "" when the whole entity was added or removed. */
  setting: string;
  old: string | null;
  new: string | null;
}

export interface SwapPlan {
  /**
   * "data": written into the running scheduler's maps; "classifier": a new exec
   * classifier program beside the running scheduler, and the data written;
   * "objects": new BPF objects replace the running ones.
   */
  kind: "data" | "classifier" | "objects";
  why: string;
}

export interface PolicyDiff {
  old: { name: string; sourceHash: string; compiled: boolean };
  new: { name: string; sourceHash: string; compiled: boolean };
  changes: SettingChange[];
  swap: SwapPlan;
  /** What a running acgd would do with NEW given as it is (a .acg file cannot bring new objects). */
  apply: string;
}

const size = (b: number | null) => (b === null ? "unlimited" : formatBytes(b));

function matchText(m: MatchIR): string {
  switch (m.kind) {
    case "true":
      return "any";
    case "and":
    case "or":
      return `(${m.items.map(matchText).join(` ${m.kind} `)})`;
    case "not":
      return `not ${matchText(m.item)}`;
    case "pred":
      return m.op === "eq"
        ? `${m.subject} == ${JSON.stringify(m.value)}`
        : m.op === "glob"
          ? `${m.subject} matches ${JSON.stringify(m.pattern)}`
          : `${m.subject} ~ /${m.source}/${m.flags}`;
  }
}

/** The scope of a pressure rule as written: `tenant NAME` names the tenant. */
function pressureScope(p: PolicyIR, r: PressureRuleIR): string {
  return r.scope.kind === "tenant" && r.scope.tenantId !== null ? `tenant ${p.tenants[r.scope.tenantId]?.name}` : r.scope.kind;
}

/** Every setting of a policy, by entity then setting name, as text: what the diff compares. */
export function settingsOf(p: PolicyIR): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  const put = (what: string, entries: Record<string, string>) => out.set(what, new Map(Object.entries(entries)));
  const className = (id: number | null) => (id === null ? "-" : (p.classes[id]?.name ?? String(id)));
  const classNames = (mask: number) =>
    p.classes
      .filter((c) => mask & (1 << c.id))
      .map((c) => c.name)
      .join(", ") || "-";
  put("host", { memory: size(p.host.memoryBytes), reserve: size(p.host.reserveBytes) });
  for (const c of p.classes)
    put(`class ${c.name}`, { priority: String(c.priority), "cpu.weight": String(c.cpuWeight), latency: formatDuration(c.sliceNs) });
  p.rules.forEach((r, i) => {
    const m = r.memory;
    const b = m.burst;
    const oh = m.overHigh;
    put(`rule ${r.name}`, {
      position: String(i + 1),
      match: matchText(r.match),
      class: className(r.classId),
      "memory.baseline": m.baselineBytes === null ? "none" : size(m.baselineBytes),
      "memory.limit": size(m.limitBytes),
      "memory.guarantee": size(m.lowBytes),
      "memory.min": size(m.minBytes),
      "memory.burst": b ? `${size(b.bytes)} for ${formatDuration(b.durationNs)}, ${b.mode} ${formatDuration(b.refillNs)}` : "none",
      over_high:
        `throttle ${oh.delayMinMs}ms..${oh.delayMaxMs}ms ramp ` +
        `${formatDuration(oh.rampNs)}${oh.killAfterNs === null ? "" : `, kill after ${formatDuration(oh.killAfterNs)}`}`,
    });
  });
  for (const t of p.tenants)
    put(`tenant ${t.name}`, {
      "memory.guarantee": size(t.guaranteeBytes),
      "memory.limit": size(t.limitBytes),
      "cpu.weight": String(t.cpuWeight),
    });
  for (const a of p.agentProfiles) {
    const i = a.intent;
    put(a.tenantId === null ? "agent" : `agent (tenant ${p.tenants[a.tenantId]?.name ?? a.tenantId})`, {
      max_agents: String(a.maxAgents),
      "memory.guarantee": size(a.guaranteeBytes),
      "memory.limit": size(a.limitBytes),
      "cpu.weight": String(a.cpuWeight),
      "intent memory": i.memoryMaxBytes === null ? "not allowed" : `<= ${size(i.memoryMaxBytes)}`,
      "intent cpu.weight": i.cpuWeightMax === null ? "not allowed" : `<= ${i.cpuWeightMax}`,
      "intent class": i.classIds.map(className).join(", ") || "not allowed",
      "intent.excess": i.excess,
    });
  }
  p.pressureRules.forEach((r, i) =>
    put(`pressure rule ${i + 1}`, {
      when:
        `memory.pressure(${pressureScope(p, r)})${r.psi === "full" ? ".full" : ""} ` +
        `> ${r.thresholdPercent}% for ${formatDuration(r.windowNs)}`,
      protect: classNames(r.protectClassMask),
      throttle: r.throttle.map((t) => `${classNames(t.classMask)} ${t.delayMs}ms`).join("; ") || "-",
    }),
  );
  return out;
}

/** The settings that differ, entity by entity (old order, then entities only in NEW). */
export function settingChanges(a: PolicyIR, b: PolicyIR): SettingChange[] {
  const sa = settingsOf(a);
  const sb = settingsOf(b);
  const out: SettingChange[] = [];
  if (a.name !== b.name) out.push({ what: "policy", setting: "name", old: a.name, new: b.name });
  for (const [what, olds] of sa) {
    const news = sb.get(what);
    if (!news) {
      out.push({ what, setting: "", old: "defined", new: null });
      continue;
    }
    for (const [k, v] of olds) if (news.get(k) !== v) out.push({ what, setting: k, old: v, new: news.get(k) ?? null });
  }
  for (const what of sb.keys()) if (!sa.has(what)) out.push({ what, setting: "", old: null, new: "defined" });
  return out;
}

export interface LoadedSide {
  ir: PolicyIR;
  /** The compiled directory's manifest, when the side is one. */
  manifest: Manifest | null;
}

/** Loads a .acg file or a compiled directory; an Error with the located message when it has errors. */
export function loadSide(path: string): LoadedSide {
  const loaded = loadPolicyFrom(path);
  if (!loaded.ok) throw new Error(loaded.message);
  let manifest: Manifest | null = null;
  const file = join(path, "manifest.json");
  if (statSync(path).isDirectory() && existsSync(file)) {
    try {
      manifest = JSON.parse(readFileSync(file, "utf8")) as Manifest;
    } catch (e) {
      throw new Error(`${file}: not readable JSON (${(e as Error).message}); recompile the policy`);
    }
  }
  return { ir: loaded.ir, manifest };
}

export function diffPolicies(oldSide: LoadedSide, newSide: LoadedSide): PolicyDiff {
  const running = oldSide.manifest?.codeFeatures ?? codeFeatures(oldSide.ir);
  const swap = swapPlanOf(swapKind(running, oldSide.ir, newSide.ir));
  return {
    old: { name: oldSide.ir.name, sourceHash: oldSide.ir.sourceHash, compiled: oldSide.manifest !== null },
    new: { name: newSide.ir.name, sourceHash: newSide.ir.sourceHash, compiled: newSide.manifest !== null },
    changes: settingChanges(oldSide.ir, newSide.ir),
    swap,
    apply: applyText(swap.kind, newSide.manifest !== null),
  };
}

function swapPlanOf(k: SwapKind): SwapPlan {
  switch (k.kind) {
    case "data":
      return {
        kind: "data",
        why:
          "same code features and within the running objects' capacities: written into the running " +
          "scheduler's maps (running calls keep their limits; new calls follow)",
      };
    case "classifier":
      return {
        kind: "classifier",
        why:
          "the exec classifier's program is replaced beside the running scheduler (the new one attached before " +
          `the old one is detached: no exec goes unclassified) and the data written: ${k.reason}`,
      };
    case "objects":
      return { kind: "objects", why: `new BPF objects replace the running ones: ${k.reason}` };
  }
}

/** What a running acgd does with NEW as given (`compiled`: a directory with objects, not a .acg file). */
function applyText(kind: SwapPlan["kind"], compiled: boolean): string {
  if (kind === "data") return "acgc apply NEW swaps it in place";
  if (!compiled) return "acgd would refuse NEW as a .acg file: compile it (acgc compile NEW -o DIR) and apply DIR";
  return kind === "classifier"
    ? "acgc apply NEW replaces the exec classifier's program; the scheduler stays attached"
    : "acgc apply NEW replaces the scheduler's objects (a short time without a scheduler is measured and reported)";
}

/** The changes, then the swap plan. */
export function renderDiff(d: PolicyDiff): string {
  return `${renderChanges(d)}swap: ${d.swap.kind} (${d.swap.why})\napply: ${d.apply}\n`;
}

/** The two policies and the settings that differ. */
export function renderChanges(d: PolicyDiff): string {
  const lines = [`--- ${d.old.name} (${d.old.sourceHash.slice(0, 12)})`, `+++ ${d.new.name} (${d.new.sourceHash.slice(0, 12)})`];
  if (d.changes.length === 0) lines.push("no setting changes");
  let last = "";
  for (const c of d.changes) {
    if (c.setting === "") {
      lines.push(`${c.new === null ? "-" : "+"} ${c.what}${c.new === null ? " (removed)" : " (added)"}`);
      last = "";
      continue;
    }
    if (c.what !== last) lines.push(`~ ${c.what}`);
    last = c.what;
    lines.push(`    ${c.setting}: ${c.old ?? "-"} -> ${c.new ?? "-"}`);
  }
  return lines.join("\n") + "\n";
}
