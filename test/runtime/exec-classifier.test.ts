// Placement of unwrapped processes on the host's real cgroup v2 tree: real
// processes in an agent's own leaf, exec events built as the classifier
// writes them (struct acg_exec_event), real moves through cgroup.procs, and
// the call ending when its process exits (cgroup.events). The BPF side runs
// in the guest (test/kernel/runtime-guest.ts).
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encodeStruct } from "../../compiler/abi-encode.js";
import { execEventStruct } from "../../compiler/abi.js";
import { kernelCgroupFs } from "../../runtime/cgroup-fs.js";
import { AGENT_LEAF, cgroup2Mount, CgroupTree } from "../../runtime/cgroup-tree.js";
import { ACG_NONE } from "../../compiler/decide.js";
import { decodeExecEvent, ExecPlacement, isAcgClient } from "../../runtime/exec-classifier.js";
import { spawnInCgroup } from "../../runtime/spawn.js";
import { cgroupIdOf } from "../../runtime/policy-objects.js";
import { ToolCalls } from "../../runtime/tool-calls.js";
import { cgroupDirOf, killAndReap, policyOf, removeCgroupTree } from "./helpers.js";
import { CGROUP2, requireFeature } from "../require-feature.js";
import { waitUntil } from "../wait.js";

const POLICY = policyOf(`version 1
policy exec_test {
  host { memory = 1GiB }
  class interactive { priority = high; cpu.weight = 400 }
  class background { priority = low; cpu.weight = 25 }
  tool sleeper { match argv ~ /^sleep 3[0-9]$/; class interactive; memory.baseline = 8MiB; memory.limit = 16MiB }
  tool default { class background; memory.baseline = 16MiB; memory.limit = 32MiB }
}
`);
const logs: string[] = [];
let host: { tree: CgroupTree; calls: ToolCalls; placement: ExecPlacement } | null = null;

/** The tree on the host's cgroup v2 hierarchy with the placement wired in, made by the first test that needs it. */
function hostTree() {
  requireFeature(CGROUP2);
  if (host) return host;
  const tree = new CgroupTree(join(cgroup2Mount()!, `acg-exec-test-${process.pid}`), kernelCgroupFs);
  const calls = new ToolCalls(POLICY, tree);
  const placement = new ExecPlacement(calls, (m) => logs.push(m));
  calls.addEnforcer({
    describe: () => ({}),
    callStarted: () => {},
    callEnded: () => {},
    agentAdded: (a) => placement.agentAdded(a),
    policyChanged: () => {},
    close: () => {},
  });
  return (host = { tree, calls, placement });
}

afterAll(() => {
  if (host) removeCgroupTree(host.tree.root);
});

function eventFor(pid: number, cgroupDir: string, filename: string, ruleId = ACG_NONE) {
  return decodeExecEvent(
    encodeStruct(execEventStruct, {
      pid,
      tgid: pid,
      cgroup_id: cgroupIdOf(cgroupDir),
      rule_id: ruleId,
      generation: 1,
      comm: "sleep",
      filename,
    }),
  );
}

describe("exec events of processes started without acg run", () => {
  it("decodes the classifier's record, and refuses a short one", () => {
    const rec = encodeStruct(execEventStruct, {
      pid: 7,
      tgid: 7,
      cgroup_id: 1234n,
      rule_id: 2,
      generation: 1,
      comm: "git",
      filename: "/usr/bin/git",
    });
    expect(decodeExecEvent(rec)).toEqual({
      pid: 7,
      tgid: 7,
      cgroupId: 1234n,
      ruleId: 2,
      generation: 1,
      comm: "git",
      filename: "/usr/bin/git",
    });
    expect(() => decodeExecEvent(rec.subarray(0, 20))).toThrow(/exec event of 20 bytes, struct acg_exec_event has \d+/);
  });

  it("recognizes acg itself, which starts its own call", () => {
    expect(isAcgClient(["/usr/bin/node", "/opt/agentcgroup/bin/acg.js", "run", "--", "sleep", "30"])).toBe(true);
    expect(isAcgClient(["/usr/local/bin/acg", "run", "--", "make"])).toBe(true);
    expect(isAcgClient(["sh", "-c", "acg run -- make"])).toBe(false);
  });

  it("moves a matching exec from the agent's own cgroup into a call of its own, which ends when the process exits", async () => {
    const { calls, placement } = hostTree();
    const agent = calls.ensureAgent(undefined, "u1");
    const leaf = join(agent.path, AGENT_LEAF);
    const proc = spawnInCgroup({ file: "/bin/sleep", argv: ["sleep", "31"], cgroupPath: leaf, stdio: [null, null, null] });
    const call = await placement.handle(eventFor(proc.pid, leaf, "/bin/sleep"));
    expect(call).not.toBeNull();
    expect(call!.rule.name).toBe("sleeper");
    expect(call!.cls.name).toBe("interactive");
    expect(call!.limits).toMatchObject({ baselineBytes: 8 * 1024 ** 2, limitBytes: 16 * 1024 ** 2, cpuWeight: 400 });
    expect(cgroupDirOf(proc.pid)).toBe(call!.path);
    expect(call!.events.at(-1)).toBe(
      `exec of /bin/sleep (pid ${proc.pid}) in the agent's own cgroup: moved into this call ` +
        "(undecided in the kernel; rule 'sleeper' on its command line)",
    );
    // Seen again (a second classifier during an object swap): it is in a call now, and stays there.
    expect(await placement.handle(eventFor(proc.pid, leaf, "/bin/sleep"))).toBeNull();
    await killAndReap(proc);
    expect(await waitUntil(() => !calls.calls.has(call!.id), 5000)).toBe(true);
    expect(existsSync(call!.path)).toBe(false);
    expect(logs.some((l) => l.startsWith(`call ${call!.id} (unwrapped pid ${proc.pid}) ended: `))).toBe(true);
  });

  it("moves a shell whose -c script runs a matching command (matched by the command it runs)", async () => {
    const { tree, calls, placement } = hostTree();
    const agent = calls.ensureAgent(undefined, "u4");
    const leaf = join(agent.path, AGENT_LEAF);
    // No exec optimisation possible: the shell stays the process the event is about.
    const proc = spawnInCgroup({
      file: "/bin/sh",
      argv: ["sh", "-c", "cd / && sleep 35; true"],
      cgroupPath: leaf,
      stdio: [null, null, null],
    });
    const call = await placement.handle(eventFor(proc.pid, leaf, "/bin/sh"));
    try {
      expect(call?.rule.name).toBe("sleeper");
      expect(cgroupDirOf(proc.pid)).toBe(call!.path);
    } finally {
      // The shell may have forked its sleep before it was moved (that child stays in the agent's leaf): both go.
      for (const cg of [leaf, ...(call ? [call.path] : [])]) writeFileSync(join(cg, "cgroup.kill"), "1");
      await killAndReap(proc);
      if (call) expect(await waitUntil(() => !calls.calls.has(call.id), 5000)).toBe(true);
      expect(await waitUntil(() => !tree.populated(agent.path), 5000)).toBe(true);
      expect(calls.removeIfIdle(agent)).toBe(true);
    }
  });

  it("knows the native launcher too", () => {
    expect(isAcgClient(["/opt/agentcgroup/native/build/acg-run", "--", "make"])).toBe(true);
  });

  it("leaves an exec that matches only the default rule, one inside a call, and one outside the tree where they are", async () => {
    const { calls, placement } = hostTree();
    const agent = calls.ensureAgent(undefined, "u2");
    const leaf = join(agent.path, AGENT_LEAF);
    const plain = spawnInCgroup({ file: "/bin/sleep", argv: ["sleep", "300"], cgroupPath: leaf, stdio: [null, null, null] });
    const inCall = calls.startCall({ agent: "u2", argv: ["sleep", "32"] });
    const called = spawnInCgroup({ file: "/bin/sleep", argv: ["sleep", "32"], cgroupPath: inCall.path, stdio: [null, null, null] });
    const outside = spawnInCgroup({ file: "/bin/sleep", argv: ["sleep", "33"], stdio: [null, null, null] });
    try {
      const before = calls.calls.size;
      expect(await placement.handle(eventFor(plain.pid, leaf, "/bin/sleep"))).toBeNull();
      expect(await placement.handle(eventFor(called.pid, inCall.path, "/bin/sleep"))).toBeNull();
      expect(await placement.handle(eventFor(outside.pid, cgroupDirOf(outside.pid), "/bin/sleep"))).toBeNull();
      expect(calls.calls.size).toBe(before);
      expect(cgroupDirOf(plain.pid)).toBe(leaf);
      expect(cgroupDirOf(called.pid)).toBe(inCall.path);
    } finally {
      for (const p of [plain, called, outside]) await killAndReap(p);
      await calls.endCall(inCall.id);
    }
  });

  it("does not move a process that left the agent's own cgroup before its event was read", async () => {
    const { tree, calls, placement } = hostTree();
    const agent = calls.ensureAgent(undefined, "u3");
    const leaf = join(agent.path, AGENT_LEAF);
    const proc = spawnInCgroup({ file: "/bin/sleep", argv: ["sleep", "34"], cgroupPath: leaf, stdio: [null, null, null] });
    try {
      const other = calls.startCall({ agent: "u3", argv: ["make"] });
      tree.movePid(other.path, proc.pid);
      expect(await placement.handle(eventFor(proc.pid, leaf, "/bin/sleep"))).toBeNull();
      expect(cgroupDirOf(proc.pid)).toBe(other.path);
    } finally {
      await killAndReap(proc);
    }
  });
});
