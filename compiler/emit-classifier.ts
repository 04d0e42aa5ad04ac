// The exec classifier's policy-specific C: generated from the policy's
// matchers, so that the kernel runs code shaped like the policy instead of a
// generic interpreter over tables.
//
// - Every exe pattern (exact names and globs alike) is compiled into one DFA
//   over the executed file's basename, every path pattern into one over its
//   full name. Each is emitted as C tables (a byte → class table and a
//   state × class transition table, in .rodata) walked by one bpf_loop()
//   step per byte: the verifier checks the step once, and an exec costs at
//   most one step per byte of its name (≤ 255 + 255), whatever the number of
//   patterns. A state's accept mask says which patterns match a name that
//   ends there.
// - Every rule becomes a function named after it, in Kleene logic over those
//   pattern hits: TRUE, FALSE, or UNKNOWN when its answer depends on what only
//   user space sees (argv, tool, hint, regexes, or a pattern left out of the
//   DFA to bound its size). Each is a global BPF function, verified once.
// - acg_classify() tries the rules in order: the first TRUE decides, an
//   UNKNOWN before it leaves the exec to user space.
//
// Only the matchers reach this code, never a number a data-only edit could
// change: such edits emit the same C, so the object cache skips clang.

import type { ExePatternIR, KernelOp, PolicyIR, RuleIR } from "./ir.js";

/** Most DFA states × byte classes per subject (u16 entries): beyond it a pattern is left to user space. */
export const DFA_MAX_CELLS = 32768;
/** DFA state 0 is dead (no pattern can match any more): the walk stops there. */
const DEAD = 0;

export interface Dfa {
  /** byte → class; class 0 = a byte no pattern names literally. */
  byteClass: number[];
  classes: number;
  /** next[state][class]; state 0 is dead, 1 the start. */
  next: number[][];
  /** Per state: bit i set = pattern i (its IR index) matches a name ending here. */
  accept: bigint[];
  /** Patterns compiled into the DFA (IR indexes). */
  patterns: number[];
}

interface NfaPattern {
  index: number;
  /** Bytes of the pattern; for globs, -1 = `*`, -2 = `?`. */
  atoms: number[];
}

const STAR = -1;
const ANY = -2;

function nfaPattern(p: ExePatternIR): NfaPattern {
  const bytes = [...Buffer.from(p.text, "utf8")];
  if (p.kind === "exact") return { index: p.index, atoms: bytes };
  return { index: p.index, atoms: bytes.map((b) => (b === 0x2a ? STAR : b === 0x3f ? ANY : b)) };
}

/**
 * Subset construction over positions (pattern, offset). `*` matches any run
 * (it may be skipped: the closure), `?` any one byte, other atoms themselves.
 * Returns null when the table would exceed DFA_MAX_CELLS.
 */
function buildDfa(patterns: NfaPattern[]): Dfa | null {
  const literal = new Set<number>();
  for (const p of patterns) for (const a of p.atoms) if (a >= 0) literal.add(a);
  const byteClass = new Array<number>(256).fill(0);
  [...literal].sort((a, b) => a - b).forEach((b, i) => (byteClass[b] = i + 1));
  const classes = literal.size + 1;
  const representative = [-1, ...[...literal].sort((a, b) => a - b)];

  // A position is pattern slot * 256 + offset (patterns are at most 63 bytes).
  const close = (positions: Iterable<number>): number[] => {
    const out = new Set<number>();
    const stack = [...positions];
    while (stack.length) {
      const pos = stack.pop()!;
      if (out.has(pos)) continue;
      out.add(pos);
      const p = patterns[pos >> 8]!;
      if (p.atoms[pos & 0xff] === STAR) stack.push(pos + 1);
    }
    return [...out].sort((a, b) => a - b);
  };
  const step = (set: number[], cls: number): number[] => {
    const moved: number[] = [];
    for (const pos of set) {
      const p = patterns[pos >> 8]!;
      const atom = p.atoms[pos & 0xff];
      if (atom === undefined) continue;
      if (atom === STAR) moved.push(pos);
      else if (atom === ANY || (cls !== 0 && atom === representative[cls])) moved.push(pos + 1);
    }
    return close(moved);
  };
  const acceptOf = (set: number[]): bigint =>
    set.reduce((m, pos) => (patterns[pos >> 8]!.atoms.length === (pos & 0xff) ? m | (1n << BigInt(patterns[pos >> 8]!.index)) : m), 0n);

  const ids = new Map<string, number>([["", DEAD]]);
  const sets: number[][] = [[]];
  const start = close(patterns.map((_, slot) => slot << 8));
  ids.set(start.join(","), 1);
  sets.push(start);
  const next: number[][] = [new Array<number>(classes).fill(DEAD)];
  for (let s = 1; s < sets.length; s++) {
    const row: number[] = [];
    for (let c = 0; c < classes; c++) {
      const target = step(sets[s]!, c);
      const key = target.join(",");
      let id = ids.get(key);
      if (id === undefined) {
        id = sets.length;
        if ((id + 1) * classes > DFA_MAX_CELLS) return null;
        ids.set(key, id);
        sets.push(target);
      }
      row.push(id);
    }
    next.push(row);
  }
  return { byteClass, classes, next, accept: sets.map(acceptOf), patterns: patterns.map((p) => p.index) };
}

/** The DFA of one subject's patterns; those that would overflow it are left out (user space decides them). */
export function subjectDfa(patterns: ExePatternIR[]): { dfa: Dfa | null; userSpace: number[] } {
  const all = patterns.map(nfaPattern);
  const whole = all.length ? buildDfa(all) : null;
  if (whole || all.length === 0) return { dfa: whole, userSpace: [] };
  // Too big together: keep patterns in policy order while they fit.
  const kept: NfaPattern[] = [];
  const userSpace: number[] = [];
  let dfa: Dfa | null = null;
  for (const p of all) {
    const attempt = buildDfa([...kept, p]);
    if (attempt) {
      kept.push(p);
      dfa = attempt;
    } else userSpace.push(p.index);
  }
  return { dfa, userSpace };
}

/** Runs a DFA on a name, as the BPF step does: the accept mask of where it ends. */
export function runDfa(dfa: Dfa, name: Buffer): bigint {
  let state = 1;
  for (const b of name) {
    state = dfa.next[state]![dfa.byteClass[b]!]!;
    if (state === DEAD) return 0n;
  }
  return dfa.accept[state]!;
}

// ---- rules in Kleene logic ---------------------------------------------------

/** A boolean over pattern hits: constants folded, so TRUE/FALSE-only rules read plainly. */
type Bool = { k: "const"; v: boolean } | { k: "hit"; index: number } | { k: "not"; x: Bool } | { k: "and" | "or"; xs: Bool[] };

const T: Bool = { k: "const", v: true };
const F: Bool = { k: "const", v: false };

function not(x: Bool): Bool {
  if (x.k === "const") return x.v ? F : T;
  return x.k === "not" ? x.x : { k: "not", x };
}

function join(kind: "and" | "or", a: Bool, b: Bool): Bool {
  const absorbing = kind === "or";
  if ((a.k === "const" && a.v === absorbing) || (b.k === "const" && b.v === absorbing)) return absorbing ? T : F;
  if (a.k === "const") return b;
  if (b.k === "const") return a;
  const items = (x: Bool) => (x.k === kind ? x.xs : [x]);
  return { k: kind, xs: [...items(a), ...items(b)] };
}

/** A Kleene value as two booleans: `must` (surely TRUE) and `may` (not surely FALSE). */
interface Tri {
  must: Bool;
  may: Bool;
}

/** The rule's postfix matcher as must/may; `kernelHit(i)` is false for patterns only user space decides. */
export function ruleTri(prog: KernelOp[], kernelHit: (index: number) => boolean): Tri {
  const stack: Tri[] = [];
  const pop = () => stack.pop() ?? { must: F, may: T };
  for (const op of prog) {
    switch (op.op) {
      case "true":
        stack.push({ must: T, may: T });
        break;
      case "unknown":
        stack.push({ must: F, may: T });
        break;
      case "pattern":
        if (kernelHit(op.index)) {
          const h: Bool = { k: "hit", index: op.index };
          stack.push({ must: h, may: h });
        } else stack.push({ must: F, may: T });
        break;
      case "not": {
        const x = pop();
        stack.push({ must: not(x.may), may: not(x.must) });
        break;
      }
      case "and":
      case "or": {
        const b = pop();
        const a = pop();
        stack.push({ must: join(op.op, a.must, b.must), may: join(op.op, a.may, b.may) });
        break;
      }
    }
  }
  // An empty or malformed program decides nothing in the kernel.
  return stack.length === 1 ? stack[0]! : { must: F, may: T };
}

function cBool(b: Bool, patterns: ExePatternIR[]): string {
  switch (b.k) {
    case "const":
      return b.v ? "1" : "0";
    case "hit": {
      const p = patterns[b.index]!;
      const op = p.kind === "glob" ? "matches" : "==";
      return `ACG_HIT(hits, ${b.index}) /* ${p.subject} ${op} ${cString(p.text)} */`;
    }
    case "not":
      return `!${b.x.k === "and" || b.x.k === "or" ? `(${cBool(b.x, patterns)})` : cBool(b.x, patterns)}`;
    case "and":
    case "or": {
      const parts = b.xs.map((x) => (x.k === "and" || x.k === "or" ? `(${cBool(x, patterns)})` : cBool(x, patterns)));
      return parts.join(b.k === "and" ? " &&\n\t    " : " ||\n\t    ");
    }
  }
}

/** Text safe inside a C block comment: neither opens nor closes one. */
function commentSafe(s: string): string {
  return s.replace(/\*\//g, "*\\/").replace(/\/\*/g, "/\\*");
}

/** A pattern as a quoted string, for comments. */
function cString(s: string): string {
  return commentSafe(JSON.stringify(s));
}

/** C identifiers for the rules: acg_rule_<name>, made unique. */
function ruleFunctionNames(rules: RuleIR[]): string[] {
  const seen = new Set<string>();
  return rules.map((r) => {
    let name = `acg_rule_${r.name.replace(/[^A-Za-z0-9_]/g, "_")}`;
    if (seen.has(name)) name = `${name}_${r.id}`;
    seen.add(name);
    return name;
  });
}

// ---- C emission ---------------------------------------------------------------

function emitDfa(prefix: "exe" | "path", dfa: Dfa, patterns: ExePatternIR[]): string {
  const upper = prefix.toUpperCase();
  const names = dfa.patterns.map((i) => `${i}: ${patterns[i]!.kind === "glob" ? "glob" : "exact"} ${cString(patterns[i]!.text)}`);
  const rows = dfa.next.map((row, s) => `\t/* ${String(s).padStart(3)} */ { ${row.join(", ")} },`);
  const accept = dfa.accept.map((m, s) => (m ? `\t[${s}] = 0x${m.toString(16)}ull,` : "")).filter(Boolean);
  const classes: string[] = [];
  dfa.byteClass.forEach((c, b) => {
    if (c) classes.push(`[${b}] = ${c}`);
  });
  const subject = prefix === "exe" ? "the basename of the executed file" : "the executed file's full name";
  return `/*
 * DFA over ${subject}: ${dfa.next.length} states (0 = no match possible, 1 = start),
 * ${dfa.classes} byte classes. Patterns (bit = IR index):
${names.map((n) => ` *   ${n}`).join("\n")}
 */
#define ACG_${upper}_STATES ${dfa.next.length}
#define ACG_${upper}_CLASSES ${dfa.classes}
static const u8 acg_${prefix}_class[256] = { ${classes.join(", ")} };
static const u16 acg_${prefix}_next[ACG_${upper}_STATES][ACG_${upper}_CLASSES] = {
${rows.join("\n")}
};
static const u64 acg_${prefix}_accept[ACG_${upper}_STATES] = {
${accept.join("\n")}
};

/* One byte of the name per bpf_loop() step; the state lives in the per-CPU scratch. */
static long acg_${prefix}_step(u64 index, void *data)
{
	struct acg_exec_scratch *s = ((struct acg_walk *)data)->s;
	u32 state = s->dfa_state, cls;

	if (index >= ACG_PATH_LEN || state >= ACG_${upper}_STATES)
		return 1;
	cls = acg_${prefix}_class[(u8)s->${prefix === "exe" ? "base" : "path"}[index & (ACG_PATH_LEN - 1)]];
	if (cls >= ACG_${upper}_CLASSES)
		return 1;
	state = acg_${prefix}_next[state][cls];
	s->dfa_state = state;
	return state == 0;
}
`;
}

export interface ClassifierCode {
  /** C inserted into classifier.bpf.c: tables, step functions, rule functions, acg_scan() and acg_classify(). */
  text: string;
  /** Patterns the DFAs left out (user space decides them). */
  userSpacePatterns: number[];
}

/**
 * Whether two policies' exe/path matchers differ as code: the exec
 * classifier is generated from them, so a change needs a new classifier
 * object (a policy that differs only in numbers, names or rule bodies the
 * kernel does not decide keeps the running one).
 */
export function classifierMatchersDiffer(running: PolicyIR, next: PolicyIR): boolean {
  return emitClassifierCode(running).text !== emitClassifierCode(next).text;
}

export function emitClassifierCode(ir: PolicyIR): ClassifierCode {
  const patterns = ir.exePatterns;
  const exe = subjectDfa(patterns.filter((p) => p.subject === "exe"));
  const path = subjectDfa(patterns.filter((p) => p.subject === "path"));
  const inKernel = new Set([...(exe.dfa?.patterns ?? []), ...(path.dfa?.patterns ?? [])]);
  const fnNames = ruleFunctionNames(ir.rules);

  const scans: string[] = [];
  if (exe.dfa) {
    scans.push(`\ts->dfa_state = 1;
	bpf_loop(s->path_len - s->base_off, acg_exe_step, &walk, 0);
	if (s->dfa_state < ACG_EXE_STATES)
		hits |= acg_exe_accept[s->dfa_state];`);
  }
  if (path.dfa) {
    scans.push(`\ts->dfa_state = 1;
	bpf_loop(s->path_len, acg_path_step, &walk, 0);
	if (s->dfa_state < ACG_PATH_STATES)
		hits |= acg_path_accept[s->dfa_state];`);
  }

  const ruleFns = ir.rules.map((r, i) => {
    const tri = ruleTri(r.kernelMatch, (index) => inKernel.has(index));
    const body: string[] = [];
    const must = cBool(tri.must, patterns);
    const may = cBool(tri.may, patterns);
    if (must === "1") body.push("\treturn ACG_TRUE;");
    else if (may === "0") body.push("\treturn ACG_FALSE;");
    else if (must === may) body.push(`\treturn ${must} ? ACG_TRUE : ACG_FALSE;`);
    else {
      if (must !== "0") body.push(`\tif (${must})\n\t\treturn ACG_TRUE;`);
      if (may === "1") body.push("\treturn ACG_UNKNOWN;");
      else body.push(`\tif (${may})\n\t\treturn ACG_UNKNOWN;`, "\treturn ACG_FALSE;");
    }
    const userSpace = r.kernelMatch.some((op) => op.op === "unknown" || (op.op === "pattern" && !inKernel.has(op.index)));
    const what = userSpace ? "UNKNOWN where its answer needs what only user space sees" : "decided in the kernel";
    return `/* rule ${i} "${commentSafe(r.name)}" (${what}) */
__noinline u32 ${fnNames[i]}(u64 hits)
{
${body.join("\n")}
}`;
  });

  const classify = ir.rules.map(
    (_, i) => `\tverdict = ${fnNames[i]}(hits);
	if (verdict != ACG_FALSE)
		return verdict == ACG_TRUE ? ${i} : ACG_NONE;`,
  );

  const text = `#define ACG_HIT(hits, i) (((hits) >> (i)) & 1)

${exe.dfa ? emitDfa("exe", exe.dfa, patterns) : "/* No exe pattern the kernel decides. */\n"}
${path.dfa ? emitDfa("path", path.dfa, patterns) : "/* No path pattern the kernel decides. */\n"}
/* The patterns the exec's names match: bit i = pattern i. */
static __always_inline u64 acg_scan(struct acg_exec_scratch *s)
{
${scans.length ? `\tstruct acg_walk walk = { .s = s };\n\tu64 hits = 0;\n\n${scans.join("\n\n")}\n\treturn hits;` : "\treturn 0;"}
}

${ruleFns.join("\n\n")}

/* The winning rule (the first TRUE), or ACG_NONE when a rule before it may match on what only user space sees. */
static __always_inline u32 acg_classify(u64 hits)
{
	u32 verdict;

${classify.join("\n")}
	return ACG_NONE;
}

#define ACG_DEFAULT_RULE ${ir.defaultRuleId}
`;
  return { text, userSpacePatterns: [...exe.userSpace, ...path.userSpace] };
}
