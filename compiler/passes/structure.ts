// Finds what the policy declares: the version line, the one host block, classes,
// tenants, agents, tools and pressure rules; reports duplicates and missing parts.

import type * as A from "../ast.js";
import { M } from "../diagnostic-messages.js";
import type { DiagnosticBag } from "../diagnostics.js";
import type { PolicyModel } from "../check.js";

export const SUPPORTED_VERSIONS = [1];

export function structurePass(ast: A.PolicyFile, diags: DiagnosticBag): PolicyModel | undefined {
  if (!ast.version) {
    diags.report(M.MissingVersion, { start: 0, end: 0 });
  } else if (ast.version.value.unit !== "" || !SUPPORTED_VERSIONS.includes(Number(ast.version.value.number))) {
    diags.report(M.UnsupportedVersion, ast.version.value.span, {
      version: ast.version.value.number + ast.version.value.unit,
      supported: SUPPORTED_VERSIONS.join(", "),
    });
  }
  const policy = ast.policy;
  if (!policy) {
    diags.report(M.NoPolicy, ast.version?.span ?? { start: 0, end: 0 });
    return undefined;
  }

  const model: PolicyModel = {
    policy,
    host: undefined,
    classes: [],
    tenants: [],
    agent: undefined,
    tools: [],
    defaultTool: undefined,
    whens: [],
    ladders: [],
  };
  const firstOf = new Map<string, { span: A.Ident["span"] }>();
  const unique = (kind: string, name: A.Ident): boolean => {
    const key = `${kind}:${name.name}`;
    const prev = firstOf.get(key);
    if (prev) {
      diags.report(M.DefinedTwice, name.span, { kind, name: name.name }, prev.span);
      return false;
    }
    firstOf.set(key, name);
    return true;
  };

  for (const item of policy.items) {
    switch (item.kind) {
      case "host":
        if (model.host) diags.report(M.SecondHostBlock, keyword(item), {}, keyword(model.host));
        else model.host = item;
        break;
      case "class":
        if (unique("class", item.name)) model.classes.push(item);
        break;
      case "tenant":
        if (unique("tenant", item.name)) model.tenants.push(item);
        checkTenantAgents(item, diags);
        break;
      case "agent":
        if (model.agent) diags.report(M.SecondAgentBlock, keyword(item), {}, keyword(model.agent));
        else model.agent = item;
        checkAgentShape(item, diags);
        break;
      case "tool":
        if (!unique("tool", item.name)) break;
        checkToolShape(item, diags);
        if (item.name.name === "default") model.defaultTool = item;
        else model.tools.push(item);
        break;
      case "when":
        model.whens.push(item);
        break;
      case "ladder":
        model.ladders.push(item);
        break;
    }
  }
  const head = { start: policy.name.span.start, end: policy.name.span.end };
  if (!model.host) diags.report(M.NoHostBlock, head);
  if (!model.defaultTool) diags.report(M.NoDefaultRule, head);
  return model;
}

/** The keyword of a block that may appear once: a second one is reported at both keywords. */
function keyword(b: A.HostBlock | A.AgentBlock) {
  return { start: b.span.start, end: b.span.start + b.kind.length };
}

function checkTenantAgents(t: A.TenantBlock, diags: DiagnosticBag) {
  const agents = t.body.filter((b): b is A.AgentBlock => b.kind === "agent");
  for (const extra of agents.slice(1)) {
    diags.report(M.SecondTenantAgentBlock, keyword(extra), { tenant: t.name.name });
  }
  for (const a of agents) checkAgentShape(a, diags);
}

function checkAgentShape(agent: A.AgentBlock, diags: DiagnosticBag) {
  for (const c of agent.body.filter((s) => s.kind === "classref").slice(1)) diags.report(M.TwoAgentClassStatements, c.span);
}

function checkToolShape(tool: A.ToolBlock, diags: DiagnosticBag) {
  const matches = tool.body.filter((s) => s.kind === "match");
  const classes = tool.body.filter((s) => s.kind === "classref");
  const overs = tool.body.filter((s) => s.kind === "over_high");
  const isDefault = tool.name.name === "default";
  const name = { tool: tool.name.name };
  for (const m of matches.slice(1)) diags.report(M.TwoMatchStatements, m.span, name);
  for (const c of classes.slice(1)) diags.report(M.TwoClassStatements, c.span, name);
  for (const o of overs.slice(1)) diags.report(M.TwoOverHighStatements, o.span, name);
  if (isDefault && matches[0]) diags.report(M.DefaultWithMatch, matches[0].span);
  if (!isDefault && !matches[0]) diags.report(M.RuleWithoutMatch, tool.name.span, name);
  if (isDefault && !classes[0]) diags.report(M.DefaultWithoutClass, tool.name.span);
}
