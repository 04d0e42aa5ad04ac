// The cgroup file system a CgroupTree works on: the kernel's cgroup v2
// hierarchy, or a plain directory standing in for one (host unit tests, as
// oomd tests its logic on fake cgroupfs trees). Only what differs between the
// two is here; reading and writing interface files is the same on both.
//
// The stand-in plays a kernel with every controller enabled in every cgroup:
// each interface file is there (a write creates it), a new cgroup gets the
// files the runtime reads before anything writes them, and cgroup.procs files
// are records the tests write, not processes.

import {
  appendFileSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  rmSync,
  rmdirSync,
  statfsSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseControllers, readCgroupFile } from "./cgroup-files.js";

const CGROUP2_SUPER_MAGIC = 0x63677270;

export interface CgroupFs {
  /** What the tree is on, for status: the kernel's cgroup v2 hierarchy or a stand-in directory. */
  readonly kind: "cgroup2" | "stand-in";
  /**
   * Processes really live in these cgroups: the kernel says where one is
   * (/proc/PID/cgroup) and checks who may move one (cgroup.procs permissions).
   */
  readonly holdsProcesses: boolean;
  /** Whether the tree at `root` offers a controller to the cgroups below it. */
  hasController(root: string, controller: string): boolean;
  /** Whether a cgroup has an interface file (the kernel has a controller's files only where it is enabled). */
  hasFile(cgroup: string, file: string): boolean;
  /**
   * Writes an interface file; false, writing nothing, where the cgroup has no
   * such file. One system call: a look before each write cost as much as the
   * write (acgd writes several on every call it starts).
   */
  writeFile(cgroup: string, file: string, value: string): boolean;
  /** Makes one cgroup; fails if it exists. */
  mkdir(cgroup: string): void;
  /** Removes one cgroup that has no child cgroups; the kernel refuses (EBUSY) while processes are in it. */
  rmdir(cgroup: string): void;
  /** Puts a process into a cgroup. */
  movePid(cgroup: string, pid: number): void;
}

/**
 * What the kernel's interface files hold in a cgroup it has just made, for
 * the files acgd writes when it makes a call's cgroup: a value equal to one
 * of these need not be written there (cgroup-tree.ts, createLeaf).
 */
export const FRESH_KNOBS: Readonly<Record<string, string>> = {
  "memory.min": "0",
  "memory.low": "0",
  "memory.high": "max",
  "memory.max": "max",
  "cpu.weight": "100",
  "memory.oom.group": "0",
};

/** The kernel's cgroup v2 hierarchy: interface files are the kernel's, processes are real. */
export const kernelCgroupFs: CgroupFs = {
  kind: "cgroup2",
  holdsProcesses: true,
  hasController: (root, controller) => parseControllers(readCgroupFile(join(root, "cgroup.controllers"))).includes(controller),
  hasFile: (cgroup, file) => existsSync(join(cgroup, file)),
  writeFile: (cgroup, file, value) => {
    let fd: number;
    try {
      // Never O_CREAT: where a controller is not enabled its files are absent, and must stay so.
      fd = openSync(join(cgroup, file), constants.O_WRONLY | constants.O_TRUNC);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw e;
    }
    try {
      // One write: the kernel parses each write to an interface file on its own.
      writeSync(fd, value);
    } finally {
      closeSync(fd);
    }
    return true;
  },
  mkdir: (cgroup) => mkdirSync(cgroup),
  // A cgroup's interface files are not files: rmdir of the directory removes them.
  rmdir: (cgroup) => rmdirSync(cgroup),
  // The kernel moves the process out of its old cgroup.
  movePid: (cgroup, pid) => writeFileSync(join(cgroup, "cgroup.procs"), String(pid)),
};

/**
 * Files the kernel gives a fresh cgroup that the runtime reads before
 * anything writes them, and the limits it does not write when they are
 * already what a fresh cgroup has.
 */
const FRESH_CGROUP_FILES: readonly (readonly [string, string])[] = [
  ["memory.current", "0\n"],
  ["memory.events", ""],
  ["cgroup.events", "populated 0\nfrozen 0\n"],
  ["cgroup.procs", ""],
  ...Object.entries(FRESH_KNOBS).map(([file, value]) => [file, `${value}\n`] as const),
];

/** A plain directory standing in for a cgroup v2 hierarchy (host unit tests). */
export const standInCgroupFs: CgroupFs = {
  kind: "stand-in",
  holdsProcesses: false,
  hasController: () => true,
  hasFile: () => true,
  writeFile: (cgroup, file, value) => {
    writeFileSync(join(cgroup, file), value);
    return true;
  },
  mkdir: (cgroup) => {
    mkdirSync(cgroup);
    for (const [file, value] of FRESH_CGROUP_FILES) writeFileSync(join(cgroup, file), value);
  },
  rmdir: (cgroup) => rmSync(cgroup, { recursive: true, force: true }),
  // A record for the tests to read back, as the kernel's cgroup.procs would list the process.
  movePid: (cgroup, pid) => appendFileSync(join(cgroup, "cgroup.procs"), `${pid}\n`),
};

/**
 * The file system a cgroup root is on: the kernel's when the root (or, before
 * it is made, its nearest existing ancestor) is on cgroup2, else a stand-in.
 * Chosen once, by the command that puts a runtime together.
 */
export function cgroupFsAt(root: string): CgroupFs {
  let p = resolve(root);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return statfsSync(p).type === CGROUP2_SUPER_MAGIC ? kernelCgroupFs : standInCgroupFs;
}
