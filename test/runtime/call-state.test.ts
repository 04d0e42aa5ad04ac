// The running calls' state file, and a new ToolCalls taking over the tree an
// earlier one left (what acgd does after a restart), on the host's real
// cgroup v2 tree with real processes.
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as afterThisTurn } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { CallStateStore, defaultStateFile } from "../../runtime/call-state.js";
import { kernelCgroupFs } from "../../runtime/cgroup-fs.js";
import { CgroupTree } from "../../runtime/cgroup-tree.js";
import { spawnInCgroup } from "../../runtime/spawn.js";
import { ToolCalls, type ToolCall } from "../../runtime/tool-calls.js";
import { hostCgroupRoot, killAndReap, policyOf, removeCgroupTree, TEST_POLICY } from "./helpers.js";
import { CGROUP2, requireFeature } from "../require-feature.js";
import { waitUntil } from "../wait.js";

const policy = policyOf(TEST_POLICY);
const tmp = mkdtempSync(join(tmpdir(), "acg-state-"));
const root = hostCgroupRoot("acg-state-test");
const MiB = 1024 * 1024;

afterAll(() => {
  removeCgroupTree(root);
  rmSync(tmp, { recursive: true, force: true });
});

const store = (file: string, logs: string[] = []) => new CallStateStore(file, root, (m) => logs.push(m));
/** The test's tree on the host's cgroup v2 hierarchy. */
const hostTree = () => {
  requireFeature(CGROUP2);
  return new CgroupTree(root, kernelCgroupFs);
};

describe("the state file", () => {
  it("is named after the cgroup tree it describes", () => {
    expect(defaultStateFile("/sys/fs/cgroup/agentcgroup")).toBe("/run/agentcgroup/calls-sys-fs-cgroup-agentcgroup.json");
  });

  it("round-trips the running calls, one journal line per changed call after each turn (no temporary file left)", async () => {
    const calls = new ToolCalls(policy, hostTree());
    const file = join(tmp, "rt.json");
    const s = store(file);
    calls.persistTo(s);
    const call = calls.startCall({ agent: "s1", argv: ["make"], hints: ["memory=48MiB", "class=build"] });
    await afterThisTurn();
    const rec = s.load();
    expect(rec.problems).toEqual([]);
    expect(rec.records.get(call.id)).toEqual({
      id: call.id,
      tenant: "default",
      agent: "s1",
      rule: "default",
      class: "build",
      intent: call.intent,
      limits: call.limits,
      startedAt: call.startedAt,
      events: call.events,
    });
    expect(
      readdirSync(tmp)
        .filter((f) => f.startsWith("rt.json."))
        .sort(),
    ).toEqual(["rt.json.journal"]);
    const journal = () => readFileSync(`${file}.journal`, "utf8").split("\n").filter(Boolean).length;
    const lines = journal();
    // Changed twice and another started and ended, all in one turn: nothing written yet, then one line each.
    calls.declareIntent(call, ["memory=32MiB"]);
    calls.declareIntent(call, ["memory=40MiB"]);
    const brief = calls.startCall({ agent: "s1", argv: ["make"] });
    await calls.endCall(brief.id);
    expect(journal()).toBe(lines);
    await afterThisTurn();
    expect(journal()).toBe(lines + 2);
    expect(s.load().records.get(call.id)?.limits.baselineBytes).toBe(40 * MiB);
    await calls.endCall(call.id);
    await afterThisTurn();
    expect(journal()).toBe(lines + 3);
    expect(s.load()).toEqual({ records: new Map(), problems: [] });
  });

  it("writes one short line per change whatever the number of calls, compacting into snapshots", async () => {
    const calls = new ToolCalls(policy, hostTree());
    const file = join(tmp, "many.json");
    calls.persistTo(store(file));
    const started = Array.from({ length: 200 }, (_, i) => calls.startCall({ agent: `m${i % 4}`, argv: ["make"] }));
    await afterThisTurn();
    // Compacted: the journal holds at most about twice the live calls, never one line per change since the start.
    const journalLines = readFileSync(`${file}.journal`, "utf8").split("\n").filter(Boolean).length;
    expect(journalLines).toBeLessThanOrEqual(2 * 200 + 2);
    expect(store(file).load().records.size).toBe(200);
    await Promise.all(started.map((c) => calls.endCall(c.id)));
    await afterThisTurn();
    expect(store(file).load().records.size).toBe(0);
  });

  it("uses the previous generation when the snapshot is damaged, and stops at a torn journal line", async () => {
    const calls = new ToolCalls(policy, hostTree());
    const file = join(tmp, "gen.json");
    calls.persistTo(store(file));
    const a = calls.startCall({ agent: "g1", argv: ["make"], hints: ["memory=48MiB"] });
    await afterThisTurn();
    // A new snapshot: `a` is in it, and the old one became the previous generation.
    calls.persistTo(store(file));
    const b = calls.startCall({ agent: "g1", argv: ["make"] });
    await afterThisTurn();
    expect([...store(file).load().records.keys()].sort()).toEqual([a.id, b.id].sort());
    // A torn last journal line (a crash mid-write): what came before it is kept.
    appendFileSync(`${file}.journal`, '0123456789abcdef {"put":');
    const torn = store(file).load();
    expect([...torn.records.keys()].sort()).toEqual([a.id, b.id].sort());
    expect(torn.problems).toEqual([
      expect.stringMatching(/line \d+ is damaged \(a write cut short\): changes from there on are not applied$/),
    ]);
    // A damaged snapshot (one flipped byte): the previous generation is used, never nothing.
    const text = readFileSync(file, "utf8");
    writeFileSync(file, text.replace("48", "49"));
    const prev = store(file).load();
    expect(prev.problems).toContainEqual(
      expect.stringMatching(
        /is damaged: the previous generation .*gen\.json\.prev \(generation \d+\) is used, with the journal of the damaged one/,
      ),
    );
    // `a` was only in the damaged snapshot (its cgroup keeps its limits); `b` comes back from the journal.
    expect([...prev.records.keys()]).toEqual([b.id]);
    return Promise.all([calls.endCall(a.id), calls.endCall(b.id)]);
  });

  it("reports a missing, corrupt, foreign or partly bad file without throwing", () => {
    expect(store(join(tmp, "none.json")).load()).toEqual({ records: new Map(), problems: [] });
    const bad = join(tmp, "bad.json");
    writeFileSync(bad, '{"version":1,"calls":[');
    expect(store(bad).load().problems).toEqual([
      `state file ${bad} has no valid version 2 header (damaged, truncated or of another version): it is ignored`,
    ]);
    const line = (v: unknown) => `${createHash("sha256").update(JSON.stringify(v)).digest("hex").slice(0, 16)} ${JSON.stringify(v)}\n`;
    writeFileSync(bad, line({ version: 2, generation: 1, scope: "/elsewhere" }));
    expect(store(bad).load().problems).toEqual([`state file ${bad} describes "/elsewhere", not ${root}: it is ignored`]);
    writeFileSync(bad, line({ version: 2, generation: 1, scope: root }) + line({ id: "call-1-1" }));
    expect(store(bad).load()).toEqual({
      records: new Map(),
      problems: [`state file ${bad}: record 1: "tenant" is not a string: that record is ignored`],
    });
  });

  it("logs a failed write once and keeps the calls running", async () => {
    const logs: string[] = [];
    const calls = new ToolCalls(policy, hostTree());
    const blocker = join(tmp, "not-a-dir");
    writeFileSync(blocker, "");
    calls.persistTo(store(join(blocker, "state.json"), logs));
    const a = calls.startCall({ agent: "s2", argv: ["make"] });
    const b = calls.startCall({ agent: "s2", argv: ["make"] });
    await afterThisTurn();
    expect(calls.calls.has(a.id) && calls.calls.has(b.id)).toBe(true);
    expect(logs).toEqual([
      `cannot write the state file ${join(blocker, "state.json")} (EEXIST): a restarted acgd could not take over the running calls`,
    ]);
    return Promise.all([calls.endCall(a.id), calls.endCall(b.id)]);
  });
});

describe("a new runtime taking over the tree", () => {
  const live: { pid: number; pidfd: number }[] = [];
  const start = (call: ToolCall, argv: string[]) => {
    const p = spawnInCgroup({ file: "/bin/sleep", argv, cgroupPath: call.path, stdio: [null, null, null] });
    live.push(p);
    return p;
  };

  it("recovers calls with processes (rule, class, intents, limits), removes empty ones, and ends them when their last process exits", async () => {
    const file = join(tmp, "takeover.json");
    const before = new ToolCalls(policy, hostTree());
    before.persistTo(store(file));
    const intent = before.startCall({ agent: "t1", argv: ["make"], hints: ["memory=48MiB", "class=build"] });
    const vcs = before.startCall({ agent: "t1", tool: "Read", argv: ["sleep", "40"] });
    const empty = before.startCall({ agent: "t2", argv: ["make"] });
    const pIntent = start(intent, ["sleep", "41"]);
    start(vcs, ["sleep", "40"]);
    // A call cgroup nobody recorded (written by hand: an acgd without a state file): matched on its command line.
    const unrecorded = join(root, "default", "t1", "call-1-99");
    mkdirSync(unrecorded);
    const pUnrecorded = spawnInCgroup({ file: "/bin/sleep", argv: ["sleep", "42"], cgroupPath: unrecorded, stdio: [null, null, null] });
    live.push(pUnrecorded);
    await afterThisTurn();
    // The earlier acgd dies here (nothing is ended); a new one reads what it left.
    const after = new ToolCalls(policy, hostTree());
    const loaded = store(file).load();
    const { calls, notes } = await after.recover(loaded.records);
    expect(calls.map((c) => c.id).sort()).toEqual([intent.id, vcs.id, "call-1-99"].sort());
    const got = after.calls.get(intent.id)!;
    expect({ rule: got.rule.name, cls: got.cls.name, limits: got.limits, intent: got.intent, startedAt: got.startedAt }).toEqual({
      rule: "default",
      cls: "build",
      limits: intent.limits,
      intent: intent.intent,
      startedAt: intent.startedAt,
    });
    expect(got.limits.baselineBytes).toBe(48 * MiB);
    expect(after.calls.get(vcs.id)!.rule.name).toBe("vcs");
    expect(got.events.at(-1)).toBe(`taken over by acgd ${process.pid} after a restart`);
    expect(after.calls.get("call-1-99")!.rule.name).toBe("default");
    expect(notes).toContain(
      `default/t1/call-1-99: no state record: taken over with rule 'default' (matched on "sleep 42"), keeping the limits its cgroup has`,
    );
    expect(notes).toContain(`default/t2/${empty.id}: no processes left: removed (it ended while no acgd watched it)`);
    expect(existsSync(empty.path)).toBe(false);
    expect([...after.agents.keys()].sort()).toEqual([
      "default/g1",
      "default/m0",
      "default/m1",
      "default/m2",
      "default/m3",
      "default/s1",
      "default/s2",
      "default/t1",
      "default/t2",
    ]);
    // Ended when the last process exits.
    const ended: string[] = [];
    for (const c of calls) after.endWhenEmpty(c.id, (r) => ended.push(r.id));
    await killAndReap(pIntent);
    expect(await waitUntil(() => ended.includes(intent.id), 5000)).toBe(true);
    expect(ended).toEqual([intent.id]);
    expect(existsSync(intent.path)).toBe(false);
    for (const p of live.splice(0)) if (p !== pIntent) await killAndReap(p);
    await waitUntil(() => ended.length === 3, 5000);
    expect(ended.sort()).toEqual([intent.id, vcs.id, "call-1-99"].sort());
  });
});
