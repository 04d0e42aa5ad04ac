// Checks the host budget: everything the policy guarantees (tenants' guarantees,
// and agents' guarantees times how many such agents may run) must fit in the
// host's memory less its reserve.

import type { Pass } from "../check.js";
import { M } from "../diagnostic-messages.js";
import { formatBytes } from "../units.js";
import { agentBlocksOf, numberOf, settingOf } from "./values.js";

export const budgetPass: Pass = {
  name: "budget",
  run(ctx) {
    const { model, values, diags } = ctx;
    if (!model.host) return;
    const memory = numberOf(values, model.host.body, "memory");
    const reserve = numberOf(values, model.host.body, "reserve") ?? 0;
    if (memory === undefined) return;
    if (reserve >= memory) {
      diags.report(M.ReserveTooLarge, settingOf(model.host.body, "reserve")!.value.span, {
        reserve: formatBytes(reserve),
        memory: formatBytes(memory),
      });
      return;
    }
    const budget = memory - reserve;
    for (const tool of [...model.tools, ...(model.defaultTool ? [model.defaultTool] : [])]) {
      const limit = numberOf(values, tool.body, "memory.limit");
      if (limit !== undefined && limit > budget) {
        diags.report(M.ToolAboveHostBudget, settingOf(tool.body, "memory.limit")!.value.span, {
          tool: tool.name.name,
          limit: formatBytes(limit),
          budget: formatBytes(budget),
        });
      }
    }
    const parts: string[] = [];
    let total = 0;
    let complete = true;

    for (const { agent, tenant } of agentBlocksOf(model)) {
      const g = numberOf(values, agent.body, "memory.guarantee") ?? 0;
      if (g === 0) continue;
      const max = numberOf(values, agent.body, "max_agents");
      if (max === undefined) {
        diags.report(M.GuaranteeWithoutMaxAgents, settingOf(agent.body, "memory.guarantee")!.key.span);
        complete = false;
        continue;
      }
      const sum = g * max;
      const where = tenant ? `tenant '${tenant.name.name}'` : "agents";
      if (tenant) {
        const tg = numberOf(values, tenant.body, "memory.guarantee");
        if (tg !== undefined && sum > tg) {
          diags.report(M.TenantOverGuaranteed, settingOf(agent.body, "memory.guarantee")!.value.span, {
            count: max,
            guarantee: formatBytes(g),
            total: formatBytes(sum),
            tenant: tenant.name.name,
            tenantGuarantee: formatBytes(tg),
            fitGuarantee: formatBytes(Math.floor(tg / max)),
            fitCount: Math.floor(tg / g),
          });
        }
        // The tenant's guarantee covers its agents'; count whichever is larger once.
        if (tg !== undefined) continue;
      }
      total += sum;
      parts.push(`${where}: ${max} × ${formatBytes(g)}`);
    }
    for (const t of model.tenants) {
      const tg = numberOf(values, t.body, "memory.guarantee");
      if (tg === undefined) continue;
      total += tg;
      parts.push(`tenant '${t.name.name}': ${formatBytes(tg)}`);
    }
    if (complete && total > budget) {
      diags.report(M.Oversubscribed, settingOf(model.host.body, "memory")!.value.span, {
        total: formatBytes(total),
        budget: formatBytes(budget),
        memory: formatBytes(memory),
        reserve: formatBytes(reserve),
        parts: parts.join(", "),
      });
    }
  },
};
