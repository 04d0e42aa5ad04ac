// Call cgroups made ahead of time (runtime/spare-leaves.ts) on a stand-in
// tree: what a start writes when it takes one, when spares are made, and
// that none outlive their agent or acgd.

import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { standInCgroupFs, type CgroupFs } from "../../runtime/cgroup-fs.js";
import { CgroupTree } from "../../runtime/cgroup-tree.js";
import { assembleRuntime } from "../../runtime/assemble.js";
import { SpareLeaves, type SpareLeavesOptions } from "../../runtime/spare-leaves.js";
import { ToolCalls } from "../../runtime/tool-calls.js";
import { fakeRoot, policyOf, standInTree, TEST_POLICY } from "./helpers.js";

const MiB = 1024 * 1024;
const roots: string[] = [];
const open: { close(): void }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A stand-in tree that records every system call the runtime makes on it. */
function countingTree() {
  const root = fakeRoot();
  roots.push(root);
  const ops: string[] = [];
  const fs: CgroupFs = {
    ...standInCgroupFs,
    writeFile: (cg, file, value) => (ops.push(`write ${file}=${value}`), standInCgroupFs.writeFile(cg, file, value)),
    mkdir: (cg) => (ops.push("mkdir"), standInCgroupFs.mkdir(cg)),
    rmdir: (cg) => (ops.push("rmdir"), standInCgroupFs.rmdir(cg)),
  };
  return { root, ops, tree: new CgroupTree(root, fs) };
}

/** Tool calls on a counting tree that keep spares (closed after the test). */
function withSpares(opts: SpareLeavesOptions) {
  const t = countingTree();
  const calls = new ToolCalls(policyOf(TEST_POLICY), t.tree);
  const spares = calls.keepSpares(opts);
  open.push(spares);
  return { ...t, calls, spares };
}

const knob = (dir: string, f: string) => readFileSync(join(dir, f), "utf8").trim();
const leaves = (agentDir: string) => readdirSync(agentDir).filter((n) => n.startsWith("call-"));

describe("spare call cgroups", () => {
  it("are made after a lull, as many as the agent ran at once, with its last call's limits", async () => {
    const { root, ops, calls, spares } = withSpares({ lullMs: 5 });
    const a = calls.startCall({ tenant: "strict", agent: "a1", argv: ["git", "status"] });
    const b = calls.startCall({ tenant: "strict", agent: "a1", argv: ["git", "log"] });
    const agentDir = join(root, "strict", "a1");
    expect(spares.readyFor("strict/a1")).toBe(0);
    await sleep(60);
    // Two at once: two spares, next to the two calls.
    expect(spares.readyFor("strict/a1")).toBe(2);
    expect(leaves(agentDir).sort()).toHaveLength(4);
    const spare = leaves(agentDir).find((n) => n !== a.id && n !== b.id)!;
    expect(knob(join(agentDir, spare), "memory.max")).toBe(String(32 * MiB));

    // A start with the same limits takes a spare and makes nothing, writes nothing.
    ops.length = 0;
    const c = calls.startCall({ tenant: "strict", agent: "a1", argv: ["git", "diff"] });
    expect(ops).toEqual([]);
    expect(leaves(agentDir)).toContain(c.id);
    expect(c.path).toBe(join(agentDir, c.id));
    expect(knob(c.path, "memory.high")).toBe(String(8 * MiB));
    await calls.endCall(c.id);
  });

  it("a start with other limits writes only the differences, and limits it leaves out go back to a fresh cgroup's", async () => {
    const { ops, calls, spares } = withSpares({ lullMs: 5 });
    const vcs = calls.startCall({ tenant: "strict", agent: "a1", argv: ["git", "status"] });
    await calls.endCall(vcs.id);
    await sleep(60);
    expect(spares.readyFor("strict/a1")).toBe(1);
    ops.length = 0;
    // The default rule: no memory limits of its own, the default class's weight.
    const other = calls.startCall({ tenant: "strict", agent: "a1", argv: ["sleep", "1"] });
    expect(ops).not.toContain("mkdir");
    expect(ops.length).toBeGreaterThan(0);
    const fresh = calls.startCall({ tenant: "strict", agent: "a2", argv: ["sleep", "1"] });
    for (const f of ["memory.high", "memory.max", "memory.low", "memory.min", "cpu.weight", "memory.oom.group"])
      expect([f, knob(other.path, f)]).toEqual([f, knob(fresh.path, f)]);
  });

  it("are what acgd's runtime does, and go when it closes", async () => {
    const root = fakeRoot();
    roots.push(root);
    const rt = assembleRuntime(policyOf(TEST_POLICY), standInTree(root), { kernel: null });
    const agentDir = join(root, "strict", "a1");
    try {
      const call = rt.calls.startCall({ tenant: "strict", agent: "a1", argv: ["git", "status"] });
      await rt.calls.endCall(call.id);
      // The runtime's lull (25 ms), then one spare for an agent that ran one call at a time.
      await sleep(150);
      expect(leaves(agentDir)).toHaveLength(1);
      expect(rt.calls.sparesFor(rt.calls.agents.get("strict/a1")!)).toBe(1);
    } finally {
      rt.close();
    }
    expect(leaves(agentDir)).toEqual([]);
  });

  it("are kept to `total` in all, whatever the agents want", async () => {
    const { calls, spares } = withSpares({ lullMs: 5, total: 3 });
    for (const agent of ["a1", "a2"]) for (let i = 0; i < 2; i++) calls.startCall({ agent, argv: ["sleep", "1"] });
    await sleep(80);
    const keys = [...calls.agents.keys()];
    expect(keys).toHaveLength(2);
    expect(keys.reduce((n, k) => n + spares.readyFor(k), 0)).toBe(3);
  });

  it("go with their agent and with acgd; a refused mkdir stops them for that agent", async () => {
    const { root, tree, calls, spares } = withSpares({ lullMs: 5 });
    const a = calls.startCall({ tenant: "strict", agent: "a1", argv: ["git", "status"] });
    calls.startCall({ tenant: "strict", agent: "a2", argv: ["git", "status"] });
    await calls.endCall(a.id);
    await sleep(60);
    expect(spares.readyFor("strict/a1")).toBe(1);
    expect(calls.removeIfIdle(calls.agents.get("strict/a1")!)).toBe(true);
    expect(existsSync(join(root, "strict", "a1"))).toBe(false);
    expect(spares.readyFor("strict/a1")).toBe(0);
    spares.close();
    expect(leaves(join(root, "strict", "a2"))).toHaveLength(1);

    // The agent's cgroup gone under it: the spare is not made, and the start makes its own cgroup as it can.
    const broken = new SpareLeaves(tree, () => "call-x-1", { lullMs: 1 });
    broken.take("strict/gone", join(root, "strict", "gone"), {}, 1);
    await sleep(30);
    expect(broken.readyFor("strict/gone")).toBe(0);
    broken.close();
  });
});
