// The two cgroup file systems a CgroupTree runs on: the stand-in the host
// unit tests use, and the kernel's cgroup v2 hierarchy (here the host's; the
// guest tests run acgd on a kernel with every controller). The same tree
// operations must mean the same on both.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cgroupFsAt, kernelCgroupFs, standInCgroupFs } from "../../runtime/cgroup-fs.js";
import { cgroup2Mount, CgroupTree } from "../../runtime/cgroup-tree.js";
import { CGROUP2, requireFeature } from "../require-feature.js";
import { fakeRoot, removeCgroupTree } from "./helpers.js";

// Undone last first: a process leaves its cgroup before the cgroup goes.
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanups.splice(0).reverse()) f();
});

describe("the stand-in cgroup file system", () => {
  const tree = () => {
    const root = fakeRoot();
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    return new CgroupTree(root, standInCgroupFs);
  };

  it("is what a plain directory is on, even before the root is made", () => {
    const root = fakeRoot();
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    expect(cgroupFsAt(root)).toBe(standInCgroupFs);
    expect(cgroupFsAt(join(root, "not", "made", "yet"))).toBe(standInCgroupFs);
  });

  it("gives a new leaf the files a fresh cgroup has, writes only the limits that differ, and refuses to make it twice", () => {
    const t = tree();
    const leaf = t.createLeaf(t.root, "c1", { memoryHigh: 1024, memoryMax: null, memoryLow: 0, cpuWeight: 100, oomGroup: true });
    expect(readFileSync(join(leaf, "cgroup.events"), "utf8")).toBe("populated 0\nfrozen 0\n");
    expect(t.stats(leaf).memoryCurrent).toBe(0);
    const file = (f: string) => readFileSync(join(leaf, f), "utf8");
    expect([file("memory.high"), file("memory.oom.group")]).toEqual(["1024", "1"]);
    // Already the kernel's values in a fresh cgroup (with its newline): not written.
    expect([file("memory.max"), file("memory.low"), file("cpu.weight")]).toEqual(["max\n", "0\n", "100\n"]);
    expect(() => t.createLeaf(t.root, "c1", {})).toThrow(/EEXIST/);
  });

  it("plays a kernel with every controller: every knob is there, none is unenforced", () => {
    const t = tree();
    expect(t.hasController("memory") && t.hasController("cpu")).toBe(true);
    expect(t.hasKnob(t.root, "memory.events")).toBe(true);
    expect(t.setKnob(t.root, "memory.low", "5")).toBe(true);
    expect(t.unenforced.size).toBe(0);
    // What the kernel would list: status shows no controllers on a stand-in.
    expect(t.controllers()).toEqual([]);
  });

  it("records moved processes in cgroup.procs and removes a leaf with its files", async () => {
    const t = tree();
    const leaf = t.createLeaf(t.root, "c1", {});
    t.movePid(leaf, 4242);
    t.movePid(leaf, 4343);
    expect(t.pidsBelow(t.root)).toEqual([4242, 4343]);
    await t.removeLeaf(leaf);
    expect(existsSync(leaf)).toBe(false);
  });
});

describe("the kernel's cgroup file system", () => {
  const tree = () => {
    requireFeature(CGROUP2);
    const root = join(cgroup2Mount()!, `acg-cgroupfs-test-${process.pid}`);
    const t = new CgroupTree(root, kernelCgroupFs);
    cleanups.push(() => removeCgroupTree(root));
    return t;
  };

  it("is what the cgroup2 mount is, even below a cgroup not made yet", () => {
    const t = tree();
    expect(cgroupFsAt(t.root)).toBe(kernelCgroupFs);
    expect(cgroupFsAt(join(t.root, "not", "made", "yet"))).toBe(kernelCgroupFs);
  });

  it("has a controller's knobs only where the controller is enabled", () => {
    const t = tree();
    const leaf = t.createLeaf(t.root, "c1", {});
    expect(t.hasKnob(leaf, "cgroup.procs")).toBe(true);
    const memory = t.hasController("memory");
    expect(memory).toBe(t.controllers().includes("memory"));
    expect(t.hasKnob(leaf, "memory.events")).toBe(memory);
    expect(t.setKnob(leaf, "memory.high", "max")).toBe(memory);
    expect(t.unenforced.has("memory.high")).toBe(!memory);
  });

  it("moves a real process into a leaf, and kills what is left in it when the leaf is removed", async () => {
    const t = tree();
    const leaf = t.createLeaf(t.root, "c1", {});
    const proc = spawn("sleep", ["60"], { stdio: "ignore" });
    cleanups.push(() => proc.kill("SIGKILL"));
    t.movePid(leaf, proc.pid!);
    expect(t.cgroupOfPid(proc.pid!)).toBe("c1");
    expect(t.populated(leaf)).toBe(true);
    const exited = new Promise((r) => proc.on("exit", r));
    await t.removeLeaf(leaf);
    expect(existsSync(leaf)).toBe(false);
    await exited;
  });
});
