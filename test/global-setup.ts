// Vitest global set-up: builds the command-line entries into dist/ once, before
// any test file runs, so the suites that exec bin/acg.js and bin/acgd.js never
// race a concurrent tsc writing the same files.
import { buildCommands } from "./runtime/helpers.js";

export function setup(): void {
  buildCommands();
}
