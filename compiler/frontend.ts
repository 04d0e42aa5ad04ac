// The front end as one call: read → lex/parse → check. Used by every acgc command.

import type * as A from "./ast.js";
import { check, type CheckedPolicy } from "./check.js";
import { DiagnosticBag, type Diagnostic } from "./diagnostics.js";
import { parse } from "./parser.js";
import { readSource, decode, type ReadResult } from "./read-source.js";
import type { SourceFile } from "./source.js";

export interface FrontendResult {
  path: string;
  file?: SourceFile;
  ast?: A.PolicyFile;
  checked?: CheckedPolicy;
  diagnostics: Diagnostic[];
  ok: boolean;
}

export function loadPolicy(path: string): FrontendResult {
  return runFrontend(path, readSource(path));
}

/** The same on text in memory (tests, fuzzing, the daemon's apply API). */
export function loadPolicyText(path: string, text: string | Buffer): FrontendResult {
  return runFrontend(path, decode(path, typeof text === "string" ? Buffer.from(text, "utf8") : text));
}

/** The same on a file already read (acgc compile keys its cache on the text it then compiles). */
export function runFrontend(path: string, read: ReadResult): FrontendResult {
  if (!read.ok) {
    const r: FrontendResult = { path, diagnostics: [read.diagnostic], ok: false };
    if (read.file) r.file = read.file;
    return r;
  }
  const file = read.file;
  const diags = new DiagnosticBag();
  const parsed = parse(file.text);
  for (const d of parsed.errors) diags.push(d);
  const result: FrontendResult = { path, file, ast: parsed.ast, diagnostics: [], ok: false };
  // A partial tree after syntax errors would only produce follow-on noise.
  if (!diags.hasErrors) {
    const checked = check(file, parsed.ast, diags);
    if (checked) result.checked = checked;
  }
  result.diagnostics = diags.sorted();
  result.ok = !diags.hasErrors;
  return result;
}
