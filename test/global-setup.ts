// Vitest global set-up: builds the command-line entries into dist/ once, before
// any test file runs, so the suites that exec bin/acg.js and bin/acgd.js never
// race a concurrent tsc writing the same files.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { buildCommands, REPO } from "./runtime/helpers.js";

export function setup(): void {
  buildCommands();
  // The native acg run launcher, which the run tests exercise beside the Node one.
  execFileSync("bash", [join(REPO, "scripts/build-launcher.sh")], { stdio: ["ignore", "inherit", "inherit"] });
}
