// Checks the host budget: everything the policy guarantees (tenants' guarantees,
// and agents' guarantees times how many such agents may run) must fit in the
// host's memory less its reserve.

import type { Pass } from "../check.js";
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
      diags.error("E0602", `the host reserve (${formatBytes(reserve)}) leaves nothing of its ${formatBytes(memory)} for agents`, settingOf(model.host.body, "reserve")!.value.span, "the reserve is memory kept for the system; make it smaller than `memory`");
      return;
    }
    const budget = memory - reserve;
    for (const tool of [...model.tools, ...(model.defaultTool ? [model.defaultTool] : [])]) {
      const limit = numberOf(values, tool.body, "memory.limit");
      if (limit !== undefined && limit > budget) {
        diags.warning("W0602", `tool '${tool.name.name}' may use ${formatBytes(limit)}, more than the host has for agents (${formatBytes(budget)})`, settingOf(tool.body, "memory.limit")!.value.span, "a call this large would be stopped by the host's budget, not by its rule: lower the limit or raise the host memory");
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
        diags.error("E0604", "an agent guarantee needs max_agents to be checked against the host budget", settingOf(agent.body, "memory.guarantee")!.key.span, "add `max_agents = N`: how many such agents may run at once");
        complete = false;
        continue;
      }
      const sum = g * max;
      const where = tenant ? `tenant '${tenant.name.name}'` : "agents";
      if (tenant) {
        const tg = numberOf(values, tenant.body, "memory.guarantee");
        if (tg !== undefined && sum > tg) {
          diags.error("E0603", `${max} agents × ${formatBytes(g)} guaranteed (${formatBytes(sum)}) is more than tenant '${tenant.name.name}' is guaranteed (${formatBytes(tg)})`, settingOf(agent.body, "memory.guarantee")!.value.span, `lower the agent guarantee to ${formatBytes(Math.floor(tg / max))} or max_agents to ${Math.floor(tg / g)}`);
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
      diags.error("E0601", `guarantees oversubscribe the host: ${formatBytes(total)} guaranteed, ${formatBytes(budget)} available (${formatBytes(memory)} − ${formatBytes(reserve)} reserve)`, settingOf(model.host.body, "memory")!.value.span, `guaranteed: ${parts.join(", ")}; lower them or raise the host memory`);
    }
  },
};
