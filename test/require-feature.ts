// Host tests that need something of the kernel say so here, as cilium/ebpf's
// SkipIfNotSupported does: where this machine really lacks the feature the
// test is skipped with the feature and the reason named, never passed in
// silence. Where CI is set the machine is meant to have every feature, so a
// missing one fails the test instead of skipping it.
import { accessSync, constants } from "node:fs";
import type { TestContext } from "vitest";
import { cgroup2Mount } from "../runtime/cgroup-tree.js";

export interface KernelFeature {
  /** What a test needs, as a skipped test names it. */
  readonly name: string;
  /** Why this machine lacks the feature, or null when it has it. */
  missing(): string | null;
}

/** A cgroup v2 hierarchy this process may make cgroups in (the host tests run as root). */
export const CGROUP2: KernelFeature = {
  name: "a writable cgroup v2 hierarchy",
  missing: () => {
    const mount = cgroup2Mount();
    if (mount === null) return "no cgroup2 file system is mounted";
    try {
      accessSync(mount, constants.W_OK);
      return null;
    } catch (e) {
      return `${mount}: ${(e as Error).message}`;
    }
  },
};

/** Skips the test (or, where CI is set, fails it) when this machine lacks `feature`; call it first, or in beforeEach. */
export function requireFeature(ctx: TestContext, feature: KernelFeature): void {
  const why = feature.missing();
  if (why === null) return;
  if (process.env["CI"]) throw new Error(`this test needs ${feature.name}, which CI's machine must have: ${why}`);
  ctx.skip(`needs ${feature.name}: ${why}`);
}
