// The layering of docs/architecture.md, checked on the import graph: the
// compiler never imports the runtime, traces or a command line, and no
// library imports a command line. A new arrow that runs back up fails here.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./runtime/helpers.js";

/** Modules that are command lines: only other command lines may import them. */
const COMMAND_LINES = new Set([
  "compiler/cli.ts",
  "compiler/compile-command.ts",
  "compiler/lsp.ts",
  "runtime/acg-cli.ts",
  "runtime/acgd-command.ts",
  "runtime/run-command.ts",
  "runtime/admin-commands.ts",
  "runtime/events-command.ts",
  "runtime/diff-command.ts",
  "traces/command.ts",
  "traces/simulate-command.ts",
]);

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

describe("layering (docs/architecture.md)", () => {
  const files = [...sources("compiler"), ...sources("runtime"), ...sources("traces")];
  const arrows = files.flatMap((from) => importsOf(from).map((to) => ({ from, to })));

  it("the compiler imports nothing outside compiler/", () => {
    expect(arrows.filter((a) => layerOf(a.from) === "compiler" && layerOf(a.to) !== "compiler" && !COMMAND_LINES.has(a.from))).toEqual([]);
  });

  it("the runtime imports neither traces/ nor bench/", () => {
    expect(
      arrows.filter((a) => layerOf(a.from) === "runtime" && ["traces", "bench"].includes(layerOf(a.to)) && !COMMAND_LINES.has(a.from)),
    ).toEqual([]);
  });

  it("no library imports a command line", () => {
    expect(arrows.filter((a) => COMMAND_LINES.has(a.to) && !COMMAND_LINES.has(a.from))).toEqual([]);
  });
});
