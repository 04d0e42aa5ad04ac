// acgd's start-up with a compiled policy: the socket serves before the BPF
// objects are attached (the kernel verifies them on a worker thread), status
// says "loading" meanwhile, and what started during the load is enforced by
// the classifier once it attaches. The load is held back deterministically by
// occupying libuv's thread pool with FIFO opens that block until the test
// opens the FIFO's other end.
import { execFileSync } from "node:child_process";
import { closeSync, constants, existsSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assembleRuntime } from "../../runtime/assemble.js";
import { kernelCgroupFs } from "../../runtime/cgroup-fs.js";
import { CgroupTree } from "../../runtime/cgroup-tree.js";
import { DaemonClient } from "../../runtime/client.js";
import { Daemon } from "../../runtime/daemon.js";
import { spawnInCgroup } from "../../runtime/spawn.js";
import { waitUntil } from "../wait.js";
import { cgroupDirOf, compiledWithGit, hostCgroupRoot, killAndReap, policyOf, removeCgroupTree, TEST_POLICY } from "./helpers.js";
import { CGROUP2, requireFeature } from "../require-feature.js";

const tmp = mkdtempSync(join(tmpdir(), "acg-loading-"));
const ir = policyOf(TEST_POLICY);
let compiled: string;
let git: string;

beforeAll(async () => {
  ({ compiled, git } = await compiledWithGit(ir, tmp));
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Occupies every thread of libuv's pool until release(): work queued meanwhile (an asynchronous BPF load) waits. */
function holdThreadPool(): { release: () => Promise<void> } {
  const fifo = join(tmp, `gate-${Date.now()}`);
  execFileSync("mkfifo", [fifo]);
  const threads = Number(process.env["UV_THREADPOOL_SIZE"]) || 4;
  // Opening a FIFO for reading blocks (in a pool thread) until a writer opens it.
  const readers = Array.from({ length: threads }, () => open(fifo, "r"));
  return {
    release: async () => {
      const w = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      for (const r of readers) await (await r).close();
      closeSync(w);
      rmSync(fifo);
    },
  };
}

describe("acgd serves while its BPF objects load", () => {
  it("answers status ('loading') before the classifier attaches; an agent started during the load has its execs placed once it does", async () => {
    requireFeature(CGROUP2);
    const root = hostCgroupRoot("acg-loading-test");
    const socketPath = join(tmp, "acgd.sock");
    const gate = holdThreadPool();
    const rt = assembleRuntime(ir, new CgroupTree(root, kernelCgroupFs), { compiledDir: compiled });
    const daemon = new Daemon(rt.calls, { socketPath, describe: rt.describe, scheduler: () => rt.scheduler, attached: rt.attached });
    let client: DaemonClient | null = null;
    let released = false;
    try {
      await daemon.listen();
      client = await DaemonClient.connect(socketPath);
      expect(rt.loading).toBe(true);
      const status = async () => (await client!.request({ op: "status" })) as { enforcement: Record<string, string> };
      const during = (await status()).enforcement;
      expect(during["bpfObjects"]).toMatch(/^loading: /);
      expect(during["classifier"]).toMatch(/^exec classifier loading/);
      // A call during the load: enforced through cgroup files (its limits are written), its agent created.
      const made = (await client.request({ op: "start_call", agent: "x1", argv: ["true"] })) as { call: string; cgroup: string };
      expect(existsSync(made.cgroup)).toBe(true);
      await client.request({ op: "end_call", call: made.call });
      // A hot swap during the load waits for it (then swaps what attached).
      const order: string[] = [];
      void rt.attached.then(() => order.push("attached"));
      const applied = client.request({ op: "apply_policy", dir: compiled }).then(() => order.push("applied"));
      expect(rt.loading).toBe(true);
      await gate.release();
      released = true;
      await rt.attached;
      await applied;
      expect(order).toEqual(["attached", "applied"]);
      expect(rt.loading).toBe(false);
      const after = (await status()).enforcement;
      expect(after["bpfObjects"]).toBeUndefined();
      expect(after["classifier"]).toMatch(/^exec classifier attached \(tp_btf\/sched_process_exec, own maps\)/);
      // The agent made during the load is watched: a git exec'd in its own cgroup is moved into a vcs call.
      const leaf = join(root, "default", "x1", "agent");
      const proc = spawnInCgroup({ file: "/bin/sh", argv: ["sh", "-c", `exec ${git} 30`], cgroupPath: leaf, stdio: [null, null, null] });
      try {
        expect(await waitUntil(() => cgroupDirOf(proc.pid) !== leaf, 5000)).toBe(true);
        expect(dirname(cgroupDirOf(proc.pid))).toBe(join(root, "default", "x1"));
        const calls = ((await client.request({ op: "status" })) as { calls: { cgroup: string; rule: string }[] }).calls;
        expect(calls.find((c) => c.cgroup === cgroupDirOf(proc.pid))).toMatchObject({ rule: "vcs" });
      } finally {
        await killAndReap(proc);
      }
    } finally {
      if (!released) await gate.release();
      client?.close();
      await daemon.close();
      rt.close();
      removeCgroupTree(root);
    }
  }, 30_000);

  it("a runtime closed during the load attaches nothing: the load is closed when the kernel returns from it", async () => {
    requireFeature(CGROUP2);
    const root = hostCgroupRoot("acg-loading-close");
    const gate = holdThreadPool();
    const rt = assembleRuntime(ir, new CgroupTree(root, kernelCgroupFs), { compiledDir: compiled });
    try {
      expect(rt.loading).toBe(true);
      rt.close();
    } finally {
      await gate.release();
    }
    await rt.attached;
    expect(rt.loading).toBe(false);
    expect((rt.describe()["enforcement"] as Record<string, string>)["classifier"]).not.toMatch(/attached \(/);
    removeCgroupTree(root);
  }, 30_000);
});
