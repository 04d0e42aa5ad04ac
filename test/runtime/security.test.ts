// acgd attacked from the host, one test per finding of issue 11 that the host
// can show (real cgroup v2 tree without memory/cpu controllers, peers of
// another uid through setpriv). The guest suite (test/kernel/security-guest.ts)
// adds what needs memory limits or a quiet machine: exhaustion with acgd's RSS
// and answer times, state damage with limits compared across restarts.
// docs/security.md states the model these tests enforce.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ABI_VERSION } from "../../compiler/abi.js";
import { MANIFEST_VERSION } from "../../compiler/manifest.js";
import { type ApiError, parseRequest } from "../../runtime/api.js";
import { assembleRuntime } from "../../runtime/assemble.js";
import { DaemonClient } from "../../runtime/client.js";
import { logSafe } from "../../runtime/daemon.js";
import { spawnInCgroup } from "../../runtime/spawn.js";
import { loadPolicyFrom } from "../../runtime/policy-source.js";
import { CallError } from "../../runtime/call-error.js";
import { openMany, Peer, processWithPid } from "../fixtures/peer.js";
import {
  acgdOnSocket,
  fakeRoot,
  hostCgroupRoot,
  killAndReap,
  policyOf,
  removeCgroupTree,
  REPO,
  standInTree,
  startAcgd,
  TEST_POLICY,
  type SocketAcgd,
  type TestAcgd,
} from "./helpers.js";
import { beforeAllRequiring, CGROUP2 } from "../require-feature.js";
import { waitUntil } from "../wait.js";

const NOBODY = 65534;
const OTHER = 65533;
const root = hostCgroupRoot("acg-security-test");
const tmp = mkdtempSync(join(tmpdir(), "acg-sec-"));
const socket = join(tmp, "acgd.sock");
const policyFile = join(tmp, "test.acg");
const leaf = (agent: string) => join(root, "default", agent, "agent");
const cgroupOf = (pid: number) =>
  readFileSync(`/proc/${pid}/cgroup`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("0::"))!
    .slice(3);

describe("acgd against peers that are not who they seem (real cgroups, other uids)", () => {
  const acgdArgs = [
    "--policy",
    policyFile,
    "--socket",
    socket,
    "--socket-mode",
    "0666",
    "--cgroup-root",
    root,
    "--state-file",
    join(tmp, "state.json"),
  ];
  let acgd: TestAcgd;
  let admin: DaemonClient;
  const live: { pid: number; pidfd: number }[] = [];
  beforeAllRequiring(
    CGROUP2,
    async () => {
      writeFileSync(policyFile, TEST_POLICY);
      chmodSync(tmp, 0o711);
      acgd = await startAcgd(acgdArgs);
      admin = await DaemonClient.connect(socket);
      // Agents with their own leaves, made by root (the supervisor).
      for (const agent of ["victim", "owned", "dl"])
        await admin.request({
          op: "end_call",
          call: ((await admin.request({ op: "start_call", agent, argv: ["true"] })) as { call: string }).call,
        });
    },
    30_000,
  );
  afterAll(async () => {
    // Neither is there where the machine lacks the feature: each test failed on it.
    admin?.close();
    for (const p of live) await killAndReap(p).catch(() => {});
    await acgd?.stop("SIGTERM");
    removeCgroupTree(root);
    rmSync(tmp, { recursive: true, force: true });
  });

  it("a connection keeps the identity it had when it connected: its pid reused inside another agent gains nothing", async () => {
    const victim = spawnInCgroup({ file: "/bin/sleep", argv: ["sleep", "60"], cgroupPath: leaf("victim"), stdio: [null, null, null] });
    live.push(victim);
    const call = (await admin.request({ op: "start_call", agent: "victim", argv: ["sleep", "60"], pid: victim.pid })) as { call: string };
    const attacker = await Peer.open(socket, NOBODY);
    const before = await attacker.request({ op: "end_call", call: call.call });
    expect(before.error?.code).toBe("forbidden");
    // The connecting process is gone; a process of the victim agent now has its pid.
    const reused = await processWithPid(attacker.connector, leaf("victim"));
    live.push(reused);
    expect(cgroupOf(reused.pid)).toMatch(/\/default\/victim\/agent$/);
    const after = await attacker.request({ op: "end_call", call: call.call });
    // Forbidden either way: as the stranger it was at connect, or (when the connector exited before acgd
    // accepted it, as on a busy host) as a peer that could not be identified — never as the victim agent.
    expect(after.error?.code).toBe("forbidden");
    expect(after.error?.message).toMatch(
      new RegExp(
        `^(tool call '${call.call}' belongs to agent 'default/victim', not to this caller|peer ` +
          `pid ${attacker.connector} exited before its cgroup could be read: request refused)$`,
      ),
    );
    const status = (await admin.request({ op: "status" })) as { calls: { call: string }[] };
    expect(status.calls.map((c) => c.call)).toContain(call.call);
    attacker.close();
    await admin.request({ op: "end_call", call: call.call });
  }, 60_000);

  it("an agent's peers must have its owner uid, and a caller ends only the calls its own uid started", async () => {
    const owner = await Peer.open(socket, NOBODY, leaf("owned"));
    const mine = await owner.request({ op: "start_call", argv: ["make"] });
    expect(mine).toMatchObject({ ok: true });
    // Another uid placed in the same agent's cgroup (by root, or a delegation) cannot act for it.
    const intruder = await Peer.open(socket, OTHER, leaf("owned"));
    expect(await intruder.request({ op: "status" })).toMatchObject({
      error: {
        code: "forbidden",
        message: `agent 'default/owned' belongs to uid ${NOBODY}; peer pid ${intruder.connector} runs as uid ${OTHER}: request refused`,
      },
    });
    // A call root started for the agent is not the agent user's to end.
    const roots = (await admin.request({ op: "start_call", agent: "owned", argv: ["make"] })) as { call: string };
    expect(await owner.request({ op: "end_call", call: roots.call })).toMatchObject({
      error: { code: "forbidden", message: `tool call '${roots.call}' was started by uid 0, not by uid ${NOBODY}` },
    });
    expect((await owner.request({ op: "end_call", call: mine.result.call })).ok).toBe(true);
    await admin.request({ op: "end_call", call: roots.call });
    owner.close();
    intruder.close();
  }, 60_000);

  it("status shows an agent only its own agent and calls; a stranger is refused", async () => {
    const held = (await admin.request({ op: "start_call", agent: "victim", argv: ["make"] })) as { call: string };
    const agentPeer = await Peer.open(socket, NOBODY, leaf("owned"));
    const st = await agentPeer.request({ op: "status" });
    expect(st.result.agents.map((a: { agent: string }) => a.agent)).toEqual(["default/owned"]);
    expect(st.result.calls.map((c: { call: string }) => c.call)).not.toContain(held.call);
    const stranger = await Peer.open(socket, NOBODY);
    expect((await stranger.request({ op: "status" })).error?.code).toBe("forbidden");
    await admin.request({ op: "end_call", call: held.call });
    agentPeer.close();
    stranger.close();
  }, 60_000);

  it("a delegation moves nobody else's process: one of another uid moved in is moved back, and cgroup.procs is root's again", async () => {
    const rootProc = spawnInCgroup({ file: "/bin/sleep", argv: ["sleep", "60"], cgroupPath: leaf("dl"), stdio: [null, null, null] });
    live.push(rootProc);
    const agentPeer = await Peer.open(socket, NOBODY, leaf("dl"));
    const call = (await agentPeer.request({ op: "start_call", argv: ["sh"] })).result as { call: string; cgroup: string };
    const agentProcs = join(root, "default", "dl", "cgroup.procs");
    expect(statSync(agentProcs).uid).toBe(NOBODY);
    // The kernel lets the delegated uid move the root-owned process (cgroup v2 checks no owner)...
    const moved = spawnSync("setpriv", [
      "--reuid",
      String(NOBODY),
      "--regid",
      String(NOBODY),
      "--clear-groups",
      "sh",
      "-c",
      `echo ${rootProc.pid} > ${call.cgroup}/cgroup.procs`,
    ]);
    expect(moved.status).toBe(0);
    // ...and acgd, as the API would, puts it back.
    expect(await waitUntil(() => cgroupOf(rootProc.pid).endsWith("/default/dl/agent"), 5000)).toBe(true);
    expect((await agentPeer.request({ op: "end_call", call: call.call })).ok).toBe(true);
    expect(statSync(agentProcs).uid).toBe(0);
    expect(() => process.kill(rootProc.pid, 0)).not.toThrow();
    agentPeer.close();
  }, 60_000);

  it("connections are bounded per uid; root still gets an answer", async () => {
    const { told, closed } = await openMany(socket, NOBODY, 70);
    await closed;
    // Earlier peers of this uid may still be closing: at most 64 are held, the rest are told why not.
    const held = told.filter((t) => t === "-").length;
    expect(held).toBeLessThanOrEqual(64);
    expect(told.filter((t) => t.includes("too many connections from uid 65534 (at most 64 per user)")).length).toBe(70 - held);
    expect(await admin.request({ op: "status" })).toMatchObject({ policy: { name: "runtime_test" } });
  }, 60_000);

  it("acg run answers like a shell: 126 for a directory or a file without x, a script without #! runs under sh", () => {
    const acg = (...cmd: string[]) =>
      spawnSync(process.execPath, [join(REPO, "bin/acg.js"), "run", "--socket", socket, "--agent", "sh", "--quiet", "--", ...cmd], {
        encoding: "utf8",
        timeout: 20_000,
      });
    const plain = join(tmp, "plain.txt");
    writeFileSync(plain, "echo no\n", { mode: 0o644 });
    const script = join(tmp, "noshebang");
    writeFileSync(script, "echo ran as a script; exit 7\n", { mode: 0o755 });
    expect({ code: acg(tmp).status, err: acg(tmp).stderr }).toEqual({ code: 126, err: `acg run: ${tmp}: is a directory\n` });
    expect(acg(plain).status).toBe(126);
    expect(acg(join(tmp, "absent")).status).toBe(127);
    expect(acg(script)).toMatchObject({ status: 7, stdout: "ran as a script\n" });
  }, 60_000);

  it("job control: SIGQUIT reaches the command; SIGKILL of acg ends its call, command and cgroup", async () => {
    const start = () => {
      const p = spawn(
        process.execPath,
        [join(REPO, "bin/acg.js"), "run", "--socket", socket, "--agent", "jobs", "--quiet", "--", "sleep", "30"],
        { stdio: "ignore" },
      );
      return p;
    };
    const calls = () =>
      existsSync(join(root, "default", "jobs")) ? readdirSync(join(root, "default", "jobs")).filter((e) => e.startsWith("call-")) : [];
    // Running: the command is in its call's cgroup (acg forwards signals from then on).
    const running = () =>
      calls().length === 1 && readFileSync(join(root, "default", "jobs", calls()[0]!, "cgroup.procs"), "utf8").trim() !== "";
    const quit = start();
    expect(await waitUntil(running, 10_000)).toBe(true);
    quit.kill("SIGQUIT");
    expect(await new Promise((r) => quit.on("close", r))).toBe(128 + 3);
    const killed = start();
    expect(await waitUntil(running, 10_000)).toBe(true);
    const cg = join(root, "default", "jobs", calls()[0]!);
    const sleeper = Number(readFileSync(join(cg, "cgroup.procs"), "utf8").trim());
    killed.kill("SIGKILL");
    expect(await waitUntil(() => !existsSync(cg), 10_000)).toBe(true);
    // Dead (a zombie until its new parent reaps it: acg was its parent).
    const state = existsSync(`/proc/${sleeper}`) ? readFileSync(`/proc/${sleeper}/stat`, "utf8").split(") ")[1]![0] : "gone";
    expect(["Z", "X", "gone"]).toContain(state);
  }, 60_000);

  it("acgd stopping is not its clients leaving: a running call goes on, and the next acgd takes it over", async () => {
    const p = spawn(
      process.execPath,
      [join(REPO, "bin/acg.js"), "run", "--socket", socket, "--agent", "stay", "--quiet", "--", "sleep", "30"],
      { stdio: "ignore" },
    );
    const dir = join(root, "default", "stay");
    const procs = () =>
      existsSync(dir)
        ? readdirSync(dir)
            .filter((e) => e.startsWith("call-"))
            .map((c) => readFileSync(join(dir, c, "cgroup.procs"), "utf8").trim())
        : [];
    expect(await waitUntil(() => procs().length === 1 && procs()[0] !== "", 10_000)).toBe(true);
    const [call] = readdirSync(dir).filter((e) => e.startsWith("call-"));
    const sleeper = Number(procs()[0]);
    admin.close();
    await acgd.stop("SIGTERM");
    expect(existsSync(join(dir, call!))).toBe(true);
    acgd = await startAcgd(acgdArgs);
    admin = await DaemonClient.connect(socket);
    expect(acgd.log()).toContain(`took over ${call} of default/stay`);
    process.kill(sleeper, "SIGKILL");
    expect(await new Promise((r) => p.on("close", r))).toBe(128 + 9);
    expect(await waitUntil(() => !existsSync(join(dir, call!)), 10_000)).toBe(true);
  }, 60_000);

  it("SIGUSR1 opens no inspector in acgd or acg: no port, and both go on", async () => {
    const listeners = (pid: number) =>
      spawnSync("ss", ["-Hltnp"], { encoding: "utf8" })
        .stdout.split("\n")
        .filter((l) => l.includes(`pid=${pid},`));
    acgd.proc.kill("SIGUSR1");
    const run = spawn(
      process.execPath,
      [join(REPO, "bin/acg.js"), "run", "--socket", socket, "--agent", "usr1", "--quiet", "--", "sleep", "3"],
      { stdio: "ignore" },
    );
    await sleep(1500);
    run.kill("SIGUSR1");
    await sleep(500);
    expect(listeners(acgd.proc.pid!)).toEqual([]);
    expect(listeners(run.pid!)).toEqual([]);
    expect(acgd.log()).not.toContain("Debugger listening");
    expect(await new Promise((r) => run.on("close", r))).toBe(0);
    expect(await admin.request({ op: "status" })).toMatchObject({ policy: { name: "runtime_test" } });
  }, 30_000);
});

describe("acgd's bounds on one connection (in process, stand-in tree)", () => {
  const sock = join(mkdtempSync(join(tmpdir(), "acg-limits-")), "limits.sock");
  let acgd: SocketAcgd;
  beforeAll(async () => {
    acgd = await acgdOnSocket(sock, TEST_POLICY, { limits: { idleMs: 600, requestMs: 200, unreadMs: 500, maxUnsentBytes: 64 * 1024 } });
  });
  afterAll(() => acgd.close());

  const closedAfter = (write: (c: ReturnType<typeof createConnection>) => void) =>
    new Promise<{ ms: number; said: string }>((resolve) => {
      const t0 = Date.now();
      const c = createConnection(sock);
      let said = "";
      c.setEncoding("utf8");
      c.on("data", (d: string) => (said += d));
      c.on("close", () => resolve({ ms: Date.now() - t0, said }));
      c.on("connect", () => write(c));
    });

  it("closes an idle connection, and one that never finishes its request line", async () => {
    const idle = await closedAfter(() => {});
    expect(idle.said).toMatch(/idle for 0\.6 s; connection closed/);
    const slow = await closedAfter((c) => c.write('{"op":"sta'));
    expect(slow.said).toMatch(/a request line was not completed within 0\.2 s; connection closed/);
  });

  it("stops reading from a peer that does not read its replies, and closes it; its unread replies stay bounded", async () => {
    const r = await new Promise<{ ms: number }>((resolve) => {
      const t0 = Date.now();
      const c = createConnection(sock);
      c.on("connect", () => {
        c.pause();
        c.write('{"op":"status"}\n'.repeat(20_000));
      });
      c.on("error", () => {});
      c.on("close", () => resolve({ ms: Date.now() - t0 }));
    });
    expect(r.ms).toBeLessThan(10_000);
    const client = await DaemonClient.connect(sock);
    expect(await client.request({ op: "status" })).toMatchObject({ policy: { name: "runtime_test" } });
    client.close();
  });

  it("refuses field names that are Object.prototype's, and escapes what a peer sent in log lines", () => {
    const code = (line: string) => {
      try {
        parseRequest(line);
        return "accepted";
      } catch (e) {
        return (e as ApiError).code;
      }
    };
    expect(code('{"op":"status","__proto__":{}}')).toBe("bad_request");
    expect(code('{"op":"end_call","call":"c","constructor":1}')).toBe("bad_request");
    expect(logSafe("start call-1 class=build\nacgd: forged")).toBe("start call-1 class=build\\x0aacgd: forged");
  });

  it("refuses a compiled directory whose objects are not its ir.json's (another policy, ABI or manifest version)", () => {
    const dir = mkdtempSync(join(tmpdir(), "acg-compiled-"));
    const ir = policyOf(TEST_POLICY);
    writeFileSync(join(dir, "ir.json"), JSON.stringify(ir));
    const manifest = (over: Record<string, unknown>) =>
      writeFileSync(
        join(dir, "manifest.json"),
        JSON.stringify({ manifestVersion: MANIFEST_VERSION, abiVersion: ABI_VERSION, policy: { sourceHash: ir.sourceHash }, ...over }),
      );
    manifest({});
    expect(loadPolicyFrom(dir).ok).toBe(true);
    manifest({ policy: { sourceHash: "0123456789abcdef" } });
    expect(loadPolicyFrom(dir)).toEqual({
      ok: false,
      message: expect.stringContaining(
        `its objects were compiled from another policy (source 0123456789ab) than its ir.json (${ir.sourceHash.slice(0, 12)})`,
      ),
    });
    manifest({ abiVersion: 99 });
    expect(loadPolicyFrom(dir)).toMatchObject({ ok: false, message: expect.stringContaining("map ABI version 99") });
    manifest({ manifestVersion: 7 });
    expect(loadPolicyFrom(dir)).toMatchObject({ ok: false, message: expect.stringContaining("manifest version 7") });
    rmSync(dir, { recursive: true, force: true });
  });

  it("forgets idle agents only when their profile is at max_agents", async () => {
    const fake2 = fakeRoot();
    const rt2 = assembleRuntime(policyOf(TEST_POLICY), standInTree(fake2));
    const agents = () => [...rt2.calls.agents.keys()].sort();
    for (const a of ["i1", "i2", "i3"]) await rt2.calls.endCall(rt2.calls.startCall({ agent: a, argv: ["true"] }).id);
    // Below max_agents (4): the idle ones stay, cgroups and all.
    await rt2.calls.endCall(rt2.calls.startCall({ agent: "i4", argv: ["true"] }).id);
    expect(agents()).toEqual(["default/i1", "default/i2", "default/i3", "default/i4"]);
    // At max_agents: idle agents make room.
    await rt2.calls.endCall(rt2.calls.startCall({ agent: "i5", argv: ["true"] }).id);
    expect(agents()).toEqual(["default/i5"]);
    rt2.close();
    rmSync(fake2, { recursive: true, force: true });
  });

  it("refuses calls over the agent's max_calls before making any cgroup", async () => {
    const rt2 = assembleRuntime(
      policyOf(TEST_POLICY.replace("max_agents = 4", "max_agents = 4\n    max_calls = 2")),
      standInTree(fakeRoot()),
    );
    const a = rt2.calls.startCall({ agent: "flood", argv: ["true"] });
    const b = rt2.calls.startCall({ agent: "flood", argv: ["true"] });
    expect(() => rt2.calls.startCall({ agent: "flood", argv: ["true"] })).toThrow(
      new CallError(
        "refused",
        "agent 'default/flood' already runs 2 tool call(s), the most the policy allows at once (max_calls = 2): end some first",
      ),
    );
    await rt2.calls.endCall(a.id);
    await rt2.calls.endCall(b.id);
    rt2.close();
    rmSync(rt2.calls.tree.root, { recursive: true, force: true });
  });
});
