// The table of codes in docs/diagnostics.md, generated from the table the
// compiler reports from (compiler/diagnostic-messages.ts), so the documentation
// cannot drift from the codes: scripts/update-diagnostics.sh rewrites it, and
// test/compiler/diagnostic-messages.test.ts fails when the committed file is
// not what this renders.
//
//   node dist/scripts/diagnostics-doc.js     (from the repository root)

import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { CODES } from "../compiler/diagnostic-messages.js";

export const DIAGNOSTICS_DOC = "docs/diagnostics.md";
const BEGIN = "<!-- generated from compiler/diagnostic-messages.ts by scripts/update-diagnostics.sh: edit the table there -->";
const END = "<!-- end of generated table -->";

/** `doc` with the text between its markers replaced by the table of every code. */
export function withCodeTable(doc: string): string {
  const from = doc.indexOf(BEGIN);
  const to = doc.indexOf(END);
  if (from < 0 || to < from) throw new Error(`${DIAGNOSTICS_DOC}: the markers around the generated table are missing`);
  const rows = CODES.map((c) => `| ${c.code} | ${c.severity} | ${c.doc.replace(/\|/g, "\\|")} |`);
  // Blank lines around the table, so that markdown renders it apart from the markers.
  return [doc.slice(0, from + BEGIN.length), "", "| code | severity | meaning |", "|---|---|---|", ...rows, "", doc.slice(to)].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(DIAGNOSTICS_DOC, withCodeTable(readFileSync(DIAGNOSTICS_DOC, "utf8")));
}
