// A compiled policy directory (its ir.json) as the runtime reads it, without
// the front end: acgd and `acg` started on a compiled directory never load the
// parser (chevrotain), the template engine or the TypeScript compiler. A .acg
// file loads the front end on demand (policy-source.ts).

import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { PolicyIR } from "../compiler/ir.js";
import { IR_VERSION } from "../compiler/ir.js";

export type PolicyLoad = { ok: true; ir: PolicyIR; origin: string } | { ok: false; message: string };

export function missingPolicy(path: string): PolicyLoad {
  return { ok: false, message: `${path}: no such file or directory (expected a .acg policy or a compiled policy directory)` };
}

/** Loads COMPILED_DIR/ir.json (the lowered policy beside manifest.json). */
export function loadCompiledDir(path: string): PolicyLoad {
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

/** FILE.acg (front end loaded now) or COMPILED_DIR (no front end). */
export async function loadPolicyPath(path: string): Promise<PolicyLoad> {
  if (!existsSync(path)) return missingPolicy(path);
  if (statSync(path).isDirectory()) return loadCompiledDir(path);
  const { loadPolicyFrom } = await import("./policy-source.js");
  return loadPolicyFrom(path);
}
