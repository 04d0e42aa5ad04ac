// Tool rules evaluated in user space: the full matcher (RuleIR.match) on what
// the runtime knows about a tool call — its tool name, hints, argv, executable.

import { basename } from "node:path";
import { globRegExp, regexOf } from "../compiler/matcher-logic.js";
import type { MatchIR, PolicyIR, RuleIR } from "../compiler/ir.js";

/** What a tool call is matched on. */
export interface CallFacts {
  /** The agent framework's tool name (`--tool Bash`), if any. */
  tool?: string;
  /**
   * Hint values the `hint` subject sees: the value of each `kind=` hint and
   * every bare hint (`--hint tests`). Intent hints (memory=, class=,
   * cpu.weight=) are requests, not descriptions, and are not matched.
   */
  hints: string[];
  /** The command line; `argv` predicates see it joined with single spaces. */
  argv: string[];
  /** Full path of the executable (the `path` subject); `exe` is its basename. */
  path?: string;
  /** The tenant of the call's agent (`default` outside any tenant). */
  tenant?: string;
}

/** Values of a subject for this call; a predicate holds if it holds for any value. */
function subjectValues(facts: CallFacts, subject: string): string[] {
  switch (subject) {
    case "tool":
      return facts.tool === undefined ? [] : [facts.tool];
    case "hint":
      return facts.hints;
    case "tenant":
      return facts.tenant === undefined ? [] : [facts.tenant];
    case "argv":
      return facts.argv.length ? [facts.argv.join(" ")] : [];
    case "path":
      return facts.path === undefined ? [] : [facts.path];
    case "exe": {
      const p = facts.path ?? facts.argv[0];
      return p === undefined ? [] : [basename(p)];
    }
    default:
      return [];
  }
}

export function matches(m: MatchIR, facts: CallFacts): boolean {
  switch (m.kind) {
    case "true":
      return true;
    case "and":
      return m.items.every((i) => matches(i, facts));
    case "or":
      return m.items.some((i) => matches(i, facts));
    case "not":
      return !matches(m.item, facts);
    case "pred": {
      const values = subjectValues(facts, m.subject);
      if (m.op === "eq") return values.includes(m.value);
      const re = m.op === "glob" ? globRegExp(m.pattern) : regexOf(m.source, m.flags);
      return values.some((v) => re.test(v));
    }
  }
}

/** The first rule whose matcher holds (the default rule is last and always holds). */
export function matchRule(policy: PolicyIR, facts: CallFacts): RuleIR {
  return policy.rules.find((r) => matches(r.match, facts)) ?? policy.rules[policy.defaultRuleId]!;
}
