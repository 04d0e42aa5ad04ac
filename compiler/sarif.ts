// `acgc check --format sarif`: the diagnostics as a SARIF 2.1.0 log, the
// format CI systems (GitHub code scanning and others) turn into annotations
// on the lines of a change. One run, tool acgc; one reporting rule per
// diagnostic code, described by its line of docs/diagnostics.md; the `help:` of a
// diagnostic follows its message, and its `note:` is a related location.

import { CODES } from "./diagnostic-messages.js";
import { rangeOf, type Diagnostic } from "./diagnostics.js";
import type { FrontendResult } from "./frontend.js";
import type { SourceFile, Span } from "./source.js";

const SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json";
const DOCS = new Map(CODES.map((c) => [c.code, c.doc]));

interface SarifLocation {
  physicalLocation: {
    artifactLocation: { uri: string };
    region?: { startLine: number; startColumn: number; endLine: number; endColumn: number };
  };
  id?: number;
  message?: { text: string };
}

/** A file path as a SARIF artifact URI: relative paths stay relative (to the checkout), with '/' separators. */
function artifactUri(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

function location(path: string, file: SourceFile | undefined, span: Span | undefined): SarifLocation {
  const loc: SarifLocation = { physicalLocation: { artifactLocation: { uri: artifactUri(path) } } };
  if (file && span) {
    const r = rangeOf(file, span);
    loc.physicalLocation.region = { startLine: r.line, startColumn: r.col, endLine: r.endLine, endColumn: r.endCol };
  }
  return loc;
}

function result(d: Diagnostic, r: FrontendResult): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ruleId: d.code,
    level: d.severity,
    message: { text: d.help ? `${d.message}\nhelp: ${d.help}` : d.message },
    locations: [location(r.path, r.file, d.span)],
  };
  if (d.note) out["relatedLocations"] = [{ ...location(r.path, r.file, d.note.span), id: 1, message: { text: d.note.message } }];
  return out;
}

/** The SARIF log of `acgc check` over `results`. */
export function toSarif(results: FrontendResult[], version: string): Record<string, unknown> {
  const diags = results.flatMap((r) => r.diagnostics.map((d) => ({ d, r })));
  const codes = [...new Set(diags.map(({ d }) => d.code))].sort();
  return {
    $schema: SARIF_SCHEMA,
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "acgc",
            version,
            rules: codes.map((id) => ({ id, shortDescription: { text: DOCS.get(id) } })),
          },
        },
        results: diags.map(({ d, r }) => result(d, r)),
      },
    ],
  };
}
