// Finds what the policy declares: the version line, the one host block, classes,
// tenants, agents, tools and pressure rules; reports duplicates and missing parts.

import type * as A from "../ast.js";
import type { DiagnosticBag } from "../diagnostics.js";
import type { PolicyModel } from "../check.js";

export const SUPPORTED_VERSIONS = [1];

export function structurePass(ast: A.PolicyFile, diags: DiagnosticBag): PolicyModel | undefined {
  if (!ast.version) {
    diags.error("E0110", "missing version line", { start: 0, end: 0 }, "start the file with `version 1`");
  } else if (ast.version.value.unit !== "" || !SUPPORTED_VERSIONS.includes(Number(ast.version.value.number))) {
    diags.error("E0111", `unsupported language version '${ast.version.value.number}${ast.version.value.unit}'`, ast.version.value.span, `this acgc understands version ${SUPPORTED_VERSIONS.join(", ")}`);
  }
  const policy = ast.policy;
  if (!policy) {
    diags.error("E0112", "no policy in this file", ast.version?.span ?? { start: 0, end: 0 }, "write `policy NAME { ... }` after the version line");
    return undefined;
  }

  const model: PolicyModel = { policy, host: undefined, classes: [], tenants: [], agent: undefined, tools: [], defaultTool: undefined, whens: [], ladders: [] };
  const firstOf = new Map<string, { span: A.Ident["span"] }>();
  const unique = (kind: string, name: A.Ident): boolean => {
    const key = `${kind}:${name.name}`;
    const prev = firstOf.get(key);
    if (prev) {
      diags.push({ severity: "error", code: "E0301", message: `${kind} '${name.name}' is defined twice`, span: name.span, help: `rename one of them; ${kind} names are unique in a policy`, note: { message: "first defined here", span: prev.span } });
      return false;
    }
    firstOf.set(key, name);
    return true;
  };

  for (const item of policy.items) {
    switch (item.kind) {
      case "host":
        if (model.host) secondBlock(diags, "E0302", "host", item, model.host, "merge the settings into one `host { ... }` block");
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
        if (model.agent) secondBlock(diags, "E0311", "top-level agent", item, model.agent, "put per-tenant agent settings inside `tenant NAME { agent { ... } }`");
        else model.agent = item;
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
  if (!model.host) diags.error("E0303", "the policy has no host block", head, "add `host { memory = 64GiB; reserve = 4GiB }`: the checker needs the host's memory to check the budget");
  if (!model.defaultTool) diags.error("E0304", "the policy has no default tool rule", head, "add `tool default { class NAME }`: it applies to every tool call no other rule matches");
  return model;
}

/** A block that may appear once, seen again: the error points at both keywords. */
function secondBlock(diags: DiagnosticBag, code: string, what: string, again: A.HostBlock | A.AgentBlock, first: A.HostBlock | A.AgentBlock, help: string) {
  const keyword = (b: A.HostBlock | A.AgentBlock) => ({ start: b.span.start, end: b.span.start + b.kind.length });
  diags.push({ severity: "error", code, message: `more than one ${what} block`, span: keyword(again), help, note: { message: `first ${first.kind} block`, span: keyword(first) } });
}

function checkTenantAgents(t: A.TenantBlock, diags: DiagnosticBag) {
  const agents = t.body.filter((b): b is A.AgentBlock => b.kind === "agent");
  for (const extra of agents.slice(1)) {
    diags.error("E0311", `tenant '${t.name.name}' has more than one agent block`, { start: extra.span.start, end: extra.span.start + 5 }, "merge them into one `agent { ... }`");
  }
}

function checkToolShape(tool: A.ToolBlock, diags: DiagnosticBag) {
  const matches = tool.body.filter((s) => s.kind === "match");
  const classes = tool.body.filter((s) => s.kind === "classref");
  const overs = tool.body.filter((s) => s.kind === "over_high");
  const isDefault = tool.name.name === "default";
  for (const m of matches.slice(1)) diags.error("E0308", `tool '${tool.name.name}' has more than one match statement`, m.span, "combine the conditions with `or` / `and` in one `match`");
  for (const c of classes.slice(1)) diags.error("E0308", `tool '${tool.name.name}' has more than one class statement`, c.span, "a tool call belongs to exactly one class");
  for (const o of overs.slice(1)) diags.error("E0308", `tool '${tool.name.name}' has more than one over_high statement`, o.span, "list the actions in one statement: `over_high throttle 20ms..2s, kill after 60s`");
  if (isDefault && matches[0]) diags.error("E0309", "the default rule cannot have a match statement", matches[0].span, "the default rule applies to every tool call no other rule matches; move the matcher into a rule of its own");
  if (!isDefault && !matches[0]) diags.error("E0310", `tool '${tool.name.name}' has no match statement`, tool.name.span, 'add e.g. `match exe == "git"`; only `tool default` matches everything');
  if (isDefault && !classes[0]) diags.error("E0307", "the default rule has no class", tool.name.span, "add `class NAME`: tool calls that name no class fall back to the default rule's class");
}
