// The package version, for every command's --version.

import { readFileSync } from "node:fs";

/** The version in the package.json above this file (source or built, checkout or installed package). */
export function packageVersion(): string {
  for (let dir = new URL(".", import.meta.url); dir.pathname !== "/"; dir = new URL("..", dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { name?: string; version: string };
      if (pkg.name === "agentcgroup") return pkg.version;
    } catch {
      // not here; look one folder up
    }
  }
  return "unknown";
}
