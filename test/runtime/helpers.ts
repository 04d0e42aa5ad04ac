// Shared by the runtime tests: policies from text, fake cgroup roots, acgd in
// process on a socket or as a process.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { compilePolicy } from "../../compiler/compile.js";
import type { PolicyIR } from "../../compiler/ir.js";
import { assembleRuntime, type Runtime } from "../../runtime/assemble.js";
import { standInCgroupFs } from "../../runtime/cgroup-fs.js";
import { cgroup2Mount, CgroupTree } from "../../runtime/cgroup-tree.js";
import { Daemon, type DaemonOptions } from "../../runtime/daemon.js";
import { waitPidfd } from "../../runtime/spawn.js";
import { loadPolicySource } from "../../runtime/policy-source.js";
import { CGROUP2, requireFeature } from "../require-feature.js";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "../..");

export function policyOf(text: string): PolicyIR {
  const r = loadPolicySource("test.acg", text);
  if (!r.ok) throw new Error(r.message);
  return r.ir;
}

/** A plain directory standing in for a cgroup root (interface files become regular files). */
export function fakeRoot(): string {
  return mkdtempSync(join(tmpdir(), "acg-fake-cgroup-"));
}

/** A cgroup tree on a stand-in directory, where the test plays the kernel. */
export function standInTree(root: string): CgroupTree {
  return new CgroupTree(root, standInCgroupFs);
}

/** Two tenants, bounded intents, a bursty rule with a short credit; sizes small enough for a TCG guest. */
export const TEST_POLICY = `version 1
policy runtime_test {
  host { memory = 1GiB; reserve = 64MiB }
  class interactive { priority = high; cpu.weight = 400; latency = 2ms }
  class build { priority = normal; cpu.weight = 100 }
  class background { priority = low; cpu.weight = 25 }
  agent {
    max_agents = 4
    memory.guarantee = 4MiB
    memory.limit = 256MiB
    intent memory <= 96MiB
    intent class in [build, background]
    intent cpu.weight <= 200
  }
  tenant strict {
    memory.limit = 512MiB
    cpu.weight = 50
    agent {
      max_agents = 2
      memory.limit = 128MiB
      intent memory <= 48MiB
      intent.excess = refuse
    }
  }
  tool tests {
    match exe in ["pytest", "tox"] or argv ~ /-m (pytest|unittest)/ or hint == "tests"
    class build
    memory.baseline = 16MiB
    memory.limit = 64MiB
    memory.burst = 8MiB for 2s, cooldown 10s
    over_high throttle 10ms..200ms ramp 2s, kill after 6s
  }
  tool vcs {
    match exe == "git" or tool in ["Read", "Grep"]
    class interactive
    memory.baseline = 8MiB
    memory.limit = 32MiB
    memory.guarantee = 2MiB
  }
  tool lister {
    match path matches "/usr/bin/l?" and not argv ~ /--recursive/
    class interactive
    memory.baseline = 8MiB
    memory.limit = 16MiB
  }
  tool default {
    class background
    memory.baseline = 24MiB
    memory.limit = 32MiB
  }
}
`;

/**
 * Compiles the acg/acgd entry points (and what they import) into dist/, as
 * `npm run build` would, so the tests can run the real commands as processes.
 */
export function buildCommands(): void {
  const repo = REPO;
  execFileSync(
    process.execPath,
    [
      join(repo, "node_modules/typescript/bin/tsc"),
      "--outDir",
      join(repo, "dist"),
      "--rootDir",
      repo,
      "--target",
      "ES2022",
      "--module",
      "NodeNext",
      "--moduleResolution",
      "NodeNext",
      "--strict",
      "--skipLibCheck",
      "--sourceMap",
      "--types",
      "node",
      join(repo, "cli/acg.ts"),
      join(repo, "cli/acgd.ts"),
      join(repo, "cli/acgc.ts"),
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
}

/** acgd in the test's process: a runtime on a stand-in tree, its API served on a Unix socket. */
export interface SocketAcgd {
  /** The stand-in tree's root, where the test plays the kernel. */
  root: string;
  rt: Runtime;
  /** Stops serving, closes the runtime and removes the tree. */
  close(): Promise<void>;
}

/** Serves `policy` on `socketPath` over a stand-in tree, with `options` for the daemon (for a beforeAll; close() in the afterAll). */
export async function acgdOnSocket(
  socketPath: string,
  policy: string,
  options: Omit<DaemonOptions, "socketPath" | "describe"> = {},
): Promise<SocketAcgd> {
  const root = fakeRoot();
  const rt = assembleRuntime(policyOf(policy), standInTree(root));
  const daemon = new Daemon(rt.calls, { ...options, socketPath, describe: rt.describe });
  const removeAll = () => {
    rt.close();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await daemon.listen();
  } catch (e) {
    removeAll();
    throw e;
  }
  return {
    root,
    rt,
    close: async () => {
      await daemon.close();
      removeAll();
    },
  };
}

/** Removes a test's cgroup tree bottom-up (cgroup directories go with rmdir). */
export function removeCgroupTree(p: string): void {
  if (!existsSync(p)) return;
  for (const e of readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(p, e.name));
  rmdirSync(p);
}

/** SIGKILLs a process started with spawnInCgroup and reaps it. */
export async function killAndReap(p: { pid: number; pidfd: number }): Promise<void> {
  process.kill(p.pid, "SIGKILL");
  await waitPidfd(p.pidfd);
  closeSync(p.pidfd);
}

/** An acgd process started by a test, and what it has logged so far. */
export interface TestAcgd {
  proc: ChildProcess;
  log(): string;
  /** Sends `signal` and waits for the process to end. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

/** Starts bin/acgd.js (built by {@link buildCommands}) and waits until it listens. */
export async function startAcgd(args: string[]): Promise<TestAcgd> {
  const proc = spawn(process.execPath, [join(REPO, "bin/acgd.js"), ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.stderr.on("data", (d) => (log += d));
  const closed = new Promise<void>((r) => proc.on("close", () => r()));
  while (!log.includes("listening on")) {
    if (proc.exitCode !== null) throw new Error(`acgd exited: ${log}`);
    await sleep(20);
  }
  return {
    proc,
    log: () => log,
    stop: async (signal) => {
      proc.kill(signal);
      await closed;
    },
  };
}

/**
 * A test's cgroup tree root, NAME-PID on the host's cgroup v2 hierarchy.
 * Without a cgroup2 mount it is a path that no test makes: the tests that use
 * it fail on requireFeature(CGROUP2) first.
 */
export function hostCgroupRoot(name: string): string {
  return join(cgroup2Mount() ?? "/sys/fs/cgroup", `${name}-${process.pid}`);
}

/** The absolute cgroup v2 directory a process is in. */
export function cgroupDirOf(pid: number): string {
  requireFeature(CGROUP2);
  return join(
    cgroup2Mount()!,
    readFileSync(`/proc/${pid}/cgroup`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("0::"))!
      .slice(3),
  );
}

/**
 * Compiles `ir` into `tmp`/compiled (with its ir.json, as acgd reads a compiled
 * directory) and makes `tmp`/git, a long-running `git` for the vcs rule of
 * TEST_POLICY (exe == "git"): sleep under that name.
 */
export async function compiledWithGit(ir: PolicyIR, tmp: string): Promise<{ compiled: string; git: string }> {
  const compiled = join(tmp, "compiled");
  const git = join(tmp, "git");
  mkdirSync(compiled);
  const r = await compilePolicy(ir, { outDir: compiled });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join("; "));
  writeFileSync(join(compiled, "ir.json"), JSON.stringify(ir));
  copyFileSync("/bin/sleep", git);
  chmodSync(git, 0o755);
  return { compiled, git };
}
