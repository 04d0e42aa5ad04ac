// Checks tool-call matchers: subjects, operators and values; regex and glob
// validity; and reachability — a rule no tool call can reach gets a warning.

import type * as A from "../ast.js";
import { describeValue } from "../ast.js";
import type { CheckContext, Pass } from "../check.js";
import { M } from "../diagnostic-messages.js";
import { closest } from "../suggest.js";
import { NO_TENANT } from "../ir.js";
import { anchoredLiteral } from "../lower.js";
import { SUBJECTS, alwaysTrue, contradictory, conjImplies, exprDnf, regexOf, type Atom, type Conj, type Dnf } from "../matcher-logic.js";

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
      noteUserSpace(ctx, tool, m.expr);
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
      if (conj.length === 0) continue;
      const e = { tool, conj, rank };
      // Indexed by an atom some call could fail; one of always-true atoms only covers everything.
      const first = conj.find((a) => !alwaysTrue(a));
      if (!first) {
        this.matchAll.push(e);
        continue;
      }
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
    ctx.diags.report(M.ContradictoryRule, m.span, { tool: tool.name.name });
    return;
  }
  let shadow: A.ToolBlock | undefined;
  for (const conj of live) {
    const by = earlier.coveredBy(conj);
    if (!by) return;
    shadow ??= by;
  }
  if (shadow) {
    ctx.diags.report(M.ShadowedRule, m.span, { tool: tool.name.name, by: shadow.name.name }, shadow.name.span);
  }
}

/** Says when a rule's matcher has a test the kernel's exec classifier cannot see (it is decided in user space). */
function noteUserSpace(ctx: CheckContext, tool: A.ToolBlock, e: A.Expr) {
  const first = userSpacePredicate(e);
  if (!first) return;
  const args = { tool: tool.name.name, subject: first.subject.name };
  ctx.diags.report(args.subject === "exe" || args.subject === "path" ? M.RegexInUserSpace : M.TestInUserSpace, first.span, args);
}

function userSpacePredicate(e: A.Expr): A.Predicate | undefined {
  switch (e.kind) {
    case "or":
    case "and":
      for (const i of e.items) {
        const p = userSpacePredicate(i);
        if (p) return p;
      }
      return undefined;
    case "not":
    case "group":
      return userSpacePredicate(e.item);
    case "pred": {
      const s = e.subject.name;
      if (s !== "exe" && s !== "path") return e;
      return e.value.kind === "regex" && anchoredLiteral(e.value.source, e.value.flags) === undefined ? e : undefined;
    }
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
    d.report(
      M.UnknownSubject,
      p.subject.span,
      hint ? { subject, help: "didYouMean", hint } : { subject, help: "known", subjects: SUBJECTS.join(", ") },
    );
    return;
  }
  const v = p.value;
  if (subject === "tenant") checkTenantNames(ctx, v);
  switch (p.op) {
    case "==":
    case "!=":
      if (v.kind !== "string") {
        const help = v.kind === "list" ? "list" : v.kind === "regex" ? "regex" : undefined;
        d.report(M.CompareTakesString, v.span, { op: p.op, subject, found: describeValue(v), help });
      }
      return;
    case "in":
      if (v.kind !== "list") {
        d.report(M.InTakesList, v.span, { found: describeValue(v) });
        return;
      }
      stringList(ctx, v, "in");
      for (const i of v.items) {
        if (i.kind === "string" && /[*?[]/.test(i.value)) d.report(M.GlobInList, i.span, { value: i.value, subject });
      }
      return;
    case "matches":
      if (v.kind === "string") return checkGlob(ctx, v);
      if (v.kind !== "list") {
        d.report(M.MatchesTakesGlob, v.span, { found: describeValue(v) });
        return;
      }
      if (stringList(ctx, v, "matches")) for (const i of v.items) checkGlob(ctx, i as A.Str);
      return;
    case "~":
      if (v.kind !== "regex") {
        const found = describeValue(v);
        d.report(M.TildeTakesRegex, v.span, v.kind === "string" ? { found, help: "slashes", source: v.value } : { found });
        return;
      }
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
    ctx.diags.report(
      M.NoSuchTenantInMatch,
      s.span,
      hint ? { name: s.value, help: "didYouMean", hint } : { name: s.value, help: "known", tenants: names.join(", ") },
    );
  }
}

function stringList(ctx: CheckContext, v: A.List, op: string): boolean {
  if (v.items.length === 0) {
    ctx.diags.report(M.EmptyList, v.span, { op });
    return false;
  }
  let ok = true;
  for (const i of v.items) {
    if (i.kind !== "string") {
      const found = describeValue(i);
      ctx.diags.report(M.StringExpected, i.span, i.kind === "word" ? { found, help: "quote", word: i.name } : { found });
      ok = false;
    }
  }
  return ok;
}

function checkGlob(ctx: CheckContext, s: A.Str) {
  if (s.value === "") ctx.diags.report(M.EmptyGlob, s.span);
  else if (/\[[^\]]*$/.test(s.value)) ctx.diags.report(M.UnclosedGlobClass, s.span, { glob: s.value });
}

function checkRegex(ctx: CheckContext, r: A.Regex) {
  for (const f of r.flags) {
    if (!REGEX_FLAGS.has(f)) {
      ctx.diags.report(M.RegexFlag, r.span, { flag: f });
      return;
    }
  }
  try {
    regexOf(r.source, r.flags);
  } catch (e) {
    const reason = e instanceof Error ? e.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, "") : String(e);
    ctx.diags.report(M.InvalidRegex, r.span, { reason });
    return;
  }
  // A quantified group that itself ends in a quantifier, like (a+)+, can take
  // exponential time on a crafted argv; the runtime matches agent-controlled text.
  if (/\((?:[^()\\]|\\.)*[+*}]\)[+*{]/.test(r.source)) {
    ctx.diags.report(M.NestedQuantifier, r.span);
  }
}
