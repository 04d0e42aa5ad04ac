// Pass 1: source text → tokens. Comments are kept on the side for the formatter.

import { createToken, Lexer, type IToken, type TokenType } from "./chevrotain.js";
import { M } from "./diagnostic-messages.js";
import { diagnostic, type Diagnostic } from "./diagnostics.js";

export const Identifier = createToken({
  name: "Identifier",
  // Dotted names (`memory.baseline`, `cpu.weight`) are one token: settings are addressed by them.
  pattern: /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/,
});

function keyword(word: string): TokenType {
  return createToken({ name: `Kw_${word}`, pattern: new RegExp(word), longer_alt: Identifier, label: `'${word}'` });
}

export const Kw = {
  version: keyword("version"),
  policy: keyword("policy"),
  host: keyword("host"),
  class: keyword("class"),
  tenant: keyword("tenant"),
  agent: keyword("agent"),
  tool: keyword("tool"),
  match: keyword("match"),
  when: keyword("when"),
  ladder: keyword("ladder"),
  intent: keyword("intent"),
  over_high: keyword("over_high"),
  throttle: keyword("throttle"),
  kill: keyword("kill"),
  after: keyword("after"),
  ramp: keyword("ramp"),
  protect: keyword("protect"),
  for: keyword("for"),
  refill: keyword("refill"),
  cooldown: keyword("cooldown"),
  and: keyword("and"),
  or: keyword("or"),
  not: keyword("not"),
  in: keyword("in"),
  matches: keyword("matches"),
} as const;

export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n\f\v\u00a0\ufeff]+/, group: Lexer.SKIPPED });
export const LineComment = createToken({ name: "LineComment", pattern: /\/\/[^\n]*/, group: "comments" });
export const BlockComment = createToken({ name: "BlockComment", pattern: /\/\*[\s\S]*?\*\//, group: "comments", line_breaks: true });
/**
 * Tokens that are lexed only to be reported: they go to their own group, so the
 * parser's token vector is chevrotain's own and is not copied to drop them.
 */
const MALFORMED = "malformed";
/** Not a comment in this language; lexed whole so that one error covers the line. */
export const HashComment = createToken({ name: "HashComment", pattern: /#[^\n]*/, label: "'#'", group: MALFORMED });
export const UnterminatedBlockComment = createToken({
  name: "UnterminatedBlockComment",
  pattern: /\/\*[\s\S]*/,
  line_breaks: true,
  label: "unterminated comment",
  group: MALFORMED,
});
/** A number with its unit glued on: `512MiB`, `20ms`, `40%`, `400`. Units are checked later, with hints. */
export const Quantity = createToken({ name: "Quantity", pattern: /-?\d+(?:\.\d+)?(?:[A-Za-z%]+)?/, label: "number" });
export const StringLit = createToken({ name: "StringLit", pattern: /"(?:[^"\\\n]|\\.)*"/, label: "string" });
export const UnterminatedString = createToken({
  name: "UnterminatedString",
  pattern: /"(?:[^"\\\n]|\\.)*/,
  label: "unterminated string",
  group: MALFORMED,
});
export const RegexLit = createToken({ name: "RegexLit", pattern: /\/(?:[^/\\\n]|\\.)+\/[A-Za-z]*/, label: "regex" });
export const LBrace = createToken({ name: "LBrace", pattern: /\{/, label: "'{'" });
export const RBrace = createToken({ name: "RBrace", pattern: /\}/, label: "'}'" });
export const LBracket = createToken({ name: "LBracket", pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: "RBracket", pattern: /\]/, label: "']'" });
export const LParen = createToken({ name: "LParen", pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: "RParen", pattern: /\)/, label: "')'" });
export const DotDot = createToken({ name: "DotDot", pattern: /\.\./, label: "'..'" });
export const EqEq = createToken({ name: "EqEq", pattern: /==/, label: "'=='" });
export const NotEq = createToken({ name: "NotEq", pattern: /!=/, label: "'!='" });
export const LessEq = createToken({ name: "LessEq", pattern: /<=/, label: "'<='" });
export const GreaterEq = createToken({ name: "GreaterEq", pattern: />=/, label: "'>='" });
export const Greater = createToken({ name: "Greater", pattern: />/, label: "'>'" });
export const Equals = createToken({ name: "Equals", pattern: /=/, label: "'='" });
export const Tilde = createToken({ name: "Tilde", pattern: /~/, label: "'~'" });
export const Semicolon = createToken({ name: "Semicolon", pattern: /;/, label: "';'" });
export const Comma = createToken({ name: "Comma", pattern: /,/, label: "','" });

export const allTokens: TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
  UnterminatedBlockComment,
  HashComment,
  RegexLit,
  StringLit,
  UnterminatedString,
  Quantity,
  // Longest first, so that `matches` is not lexed as `match` + `es`, nor `intent` as `in` + `tent`.
  ...Object.values(Kw).sort((a, b) => String(b.PATTERN).length - String(a.PATTERN).length),
  Identifier,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
  LParen,
  RParen,
  DotDot,
  EqEq,
  NotEq,
  LessEq,
  GreaterEq,
  Greater,
  Equals,
  Tilde,
  Semicolon,
  Comma,
];

// Spans are offsets (SourceFile maps them to lines once, for messages); line and
// column tracking per token would double the lexer's time for nothing.
// chevrotain's checks of the token definitions cost ~30 ms at every start of
// acgc, the language server and acgd: they run in the tests (validateGrammar
// in parser.ts), where a broken token table throws.
export function createPolicyLexer(validate: boolean): Lexer {
  return new Lexer(allTokens, { ensureOptimizations: true, positionTracking: "onlyOffset", skipValidations: !validate });
}
export const policyLexer = createPolicyLexer(false);

export interface Comment {
  text: string;
  start: number;
  end: number;
}

export interface LexResult {
  tokens: IToken[];
  comments: Comment[];
  /** E0101 for characters and tokens no policy can hold, in source order. */
  errors: Diagnostic[];
}

export function lex(text: string): LexResult {
  const r = policyLexer.tokenize(text);
  const errors = r.errors.map((e) => {
    const ch = text[e.offset] ?? "";
    return diagnostic(
      M.UnexpectedCharacter,
      { start: e.offset, end: e.offset + Math.max(1, e.length) },
      { char: describeChar(ch), help: CHAR_HELP.get(ch) },
    );
  });
  for (const t of r.groups[MALFORMED] ?? []) {
    const at = (length: number) => ({ start: t.startOffset, end: t.startOffset + length });
    if (t.tokenType === UnterminatedString) errors.push(diagnostic(M.UnterminatedString, at(t.image.length)));
    else if (t.tokenType === HashComment) errors.push(diagnostic(M.UnexpectedCharacter, at(1), { char: "'#'", help: "hash" }));
    else if (t.tokenType === UnterminatedBlockComment) errors.push(diagnostic(M.UnterminatedComment, at(2)));
  }
  const comments = (r.groups["comments"] ?? []).map((t) => ({
    text: t.image,
    start: t.startOffset,
    end: t.startOffset + t.image.length,
  }));
  errors.sort((a, b) => a.span!.start - b.span!.start);
  return { tokens: r.tokens, comments, errors };
}

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  if (cp < 0x20 || cp === 0x7f || ch === "\ufffd") return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
  return `'${ch}'`;
}

/** Characters people bring from other languages, and the help that says what this one writes instead. */
const CHAR_HELP = new Map<string, keyof typeof M.UnexpectedCharacter.help>([
  ["#", "hash"],
  ["'", "singleQuote"],
  [":", "colon"],
  ["<", "comparison"],
  ["&", "logic"],
  ["|", "logic"],
  ["!", "logic"],
]);
