#!/usr/bin/env node
// Thin launcher: the runtime is written in TypeScript and built into dist/.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/runtime/acg-cli.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write("acg: the runtime is not built yet; run `npm install` (or `npm run build`) in the AgentCgroup checkout\n");
  process.exit(125);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
