#!/usr/bin/env node
// Thin launcher: the runtime is written in TypeScript and built into dist/.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/runtime/acgd-command.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write("acgd: the runtime is not built yet; run `npm install` (or `npm run build`) in the AgentCgroup checkout\n");
  process.exit(2);
}
const { acgdMain } = await import(entry.href);
process.exitCode = await acgdMain(process.argv.slice(2));
