// Checks that memory settings are consistent inside each block and against the
// blocks above it: baseline and burst within the limit, guarantees within limits,
// throttle ranges ordered and within what the kernel applies.

import type * as A from "../ast.js";
import type { CheckContext, Pass } from "../check.js";
import { describeValue } from "../ast.js";
import { formatBytes } from "../units.js";
import { numeric } from "./settings.js";
import { agentBlocksOf, burstOf, numberOf, settingOf } from "./values.js";

/** The kernel caps the memory.high reclaim delay of one return to user space at 2 s. */
export const MAX_HIGH_DELAY_MS = 2000;

export const memoryPass: Pass = {
  name: "memory",
  run(ctx) {
    const { model, values } = ctx;
    for (const t of model.tenants) {
      pair(ctx, t.body, "memory.guarantee", "memory.limit", "the tenant's guarantee is above its limit");
    }
    const agentLimits: number[] = [];
    for (const { agent, tenant } of agentBlocksOf(model)) {
      pair(ctx, agent.body, "memory.guarantee", "memory.limit", "the agent's guarantee is above its limit");
      const limit = numberOf(values, agent.body, "memory.limit");
      const tenantLimit = tenant ? numberOf(values, tenant.body, "memory.limit") : undefined;
      if (limit !== undefined && tenantLimit !== undefined && limit > tenantLimit) {
        ctx.diags.error("E0501", `the agent limit (${formatBytes(limit)}) is above tenant '${tenant!.name.name}''s limit (${formatBytes(tenantLimit)})`, settingOf(agent.body, "memory.limit")!.value.span, `lower it to at most ${formatBytes(tenantLimit)}`);
      }
      if (limit !== undefined) agentLimits.push(limit);
      const intent = agent.body.find((s): s is A.IntentStmt => s.kind === "intent" && s.subject.name === "memory");
      const bound = intent && ctx.intentValues.get(intent);
      if (limit !== undefined && typeof bound === "number" && bound > limit) {
        ctx.diags.push({
          severity: "error", code: "E0507", message: `the intent bound on memory (${formatBytes(bound)}) is above the agent's limit (${formatBytes(limit)})`,
          span: intent!.value.span, help: `lower it to at most ${formatBytes(limit)}: a tool call cannot use more than its agent`,
          note: { message: "the agent's limit is set here", span: settingOf(agent.body, "memory.limit")!.value.span },
        });
      }
    }
    const agentMax = agentLimits.length ? Math.max(...agentLimits) : undefined;
    for (const tool of [...model.tools, ...(model.defaultTool ? [model.defaultTool] : [])]) checkTool(ctx, tool, agentMax);
  },
};

function pair(ctx: CheckContext, body: readonly { kind: string }[], lowKey: string, highKey: string, message: string) {
  const lo = numberOf(ctx.values, body, lowKey);
  const hi = numberOf(ctx.values, body, highKey);
  if (lo !== undefined && hi !== undefined && lo > hi) {
    ctx.diags.push({ severity: "error", code: "E0503", message: `${message} (${formatBytes(lo)} > ${formatBytes(hi)})`, span: settingOf(body, lowKey)!.value.span, help: `lower '${lowKey}' to at most ${formatBytes(hi)} or raise '${highKey}'`, note: { message: `'${highKey}' is set here`, span: settingOf(body, highKey)!.value.span } });
  }
}

function checkTool(ctx: CheckContext, tool: A.ToolBlock, agentLimit: number | undefined) {
  const { values, diags } = ctx;
  const body = tool.body;
  const baseline = numberOf(values, body, "memory.baseline");
  const limit = numberOf(values, body, "memory.limit");
  const burst = burstOf(values, body);
  if (baseline !== undefined && limit !== undefined && baseline > limit) {
    diags.push({ severity: "error", code: "E0501", message: `tool '${tool.name.name}': baseline ${formatBytes(baseline)} is above its limit ${formatBytes(limit)}`, span: settingOf(body, "memory.baseline")!.value.span, help: "the baseline (memory.high) must not exceed the hard limit (memory.max)", note: { message: "limit set here", span: settingOf(body, "memory.limit")!.value.span } });
  }
  if (burst && baseline !== undefined && limit !== undefined && baseline <= limit && baseline + burst.bytes > limit) {
    diags.push({ severity: "error", code: "E0502", message: `tool '${tool.name.name}': baseline + burst (${formatBytes(baseline + burst.bytes)}) is above its limit ${formatBytes(limit)}`, span: settingOf(body, "memory.burst")!.value.span, help: `lower the burst to at most ${formatBytes(limit - baseline)}, or raise memory.limit to ${formatBytes(baseline + burst.bytes)}`, note: { message: "limit set here", span: settingOf(body, "memory.limit")!.value.span } });
  }
  if (burst && baseline === undefined) {
    diags.error("E0506", `tool '${tool.name.name}' has a burst but no baseline to burst above`, settingOf(body, "memory.burst")!.key.span, "add `memory.baseline = SIZE`: the burst is extra memory above it");
  }
  pair(ctx, body, "memory.min", "memory.guarantee", `tool '${tool.name.name}': memory.min is above memory.guarantee`);
  const guarantee = numberOf(values, body, "memory.guarantee");
  const ceiling = limit ?? baseline;
  if (guarantee !== undefined && ceiling !== undefined && guarantee > ceiling) {
    diags.error("E0503", `tool '${tool.name.name}': guarantee ${formatBytes(guarantee)} is above what it may use (${formatBytes(ceiling)})`, settingOf(body, "memory.guarantee")!.value.span, "a guarantee above the limit protects memory the call can never use");
  }
  const own = limit ?? (baseline !== undefined ? baseline + (burst?.bytes ?? 0) : undefined);
  if (own !== undefined && agentLimit !== undefined && own > agentLimit) {
    const s = settingOf(body, limit !== undefined ? "memory.limit" : "memory.burst") ?? settingOf(body, "memory.baseline")!;
    diags.warning("W0501", `tool '${tool.name.name}' may use ${formatBytes(own)}, more than any agent's limit (${formatBytes(agentLimit)})`, s.value.span, "the agent's limit caps it first; lower the tool's numbers to what an agent can give");
  }
  for (const stmt of body) if (stmt.kind === "over_high") checkOverHigh(ctx, stmt);
}

function checkOverHigh(ctx: CheckContext, stmt: A.OverHighStmt) {
  const d = ctx.diags;
  const seen = new Set<string>();
  for (const a of stmt.actions) {
    if (seen.has(a.kind)) d.error("E0202", `'${a.kind}' appears twice in over_high`, a.span);
    seen.add(a.kind);
    if (a.kind === "kill") {
      if (a.after) numeric(ctx, a.after, { kind: "duration", min: 0, max: 24 * 3600e9 }, "kill after");
      continue;
    }
    if (a.range.kind !== "range") {
      d.error("E0203", `throttle takes a delay range; found ${describeValue(a.range)}`, a.range.span, "write `throttle 20ms..2s`: the delay starts at the first value and ramps to the second");
      continue;
    }
    const spec = { kind: "duration" as const, min: 0, max: MAX_HIGH_DELAY_MS * 1e6 };
    const lo = numeric(ctx, a.range.lo, spec, "throttle delay");
    const hi = numeric(ctx, a.range.hi, spec, "throttle delay");
    if (lo !== undefined && hi !== undefined && lo > hi) d.error("E0504", "throttle range is reversed", a.range.span, "write the smaller delay first: `throttle MIN..MAX`");
    if (a.ramp) numeric(ctx, a.ramp, { kind: "duration", min: 0, max: 3600e9 }, "ramp");
  }
}
