// Where the BPF templates and headers are: a module of its own, so that the
// compile cache (compile-cache.ts) finds them without loading the C emitter.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's bpf-templates directory, from source (compiler/) or build output (dist/compiler/). */
export function templatesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, "bpf-templates");
    if (existsSync(join(candidate, "include", "acg_decide.h"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error("acgc: bpf-templates/ not found next to the compiler");
}

export function includeDir(): string {
  return join(templatesDir(), "include");
}
