// Reading checked setting values back out of a block, for the passes after `settings`.

import type * as A from "../ast.js";
import type { BurstValue, SettingValue } from "./settings.js";

type Body = readonly { kind: string }[];

export function settingOf(body: Body, key: string): A.Setting | undefined {
  return body.find((s): s is A.Setting => s.kind === "setting" && (s as A.Setting).key.name === key);
}

export function valueOf(values: Map<A.Setting, SettingValue>, body: Body, key: string): SettingValue | undefined {
  const s = settingOf(body, key);
  return s ? values.get(s) : undefined;
}

export function numberOf(values: Map<A.Setting, SettingValue>, body: Body, key: string): number | undefined {
  const v = valueOf(values, body, key);
  return typeof v === "number" ? v : undefined;
}

export function wordOf(values: Map<A.Setting, SettingValue>, body: Body, key: string): string | undefined {
  const v = valueOf(values, body, key);
  return typeof v === "string" ? v : undefined;
}

export function burstOf(values: Map<A.Setting, SettingValue>, body: Body): BurstValue | undefined {
  const v = valueOf(values, body, "memory.burst");
  return typeof v === "object" ? v : undefined;
}

export function agentBlocksOf(model: {
  agent: A.AgentBlock | undefined;
  tenants: A.TenantBlock[];
}): { agent: A.AgentBlock; tenant: A.TenantBlock | undefined }[] {
  const out: { agent: A.AgentBlock; tenant: A.TenantBlock | undefined }[] = [];
  if (model.agent) out.push({ agent: model.agent, tenant: undefined });
  for (const t of model.tenants) for (const b of t.body) if (b.kind === "agent") out.push({ agent: b, tenant: t });
  return out;
}
