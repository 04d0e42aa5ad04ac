// The pressure ladder and the kernel's OOM backstop on a real cgroup v2 tree
// (the guest kernel), under a shared budget: acgd's root lives below a parent
// whose memory.max is the budget, as on a host where agents share a slice.
//
//   test/kernel/runtime.sh   (host: builds, then one guest boot runs this after runtime-guest)
//
// Proven here: acgd finds the budget (the ancestor's memory.max); a domain at
// its watermark withdraws and freezes the low-ranked call and not the
// high-ranked agent's; at the kill mark the lowest-ranked, youngest call dies
// first and the high-ranked agent's calls and the agent's own process live;
// without a ladder, the kernel's OOM killer (steered by oom_score_adj and
// memory.oom.group) takes the low-ranked call, not the larger high-ranked one;
// a ladder's kill_agent step kills a low-ranked agent whole, its own process
// too, when its own growth is what fills the budget; under the scheduler's
// hold the domain's keeper (its oldest low-ranked call) still grows past the
// freeze mark, up to halfway to the kill mark, while a younger call is held,
// and up to the kill mark once the freeze stands still; and a low-ranked
// agent's own processes are frozen there but not held.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { removeAgentTree } from "./cgroup-cleanup.js";
import { assert, assertEq, results, summary, test } from "./harness.js";
import { spawnInCgroup, waitPidfd } from "../../runtime/spawn.js";
import { LADDER_POLICY } from "./runtime-policies.js";
import { DaemonClient } from "../../runtime/client.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const ACG = join(REPO, "bin/acg.js");
const ACGD = join(REPO, "bin/acgd.js");
const ALLOC = join(REPO, ".cache/runtime-guest/acg-alloc");
const BUDGET_CG = "/sys/fs/cgroup/acg-ladder-budget";
const ROOT = join(BUDGET_CG, "agentcgroup");
const MiB = 1024 * 1024;
const BUDGET = 96 * MiB;

/** The same agents without a ladder: only the kernel's OOM killer acts, steered by rank. */
const BACKSTOP_POLICY = LADDER_POLICY.replace(/ladder host \{[^}]*\}/, "").replace("policy ladder_guest", "policy backstop_guest");
/** A ladder that kills calls and then, past its last mark, a whole agent: nothing freezes, so an agent's own growth goes on. */
const KILL_AGENT_POLICY = LADDER_POLICY.replace(
  /ladder host \{[^}]*\}/,
  "ladder host { ranks = [low, normal]; kill = 80%; kill_agent = 88%; release = 30% }",
).replace("policy ladder_guest", "policy kill_agent_guest");

interface Call {
  proc: ChildProcess;
  out: string;
  err: string;
  done: Promise<number | null>;
}

function acgRun(socket: string, args: string[]): Call {
  const proc = spawn(process.execPath, [ACG, "run", "--socket", socket, "--json", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const c: Call = { proc, out: "", err: "", done: Promise.resolve(null) };
  proc.stdout.on("data", (d) => (c.out += d));
  proc.stderr.on("data", (d) => (c.err += d));
  c.done = new Promise((r) => proc.on("close", (code) => r(code)));
  return c;
}

function reportOf(c: Call): { killedBy: string | null; oomKilled: boolean; events: string[]; exit: { status: number } } {
  const line = c.err.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`no JSON report; stderr: ${c.err}`);
  }
}

const knob = (cg: string, f: string) => readFileSync(join(cg, f), "utf8").trim();
const usage = () => Number(knob(ROOT, "memory.current"));
/** The call cgroups of an agent now. */
const callsOf = (agent: string) =>
  existsSync(join(ROOT, "default", agent))
    ? readdirSync(join(ROOT, "default", agent))
        .filter((e) => e.startsWith("call-"))
        .map((e) => join(ROOT, "default", agent, e))
    : [];
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(20);
  return cond();
}

/** acgd on policy text (no compiled objects: no scheduler), or on a compiled directory `{ dir }` (its scheduler attached). */
function startDaemon(
  policy: string | { dir: string },
  tag: string,
): { proc: ChildProcess; socket: string; log: () => string; ready: Promise<void> } {
  const tmp = mkdtempSync(`/tmp/acg-${tag}-`);
  const socket = join(tmp, "acgd.sock");
  const where = typeof policy === "string" ? join(tmp, "p.acg") : policy.dir;
  if (typeof policy === "string") writeFileSync(where, policy);
  let log = "";
  const proc = spawn(
    process.execPath,
    [ACGD, "--policy", where, "--socket", socket, "--cgroup-root", ROOT, "--state-file", join(tmp, "state.json")],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  proc.stderr.on("data", (d) => (log += d));
  const ready = (async () => {
    // acgd loads the policy front end at start: tens of seconds under TCG.
    const deadline = Date.now() + 240_000;
    // With a compiled directory, acgd serves before its BPF objects attach: the ladder's kernel hold needs them.
    const started = typeof policy === "string" ? "listening on" : "BPF objects: loading ended";
    while (!log.includes(started)) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`acgd did not start (exit ${proc.exitCode}):\n${log}`);
      await sleep(50);
    }
  })();
  return { proc, socket, log: () => log, ready };
}

async function stopDaemon(d: { proc: ChildProcess }) {
  if (d.proc.exitCode === null && d.proc.signalCode === null) {
    d.proc.kill("SIGTERM");
    await new Promise((r) => d.proc.on("close", r));
  }
}

/** Writes a marker line into the kernel log; returns it for oomVictimsSince. */
function markKernelLog(what: string): string {
  const mark = `acg-ladder-guest: ${what} ${Date.now()}`;
  writeFileSync("/dev/kmsg", mark);
  return mark;
}

/** The memory cgroups of the kernel OOM killer's victims after a marker, in order (its "oom-kill:" lines). */
function oomVictimsSince(mark: string): string[] {
  const log = spawnSync("dmesg", [], { encoding: "utf8" }).stdout ?? "";
  const after = log.slice(log.lastIndexOf(mark));
  return [...after.matchAll(/oom-kill:.*?task_memcg=([^,\s]+)/g)].map((m) => m[1]!);
}

/** Removes acgd's tree below the budget cgroup (calls are gone by then). */
const removeTree = () => removeAgentTree(ROOT);

// The shared budget: a parent cgroup with memory.max, controllers delegated below it.
mkdirSync(BUDGET_CG, { recursive: true });
writeFileSync(join(BUDGET_CG, "memory.max"), String(BUDGET));
writeFileSync(join(BUDGET_CG, "memory.swap.max"), "0");
writeFileSync(join(BUDGET_CG, "cgroup.subtree_control"), "+memory +cpu +pids");

const ladderd = startDaemon(LADDER_POLICY, "ladder");
await ladderd.ready;

await test("acgd takes the host budget from the nearest limited ancestor and says so", () => {
  const log = ladderd.log();
  assert(log.includes(`is limited to 96MiB (memory.max of ${BUDGET_CG})`), `budget warning expected in the log:\n${log}`);
  assert(log.includes("ladder (host): budget 96MiB"), `ladder budget expected in the log:\n${log}`);
  // The kernel keeps memory.high in whole pages.
  const page = 4096;
  assertEq(knob(ROOT, "memory.high"), String(Math.floor((0.5 * BUDGET) / page) * page), "the tripwire at the first watermark");
  return "budget 96MiB; tripwire at 50%";
});

let boss: Call | undefined;
let older: Call | undefined;
let younger: Call | undefined;
let ownPid = 0;
let ownPidfd = -1;

await test("at the freeze mark the low-ranked agents' calls are held, the high-ranked agent's is not", async () => {
  // The high-ranked agent: 30 MiB, held.
  boss = acgRun(ladderd.socket, ["--agent", "boss", "--hint", "rank=high", "--", ALLOC, "30", "300000"]);
  assert(await until(() => boss!.out.includes("allocated"), 120_000), `boss did not allocate: ${boss.err}`);
  // An agent's own process (not a tool call): 6 MiB in its agent leaf. The ladder never kills it.
  older = acgRun(ladderd.socket, ["--agent", "w1", "--", ALLOC, "12", "300000"]);
  assert(await until(() => older!.out.includes("allocated"), 120_000), `w1 did not allocate: ${older.err}`);
  const leaf = join(ROOT, "default", "w1", "agent");
  const own = spawnInCgroup({ file: ALLOC, argv: ["acg-alloc", "6", "300000"], cgroupPath: leaf, stdio: [null, null, 2] });
  ownPid = own.pid;
  ownPidfd = own.pidfd;
  // Above 50%: bursts withdrawn. A new low-ranked call now gets its baseline only, and at 60% is frozen.
  younger = acgRun(ladderd.socket, ["--agent", "w2", "--", ALLOC, "40", "60000"]);
  // acg is a Node process: its call exists only after its start-up (seconds under TCG).
  assert(await until(() => callsOf("w2").length > 0, 120_000), `w2's call did not start: ${younger.err}`);
  await sleep(3000);
  const [cg] = callsOf("w2");
  assert(cg !== undefined, "w2's call cgroup");
  const high = Number(knob(cg, "memory.high"));
  assert(!younger.out.includes("allocated"), `w2's 40 MiB allocation should be held; usage ${usage() / MiB} MiB`);
  assert(high <= 8 * MiB, `w2's memory.high ${high / MiB} MiB should be at most its baseline (withdrawn) or floor (frozen)`);
  const [bossCg] = callsOf("boss");
  assertEq(knob(bossCg!, "memory.high"), String(68 * MiB), "the boss's memory.high (baseline + burst, untouched)");
  return `domain ${(usage() / MiB).toFixed(0)} MiB of 96; w2 held at memory.high ${(high / MiB).toFixed(1)} MiB; boss untouched`;
});

await test("at the kill mark the lowest-ranked, youngest call dies first; the boss and the agent's own process live", async () => {
  assert(younger && older && boss, "the calls of the previous test are running");
  // The boss asks for 30 MiB more: the domain crosses 80%.
  const boss2 = acgRun(ladderd.socket, ["--agent", "boss", "--hint", "rank=high", "--", ALLOC, "30", "3000"]);
  const code = await younger.done;
  const rep = reportOf(younger);
  assertEq(code, 137, `w2's exit status (stderr: ${younger.err})`);
  assert(rep.killedBy?.includes("lowest-ranked, youngest call"), `w2 killed by the ladder: ${rep.killedBy}`);
  assert(younger.err.includes("retry when the host domain has room"), `the agent is told when to retry: ${younger.err}`);
  const bossCode = await boss2.done;
  assertEq(bossCode, 0, `the boss's second call (stderr: ${boss2.err})`);
  assert(boss.proc.exitCode === null, "the boss's first call still runs");
  assert(existsSync(`/proc/${ownPid}`), "the agent's own process lives");
  // Frozen, not killed: past the freeze mark with a higher-ranked agent in the domain, w1's own
  // processes are held at their usage (its agent leaf's memory.high), the boss's own leaf is not.
  const ownHigh = knob(join(ROOT, "default", "w1", "agent"), "memory.high");
  const ownUsage = Number(knob(join(ROOT, "default", "w1", "agent"), "memory.current"));
  assert(
    ownHigh !== "max" && Number(ownHigh) >= ownUsage && Number(ownHigh) <= Math.max(ownUsage + MiB, 8 * MiB),
    `w1's own leaf frozen at its usage ${(ownUsage / MiB).toFixed(1)} MiB (or the 8 MiB floor): memory.high ${ownHigh}`,
  );
  assertEq(knob(join(ROOT, "default", "boss", "agent"), "memory.high"), "max", "the boss's own leaf");
  const olderKilled = older.proc.exitCode !== null;
  return (
    `w2 killed (${rep.killedBy?.slice(0, 80)}…); w1 ${olderKilled ? "killed too" : "alive"}; ` +
    `boss and w1's own process alive, w1's own frozen at ${(Number(ownHigh) / MiB).toFixed(1)} MiB`
  );
});

await test("acg events shows what the ladder did: the steps, the caps and the kill", () => {
  const r = spawnSync(process.execPath, [ACG, "events", "--json", "--no-follow", "--socket", ladderd.socket], {
    encoding: "utf8",
    timeout: 120_000,
  });
  assertEq(r.status, 0, `acg events (${r.stderr})`);
  const events = r.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { kind: string; message?: string; call?: string });
  const kinds = new Set(events.map((e) => e.kind));
  for (const k of ["burst_withdrawn", "frozen", "killed", "pressure"])
    assert(kinds.has(k), `an event of kind ${k}: ${[...kinds].join(", ")}`);
  assert(
    events.some((e) => e.kind === "frozen" && e.message?.includes("agent default/w1's own processes frozen")),
    `w1's own processes frozen is an event: ${events
      .filter((e) => e.kind === "frozen")
      .map((e) => e.message)
      .join(" | ")}`,
  );
  assert(
    events.some((e) => e.kind === "killed" && e.message?.startsWith("ladder (host): killed")),
    "the ladder's kill is an event",
  );
  return `${events.length} events: ${[...kinds].join(", ")}`;
});

for (const c of [boss, older]) if (c && c.proc.exitCode === null) c.proc.kill("SIGTERM");
await Promise.all([boss?.done, older?.done]);
if (ownPidfd >= 0) {
  try {
    process.kill(ownPid, "SIGKILL");
  } catch {
    // already gone
  }
  await waitPidfd(ownPidfd);
}
await stopDaemon(ladderd);
if (results().some((o) => !o.ok)) console.log(`\nladder acgd's log:\n${ladderd.log()}`);
removeTree();

const backstopd = startDaemon(BACKSTOP_POLICY, "backstop");
await backstopd.ready;

await test("without a ladder, the kernel's OOM killer takes the low-ranked call, not the larger high-ranked one", async () => {
  // Budget 64 MiB: boss 30 MiB (rank high), worker 20 MiB (rank normal), then the boss allocates 20 MiB more.
  writeFileSync(join(BUDGET_CG, "memory.max"), String(64 * MiB));
  const mark = markKernelLog("backstop test");
  // Holds long enough to outlast the other calls' start-up (Node under TCG); the test ends the boss's at the end.
  const b = acgRun(backstopd.socket, ["--agent", "boss", "--hint", "rank=high", "--", ALLOC, "30", "300000"]);
  assert(await until(() => b.out.includes("allocated"), 120_000), `boss did not allocate: ${b.err}`);
  const w = acgRun(backstopd.socket, ["--agent", "worker", "--", ALLOC, "20", "300000"]);
  assert(await until(() => w.out.includes("allocated"), 120_000), `worker did not allocate: ${w.err}`);
  const b2 = acgRun(backstopd.socket, ["--agent", "boss", "--hint", "rank=high", "--", ALLOC, "20", "500"]);
  const [wc, b2c] = await Promise.all([w.done, b2.done]);
  const wrep = reportOf(w);
  assertEq(wc, 137, `the worker's call was OOM-killed (stderr: ${w.err})`);
  assert(wrep.oomKilled, "the worker's report says OOM");
  // The kernel's choices, in order. It can choose twice: the victim's memory comes back
  // asynchronously, and an allocation that fails again before it has (23 ms later, seen once in CI)
  // takes the next in the kernel's order. A known kernel race, not a choice oom_score_adj steers:
  // the ladder acts before the kernel for that reason.
  const victims = oomVictimsSince(mark);
  assert(
    victims.length > 0 && victims[0]!.includes("/default/worker/"),
    `the kernel's first OOM victim is the worker's call: ${victims.join(" | ")}`,
  );
  if (victims.length === 1) assertEq(b2c, 0, `with one OOM episode the boss's new call completes (stderr: ${b2.err})`);
  const bossLives = b.proc.exitCode === null;
  assert(bossLives || victims.length > 1, `the boss's call died only in a second OOM episode: ${b.err}`);
  b.proc.kill("SIGTERM");
  await b.done;
  return (
    "worker (20 MiB, oom_score_adj 550) chosen first; boss (30 MiB, adj 100) " +
    (bossLives ? "lives" : `taken by a second OOM before the worker's memory was back (${victims.length} episodes)`)
  );
});

await stopDaemon(backstopd);
if (results().some((o) => !o.ok)) console.log(`\nbackstop acgd's log:\n${backstopd.log()}`);
removeTree();

writeFileSync(join(BUDGET_CG, "memory.max"), String(BUDGET)); // the backstop test lowered it
const killAgentd = startDaemon(KILL_AGENT_POLICY, "kill-agent");
await killAgentd.ready;

await test("kill_agent: an agent's own growth past the last mark kills that agent whole, never the boss", async () => {
  // Boss 30 MiB (rank high); w1 a 4 MiB call and 40 MiB in its own process (no call to kill there): 74 of 96 MiB.
  const b = acgRun(killAgentd.socket, ["--agent", "boss", "--hint", "rank=high", "--", ALLOC, "30", "300000"]);
  assert(await until(() => b.out.includes("allocated"), 120_000), `boss did not allocate: ${b.err}`);
  const w = acgRun(killAgentd.socket, ["--agent", "w1", "--", ALLOC, "4", "300000"]);
  assert(await until(() => w.out.includes("allocated"), 120_000), `w1 did not allocate: ${w.err}`);
  const w1 = join(ROOT, "default", "w1");
  const own = spawnInCgroup({ file: ALLOC, argv: ["acg-alloc", "40", "300000"], cgroupPath: join(w1, "agent"), stdio: [null, null, 2] });
  assert(await until(() => Number(knob(join(w1, "agent"), "memory.current")) >= 38 * MiB, 60_000), "w1's own process allocated");
  // The boss asks for 20 MiB more: 80% kills w1's call, which frees too little; 88% kills w1 whole.
  const b2 = acgRun(killAgentd.socket, ["--agent", "boss", "--hint", "rank=high", "--", ALLOC, "20", "3000"]);
  const ownGone = waitPidfd(own.pidfd);
  const [b2c, wc] = await Promise.all([b2.done, w.done]);
  await ownGone;
  assertEq(b2c, 0, `the boss's second call completes (stderr: ${b2.err})`);
  assertEq(wc, 137, `w1's call was killed (stderr: ${w.err})`);
  assert(b.proc.exitCode === null, `the boss's first call lives (stderr: ${b.err})`);
  assert(await until(() => !/^populated 1$/m.test(knob(w1, "cgroup.events")), 10_000), "nothing of w1 is left");
  const ev = spawnSync(process.execPath, [ACG, "events", "--json", "--no-follow", "--socket", killAgentd.socket], {
    encoding: "utf8",
    timeout: 120_000,
  });
  const killedWhole = ev.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { kind: string; agent?: string; call?: string; message?: string })
    .find((e) => e.kind === "killed" && e.agent === "default/w1" && e.call === undefined);
  assert(killedWhole?.message?.includes("kill_agent at 88%"), `a killed event for agent w1 as a whole: ${ev.stdout.slice(-800)}`);
  assert(killAgentd.log().includes("killed agent default/w1 whole"), "acgd logs the agent's kill");
  b.proc.kill("SIGTERM");
  await b.done;
  return `w1 killed whole (${killedWhole?.message?.slice(0, 90)}…); boss's calls alive and done`;
});

await stopDaemon(killAgentd);
if (results().some((o) => !o.ok)) console.log(`\nkill_agent acgd's log:\n${killAgentd.log()}`);
removeTree();

// The same ladder compiled (test/kernel/runtime-prepare.ts): acgd attaches the scheduler, whose memory
// hold covers the freeze mark, so the ladder's tripwires change (docs/runtime.md, "The ladder").
const heldd = startDaemon({ dir: join(REPO, ".cache/runtime-guest/compiled/ladder") }, "held");
await heldd.ready;
await test("under the scheduler's hold: the domain's tripwire at the kill mark, a low-ranked agent's own at its headroom, none on the boss", async () => {
  const client = await DaemonClient.connect(heldd.socket);
  const st = (await client.request({ op: "status" })) as { enforcement?: Record<string, string> };
  client.close();
  const hold = st.enforcement?.["kernelHold"] ?? "";
  assert(/^active/.test(hold), `the kernel hold is active: ${hold}`);
  const b = acgRun(heldd.socket, ["--agent", "boss", "--hint", "rank=high", "--", ALLOC, "10", "300000"]);
  const w = acgRun(heldd.socket, ["--agent", "worker", "--", ALLOC, "10", "300000"]);
  assert(await until(() => b.out.includes("allocated") && w.out.includes("allocated"), 120_000), `allocations: ${b.err} ${w.err}`);
  const workerCg = join(ROOT, "default", "worker");
  const bossCg = join(ROOT, "default", "boss");
  // Re-armed at each look at the domain (at least once a second): at the worker's usage plus the headroom to the withdraw mark.
  const expected = () => Number(knob(workerCg, "memory.current")) + 0.5 * BUDGET - usage();
  const near = () => {
    const t = knob(workerCg, "memory.high");
    return t !== "max" && Math.abs(Number(t) - expected()) <= 2 * MiB;
  };
  const settled = await until(near, 15_000);
  const page = 4096;
  assertEq(knob(ROOT, "memory.high"), String(Math.floor((0.8 * BUDGET) / page) * page), "the domain's tripwire at the kill mark");
  const tripwire = Number(knob(workerCg, "memory.high"));
  const own = Number(knob(workerCg, "memory.current"));
  assert(
    settled,
    `the worker's tripwire ${(tripwire / MiB).toFixed(1)} MiB: its usage ${(own / MiB).toFixed(1)} MiB ` +
      `+ the headroom to the withdraw mark ${((0.5 * BUDGET - usage()) / MiB).toFixed(1)} MiB (±2 MiB)`,
  );
  assertEq(knob(bossCg, "memory.high"), "max", "the boss agent's memory.high");
  for (const c of [b, w]) c.proc.kill("SIGTERM");
  await Promise.all([b.done, w.done]);
  return `domain tripwire at 80% of 96 MiB; worker ${(tripwire / MiB).toFixed(0)} MiB (usage ${(own / MiB).toFixed(1)} MiB); boss max`;
});
await test("under the scheduler's hold: the keeper (the oldest bursting low-ranked call) grows past the freeze mark up to halfway to the kill mark, a younger one is held; when the freeze stands still, the keeper's ceiling goes to the kill mark; nobody is killed", async () => {
  // The keeper's call starts first and bursts (10 MiB, over its 4 MiB baseline); it asks for 2 MiB more,
  // then 3 MiB more, each only when told.
  const dir = mkdtempSync("/tmp/acg-keeper-");
  const [go1, go2] = [join(dir, "go1"), join(dir, "go2")];
  const waitFor = (f: string) => `while [ ! -e ${f} ]; do sleep 0.05; done`;
  // Whatever fails, the calls end, or the tree could not be removed after.
  const spawned: Call[] = [];
  const acg = (args: string[]) => {
    const c = acgRun(heldd.socket, args);
    spawned.push(c);
    return c;
  };
  try {
    const keeper = acg([
      "--agent",
      "w1",
      "--",
      "sh",
      "-c",
      `${ALLOC} 10 300000 & ${waitFor(go1)}; ${ALLOC} 2 300000 & ${waitFor(go2)}; exec ${ALLOC} 3 300000`,
    ]);
    assert(await until(() => keeper.out.includes("allocated 10 MiB"), 120_000), `w1's call did not allocate: ${keeper.err}`);
    // The boss takes the domain past the freeze mark (10 + 48 of 96 MiB, and the processes' own: over 60%).
    const boss = acg(["--agent", "boss", "--hint", "rank=high", "--", ALLOC, "48", "300000"]);
    assert(await until(() => boss.out.includes("allocated"), 120_000), `boss did not allocate: ${boss.err}`);
    assert(usage() >= 0.6 * BUDGET, `the domain is past the freeze mark: ${(usage() / MiB).toFixed(1)} of 96 MiB`);
    // 2 MiB more stays under halfway from the freeze mark (60%) to the kill mark (80%): the keeper's burst goes on, not held.
    const t0 = Date.now();
    writeFileSync(go1, "");
    assert(await until(() => keeper.out.includes("allocated 2 MiB"), 60_000), `the keeper's 2 MiB did not go through: ${keeper.err}`);
    const took = Date.now() - t0;
    const grown = usage();
    // A younger low-ranked call is held (it creeps up to the freeze floor, 8 MiB, and no further).
    const younger = acg(["--agent", "w2", "--", ALLOC, "10", "300000"]);
    assert(await until(() => callsOf("w2").length > 0, 120_000), `w2's call did not start: ${younger.err}`);
    await sleep(3000);
    assert(!younger.out.includes("allocated"), `w2's 10 MiB should be held at ${(usage() / MiB).toFixed(1)} of 96 MiB`);
    // 3 MiB more does not fit under halfway either once the held call has crept up to its floor (8 MiB): the
    // keeper's own memory.high stops it, and it waits with the others. Nothing moves then, with the keeper
    // pressing its ceiling: after a second (STALL_MS) acgd lifts it to the kill mark, and the 3 MiB go through.
    const [keeperCg] = callsOf("w1");
    const [youngerCg] = callsOf("w2");
    const roomUnder = (cg: string) => Number(knob(cg, "memory.high")) - Number(knob(cg, "memory.current"));
    assert(
      await until(() => Number(knob(youngerCg!, "memory.current")) >= 7.5 * MiB && roomUnder(keeperCg!) < 2 * MiB, 30_000),
      `w2 at its floor and the keeper without room: w2 ${(Number(knob(youngerCg!, "memory.current")) / MiB).toFixed(1)} MiB, ` +
        `keeper's room ${(roomUnder(keeperCg!) / MiB).toFixed(1)} MiB, domain ${(usage() / MiB).toFixed(1)} of 96 MiB`,
    );
    // What the domain, the keeper (usage/memory.high) and the held call do meanwhile, for the messages.
    const trace: string[] = [];
    const mib = (v: string) => (/^\d+$/.test(v) ? (Number(v) / MiB).toFixed(1) : v);
    const sample = () => {
      try {
        const k = `${mib(knob(keeperCg!, "memory.current"))}/${mib(knob(keeperCg!, "memory.high"))}`;
        trace.push(`${mib(String(usage()))} k ${k} y ${mib(knob(youngerCg!, "memory.current"))}`);
      } catch (e) {
        trace.push((e as Error).message);
      }
    };
    sample();
    const highBefore = Number(knob(keeperCg!, "memory.high"));
    const t1 = Date.now();
    writeFileSync(go2, "");
    let peak = 0;
    let highAtFirst = 0;
    let highMost = 0;
    while (!keeper.out.includes("allocated 3 MiB") && Date.now() - t1 < 30_000 && keeper.proc.exitCode === null) {
      await sleep(100);
      sample();
      peak = Math.max(peak, usage());
      const high = Number(knob(keeperCg!, "memory.high"));
      if (Date.now() - t1 < 800) highAtFirst = Math.max(highAtFirst, high);
      highMost = Math.max(highMost, high);
    }
    const waited = Date.now() - t1;
    const seen = `domain MiB, keeper usage/memory.high, w2 usage every 100 ms: ${trace.join("; ")}`;
    assert(keeper.proc.exitCode === null, `the keeper was killed: ${seen}`);
    // Stopped at first: its ceiling does not follow it up (the held call may still creep up to the freeze floor meanwhile).
    assert(highAtFirst <= highBefore + MiB, `the keeper's memory.high stays at first: ${seen}`);
    assert(keeper.out.includes("allocated 3 MiB"), `the keeper's 3 MiB did not go through in 30 s: ${seen}`);
    assert(highMost >= highBefore + 2 * MiB, `acgd lifted the keeper's ceiling: ${seen}`);
    assert(/its burst may go on up to the next mark: the domain's freeze stood still/.test(heldd.log()), "acgd logs the lift");
    assert(peak < 0.8 * BUDGET, `the domain stays below the kill mark: ${seen}`);
    assert(!younger.out.includes("allocated"), "w2 still held while the keeper grew");
    assert(keeper.proc.exitCode === null && younger.proc.exitCode === null && boss.proc.exitCode === null, `nobody was killed: ${seen}`);
    return (
      `keeper allocated 2 MiB more in ${took} ms (domain ${(grown / MiB).toFixed(1)} of 96 MiB), then stopped at its ` +
      `memory.high ${(highBefore / MiB).toFixed(1)} MiB; lifted to ${(highMost / MiB).toFixed(1)} MiB, its 3 MiB through ` +
      `${waited} ms after the ask (domain peak ${(peak / MiB).toFixed(1)} MiB); w2's 10 MiB held`
    );
  } finally {
    for (const c of spawned) c.proc.kill("SIGTERM");
    await Promise.all(spawned.map((c) => c.done));
  }
});
await test("under the scheduler's hold: past the freeze mark a low-ranked agent's own processes are frozen but not held off the CPU (the brake waits for the kill_agent mark)", async () => {
  // Two busy loops of the same class (the default rule's), one in each agent's own leaf, on the guest's one
  // CPU: each gets half of it unless one is held. Held from the freeze mark, an agent's own process could not
  // free its memory either (docs/runtime.md, "The brake"): the scheduler holds it only at kill_agent (90%).
  const spawned: Call[] = [];
  const spinners: { pid: number; pidfd: number }[] = [];
  const cpuNs = (pid: number) => Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);
  const ms = (ns: number) => (ns / 1e6).toFixed(0);
  try {
    const w = acgRun(heldd.socket, ["--agent", "w1", "--", "sleep", "300"]);
    spawned.push(w);
    const boss = acgRun(heldd.socket, ["--agent", "boss", "--hint", "rank=high", "--", ALLOC, "64", "300000"]);
    spawned.push(boss);
    assert(await until(() => boss.out.includes("allocated") && callsOf("w1").length > 0, 120_000), `calls: ${boss.err} ${w.err}`);
    const at = usage();
    assert(at >= 0.6 * BUDGET && at < 0.9 * BUDGET, `the domain is between the freeze and kill_agent marks: ${(at / MiB).toFixed(1)} MiB`);
    for (const agent of ["w1", "boss"]) {
      const cgroupPath = join(ROOT, "default", agent, "agent");
      spinners.push(spawnInCgroup({ file: "/bin/sh", argv: ["sh", "-c", "while :; do :; done"], cgroupPath, stdio: [null, null, 2] }));
    }
    const [a, b] = spinners.map((p) => cpuNs(p.pid));
    await sleep(2000);
    const [w1Ns, bossNs] = [cpuNs(spinners[0]!.pid) - a!, cpuNs(spinners[1]!.pid) - b!];
    assert(w1Ns * 3 > bossNs, `w1's own loop runs: ${ms(w1Ns)} ms of CPU in 2 s against the boss's ${ms(bossNs)}`);
    const ownHigh = knob(join(ROOT, "default", "w1", "agent"), "memory.high");
    assert(ownHigh !== "max", `w1's own leaf is frozen (memory.high ${ownHigh})`);
    // acgd put the agents' own leaves in the brake (a second hold slot): nothing it told the scheduler failed.
    assert(!/cannot tell the scheduler|not registered with the scheduler/.test(heldd.log()), `acgd's log:\n${heldd.log()}`);
    const where = `at ${(at / MiB).toFixed(1)} of 96 MiB`;
    return `${where}: w1's own loop ${ms(w1Ns)} ms of CPU in 2 s, the boss's ${ms(bossNs)}; w1's own frozen at ${ownHigh}`;
  } finally {
    for (const p of spinners) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // already gone
      }
      await waitPidfd(p.pidfd);
    }
    for (const c of spawned) c.proc.kill("SIGTERM");
    await Promise.all(spawned.map((c) => c.done));
  }
});
await stopDaemon(heldd);
if (results().some((o) => !o.ok)) console.log(`\nheld acgd's log:\n${heldd.log()}`);
removeTree();
rmdirSync(BUDGET_CG);
process.exitCode = summary();
