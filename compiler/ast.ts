// The syntax tree of a policy file. Every node carries its source span; names
// are still names (the checker resolves them), values still carry their units.

import type { Span } from "./source.js";
import type { Comment } from "./lexer.js";

export interface Ident {
  name: string;
  span: Span;
}

export interface PolicyFile {
  version: VersionDecl | null;
  policy: PolicyDecl | null;
  comments: Comment[];
  span: Span;
}

export interface VersionDecl {
  kind: "version";
  value: Quantity;
  span: Span;
}

export interface PolicyDecl {
  kind: "policy";
  name: Ident;
  items: Item[];
  span: Span;
}

export type Item = HostBlock | ClassBlock | TenantBlock | AgentBlock | ToolBlock | WhenBlock | LadderBlock;

export interface HostBlock {
  kind: "host";
  body: Setting[];
  span: Span;
}

export interface ClassBlock {
  kind: "class";
  name: Ident;
  body: Setting[];
  span: Span;
}

export interface TenantBlock {
  kind: "tenant";
  name: Ident;
  body: (Setting | AgentBlock)[];
  span: Span;
}

export interface AgentBlock {
  kind: "agent";
  /** A ClassRef is the class of the agent's own processes (not its tool calls). */
  body: (Setting | IntentStmt | ClassRef)[];
  span: Span;
}

export interface ToolBlock {
  kind: "tool";
  name: Ident;
  body: ToolStmt[];
  span: Span;
}

export type ToolStmt = MatchStmt | ClassRef | Setting | OverHighStmt;

export interface WhenBlock {
  kind: "when";
  metric: Ident;
  scope: PressureScope;
  op: ">" | ">=";
  threshold: Value;
  window: Value;
  actions: PressureAction[];
  span: Span;
}

/** `ladder SCOPE { ranks = [...]; withdraw_burst = P; freeze = P for D; kill = P; release = P }` */
export interface LadderBlock {
  kind: "ladder";
  scope: PressureScope;
  body: Setting[];
  span: Span;
}

export interface PressureScope {
  kind: "host" | "tenant" | "agent";
  /** Only for `tenant NAME`; absent means every tenant. */
  name?: Ident;
  span: Span;
}

export type PressureAction = ProtectAction | ThrottleAction;

export interface ProtectAction {
  kind: "protect";
  classes: Ident[];
  span: Span;
}

export interface ThrottleAction {
  kind: "throttle";
  classes: Ident[];
  delay: Value;
  span: Span;
}

/** `key = value [for D] [, refill D | , cooldown D]` */
export interface Setting {
  kind: "setting";
  key: Ident;
  value: Value;
  modifiers: SettingModifier[];
  span: Span;
}

export interface SettingModifier {
  keyword: "for" | "refill" | "cooldown";
  value: Value;
  span: Span;
}

export interface MatchStmt {
  kind: "match";
  expr: Expr;
  span: Span;
}

export interface ClassRef {
  kind: "classref";
  name: Ident;
  span: Span;
}

export interface OverHighStmt {
  kind: "over_high";
  actions: OverHighAction[];
  span: Span;
}

export type OverHighAction = { kind: "throttle"; range: Value; ramp?: Value; span: Span } | { kind: "kill"; after?: Value; span: Span };

export interface IntentStmt {
  kind: "intent";
  subject: Ident;
  op: "<=" | "in";
  value: Value;
  span: Span;
}

export type Expr =
  | { kind: "or"; items: Expr[]; span: Span }
  | { kind: "and"; items: Expr[]; span: Span }
  | { kind: "not"; item: Expr; span: Span }
  | { kind: "group"; item: Expr; span: Span }
  | Predicate;

export type PredicateOp = "==" | "!=" | "in" | "matches" | "~";

export interface Predicate {
  kind: "pred";
  subject: Ident;
  op: PredicateOp;
  value: Value;
  span: Span;
}

export type Value = Quantity | Word | Str | Regex | Range | List;

export interface Quantity {
  kind: "quantity";
  /** The numeric part as written, e.g. "1.5". */
  number: string;
  /** The unit as written, "" for a bare number. */
  unit: string;
  span: Span;
}

export interface Word {
  kind: "word";
  name: string;
  span: Span;
}

export interface Str {
  kind: "string";
  value: string;
  span: Span;
}

export interface Regex {
  kind: "regex";
  source: string;
  flags: string;
  span: Span;
}

export interface Range {
  kind: "range";
  lo: Value;
  hi: Value;
  span: Span;
}

export interface List {
  kind: "list";
  items: Value[];
  span: Span;
}

export function describeValue(v: Value): string {
  switch (v.kind) {
    case "quantity":
      return v.unit ? "a quantity" : "a number";
    case "word":
      return "a name";
    case "string":
      return "a string";
    case "regex":
      return "a regex";
    case "range":
      return "a range";
    case "list":
      return "a list";
  }
}
