// acgc compile: wired to the back end once it lands; until then, says so.
import type { Io } from "./cli.js";

export async function compileCommand(_args: string[], io: Io): Promise<number> {
  io.err("acgc: compile is not available in this build\n");
  return 2;
}
