// `acg run` in both implementations, through a real acgd on the host's cgroup
// v2 tree: the Node reference (bin/acg.js run) and the native launcher
// (native/build/acg-run, built by scripts/build-launcher.sh in the global
// set-up). Each case runs against both and expects the same behaviour.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { DaemonClient } from "../../runtime/client.js";
import { hostCgroupRoot, removeCgroupTree, REPO, startAcgd, TEST_POLICY, type TestAcgd } from "./helpers.js";
import { beforeAllRequiring, CGROUP2 } from "../require-feature.js";

const root = hostCgroupRoot("acg-launcher-test");
const tmp = mkdtempSync(join(tmpdir(), "acg-launcher-"));
const policy = join(tmp, "test.acg");
const socket = join(tmp, "acgd.sock");
writeFileSync(policy, TEST_POLICY);

const IMPLEMENTATIONS: [string, string[]][] = [
  ["node acg run", [process.execPath, join(REPO, "bin/acg.js"), "run"]],
  ["native acg-run", [join(REPO, "native/build/acg-run")]],
];

let acgd: TestAcgd;
beforeAllRequiring(
  CGROUP2,
  async () => {
    acgd = await startAcgd(["--policy", policy, "--socket", socket, "--cgroup-root", root]);
  },
  20_000,
);
afterAll(async () => {
  // Not started where the machine lacks the feature: each test failed on it.
  await acgd?.stop("SIGTERM");
  removeCgroupTree(root);
  rmSync(tmp, { recursive: true, force: true });
});

describe.each(IMPLEMENTATIONS)("%s through acgd", (_name, prefix) => {
  const run = (args: string[], input = "", env: Record<string, string> = {}) => {
    const r = spawnSync(prefix[0]!, [...prefix.slice(1), ...args], {
      input,
      encoding: "utf8",
      timeout: 20_000,
      env: { ...process.env, ACG_SOCKET: socket, ...env },
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const agent = `${_name.startsWith("node") ? "n" : "c"}`;

  it("runs the command in a new call's cgroup with stdio passed through, and reports", () => {
    const r = run(["--agent", `${agent}1`, "--tool", "Read", "--", "sh", "-c", "cat; grep '^0::' /proc/self/cgroup; exit 3"], "hello\n");
    expect(r.code).toBe(3);
    const [echo, cg] = r.out.trim().split("\n");
    expect(echo).toBe("hello");
    expect(cg).toMatch(new RegExp(`^0::/acg-launcher-test-${process.pid}/default/${agent}1/call-\\d+-\\d+$`));
    expect(r.err).toMatch(
      /^acg: call-\d+-\d+ \[rule vcs, class interactive\] exited with status 3 after \d+\.\d\ds\nacg:   memory peak n\/a \(baseline 8MiB, limit 32MiB\); cpu /,
    );
    expect(readdirSync(join(root, "default", `${agent}1`)).filter((e) => e.startsWith("call-"))).toEqual([]);
  });

  it("matches the rule of a shell-wrapped command", () => {
    const r = run(["--agent", `${agent}2`, "--", "bash", "-c", "cd / && pytest --version 2>/dev/null; true"]);
    expect(r.err).toMatch(/\[rule tests, class build\] exited with status 0/);
  });

  it("gives the --json report with how the command ended", () => {
    const r = run(["--agent", `${agent}3`, "--json", "--", "sh", "-c", "kill -KILL $$"]);
    expect(r.code).toBe(137);
    const rep = JSON.parse(r.err.trim());
    expect(rep).toMatchObject({
      rule: "default",
      class: "background",
      exit: { code: null, signal: "SIGKILL", status: 137, ended: "terminated by SIGKILL" },
    });
    expect(rep.limits).toMatchObject({ baselineBytes: 24 * 1024 * 1024 });
  });

  it("forwards SIGTERM to the command", async () => {
    const p = spawn(
      prefix[0]!,
      [
        ...prefix.slice(1),
        "--agent",
        `${agent}4`,
        "--quiet",
        "--",
        "sh",
        "-c",
        "trap 'echo got-term; exit 5' TERM; echo ready; while :; do sleep 0.05; done",
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ACG_SOCKET: socket } },
    );
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    while (!out.includes("ready")) await sleep(20);
    p.kill("SIGTERM");
    expect(await new Promise((r) => p.on("close", r))).toBe(5);
    expect(out).toContain("got-term");
  });

  it("takes the agent from $ACG_AGENT and shows --label in status while the call runs", async () => {
    const p = spawn(prefix[0]!, [...prefix.slice(1), "--label", "claude:toolu_01XYZ", "--quiet", "--", "sh", "-c", "echo ready; sleep 5"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ACG_SOCKET: socket, ACG_AGENT: `${agent}5` },
    });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    while (!out.includes("ready")) await sleep(20);
    const client = await DaemonClient.connect(socket);
    const status = (await client.request({ op: "status" })) as { calls: { agent: string; label?: string }[] };
    client.close();
    expect(status.calls).toContainEqual(expect.objectContaining({ agent: `default/${agent}5`, label: "claude:toolu_01XYZ" }));
    p.kill("SIGTERM");
    await new Promise((r) => p.on("close", r));
  });

  it("says what is wrong, with acg run's exit codes", () => {
    expect(run(["--agent", "x", "--", "no-such-command-xyz"])).toMatchObject({
      code: 127,
      err: "acg run: no-such-command-xyz: command not found\n",
    });
    expect(run(["--agent", "x", "--", "/tmp"])).toMatchObject({ code: 126, err: "acg run: /tmp: is a directory\n" });
    expect(run(["--bogus", "--", "true"])).toMatchObject({
      code: 2,
      err: expect.stringMatching(/^acg run: unknown option '--bogus'\n\nUsage: acg/),
    });
    expect(run(["--agent", "bad/name", "--", "true"])).toMatchObject({
      code: 125,
      err: expect.stringMatching(/^acg run: agent name "bad\/name" is not valid/),
    });
    expect(run(["--agent", "x", "--hint", "memory=lots", "--", "true"])).toMatchObject({
      code: 125,
      err: "acg run: hint memory=lots: not a size; write e.g. memory=512MiB or memory=2GiB\n",
    });
    const none = run(["--agent", "x", "--", "true"], "", { ACG_SOCKET: join(tmp, "none.sock") });
    expect(none.code).toBe(125);
    expect(none.err).toMatch(/acgd is not reachable at .*none.sock \(ENOENT\)/);
    expect(run(["--version"])).toMatchObject({ code: 0, out: expect.stringMatching(/^acg(-run)? \d+\.\d+\.\d+\n$/) });
  });
});

describe("native acg-run standalone", () => {
  it("hands --policy over to the Node acg run", () => {
    const standaloneRoot = hostCgroupRoot("acg-launcher-sa");
    try {
      const r = spawnSync(
        join(REPO, "native/build/acg-run"),
        [
          "--socket",
          join(tmp, "none.sock"),
          "--policy",
          policy,
          "--cgroup-root",
          standaloneRoot,
          "--agent",
          "s1",
          "--",
          "sh",
          "-c",
          "exit 4",
        ],
        { encoding: "utf8" },
      );
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(/\[rule default, class background\] exited with status 4/);
    } finally {
      if (existsSync(standaloneRoot)) removeCgroupTree(standaloneRoot);
    }
  });
});
