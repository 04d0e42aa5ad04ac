// Checks pressure ladders: their settings (through the settings schema), that
// each does something, that its watermarks climb (withdraw burst < freeze <
// kill < kill agent) with the release below them all, that its scope names a
// domain with a budget (and, to kill agents, holds more than one agent), and
// that no two ladders watch the same domain.

import type * as A from "../ast.js";
import type { CheckContext, Pass } from "../check.js";
import { M } from "../diagnostic-messages.js";
import { checkBlock, numeric } from "./settings.js";
import { agentBlocksOf, numberOf, settingOf } from "./values.js";

/** The steps of a ladder, lowest watermark first. */
export const LADDER_STEPS = ["withdraw_burst", "freeze", "kill", "kill_agent"] as const;
/** A freeze may be bounded from 1s to an hour: shorter would kill on the first hiccup. */
export const FREEZE_MAX_MIN_NS = 1e9;
export const FREEZE_MAX_MAX_NS = 3600e9;
/** Without `release`, the ladder lets go this many points below its lowest step. */
export const DEFAULT_RELEASE_GAP = 10;

export const ladderPass: Pass = {
  name: "ladder",
  run(ctx) {
    const seen = new Map<string, A.LadderBlock>();
    for (const l of ctx.model.ladders) {
      checkBlock(ctx, "ladder", l.body);
      const key = l.scope.kind + (l.scope.name ? ` ${l.scope.name.name}` : "");
      const prev = seen.get(key);
      if (prev) {
        ctx.diags.report(M.TwoLadders, l.scope.span, { domain: key }, prev.scope.span);
      } else {
        seen.set(key, l);
      }
      checkSteps(ctx, l);
      checkScope(ctx, l);
    }
  },
};

function checkSteps(ctx: CheckContext, l: A.LadderBlock) {
  const d = ctx.diags;
  const steps = LADDER_STEPS.map((name) => ({ name, setting: settingOf(l.body, name), value: numberOf(ctx.values, l.body, name) })).filter(
    (s) => s.setting,
  );
  if (steps.length === 0) {
    d.report(M.LadderEmpty, { start: l.span.start, end: l.span.start + "ladder".length });
    return;
  }
  for (let i = 1; i < steps.length; i++) {
    const lo = steps[i - 1]!;
    const hi = steps[i]!;
    if (lo.value !== undefined && hi.value !== undefined && hi.value <= lo.value) {
      d.report(
        M.StepNotAbove,
        hi.setting!.value.span,
        { step: hi.name, value: hi.value, below: lo.name, belowValue: lo.value },
        lo.setting!.value.span,
      );
    }
  }
  const lowest = steps[0]!;
  const release = settingOf(l.body, "release");
  const releaseValue = numberOf(ctx.values, l.body, "release");
  if (release && releaseValue !== undefined && lowest.value !== undefined && releaseValue >= lowest.value) {
    d.report(
      M.ReleaseNotBelow,
      release.value.span,
      { release: releaseValue, step: lowest.name, value: lowest.value },
      lowest.setting!.value.span,
    );
  }
  const freeze = settingOf(l.body, "freeze");
  const bound = freeze?.modifiers.find((m) => m.keyword === "for");
  if (bound) numeric(ctx, bound.value, { kind: "duration", min: FREEZE_MAX_MIN_NS, max: FREEZE_MAX_MAX_NS }, "freeze bound");
  const ranks = settingOf(l.body, "ranks");
  const rankWords = ranks ? String(ctx.values.get(ranks) ?? "").split(",") : [];
  if (ranks && new Set(rankWords).size === 3) {
    d.report(M.LadderOnEveryRank, ranks.value.span);
  }
}

/** A ladder needs a budget: the host's, a tenant's memory.limit, an agent profile's memory.limit. */
function checkScope(ctx: CheckContext, l: A.LadderBlock) {
  const { model, values, diags } = ctx;
  const scope = l.scope;
  if (scope.kind === "tenant") {
    const tenants = scope.name ? model.tenants.filter((t) => t.name.name === scope.name!.name) : model.tenants;
    if (scope.name && tenants.length === 0) return; // unknown tenant: the names pass reports it
    if (!scope.name && tenants.length === 0) {
      diags.report(M.NoTenantsToWatch, scope.span);
    }
    for (const t of tenants) {
      if (numberOf(values, t.body, "memory.limit") === undefined) {
        diags.report(M.TenantWithoutBudget, scope.name?.span ?? scope.span, { tenant: t.name.name });
      }
    }
  } else if (scope.kind === "agent") {
    const killAgent = settingOf(l.body, "kill_agent");
    if (killAgent) diags.report(M.KillAgentInAgentLadder, killAgent.key.span);
    for (const { agent, tenant } of agentBlocksOf(model)) {
      if (numberOf(values, agent.body, "memory.limit") === undefined) {
        if (tenant) diags.report(M.TenantAgentsWithoutBudget, scope.span, { tenant: tenant.name.name });
        else diags.report(M.AgentsWithoutBudget, scope.span);
      }
    }
  }
}
