// Matcher semantics shared by the checker (reachability) and the lowering:
// predicates normalized to atoms, and glob matching.

import type * as A from "./ast.js";
import type { MatchSubject } from "./ir.js";

export const SUBJECTS: readonly MatchSubject[] = ["exe", "path", "argv", "tool", "hint", "tenant"];
/** Subjects with one value per tool call; `hint` may carry several. */
export const SINGLE_VALUED: ReadonlySet<MatchSubject> = new Set(["exe", "path", "argv", "tool", "tenant"]);

export interface Atom {
  subject: MatchSubject;
  kind: "eq" | "glob" | "regex";
  value: string;
  flags: string;
  neg: boolean;
}

export type Conj = Atom[];
export type Dnf = Conj[];

/** DNF blow-up bound: past it, reachability analysis is skipped for the rule. */
const MAX_TERMS = 256;

/** The predicate as a DNF of atoms; undefined if the predicate is malformed (already reported). */
export function predicateDnf(p: A.Predicate): Dnf | undefined {
  const subject = p.subject.name as MatchSubject;
  if (!SUBJECTS.includes(subject)) return undefined;
  const atom = (kind: Atom["kind"], value: string, flags = "", neg = false): Atom => ({ subject, kind, value, flags, neg });
  const v = p.value;
  switch (p.op) {
    case "==":
      return v.kind === "string" ? [[atom("eq", v.value)]] : undefined;
    case "!=":
      return v.kind === "string" ? [[atom("eq", v.value, "", true)]] : undefined;
    case "in":
      return v.kind === "list" && v.items.every((i) => i.kind === "string") ? v.items.map((i) => [atom("eq", i.value)]) : undefined;
    case "matches":
      if (v.kind === "string") return [[atom("glob", v.value)]];
      return v.kind === "list" && v.items.every((i) => i.kind === "string") ? v.items.map((i) => [atom("glob", i.value)]) : undefined;
    case "~":
      return v.kind === "regex" ? [[atom("regex", v.source, v.flags)]] : undefined;
  }
}

export function exprDnf(e: A.Expr): Dnf | undefined {
  switch (e.kind) {
    case "pred":
      return predicateDnf(e);
    case "group":
      return exprDnf(e.item);
    case "or": {
      const out: Dnf = [];
      for (const i of e.items) {
        const d = exprDnf(i);
        if (!d) return undefined;
        out.push(...d);
        if (out.length > MAX_TERMS) return undefined;
      }
      return out;
    }
    case "and": {
      // Items with one conjunction are gathered into one list first: copying
      // the growing conjunction at each item made long `and` chains quadratic.
      const common: Atom[] = [];
      const alternatives: Dnf[] = [];
      for (const i of e.items) {
        const d = exprDnf(i);
        if (!d) return undefined;
        if (d.length === 1) common.push(...d[0]!);
        else alternatives.push(d);
      }
      let acc: Dnf = [common];
      for (const d of alternatives) {
        const next = product(acc, d);
        if (!next) return undefined;
        acc = next;
      }
      return acc;
    }
    case "not": {
      const d = exprDnf(e.item);
      if (!d) return undefined;
      // not (c1 or c2 ...) = (not c1) and (not c2) ...; not (a and b) = (not a) or (not b)
      let acc: Dnf = [[]];
      for (const conj of d) {
        const next = product(
          acc,
          conj.map((a) => [{ ...a, neg: !a.neg }]),
        );
        if (!next) return undefined;
        acc = next;
      }
      return acc;
    }
  }
}

function product(a: Dnf, b: Dnf): Dnf | undefined {
  if (a.length * b.length > MAX_TERMS) return undefined;
  const out: Dnf = [];
  for (const x of a) for (const y of b) out.push([...x, ...y]);
  return out;
}

/**
 * True when no tool call can satisfy every atom of the conjunction. Linear in
 * its atoms (a 20,000-predicate `and` is one conjunction): atoms are grouped
 * by test and by subject instead of compared pairwise.
 */
export function contradictory(c: Conj): boolean {
  const polarity = new Map<string, boolean>();
  const equals = new Map<MatchSubject, string>();
  for (const a of c) {
    const key = `${a.subject}\u0000${a.kind}\u0000${a.flags}\u0000${a.value}`;
    const seen = polarity.get(key);
    if (seen !== undefined && seen !== a.neg) return true;
    polarity.set(key, a.neg);
    if (a.kind === "eq" && !a.neg && SINGLE_VALUED.has(a.subject)) {
      const other = equals.get(a.subject);
      if (other !== undefined && other !== a.value) return true;
      equals.set(a.subject, a.value);
    }
  }
  // A single-valued subject known to equal one value: every other test on it must hold for that value.
  for (const a of c) {
    const value = equals.get(a.subject);
    if (value !== undefined && atomHolds(a, value) === false) return true;
  }
  return false;
}

function sameTest(a: Atom, b: Atom): boolean {
  return a.kind === b.kind && a.value === b.value && a.flags === b.flags;
}

/** Whether atom `a` holds for a subject whose one value is `value`; undefined if unknown. */
function atomHolds(a: Atom, value: string): boolean | undefined {
  if (!SINGLE_VALUED.has(a.subject)) return undefined;
  let r: boolean;
  if (a.kind === "eq") r = a.value === value;
  else if (a.kind === "glob") r = globMatch(a.value, value);
  else {
    try {
      r = regexOf(a.value, a.flags).test(value);
    } catch {
      return undefined;
    }
  }
  return a.neg ? !r : r;
}

/** Subjects every tool call has (a call may have no tool name and no hint). */
const ALWAYS_PRESENT: ReadonlySet<MatchSubject> = new Set(["exe", "path", "argv"]);

/**
 * Whether the atom holds for every tool call: a glob of stars, or a regex
 * without anchors, word boundaries or lookarounds that matches the empty
 * string (it then matches at the start of any text), on a subject every call has.
 */
export function alwaysTrue(a: Atom): boolean {
  if (a.neg || !ALWAYS_PRESENT.has(a.subject)) return false;
  if (a.kind === "glob") return /^\*+$/.test(a.value);
  if (a.kind !== "regex" || /[\^$]|\\[bB]|\(\?/.test(a.value)) return false;
  try {
    return regexOf(a.value, a.flags).test("");
  } catch {
    return false;
  }
}

/** Whether every tool call satisfying `b` satisfies `a`. Conservative: false when unsure. */
function atomImplies(b: Atom, a: Atom): boolean {
  if (a.subject !== b.subject) return false;
  if (sameTest(a, b) && a.neg === b.neg) return true;
  if (b.kind === "eq" && !b.neg) return atomHolds(a, b.value) === true;
  return false;
}

/** Whether every call matching conjunction `later` also matches `earlier`. */
export function conjImplies(later: Conj, earlier: Conj): boolean {
  return earlier.every((a) => alwaysTrue(a) || later.some((b) => atomImplies(b, a)));
}

// Compiled patterns by text: the reachability check tests the same pattern
// against many rules' values, and the runtime matches every tool call.
const compiledPatterns = new Map<string, RegExp>();

function cachedRegExp(key: string, make: () => RegExp): RegExp {
  let re = compiledPatterns.get(key);
  if (!re) {
    re = make();
    compiledPatterns.set(key, re);
  }
  return re;
}

/**
 * A matcher regex, compiled once. `g` and `y` are dropped: they would make
 * `test` stateful across calls on the shared object. Throws on an invalid one.
 */
export function regexOf(source: string, flags: string): RegExp {
  return cachedRegExp(`r\u0000${flags}\u0000${source}`, () => new RegExp(source, flags.replace(/[gy]/g, "")));
}

/** A glob as a regex (see globToRegExp), compiled once. */
export function globRegExp(pattern: string): RegExp {
  return cachedRegExp(`g\u0000${pattern}`, () => globToRegExp(pattern));
}

/** Glob matching with `*` (any run), `?` (one character) and `[...]` classes. */
export function globMatch(pattern: string, text: string): boolean {
  return globRegExp(pattern).test(text);
}

function globToRegExp(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") re += "[\\s\\S]*";
    else if (ch === "?") re += "[\\s\\S]";
    else if (ch === "[") {
      const close = pattern.indexOf("]", i + 2);
      if (close < 0) re += "\\[";
      else {
        let body = pattern.slice(i + 1, close);
        const negate = body.startsWith("!");
        if (negate) body = body.slice(1);
        re += `[${negate ? "^" : ""}${body.replace(/[\\\]]/g, "\\$&")}]`;
        i = close;
      }
    } else re += ch.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  return new RegExp(re + "$");
}

/** Globs the kernel classifier can evaluate: only `*` and `?` as metacharacters. */
export function isKernelGlob(pattern: string): boolean {
  return !pattern.includes("[");
}
