// Pass 2: tokens → AST. A chevrotain parser with error recovery, so that one run
// reports every syntax error it can get past rather than only the first.

import {
  EmbeddedActionsParser,
  type IParserErrorMessageProvider,
  type IRecognitionException,
  type IToken,
  type TokenType,
  EOF,
  MismatchedTokenException,
} from "./chevrotain.js";
import * as T from "./lexer.js";
import type * as A from "./ast.js";
import { M } from "./diagnostic-messages.js";
import { diagnostic, type Diagnostic } from "./diagnostics.js";
import type { Span } from "./source.js";
import { lex } from "./lexer.js";
import { isUnitWord } from "./units.js";

/** Nesting deeper than this is refused before it can exhaust the stack. */
export const MAX_NESTING = 64;

export interface ParseResult {
  ast: A.PolicyFile;
  /** E0101 and E0102, each with its span, in source order. */
  errors: Diagnostic[];
}

/**
 * chevrotain keeps what a parse error expected only in the error's message, and
 * its own messages are English sentences. These messages are the expected token
 * types' names as JSON instead, so that expectedOf reads them back as data.
 */
const EXPECTED_AS_JSON: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected }) => JSON.stringify([expected.name]),
  buildNotAllInputParsedMessage: () => JSON.stringify([EOF.name]),
  // Only the first token of each path: what may come next, which is what a reader needs.
  buildNoViableAltMessage: ({ expectedPathsPerAlt }) => firstsAsJson(expectedPathsPerAlt.flat()),
  buildEarlyExitMessage: ({ expectedIterationPaths }) => firstsAsJson(expectedIterationPaths),
};

function firstsAsJson(paths: TokenType[][]): string {
  return JSON.stringify(paths.flatMap((path) => (path[0] ? [path[0].name] : [])));
}

const TOKEN_BY_NAME = new Map([...T.allTokens, EOF].map((t) => [t.name, t]));

/** The token types a parse error expected (from EXPECTED_AS_JSON). */
function expectedOf(e: IRecognitionException): TokenType[] {
  return (JSON.parse(e.message) as string[]).map((name) => TOKEN_BY_NAME.get(name)!);
}

class PolicyParser extends EmbeddedActionsParser {
  private depth = 0;
  nestingError: Span | null = null;

  constructor(validate: boolean) {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, errorMessageProvider: EXPECTED_AS_JSON, skipValidations: !validate });
    this.performSelfAnalysis();
  }

  private span(first: IToken | undefined, last: IToken | undefined): Span {
    // While chevrotain records the grammar, tokens and sub-results are placeholders.
    if (this.RECORDING_PHASE || !first || !last) return { start: 0, end: 0 };
    const start = Number.isFinite(first.startOffset) ? first.startOffset : last.startOffset || 0;
    // The lexer tracks start offsets only; a token ends where its image does.
    // Tokens inserted by error recovery have no offset and end at the start.
    const lastEnd = Number.isFinite(last.startOffset) ? last.startOffset + last.image.length : start;
    return { start, end: Math.max(start, lastEnd) };
  }

  private spanOf(a: { span: Span } | undefined, b: { span: Span } | undefined, fallback: Span): Span {
    const s = a?.span ?? fallback;
    const e = b?.span ?? s;
    return { start: s.start, end: Math.max(s.end, e.end) };
  }

  private ident(tok: IToken): A.Ident {
    if (this.RECORDING_PHASE) return { name: "", span: { start: 0, end: 0 } };
    return { name: tok.image, span: this.span(tok, tok) };
  }

  public file = this.RULE("file", (): A.PolicyFile => {
    const version = this.OPTION(() => this.SUBRULE(this.versionDecl)) ?? null;
    const policy = this.OPTION2(() => this.SUBRULE(this.policyDecl)) ?? null;
    return { version, policy, comments: [], span: { start: 0, end: 0 } };
  });

  private versionDecl = this.RULE("versionDecl", (): A.VersionDecl => {
    const kw = this.CONSUME(T.Kw.version);
    const value = this.SUBRULE(this.quantity);
    this.OPTION(() => this.CONSUME(T.Semicolon));
    return { kind: "version", value, span: this.ACTION(() => this.spanOf({ span: this.span(kw, kw) }, value, this.span(kw, kw))) };
  });

  private policyDecl = this.RULE("policyDecl", (): A.PolicyDecl => {
    const kw = this.CONSUME(T.Kw.policy);
    const name = this.CONSUME(T.Identifier);
    this.CONSUME(T.LBrace);
    const items: A.Item[] = [];
    this.MANY(() => {
      const item = this.SUBRULE(this.item);
      this.OPTION(() => this.CONSUME(T.Semicolon));
      this.ACTION(() => item && items.push(item));
    });
    const close = this.CONSUME(T.RBrace);
    return { kind: "policy", name: this.ident(name), items, span: this.span(kw, close) };
  });

  private item = this.RULE("item", (): A.Item =>
    this.OR([
      { ALT: () => this.SUBRULE(this.hostBlock) },
      { ALT: () => this.SUBRULE(this.classBlock) },
      { ALT: () => this.SUBRULE(this.tenantBlock) },
      { ALT: () => this.SUBRULE(this.agentBlock) },
      { ALT: () => this.SUBRULE(this.toolBlock) },
      { ALT: () => this.SUBRULE(this.whenBlock) },
      { ALT: () => this.SUBRULE(this.ladderBlock) },
    ]),
  );

  private hostBlock = this.RULE("hostBlock", (): A.HostBlock => {
    const kw = this.CONSUME(T.Kw.host);
    const { body, close } = this.SUBRULE(this.settingsBody);
    return { kind: "host", body, span: this.span(kw, close) };
  });

  private classBlock = this.RULE("classBlock", (): A.ClassBlock => {
    const kw = this.CONSUME(T.Kw.class);
    const name = this.CONSUME(T.Identifier);
    const { body, close } = this.SUBRULE(this.settingsBody);
    return { kind: "class", name: this.ident(name), body, span: this.span(kw, close) };
  });

  private settingsBody = this.RULE("settingsBody", (): { body: A.Setting[]; close: IToken } => {
    this.CONSUME(T.LBrace);
    const body: A.Setting[] = [];
    this.MANY(() => {
      const s = this.SUBRULE(this.setting);
      this.ACTION(() => s && body.push(s));
    });
    const close = this.CONSUME(T.RBrace);
    return { body, close };
  });

  private tenantBlock = this.RULE("tenantBlock", (): A.TenantBlock => {
    const kw = this.CONSUME(T.Kw.tenant);
    const name = this.CONSUME(T.Identifier);
    this.CONSUME(T.LBrace);
    const body: (A.Setting | A.AgentBlock)[] = [];
    this.MANY(() => {
      const s = this.OR([{ ALT: () => this.SUBRULE(this.setting) }, { ALT: () => this.SUBRULE(this.agentBlock) }]);
      this.ACTION(() => s && body.push(s));
    });
    const close = this.CONSUME(T.RBrace);
    return { kind: "tenant", name: this.ident(name), body, span: this.span(kw, close) };
  });

  private agentBlock = this.RULE("agentBlock", (): A.AgentBlock => {
    const kw = this.CONSUME(T.Kw.agent);
    this.CONSUME(T.LBrace);
    const body: (A.Setting | A.IntentStmt | A.ClassRef)[] = [];
    this.MANY(() => {
      const s = this.OR([
        { ALT: () => this.SUBRULE(this.setting) },
        { ALT: () => this.SUBRULE(this.intentStmt) },
        {
          // Settings and intents take their own `;`; a class statement, as in a tool block, takes it here.
          ALT: () => {
            const c = this.SUBRULE(this.classRef);
            this.OPTION(() => this.CONSUME(T.Semicolon));
            return c;
          },
        },
      ]);
      this.ACTION(() => s && body.push(s));
    });
    const close = this.CONSUME(T.RBrace);
    return { kind: "agent", body, span: this.span(kw, close) };
  });

  private intentStmt = this.RULE("intentStmt", (): A.IntentStmt => {
    const kw = this.CONSUME(T.Kw.intent);
    const subjectTok = this.OR([{ ALT: () => this.CONSUME(T.Identifier) }, { ALT: () => this.CONSUME(T.Kw.class) }]);
    const op = this.OR2([{ ALT: () => (this.CONSUME(T.LessEq), "<=" as const) }, { ALT: () => (this.CONSUME(T.Kw.in), "in" as const) }]);
    const value = this.SUBRULE(this.value);
    this.OPTION(() => this.CONSUME(T.Semicolon));
    return {
      kind: "intent",
      subject: this.ident(subjectTok),
      op,
      value,
      span: this.ACTION(() => this.spanOf({ span: this.span(kw, kw) }, value, this.span(kw, kw))),
    };
  });

  private toolBlock = this.RULE("toolBlock", (): A.ToolBlock => {
    const kw = this.CONSUME(T.Kw.tool);
    const name = this.CONSUME(T.Identifier);
    this.CONSUME(T.LBrace);
    const body: A.ToolStmt[] = [];
    this.MANY(() => {
      const s = this.OR([
        { ALT: () => this.SUBRULE(this.matchStmt) },
        { ALT: () => this.SUBRULE(this.classRef) },
        { ALT: () => this.SUBRULE(this.overHighStmt) },
        { ALT: () => this.SUBRULE(this.setting) },
      ]);
      this.OPTION(() => this.CONSUME(T.Semicolon));
      this.ACTION(() => s && body.push(s));
    });
    const close = this.CONSUME(T.RBrace);
    return { kind: "tool", name: this.ident(name), body, span: this.span(kw, close) };
  });

  private matchStmt = this.RULE("matchStmt", (): A.MatchStmt => {
    const kw = this.CONSUME(T.Kw.match);
    const expr = this.SUBRULE(this.orExpr);
    return { kind: "match", expr, span: this.ACTION(() => this.spanOf({ span: this.span(kw, kw) }, expr, this.span(kw, kw))) };
  });

  private classRef = this.RULE("classRef", (): A.ClassRef => {
    const kw = this.CONSUME(T.Kw.class);
    const name = this.CONSUME(T.Identifier);
    return { kind: "classref", name: this.ident(name), span: this.span(kw, name) };
  });

  private overHighStmt = this.RULE("overHighStmt", (): A.OverHighStmt => {
    const kw = this.CONSUME(T.Kw.over_high);
    const actions: A.OverHighAction[] = [];
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () => {
        const a = this.SUBRULE(this.overHighAction);
        this.ACTION(() => a && actions.push(a));
      },
    });
    return {
      kind: "over_high",
      actions,
      span: this.ACTION(() => this.spanOf({ span: this.span(kw, kw) }, actions[actions.length - 1], this.span(kw, kw))),
    };
  });

  private overHighAction = this.RULE("overHighAction", (): A.OverHighAction =>
    this.OR([
      {
        ALT: () => {
          const kw = this.CONSUME(T.Kw.throttle);
          const range = this.SUBRULE(this.value);
          const ramp = this.OPTION(() => {
            this.CONSUME(T.Kw.ramp);
            return this.SUBRULE2(this.value);
          });
          return this.ACTION((): A.OverHighAction => {
            const a: A.OverHighAction = {
              kind: "throttle",
              range,
              span: this.spanOf({ span: this.span(kw, kw) }, ramp ?? range, this.span(kw, kw)),
            };
            if (ramp) a.ramp = ramp;
            return a;
          });
        },
      },
      {
        ALT: () => {
          const kw = this.CONSUME(T.Kw.kill);
          const after = this.OPTION2(() => {
            this.CONSUME(T.Kw.after);
            return this.SUBRULE3(this.value);
          });
          return this.ACTION((): A.OverHighAction => {
            const a: A.OverHighAction = { kind: "kill", span: this.spanOf({ span: this.span(kw, kw) }, after, this.span(kw, kw)) };
            if (after) a.after = after;
            return a;
          });
        },
      },
    ]),
  );

  private whenBlock = this.RULE("whenBlock", (): A.WhenBlock => {
    const kw = this.CONSUME(T.Kw.when);
    const metric = this.CONSUME(T.Identifier);
    const open = this.CONSUME(T.LParen);
    const scope = this.SUBRULE(this.pressureScope);
    this.CONSUME(T.RParen);
    const op = this.OR([{ ALT: () => (this.CONSUME(T.Greater), ">" as const) }, { ALT: () => (this.CONSUME(T.GreaterEq), ">=" as const) }]);
    const threshold = this.SUBRULE(this.value);
    this.CONSUME(T.Kw.for);
    const window = this.SUBRULE2(this.value);
    this.CONSUME(T.LBrace);
    const actions: A.PressureAction[] = [];
    this.MANY(() => {
      const a = this.SUBRULE(this.pressureAction);
      this.OPTION2(() => this.CONSUME(T.Semicolon));
      this.ACTION(() => a && actions.push(a));
    });
    const close = this.CONSUME(T.RBrace);
    void open;
    return { kind: "when", metric: this.ident(metric), scope, op, threshold, window, actions, span: this.span(kw, close) };
  });

  /** Which memory domain a `when` rule or a `ladder` watches. */
  private pressureScope = this.RULE("pressureScope", (): A.PressureScope =>
    this.OR([
      {
        ALT: () => {
          const t = this.CONSUME(T.Kw.host);
          return { kind: "host" as const, span: this.span(t, t) };
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.Kw.agent);
          return { kind: "agent" as const, span: this.span(t, t) };
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.Kw.tenant);
          const n = this.OPTION(() => this.CONSUME(T.Identifier));
          return this.ACTION((): A.PressureScope =>
            n ? { kind: "tenant", name: this.ident(n), span: this.span(t, n) } : { kind: "tenant", span: this.span(t, t) },
          );
        },
      },
    ]),
  );

  private ladderBlock = this.RULE("ladderBlock", (): A.LadderBlock => {
    const kw = this.CONSUME(T.Kw.ladder);
    const scope = this.SUBRULE(this.pressureScope);
    const { body, close } = this.SUBRULE(this.settingsBody);
    return { kind: "ladder", scope, body, span: this.span(kw, close) };
  });

  private pressureAction = this.RULE("pressureAction", (): A.PressureAction =>
    this.OR([
      {
        ALT: () => {
          const kw = this.CONSUME(T.Kw.protect);
          const classes = this.SUBRULE(this.classList);
          return {
            kind: "protect" as const,
            classes,
            span: this.ACTION(() => this.spanOf({ span: this.span(kw, kw) }, classes[classes.length - 1], this.span(kw, kw))),
          };
        },
      },
      {
        ALT: () => {
          const kw = this.CONSUME(T.Kw.throttle);
          const classes = this.SUBRULE2(this.classList);
          const delay = this.SUBRULE(this.value);
          return {
            kind: "throttle" as const,
            classes,
            delay,
            span: this.ACTION(() => this.spanOf({ span: this.span(kw, kw) }, delay, this.span(kw, kw))),
          };
        },
      },
    ]),
  );

  private classList = this.RULE("classList", (): A.Ident[] => {
    const names: A.Ident[] = [];
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () => {
        const t = this.CONSUME(T.Identifier);
        this.ACTION(() => names.push(this.ident(t)));
      },
    });
    return names;
  });

  private setting = this.RULE("setting", (): A.Setting => {
    // `kill` is a keyword (over_high's action) and also a ladder step's name.
    const key = this.OR2([{ ALT: () => this.CONSUME(T.Identifier) }, { ALT: () => this.CONSUME(T.Kw.kill) }]);
    this.CONSUME(T.Equals);
    const value = this.SUBRULE(this.value);
    const modifiers: A.SettingModifier[] = [];
    this.MANY(() => {
      this.OPTION(() => this.CONSUME(T.Comma));
      const kw = this.OR([
        { ALT: () => this.CONSUME(T.Kw.for) },
        { ALT: () => this.CONSUME(T.Kw.refill) },
        { ALT: () => this.CONSUME(T.Kw.cooldown) },
      ]);
      const v = this.SUBRULE2(this.value);
      this.ACTION(() =>
        modifiers.push({
          keyword: kw.image as A.SettingModifier["keyword"],
          value: v,
          span: this.spanOf({ span: this.span(kw, kw) }, v, this.span(kw, kw)),
        }),
      );
    });
    this.OPTION2(() => this.CONSUME(T.Semicolon));
    return {
      kind: "setting",
      key: this.ident(key),
      value,
      modifiers,
      span: this.ACTION(() => this.spanOf({ span: this.span(key, key) }, modifiers[modifiers.length - 1] ?? value, this.span(key, key))),
    };
  });

  private orExpr = this.RULE("orExpr", (): A.Expr => {
    const items: A.Expr[] = [this.SUBRULE(this.andExpr)];
    this.MANY(() => {
      this.CONSUME(T.Kw.or);
      items.push(this.SUBRULE2(this.andExpr));
    });
    return this.ACTION(() =>
      items.length === 1 ? items[0]! : { kind: "or", items, span: this.spanOf(items[0], items[items.length - 1], { start: 0, end: 0 }) },
    );
  });

  private andExpr = this.RULE("andExpr", (): A.Expr => {
    const items: A.Expr[] = [this.SUBRULE(this.unaryExpr)];
    this.MANY(() => {
      this.CONSUME(T.Kw.and);
      items.push(this.SUBRULE2(this.unaryExpr));
    });
    return this.ACTION(() =>
      items.length === 1 ? items[0]! : { kind: "and", items, span: this.spanOf(items[0], items[items.length - 1], { start: 0, end: 0 }) },
    );
  });

  private unaryExpr = this.RULE("unaryExpr", (): A.Expr =>
    this.OR([
      {
        ALT: () => {
          const kw = this.CONSUME(T.Kw.not);
          const item = this.nested(() => this.SUBRULE(this.unaryExpr), kw);
          return this.ACTION((): A.Expr => ({
            kind: "not",
            item,
            span: this.spanOf({ span: this.span(kw, kw) }, item, this.span(kw, kw)),
          }));
        },
      },
      {
        ALT: () => {
          const open = this.CONSUME(T.LParen);
          const item = this.nested(() => this.SUBRULE(this.orExpr), open);
          const close = this.CONSUME(T.RParen);
          return { kind: "group" as const, item, span: this.span(open, close) };
        },
      },
      { ALT: () => this.SUBRULE(this.predicate) },
    ]),
  );

  /** Guards recursion: deep nesting becomes one located error, not a stack overflow. */
  private nested<R>(parse: () => R, at: IToken): R {
    if (this.RECORDING_PHASE) return parse();
    this.depth++;
    try {
      if (this.depth > MAX_NESTING) {
        this.nestingError ??= this.span(at, at);
        throw new MismatchedTokenException(`nesting deeper than ${MAX_NESTING} levels`, at, at);
      }
      return parse();
    } finally {
      this.depth--;
    }
  }

  private predicate = this.RULE("predicate", (): A.Predicate => {
    const subject = this.OR([
      { ALT: () => this.CONSUME(T.Identifier) },
      { ALT: () => this.CONSUME(T.Kw.tool) },
      { ALT: () => this.CONSUME(T.Kw.tenant) },
    ]);
    const op = this.OR2([
      { ALT: () => (this.CONSUME(T.EqEq), "==" as const) },
      { ALT: () => (this.CONSUME(T.NotEq), "!=" as const) },
      { ALT: () => (this.CONSUME(T.Kw.in), "in" as const) },
      { ALT: () => (this.CONSUME(T.Kw.matches), "matches" as const) },
      { ALT: () => (this.CONSUME(T.Tilde), "~" as const) },
    ]);
    const value = this.SUBRULE(this.value);
    return {
      kind: "pred",
      subject: this.ident(subject),
      op,
      value,
      span: this.ACTION(() => this.spanOf({ span: this.span(subject, subject) }, value, this.span(subject, subject))),
    };
  });

  private value = this.RULE("value", (): A.Value =>
    this.OR([
      {
        ALT: () => {
          const lo = this.SUBRULE(this.quantity);
          const hi = this.OPTION(() => {
            this.CONSUME(T.DotDot);
            return this.SUBRULE2(this.quantity);
          });
          return this.ACTION((): A.Value => (hi ? { kind: "range", lo, hi, span: this.spanOf(lo, hi, lo.span) } : lo));
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.Identifier);
          return { kind: "word" as const, name: t.image, span: this.span(t, t) };
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.StringLit);
          return { kind: "string" as const, value: this.ACTION(() => unescapeString(t.image)), span: this.span(t, t) };
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.RegexLit);
          return this.ACTION(() => regexValue(t, this.span(t, t)));
        },
      },
      { ALT: () => this.SUBRULE(this.list) },
    ]),
  );

  private list = this.RULE("list", (): A.List => {
    const open = this.CONSUME(T.LBracket);
    const items: A.Value[] = [];
    this.MANY_SEP({
      SEP: T.Comma,
      DEF: () => {
        const v = this.nested(() => this.SUBRULE(this.value), open);
        this.ACTION(() => v && items.push(v));
      },
    });
    const close = this.CONSUME(T.RBracket);
    return { kind: "list", items, span: this.span(open, close) };
  });

  private quantity = this.RULE("quantity", (): A.Quantity => {
    const t = this.CONSUME(T.Quantity);
    return this.ACTION(() => {
      const m = /^(-?\d+(?:\.\d+)?)(.*)$/.exec(t.image);
      return { kind: "quantity" as const, number: m?.[1] ?? "0", unit: m?.[2] ?? "", span: this.span(t, t) };
    });
  });
}

function unescapeString(image: string): string {
  // Most strings have no escape: skip the replace and its callback for them.
  if (!image.includes("\\")) return image.slice(1, -1);
  return image.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c));
}

function regexValue(t: IToken, span: Span): A.Regex {
  const last = t.image.lastIndexOf("/");
  return { kind: "regex", source: t.image.slice(1, last), flags: t.image.slice(last + 1), span };
}

let sharedParser: PolicyParser | undefined;

/**
 * Builds the lexer and the parser with chevrotain's validations of the token
 * table and the grammar (ambiguities, left recursion, unreachable
 * alternatives), which throw on a defect. They cost ~55 ms at every start, so
 * the shared instances skip them and the tests run them here.
 */
export function validateGrammar(): void {
  T.createPolicyLexer(true);
  new PolicyParser(true);
}

export function parse(text: string): ParseResult {
  const lexed = lex(text);
  const errors = [...lexed.errors];
  // The parser takes a spaced unit for the start of a statement and trips on the
  // token after it: that complaint would only repeat this one.
  const afterSpacedUnit = new Set<number>();
  for (const [number, unit, next] of spacedUnits(lexed.tokens, text)) {
    afterSpacedUnit.add(unit.startOffset);
    if (next) afterSpacedUnit.add(next.startOffset);
    errors.push(
      diagnostic(
        M.SpacedUnit,
        { start: number.startOffset, end: unit.startOffset + unit.image.length },
        { number: number.image, unit: unit.image },
      ),
    );
  }
  // Nesting past the limit is refused before parsing: the parser's error
  // recovery would resynchronize at every level, quadratic in the depth.
  const deep = firstTooDeep(lexed.tokens);
  if (deep) {
    errors.push(diagnostic(M.NestedTooDeep, tokSpan(deep), { max: MAX_NESTING }));
    return { ast: { version: null, policy: null, comments: lexed.comments, span: { start: 0, end: text.length } }, errors };
  }
  const parser = (sharedParser ??= new PolicyParser(false));
  parser.nestingError = null;
  parser.input = lexed.tokens;
  const ast = parser.file() ?? { version: null, policy: null, comments: [], span: { start: 0, end: 0 } };
  ast.comments = lexed.comments;
  ast.span = { start: 0, end: text.length };

  if (parser.nestingError) {
    errors.push(diagnostic(M.NestedTooDeep, parser.nestingError, { max: MAX_NESTING }));
  } else {
    // A character the lexer refused usually derails the parser on that line; its
    // follow-on complaints would only bury the real one.
    const badLines = new Set(errors.map((e) => lineOf(text, e.span!.start)));
    for (const e of parser.errors) {
      if (Number.isFinite(e.token.startOffset) && badLines.has(lineOf(text, e.token.startOffset))) continue;
      if (afterSpacedUnit.has(e.token.startOffset)) continue;
      if (e.name === "NotAllInputParsedException") errors.push(diagnostic(M.TrailingInput, tokSpan(e.token), { found: describe(e.token) }));
      else errors.push(syntaxError(e.token, expectedOf(e), text));
    }
  }
  errors.sort((a, b) => a.span!.start - b.span!.start);
  return { ast, errors: dedupe(errors) };
}

/** A unitless number followed on the same line, after blanks only, by a unit word (`512 MiB`), and the token after that. */
function spacedUnits(tokens: IToken[], text: string): [IToken, IToken, IToken | undefined][] {
  const out: [IToken, IToken, IToken | undefined][] = [];
  for (let i = 0; i + 1 < tokens.length; i++) {
    const number = tokens[i]!;
    const unit = tokens[i + 1]!;
    if (number.tokenType !== T.Quantity || !/\d$/.test(number.image) || unit.tokenType !== T.Identifier || !isUnitWord(unit.image))
      continue;
    if (/^[ \t]+$/.test(text.slice(number.startOffset + number.image.length, unit.startOffset))) out.push([number, unit, tokens[i + 2]]);
  }
  return out;
}

/** The first `(`, `[` or `not` that opens a level past MAX_NESTING (brackets, plus a run of `not`s before an operand). */
function firstTooDeep(tokens: IToken[]): IToken | undefined {
  let brackets = 0;
  let nots = 0;
  for (const t of tokens) {
    const type = t.tokenType;
    if (type === T.LParen || type === T.LBracket) brackets++;
    else if (type === T.RParen || type === T.RBracket) brackets = Math.max(0, brackets - 1);
    if (type === T.Kw.not) nots++;
    else if (type !== T.LParen && type !== T.LBracket) nots = 0;
    if (brackets + nots > MAX_NESTING) return t;
  }
  return undefined;
}

function lineOf(text: string, offset: number): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

function describe(t: IToken): string {
  if (t.tokenType === EOF) return "end of file";
  if (t.tokenType === T.Identifier) return `name '${t.image}'`;
  if (t.tokenType.name.startsWith("Kw_")) return `keyword '${t.image}'`;
  const img = t.image.length > 30 ? t.image.slice(0, 27) + "..." : t.image;
  return `'${img}'`;
}

function tokSpan(t: IToken): Span {
  return { start: t.startOffset, end: t.startOffset + Math.max(1, t.image.length) };
}

function syntaxError(tok: IToken, expected: readonly TokenType[], text: string): Diagnostic {
  const atEof = tok.tokenType === EOF || !Number.isFinite(tok.startOffset);
  const span = atEof ? { start: Math.max(0, text.length - 1), end: text.length } : tokSpan(tok);
  const found = atEof ? "end of file" : describe(tok);
  const help = syntaxHelp(tok, expected, atEof);
  // A closing bracket is what chevrotain expects where a repetition (a block's
  // settings, a list's items, `and`/`or`) stops, and it names the closer alone:
  // "expected '}', found X" would hide everything the repetition also takes.
  // Where the file has ended, the closer is what is missing, so it is named there.
  if (!atEof && expected.length === 1 && CLOSERS.has(expected[0]!)) return diagnostic(M.Unexpected, span, { found, help });
  const labels = [...new Set(expected.map(labelOf))];
  // Where anything would do, say what kind of thing rather than list every token that starts one.
  if (expected.includes(T.Quantity) && expected.includes(T.StringLit)) return diagnostic(M.ExpectedValue, span, { found, help });
  if (expected.includes(T.Kw.not) && expected.includes(T.LParen)) return diagnostic(M.ExpectedMatcher, span, { found, help });
  if (labels.length === 0) return diagnostic(M.Unexpected, span, { found, help });
  if (labels.length === 1) return diagnostic(M.ExpectedToken, span, { token: labels[0]!, found, help });
  const tokens = labels.length > 6 ? `${labels.slice(0, 6).join(", ")}, ...` : labels.join(", ");
  return diagnostic(M.ExpectedOneOf, span, { tokens, found, help });
}

const CLOSERS = new Set([T.RBrace, T.RBracket, T.RParen]);

function labelOf(tok: TokenType): string {
  if (tok === T.Identifier) return "a name";
  if (tok === EOF) return "end of file";
  return tok.LABEL ?? tok.name;
}

function syntaxHelp(tok: IToken, expected: readonly TokenType[], atEof: boolean): keyof typeof M.Unexpected.help | undefined {
  const only = expected.length === 1 ? expected[0] : undefined;
  if (atEof && only === T.RBrace) return "unclosedBlock";
  if (tok.tokenType === T.Kw.version) return "versionTwice";
  if (only === T.Equals && tok.tokenType === T.Quantity) return "settingForm";
  if (expected.includes(T.Kw.policy)) return undefined;
  if (tok.tokenType === T.Identifier && /^(KiB|MiB|GiB|TiB|B|us|ms|s)$/.test(tok.image)) return "unitSpace";
  return undefined;
}

function dedupe(errors: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.span!.start}:${e.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
