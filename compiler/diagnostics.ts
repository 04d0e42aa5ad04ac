// Diagnostics in the style of the best compilers: `file:line:col: error[E0123]: message`,
// the source line with the span underlined, and a `help:` line where a fix is known.

import { PLACEHOLDER, type Code, type Message, type ReportArgs, type Severity } from "./diagnostic-messages.js";
import type { SourceFile, Span } from "./source.js";

export type { Severity } from "./diagnostic-messages.js";

export interface Diagnostic {
  severity: Severity;
  /** Stable code, e.g. E0201; its messages are in diagnostic-messages.ts, its documentation in docs/diagnostics.md. */
  code: Code;
  message: string;
  /** Absent for diagnostics about the file as a whole (unreadable, not UTF-8, ...). */
  span?: Span;
  help?: string;
  /** A secondary location, e.g. the earlier rule that shadows this one. */
  note?: { message: string; span: Span };
}

/** Collects the diagnostics of one file across all passes. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];

  /** Reports message `m` of the table at `span` (absent: the file as a whole). */
  report<D extends Message>(m: D, span: Span | undefined, ...rest: ReportArgs<D>): Diagnostic {
    return this.push(diagnostic(m, span, ...rest));
  }

  push(d: Diagnostic): Diagnostic {
    this.items.push(d);
    return d;
  }

  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === "error");
  }

  /** Errors first, then warnings, then notes; each in source order. */
  sorted(): Diagnostic[] {
    const rank = (d: Diagnostic) => (d.severity === "error" ? 0 : d.severity === "warning" ? 1 : 2);
    return [...this.items].sort((a, b) => rank(a) - rank(b) || (a.span?.start ?? -1) - (b.span?.start ?? -1));
  }
}

/** Message `m` of the table, its templates filled in with the report's arguments. */
export function diagnostic<D extends Message>(m: D, span: Span | undefined, ...rest: ReportArgs<D>): Diagnostic {
  // The types above check the arguments against the templates; here they are plain values.
  const [given, noteAt] = rest as [Readonly<Record<string, string | number | undefined>>?, Span?];
  const args = given ?? {};
  const d: Diagnostic = { severity: m.severity, code: m.code, message: fill(m.text, args) };
  if (span) d.span = span;
  const help = typeof m.help === "string" ? m.help : m.help && args["help"] !== undefined ? m.help[args["help"]] : undefined;
  if (help !== undefined) d.help = fill(help, args);
  if (m.note !== undefined && noteAt) d.note = { message: fill(m.note, args), span: noteAt };
  return d;
}

function fill(template: string, args: Readonly<Record<string, string | number | undefined>>): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    const value = args[name];
    // The types demand every placeholder's argument; this catches a cast that lied.
    if (value === undefined) throw new Error(`diagnostic template "${template}" needs an argument {${name}}`);
    return String(value);
  });
}

const MAX_UNDERLINED_LINE = 200;

export function renderDiagnostic(d: Diagnostic, file: SourceFile | undefined, path: string): string {
  const out: string[] = [];
  if (!d.span || !file) {
    out.push(`${path}: ${d.severity}[${d.code}]: ${d.message}`);
  } else {
    const pos = file.position(d.span.start);
    out.push(`${path}:${pos.line}:${pos.col}: ${d.severity}[${d.code}]: ${d.message}`);
    out.push(...renderSnippet(file, d.span, "^"));
    if (d.note) {
      const npos = file.position(d.note.span.start);
      out.push(`note: ${d.note.message} (${path}:${npos.line}:${npos.col})`);
      out.push(...renderSnippet(file, d.note.span, "-"));
    }
  }
  if (d.help) out.push(`  help: ${d.help}`);
  return out.join("\n");
}

function renderSnippet(file: SourceFile, span: Span, mark: string): string[] {
  const start = file.position(span.start);
  const end = file.position(Math.max(span.start, span.end - 1));
  let text = file.lineText(start.line).replace(/\t/g, " ");
  let col = start.col;
  // Very long lines (minified or generated input) are cut around the span.
  if (text.length > MAX_UNDERLINED_LINE) {
    const from = Math.max(0, col - 1 - 40);
    text = (from > 0 ? "…" : "") + text.slice(from, from + MAX_UNDERLINED_LINE);
    col = col - from + (from > 0 ? 1 : 0);
  }
  const lastCol = end.line === start.line ? end.col : text.length + 1;
  const width = Math.max(1, Math.min(lastCol - start.col + 1, text.length + 1 - col + 1));
  const gutter = String(start.line).length;
  const pad = " ".repeat(gutter);
  return [`${pad} |`, `${start.line} | ${sanitize(text)}`, `${pad} | ${" ".repeat(col - 1)}${mark.repeat(width)}`];
}

/** Control characters would corrupt the terminal; show them as U+FFFD. */
function sanitize(s: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "\ufffd");
}

export interface JsonDiagnostic {
  file: string;
  severity: Severity;
  code: string;
  message: string;
  line?: number;
  col?: number;
  endLine?: number;
  endCol?: number;
  help?: string;
  /** Secondary locations the text output shows as `note:` (e.g. the earlier rule that shadows this one). */
  related?: (JsonRange & { message: string })[];
}

/** A 1-based range in a file; end is exclusive (the column after the span). */
export interface JsonRange {
  line: number;
  col: number;
  endLine: number;
  endCol: number;
}

export function rangeOf(file: SourceFile, span: Span): JsonRange {
  const s = file.position(span.start);
  const e = file.position(span.end);
  return { line: s.line, col: s.col, endLine: e.line, endCol: e.col };
}

export function toJson(d: Diagnostic, file: SourceFile | undefined, path: string): JsonDiagnostic {
  const j: JsonDiagnostic = { file: path, severity: d.severity, code: d.code, message: d.message };
  if (d.span && file) Object.assign(j, rangeOf(file, d.span));
  if (d.help) j.help = d.help;
  if (d.note && file) j.related = [{ message: d.note.message, ...rangeOf(file, d.note.span) }];
  return j;
}
