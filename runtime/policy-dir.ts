// A compiled policy directory (its ir.json) as the runtime reads it, without
// the front end: acgd and `acg` started on a compiled directory never load the
// parser (chevrotain), the template engine or the TypeScript compiler. A .acg
// file loads the front end on demand (policy-source.ts).

import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { PolicyIR } from "../compiler/ir.js";
import { IR_VERSION } from "../compiler/ir.js";
import { ABI_VERSION } from "../compiler/abi.js";
import { MANIFEST_VERSION } from "../compiler/manifest.js";

export type PolicyLoad = { ok: true; ir: PolicyIR; origin: string } | { ok: false; message: string };

export function missingPolicy(path: string): PolicyLoad {
  return { ok: false, message: `${path}: no such file or directory (expected a .acg policy or a compiled policy directory)` };
}

/** Loads COMPILED_DIR/ir.json (the lowered policy beside manifest.json). */
export function loadCompiledDir(path: string): PolicyLoad {
  const irFile = join(path, "ir.json");
  if (!existsSync(irFile)) {
    return {
      ok: false,
      message:
        `${path}: a compiled policy directory must contain ir.json (the lowered policy); pass the ` +
        `.acg file instead, or recompile it with \`acgc compile\``,
    };
  }
  try {
    const ir = JSON.parse(readFileSync(irFile, "utf8")) as PolicyIR;
    if (ir.irVersion !== IR_VERSION)
      return {
        ok: false,
        message: `${irFile}: IR version ${String(ir.irVersion)}, this runtime reads version ${IR_VERSION}; recompile the policy`,
      };
    const mismatch = manifestMismatch(path, ir);
    if (mismatch)
      return {
        ok: false,
        message: `${join(path, "manifest.json")}: ${mismatch}; recompile the policy with \`acgc compile FILE -o ${path}\``,
      };
    return { ok: true, ir, origin: path };
  } catch (e) {
    return { ok: false, message: `${irFile}: not readable JSON (${(e as Error).message}); recompile the policy` };
  }
}

/**
 * Why the directory's objects (described by manifest.json) are not those of
 * its ir.json, or null: another ABI or manifest version, or another policy's
 * source. A directory without a manifest holds no objects to mismatch.
 */
function manifestMismatch(dir: string, ir: PolicyIR): string | null {
  const file = join(dir, "manifest.json");
  if (!existsSync(file)) return null;
  let m: { manifestVersion?: unknown; abiVersion?: unknown; policy?: { sourceHash?: unknown } };
  try {
    m = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    return `not readable JSON (${(e as Error).message})`;
  }
  if (m.manifestVersion !== MANIFEST_VERSION)
    return `manifest version ${String(m.manifestVersion)}, this runtime reads version ${MANIFEST_VERSION}`;
  if (m.abiVersion !== ABI_VERSION)
    return `its objects use map ABI version ${String(m.abiVersion)}, this runtime writes version ${ABI_VERSION}`;
  if (m.policy?.sourceHash !== ir.sourceHash)
    return (
      `its objects were compiled from another policy (source ${String(m.policy?.sourceHash).slice(0, 12)}) ` +
      `than its ir.json (${ir.sourceHash.slice(0, 12)})`
    );
  return null;
}

/** FILE.acg (front end loaded now) or COMPILED_DIR (no front end). */
export async function loadPolicyPath(path: string): Promise<PolicyLoad> {
  if (!existsSync(path)) return missingPolicy(path);
  if (statSync(path).isDirectory()) return loadCompiledDir(path);
  const { loadPolicyFrom } = await import("./policy-source.js");
  return loadPolicyFrom(path);
}
