// Checks that memory settings are consistent inside each block and against the
// blocks above it: baseline and burst within the limit, guarantees within limits,
// throttle ranges ordered and within what the kernel applies.

import type * as A from "../ast.js";
import type { CheckContext, Pass } from "../check.js";
import { describeValue } from "../ast.js";
import { M } from "../diagnostic-messages.js";
import type { Span } from "../source.js";
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
      const over = exceeds(ctx, t.body, "memory.guarantee", "memory.limit");
      if (over) ctx.diags.report(M.TenantGuaranteeAboveLimit, over.at, over.args, over.highAt);
    }
    const agentLimits: number[] = [];
    for (const { agent, tenant } of agentBlocksOf(model)) {
      const over = exceeds(ctx, agent.body, "memory.guarantee", "memory.limit");
      if (over) ctx.diags.report(M.AgentGuaranteeAboveLimit, over.at, over.args, over.highAt);
      const limit = numberOf(values, agent.body, "memory.limit");
      const tenantLimit = tenant ? numberOf(values, tenant.body, "memory.limit") : undefined;
      if (limit !== undefined && tenantLimit !== undefined && limit > tenantLimit) {
        ctx.diags.report(M.AgentLimitAboveTenant, settingOf(agent.body, "memory.limit")!.value.span, {
          limit: formatBytes(limit),
          tenant: tenant!.name.name,
          tenantLimit: formatBytes(tenantLimit),
        });
      }
      if (limit !== undefined) agentLimits.push(limit);
      const intent = agent.body.find((s): s is A.IntentStmt => s.kind === "intent" && s.subject.name === "memory");
      const bound = intent && ctx.intentValues.get(intent);
      if (limit !== undefined && typeof bound === "number" && bound > limit) {
        ctx.diags.report(
          M.IntentAboveAgentLimit,
          intent!.value.span,
          { bound: formatBytes(bound), limit: formatBytes(limit) },
          settingOf(agent.body, "memory.limit")!.value.span,
        );
      }
    }
    const agentMax = agentLimits.length ? Math.max(...agentLimits) : undefined;
    for (const tool of [...model.tools, ...(model.defaultTool ? [model.defaultTool] : [])]) checkTool(ctx, tool, agentMax);
  },
};

/** A size that must not be above another is: both sizes, and where each is set. */
function exceeds(
  ctx: CheckContext,
  body: readonly { kind: string }[],
  lowKey: string,
  highKey: string,
): { args: { low: string; high: string }; at: Span; highAt: Span } | undefined {
  const lo = numberOf(ctx.values, body, lowKey);
  const hi = numberOf(ctx.values, body, highKey);
  if (lo === undefined || hi === undefined || lo <= hi) return undefined;
  return {
    args: { low: formatBytes(lo), high: formatBytes(hi) },
    at: settingOf(body, lowKey)!.value.span,
    highAt: settingOf(body, highKey)!.value.span,
  };
}

function checkTool(ctx: CheckContext, tool: A.ToolBlock, agentLimit: number | undefined) {
  const { values, diags } = ctx;
  const body = tool.body;
  const name = tool.name.name;
  const baseline = numberOf(values, body, "memory.baseline");
  const limit = numberOf(values, body, "memory.limit");
  const burst = burstOf(values, body);
  if (baseline !== undefined && limit !== undefined && baseline > limit) {
    diags.report(
      M.BaselineAboveLimit,
      settingOf(body, "memory.baseline")!.value.span,
      { tool: name, baseline: formatBytes(baseline), limit: formatBytes(limit) },
      settingOf(body, "memory.limit")!.value.span,
    );
  }
  if (burst && baseline !== undefined && limit !== undefined && baseline <= limit && baseline + burst.bytes > limit) {
    diags.report(
      M.BurstAboveLimit,
      settingOf(body, "memory.burst")!.value.span,
      { tool: name, total: formatBytes(baseline + burst.bytes), limit: formatBytes(limit), room: formatBytes(limit - baseline) },
      settingOf(body, "memory.limit")!.value.span,
    );
  }
  if (burst && baseline === undefined) {
    diags.report(M.BurstWithoutBaseline, settingOf(body, "memory.burst")!.key.span, { tool: name });
  }
  const minOver = exceeds(ctx, body, "memory.min", "memory.guarantee");
  if (minOver) diags.report(M.MinAboveGuarantee, minOver.at, { tool: name, ...minOver.args }, minOver.highAt);
  const guarantee = numberOf(values, body, "memory.guarantee");
  const ceiling = limit ?? baseline;
  if (guarantee !== undefined && ceiling !== undefined && guarantee > ceiling) {
    diags.report(M.GuaranteeAboveUse, settingOf(body, "memory.guarantee")!.value.span, {
      tool: name,
      guarantee: formatBytes(guarantee),
      ceiling: formatBytes(ceiling),
    });
  }
  const own = limit ?? (baseline !== undefined ? baseline + (burst?.bytes ?? 0) : undefined);
  if (own !== undefined && agentLimit !== undefined && own > agentLimit) {
    const s = settingOf(body, limit !== undefined ? "memory.limit" : "memory.burst") ?? settingOf(body, "memory.baseline")!;
    diags.report(M.ToolAboveAgentLimit, s.value.span, { tool: name, size: formatBytes(own), agentLimit: formatBytes(agentLimit) });
  }
  for (const stmt of body) if (stmt.kind === "over_high") checkOverHigh(ctx, stmt);
}

function checkOverHigh(ctx: CheckContext, stmt: A.OverHighStmt) {
  const d = ctx.diags;
  const seen = new Set<string>();
  for (const a of stmt.actions) {
    if (seen.has(a.kind)) d.report(M.OverHighActionTwice, a.span, { action: a.kind });
    seen.add(a.kind);
    if (a.kind === "kill") {
      if (a.after) numeric(ctx, a.after, { kind: "duration", min: 0, max: 24 * 3600e9 }, "kill after");
      continue;
    }
    if (a.range.kind !== "range") {
      d.report(M.ThrottleRangeExpected, a.range.span, { found: describeValue(a.range) });
      continue;
    }
    const spec = { kind: "duration" as const, min: 0, max: MAX_HIGH_DELAY_MS * 1e6 };
    const lo = numeric(ctx, a.range.lo, spec, "throttle delay");
    const hi = numeric(ctx, a.range.hi, spec, "throttle delay");
    if (lo !== undefined && hi !== undefined && lo > hi) d.report(M.ReversedThrottle, a.range.span);
    if (a.ramp) numeric(ctx, a.ramp, { kind: "duration", min: 0, max: 3600e9 }, "ramp");
  }
}
