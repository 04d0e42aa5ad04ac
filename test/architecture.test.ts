// The layering of docs/architecture.md, checked on the import graph: the
// command lines (cli/) are the top layer, and no library folder imports them;
// the compiler imports nothing outside compiler/ (never the runtime, traces or
// a command line); the runtime imports neither traces/ nor bench/. A new arrow
// that runs back up fails here.
// Also what acgd and `acg` load before they serve (docs/runtime.md,
// "Starting fast"): one static import of the front end costs acgd seconds of
// start-up under emulation, and nothing else would notice it.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./runtime/helpers.js";

/** The folders below the command lines: none of them imports cli/. */
const LIBRARIES = ["compiler", "runtime", "traces", "bench"];

function sources(dir: string): string[] {
  return readdirSync(join(REPO, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Static and dynamic imports of a module, as repository-relative .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(REPO, file), "utf8");
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.[^"]+)"/g)].map((m) => m[1]!);
  return specs.map((s) => relative(REPO, resolve(dirname(join(REPO, file)), s)).replace(/\.js$/, ".ts"));
}

const layerOf = (file: string) => file.split("/")[0]!;

/**
 * The modules loaded with `file` before any of its code runs: static imports
 * only (a dynamic `import()` is loaded on first use, `import type` never),
 * followed through repository modules; packages as their bare names.
 */
function staticClosure(file: string): Set<string> {
  const seen = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    if (!f.endsWith(".ts")) return;
    const text = readFileSync(join(REPO, f), "utf8");
    const specs = [...text.matchAll(/^(?:import|export)(?!\s+type\s)[^;]*?\bfrom\s*"([^"]+)"|^import\s*"([^"]+)"/gm)].map(
      (m) => (m[1] ?? m[2])!,
    );
    for (const s of specs) {
      if (s.startsWith("node:")) continue;
      visit(s.startsWith(".") ? relative(REPO, resolve(dirname(join(REPO, f)), s)).replace(/\.js$/, ".ts") : s);
    }
  };
  visit(file);
  return seen;
}

/** The front end and the compile pipeline: a compiled policy directory needs none of them. */
const COMPILE_ONLY = /^compiler\/(read-source|lexer|parser|check|passes\/.*|lower|frontend|fmt|compile|build|emit-ts)\.ts$/;
/** The tool-call machinery: the registry and the limits, report and victim order it computes with. */
const TOOL_CALLS = /^runtime\/(tool-calls|call-limits|call-report|victim-order)\.ts$/;

describe("layering (docs/architecture.md)", () => {
  const files = [...LIBRARIES, "cli"].flatMap(sources);
  const arrows = files.flatMap((from) => importsOf(from).map((to) => ({ from, to })));

  it("the compiler imports nothing outside compiler/", () => {
    expect(arrows.filter((a) => layerOf(a.from) === "compiler" && layerOf(a.to) !== "compiler")).toEqual([]);
  });

  it("the runtime imports neither traces/ nor bench/", () => {
    expect(arrows.filter((a) => layerOf(a.from) === "runtime" && ["traces", "bench"].includes(layerOf(a.to)))).toEqual([]);
  });

  it("no library imports a command line", () => {
    expect(arrows.filter((a) => LIBRARIES.includes(layerOf(a.from)) && layerOf(a.to) === "cli")).toEqual([]);
  });

  it("the command lines import neither bench/ nor test/", () => {
    expect(arrows.filter((a) => layerOf(a.from) === "cli" && ["bench", "test"].includes(layerOf(a.to)))).toEqual([]);
  });
});

describe("what the runtime's commands load at start (docs/runtime.md)", () => {
  const loaded = (file: string) => [...staticClosure(file)];
  const packages = (file: string) => loaded(file).filter((m) => !m.endsWith(".ts"));

  it("acgd loads no package and nothing of the front end before it serves a compiled directory", () => {
    // pino, pino-pretty, prom-client and the front end are dynamic imports, made when asked for;
    // the daemon (acgd-serve.ts) is one too, made by the command line once the kernel probe has started.
    for (const entry of ["cli/acgd.ts", "cli/acgd-serve.ts"]) {
      expect(packages(entry)).toEqual([]);
      expect(loaded(entry).filter((m) => COMPILE_ONLY.test(m))).toEqual([]);
    }
  });

  it("acg loads neither the front end nor the tool-call machinery (only its standalone mode needs that)", () => {
    expect(packages("cli/acg.ts")).toEqual([]);
    expect(loaded("cli/acg.ts").filter((m) => COMPILE_ONLY.test(m) || TOOL_CALLS.test(m))).toEqual([]);
  });
});
