// Renders the BPF C sources of a policy from bpf-templates/*.bpf.c.hbs and
// the shared ABI header from compiler/abi.ts. Templates hold the code; the
// policy reaches them only through the few values below (names, feature
// switches): its numbers and tables are map data (abi-encode.ts). Nothing a
// data-only edit changes (the source hash, a number) may appear in the C, or
// the object cache, keyed by the C, would miss.

import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import { emitAbiHeader, type ObjectName } from "./abi.js";
import { emitClassifierCode } from "./emit-classifier.js";
import type { PolicyIR } from "./ir.js";
import { templatesDir } from "./templates-dir.js";

export const OBJECTS: readonly ObjectName[] = ["scheduler", "memcg", "classifier"];

/** sched_ext accepts [A-Za-z0-9_.] in ops names, at most 127 bytes. */
const OPS_NAME_MAX = 127;

export function opsNameFor(policyName: string): string {
  return `acg_${policyName.replace(/[^A-Za-z0-9_.]/g, "_")}`.slice(0, OPS_NAME_MAX);
}

/** Template-level switches: they change code, so flipping one needs new objects. */
export interface CodeFeatures {
  /** Some rule has a memory baseline: the scheduler samples memory and demotes throttled tool calls. */
  memoryDemotion: boolean;
}

export function codeFeatures(ir: PolicyIR): CodeFeatures {
  return { memoryDemotion: ir.rules.some((r) => r.memory.baselineBytes !== null) };
}

export interface EmittedSource {
  object: ObjectName;
  /** File name in the output directory, e.g. scheduler.bpf.c */
  file: string;
  text: string;
}

export interface EmittedC {
  header: { file: string; text: string };
  sources: EmittedSource[];
  /** Hash of every template and static header (recorded in the manifest). */
  templateVersion: string;
  /** Hash of the static headers the C includes: with the C itself, what clang reads (the object cache key). */
  includesHash: string;
  opsName: string;
  features: CodeFeatures;
}

let compiledTemplates: { version: string; includesHash: string; render: Map<ObjectName, HandlebarsTemplateDelegate> } | undefined;

function loadTemplates(): NonNullable<typeof compiledTemplates> {
  if (compiledTemplates) return compiledTemplates;
  // Required here, not imported: the runtime imports this module for codeFeatures
  // and must not pay for the template engine. The package's single-file build
  // (the same release, compiler included): its entry is 44 CommonJS modules with
  // source-map, which cost ~25 ms more CPU to load on every compile.
  const Handlebars = createRequire(import.meta.url)("handlebars/dist/handlebars.min.js") as typeof import("handlebars");
  const dir = templatesDir();
  const hash = createHash("sha256");
  for (const f of readdirSync(join(dir, "include")).sort()) hash.update(f).update(readFileSync(join(dir, "include", f)));
  const includesHash = hash.copy().digest("hex").slice(0, 16);
  const render = new Map<ObjectName, HandlebarsTemplateDelegate>();
  for (const obj of OBJECTS) {
    const text = readFileSync(join(dir, `${obj}.bpf.c.hbs`), "utf8");
    hash.update(obj).update(text);
    // C has no HTML to escape; strict: a misspelt variable fails the build instead of rendering empty.
    render.set(obj, Handlebars.compile(text, { noEscape: true, strict: true }));
  }
  compiledTemplates = { version: hash.digest("hex").slice(0, 16), includesHash, render };
  return compiledTemplates;
}

export function emitC(ir: PolicyIR): EmittedC {
  const t = loadTemplates();
  const features = codeFeatures(ir);
  const opsName = opsNameFor(ir.name);
  const context = {
    // Comment text only: keep it from closing the comment.
    policyName: ir.name.replace(/\*\//g, "* /"),
    opsName,
    ...features,
    classifierCode: emitClassifierCode(ir).text,
  };
  return {
    header: { file: "acg_abi.h", text: emitAbiHeader() },
    sources: OBJECTS.map((object) => ({ object, file: `${object}.bpf.c`, text: t.render.get(object)!(context) })),
    templateVersion: t.version,
    includesHash: t.includesHash,
    opsName,
    features,
  };
}
