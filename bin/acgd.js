#!/usr/bin/env node
// Thin launcher: the runtime is written in TypeScript and built into dist/.
// SIGUSR1 would open Node's inspector (unauthenticated, on 127.0.0.1:9229:
// code execution as this process's user, root for acgd). A handler of our
// own replaces Node's before the runtime is even loaded; Node 22.14+ has
// --disable-sigusr1 for service files. See docs/security.md.
process.on("SIGUSR1", () => {});
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/cli/acgd.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write("acgd: the runtime is not built yet; run `npm install` (or `npm run build`) in the AgentCgroup checkout\n");
  process.exit(2);
}
const { acgdMain } = await import(entry.href);
process.exitCode = await acgdMain(process.argv.slice(2));
