// acgd with a compiled policy on the host: no sched_ext here, so the exec
// classifier runs on objects of its own (real BPF: tp_btf/sched_process_exec
// and its ring buffer), and a process exec'd in an agent's own cgroup is moved
// into a tool call of its own.
import { chmodSync, copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DaemonClient } from "../../runtime/client.js";
import { spawnInCgroup } from "../../runtime/spawn.js";
import {
  cgroupDirOf,
  compiledWithGit,
  hostCgroupRoot,
  killAndReap,
  policyOf,
  removeCgroupTree,
  startAcgd,
  TEST_POLICY,
  type TestAcgd,
} from "./helpers.js";
import { beforeAllRequiring, CGROUP2 } from "../require-feature.js";
import { waitUntil } from "../wait.js";

const root = hostCgroupRoot("acg-classifier-test");
const tmp = mkdtempSync(join(tmpdir(), "acg-classifier-"));
const socket = join(tmp, "acgd.sock");
let compiled: string;
let git: string;
let acgd: TestAcgd;

beforeAllRequiring(
  CGROUP2,
  async () => {
    ({ compiled, git } = await compiledWithGit(policyOf(TEST_POLICY), tmp));
    acgd = await startAcgd(["--policy", compiled, "--socket", socket, "--cgroup-root", root]);
  },
  120_000,
);
afterAll(async () => {
  // Not started where the machine lacks the feature: each test failed on it.
  await acgd?.stop("SIGTERM");
  removeCgroupTree(root);
  rmSync(tmp, { recursive: true, force: true });
});

describe("acgd's exec classifier without a scheduler", () => {
  it("is attached on its own maps, and moves a git exec'd in the agent's own cgroup into a vcs call that ends with it", async () => {
    const client = await DaemonClient.connect(socket);
    try {
      // acgd listens first; its objects attach when the kernel has verified them.
      expect(await waitUntil(() => acgd.log().includes("BPF objects: loading ended"), 10_000)).toBe(true);
      const st = (await client.request({ op: "status" })) as { enforcement: Record<string, string> };
      expect(st.enforcement["classifier"]).toMatch(/^exec classifier attached \(tp_btf\/sched_process_exec, own maps\)/);
      const log = acgd.log();
      expect(log.indexOf("listening on")).toBeLessThan(log.indexOf("BPF objects: loading ended"));
      const made = (await client.request({ op: "start_call", agent: "x1", argv: ["true"] })) as { call: string };
      await client.request({ op: "end_call", call: made.call });
      const leaf = join(root, "default", "x1", "agent");
      const plain = spawnInCgroup({ file: "/bin/sleep", argv: ["sleep", "30"], cgroupPath: leaf, stdio: [null, null, null] });
      const proc = spawnInCgroup({ file: "/bin/sh", argv: ["sh", "-c", `exec ${git} 30`], cgroupPath: leaf, stdio: [null, null, null] });
      try {
        expect(await waitUntil(() => cgroupDirOf(proc.pid) !== leaf, 5000)).toBe(true);
        const cg = cgroupDirOf(proc.pid);
        expect(dirname(cg)).toBe(join(root, "default", "x1"));
        const calls = (
          (await client.request({ op: "status" })) as { calls: { cgroup: string; rule: string; class: string; events: string[] }[] }
        ).calls;
        expect(calls.find((c) => c.cgroup === cg)).toMatchObject({ rule: "vcs", class: "interactive" });
        // Records are handled in order: the earlier default-rule exec was seen, and left where it is.
        expect(cgroupDirOf(plain.pid)).toBe(leaf);
        await killAndReap(proc);
        expect(await waitUntil(() => !existsSync(cg), 5000)).toBe(true);
      } finally {
        await killAndReap(plain);
        if (existsSync(`/proc/${proc.pid}`)) await killAndReap(proc);
      }
    } finally {
      client.close();
    }
  }, 30_000);

  it("apply of a directory with new exe matchers replaces its program: the new rule is decided in the kernel", async () => {
    const client = await DaemonClient.connect(socket);
    const hg = join(tmp, "hg");
    copyFileSync("/bin/sleep", hg);
    chmodSync(hg, 0o755);
    const next = mkdtempSync(join(tmp, "hg-"));
    const text = TEST_POLICY.replace(
      "  tool tests {",
      '  tool hg { match exe == "hg"; class interactive; memory.limit = 20MiB }\n  tool tests {',
    );
    const { compiled: nextDir } = await compiledWithGit(policyOf(text), next);
    try {
      // A directory whose classifier does not load: refused, the running program and policy untouched.
      const broken = join(tmp, "broken");
      cpSync(nextDir, broken, { recursive: true });
      const obj = join(broken, "classifier.bpf.o");
      writeFileSync(obj, readFileSync(obj).subarray(0, 512));
      const refused = await client.request({ op: "apply_policy", dir: broken }).then(
        () => "applied",
        (e: Error) => e.message,
      );
      expect(refused).toMatch(/^policy not applied; the running policy is unchanged: its exec classifier did not load or attach/);
      const applied = (await client.request({ op: "apply_policy", dir: nextDir })) as { policy: string; scheduler: unknown };
      expect(applied.scheduler).toBeNull();
      expect(acgd.log()).not.toContain("keeps the previous policy's matchers");
      const st = (await client.request({ op: "status" })) as { enforcement: Record<string, string> };
      expect(st.enforcement["classifier"]).toMatch(/^exec classifier attached \(tp_btf\/sched_process_exec, own maps\)/);
      await client.request({
        op: "end_call",
        call: ((await client.request({ op: "start_call", agent: "x2", argv: ["true"] })) as { call: string }).call,
      });
      const leaf = join(root, "default", "x2", "agent");
      const proc = spawnInCgroup({ file: hg, argv: ["hg", "30"], cgroupPath: leaf, stdio: [null, null, null] });
      try {
        expect(await waitUntil(() => cgroupDirOf(proc.pid) !== leaf, 5000)).toBe(true);
        const calls = ((await client.request({ op: "status" })) as { calls: { cgroup: string; rule: string; events: string[] }[] }).calls;
        const call = calls.find((c) => c.cgroup === cgroupDirOf(proc.pid));
        expect(call?.rule).toBe("hg");
        // The kernel's own verdict, from the new program (the old one had no rule hg).
        expect(call?.events.at(-1)).toContain("(kernel rule hg;");
      } finally {
        await killAndReap(proc);
      }
    } finally {
      client.close();
    }
  }, 60_000);
});
