// Where the runtime gets its policy: a .acg file (front end + lowering) or a
// compiled policy directory (its ir.json), and policy text sent over the API.
// Failures come back as rendered diagnostics, never as exceptions.

import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { PolicyIR } from "../compiler/ir.js";
import { IR_VERSION } from "../compiler/ir.js";
import { renderDiagnostic } from "../compiler/diagnostics.js";
import { loadPolicy, loadPolicyText, type FrontendResult } from "../compiler/frontend.js";
import { lowerPolicy } from "../compiler/lower.js";

export type PolicyLoad = { ok: true; ir: PolicyIR; origin: string } | { ok: false; message: string };

function fromFrontend(r: FrontendResult): PolicyLoad {
  if (!r.ok || !r.checked) {
    const text = r.diagnostics.filter((d) => d.severity === "error").map((d) => renderDiagnostic(d, r.file, r.path)).join("\n\n");
    return { ok: false, message: text || `${r.path}: the policy has errors` };
  }
  return { ok: true, ir: lowerPolicy(r.checked), origin: r.path };
}

/** Loads FILE.acg, or COMPILED_DIR (which holds ir.json beside manifest.json). */
export function loadPolicyFrom(path: string): PolicyLoad {
  if (!existsSync(path)) return { ok: false, message: `${path}: no such file or directory (expected a .acg policy or a compiled policy directory)` };
  if (!statSync(path).isDirectory()) return fromFrontend(loadPolicy(path));
  const irFile = join(path, "ir.json");
  if (!existsSync(irFile)) {
    return { ok: false, message: `${path}: a compiled policy directory must contain ir.json (the lowered policy); pass the .acg file instead, or recompile it with \`acgc compile\`` };
  }
  try {
    const ir = JSON.parse(readFileSync(irFile, "utf8")) as PolicyIR;
    if (ir.irVersion !== IR_VERSION) return { ok: false, message: `${irFile}: IR version ${String(ir.irVersion)}, this runtime reads version ${IR_VERSION}; recompile the policy` };
    return { ok: true, ir, origin: path };
  } catch (e) {
    return { ok: false, message: `${irFile}: not readable JSON (${(e as Error).message}); recompile the policy` };
  }
}

/** Loads policy source text received over the API. */
export function loadPolicySource(name: string, text: string): PolicyLoad {
  return fromFrontend(loadPolicyText(name, text));
}
