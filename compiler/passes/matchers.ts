// Checks tool-call matchers: subjects, operators and values; regex and glob
// validity; and reachability — a rule no tool call can reach gets a warning.

import type * as A from "../ast.js";
import { describeValue } from "../ast.js";
import type { CheckContext, Pass } from "../check.js";
import { closest } from "../suggest.js";
import { NO_TENANT } from "../ir.js";
import { SUBJECTS, contradictory, conjImplies, exprDnf, regexOf, type Atom, type Conj, type Dnf } from "../matcher-logic.js";

const REGEX_FLAGS = new Set(["i"]);

export const matchersPass: Pass = {
  name: "matchers",
  run(ctx) {
    const earlier = new ShadowIndex();
    for (const tool of ctx.model.tools) {
      const m = tool.body.find((s): s is A.MatchStmt => s.kind === "match");
      if (!m) continue;
      const before = ctx.diags.items.length;
      visit(ctx, m.expr);
      if (ctx.diags.items.slice(before).some((d) => d.severity === "error")) continue;
      const dnf = exprDnf(m.expr);
      if (!dnf) continue;
      reachability(ctx, tool, m, dnf, earlier);
      earlier.add(tool, dnf);
    }
  },
};

/**
 * The conjunctions of earlier rules, indexed by their first atom, so that a
 * 1,000-rule policy is not checked pairwise. An earlier conjunction can only
 * cover a later one if the later one has an atom implying its first atom: the
 * same test, or (for globs, regexes and negations) a plain equality on the same
 * subject whose value passes it.
 */
class ShadowIndex {
  private order = 0;
  private readonly byTest = new Map<string, Entry[]>();
  private readonly inexactBySubject = new Map<string, Entry[]>();
  private readonly matchAll: Entry[] = [];

  add(tool: A.ToolBlock, dnf: Dnf) {
    const rank = this.order++;
    for (const conj of dnf) {
      const first = conj[0];
      if (!first) continue;
      const e = { tool, conj, rank };
      if (first.kind === "glob" && first.value === "*" && !first.neg) this.matchAll.push(e);
      push(this.byTest, testKey(first), e);
      if (first.kind !== "eq" || first.neg) push(this.inexactBySubject, first.subject, e);
    }
  }

  /** The earliest rule with a conjunction covering `conj`, if any. */
  coveredBy(conj: Conj): A.ToolBlock | undefined {
    let best: Entry | undefined;
    const consider = (list: Entry[] | undefined) => {
      for (const e of list ?? []) if ((!best || e.rank < best.rank) && conjImplies(conj, e.conj)) best = e;
    };
    consider(this.matchAll);
    for (const b of conj) {
      consider(this.byTest.get(testKey(b)));
      if (b.kind === "eq" && !b.neg) consider(this.inexactBySubject.get(b.subject));
    }
    return best?.tool;
  }
}

interface Entry {
  tool: A.ToolBlock;
  conj: Conj;
  rank: number;
}

function testKey(a: Atom): string {
  return `${a.subject}\u0000${a.kind}\u0000${a.neg}\u0000${a.flags}\u0000${a.value}`;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V) {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

function reachability(ctx: CheckContext, tool: A.ToolBlock, m: A.MatchStmt, dnf: Dnf, earlier: ShadowIndex) {
  const live = dnf.filter((c) => !contradictory(c));
  if (live.length === 0) {
    ctx.diags.warning("W0402", `tool '${tool.name.name}' can never match: its conditions contradict each other`, m.span, "a single-valued subject cannot equal two different values at once; did you mean `or`?");
    return;
  }
  let shadow: A.ToolBlock | undefined;
  for (const conj of live) {
    const by = earlier.coveredBy(conj);
    if (!by) return;
    shadow ??= by;
  }
  if (shadow) {
    ctx.diags.push({
      severity: "warning",
      code: "W0401",
      message: `tool '${tool.name.name}' can never match: every call it matches is matched first by '${shadow.name.name}'`,
      span: m.span,
      help: "first match wins: move this rule above the broader one, or narrow the earlier rule",
      note: { message: `'${shadow.name.name}' is here`, span: shadow.name.span },
    });
  }
}

function visit(ctx: CheckContext, e: A.Expr) {
  switch (e.kind) {
    case "or":
    case "and":
      for (const i of e.items) visit(ctx, i);
      return;
    case "not":
    case "group":
      visit(ctx, e.item);
      return;
    case "pred":
      checkPredicate(ctx, e);
  }
}

function checkPredicate(ctx: CheckContext, p: A.Predicate) {
  const d = ctx.diags;
  const subject = p.subject.name;
  if (!(SUBJECTS as readonly string[]).includes(subject)) {
    const hint = closest(subject, SUBJECTS);
    d.error("E0402", `unknown match subject '${subject}'`, p.subject.span, hint ? `did you mean '${hint}'?` : `match on ${SUBJECTS.join(", ")}`);
    return;
  }
  const v = p.value;
  if (subject === "tenant") checkTenantNames(ctx, v);
  switch (p.op) {
    case "==":
    case "!=":
      if (v.kind !== "string") wrongValue(ctx, p, "a string", v.kind === "list" ? `to test membership write \`${subject} in [...]\`` : v.kind === "regex" ? `to match a regex write \`${subject} ~ /.../\`` : undefined);
      return;
    case "in":
      if (v.kind !== "list") return wrongValue(ctx, p, 'a list of strings, e.g. ["pytest", "tox"]');
      stringList(ctx, v, "in");
      for (const i of v.items) {
        if (i.kind === "string" && /[*?[]/.test(i.value)) d.warning("W0403", `'in' compares exactly, so "${i.value}" only matches those characters literally`, i.span, `to match a pattern write \`${subject} matches "${i.value}"\``);
      }
      return;
    case "matches":
      if (v.kind === "string") return checkGlob(ctx, v);
      if (v.kind !== "list") return wrongValue(ctx, p, 'a glob string, e.g. "py*", or a list of them');
      if (stringList(ctx, v, "matches")) for (const i of v.items) checkGlob(ctx, i as A.Str);
      return;
    case "~":
      if (v.kind !== "regex") return wrongValue(ctx, p, "a regex, e.g. /-m pytest/", v.kind === "string" ? `write the regex between slashes: /${v.value}/` : undefined);
      checkRegex(ctx, v);
  }
}

/** `tenant == "x"` / `tenant in [...]` with a name the policy does not define can never be true. */
function checkTenantNames(ctx: CheckContext, v: A.Value) {
  const names = [NO_TENANT, ...ctx.model.tenants.map((t) => t.name.name)];
  const strings = v.kind === "string" ? [v] : v.kind === "list" ? v.items.filter((i): i is A.Str => i.kind === "string") : [];
  for (const s of strings) {
    if (names.includes(s.value) || /[*?[]/.test(s.value)) continue;
    const hint = closest(s.value, names);
    ctx.diags.warning("W0406", `the policy has no tenant '${s.value}'`, s.span, hint ? `did you mean '${hint}'?` : `its tenants: ${names.join(", ")}`);
  }
}

function wrongValue(ctx: CheckContext, p: A.Predicate, expected: string, help?: string) {
  ctx.diags.error("E0403", `'${p.op}' takes ${expected}; found ${describeValue(p.value)}`, p.value.span, help);
}

function stringList(ctx: CheckContext, v: A.List, op: string): boolean {
  if (v.items.length === 0) {
    ctx.diags.error("E0405", `empty list after '${op}' can never match`, v.span, "list at least one value");
    return false;
  }
  let ok = true;
  for (const i of v.items) {
    if (i.kind !== "string") {
      ctx.diags.error("E0403", `expected a string, found ${describeValue(i)}`, i.span, i.kind === "word" ? `quote it: "${i.name}"` : undefined);
      ok = false;
    }
  }
  return ok;
}

function checkGlob(ctx: CheckContext, s: A.Str) {
  if (s.value === "") ctx.diags.error("E0404", "empty glob matches only an empty value", s.span, 'use "*" to match anything');
  else if (/\[[^\]]*$/.test(s.value)) ctx.diags.error("E0404", `unclosed '[' in glob "${s.value}"`, s.span, "close the character class with `]`");
}

function checkRegex(ctx: CheckContext, r: A.Regex) {
  for (const f of r.flags) {
    if (!REGEX_FLAGS.has(f)) {
      ctx.diags.error("E0401", `unsupported regex flag '${f}'`, r.span, "the only flag is `i` (case-insensitive)");
      return;
    }
  }
  try {
    regexOf(r.source, r.flags);
  } catch (e) {
    const msg = e instanceof Error ? e.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, "") : String(e);
    ctx.diags.error("E0401", `invalid regex: ${msg}`, r.span, "regexes use JavaScript syntax; escape `/` as `\\/`");
    return;
  }
  // A quantified group that itself ends in a quantifier, like (a+)+, can take
  // exponential time on a crafted argv; the runtime matches agent-controlled text.
  if (/\((?:[^()\\]|\\.)*[+*}]\)[+*{]/.test(r.source)) {
    ctx.diags.warning("W0405", "regex has a nested quantifier and may backtrack exponentially on crafted input", r.span, "rewrite it without repeating a repeated group, e.g. (ab)+ instead of (a+b?)+");
  }
}
