// Removing what a guest suite's acgd left: its tree of tenants, agents and
// leaves (every process gone by then), bottom-up, as cgroup v2 requires.
import { existsSync, readdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";

export function removeAgentTree(root: string): void {
  if (!existsSync(root)) return;
  const dirs = (p: string) =>
    readdirSync(p, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(p, e.name));
  for (const tenant of dirs(root)) {
    for (const agent of dirs(tenant)) {
      for (const leaf of dirs(agent)) rmdirSync(leaf);
      rmdirSync(agent);
    }
    rmdirSync(tenant);
  }
  rmdirSync(root);
}
