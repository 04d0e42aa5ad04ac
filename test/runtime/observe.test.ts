// Observability: the event bus, the structured log, the API's event stream
// and `acg events`, the metrics endpoint, and the status schema — against a
// daemon on a temp socket over a stand-in cgroup tree.
import type { AddressInfo } from "node:net";
import { createConnection } from "node:net";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as afterThisTurn } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DaemonClient } from "../../runtime/client.js";
import { eventsCommand } from "../../cli/events-command.js";
import { EventBus, events, type AcgEvent } from "../../runtime/events.js";
import { createLog } from "../../runtime/log.js";
import { parseListen, RuntimeMetrics } from "../../runtime/metrics.js";
import { STATUS_SCHEMA_VERSION, statusProblems } from "../../runtime/status-schema.js";
import { acgdOnSocket, TEST_POLICY, type SocketAcgd } from "./helpers.js";
import { waitUntil } from "../wait.js";

describe("the event bus", () => {
  it("numbers events, keeps the last ones, and survives a failing listener", () => {
    const bus = new EventBus(3);
    const seen: string[] = [];
    bus.subscribe(() => {
      throw new Error("broken listener");
    });
    const stop = bus.subscribe((e) => seen.push(`${e.seq}:${e.kind}:${e.level}`));
    for (let i = 0; i < 4; i++) bus.emit("daemon", { message: `note ${i}` });
    bus.emit("killed", { message: "k", call: "c1" });
    stop();
    bus.emit("daemon", { message: "unseen" });
    expect(seen).toEqual(["1:daemon:info", "2:daemon:info", "3:daemon:info", "4:daemon:info", "5:killed:warn"]);
    expect(bus.recent().map((e) => e.seq)).toEqual([4, 5, 6]);
    expect(bus.recent(5).map((e) => e.message)).toEqual(["unseen"]);
    expect(Number.isNaN(Date.parse(bus.recent()[0]!.time))).toBe(false);
  });
});

describe("the structured log", () => {
  it("writes JSON lines with time, level and event; noisy kinds rate-limited with a count", async () => {
    const lines: string[] = [];
    const bus = new EventBus();
    const log = await createLog({
      format: "json",
      level: "debug",
      out: (s) => lines.push(...s.split("\n").filter(Boolean)),
      noisyIntervalMs: 60_000,
    });
    log.follow(bus);
    log.note("started");
    bus.emit("call_started", { message: "start c1", call: "c1", agent: "default/a", rule: "tests", class: "build" });
    for (let i = 0; i < 5; i++) bus.emit("pressure", { message: "pressure rule 0 (host) active", data: { state: "on", scope: "host" } });
    bus.emit("pressure", { message: "other scope", data: { state: "on", scope: "agent:default/a" } });
    // acgd's notes at once; events' lines after the turn that produced them, in order, each with its event's time.
    expect(lines).toHaveLength(1);
    await afterThisTurn();
    const recs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs.map((r) => `${r["level"]} ${r["event"]} ${r["msg"]}`)).toEqual([
      "info daemon started",
      "info call_started start c1",
      "debug pressure pressure rule 0 (host) active",
      "debug pressure other scope",
    ]);
    for (const r of recs) expect(r["time"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(recs[1]).toMatchObject({ call: "c1", agent: "default/a", rule: "tests", class: "build", time: bus.recent()[0]!.time });
  });

  it("leaves debug events (pressure) out at the default level, and has a human format", async () => {
    const lines: string[] = [];
    const bus = new EventBus();
    (await createLog({ format: "human", level: "info", out: (s) => lines.push(...s.split("\n").filter(Boolean)) })).follow(bus);
    bus.emit("pressure", { message: "pressure rule 0 (host) active", data: { state: "on", scope: "host" } });
    bus.emit("oom", { message: "killed by the OOM killer", call: "c9" });
    await afterThisTurn();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] WARN: oom: killed by the OOM killer/);
  });
});

describe("metrics", () => {
  it("parses --metrics values", () => {
    expect(parseListen("9464")).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(parseListen("0.0.0.0:9100")).toEqual({ host: "0.0.0.0", port: 9100 });
    expect(parseListen("[::1]:9100")).toEqual({ host: "::1", port: 9100 });
    expect(() => parseListen("localhost")).toThrow("--metrics localhost: write PORT or HOST:PORT (e.g. 127.0.0.1:9464)");
    expect(() => parseListen("70000")).toThrow(/write PORT or HOST:PORT/);
  });
});

describe("acgd's events, metrics and status", () => {
  const socketPath = join(tmpdir(), `acg-observe-${process.pid}.sock`);
  let acgd: SocketAcgd;
  let client: DaemonClient;
  let metrics: RuntimeMetrics;
  let server: Server;
  const classStats = [
    { classId: 0, enqueued: 10n, dispatched: 9n, runtimeNs: 2_500_000_000n, demoted: 0n, held: 0n, holdPreempted: 0n },
    { classId: 1, enqueued: 4n, dispatched: 4n, runtimeNs: 1_000_000n, demoted: 3n, held: 0n, holdPreempted: 0n },
  ];

  beforeAll(async () => {
    acgd = await acgdOnSocket(socketPath, TEST_POLICY);
    const { rt } = acgd;
    client = await DaemonClient.connect(socketPath);
    metrics = new RuntimeMetrics({ calls: rt.calls, burstCredits: () => rt.memory.burstCredits(), classStats: () => classStats }, events);
    server = await metrics.serve({ host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    client.close();
    server.close();
    metrics.close();
    await acgd.close();
  });

  /** Opens an event stream; resolves the response, then collects pushed events. */
  function stream(
    req: object,
  ): Promise<{ response: { ok: boolean; result?: { recent: AcgEvent[]; following: boolean } }; pushed: AcgEvent[]; close: () => void }> {
    return new Promise((resolve, reject) => {
      const c = createConnection(socketPath);
      const pushed: AcgEvent[] = [];
      let buf = "";
      let first = true;
      c.setEncoding("utf8");
      c.on("data", (d: string) => {
        buf += d;
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const msg = JSON.parse(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (first) {
            first = false;
            resolve({ response: msg, pushed, close: () => c.destroy() });
          } else pushed.push(msg.event);
        }
      });
      c.on("error", reject);
      c.write(JSON.stringify({ op: "events", ...req }) + "\n");
    });
  }

  it("streams call start and end, with the call's rule and class, after the recent events", async () => {
    const s = await stream({});
    expect(s.response.ok).toBe(true);
    expect(s.response.result?.following).toBe(true);
    const started = (await client.request({ op: "start_call", agent: "ev1", argv: ["pytest", "-x"] })) as { call: string };
    await client.request({ op: "end_call", call: started.call });
    await waitUntil(() => s.pushed.length >= 2, 2000);
    s.close();
    const mine = s.pushed.filter((e) => e.call === started.call);
    expect(mine.map((e) => e.kind)).toEqual(["call_started", "call_ended"]);
    expect(mine[0]).toMatchObject({ agent: "default/ev1", rule: "tests", class: "build", data: { argv: ["pytest", "-x"] } });
    expect(mine[1]!.data).toMatchObject({ outcome: "exited" });
    // A later client with follow=false gets them from the kept events, after a given seq.
    const again = await stream({ follow: false, since: mine[0]!.seq - 1 });
    again.close();
    expect(again.response.result?.recent.map((e) => e.seq)).toContain(mine[1]!.seq);
    expect(again.response.result?.recent[0]!.seq).toBe(mine[0]!.seq);
  });

  it("rejects bad events requests", async () => {
    await expect(client.request({ op: "events", since: -1 } as never)).rejects.toMatchObject({
      code: "bad_request",
      message: 'events: "since" must be a non-negative integer',
    });
    await expect(client.request({ op: "events", follow: "yes" } as never)).rejects.toMatchObject({
      code: "bad_request",
      message: 'events: "follow" must be true or false',
    });
  });

  it("acg events prints the kept events as lines or JSON", async () => {
    const c = (await client.request({ op: "start_call", agent: "ev2", argv: ["git", "status"] })) as { call: string };
    await client.request({ op: "end_call", call: c.call });
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) };
    expect(await eventsCommand(["--no-follow", "--socket", socketPath, "--kind", "call_ended"], io)).toBe(0);
    expect(out.join("")).toMatch(
      new RegExp(`Z INFO  call_ended \\[default/ev2 ${c.call}\\] end ${c.call}: exited after \\d+\\.\\ds, peak unknown\\n`),
    );
    out.length = 0;
    expect(await eventsCommand(["--no-follow", "--json", "--socket", socketPath, "--kind", "call_started"], io)).toBe(0);
    const parsed = out
      .join("")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as AcgEvent);
    expect(parsed.every((e) => e.kind === "call_started")).toBe(true);
    expect(parsed.some((e) => e.call === c.call)).toBe(true);
    expect(await eventsCommand(["--kind", "nope", "--socket", socketPath], io)).toBe(2);
    expect(err.join("")).toMatch(/--kind nope: unknown kind; kinds: call_started, call_ended/);
    expect(await eventsCommand(["--socket", join(tmpdir(), "acg-none.sock"), "--no-follow"], io)).toBe(2);
    expect(err.join("")).toMatch(/acgd is not reachable at .*acg-none.sock \(ENOENT\)/);
  });

  it("serves per-rule and per-class counters, the scheduler's counters and acgd's health on /metrics", async () => {
    const c = (await client.request({ op: "start_call", agent: "m1", argv: ["pytest"] })) as { call: string };
    const port = (server.address() as AddressInfo).port;
    const running = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(running).toMatch(/^acg_calls_running\{rule="tests",class="build"\} 1$/m);
    expect(running).toMatch(/^acg_burst_credit_seconds\{call="[^"]+",rule="tests",class="build",state="calm"\} 2$/m);
    await client.request({ op: "end_call", call: c.call });
    // Kill and OOM counters follow the events the enforcers emit.
    events.emit("killed", { message: "k", call: "x", rule: "tests", class: "build", data: { reason: "over_high" } });
    events.emit("oom", { message: "o", call: "y", rule: "tests", class: "build", data: { limit: "call" } });
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^acg_calls_started_total\{rule="tests",class="build"\} [1-9]\d*$/m);
    expect(text).toMatch(/^acg_calls_ended_total\{rule="tests",class="build",outcome="exited"\} [1-9]\d*$/m);
    expect(text).toMatch(/^acg_kills_total\{rule="tests",class="build",reason="over_high"\} 1$/m);
    expect(text).toMatch(/^acg_oom_kills_total\{rule="tests",class="build",limit="call"\} 1$/m);
    expect(text).toMatch(/^acg_sched_runtime_seconds_total\{class="interactive"\} 2\.5$/m);
    expect(text).toMatch(/^acg_sched_demoted_total\{class="build"\} 3$/m);
    expect(text).toMatch(/^acg_scheduler_attached 1$/m);
    expect(text).toMatch(/^acg_policy_info\{policy="runtime_test",source_hash="[0-9a-f]{12}"\} 1$/m);
    expect(text).toMatch(/^acgd_process_resident_memory_bytes \d+$/m);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  });

  it("answers status in the documented, versioned schema", async () => {
    const c = (await client.request({ op: "start_call", agent: "s1", argv: ["make"], hints: ["memory=2GiB"] })) as { call: string };
    const status = (await client.request({ op: "status" })) as Record<string, unknown>;
    await client.request({ op: "end_call", call: c.call });
    expect(status["schemaVersion"]).toBe(STATUS_SCHEMA_VERSION);
    expect(await statusProblems(status)).toEqual([]);
    expect(await statusProblems({ ...status, schemaVersion: 2, calls: [{ call: 1 }] })).toEqual(
      expect.arrayContaining([
        "/schemaVersion must be equal to constant",
        "/calls/0 must have required property 'agent'",
        "/calls/0/call must be string",
      ]),
    );
  });
});
