// Where the runtime gets its policy: a .acg file (front end + lowering) or a
// compiled policy directory (its ir.json), and policy text sent over the API.
// This module loads the front end: acgd imports it only when it needs it
// (policy-dir.ts).
// Failures come back as rendered diagnostics, never as exceptions.

import { existsSync, statSync } from "node:fs";
import { renderDiagnostic } from "../compiler/diagnostics.js";
import { loadPolicy, loadPolicyText, type FrontendResult } from "../compiler/frontend.js";
import { lowerPolicy } from "../compiler/lower.js";
import { loadCompiledDir, missingPolicy, type PolicyLoad } from "./policy-dir.js";

export type { PolicyLoad } from "./policy-dir.js";

function fromFrontend(r: FrontendResult): PolicyLoad {
  if (!r.ok || !r.checked) {
    const text = r.diagnostics
      .filter((d) => d.severity === "error")
      .map((d) => renderDiagnostic(d, r.file, r.path))
      .join("\n\n");
    return { ok: false, message: text || `${r.path}: the policy has errors` };
  }
  return { ok: true, ir: lowerPolicy(r.checked), origin: r.path };
}

/** Loads FILE.acg, or COMPILED_DIR (which holds ir.json beside manifest.json). */
export function loadPolicyFrom(path: string): PolicyLoad {
  if (!existsSync(path)) return missingPolicy(path);
  return statSync(path).isDirectory() ? loadCompiledDir(path) : fromFrontend(loadPolicy(path));
}

/** Loads policy source text received over the API. */
export function loadPolicySource(name: string, text: string): PolicyLoad {
  return fromFrontend(loadPolicyText(name, text));
}
