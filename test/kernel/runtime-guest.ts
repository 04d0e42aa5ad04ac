// The runtime on a real cgroup v2 tree with memory and cpu controllers (the
// guest kernel): acgd and acg run as processes, several agents at once,
// bursts, intents, an OOM kill, a runtime kill, malformed API requests, and
// what an operator sees meanwhile: the event stream, the metrics, the JSON log.
//
//   test/kernel/runtime.sh        (host: builds, then one guest boot runs this)

import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createConnection } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { removeAgentTree } from "./cgroup-cleanup.js";
import { assert, assertEq, results, summary, test } from "./harness.js";
import { GUEST_POLICY as POLICY, GUEST_POLICY_SHAPE_CHANGE } from "./runtime-policies.js";
import { waitUntil } from "../wait.js";
import { DaemonClient } from "../../runtime/client.js";
import { BpfMap } from "../../runtime/bpf-map.js";
import { spawnInCgroup, waitPidfd } from "../../runtime/spawn.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const ACG = join(REPO, "bin/acg.js");
const ACGD = join(REPO, "bin/acgd.js");
const ALLOC = join(REPO, ".cache/runtime-guest/acg-alloc");
const ROOT = "/sys/fs/cgroup/agentcgroup-test";
const MiB = 1024 * 1024;

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function run(args: string[], input = ""): Promise<Run> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [ACG, "run", "--socket", socket, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("close", (code) => res({ code, out, err }));
    p.stdin.end(input);
  });
}

function report(r: Run): {
  events: string[];
  intentLog: string[];
  advice: string | null;
  memoryEvents: Record<string, number>;
  exit: { status: number };
  limits: { baselineBytes: number; limitBytes: number };
  memoryPeakBytes: number;
} {
  const line = r.err.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`no JSON report; stderr: ${r.err}`);
  }
}

const tmp = mkdtempSync("/tmp/acg-guest-");
const socket = join(tmp, "acgd.sock");
const policyFile = join(tmp, "guest.acg");
writeFileSync(policyFile, POLICY);

let daemonLog = "";
// The guest's init leaves the loopback interface down: the metrics endpoints listen on it.
const lo = spawnSync("ip", ["link", "set", "lo", "up"], { encoding: "utf8" });
if (lo.status !== 0) console.log(`ip link set lo up: ${lo.error?.message ?? lo.stderr}`);
const METRICS_PORT = 19464;
const daemon = spawn(
  process.execPath,
  [
    ACGD,
    "--policy",
    policyFile,
    "--socket",
    socket,
    "--cgroup-root",
    ROOT,
    "--metrics",
    `127.0.0.1:${METRICS_PORT}`,
    "--log-format",
    "json",
  ],
  { stdio: ["ignore", "ignore", "pipe"] },
);
daemon.stderr.on("data", (d) => (daemonLog += d));
// Node's start-up under TCG on a loaded host can take tens of seconds: up to 3 minutes.
for (let i = 0; !daemonLog.includes("listening on"); i++) {
  if (daemon.exitCode !== null || daemon.signalCode !== null || i > 9000) {
    // Its last words may still be in the pipe when its exit is seen.
    if (daemon.exitCode !== null) await new Promise((r) => (daemon.stderr.readableEnded ? r(null) : daemon.stderr.on("end", r)));
    console.log(`acgd did not start (exit ${daemon.exitCode}, signal ${daemon.signalCode}, ${i * 20} ms):\n${daemonLog}`);
    process.exit(1);
  }
  await sleep(20);
}

const knob = (cg: string, f: string) => readFileSync(join(cg, f), "utf8").trim();
/** Snapshot of the tree: directories and their limit files. */
function snapshot(p = ROOT): string {
  const files = ["memory.max", "memory.high", "memory.low", "memory.min", "cpu.weight", "cgroup.subtree_control"];
  const own = files
    .filter((f) => existsSync(join(p, f)))
    .map((f) => `${f}=${knob(p, f)}`)
    .join(",");
  const kids = readdirSync(p, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  return `${p}[${own}]{${kids.map((k) => snapshot(join(p, k))).join(";")}}`;
}

await test("the tree delegates memory, cpu and pids at every level", () => {
  assertEq(knob(ROOT, "cgroup.subtree_control"), "cpu memory pids", "root subtree_control");
});

await test("concurrent calls of three agents get their own cgroups, rules, classes and limits", async () => {
  const show =
    "cg=$(grep '^0::' /proc/self/cgroup | cut -c4-); d=/sys/fs/cgroup$cg; echo $cg $(cat " +
    "$d/memory.high $d/memory.max $d/memory.low $d/cpu.weight); sleep 1";
  const jobs = [];
  for (const agent of ["a1", "a2", "a3"]) {
    jobs.push(run(["--agent", agent, "--tool", "Read", "--quiet", "--", "sh", "-c", show]).then((r) => ({ agent, kind: "vcs", r })));
    jobs.push(run(["--agent", agent, "--quiet", "--", "sh", "-c", show]).then((r) => ({ agent, kind: "default", r })));
  }
  const done = await Promise.all(jobs);
  const seen = new Set<string>();
  for (const { agent, kind, r } of done) {
    assertEq(r.code, 0, `${agent}/${kind} exit (stderr: ${r.err})`);
    const [cg, high, max, low, weight] = r.out.trim().split(" ");
    assert(cg?.startsWith(`/agentcgroup-test/default/${agent}/call-`), `${agent}/${kind} ran in ${cg}`);
    seen.add(cg!);
    const want = kind === "vcs" ? [8 * MiB, 16 * MiB, 1 * MiB, 400] : [16 * MiB, 32 * MiB, 0, 25];
    assertEq(`${high} ${max} ${low} ${weight}`, want.join(" "), `${agent}/${kind} memory.high memory.max memory.low cpu.weight`);
  }
  assertEq(seen.size, 6, "distinct call cgroups");
  assertEq(knob(join(ROOT, "default/a1"), "memory.max"), String(256 * MiB), "agent memory.max");
  assertEq(knob(join(ROOT, "default/a1"), "cpu.weight"), "200", "agent cpu.weight");
  for (const cg of seen) assert(!existsSync(join("/sys/fs/cgroup", cg)), `${cg}: removed at the call's end`);
  // What is left below each agent is its spares, made ahead of time: as many as it ran at once (two), empty.
  const spares = (a: string) => readdirSync(join(ROOT, "default", a)).filter((e) => e.startsWith("call-"));
  for (const a of ["a1", "a2", "a3"]) {
    assert(await waitUntil(() => spares(a).length === 2, 5000), `${a}: two spare cgroups expected, has ${spares(a).join(", ")}`);
    for (const s of spares(a)) assertEq(knob(join(ROOT, "default", a, s), "cgroup.procs"), "", `${a}/${s}: empty`);
  }
  // The next call takes one: it runs in a cgroup that was there before it started.
  const before = new Set(spares("a1"));
  const next = await run(["--agent", "a1", "--tool", "Read", "--quiet", "--", "sh", "-c", show]);
  assertEq(next.code, 0, `a1 next call exit (stderr: ${next.err})`);
  const [cg, ...knobs] = next.out.trim().split(" ");
  assert(before.has(basename(cg ?? "")), `a1's next call ran in ${cg}, not in one of its spares ${[...before].join(", ")}`);
  assertEq(knobs.join(" "), [8 * MiB, 16 * MiB, 1 * MiB, 400].join(" "), "the spare taken has the call's own limits");
  return "6 calls, 3 agents; 2 spares each; the next call ran in a spare";
});

await test("a burst within its allowance is not throttled", async () => {
  const r = await run(["--agent", "b1", "--hint", "burst", "--json", "--", ALLOC, "12", "300"]);
  assertEq(r.code, 0, `exit (stderr: ${r.err})`);
  const rep = report(r);
  assert(
    rep.events.some((e) => e.startsWith("burst: ")),
    `burst event expected: ${rep.events.join(" | ")}`,
  );
  assert(!rep.events.some((e) => e.startsWith("throttled")), `no throttling expected: ${rep.events.join(" | ")}`);
  return `${r.out.trim()}; memory.events high=${rep.memoryEvents["high"]}, peak ${(rep.memoryPeakBytes / MiB).toFixed(1)}MiB`;
});

await test("a burst beyond baseline+burst is throttled", async () => {
  const r = await run(["--agent", "b2", "--hint", "burst", "--json", "--", ALLOC, "18", "0"]);
  assertEq(r.code, 0, `exit (stderr: ${r.err})`);
  const rep = report(r);
  assert(
    rep.events.some((e) => e.startsWith("throttled (above baseline+burst)")),
    `throttled event expected: ${rep.events.join(" | ")}`,
  );
  assert((rep.memoryEvents["high"] ?? 0) > 0, "memory.events high > 0");
  return `${r.out.trim()}; memory.events high=${rep.memoryEvents["high"]}`;
});

await test("agent memory pressure (PSI trigger) protects interactive calls and throttles background ones", async () => {
  // A throttled burst stalls the agent on memory; its other calls feel the pressure rule meanwhile.
  const burst = run(["--agent", "p1", "--hint", "burst", "--quiet", "--", ALLOC, "18", "0"]);
  await sleep(1500);
  const [interactive, background] = await Promise.all([
    run(["--agent", "p1", "--tool", "Read", "--json", "--", "sleep", "8"]),
    run(["--agent", "p1", "--json", "--", "sleep", "8"]),
  ]);
  await burst;
  const ev = (r: Run) => report(r).events.join(" | ");
  assert(/pressure \(agent:default\/p1\): protected at/.test(ev(interactive)), `interactive call: ${ev(interactive)}`);
  assert(
    /pressure \(agent:default\/p1\): throttled at 16MiB \(memory.high; usage [^)]*\) for 100ms, again in each window/.test(ev(background)),
    `background call: ${ev(background)}`,
  );
  return ev(background);
});

await test("an intent above the agent's bound is capped, and logged", async () => {
  const r = await run([
    "--agent",
    "i1",
    "--hint",
    "oom",
    "--hint",
    "memory=64MiB",
    "--json",
    "--",
    "sh",
    "-c",
    "d=/sys/fs/cgroup$(grep '^0::' /proc/self/cgroup | cut -c4-); cat $d/memory.max",
  ]);
  assertEq(r.code, 0, `exit (stderr: ${r.err})`);
  assertEq(r.out.trim(), String(24 * MiB), "memory.max of the call");
  assertEq(report(r).intentLog.join(), "memory=64MiB clamped to the agent's bound 24MiB", "intent log");
});

await test("an OOM kill produces an actionable report, and its advice works", async () => {
  const r = await run(["--agent", "o1", "--hint", "oom", "--", ALLOC, "20", "0"]);
  assertEq(r.code, 137, `exit status (stderr: ${r.err})`);
  assert(r.err.includes("killed by SIGKILL (OOM killer)"), `how it ended: ${r.err}`);
  const advice = "acg: killed by the OOM killer: the tool call hit its memory limit of 12MiB (rule 'oomy': baseline 12MiB, limit 12MiB);";
  assert(r.err.includes(advice), `advice: ${r.err}`);
  assert(
    r.err.includes(
      "Retry with --hint memory=24MiB, the most this agent may ask for; it may still not be enough (48MiB would be a safer retry).",
    ),
    `suggested hint: ${r.err}`,
  );
  const retry = await run(["--agent", "o1", "--hint", "oom", "--hint", "memory=24MiB", "--quiet", "--", ALLOC, "20", "0"]);
  assertEq(retry.code, 0, `retry with the suggested hint (stderr: ${retry.err})`);
  return r.err.trim().split("\n").pop();
});

/** The metrics endpoint's text, and one sample's value (the sum over samples matching `re`). */
async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assertEq(res.status, 200, "GET /metrics");
  return res.text();
}
const sample = (text: string, re: RegExp) =>
  text
    .split("\n")
    .filter((l) => re.test(l))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);

await test("while calls are throttled, killed and OOM-killed, acg events streams it, /metrics counts it, the JSON log records it", async () => {
  const ev = spawn(process.execPath, [ACG, "events", "--json", "--socket", socket], { stdio: ["ignore", "pipe", "pipe"] });
  let evOut = "";
  ev.stdout.on("data", (d) => (evOut += d));
  await sleep(1000);
  const [throttled, killed, oom] = await Promise.all([
    run(["--agent", "w1", "--hint", "burst", "--json", "--", ALLOC, "18", "500"]),
    run(["--agent", "w2", "--hint", "kill", "--json", "--", ALLOC, "16", "30000"]),
    run(["--agent", "w3", "--hint", "oom", "--json", "--", ALLOC, "20", "0"]),
  ]);
  assertEq(throttled.code, 0, `throttled call's exit (stderr: ${throttled.err})`);
  assertEq(killed.code, 137, `runtime-killed call's exit (stderr: ${killed.err})`);
  assertEq(oom.code, 137, `OOM-killed call's exit (stderr: ${oom.err})`);
  const ids = { throttled: report(throttled), killed: report(killed), oom: report(oom) } as Record<string, { id?: string }>;
  await sleep(500);
  ev.kill("SIGTERM");
  assertEq(await new Promise((r) => ev.on("close", r)), 0, "acg events exits 0 when interrupted");
  const stream = evOut
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { kind: string; call?: string; time: string; data?: Record<string, unknown> });
  const kindsOf = (id: string | undefined) =>
    stream
      .filter((e) => e.call === id)
      .map((e) => e.kind)
      .join(",");
  assert(
    /^call_started,.*throttled.*,call_ended$/.test(kindsOf(ids["throttled"]!.id)),
    `throttled call's events: ${kindsOf(ids["throttled"]!.id)}`,
  );
  // Reclaim under its memory.high can take it back to its baseline for a moment on a loaded host: calm, then throttled again.
  assert(
    /^call_started,throttled,(calm,throttled,)*killed,call_ended$/.test(kindsOf(ids["killed"]!.id)),
    `killed call's events: ${kindsOf(ids["killed"]!.id)}`,
  );
  assert(/^call_started,oom,call_ended$/.test(kindsOf(ids["oom"]!.id)), `OOM call's events: ${kindsOf(ids["oom"]!.id)}`);
  const text = await scrape(METRICS_PORT);
  assert(sample(text, /^acg_throttles_total\{rule="bursty",class="build"\}/) >= 1, "acg_throttles_total for bursty");
  assert(sample(text, /^acg_throttled_seconds_total\{rule="killy",class="build"\}/) > 0, "acg_throttled_seconds_total for killy");
  assertEq(sample(text, /^acg_kills_total\{rule="killy",class="build",reason="over_high"\}/), 1, "acg_kills_total for killy");
  assert(sample(text, /^acg_oom_kills_total\{rule="oomy",class="build",limit="call"\}/) >= 1, "acg_oom_kills_total for oomy");
  assert(sample(text, /^acg_calls_ended_total\{rule="killy",class="build",outcome="killed"\}/) === 1, "calls ended killed");
  assert(sample(text, /^acgd_process_resident_memory_bytes /) > 0, "acgd's own health");
  const lines = daemonLog.trim().split("\n");
  assert(
    lines.every((l) => l.startsWith("{")),
    `acgd's log has lines that are not JSON: ${lines
      .filter((l) => !l.startsWith("{"))
      .slice(0, 3)
      .join(" | ")}`,
  );
  const logged = lines.map((l) => JSON.parse(l) as { time: string; level: string; event: string; call?: string });
  assert(
    logged.every((l) => typeof l.time === "string" && typeof l.level === "string" && typeof l.event === "string"),
    "every log line has time, level, event",
  );
  assert(
    logged.some((l) => l.event === "killed" && l.level === "warn" && l.call === ids["killed"]!.id),
    "the runtime's kill is logged",
  );
  assert(
    logged.some((l) => l.event === "oom" && l.level === "warn" && l.call === ids["oom"]!.id),
    "the OOM kill is logged",
  );
  return `${stream.length} events streamed; throttled ${sample(text, /^acg_throttled_seconds_total\{/).toFixed(1)}s in all`;
});

await test("malformed API requests get errors and change nothing", async () => {
  const before = snapshot();
  const lines = [
    '{"op":"start_call"',
    '{"op":"start_call","agent":"x","argv":"sh"}',
    '{"op":"declare_intent","call":"call-1","hints":["memory=1TiB"]}',
    '{"op":"start_call","agent":"a1","argv":["x"],"pid":1}',
    `{"op":"status","x":"${"y".repeat(2 * MiB)}"}`,
  ];
  const replies: string[] = await new Promise((res, rej) => {
    const c = createConnection(socket);
    let buf = "";
    c.setEncoding("utf8");
    c.on("data", (d: string) => {
      buf += d;
      const got = buf.split("\n").filter(Boolean);
      if (got.length >= lines.length) {
        c.destroy();
        res(got);
      }
    });
    c.on("error", rej);
    c.write(lines.join("\n") + "\n");
  });
  const codes = replies.map((l) => (JSON.parse(l) as { error?: { code: string } }).error?.code);
  assertEq(codes.join(","), "bad_json,bad_request,not_found,forbidden,too_large", "error codes");
  assertEq(snapshot(), before, "tree and limits unchanged");
  assert(daemon.exitCode === null, "acgd still running");
});

await test("status names the enforcement path of each mechanism", () => {
  const r = spawnSync(process.execPath, [join(REPO, "bin/acgc.js"), "status", "--json", "--socket", socket], { encoding: "utf8" });
  assertEq(r.status, 0, `acgc status (stderr ${r.stderr})`);
  const s = JSON.parse(r.stdout) as { enforcement: Record<string, string>; unenforcedKnobs: Record<string, string> };
  assert(s.enforcement["memory"]?.startsWith("cgroup v2 files"), `memory: ${s.enforcement["memory"]}`);
  assert(s.enforcement["cpu"]?.startsWith("cpu.weight"), `cpu: ${s.enforcement["cpu"]}`);
  assert(/^PSI triggers \(\d+ watched\)/.test(s.enforcement["pressure"] ?? ""), `pressure: ${s.enforcement["pressure"]}`);
  assertEq(Object.keys(s.unenforcedKnobs).length, 0, "unenforced knobs");
  assert(
    s.enforcement["classifier"]?.startsWith("exec classifier NOT attached (no compiled policy directory given"),
    `classifier: ${s.enforcement["classifier"]}`,
  );
  return `cpu: ${s.enforcement["cpu"]}; pressure: ${s.enforcement["pressure"]}`;
});

if (daemon.exitCode === null && daemon.signalCode === null) {
  daemon.kill("SIGTERM");
  await new Promise((r) => daemon.on("close", r));
}
if (results().some((o) => !o.ok)) console.log(`\nacgd's log:\n${daemonLog}`);

// --- the compiled scheduler (phase 2) --------------------------------------

const COMPILED = join(REPO, ".cache/runtime-guest/compiled");
const SCHED_METRICS_PORT = 19465;
const schedSocket = join(tmp, "acgd-sched.sock");
const schedState = () => readFileSync("/sys/kernel/sched_ext/state", "utf8").trim();
let schedLog = "";
/** Starts acgd on a compiled variant (its log from now on in schedLog) and waits until it listens (or gives up after 3 minutes). */
async function startSchedAcgd(variant: string): Promise<ReturnType<typeof spawn>> {
  schedLog = "";
  const d = spawn(
    process.execPath,
    [
      ACGD,
      "--policy",
      join(COMPILED, variant),
      "--socket",
      schedSocket,
      "--cgroup-root",
      ROOT,
      "--metrics",
      `127.0.0.1:${SCHED_METRICS_PORT}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  d.stderr.on("data", (chunk) => (schedLog += chunk));
  for (let i = 0; !schedLog.includes("listening on") && d.exitCode === null && i < 9000; i++) await sleep(20);
  // acgd serves before its scheduler and classifier attach (the kernel verifies them meanwhile).
  for (let i = 0; !schedLog.includes("BPF objects: loading ended") && d.exitCode === null && i < 9000; i++) await sleep(20);
  return d;
}
const schedDaemon = await startSchedAcgd("v1");
const client = await DaemonClient.connect(schedSocket);

/** The cgroup ids in acg_cgroups (`bpftool map dump` of the map named by `which`). */
function registeredCgroups(which: string[]): bigint[] {
  const dump = spawnSync("bpftool", ["-j", "map", "dump", ...which], { encoding: "utf8" });
  if (dump.status !== 0) throw new Error(`bpftool map dump ${which.join(" ")}: ${dump.stderr}`);
  const entries = JSON.parse(dump.stdout) as { key?: string[]; formatted?: { key?: number } }[];
  return entries.map((e) =>
    e.formatted?.key !== undefined ? BigInt(e.formatted.key) : (e.key ?? []).reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n),
  );
}
const status = async () => (await client.request({ op: "status" })) as { enforcement: Record<string, string> };

await test("acgd attaches the compiled scheduler and registers each call's cgroup", async () => {
  assertEq(schedState(), "enabled", "sched_ext state");
  const manifest = JSON.parse(readFileSync(join(COMPILED, "v1/manifest.json"), "utf8")) as { policy: { opsName: string } };
  assert(readFileSync("/sys/kernel/sched_ext/root/ops", "utf8").trim().startsWith(manifest.policy.opsName), "root ops is the policy's");
  assert((await status()).enforcement["cpu"]?.startsWith("sched_ext scheduler"), `cpu: ${(await status()).enforcement["cpu"]}`);
  const started = (await client.request({ op: "start_call", agent: "s1", tool: "Read", argv: ["cat"] })) as {
    call: string;
    cgroup: string;
  };
  const id = statSync(started.cgroup, { bigint: true }).ino;
  const ids = registeredCgroups(["name", "acg_cgroups"]);
  await client.request({ op: "end_call", call: started.call });
  assert(ids.includes(id), `acg_cgroups has cgroup id ${id}: ${ids.join(" ")}`);
  return `ops ${manifest.policy.opsName}, cgroup id ${id} registered`;
});

await test("an agent's own processes run in its profile's class (agent { class interactive }): registered, weighted, charged", async () => {
  const started = (await client.request({ op: "start_call", agent: "own1", tool: "Read", argv: ["cat"] })) as {
    call: string;
    cgroup: string;
  };
  await client.request({ op: "end_call", call: started.call });
  const leaf = join(dirname(started.cgroup), "agent");
  const id = statSync(leaf, { bigint: true }).ino;
  assert(registeredCgroups(["name", "acg_cgroups"]).includes(id), `acg_cgroups has the own leaf's cgroup id ${id}`);
  assertEq(readFileSync(join(leaf, "cpu.weight"), "utf8").trim(), "400", "the own leaf's cpu.weight (interactive's)");
  const charged = async () => sample(await scrape(SCHED_METRICS_PORT), /^acg_sched_runtime_seconds_total\{class="interactive"/);
  const before = await charged();
  // One second of CPU in the agent's own leaf: charged to interactive, the default rule's class being background.
  const busy = spawnInCgroup({
    file: "/bin/sh",
    argv: ["sh", "-c", "end=$(( $(date +%s) + 2 )); while [ $(date +%s) -lt $end ]; do :; done"],
    cgroupPath: leaf,
    stdio: [null, null, null],
  });
  await waitPidfd(busy.pidfd);
  closeSync(busy.pidfd);
  const after = await charged();
  assert(after - before >= 0.5, `interactive charged ${(after - before).toFixed(2)} s for the own leaf's busy loop`);
  return `own leaf ${id} registered, cpu.weight 400, interactive charged ${(after - before).toFixed(2)} s`;
});

await test("acgd's own threads run in the policy's highest-priority class (interactive), not the default rule's (background)", async () => {
  const charged = async () => sample(await scrape(SCHED_METRICS_PORT), /^acg_sched_runtime_seconds_total\{class="interactive"/);
  /** acgd's CPU time (user + system, all its threads), s. */
  const acgdCpuS = () => {
    const f = readFileSync(`/proc/${schedDaemon.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  };
  const before = await charged();
  const cpu0 = acgdCpuS();
  // acgd busy with requests, no tool call running: nothing else is in interactive.
  for (let i = 0; i < 300; i++) await client.request({ op: "status" });
  const used = acgdCpuS() - cpu0;
  const after = await charged();
  assert(used >= 0.2, `acgd used ${used.toFixed(2)} s of CPU for 300 status requests (too little to tell)`);
  assert(after - before >= 0.5 * used, `interactive charged ${(after - before).toFixed(2)} s while acgd used ${used.toFixed(2)} s`);
  return `acgd used ${used.toFixed(2)} s of CPU, interactive charged ${(after - before).toFixed(2)} s`;
});

await test("/metrics shows the scheduler's per-class counters read from its acg_stats map", async () => {
  const text = await scrape(SCHED_METRICS_PORT);
  assertEq(sample(text, /^acg_scheduler_attached /), 1, "acg_scheduler_attached");
  const enqueued = sample(text, /^acg_sched_enqueued_total\{class="/);
  const runtime = sample(text, /^acg_sched_runtime_seconds_total\{class="/);
  assert(enqueued > 0 && runtime > 0, `enqueued ${enqueued}, runtime ${runtime}s`);
  return `enqueued ${enqueued}, runtime ${runtime.toFixed(2)}s over the classes`;
});

// --- processes started without acg run (the exec classifier) ----------------

const gitDir = mkdtempSync("/tmp/acg-guest-git-");
const GIT = join(gitDir, "git");
// A long-running `git`: sleep under that name (the vcs rule matches exe == "git").
copyFileSync("/bin/sleep", GIT);
chmodSync(GIT, 0o755);
// An exe the v2m policy's first rule matches (and no earlier policy's).
const HG = join(gitDir, "hg");
copyFileSync("/bin/sleep", HG);
chmodSync(HG, 0o755);
const cgroupOfPid = (pid: number) =>
  "/sys/fs/cgroup" +
  readFileSync(`/proc/${pid}/cgroup`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("0::"))!
    .slice(3);
async function reap(p: { pid: number; pidfd: number }) {
  try {
    process.kill(p.pid, "SIGKILL");
  } catch {
    // already gone
  }
  await waitPidfd(p.pidfd);
  closeSync(p.pidfd);
}

/** The own cgroup of `agent`, made by a first (empty) call: where its processes started without acg run live. */
async function agentLeaf(c: DaemonClient, agent: string): Promise<string> {
  await c.request({ op: "end_call", call: ((await c.request({ op: "start_call", agent, argv: ["true"] })) as { call: string }).call });
  return join(ROOT, "default", agent, "agent");
}

/** The call a process moved to (cgroup `cg`), as acgd's status lists it. */
async function statusCall(c: DaemonClient, cg: string): Promise<{ call: string; rule: string; events: string[] } | undefined> {
  const st = (await c.request({ op: "status" })) as { calls: { call: string; rule: string; events: string[] }[] };
  return st.calls.find((x) => x.call === basename(cg));
}

/**
 * An agent's own process execs `git` (the vcs rule) and `sleep` (only the
 * default rule) without acg run: the git process must end up in a call of
 * its own with `want` as its memory.high, memory.max, memory.low, cpu.weight;
 * the sleep stays; the call ends when git exits.
 */
async function unwrappedExecs(c: DaemonClient, agent: string, want: string): Promise<string> {
  const leaf = await agentLeaf(c, agent);
  // The default-rule exec first: once git (later) has been moved, its event has been handled too.
  const plain = spawnInCgroup({ file: "/bin/sleep", argv: ["sleep", "30"], cgroupPath: leaf, stdio: [null, null, null] });
  const git = spawnInCgroup({ file: "/bin/sh", argv: ["sh", "-c", `exec ${GIT} 30`], cgroupPath: leaf, stdio: [null, null, null] });
  try {
    const moved = await waitUntil(() => cgroupOfPid(git.pid) !== leaf, 3000);
    assert(moved, `git (pid ${git.pid}) still in ${cgroupOfPid(git.pid)}`);
    const cg = cgroupOfPid(git.pid);
    assert(dirname(cg) === join(ROOT, "default", agent) && /^call-\d+-\d+$/.test(cg.slice(cg.lastIndexOf("/") + 1)), `git moved to ${cg}`);
    const limits = ["memory.high", "memory.max", "memory.low", "cpu.weight"].map((f) => knob(cg, f)).join(" ");
    assertEq(limits, want, "the call's memory.high memory.max memory.low cpu.weight");
    assertEq(cgroupOfPid(plain.pid), leaf, "the default-rule sleep stays in the agent's own cgroup");
    const call = await statusCall(c, cg);
    assert(call?.rule === "vcs", `status lists ${basename(cg)} with rule vcs: ${JSON.stringify(call)}`);
    await reap(git);
    assert(await waitUntil(() => !existsSync(cg), 3000), `${cg} removed after git exited`);
    return `${basename(cg)}: ${call.events.at(-1)}`;
  } finally {
    for (const p of [git, plain]) if (existsSync(`/proc/${p.pid}`)) await reap(p);
  }
}

await test("acgd attaches the exec classifier beside the scheduler, sharing its maps", async () => {
  const line = (await status()).enforcement["classifier"] ?? "";
  assert(line.startsWith("exec classifier attached (tp_btf/sched_process_exec, maps shared with the scheduler)"), line);
  return line;
});

await test("an exec in an agent's own cgroup that matches a rule gets a call with that rule's limits; a default-rule exec stays", () =>
  unwrappedExecs(client, "e1", `${8 * MiB} ${16 * MiB} ${1 * MiB} 400`));

await test("a data-only policy change is swapped in place", async () => {
  const r = (await client.request({ op: "apply_policy", dir: join(COMPILED, "v2") })) as { policy: string; scheduler: { kind: string } };
  assertEq(`${r.policy} ${r.scheduler.kind}`, "guest_runtime_v2 data", "applied policy and swap kind");
  assertEq(schedState(), "enabled", "sched_ext state");
});

await test("a policy text that needs new objects is refused, the running one untouched", async () => {
  const r = await client.request({ op: "apply_policy", source: GUEST_POLICY_SHAPE_CHANGE }).then(
    () => "applied",
    (e: Error) => e.message,
  );
  assert(r.includes("needs new BPF objects"), r);
  assertEq(((await status()) as unknown as { policy: { name: string } }).policy.name, "guest_runtime_v2", "running policy");
});

await test("a replacement whose objects do not load leaves the running scheduler and policy untouched", async () => {
  const r = await client.request({ op: "apply_policy", dir: join(COMPILED, "v4") }).then(
    () => "applied",
    (e: Error) => e.message,
  );
  assert(r.startsWith("policy not applied; the running policy is unchanged: its scheduler did not load or attach"), r);
  assertEq(schedState(), "enabled", "sched_ext state");
  assert(readFileSync("/sys/kernel/sched_ext/root/ops", "utf8").startsWith("acg_guest_runtime"), "still the v1 objects' scheduler");
  assertEq(((await status()) as unknown as { policy: { name: string } }).policy.name, "guest_runtime_v2", "running policy");
  return r.split("\n")[0];
});

await test("a change of exe/path matchers replaces only the classifier's program; the scheduler stays attached", async () => {
  const enableSeq = () => readFileSync("/sys/kernel/sched_ext/enable_seq", "utf8").trim();
  const seq = enableSeq();
  const r = (await client.request({ op: "apply_policy", dir: join(COMPILED, "v2m") })) as {
    policy: string;
    scheduler: { kind: string; replaceMs: number };
  };
  assertEq(`${r.policy} ${r.scheduler.kind}`, "guest_runtime_v2m classifier", "applied policy and swap kind");
  assertEq(enableSeq(), seq, "sched_ext enable_seq (the scheduler was not detached and attached again)");
  assertEq(schedState(), "enabled", "sched_ext state");
  const line = (await status()).enforcement["classifier"] ?? "";
  assert(line.startsWith("exec classifier attached (tp_btf/sched_process_exec, maps shared with the scheduler)"), line);
  // The new program decides the new rule in the kernel: an exec named hg, in an agent's own cgroup.
  const leaf = await agentLeaf(client, "e3");
  const hg = spawnInCgroup({ file: HG, argv: ["hg", "30"], cgroupPath: leaf, stdio: [null, null, null] });
  try {
    assert(await waitUntil(() => cgroupOfPid(hg.pid) !== leaf, 3000), `hg (pid ${hg.pid}) still in ${cgroupOfPid(hg.pid)}`);
    const cg = cgroupOfPid(hg.pid);
    assertEq(knob(cg, "memory.max"), String(20 * MiB), "the hg rule's memory.max");
    const ev = (await statusCall(client, cg))?.events.at(-1) ?? "";
    assert(ev.includes("kernel rule hg;"), `the kernel decided the new rule: ${ev}`);
    return `replaced in ${r.scheduler.replaceMs.toFixed(1)} ms, enable_seq ${seq} unchanged; ${ev}`;
  } finally {
    await reap(hg);
  }
});

await test("a shape change replaces the objects, and the gap is measured", async () => {
  const r = (await client.request({ op: "apply_policy", dir: join(COMPILED, "v3") })) as {
    policy: string;
    scheduler: { kind: string; gapMs: number };
  };
  assertEq(`${r.policy} ${r.scheduler.kind}`, "guest_runtime_v3 objects", "applied policy and swap kind");
  assertEq(schedState(), "enabled", "sched_ext state");
  return `${r.scheduler.gapMs.toFixed(2)} ms without a scheduler`;
});

// v3's vcs rule: no baseline (memory.high max), limit 16MiB, no guarantee.
await test("after the object replacement the classifier runs beside the new scheduler", () =>
  unwrappedExecs(client, "e2", `max ${16 * MiB} 0 400`));

let schedDaemon2: ReturnType<typeof spawn> | null = null;
let client2: DaemonClient | null = null;
await test("the pinned scheduler survives acgd stopping and is re-adopted by the next acgd", async () => {
  client.close();
  schedDaemon.kill("SIGTERM");
  await new Promise((r) => schedDaemon.on("close", r));
  assertEq(schedState(), "enabled", "sched_ext state without acgd");
  assert(readFileSync("/sys/kernel/sched_ext/root/ops", "utf8").startsWith("acg_guest_runtime_v3"), "still the v3 scheduler");
  schedDaemon2 = await startSchedAcgd("v3");
  assert(schedLog.includes("re-adopted the pinned sched_ext scheduler"), `acgd log: ${schedLog}`);
  client2 = await DaemonClient.connect(schedSocket);
  const cpu = ((await client2.request({ op: "status" })) as { enforcement: Record<string, string> }).enforcement["cpu"] ?? "";
  assert(cpu.includes("(adopted, pinned in"), cpu);
  return cpu;
});

let schedDaemon3: ReturnType<typeof spawn> | null = null;
let client3: DaemonClient | null = null;
await test("kill -9 of acgd while a call runs: the restarted acgd lists it, registers it again (forgetting a stale entry), restores its limits, and removes it when it exits", async () => {
  let out = "";
  // Long enough to outlive acgd's restart (tens of seconds under TCG); the test ends it below.
  const acg = spawn(
    process.execPath,
    [ACG, "run", "--socket", schedSocket, "--agent", "r1", "--tool", "Read", "--", "sh", "-c", "echo started; exec sleep 600"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  acg.stdout.on("data", (d) => (out += d));
  // acg is a Node process: its start takes seconds under TCG.
  assert(await waitUntil(() => out.includes("started"), 120_000), "the call started");
  const agentDir = join(ROOT, "default", "r1");
  const call = readdirSync(agentDir).find((e) => e.startsWith("call-"))!;
  const cg = join(agentDir, call);
  // What a pressure rule of the dead acgd could have left: the new one writes the call's limits again.
  writeFileSync(join(cg, "memory.low"), String(4 * MiB));
  client2!.close();
  schedDaemon2!.kill("SIGKILL");
  await new Promise((r) => schedDaemon2!.on("close", r));
  // The dead acgd's registration is dropped from the pinned map: only the new acgd can put it back.
  const cgroupsPin = "/sys/fs/bpf/agentcgroup/scheduler/acg_cgroups";
  const id = statSync(cg, { bigint: true }).ino;
  const keyHex = [...Buffer.from(new BigUint64Array([id]).buffer)].map((b) => b.toString(16).padStart(2, "0"));
  const del = spawnSync("bpftool", ["map", "delete", "pinned", cgroupsPin, "key", "hex", ...keyHex], { encoding: "utf8" });
  assertEq(del.status, 0, `bpftool map delete (${del.stderr})`);
  // And an entry of a cgroup that is gone (a call that ended while no acgd ran): the new acgd must forget it.
  const stale = 0xfffffff0n;
  const pinned = BpfMap.openPinned(cgroupsPin);
  pinned.update(Buffer.from(new BigUint64Array([stale]).buffer), Buffer.alloc(pinned.info().valueSize));
  pinned.close();
  schedDaemon3 = await startSchedAcgd("v3");
  assert(schedLog.includes(`took over ${call} of default/r1 (rule vcs, class interactive) from an earlier acgd`), `acgd log: ${schedLog}`);
  client3 = await DaemonClient.connect(schedSocket);
  const st = (await client3.request({ op: "status" })) as { calls: { call: string; rule: string }[]; enforcement: Record<string, string> };
  assert(
    st.calls.some((c) => c.call === call && c.rule === "vcs"),
    `status calls: ${JSON.stringify(st.calls)}`,
  );
  assertEq(knob(cg, "memory.low"), "0", "memory.low written again from the call's limits");
  const keys = registeredCgroups(["pinned", cgroupsPin]);
  assert(keys.includes(id), `acg_cgroups has ${id} again: ${keys.join(" ")}`);
  assert(!keys.includes(stale), `the stale entry ${stale} is gone: ${keys.join(" ")}`);
  // The stale one at least; the own leaves of agents the first acgd knew and this one does not (no call running) too.
  assert(
    /acg_cgroups: forgot [1-9]\d* cgroup\(s\) of calls and agents that ended while no acgd ran/.test(schedLog),
    `acgd log: ${schedLog}`,
  );
  const ownLeaf = statSync(join(agentDir, "agent"), { bigint: true }).ino;
  assert(keys.includes(ownLeaf), `acg_cgroups has r1's own leaf ${ownLeaf} (its profile's class) again: ${keys.join(" ")}`);
  for (const pid of knob(cg, "cgroup.procs").split("\n")) process.kill(Number(pid), "SIGKILL");
  const code = await new Promise((r) => acg.on("close", r));
  assertEq(code, 137, "acg run's exit status: its command's (SIGKILL), though its report was lost with the first acgd");
  assert(await waitUntil(() => !existsSync(cg), 3000), `${cg} removed when its process exited`);
  assert(await waitUntil(() => schedLog.includes(`call_ended: end ${call}: exited after`), 3000), `acgd log: ${schedLog}`);
  return `${call} taken over and ended; acg_cgroups keys ${keys.length}`;
});

await test("the restarted acgd runs the classifier on the re-adopted scheduler's pinned maps", async () => {
  const line = ((await client3!.request({ op: "status" })) as { enforcement: Record<string, string> }).enforcement["classifier"] ?? "";
  assert(line.startsWith("exec classifier attached (tp_btf/sched_process_exec, maps shared with the scheduler)"), line);
  return unwrappedExecs(client3!, "e3", `max ${16 * MiB} 0 400`);
});

await test("an ejected scheduler is noticed within a second, CPU back on cpu.weight", async () => {
  const status = async () => (await client3!.request({ op: "status" })) as { enforcement: Record<string, string> };
  writeFileSync("/proc/sysrq-trigger", "S");
  const t0 = Date.now();
  while (!(await status()).enforcement["cpu"]?.includes("ejected") && Date.now() - t0 < 5000) await sleep(50);
  const cpu = (await status()).enforcement["cpu"] ?? "";
  assert(cpu.startsWith("cpu.weight on the cgroup tree: the sched_ext scheduler was ejected"), cpu);
  assert(Date.now() - t0 < 1000, `noticed after ${Date.now() - t0} ms`);
  return `${Date.now() - t0} ms: ${cpu}`;
});

let schedDaemon4: ReturnType<typeof spawn> | null = null;
await test("an agent registers its own process; the native acg-run starts calls with the policy's memory limit", async () => {
  // Whatever the earlier tests left running (they may have failed half way), this test starts its own acgd.
  client3?.close();
  for (const d of [schedDaemon2, schedDaemon3]) {
    if (d && d.exitCode === null && d.signalCode === null) {
      d.kill("SIGTERM");
      await new Promise((r) => d.on("close", r));
    }
  }
  schedDaemon4 = await startSchedAcgd("v1");
  assertEq(schedState(), "enabled", "sched_ext state with the new acgd");
  const agentProc = spawn("sleep", ["600"], { stdio: "ignore" });
  try {
    const reg = spawnSync(
      process.execPath,
      [ACG, "agent", "register", "--socket", schedSocket, "--agent", "reg1", "--pid", String(agentProc.pid)],
      { encoding: "utf8" },
    );
    assertEq(reg.status, 0, `acg agent register (${reg.stderr})`);
    assertEq(cgroupOfPid(agentProc.pid!), join(ROOT, "default", "reg1", "agent"), "the registered process's cgroup");
    const guarantee = knob(join(ROOT, "default", "reg1"), "memory.min");
    const native = spawnSync(
      join(REPO, "native/build/acg-run"),
      [
        "--socket",
        schedSocket,
        "--agent",
        "reg1",
        "--tool",
        "Read",
        "--json",
        "--",
        "sh",
        "-c",
        'cat "/sys/fs/cgroup$(grep ^0:: /proc/self/cgroup | cut -c4-)/memory.max"',
      ],
      { encoding: "utf8" },
    );
    assertEq(native.status, 0, `acg-run (${native.stderr})`);
    const rep = JSON.parse(native.stderr.trim()) as { limits: { limitBytes: number | null }; exit: { status: number } };
    assertEq(
      native.stdout.trim(),
      rep.limits.limitBytes === null ? "max" : String(rep.limits.limitBytes),
      "memory.max of the launcher's call cgroup",
    );
    return `agent memory.min ${guarantee}; launcher call memory.max ${native.stdout.trim()}`;
  } finally {
    agentProc.kill("SIGKILL");
  }
});

await test("acgd stop stops acgd, detaches and unpins the scheduler; acgc unload then finds nothing pinned", async () => {
  const stop = spawnSync(process.execPath, [ACGD, "stop", "--socket", schedSocket], { encoding: "utf8", timeout: 120_000 });
  assertEq(stop.status, 0, `acgd stop (${stop.stderr})`);
  assert(/acgd \(pid \d+\) stopped/.test(stop.stderr) && stop.stderr.includes("scheduler unpinned and detached"), stop.stderr);
  if (schedDaemon4!.exitCode === null && schedDaemon4!.signalCode === null) await new Promise((r) => schedDaemon4!.on("close", r));
  assertEq(schedState(), "disabled", "sched_ext state after acgd stop");
  assert(!existsSync("/sys/fs/bpf/agentcgroup/scheduler") || readdirSync("/sys/fs/bpf/agentcgroup/scheduler").length === 0, "no pins left");
  const unload = spawnSync(process.execPath, [join(REPO, "bin/acgc.js"), "unload", "--socket", schedSocket], { encoding: "utf8" });
  assertEq(unload.status, 0, `acgc unload (${unload.stderr})`);
  assert(unload.stderr.includes("no AgentCgroup scheduler was pinned (sched_ext: disabled)"), unload.stderr);
  return stop.stderr.trim().replace(/\n/g, "; ");
});

client.close();
(client2 as DaemonClient | null)?.close();
(client3 as DaemonClient | null)?.close();
for (const d of [schedDaemon, schedDaemon2, schedDaemon3, schedDaemon4]) {
  if (d && d.exitCode === null && d.signalCode === null) {
    d.kill("SIGTERM");
    await new Promise((r) => d.on("close", r));
  }
}
if (results().some((o) => !o.ok)) console.log(`\nscheduler acgd's log:\n${schedLog}`);
// acgd leaves its scheduler pinned for the next acgd; later suites in this boot start clean.
rmSync("/sys/fs/bpf/agentcgroup", { recursive: true, force: true });
rmSync("/run/agentcgroup/scheduler.json", { force: true });
rmSync("/run/agentcgroup/calls-sys-fs-cgroup-agentcgroup-test.json", { force: true });
rmSync(gitDir, { recursive: true, force: true });
// Agent cgroups stay for the next acgd; this test's tree goes.
removeAgentTree(ROOT);
process.exitCode = summary();
