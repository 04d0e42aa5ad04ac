// Host tests that need something of the kernel say so here: where this
// machine lacks the feature, the test fails with the feature and the reason
// named (never skipped, never passed in silence), so that a machine set up
// without it is noticed instead of running fewer tests.
import { accessSync, constants } from "node:fs";
import { beforeAll, beforeEach } from "vitest";
import { cgroup2Mount } from "../runtime/cgroup-tree.js";

export interface KernelFeature {
  /** What a test needs, as its failure names it. */
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

/** Fails the test, naming the feature and why it is missing, when this machine lacks `feature`; call it first, or in beforeEach. */
export function requireFeature(feature: KernelFeature): void {
  const why = feature.missing();
  if (why !== null) throw new Error(`this test needs ${feature.name}, which this machine lacks: ${why}`);
}

/**
 * A beforeAll whose set-up needs `feature` (an acgd on the host's cgroup
 * tree), for tests that need it too: where this machine lacks the feature
 * the set-up is not run and each test of the enclosing describe (or file)
 * fails naming it. A beforeAll that threw would fail the file too, but with
 * its tests reported as skipped. The matching afterAll allows for a set-up
 * that did not run.
 */
export function beforeAllRequiring(feature: KernelFeature, setUp: () => void | Promise<void>, timeout?: number): void {
  beforeAll(async () => {
    if (feature.missing() === null) await setUp();
  }, timeout);
  beforeEach(() => requireFeature(feature));
}
