// acgc fmt: one canonical layout for a policy, comments kept. The layout depends
// only on the syntax tree and the comments, never on the input's spacing, so
// formatting is idempotent.

import type * as A from "./ast.js";
import type { Comment } from "./lexer.js";

const INDENT = "  ";
const MAX_WIDTH = 100;
/**
 * Blocks with at most this many statements may sit on one line: short
 * declarations read best inline, rules with several settings one per line.
 */
const MAX_INLINE_STATEMENTS: Record<string, number> = { host: 3, class: 3, when: 3, tool: 2, agent: 2, tenant: 0, ladder: 0 };

type Stmt = A.Setting | A.AgentBlock | A.IntentStmt | A.ToolStmt | A.PressureAction;

export function format(ast: A.PolicyFile, text: string): string {
  return new Printer(ast.comments, text).file(ast);
}

/** The syntax tree without positions and comments: what "same AST" means for fmt. */
export function stripSpans(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripSpans);
  if (node && typeof node === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) if (k !== "span" && k !== "comments") out[k] = stripSpans(v);
    return out;
  }
  return node;
}

class Printer {
  private out: string[] = [];
  private next = 0;

  constructor(
    private readonly comments: Comment[],
    private readonly text: string,
  ) {}

  file(ast: A.PolicyFile): string {
    const firstNode = ast.version ?? ast.policy;
    if (ast.version) {
      this.leading(ast.version.span.start, 0);
      this.line(0, `version ${value(ast.version.value)}`, ast.version.span.end);
    }
    if (ast.policy) {
      if (ast.version) this.out.push("");
      const p = ast.policy;
      this.leading(p.span.start, 0);
      this.line(0, `policy ${p.name.name} {`, p.name.span.end);
      let prev: A.Item | undefined;
      for (const item of p.items) {
        const inline = this.inlineItem(item, 1);
        if (prev && (inline === undefined || prev.kind !== item.kind || this.wasMultiline)) this.out.push("");
        this.leading(item.span.start, 1);
        if (inline !== undefined) {
          this.line(1, inline, item.span.end);
          this.wasMultiline = false;
        } else {
          this.block(item, 1);
          this.wasMultiline = true;
        }
        prev = item;
      }
      this.leading(p.span.end - 1, 1);
      this.line(0, "}", p.span.end);
    }
    if (!firstNode) this.leading(Infinity, 0);
    this.leading(Infinity, 0);
    return (
      this.out
        .join("\n")
        .replace(/\n{3,}/g, "\n\n")
        .trimStart() + "\n"
    );
  }

  private wasMultiline = false;

  /** Emits the comments that start before `offset`, each on its own line. */
  private leading(offset: number, depth: number) {
    while (this.next < this.comments.length && this.comments[this.next]!.start < offset) {
      const c = this.comments[this.next++]!;
      const precededByBlank = /\n[ \t]*\n[ \t]*$/.test(this.text.slice(0, c.start));
      const last = this.out[this.out.length - 1];
      if (precededByBlank && last !== undefined && last !== "" && !last.trimEnd().endsWith("{")) this.out.push("");
      for (const l of c.text.split("\n"))
        this.out.push(
          INDENT.repeat(depth) +
            l
              .trim()
              .replace(/^\*/, " *")
              .replace(/^ \*\//, " */"),
        );
    }
  }

  /** Emits one line, with any comment that trails `end` on the same source line. */
  private line(depth: number, s: string, end: number) {
    let text = INDENT.repeat(depth) + s;
    const c = this.comments[this.next];
    if (c && c.start >= end && !c.text.includes("\n") && /^[ \t;]*$/.test(this.text.slice(end, c.start))) {
      text += " " + c.text;
      this.next++;
    }
    this.out.push(text);
  }

  private hasCommentWithin(span: A.Item["span"]): boolean {
    return this.comments.some((c) => c.start > span.start && c.start < span.end);
  }

  private inlineItem(item: A.Item, depth: number): string | undefined {
    const body = bodyOf(item);
    if (body.length > (MAX_INLINE_STATEMENTS[item.kind] ?? 0) || this.hasCommentWithin(item.span)) return undefined;
    if (body.some((s) => s.kind === "agent")) return undefined;
    const inner = body.map((s) => statement(s as Exclude<Stmt, A.AgentBlock>)).join("; ");
    const s = `${header(item)} {${inner ? ` ${inner} ` : ""}}`;
    return INDENT.length * depth + s.length <= MAX_WIDTH ? s : undefined;
  }

  private block(item: A.Item | A.AgentBlock, depth: number) {
    this.out.push(INDENT.repeat(depth) + `${header(item)} {`);
    for (const s of bodyOf(item)) {
      this.leading(s.span.start, depth + 1);
      if (s.kind === "agent") {
        const inline = this.inlineItem(s, depth + 1);
        if (inline !== undefined) this.line(depth + 1, inline, s.span.end);
        else this.block(s, depth + 1);
      } else {
        this.line(depth + 1, statement(s), s.span.end);
      }
    }
    this.leading(item.span.end - 1, depth + 1);
    this.line(depth, "}", item.span.end);
  }
}

function bodyOf(item: A.Item | A.AgentBlock): Stmt[] {
  return item.kind === "when" ? item.actions : item.body;
}

function header(item: A.Item | A.AgentBlock): string {
  switch (item.kind) {
    case "host":
    case "agent":
      return item.kind;
    case "class":
    case "tenant":
    case "tool":
      return `${item.kind} ${item.name.name}`;
    case "when":
      return `when ${item.metric.name}(${scopeText(item.scope)}) ${item.op} ${value(item.threshold)} for ${value(item.window)}`;
    case "ladder":
      return `ladder ${scopeText(item.scope)}`;
  }
}

function scopeText(scope: A.PressureScope): string {
  return scope.kind + (scope.name ? ` ${scope.name.name}` : "");
}

function modifierText(m: A.SettingModifier): string {
  return m.keyword === "for" ? ` for ${value(m.value)}` : `, ${m.keyword} ${value(m.value)}`;
}

function overHighActionText(a: A.OverHighAction): string {
  if (a.kind === "throttle") return `throttle ${value(a.range)}${a.ramp ? ` ramp ${value(a.ramp)}` : ""}`;
  return `kill${a.after ? ` after ${value(a.after)}` : ""}`;
}

function statement(s: Exclude<Stmt, A.AgentBlock>): string {
  switch (s.kind) {
    case "setting":
      return `${s.key.name} = ${value(s.value)}${s.modifiers.map(modifierText).join("")}`;
    case "intent":
      return `intent ${s.subject.name} ${s.op} ${value(s.value)}`;
    case "match":
      return `match ${expr(s.expr)}`;
    case "classref":
      return `class ${s.name.name}`;
    case "over_high":
      return `over_high ${s.actions.map(overHighActionText).join(", ")}`;
    case "protect":
      return `protect ${s.classes.map((c) => c.name).join(", ")}`;
    case "throttle":
      return `throttle ${s.classes.map((c) => c.name).join(", ")} ${value(s.delay)}`;
  }
}

export function expr(e: A.Expr): string {
  switch (e.kind) {
    case "or":
      return e.items.map(expr).join(" or ");
    case "and":
      return e.items.map(expr).join(" and ");
    case "not":
      return `not ${expr(e.item)}`;
    case "group":
      return `(${expr(e.item)})`;
    case "pred":
      return `${e.subject.name} ${e.op} ${value(e.value)}`;
  }
}

export function value(v: A.Value): string {
  switch (v.kind) {
    case "quantity":
      return v.number + v.unit;
    case "word":
      return v.name;
    case "string":
      return `"${v.value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\t/g, "\\t")}"`;
    case "regex":
      return `/${v.source}/${v.flags}`;
    case "range":
      return `${value(v.lo)}..${value(v.hi)}`;
    case "list":
      return `[${v.items.map(value).join(", ")}]`;
  }
}
