import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { native } from "../../runtime/native-addon.js";
import { sendSignal, spawnInCgroup, waitPidfd } from "../../runtime/spawn.js";
import { beforeAllRequiring, CGROUP2 } from "../require-feature.js";
import { hostCgroupRoot, removeCgroupTree } from "../runtime/helpers.js";

describe("spawnInCgroup / waitPidfd / sendSignal", () => {
  const cg = hostCgroupRoot("acg-native-test");
  const name = basename(cg);
  const tmp = mkdtempSync(join(tmpdir(), "acg-spawn-"));
  beforeAllRequiring(CGROUP2, () => {
    mkdirSync(cg);
  });
  afterAll(() => {
    // Not made where the machine lacks the feature: each test failed on it.
    removeCgroupTree(cg);
    rmSync(tmp, { recursive: true, force: true });
  });

  it("starts the child inside the cgroup and propagates a signal", async () => {
    const c = spawnInCgroup({ file: "/bin/sleep", argv: ["sleep", "30"], cgroupPath: cg, stdio: [null, null, null] });
    try {
      expect(c.pid).toBeGreaterThan(0);
      const line = readFileSync(`/proc/${c.pid}/cgroup`, "utf8")
        .split("\n")
        .find((l) => l.startsWith("0::"));
      expect(line).toBe(`0::/${name}`);
      expect(readFileSync(join(cg, "cgroup.procs"), "utf8").trim().split("\n")).toContain(String(c.pid));
      sendSignal(c.pidfd, "SIGKILL");
      const st = await waitPidfd(c.pidfd);
      expect(st).toMatchObject({ pid: c.pid, code: null, signal: "SIGKILL" });
      // already reaped: a second signal reports ESRCH
      expect(() => sendSignal(c.pidfd, "SIGTERM")).toThrow(expect.objectContaining({ code: "ESRCH", op: "pidfd_send_signal" }));
    } finally {
      closeSync(c.pidfd);
    }
    expect(readFileSync(join(cg, "cgroup.procs"), "utf8").trim()).toBe("");
  });

  it("propagates the exit code, cwd, env and stdio without blocking the event loop", async () => {
    const outPath = join(tmp, "out.txt");
    const out = openSync(outPath, "w");
    const c = spawnInCgroup({
      file: "/bin/sh",
      argv: ["sh", "-c", 'sleep 0.3; pwd; echo "$ACG_X"; exit 7'],
      env: ["ACG_X=hello", "PATH=/usr/bin:/bin"],
      cwd: tmp,
      cgroupPath: cg,
      stdio: [null, out, out],
    });
    closeSync(out);
    let ticks = 0;
    const iv = setInterval(() => ticks++, 20);
    const st = await waitPidfd(c.pidfd);
    clearInterval(iv);
    closeSync(c.pidfd);
    expect(st.code).toBe(7);
    expect(st.signal).toBeNull();
    expect(ticks).toBeGreaterThanOrEqual(5);
    expect(readFileSync(outPath, "utf8")).toBe(`${tmp}\nhello\n`);
  });

  it("resets ignored signals in the child (SIGPIPE) and swaps stdio fds correctly", async () => {
    const outPath = join(tmp, "sig.txt");
    const out = openSync(outPath, "w");
    const c = spawnInCgroup({
      file: "/bin/sh",
      argv: ["sh", "-c", "grep -E '^(SigIgn|SigBlk)' /proc/self/status"],
      cgroupPath: cg,
      stdio: [null, out, 1],
    });
    closeSync(out);
    const st = await waitPidfd(c.pidfd);
    closeSync(c.pidfd);
    expect(st.code).toBe(0);
    const txt = readFileSync(outPath, "utf8");
    const blk = /SigBlk:\s*([0-9a-f]+)/.exec(txt)?.[1];
    expect(blk && BigInt(`0x${blk}`)).toBe(0n);
    const ign = /SigIgn:\s*([0-9a-f]+)/.exec(txt)?.[1];
    expect(ign).toBeDefined();
    expect((BigInt(`0x${ign}`) >> 12n) & 1n).toBe(0n); // SIGPIPE (13) not ignored
  });

  it("exec failure of a missing binary is a JS error with ENOENT", () => {
    expect(() => spawnInCgroup({ file: "/nonexistent/acg-tool", argv: ["x"], cgroupPath: cg })).toThrow(
      expect.objectContaining({ code: "ENOENT", errno: 2, op: "execve" }),
    );
    expect(() => spawnInCgroup({ file: "/bin/true", argv: ["true"], cwd: "/nonexistent-dir", cgroupPath: cg })).toThrow(
      expect.objectContaining({ code: "ENOENT", op: "chdir" }),
    );
    expect(() => spawnInCgroup({ file: "/bin/true", argv: ["true"], cgroupPath: join(dirname(cg), "acg-missing-cgroup") })).toThrow(
      expect.objectContaining({ code: "ENOENT", op: "open" }),
    );
    expect(readFileSync(join(cg, "cgroup.procs"), "utf8").trim()).toBe("");
  });

  it("rejects bad arguments with TypeError", () => {
    const n = native() as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => spawnInCgroup(null as never)).toThrow(TypeError);
    expect(() => n.spawnInCgroup!({ argv: [] })).toThrow(TypeError);
    expect(() => n.spawnInCgroup!({ file: "/bin/true", argv: "true" })).toThrow(TypeError);
    expect(() => n.spawnInCgroup!({ file: "/bin/true", argv: ["a", 1] })).toThrow(TypeError);
    expect(() => n.spawnInCgroup!({ file: "/bin/true", argv: ["a\0b"] })).toThrow(TypeError);
    expect(() => n.spawnInCgroup!({ file: "/bin/true", argv: ["true"], stdio: [0, 1] })).toThrow(TypeError);
    expect(() => n.spawnInCgroup!({ file: "/bin/true", argv: ["true"], stdio: [0, 1, -2] })).toThrow(TypeError);
    expect(() => n.spawnInCgroup!({ file: "/bin/true", argv: ["true"], cwd: 5 })).toThrow(TypeError);
    expect(() => n.waitPidfd!("3")).toThrow(TypeError);
    expect(() => sendSignal(0, "SIGNOPE" as never)).toThrow(TypeError);
    expect(() => n.sendSignal!(0, 999)).toThrow(TypeError);
  });

  it("waitPidfd rejects (not crashes) for an fd that is not a pidfd", async () => {
    const fd = openSync("/dev/null", "r");
    try {
      // /dev/null cannot be polled: the poll set-up fails with EPERM.
      await expect(waitPidfd(fd)).rejects.toMatchObject({ code: "EPERM", op: "uv_poll_init" });
    } finally {
      closeSync(fd);
    }
  });
});
