// `acg run` and `acgd` as real processes on the host's cgroup v2 tree (which
// has no memory/cpu controllers here: processes, cgroup.procs and cgroup.kill
// are real; limits are recorded as unenforced).
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { DaemonClient } from "../../runtime/client.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { spawnInCgroup, waitPidfd } from "../../runtime/spawn.js";
import { hostCgroupRoot, removeCgroupTree, REPO, startAcgd, TEST_POLICY, type TestAcgd } from "./helpers.js";
import { beforeAllRequiring, CGROUP2, requireFeature } from "../require-feature.js";
import { waitUntil } from "../wait.js";

const ACG = join(REPO, "bin/acg.js");
const root = hostCgroupRoot("acg-run-test");
const tmp = mkdtempSync(join(tmpdir(), "acg-run-"));
const policy = join(tmp, "test.acg");
const socket = join(tmp, "acgd.sock");
const standalone = ["--socket", join(tmp, "none.sock"), "--policy", policy, "--cgroup-root", root];

function acg(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [ACG, "run", ...args], { input: input ?? "", encoding: "utf8", timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function callDirs(agentPath: string): string[] {
  return existsSync(agentPath) ? readdirSync(agentPath).filter((e) => e.startsWith("call-")) : [];
}

beforeAll(() => {
  writeFileSync(policy, TEST_POLICY);
});
afterAll(() => {
  removeCgroupTree(root);
  rmSync(tmp, { recursive: true, force: true });
});

describe("acg run standalone (--policy, no daemon)", () => {
  beforeEach(() => requireFeature(CGROUP2));

  it("passes the exit status through, reports, and removes the call's cgroup", () => {
    const r = acg(["--agent", "a1", ...standalone, "--", "sh", "-c", "exit 7"]);
    expect(r.code).toBe(7);
    expect(r.err).toMatch(/^acg: call-\d+-1 \[rule default, class background\] exited with status 7 after /);
    expect(r.err).toMatch(/memory peak n\/a \(baseline 24MiB, limit 32MiB\)/);
    expect(callDirs(join(root, "default", "a1"))).toEqual([]);
  });

  it("runs the command inside its own cgroup, with stdin and stdout passed through", () => {
    const r = acg(["--agent", "a1", "--quiet", ...standalone, "--", "sh", "-c", "cat; grep '^0::' /proc/self/cgroup"], "hello\n");
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    const [echo, cg] = r.out.trim().split("\n");
    expect(echo).toBe("hello");
    expect(cg).toMatch(new RegExp(`^0::/acg-run-test-${process.pid}/default/a1/call-\\d+-1$`));
  });

  it("exits 128+N when a signal ends the command", () => {
    expect(acg(["--agent", "a1", "--quiet", ...standalone, "--", "sh", "-c", "kill -KILL $$"]).code).toBe(137);
  });

  it("forwards SIGTERM to the command and reports how it ended", async () => {
    const p = spawn(
      process.execPath,
      [
        ACG,
        "run",
        "--agent",
        "a1",
        "--json",
        ...standalone,
        "--",
        "sh",
        "-c",
        "trap 'echo got-term; exit 5' TERM; echo ready; while :; do sleep 0.05; done",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    while (!out.includes("ready")) await sleep(20);
    p.kill("SIGTERM");
    const code = await new Promise((r) => p.on("close", r));
    expect(code).toBe(5);
    expect(out).toContain("got-term");
    expect(JSON.parse(err.trim())).toMatchObject({
      rule: "default",
      exit: { code: 5, signal: null, status: 5, ended: "exited with status 5" },
    });
  });

  it("says what is wrong with bad input, without a stack trace", () => {
    expect(acg(["--agent", "a1", ...standalone, "--", "no-such-command-xyz"])).toMatchObject({
      code: 127,
      err: "acg run: no-such-command-xyz: command not found\n",
    });
    const r = acg(["--agent", "a1", "--hint", "memory=lots", ...standalone, "--", "true"]);
    expect(r.code).toBe(125);
    expect(r.err).toBe("acg run: hint memory=lots: not a size; write e.g. memory=512MiB or memory=2GiB\n");
    expect(acg(["--bogus", "--", "true"]).err).toMatch(/^acg run: unknown option '--bogus'\n\nUsage: acg run/);
    const noDaemon = acg(["--socket", join(tmp, "none.sock"), "--", "true"]);
    expect(noDaemon.code).toBe(125);
    expect(noDaemon.err).toMatch(/acgd is not reachable at .*none.sock \(ENOENT\)\n  help: start acgd/);
  });
});

describe("acg run through acgd", () => {
  const acgdArgs = ["--policy", policy, "--socket", socket, "--cgroup-root", root];
  let acgd: TestAcgd;
  beforeAllRequiring(
    CGROUP2,
    async () => {
      acgd = await startAcgd(acgdArgs);
    },
    20_000,
  );
  // Not started where the machine lacks the feature: each test failed on it.
  afterAll(() => acgd?.stop("SIGTERM"));

  it("runs a call in a cgroup the daemon made, matched by the policy", () => {
    const r = acg(["--socket", socket, "--agent", "d1", "--tool", "Read", "--", "sh", "-c", "grep '^0::' /proc/self/cgroup"]);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(new RegExp(`^0::/acg-run-test-${process.pid}/default/d1/call-\\d+-\\d+$`));
    expect(r.err).toMatch(/\[rule vcs, class interactive\] exited with status 0/);
    expect(callDirs(join(root, "default", "d1"))).toEqual([]);
  });

  it("binds a process inside an agent's cgroup to that agent", async () => {
    expect(acg(["--socket", socket, "--agent", "d2", "--", "true"]).code).toBe(0);
    const leaf = join(root, "default", "d2", "agent");
    const outFile = join(tmp, "bound.txt");
    const run = async (agent: string) => {
      const fd = Number((await import("node:fs")).openSync(outFile, "w"));
      const c = spawnInCgroup({
        file: process.execPath,
        argv: ["node", ACG, "run", "--socket", socket, "--agent", agent, "--", "true"],
        cgroupPath: leaf,
        stdio: [null, fd, fd],
      });
      closeSync(fd);
      const st = await waitPidfd(c.pidfd);
      closeSync(c.pidfd);
      return { code: st.code, out: (await import("node:fs")).readFileSync(outFile, "utf8") };
    };
    const own = await run("d2");
    expect(own).toEqual({ code: 0, out: expect.stringContaining("exited with status 0") });
    const other = await run("d1");
    expect(other.code).toBe(125);
    expect(other.out).toBe("acg run: this process belongs to agent 'default/d2': it cannot act for another agent\n");
  });

  it("moves a running process of the agent into a new call, refuses others', and ends the call when it exits", async () => {
    expect(acg(["--socket", socket, "--agent", "d3", "--", "true"]).code).toBe(0);
    const leaf = join(root, "default", "d3", "agent");
    const own = spawnInCgroup({ file: "/bin/sleep", argv: ["sleep", "30"], cgroupPath: leaf, stdio: [null, null, null] });
    const stranger = spawn("sleep", ["30"]);
    const client = await DaemonClient.connect(socket);
    try {
      await expect(client.request({ op: "start_call", agent: "d3", argv: ["sleep", "30"], pid: stranger.pid! })).rejects.toMatchObject({
        code: "forbidden",
        message: `process ${stranger.pid} is not in agent 'd3''s cgroups: an agent may only move its own processes`,
      });
      const call = (await client.request({ op: "start_call", agent: "d3", argv: ["sleep", "30"], pid: own.pid })) as {
        call: string;
        cgroup: string;
      };
      expect(
        readFileSync(`/proc/${own.pid}/cgroup`, "utf8")
          .split("\n")
          .find((l) => l.startsWith("0::")),
      ).toBe(`0::/acg-run-test-${process.pid}/default/d3/${call.call}`);
      client.close();
      // The client is gone: the call ends once its last process exits.
      process.kill(own.pid, "SIGKILL");
      await waitPidfd(own.pidfd);
      closeSync(own.pidfd);
      expect(await waitUntil(() => !existsSync(call.cgroup), 5000)).toBe(true);
    } finally {
      stranger.kill("SIGKILL");
      client.close();
    }
  });

  it("delegates a call to a non-root agent so it can start its command in it", async () => {
    expect(acg(["--socket", socket, "--agent", "d4", "--", "true"]).code).toBe(0);
    const outFile = join(tmp, "nobody.txt");
    const fd = openSync(outFile, "w");
    // The agent's user must reach the socket: its directory and mode opened up for this test only.
    spawnSync("chmod", ["0711", tmp]);
    spawnSync("chmod", ["0666", socket]);
    try {
      const c = spawnInCgroup({
        file: "/usr/bin/setpriv",
        argv: [
          "setpriv",
          "--reuid",
          "65534",
          "--regid",
          "65534",
          "--clear-groups",
          process.execPath,
          ACG,
          "run",
          "--socket",
          socket,
          "--quiet",
          "--",
          "sh",
          "-c",
          "grep '^0::' /proc/self/cgroup; id -u",
        ],
        cgroupPath: join(root, "default", "d4", "agent"),
        stdio: [null, fd, fd],
      });
      const st = await waitPidfd(c.pidfd);
      closeSync(c.pidfd);
      const out = readFileSync(outFile, "utf8");
      expect({ code: st.code, out }).toEqual({
        code: 0,
        out: expect.stringMatching(new RegExp(`^0::/acg-run-test-${process.pid}/default/d4/call-\\d+-\\d+\n65534\n$`)),
      });
    } finally {
      closeSync(fd);
      spawnSync("chmod", ["0660", socket]);
      spawnSync("chmod", ["0700", tmp]);
    }
  });

  it("a restarted acgd (after kill -9) takes over a running call: status and usage list it, it ends when its process exits", async () => {
    // The call runs until the test has seen the takeover (a restart's time depends on the machine's load).
    const release = join(tmp, "d5-release");
    const p = spawn(
      process.execPath,
      [
        ACG,
        "run",
        "--socket",
        socket,
        "--agent",
        "d5",
        "--tool",
        "Read",
        "--",
        "sh",
        "-c",
        `echo started; while [ ! -e ${release} ]; do sleep 0.05; done`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    while (!out.includes("started")) await sleep(20);
    const [call] = callDirs(join(root, "default", "d5"));
    await acgd.stop("SIGKILL");
    acgd = await startAcgd(acgdArgs);
    expect(acgd.log()).toContain(`took over ${call} of default/d5 (rule vcs, class interactive) from an earlier acgd`);
    const client = await DaemonClient.connect(socket);
    const status = (await client.request({ op: "status" })) as { calls: { call: string; rule: string }[] };
    const usage = (await client.request({ op: "usage", agent: "d5" })) as { agents: { agent: string; calls: { call: string }[] }[] };
    client.close();
    expect(status.calls).toContainEqual(expect.objectContaining({ call, rule: "vcs" }));
    expect(usage.agents.find((a) => a.agent === "default/d5")?.calls.map((c) => c.call)).toEqual([call]);
    writeFileSync(release, "");
    // acg itself lost its acgd: the command's status is still its answer.
    expect(await new Promise((r) => p.on("close", r))).toBe(0);
    expect(await waitUntil(() => !existsSync(join(root, "default", "d5", call!)), 5000)).toBe(true);
    expect(await waitUntil(() => acgd.log().includes(`call_ended: end ${call}: exited after`), 5000)).toBe(true);
  }, 60_000);

  it("status says which mechanism enforces what", async () => {
    // An agent that has run a call has a cgroup made ahead of time for its next one (after a lull).
    const ran = spawnSync(process.execPath, [join(REPO, "bin/acg.js"), "run", "--socket", socket, "--agent", "d6", "--", "true"], {
      encoding: "utf8",
    });
    expect(ran.status, ran.stderr).toBe(0);
    await sleep(300);
    const r = spawnSync(process.execPath, [join(REPO, "bin/acgc.js"), "status", "--socket", socket], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(r.stderr);
    expect(r.stdout).toMatch(/^policy runtime_test \([0-9a-f]{12}\), cgroup root /);
    expect(r.stdout).toMatch(/cpu: NOT enforced: the cpu controller is not available in this cgroup tree/);
    expect(r.stdout).toMatch(/memoryController: NOT available in this cgroup tree/);
    expect(r.stdout).toMatch(/ {2}default\/d6: 0 running call\(s\), 1 spare cgroup\(s\) ready\n/);
    expect(r.stdout).toMatch(
      /classifier: exec classifier NOT attached \(no compiled policy directory given \(pass acgd --policy COMPILED_DIR\)\): processes started without acg run stay in their agent's own cgroup/,
    );
  });
});
