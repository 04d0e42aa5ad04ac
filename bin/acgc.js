#!/usr/bin/env node
// Thin launcher: the compiler is written in TypeScript and built into dist/.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/cli/acgc.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write("acgc: the compiler is not built yet; run `npm install` (or `npm run build`) in the AgentCgroup checkout\n");
  process.exit(2);
}
// A reader that stops early (`| head`) is not an error: exit quietly, as cat does.
process.stdout.on("error", (e) => process.exit(e.code === "EPIPE" ? 0 : 1));
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
