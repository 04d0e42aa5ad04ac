// Tool rules evaluated in user space: the full matcher (RuleIR.match) on what
// the runtime knows about a tool call — its tool name, hints, argv, executable.

import { basename, isAbsolute } from "node:path";
import { commandsOf } from "./unwrap.js";
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

/**
 * The first rule whose matcher holds for the call's command line or for any
 * command it runs (`bash -c 'cd x && pytest'`, `timeout 60 pytest`: see
 * unwrap.ts). The default rule is last and always holds. A wrapped command
 * keeps the call's tool and hints; its `path` is known only when written
 * absolute.
 */
export function matchRule(policy: PolicyIR, facts: CallFacts): RuleIR {
  const inner = commandsOf(facts.argv)
    .slice(1)
    .map((argv): CallFacts => ({ ...facts, argv, ...(isAbsolute(argv[0]!) ? { path: argv[0]! } : { path: undefined }) }));
  const all = [facts, ...inner];
  return policy.rules.find((r) => all.some((f) => matches(r.match, f))) ?? policy.rules[policy.defaultRuleId]!;
}
