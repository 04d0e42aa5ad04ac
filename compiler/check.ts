// Pass 3: the checker. A pass manager over small semantic passes, each a file in
// passes/ with one job. Passes share one model (what the policy declares, found
// once by the structure pass) and one diagnostic bag; they never throw on bad input.

import type * as A from "./ast.js";
import type { DiagnosticBag } from "./diagnostics.js";
import type { SourceFile } from "./source.js";
import { structurePass } from "./passes/structure.js";
import { settingsPass } from "./passes/settings.js";
import { namesPass } from "./passes/names.js";
import { matchersPass } from "./passes/matchers.js";
import { memoryPass } from "./passes/memory.js";
import { budgetPass } from "./passes/budget.js";
import { pressurePass } from "./passes/pressure.js";
import { ladderPass } from "./passes/ladder.js";
import type { SettingValue } from "./passes/settings.js";

export interface PolicyModel {
  policy: A.PolicyDecl;
  host: A.HostBlock | undefined;
  classes: A.ClassBlock[];
  tenants: A.TenantBlock[];
  /** The top-level `agent` block, if any. */
  agent: A.AgentBlock | undefined;
  /** Tool rules except the default, in source (= match) order. */
  tools: A.ToolBlock[];
  defaultTool: A.ToolBlock | undefined;
  whens: A.WhenBlock[];
  ladders: A.LadderBlock[];
}

export interface CheckContext {
  source: SourceFile;
  ast: A.PolicyFile;
  model: PolicyModel;
  diags: DiagnosticBag;
  /** Each valid setting's value in base units (bytes, ns, percent, count) or word. */
  values: Map<A.Setting, SettingValue>;
  /** Intent bounds by statement, in base units. */
  intentValues: Map<A.IntentStmt, number | string[]>;
}

export interface Pass {
  name: string;
  run(ctx: CheckContext): void;
}

/**
 * In order: later passes may rely on what earlier ones established (e.g. the
 * budget pass only reads values the settings pass accepted).
 */
export const PASSES: Pass[] = [settingsPass, namesPass, matchersPass, memoryPass, budgetPass, pressurePass, ladderPass];

export interface CheckedPolicy {
  source: SourceFile;
  ast: A.PolicyFile;
  model: PolicyModel;
  values: Map<A.Setting, SettingValue>;
  intentValues: Map<A.IntentStmt, number | string[]>;
}

/** Runs every pass; returns the checked policy only if no pass reported an error. */
export function check(source: SourceFile, ast: A.PolicyFile, diags: DiagnosticBag): CheckedPolicy | undefined {
  const model = structurePass(ast, diags);
  if (!model) return undefined;
  const ctx: CheckContext = { source, ast, model, diags, values: new Map(), intentValues: new Map() };
  for (const pass of PASSES) pass.run(ctx);
  if (diags.hasErrors) return undefined;
  return { source, ast, model, values: ctx.values, intentValues: ctx.intentValues };
}
